//! `/accounts`: what the gateway can tell about operator accounts it holds.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mmapi_core::model::{Balance, Party};
use mmapi_core::GsmaError;

use super::error::ApiError;
use super::json::GsmaJson;
use crate::engine::Engine;

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
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<GsmaJson<Balance>, ApiError> {
    let Path((identifier_type, identifier)) =
        path.map_err(|e| ApiError::from(GsmaError::format("path", e.body_text())))?;
    let balance = engine
        .balance(&[Party::new(identifier_type, identifier)])
        .await?;
    Ok(GsmaJson(StatusCode::OK, balance))
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
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<Balance>, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    let balance = engine.balance(&identifiers).await?;
    Ok(GsmaJson(StatusCode::OK, balance))
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
