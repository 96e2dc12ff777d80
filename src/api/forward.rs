//! Operations the gateway does not model itself — authorisation codes, account links, account creation,
//! account records and KYC — forwarded as they are to the GSMA-speaking operator that holds the account
//! (`[[providers.mmapi]]` chosen by identifier type, e.g. the sandbox's MMAPI simulator for `walletid`), its
//! answer passed back unchanged. The operator calls the gateway back, and the gateway relays the outcome to the
//! client's `X-Callback-URL` through its outbox ([`crate::engine::forwarded`]). Where no such operator holds the
//! account, the operation answers "not offered" as before ([`super::unsupported`]).
//!
//! A forwarded write is its client's: its `X-CorrelationID` is claimed like any request's, it goes to the operator
//! under an id of the gateway's, and what the operator answers (its request state, what it created) is recorded
//! in the store so that only that client reads it ([`crate::store::ForwardedRow`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{Link, Party, RequestState};
use mmapi_core::provider::{ForwardRequest, Provider, ProviderError};
use mmapi_core::GsmaError;
use uuid::Uuid;

use super::accounts::{granted, parse_account_id};
use super::error::ApiError;
use super::headers::RequestHeaders;
use super::json::GsmaJson;
use super::unsupported::Unsupported;
use crate::auth::Caller;
use crate::engine::forwarded::{object_reference_in, read_at_operator, text_at};
use crate::engine::{now_ms, Engine, EngineError};
use crate::store::{Change, ForwardAnswer, ForwardedRow, NewForward, FORWARDED};

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

/// Forwards the operation to the GSMA-speaking operator that holds the account, or answers it "not offered".
pub async fn forward_or_refuse(
    entry: &'static Unsupported,
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    method: Method,
    uri: Uri,
    headers: RequestHeaders,
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
    let body = (!body.is_empty()).then_some(&body[..]);
    let request = ClientRequest::new(&method, &uri, &headers, body);
    match operators.iter().find(|p| caller.may_use(p.name())) {
        Some(operator) => match for_client(&engine, &caller, operator, &request).await {
            Ok(answer) => answer,
            Err(Skip) => Err(entry.error().into()),
        },
        None => Err(entry.error().into()),
    }
}

/// A client's request to forward, as it came.
struct ClientRequest<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    correlation_id: Option<&'a str>,
    callback_url: Option<&'a str>,
    body: Option<&'a [u8]>,
}

impl<'a> ClientRequest<'a> {
    /// The request as the client sent it to the gateway.
    fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a RequestHeaders,
        body: Option<&'a [u8]>,
    ) -> Self {
        Self {
            method: method.as_str(),
            path: uri.path(),
            query: uri.query(),
            correlation_id: headers.correlation_id.as_deref(),
            callback_url: headers.callback_url.as_deref(),
            body,
        }
    }

    /// The request as the operator gets it, under `correlation_id`.
    fn to_operator(&self, correlation_id: Option<&'a str>) -> ForwardRequest<'a> {
        ForwardRequest {
            method: self.method,
            path: self.path,
            query: self.query,
            correlation_id,
            callback_url: self.callback_url,
            body: self.body,
        }
    }
}

/// The operator cannot take the request: answer as if no operator could.
struct Skip;

