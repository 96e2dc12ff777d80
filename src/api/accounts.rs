//! `/accounts`: what the gateway can tell about operator accounts it holds.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{Balance, Party};
use mmapi_core::GsmaError;

use super::error::ApiError;
use super::json::{GsmaJson, CONTENT_TYPE};
use crate::auth::Caller;
use crate::engine::Engine;
use crate::store::{account_key, AccountQuery};

/// Parses the multi-identifier form of an account id: `key@value`, up to three joined by `$`
/// (e.g. `organisationid@600000$accountid@1`).
pub fn parse_account_id(account_id: &str) -> Result<Vec<Party>, ApiError> {
    let bad = || -> ApiError {
        GsmaError::format(
            "accountId",
            format!("'{account_id}' is not an account id of the form identifierType@identifier[$identifierType@identifier]"),
        )
        .into()
    };
    let parts: Vec<&str> = account_id.split('$').collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(bad());
    }
    parts
        .into_iter()
        .map(|part| match part.split_once('@') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => {
                Ok(Party::new(key, value))
            }
            _ => Err(bad()),
        })
        .collect()
}

/// The balance of an operator account the gateway holds (for Daraja: a shortcode, e.g. `organisationid/600000`).
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/balance",
    operation_id = "accountsIdentifierTypeIdentifierBalanceGET",
    tag = "Accounts",
    params(
        ("identifierType" = String, Path, description = "e.g. organisationid"),
        ("identifier" = String, Path, description = "e.g. 600000"),
    ),
    responses(
        (status = 200, description = "The balance", body = Balance,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 404, description = "Not an account the gateway holds", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn balance(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<GsmaJson<Balance>, ApiError> {
    let Path((identifier_type, identifier)) =
        path.map_err(|e| ApiError::from(GsmaError::format("path", e.body_text())))?;
    let identifiers = [Party::new(identifier_type, identifier)];
    granted(&caller, &identifiers)?;
    let balance = engine.balance(&identifiers).await?;
    Ok(GsmaJson(StatusCode::OK, balance))
}

/// A balance is the business of the client the account is granted to (or of an operator); to any other
/// client the account does not exist.
pub(super) fn granted(caller: &Caller, identifiers: &[Party]) -> Result<(), ApiError> {
    if identifiers.iter().any(|p| caller.may_see_account(&p.value)) {
        Ok(())
    } else {
        Err(GsmaError::not_found("Not an account the gateway holds for this client").into())
    }
}

/// The balance of an account named by several identifiers (`key@value$key@value`).
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/balance",
    operation_id = "accountsAccountIdBalanceGET",
    tag = "Accounts",
    params(("accountId" = String, Path, description = "e.g. organisationid@600000")),
    responses(
        (status = 200, description = "The balance", body = Balance,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed account id", body = GsmaError),
        (status = 404, description = "Not an account the gateway holds", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn balance_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<Balance>, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    granted(&caller, &identifiers)?;
    let balance = engine.balance(&identifiers).await?;
    Ok(GsmaJson(StatusCode::OK, balance))
}

/// The name of an account's holder (M-Pesa: Ghana's `queryBeneficiaryName`).
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/accountname",
    operation_id = "accountsIdentifierTypeIdentifierAccountnameGET",
    tag = "Accounts",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "e.g. +233244000001"),
    ),
    responses(
        (status = 200, description = "The holder's name", body = mmapi_core::model::AccountName,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 404, description = "No operator can tell it, or no such account", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn account_name(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<GsmaJson<mmapi_core::model::AccountName>, ApiError> {
    let Path((identifier_type, identifier)) =
        path.map_err(|e| ApiError::from(GsmaError::format("path", e.body_text())))?;
    let name = engine
        .account_name(&[Party::new(identifier_type, identifier)])
        .await?;
    Ok(GsmaJson(StatusCode::OK, name))
}

/// The query of a transaction list (`GET /accounts/…/transactions`).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Records to return (default 50, at most 1000).
    pub limit: Option<String>,
    /// Records to skip.
    pub offset: Option<String>,
    /// Only transactions created at or after this time (RFC 3339).
    pub from_date_time: Option<String>,
    /// Only transactions created at or before this time (RFC 3339).
    pub to_date_time: Option<String>,
    /// Only transactions with this status (pending, completed, failed, reversed).
    pub transaction_status: Option<String>,
    /// Only transactions of this type.
    pub transaction_type: Option<String>,
}

/// A whole-number query parameter from 0 to `max` (`default` when absent).
pub(super) fn query_number(
    field: &str,
    value: Option<&str>,
    default: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match value {
        None => Ok(default),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (0..=max).contains(&n) => Ok(n),
            _ => Err(GsmaError::format(
                field,
                format!("{field} must be a whole number from 0 to {max}"),
            )
            .into()),
        },
    }
}

/// An RFC 3339 date-time query parameter, as milliseconds since the epoch.
pub(super) fn query_time(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_millis())
                .map_err(|_| {
                    GsmaError::format(
                        field,
                        format!("{field} '{text}' is not an RFC 3339 date-time"),
                    )
                    .into()
                })
        })
        .transpose()
}

/// One page of an account's transactions from the store, each shaped by `shape` (the stored transaction JSON
/// in, the JSON of one list item out), with the GSMA record-count headers; or, for an account granted to the
/// caller at a GSMA-speaking operator that keeps statements, the operator's page of `uri`.
pub(super) async fn list(
    engine: &Engine,
    caller: Caller,
    identifiers: &[Party],
    q: ListQuery,
    uri: &Uri,
    shape: fn(String) -> String,
) -> Result<Response, ApiError> {
    if let Some(answer) =
        super::forward::statement_from_operator(engine, &caller, identifiers, uri).await
    {
        return answer;
    }
    let account = identifiers
        .first()
        .map(|p| account_key(&p.value))
        .ok_or_else(|| ApiError::from(GsmaError::mandatory("identifier")))?;
    if let Some(status) = &q.transaction_status {
        if mmapi_core::model::TransactionStatus::parse(status).is_none() {
            return Err(GsmaError::format(
                "transactionStatus",
                format!("'{status}' is not a transaction status"),
            )
            .into());
        }
    }
    if let Some(t) = &q.transaction_type {
        if t.parse::<mmapi_core::model::TransactionType>().is_err() {
            return Err(GsmaError::format(
                "transactionType",
                format!("'{t}' is not a transaction type"),
            )
            .into());
        }
    }
    let query = AccountQuery {
        client_id: caller.client_id,
        account,
        from_ms: query_time("fromDateTime", q.from_date_time.as_deref())?,
        to_ms: query_time("toDateTime", q.to_date_time.as_deref())?,
        status: q.transaction_status,
        transaction_type: q.transaction_type,
        limit: query_number("limit", q.limit.as_deref(), 50, 1000)?,
        offset: query_number("offset", q.offset.as_deref(), 0, i64::MAX / 2)?,
    };
    let (total, bodies) = engine.account_transactions(&query).await?;
    // The page just past the end is empty; an offset beyond it is a client mistake.
    if query.offset > total {
        return Err(GsmaError::new(
            mmapi_core::ErrorCategory::Validation,
            mmapi_core::ErrorCode::InvalidOffset,
            format!(
                "offset {} is beyond the {total} matching records",
                query.offset
            ),
        )
        .into());
    }
    let returned = bodies.len();
    let bodies: Vec<String> = bodies.into_iter().map(shape).collect();
    let mut body = String::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    body.push('[');
    body.push_str(&bodies.join(","));
    body.push(']');
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert("x-records-available-count", HeaderValue::from(total));
    headers.insert("x-records-returned-count", HeaderValue::from(returned));
    Ok(response)
}

/// An account's transactions, newest first, paginated: `X-Records-Available-Count` says how many match,
/// `X-Records-Returned-Count` how many are in this page.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/transactions",
    operation_id = "accountsIdentifierTypeIdentifierTransactionsGET",
    tag = "Accounts",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn or businessshortcode"),
        ("identifier" = String, Path, description = "e.g. +254708374149 or 174379"),
        ListQuery,
    ),
    responses(
        (status = 200, description = "The transactions", body = Vec<mmapi_core::model::Transaction>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed filter or an offset beyond the records", body = GsmaError),
    )
)]
pub async fn transactions(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
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
        std::convert::identity,
    )
    .await
}

/// The same list for an account named by several identifiers (`key@value$key@value`).
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/transactions",
    operation_id = "accountsAccountIdTransactionsGET",
    tag = "Accounts",
    params(("accountId" = String, Path, description = "e.g. businessshortcode@174379"), ListQuery),
    responses(
        (status = 200, description = "The transactions", body = Vec<mmapi_core::model::Transaction>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"),
            ("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed account id or filter", body = GsmaError),
    )
)]
pub async fn transactions_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    let Query(q) = query.map_err(|e| ApiError::from(GsmaError::format("query", e.body_text())))?;
    list(
        &engine,
        caller,
        &identifiers,
        q,
        &uri,
        std::convert::identity,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids() {
        let ids = parse_account_id("organisationid@600000$accountid@1").unwrap();
        assert_eq!(
            ids,
            vec![
                Party::new("organisationid", "600000"),
                Party::new("accountid", "1")
            ]
        );
        assert_eq!(
            parse_account_id("msisdn@+254708374149").unwrap()[0].value,
            "+254708374149"
        );
        for bad in ["600000", "a@", "@b", "a@1$b@2$c@3$d@4"] {
            assert!(parse_account_id(bad).is_err(), "{bad}");
        }
    }
}
