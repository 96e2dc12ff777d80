//! Account lookups beside the balance: `GET /accounts/{…}/status`, `GET /accounts/{accountId}/accountname` and
//! the caller's own balance, `GET /accounts/balance`. Each answers where the routed operator can tell, and
//! otherwise a GSMA error object that says no operator offers the lookup.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{AccountName, AccountStatus, Balance, Party};
use mmapi_core::GsmaError;
use utoipa::ToSchema;

use super::accounts::parse_account_id;
use super::error::ApiError;
use super::json::GsmaJson;
use crate::auth::Caller;
use crate::engine::{Engine, EngineError};

/// `GET /accounts/{…}/status` answer (`responseAccountStatus`).
#[derive(Clone, Debug, serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseAccountStatus)]
pub struct AccountStatusResponse {
    pub account_status: AccountStatus,
}

/// The error of a status lookup no operator behind the gateway offers.
fn no_status_lookup() -> ApiError {
    GsmaError::new(
        ErrorCategory::BusinessRule,
        ErrorCode::GenericError,
        "No operator behind this gateway offers an account-status lookup for this account; M-Pesa Kenya \
         tells it for the business accounts the gateway holds (from the balance enquiry)",
    )
    .with_param("reason", "noStatusLookup")
    .into()
}

/// The status of an account the caller may see, from its operator's balance enquiry.
async fn status_of(
    engine: &Engine,
    caller: &Caller,
    identifiers: &[Party],
) -> Result<GsmaJson<AccountStatusResponse>, ApiError> {
    if !identifiers.iter().any(|p| caller.may_see_account(&p.value)) {
        return Err(no_status_lookup());
    }
    match engine.balance(identifiers).await {
        Ok(balance) => Ok(GsmaJson(
            StatusCode::OK,
            AccountStatusResponse {
                account_status: balance.account_status.unwrap_or(AccountStatus::Available),
            },
        )),
        Err(EngineError::Rejected(error))
            if matches!(
                error.error_category,
                ErrorCategory::Identification
                    | ErrorCategory::Validation
                    | ErrorCategory::BusinessRule
            ) =>
        {
            Err(no_status_lookup())
        }
        Err(e) => Err(e.into()),
    }
}

/// The status of an account (`available`, `unavailable`, `unregistered`), where its operator can tell: M-Pesa
/// Kenya, for the business accounts the gateway holds and the client may see. Elsewhere
/// `400 businessRule/genericError` with `reason` `noStatusLookup`.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/status",
    operation_id = "accountsIdentifierTypeIdentifierStatusGET",
    tag = "Accounts",
    params(
        ("identifierType" = String, Path, description = "e.g. organisationid"),
        ("identifier" = String, Path, description = "e.g. 600000"),
    ),
    responses(
        (status = 200, description = "The account's status", body = AccountStatusResponse,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "No operator offers the lookup for this account", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn status(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<GsmaJson<AccountStatusResponse>, ApiError> {
    let Path((identifier_type, identifier)) =
        path.map_err(|e| ApiError::from(GsmaError::format("path", e.body_text())))?;
    status_of(&engine, &caller, &[Party::new(identifier_type, identifier)]).await
}

/// The status of an account named by several identifiers (`key@value$key@value`).
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/status",
    operation_id = "accountsAccountIdStatusGET",
    tag = "Accounts",
    params(("accountId" = String, Path, description = "e.g. organisationid@600000")),
    responses(
        (status = 200, description = "The account's status", body = AccountStatusResponse,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed account id, or no operator offers the lookup", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn status_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<AccountStatusResponse>, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    status_of(&engine, &caller, &identifiers).await
}

/// The name of an account's holder, the account named by several identifiers (`msisdn@+233…`); as
/// `GET /accounts/{identifierType}/{identifier}/accountname`.
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/accountname",
    operation_id = "accountsAccountIdAccountnameGET",
    tag = "Accounts",
    params(("accountId" = String, Path, description = "e.g. msisdn@+233244000001")),
    responses(
        (status = 200, description = "The holder's name", body = AccountName,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "Malformed account id", body = GsmaError),
        (status = 404, description = "No operator can tell it, or no such account", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn account_name_by_id(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<AccountName>, ApiError> {
    let account_id = super::path_param(path)?;
    let identifiers = parse_account_id(&account_id)?;
    let name = engine.account_name(&identifiers).await?;
    Ok(GsmaJson(StatusCode::OK, name))
}

/// The balance of the caller's own account: the one account granted to the client (`clients add --accounts`).
/// A client granted none gets 404; one granted several names the account in the path instead
/// (`400 validation/mandatoryValueNotSupplied`).
#[utoipa::path(
    get,
    path = "/accounts/balance",
    operation_id = "accountsBalanceGET",
    tag = "Accounts",
    responses(
        (status = 200, description = "The balance", body = Balance,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 400, description = "The client holds several accounts: name one in the path", body = GsmaError),
        (status = 404, description = "The client holds no account", body = GsmaError),
        (status = 503, description = "The operator did not answer in time", body = GsmaError),
    )
)]
pub async fn own_balance(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
) -> Result<GsmaJson<Balance>, ApiError> {
    let account = match caller.accounts.as_slice() {
        [] => {
            return Err(GsmaError::not_found("No account is granted to this client").into());
        }
        [one] => one.clone(),
        several => {
            return Err(GsmaError::new(
                ErrorCategory::Validation,
                ErrorCode::MandatoryValueNotSupplied,
                format!(
                    "This client holds {} accounts; name one with GET /accounts/{{identifierType}}/{{identifier}}/balance",
                    several.len()
                ),
            )
            .with_param("field", "identifier")
            .into());
        }
    };
    let balance = engine
        .balance(&[Party::new("organisationid", account)])
        .await?;
    Ok(GsmaJson(StatusCode::OK, balance))
}
