//! Debit mandates: what is stored of them, their reads (through the pool) and the writes the group-commit writer
//! applies for them ([`Change::AcceptMandate`](super::Change::AcceptMandate),
//! [`Change::FinaliseMandate`](super::Change::FinaliseMandate) and
//! [`Change::UpdateMandate`](super::Change::UpdateMandate)).

use sqlx::FromRow;

use super::conn::WriteConn;
use super::writer::{queue_callback, request_state_params, CLAIM_REQUEST_STATE};
use super::{NewCallback, NewRequestState, Store, StoreError};

/// A debit mandate as stored: the GSMA representation in `body`, and what the gateway needs to act on it.
#[derive(Clone, Debug, FromRow)]
pub struct MandateRow {
    pub mandate_reference: String,
    pub server_correlation_id: String,
    /// The client that created it: no other client sees it.
    pub client_id: String,
    pub provider: String,
    /// `pending`, `active`, `inactive` or `failed`.
    pub status: String,
    /// The payer's identifiers (JSON array of parties).
    pub payer: String,
    /// The account key of the payer's first identifier.
    pub payer_account: String,
    /// The GSMA debit mandate (JSON).
    pub body: String,
    /// The operator's references (JSON of `ProviderRefs`), once created.
    pub provider_refs: Option<String>,
    /// Where the client wants its callback, from the request state.
    pub callback_url: Option<String>,
    /// The client's `X-CorrelationID`, from the request state.
    pub client_correlation_id: Option<String>,
}

/// A new mandate, its creation pending at the operator.
#[derive(Clone, Debug)]
pub struct NewMandate {
    pub mandate_reference: String,
    pub provider: String,
    pub payer: String,
    pub payer_account: String,
    pub body: String,
}

/// A mandate's creation ending at the operator: created (`active`) or not (`failed`).
#[derive(Clone, Debug)]
pub struct MandateFinalisation {
    pub mandate_reference: String,
    pub server_correlation_id: String,
    /// `active` or `failed`.
    pub status: &'static str,
    /// The final GSMA debit mandate (JSON).
    pub body: String,
    /// The GSMA error object (JSON) when it failed.
    pub error: Option<String>,
    /// The operator's references (JSON of `ProviderRefs`) when it was created.
    pub provider_refs: Option<String>,
    /// What the payments the operator takes itself under the mandate carry (its `PAYMENT_KEY` reference).
    pub payment_key: Option<String>,
    /// The client callback to queue, if the client asked for one.
    pub callback: Option<NewCallback>,
    pub now_ms: i64,
}

const MANDATE_COLUMNS: &str = "SELECT m.mandate_reference, m.server_correlation_id, m.client_id, m.provider, \
    m.status, m.payer, m.payer_account, m.body, m.provider_refs, r.callback_url, r.client_correlation_id \
    FROM debit_mandates m JOIN request_states r ON r.server_correlation_id = m.server_correlation_id";