/// Sends a client's request to `operator`. A read goes as it is. A write first claims the client's
/// `X-CorrelationID` (one namespace with the gateway's own requests) and goes under an `X-CorrelationID` of the
/// gateway's, one per client request, so that clients never share the operator's idempotency keys; the answer's
/// ids are recorded, so that only this client reads the request state and what it created. A repeat of a
/// request the operator never answered (a stop or a timeout in between) is sent again under the same id, where
/// the operator's own idempotency makes it safe; a repeat of an answered one is a duplicate.
async fn for_client(
    engine: &Engine,
    caller: &Caller,
    operator: &Arc<dyn Provider>,
    request: &ClientRequest<'_>,
) -> Result<Result<Response, ApiError>, Skip> {
    if request.method == Method::GET.as_str() {
        return Ok(send(
            operator.as_ref(),
            &request.to_operator(request.correlation_id),
        )
        .await?
        .map(|(response, _)| response));
    }
    if let Some(body) = request.body {
        if serde_json::from_slice::<serde_json::Value>(body).is_err() {
            return Ok(Err(GsmaError::format(
                "body",
                "The request body is not valid JSON",
            )
            .into()));
        }
    }
    let claim = NewForward {
        operator_correlation_id: Uuid::new_v4().to_string(),
        client_id: caller.client_id.clone(),
        client_correlation_id: request.correlation_id.map(str::to_owned),
        operator: operator.name().to_owned(),
        method: request.method.to_owned(),
        path: request.path.to_owned(),
        callback_url: request.callback_url.map(str::to_owned),
        now_ms: now_ms(),
        request_id: crate::observe::current_request_id(),
    };
    let operator_correlation_id = match claimed(engine, caller, claim, request).await {
        Ok(id) => id,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let (response, answer) = match send(
        operator.as_ref(),
        &request.to_operator(Some(&operator_correlation_id)),
    )
    .await?
    {
        Ok(answered) => answered,
        Err(error) => return Ok(Err(error)),
    };
    let change = match answer {
        // Refused outright (a duplicate aside): nothing was made, and the client may correct it and send it again.
        Some(answer)
            if (400..500).contains(&answer.status)
                && answer.body.get("errorCode").and_then(|c| c.as_str())
                    != Some("duplicateRequest") =>
        {
            Some(Change::ReleaseForward {
                operator_correlation_id,
            })
        }
        // A 5xx says nothing of what happened: a repeat goes again under the same id.
        Some(answer) if answer.status >= 500 => None,
        Some(answer) => Some(Change::ForwardAnswered(ForwardAnswer {
            operator_correlation_id,
            status: Some(i64::from(answer.status)),
            operator_server_correlation_id: text_at(&answer.body, &["serverCorrelationId"]),
            object_reference: object_reference_in(&answer.body),
            // Asked of the operator if its callback has not come when a result of its would be overdue.
            check_at: (answer.status == 202 && request.callback_url.is_some()).then(|| {
                let deadline =
                    operator.result_deadline(mmapi_core::model::TransactionType::Merchantpay);
                now_ms() + i64::try_from(deadline.as_millis()).unwrap_or(i64::MAX / 2)
            }),
            now_ms: now_ms(),
        })),
        None => None,
    };
    if let Some(change) = change {
        if let Err(e) = engine.store().apply(change).await {
            return Ok(Err(ApiError::from(e)));
        }
    }
    Ok(Ok(response))
}

/// The operator `X-CorrelationID` to send `claim` under: its own when the client's correlation id is new, the
/// first request's when that one was never answered, else the duplicate error.
async fn claimed(
    engine: &Engine,
    caller: &Caller,
    claim: NewForward,
    request: &ClientRequest<'_>,
) -> Result<String, ApiError> {
    let id = claim.operator_correlation_id.clone();
    let store = engine.store();
    if store.apply(Change::ClaimForward(claim)).await? > 0 {
        return Ok(id);
    }
    let duplicate = |link: Option<String>| ApiError::from(EngineError::Duplicate { link });
    let Some(correlation_id) = request.correlation_id else {
        return Err(GsmaError::internal().into());
    };
    let Some(first) = store
        .request_state_by_correlation(&caller.client_id, correlation_id)
        .await?
    else {
        return Err(GsmaError::internal().into());
    };
    if first.object_type != FORWARDED {
        let link = match &first.object_reference {
            Some(reference) => Some(engine.link_to(&first.object_type, reference).await?),
            None => None,
        };
        return Err(duplicate(link));
    }
    match store.forwarded(&first.server_correlation_id).await? {
        Some(row)
            if row.answer_status.is_none()
                && row.method == request.method
                && row.path == request.path =>
        {
            Ok(row.operator_correlation_id)
        }
        Some(row) => Err(duplicate(
            row.operator_server_correlation_id
                .map(|id| format!("/requeststates/{id}")),
        )),
        None => Err(duplicate(None)),
    }
}

/// Sends a forwarded request: the response to give the client with the operator's answer (`None` when the
/// call failed before the operator answered), or [`Skip`].
async fn send(
    operator: &dyn Provider,
    request: &ForwardRequest<'_>,
) -> Result<Result<(Response, Option<mmapi_core::provider::ForwardAnswer>), ApiError>, Skip> {
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
    let mut response = if answer.body.is_null() {
        status.into_response()
    } else {
        GsmaJson(status, answer.body.clone()).into_response()
    };
    if let Some(records) = answer.records {
        let headers = response.headers_mut();
        headers.insert(
            "x-records-available-count",
            HeaderValue::from(records.available),
        );
        headers.insert(
            "x-records-returned-count",
            HeaderValue::from(records.returned),
        );
    }
    Ok(Ok((response, Some(answer))))
}

/// The GSMA-speaking operator that holds the account (chosen by identifier type) and serves what `serves` asks
/// of its capabilities, when the account is granted to the caller.
fn account_operator(
    engine: &Engine,
    caller: &Caller,
    identifiers: &[Party],
    serves: fn(&mmapi_core::provider::Capabilities) -> bool,
) -> Option<Arc<dyn Provider>> {
    if !identifiers.iter().any(|p| caller.may_see_account(&p.value)) {
        return None;
    }
    engine
        .router()
        .for_account(identifiers)
        .into_iter()
        .find(|p| {
            let capabilities = p.capabilities();
            serves(&capabilities)
                && !capabilities.identifier_types.is_empty()
                && caller.may_use(p.name())
        })
}

/// An account's statement page (`GET …/transactions`, `…/statemententries`, as `uri` asks) from the
/// GSMA-speaking operator that holds the account and keeps statements, when the account is granted to the
/// caller; `None` to answer from the gateway's own records of the caller's transactions.
pub async fn statement_from_operator(
    engine: &Engine,
    caller: &Caller,
    identifiers: &[Party],
    uri: &Uri,
) -> Option<Result<Response, ApiError>> {
    let operator = account_operator(engine, caller, identifiers, |c| c.statements)?;
    let request = ForwardRequest {
        method: "GET",
        path: uri.path(),
        query: uri.query(),
        correlation_id: None,
        callback_url: None,
        body: None,
    };
    send(operator.as_ref(), &request)
        .await
        .ok()
        .map(|answer| answer.map(|(response, _)| response))
}

/// A bill operation on a customer's account (`…/bills`, `…/bills/payments`, `…/bills/{billReference}/payments`)
/// that the gateway's own bills do not answer, sent to the GSMA-speaking operator that holds the account and
/// presents bills, when the account is granted to the caller. A payment is the caller's like any forwarded
/// write (its `X-CorrelationID` claimed, its callback relayed). `None`: no such operator.
pub async fn bills_at_operator(
    engine: &Engine,
    caller: &Caller,
    identifiers: &[Party],
    method: Method,
    uri: &Uri,
    headers: &RequestHeaders,
    body: Option<&[u8]>,
) -> Option<Result<Response, ApiError>> {
    let operator = account_operator(engine, caller, identifiers, |c| c.bills)?;
    let request = ClientRequest::new(&method, uri, headers, body);
    for_client(engine, caller, &operator, &request).await.ok()
}

/// A quotation between accounts of an operator that quotes itself is its: forwarded (`None`: the gateway
/// quotes with its own tariffs).
pub async fn quotation_to_operator(
    engine: &Engine,
    caller: &Caller,
    request: &mmapi_core::quotation::QuotationRequest,
    headers: &RequestHeaders,
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
    let forwarded = ClientRequest {
        method: "POST",
        path: "/quotations",
        query: None,
        correlation_id: headers.correlation_id.as_deref(),
        callback_url: headers.callback_url.as_deref(),
        body: Some(body),
    };
    for_client(engine, caller, operator, &forwarded).await.ok()
}

/// `GET {path}` from the operator a forwarded request of the caller's went to: its `200` body, or `None`.
async fn read_from(
    engine: &Engine,
    caller: &Caller,
    row: &ForwardedRow,
    path: &str,
) -> Option<serde_json::Value> {
    if row.client_id != caller.client_id || !caller.may_use(&row.operator) {
        return None;
    }
    let operator = engine.router().by_name(&row.operator)?;
    read_at_operator(operator.as_ref(), path).await
}

/// A quotation the gateway does not have, from the operator a forwarded request of the caller's made it at.
pub async fn operator_quotation(
    engine: &Engine,
    caller: &Caller,
    reference: &str,
) -> Result<Option<Response>, ApiError> {
    let Some(row) = engine.store().forwarded_by_object(reference).await? else {
        return Ok(None);
    };
    Ok(
        read_from(engine, caller, &row, &format!("/quotations/{reference}"))
            .await
            .map(|body| GsmaJson(StatusCode::OK, body).into_response()),
    )
}

/// The request state of a request of the caller's forwarded to a GSMA-speaking operator: by the operator's
/// `serverCorrelationId`, or by the gateway's own (`forwarded`, from a duplicate's link). What it says was
/// created is recorded as the caller's.
pub async fn operator_request_state(
    engine: &Engine,
    caller: &Caller,
    id: &str,
) -> Result<Option<RequestState>, ApiError> {
    let store = engine.store();
    let row = match store.forwarded_by_operator_state(id).await? {
        Some(row) => row,
        None => match store.forwarded(id).await? {
            Some(row) => row,
            None => return Ok(None),
        },
    };
    let Some(operator_id) = row.operator_server_correlation_id.clone() else {
        return Ok(None);
    };
    let Some(body) = read_from(
        engine,
        caller,
        &row,
        &format!("/requeststates/{operator_id}"),
    )
    .await
    else {
        return Ok(None);
    };
    let Ok(state) = serde_json::from_value::<RequestState>(body) else {
        return Ok(None);
    };
    if row.object_reference.is_none() && state.object_reference.is_some() {
        store
            .apply(Change::ForwardAnswered(ForwardAnswer {
                operator_correlation_id: row.operator_correlation_id.clone(),
                status: None,
                operator_server_correlation_id: None,
                object_reference: state.object_reference.clone(),
                check_at: None,
                now_ms: now_ms(),
            }))
            .await?;
    }
    Ok(Some(state))
}

/// `GET /responses/{X-CorrelationID}` of a forwarded request: the operator's link for the id the gateway sent
/// it under.
pub async fn operator_response(
    engine: &Engine,
    caller: &Caller,
    operator_correlation_id: &str,
) -> Result<Option<Link>, ApiError> {
    let Some(row) = engine.store().forwarded(operator_correlation_id).await? else {
        return Ok(None);
    };
    let path = format!("/responses/{operator_correlation_id}");
    Ok(read_from(engine, caller, &row, &path)
        .await
        .and_then(|body| serde_json::from_value(body).ok()))
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
