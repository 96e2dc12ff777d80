//! Operations the gateway does not model itself — authorisation codes, account links, account creation,
//! account records and KYC — forwarded as they are to the GSMA-speaking operator that holds the account
//! (`[[providers.mmapi]]` chosen by identifier type, e.g. the sandbox's MMAPI simulator for `walletid`), its
//! answer passed back unchanged. The operator calls the client's `X-Callback-URL` itself. Where no such operator
//! holds the account, the operation answers "not offered" as before ([`super::unsupported`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::Party;
use mmapi_core::provider::{ForwardRequest, ProviderError};
use mmapi_core::GsmaError;

use super::accounts::{granted, parse_account_id};
use super::error::ApiError;
use super::json::GsmaJson;
use super::unsupported::Unsupported;
use crate::auth::Caller;
use crate::engine::Engine;

/// The account an operation's path (or, for `POST /accounts/{identityType}`, its body) names.
fn account_of(entry: &Unsupported, path: &str, body: &[u8]) -> Result<Vec<Party>, ApiError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let decoded = |s: &str| {
        percent_decode(s)
            .ok_or_else(|| ApiError::from(GsmaError::format("path", "bad percent-encoding")))
    };
    if entry.path == "/accounts/{identityType}" {
        let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
            ApiError::from(GsmaError::format(
                "body",
                "The request body is not valid JSON",
            ))
        })?;
        let identifiers: Vec<Party> = value
            .get("accountIdentifiers")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        if identifiers.is_empty() {
            return Err(GsmaError::mandatory("accountIdentifiers").into());
        }
        return Ok(identifiers);
    }
    if entry
        .path
        .starts_with("/accounts/{identifierType}/{identifier}")
    {
        let (Some(key), Some(value)) = (segments.get(1), segments.get(2)) else {
            return Err(GsmaError::mandatory("identifier").into());
        };
        return Ok(vec![Party::new(decoded(key)?, decoded(value)?)]);
    }
    let account_id = segments
        .get(1)
        .ok_or_else(|| ApiError::from(GsmaError::mandatory("accountId")))?;
    parse_account_id(&decoded(account_id)?)
}

/// `%XX` sequences decoded; `None` when malformed or not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Forwards the operation to the GSMA-speaking operator that holds the account, or answers it "not offered".
pub async fn forward_or_refuse(
    entry: &'static Unsupported,
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let identifiers = account_of(entry, uri.path(), &body)?;
    let operators: Vec<_> = engine
        .router()
        .for_account(&identifiers)
        .into_iter()
        .filter(|p| !p.capabilities().identifier_types.is_empty())
        .collect();
    if operators.is_empty() {
        return Err(entry.error().into());
    }
    if entry.path == "/accounts/{identityType}" {
        // Opening accounts is for the gateway's operators, not for every client.
        if caller.role != crate::auth::Role::Operator {
            return Err(GsmaError::new(
                mmapi_core::ErrorCategory::Authorisation,
                mmapi_core::ErrorCode::RequestingPartyAuthorisationError,
                "Only an operator client of this gateway may open accounts",
            )
            .into());
        }
    } else {
        granted(&caller, &identifiers)?;
    }
    let request = ForwardRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query(),
        correlation_id: header(&headers, "X-CorrelationID"),
        callback_url: header(&headers, "X-Callback-URL"),
        body: (!body.is_empty()).then_some(&body[..]),
    };
    for operator in operators {
        if !caller.may_use(operator.name()) {
            continue;
        }
        match send(operator.as_ref(), &request).await {
            Err(Skip) => continue,
            Ok(answer) => return answer,
        }
    }
    Err(entry.error().into())
}

/// The operator cannot take the request: try another, or answer as if none could.
struct Skip;

/// Sends a forwarded request: the operator's answer as it is, or the GSMA error of a call that failed.
async fn send(
    operator: &dyn mmapi_core::provider::Provider,
    request: &ForwardRequest<'_>,
) -> Result<Result<Response, ApiError>, Skip> {
    let answer = match operator.forward(request).await {
        Ok(answer) => answer,
        Err(ProviderError::Unsupported(_)) => return Err(Skip),
        Err(ProviderError::Rejected(failure)) => return Ok(Err(failure.error.into())),
        Err(ProviderError::Configuration(why)) => {
            tracing::error!(provider = operator.name(), reason = %why, "forwarded request refused by the operator");
            return Ok(Err(GsmaError::internal().into()));
        }
        Err(ProviderError::Unavailable(why) | ProviderError::InDoubt(why)) => {
            tracing::info!(provider = operator.name(), reason = %why, "forwarded request unanswered");
            return Ok(Err(GsmaError::unavailable(
                "The operator did not answer in time",
            )
            .into()));
        }
    };
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    Ok(Ok(if answer.body.is_null() {
        status.into_response()
    } else {
        GsmaJson(status, answer.body).into_response()
    }))
}

/// A quotation between accounts of an operator that quotes itself is its: forwarded (`None`: the gateway
/// quotes with its own tariffs).
pub async fn quotation_to_operator(
    engine: &Engine,
    caller: &Caller,
    request: &mmapi_core::quotation::QuotationRequest,
    headers: &super::headers::RequestHeaders,
    body: &[u8],
) -> Option<Result<Response, ApiError>> {
    let parties: Vec<Party> = request
        .debit_party
        .iter()
        .chain(&request.credit_party)
        .cloned()
        .collect();
    let operator = engine
        .router()
        .for_parties(request.request_currency.code(), &parties)
        .filter(|p| p.capabilities().quotations && caller.may_use(p.name()))?;
    let forwarded = ForwardRequest {
        method: "POST",
        path: "/quotations",
        query: None,
        correlation_id: headers.correlation_id.as_deref(),
        callback_url: headers.callback_url.as_deref(),
        body: Some(body),
    };
    send(operator.as_ref(), &forwarded).await.ok()
}

/// The first `200` answer to `GET {path}` from those of `operators` the caller may use.
async fn first_found<'a>(
    operators: impl Iterator<Item = &'a Arc<dyn mmapi_core::provider::Provider>>,
    caller: &Caller,
    path: &str,
) -> Option<serde_json::Value> {
    let request = ForwardRequest {
        method: "GET",
        path,
        query: None,
        correlation_id: None,
        callback_url: None,
        body: None,
    };
    for operator in operators {
        if !caller.may_use(operator.name()) {
            continue;
        }
        if let Ok(answer) = operator.forward(&request).await {
            if answer.status == 200 {
                return Some(answer.body);
            }
        }
    }
    None
}

/// A quotation the gateway does not have, from the operators that quote themselves.
pub async fn operator_quotation(
    engine: &Engine,
    caller: &Caller,
    reference: &str,
) -> Option<Response> {
    let quoting = engine
        .router()
        .providers()
        .filter(|p| p.capabilities().quotations);
    first_found(quoting, caller, &format!("/quotations/{reference}"))
        .await
        .map(|body| GsmaJson(StatusCode::OK, body).into_response())
}

/// The request state of a forwarded request, from the GSMA-speaking operators the caller may use.
pub async fn operator_request_state(
    engine: &Engine,
    caller: &Caller,
    id: &str,
) -> Option<mmapi_core::model::RequestState> {
    let operators = engine.router().identifier_providers();
    let body = first_found(operators, caller, &format!("/requeststates/{id}")).await?;
    serde_json::from_value(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2B2547").as_deref(), Some("+2547"));
        assert_eq!(percent_decode("walletid").as_deref(), Some("walletid"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
    }
}