impl Store {
    /// A debit mandate by its reference.
    pub async fn mandate(&self, reference: &str) -> Result<Option<MandateRow>, StoreError> {
        Ok(sqlx::query_as::<_, MandateRow>(&format!(
            "{MANDATE_COLUMNS} WHERE m.mandate_reference = $1"
        ))
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The active mandate of `provider` whose operator-taken payments carry `payment_key` (the newest, should two
    /// ever share one).
    pub async fn mandate_by_payment_key(
        &self,
        provider: &str,
        payment_key: &str,
    ) -> Result<Option<MandateRow>, StoreError> {
        Ok(sqlx::query_as::<_, MandateRow>(&format!(
            "{MANDATE_COLUMNS} WHERE m.provider = $1 AND m.payment_key = $2 AND m.status = 'active' \
             ORDER BY m.created_at DESC LIMIT 1"
        ))
        .bind(provider)
        .bind(payment_key)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Mandates whose creation has been pending, untouched, since before `cutoff_ms`: the gateway that was
    /// creating them stopped (claim one with [`Change::ClaimMandate`](super::Change::ClaimMandate) before resuming it).
    pub async fn stale_pending_mandates(
        &self,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<Vec<MandateRow>, StoreError> {
        Ok(sqlx::query_as::<_, MandateRow>(&format!(
            "{MANDATE_COLUMNS} WHERE m.status = 'pending' AND m.updated_at < $1 \
             ORDER BY m.created_at LIMIT $2"
        ))
        .bind(cutoff_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Takes over a stale pending mandate: 1 when this caller now owns its creation (for a lease), 0 when it is no
/// longer pending or someone else claimed it since.
pub(super) async fn claim<C: WriteConn>(
    conn: &mut C,
    reference: &str,
    cutoff_ms: i64,
    now_ms: i64,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE debit_mandates SET updated_at = $3 \
         WHERE mandate_reference = $1 AND status = 'pending' AND updated_at < $2",
        &[reference.into(), cutoff_ms.into(), now_ms.into()],
    )
    .await
}

/// Claims the idempotency key and stores the request state with its pending mandate. Returns 0 (nothing
/// stored) when the client already used the correlation id.
pub(super) async fn accept<C: WriteConn>(
    conn: &mut C,
    rs: &NewRequestState,
    m: &NewMandate,
) -> Result<u64, StoreError> {
    let inserted = conn
        .execute(CLAIM_REQUEST_STATE, &request_state_params(rs, "pending"))
        .await?;
    if inserted == 0 {
        return Ok(0);
    }
    conn.execute(
        "INSERT INTO debit_mandates (mandate_reference, server_correlation_id, client_id, provider, status, \
         payer, payer_account, body, provider_refs, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, NULL, $8, $8)",
        &[
            (&m.mandate_reference).into(),
            (&rs.server_correlation_id).into(),
            (&rs.client_id).into(),
            (&m.provider).into(),
            (&m.payer).into(),
            (&m.payer_account).into(),
            (&m.body).into(),
            rs.now_ms.into(),
        ],
    )
    .await
}

/// Makes a pending mandate's creation final, with its request state, and queues the client's callback. Returns
/// 0 when it was no longer pending; else the callback's outbox id, or 1 when no callback was asked for.
pub(super) async fn finalise<C: WriteConn>(
    conn: &mut C,
    f: &MandateFinalisation,
) -> Result<u64, StoreError> {
    let changed = conn
        .execute(
            "UPDATE debit_mandates SET status = $2, body = $3, provider_refs = COALESCE($4, provider_refs), \
             updated_at = $5, payment_key = COALESCE($6, payment_key) \
             WHERE mandate_reference = $1 AND status = 'pending'",
            &[
                (&f.mandate_reference).into(),
                f.status.into(),
                (&f.body).into(),
                (&f.provider_refs).into(),
                f.now_ms.into(),
                (&f.payment_key).into(),
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(0);
    }
    let request_status = if f.status == "failed" {
        "failed"
    } else {
        "completed"
    };
    conn.execute(
        "UPDATE request_states SET status = $2, error = $3, updated_at = $4 WHERE server_correlation_id = $1",
        &[
            (&f.server_correlation_id).into(),
            request_status.into(),
            (&f.error).into(),
            f.now_ms.into(),
        ],
    )
    .await?;
    match &f.callback {
        Some(cb) => {
            let id = queue_callback(conn, &f.server_correlation_id, cb, f.now_ms).await?;
            Ok(u64::try_from(id).unwrap_or(1).max(1))
        }
        None => Ok(1),
    }
}

/// Records what the operator now says of a created mandate (`active` or `inactive`).
pub(super) async fn update<C: WriteConn>(
    conn: &mut C,
    reference: &str,
    status: &str,
    body: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE debit_mandates SET status = $2, body = $3, updated_at = $4 \
         WHERE mandate_reference = $1 AND status IN ('active', 'inactive')",
        &[reference.into(), status.into(), body.into(), now_ms.into()],
    )
    .await
}
