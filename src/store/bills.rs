//! Bills and their payments: what is stored of them, their reads (through the pool) and the writes the
//! group-commit writer applies ([`Change::PutBills`](super::Change::PutBills), and the payment applied in the
//! database transaction that completes a `billpay` transaction or records an incoming payment).

use std::str::FromStr;

use mmapi_core::Timestamp;
use rust_decimal::Decimal;
use sqlx::FromRow;

use super::conn::{Param, WriteConn};
use super::writer::queue_callback;
use super::{NewCallback, Store, StoreError};
use crate::bills::{self, BillState};

/// A bill as stored.
#[derive(Clone, Debug, FromRow)]
pub struct BillRow {
    pub bill_reference: String,
    /// The biller client that issued it.
    pub client_id: String,
    /// The paybill it is paid into.
    pub service_provider: String,
    /// The account number the customer pays it with.
    pub account_reference: String,
    /// The customer's identifiers (JSON array of parties).
    pub customer: String,
    pub currency: String,
    /// What the bill asked for (decimal string).
    pub amount_billed: String,
    /// The sum of its completed payments (decimal string).
    pub amount_paid: String,
    pub minimum_amount_due: Option<String>,
    /// `unpaid`, `partialpaid` or `paid`.
    pub status: String,
    pub due_date: Option<String>,
    pub description: Option<String>,
    pub under_payment_not_allowed: i64,
    pub over_payment_not_allowed: i64,
    /// Where each payment is pushed to the biller.
    pub notification_url: Option<String>,
    /// `none`, `pending`, `sent` or `failed`: whether the operator sent the bill to the customer.
    pub invoice_status: String,
    /// When the biller cancelled it (ms since the epoch).
    pub cancelled_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A new bill.
#[derive(Clone, Debug)]
pub struct NewBill {
    pub bill_reference: String,
    pub client_id: String,
    pub service_provider: String,
    pub account_reference: String,
    /// The account key of the customer's first identifier.
    pub customer_account: String,
    pub customer: String,
    pub currency: String,
    pub amount_billed: String,
    pub minimum_amount_due: Option<String>,
    pub due_date: Option<String>,
    pub description: Option<String>,
    pub under_payment_not_allowed: bool,
    pub over_payment_not_allowed: bool,
    pub notification_url: Option<String>,
    /// `none` or `pending` (to be sent by the operator's invoicing service).
    pub invoice_status: &'static str,
    pub now_ms: i64,
}

/// A recorded bill payment.
#[derive(Clone, Debug, FromRow)]
pub struct BillPaymentRow {
    pub transaction_reference: String,
    pub bill_reference: String,
    /// The GSMA bill payment (JSON).
    pub body: String,
}

const BILL_COLUMNS: &str = "SELECT bill_reference, client_id, service_provider, account_reference, customer, \
    currency, amount_billed, amount_paid, minimum_amount_due, status, due_date, description, \
    under_payment_not_allowed, over_payment_not_allowed, notification_url, invoice_status, cancelled_at, created_at, \
    updated_at FROM bills";

impl Store {
    /// A bill by its reference.
    pub async fn bill(&self, reference: &str) -> Result<Option<BillRow>, StoreError> {
        Ok(
            sqlx::query_as::<_, BillRow>(&format!("{BILL_COLUMNS} WHERE bill_reference = $1"))
                .bind(reference)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The bill a paybill's account reference (as [`crate::bills::account_match`] gives it) names.
    pub async fn bill_by_account(
        &self,
        service_provider: &str,
        account_match: &str,
    ) -> Result<Option<BillRow>, StoreError> {
        Ok(sqlx::query_as::<_, BillRow>(&format!(
            "{BILL_COLUMNS} WHERE service_provider = $1 AND account_match = $2 AND cancelled_at IS NULL"
        ))
        .bind(service_provider)
        .bind(account_match)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The bills a client issued to a customer (by account key), newest first, and how many there are.
    pub async fn bills_of_customer(
        &self,
        client_id: &str,
        customer_account: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BillRow>, i64), StoreError> {
        let rows = sqlx::query_as::<_, BillRow>(&format!(
            "{BILL_COLUMNS} WHERE client_id = $1 AND customer_account = $2 AND cancelled_at IS NULL \
             ORDER BY created_at DESC, bill_reference LIMIT $3 OFFSET $4"
        ))
        .bind(client_id)
        .bind(customer_account)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM bills WHERE client_id = $1 AND customer_account = $2 AND cancelled_at IS NULL",
        )
        .bind(client_id)
        .bind(customer_account)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, count))
    }

    /// The bodies of a client's `billpay` transactions still pending to a paybill (by account key) whose body
    /// mentions `account_reference`: the payments of a bill under way (the caller checks each body).
    pub async fn pending_billpays(
        &self,
        client_id: &str,
        paybill_account: &str,
        account_reference: &str,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT body FROM transactions WHERE client_id = $1 AND credit_account = $2 \
             AND transaction_type = 'billpay' AND status = 'pending' AND body LIKE $3",
        )
        .bind(client_id)
        .bind(paybill_account)
        .bind(format!("%{account_reference}%"))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(b,)| b).collect())
    }

    /// Bills whose invoice has been `pending`, untouched, since before `cutoff_ms`: the gateway that was sending
    /// it stopped (claim one with [`Change::ClaimInvoice`](super::Change::ClaimInvoice) before sending it again).
    pub async fn stale_pending_invoices(
        &self,
        cutoff_ms: i64,
        limit: i64,
    ) -> Result<Vec<BillRow>, StoreError> {
        Ok(sqlx::query_as::<_, BillRow>(&format!(
            "{BILL_COLUMNS} WHERE invoice_status = 'pending' AND updated_at < $1 AND cancelled_at IS NULL \
             ORDER BY created_at LIMIT $2"
        ))
        .bind(cutoff_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The payments of a bill, oldest first, and how many there are.
    /// The reference of this client's oldest open bill of the customer: the earliest due date (none last), then
    /// the oldest, then the lowest reference.
    pub async fn oldest_open_bill(
        &self,
        client_id: &str,
        customer_account: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT bill_reference FROM bills WHERE client_id = $1 AND customer_account = $2 \
             AND cancelled_at IS NULL AND status <> 'paid' \
             ORDER BY COALESCE(due_date, '9999-12-31'), created_at, bill_reference LIMIT 1",
        )
        .bind(client_id)
        .bind(customer_account)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(reference,)| reference))
    }

    /// The completed payments of this client's bills of the customer, oldest first, and how many in all.
    pub async fn customer_bill_payments(
        &self,
        client_id: &str,
        customer_account: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BillPaymentRow>, i64), StoreError> {
        let rows = sqlx::query_as::<_, BillPaymentRow>(
            "SELECT p.transaction_reference, p.bill_reference, p.body FROM bill_payments p \
             JOIN bills b ON b.bill_reference = p.bill_reference \
             WHERE b.client_id = $1 AND b.customer_account = $2 \
             ORDER BY p.created_at, p.transaction_reference LIMIT $3 OFFSET $4",
        )
        .bind(client_id)
        .bind(customer_account)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM bill_payments p JOIN bills b ON b.bill_reference = p.bill_reference \
             WHERE b.client_id = $1 AND b.customer_account = $2",
        )
        .bind(client_id)
        .bind(customer_account)
        .fetch_one(&self.pool)
        .await?;
        Ok((rows, count))
    }

    pub async fn bill_payments(
        &self,
        bill_reference: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BillPaymentRow>, i64), StoreError> {
        let rows = sqlx::query_as::<_, BillPaymentRow>(
            "SELECT transaction_reference, bill_reference, body FROM bill_payments WHERE bill_reference = $1 \
             ORDER BY created_at, transaction_reference LIMIT $2 OFFSET $3",
        )
        .bind(bill_reference)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM bill_payments WHERE bill_reference = $1")
                .bind(bill_reference)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows, count))
    }
}

