//! Statement entries: `GET /accounts/{…}/statemententries` and `GET /statemententries/{transactionReference}`,
//! the account's transactions from the store as GSMA statement entries (`responseStatementEntries`). Same store
//! query, filters, pagination and isolation as `GET /accounts/{…}/transactions`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use mmapi_core::model::{KeyValue, Party};
use mmapi_core::{Amount, Currency};
use mmapi_core::{GsmaError, Timestamp};
use serde_json::Value;
use utoipa::ToSchema;

use super::accounts::{list, parse_account_id, ListQuery};
use super::error::ApiError;
use super::json::RawJson;
use crate::auth::{Caller, Role};
use crate::engine::Engine;

/// A statement entry (`responseStatementEntries`): a transaction as an account holder's statement shows it.
#[derive(Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseStatementEntries)]
pub struct StatementEntry {
    pub transaction_reference: String,
    pub credit_party: Vec<Party>,
    pub debit_party: Vec<Party>,
    /// `pending`, `completed`, `failed` or `reversed`.
    pub transaction_status: String,
    pub amount: Amount,
    pub currency: Currency,
    pub description_text: Option<String>,
    pub transaction_receipt: Option<String>,
    pub creation_date: Option<Timestamp>,
    pub modification_date: Option<Timestamp>,
    pub request_date: Option<Timestamp>,
    pub custom_data: Option<Vec<KeyValue>>,
}

/// The properties of a stored transaction that a statement entry carries.
const ENTRY_FIELDS: [&str; 12] = [
    "transactionReference",
    "creditParty",
    "debitParty",
    "transactionStatus",
    "amount",
    "currency",
    "descriptionText",
    "transactionReceipt",
    "creationDate",
    "modificationDate",
    "requestDate",
    "customData",
];

/// A stored transaction (JSON) as a statement entry (JSON).
fn entry_of_value(transaction: &Value) -> Value {
    let mut entry = serde_json::Map::new();
    if let Value::Object(fields) = transaction {
        for name in ENTRY_FIELDS {
            if let Some(v) = fields.get(name) {
                entry.insert(name.to_owned(), v.clone());
            }
        }
    }
    Value::Object(entry)
}

/// The shape [`list`] applies to each stored transaction.
fn entry_of(body: String) -> String {
    match serde_json::from_str::<Value>(&body) {
        Ok(transaction) => entry_of_value(&transaction).to_string(),
        Err(e) => {
            tracing::error!(error = %e, "stored transaction is unreadable");
            body
        }
    }
}

/// An account's statement entries, newest first, paginated as its transaction list: `X-Records-Available-Count`
/// says how many match, `X-Records-Returned-Count` how many are in this page; an offset beyond the end is
/// `validation/invalidOffset`.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/statemententries",
    operation_id = "accountsIdentifierTypeIdentifierStatemententriesGET",
    tag = "Accounts",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn or businessshortcode"),
        ("identifier" = String, Path, description = "e.g. +254708374149 or 174379"),
        ListQuery,
    ),
    responses(
        (status = 200, description = "The statement entries", body = Vec<StatementEntry>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed filter or an offset beyond the records", body = GsmaError),
    )
)]
pub async fn statement_entries(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let Path((identifier_type, identifier)) =
        path.map_err(|e| ApiError::from(GsmaError::format("path", e.body_text())))?;
    let Query(q) = query.map_err(|e| ApiError::from(GsmaError::format("query", e.body_text())))?;
    list(
        &engine,
        caller,
        &[Party::new(identifier_type, identifier)],
        q,
        &uri,
        entry_of,
    )
    .await
}

/// The same for an account named by several identifiers (`key@value$key@value`).
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/statemententries",
    operation_id = "accountsAccountIdStatemententriesGET",
    tag = "Accounts",
    params(("accountId" = String, Path, description = "e.g. businessshortcode@174379"), ListQuery),
    responses(
        (status = 200, description = "The statement entries", body = Vec<StatementEntry>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed account id or filter", body = GsmaError),
    )
)]
pub async fn statement_entries_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    let Query(q) = query.map_err(|e| ApiError::from(GsmaError::format("query", e.body_text())))?;
    list(&engine, caller, &identifiers, q, &uri, entry_of).await
}

/// Whether `caller` may see a transaction's statement entry: its own (which includes the payments reported into
/// an account granted to it), or any for an operator; as `GET /transactions/{transactionReference}`, with the
/// operator's wider view.
fn may_see(caller: &Caller, owner: &str) -> bool {
    caller.role == Role::Operator || caller.client_id == owner
}

/// One statement entry, by its transaction's reference.
#[utoipa::path(
    get,
    path = "/statemententries/{transactionReference}",
    operation_id = "statemententriesTransactionReferenceGET",
    tag = "Accounts",
    params(("transactionReference" = String, Path, description = "The reference the gateway gave the transaction")),
    responses(
        (status = 200, description = "The statement entry", body = StatementEntry,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 404, description = "No such transaction for this client", body = GsmaError),
        (status = 500, description = "Internal error", body = GsmaError),
    )
)]
pub async fn statement_entry(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<RawJson, ApiError> {
    let reference = super::path_param(path)?;
    let row = engine
        .store()
        .transaction_body(&reference)
        .await?
        .filter(|row| may_see(&caller, &row.client_id));
    if let Some(row) = row {
        let transaction = serde_json::from_str::<Value>(&row.body).map_err(|e| {
            crate::store::StoreError::Corrupt(format!("transaction {reference}: {e}"))
        })?;
        return Ok(RawJson(
            StatusCode::OK,
            entry_of_value(&transaction).to_string(),
        ));
    }
    Err(
        GsmaError::not_found(format!("There is no statement entry {reference}"))
            .with_param("transactionReference", reference)
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_only_statement_fields() {
        let transaction = serde_json::json!({
            "transactionReference": "r1", "type": "merchantpay", "transactionStatus": "completed",
            "amount": "10", "currency": "KES", "debitParty": [{"key": "msisdn", "value": "1"}],
            "creditParty": [{"key": "storeid", "value": "2"}], "requestingOrganisationTransactionReference": "x"
        });
        let entry = entry_of_value(&transaction);
        assert_eq!(entry["transactionReference"], "r1");
        assert!(entry.get("type").is_none());
        assert!(entry
            .get("requestingOrganisationTransactionReference")
            .is_none());
        assert_eq!(entry["amount"], "10");
    }
}
