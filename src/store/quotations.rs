//! Quotations: what is stored of them, their read (through the pool) and the write the group-commit writer
//! applies ([`Change::PutQuotation`](super::Change::PutQuotation)).

use sqlx::FromRow;

use super::conn::WriteConn;
use super::writer::{request_state_params, CLAIM_REQUEST_STATE};
use super::{NewRequestState, Store, StoreError};

/// A quotation as stored.
#[derive(Clone, Debug, FromRow)]
pub struct QuotationRow {
    pub quotation_reference: String,
    /// The client that asked for it: no other client sees it or can cite it.
    pub client_id: String,
    /// The operator whose tariff priced it.
    pub provider: String,
    /// When its quotes expire (ms since the epoch).
    pub expires_at: i64,
    /// The GSMA quotation (JSON).
    pub body: String,
}

/// A new, completed quotation.
#[derive(Clone, Debug)]
pub struct NewQuotation {
    pub quotation_reference: String,
    pub provider: String,
    pub expires_at: i64,
    pub body: String,
}

impl Store {
    /// A quotation by its reference.
    pub async fn quotation(&self, reference: &str) -> Result<Option<QuotationRow>, StoreError> {
        Ok(sqlx::query_as::<_, QuotationRow>(
            "SELECT quotation_reference, client_id, provider, expires_at, body FROM quotations \
             WHERE quotation_reference = $1",
        )
        .bind(reference)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// Claims the idempotency key and stores the (completed) request state with its quotation. Returns 0 (nothing
/// stored) when the client already used the correlation id.
pub(super) async fn put<C: WriteConn>(
    conn: &mut C,
    rs: &NewRequestState,
    q: &NewQuotation,
) -> Result<u64, StoreError> {
    let inserted = conn
        .execute(CLAIM_REQUEST_STATE, &request_state_params(rs, "completed"))
        .await?;
    if inserted == 0 {
        return Ok(0);
    }
    conn.execute(
        "INSERT INTO quotations (quotation_reference, client_id, provider, expires_at, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            (&q.quotation_reference).into(),
            (&rs.client_id).into(),
            (&q.provider).into(),
            q.expires_at.into(),
            (&q.body).into(),
            rs.now_ms.into(),
        ],
    )
    .await
}