/// Stores bills, all or none: the number stored, or 0 when one of them takes a bill reference, or a paybill's
/// account reference, that is already used. (Should another gateway instance take one between the check and the
/// insert, the unique constraint fails the change, and none is stored.)
pub(super) async fn put<C: WriteConn>(conn: &mut C, new: &[NewBill]) -> Result<u64, StoreError> {
    for b in new {
        let taken = conn
            .fetch_ints(
                "SELECT COUNT(*) FROM bills WHERE bill_reference = $1 \
                 OR (service_provider = $2 AND account_match = $3)",
                &[
                    (&b.bill_reference).into(),
                    (&b.service_provider).into(),
                    bills::account_match(&b.account_reference).as_str().into(),
                ],
            )
            .await?;
        if taken.first().copied().unwrap_or(0) > 0 {
            return Ok(0);
        }
    }
    let mut stored = 0;
    for b in new {
        let account_match = bills::account_match(&b.account_reference);
        stored += conn
            .execute(
                "INSERT INTO bills (bill_reference, client_id, service_provider, account_reference, \
                 account_match, customer_account, customer, currency, amount_billed, amount_paid, \
                 minimum_amount_due, status, due_date, description, under_payment_not_allowed, \
                 over_payment_not_allowed, notification_url, invoice_status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '0', $10, 'unpaid', $11, $12, $13, $14, $15, $16, $17, $17)",
                &[
                    (&b.bill_reference).into(),
                    (&b.client_id).into(),
                    (&b.service_provider).into(),
                    (&b.account_reference).into(),
                    account_match.as_str().into(),
                    (&b.customer_account).into(),
                    (&b.customer).into(),
                    (&b.currency).into(),
                    (&b.amount_billed).into(),
                    (&b.minimum_amount_due).into(),
                    (&b.due_date).into(),
                    (&b.description).into(),
                    i64::from(b.under_payment_not_allowed).into(),
                    i64::from(b.over_payment_not_allowed).into(),
                    (&b.notification_url).into(),
                    b.invoice_status.into(),
                    b.now_ms.into(),
                ],
            )
            .await?;
    }
    Ok(stored)
}

/// Applies a completed transaction to the bill it pays, if it pays one: a `billpay` whose paybill and account
/// reference are a bill's. Records the bill payment, updates the bill and queues the biller's notification (due at
/// once; the callback worker delivers it with the outbox's guarantees). Runs in the database transaction that
/// makes the transaction completed, so a payment is applied exactly once.
pub(super) async fn apply_payment<C: WriteConn>(
    conn: &mut C,
    server_correlation_id: &str,
    transaction_reference: &str,
    transaction_body: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let Some(facts) = bills::payment_facts(transaction_body) else {
        return Ok(());
    };
    let account_match = bills::account_match(&facts.account_reference);
    let key: [Param<'_>; 2] = [facts.paybill.as_str().into(), account_match.as_str().into()];
    // Locks the bill's row first (on PostgreSQL another gateway instance's payment of the same bill waits for
    // this commit), so that what is read below is what the update replaces.
    let locked = conn
        .execute(
            "UPDATE bills SET updated_at = updated_at WHERE service_provider = $1 AND account_match = $2 \
             AND cancelled_at IS NULL",
            &key,
        )
        .await?;
    if locked == 0 {
        return Ok(());
    }
    let rows = conn
        .fetch_texts(
            "SELECT bill_reference, client_id, currency, amount_billed, amount_paid, notification_url FROM bills \
             WHERE service_provider = $1 AND account_match = $2",
            &key,
            6,
        )
        .await?;
    let Some(mut columns) = rows.into_iter().next().map(Vec::into_iter) else {
        return Ok(());
    };
    let mut next = || columns.next().flatten().unwrap_or_default();
    let (bill_reference, client_id, currency, billed, paid, url) =
        (next(), next(), next(), next(), next(), next());
    let decimal = |s: &str| {
        Decimal::from_str(s)
            .map_err(|e| StoreError::Corrupt(format!("bill {bill_reference}: amount {s}: {e}")))
    };
    let state = BillState {
        bill_reference: bill_reference.clone(),
        currency,
        billed: decimal(&billed)?,
        paid: decimal(&paid)?,
    };
    let applied = match bills::apply(
        &state,
        &facts,
        transaction_reference,
        Timestamp::from_millis(now_ms),
    ) {
        Ok(applied) => applied,
        Err(why) => {
            tracing::warn!(bill = %bill_reference, transaction_reference, %why, "payment not applied to its bill");
            return Ok(());
        }
    };
    if let Some(receipt) = &facts.receipt {
        let seen = conn
            .fetch_ints(
                "SELECT COUNT(*) FROM bill_payments WHERE bill_reference = $1 AND receipt = $2",
                &[bill_reference.as_str().into(), receipt.as_str().into()],
            )
            .await?;
        if seen.first().copied().unwrap_or(0) > 0 {
            tracing::info!(bill = %bill_reference, receipt, "a payment already applied to its bill arrived again");
            return Ok(());
        }
    }
    let body = serde_json::to_string(&applied.payment)
        .map_err(|e| StoreError::Corrupt(format!("cannot serialise a bill payment: {e}")))?;
    let inserted = conn
        .execute(
            "INSERT INTO bill_payments (transaction_reference, bill_reference, amount_paid, currency, receipt, \
             body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                transaction_reference.into(),
                bill_reference.as_str().into(),
                facts.amount.as_str().into(),
                facts.currency.as_str().into(),
                facts.receipt.as_deref().into(),
                body.as_str().into(),
                now_ms.into(),
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(());
    }
    conn.execute(
        "UPDATE bills SET amount_paid = $2, status = $3, updated_at = $4 WHERE bill_reference = $1",
        &[
            bill_reference.as_str().into(),
            applied.amount_paid.as_str().into(),
            applied.status.into(),
            now_ms.into(),
        ],
    )
    .await?;
    if !url.is_empty() {
        let notification = NewCallback {
            claimed_until: now_ms,
            url,
            correlation_id: None,
            body,
            client_id: Some(client_id),
            request_id: None,
        };
        queue_callback(conn, server_correlation_id, &notification, now_ms).await?;
    }
    Ok(())
}

/// Records what the operator's invoicing service did with bills: `sent`, `failed` or `none`.
pub(super) async fn set_invoice_status<C: WriteConn>(
    conn: &mut C,
    references: &[String],
    status: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let mut changed = 0;
    for r in references {
        changed += conn
            .execute(
                "UPDATE bills SET invoice_status = $2, updated_at = $3 WHERE bill_reference = $1",
                &[r.into(), status.into(), now_ms.into()],
            )
            .await?;
    }
    Ok(changed)
}

/// Takes over sending a bill's invoice that has been pending, untouched, since before `cutoff_ms`: 1 row, or 0
/// when it is no longer pending or another instance took it over first.
pub(super) async fn claim_invoice<C: WriteConn>(
    conn: &mut C,
    bill_reference: &str,
    cutoff_ms: i64,
    now_ms: i64,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE bills SET updated_at = $3 WHERE bill_reference = $1 AND invoice_status = 'pending' \
         AND updated_at < $2",
        &[bill_reference.into(), cutoff_ms.into(), now_ms.into()],
    )
    .await
}

/// Cancels a client's bill: 1 row, or 0 when it is not the client's, is paid, or was cancelled already.
pub(super) async fn cancel<C: WriteConn>(
    conn: &mut C,
    client_id: &str,
    bill_reference: &str,
    now_ms: i64,
) -> Result<u64, StoreError> {
    conn.execute(
        "UPDATE bills SET cancelled_at = $3, updated_at = $3 WHERE bill_reference = $1 AND client_id = $2 \
         AND cancelled_at IS NULL AND status <> 'paid'",
        &[bill_reference.into(), client_id.into(), now_ms.into()],
    )
    .await
}
