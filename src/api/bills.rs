//! Bills: the bills a customer owes and their payments (GSMA `Bills`), and the extension through which a biller
//! client issues bills (`/billers/bills`, tag `Billers (extension)`). A client sees and pays only the bills it
//! issued.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{Party, RequestState};
use mmapi_core::GsmaError;
use serde::Deserialize;

use super::accounts::{parse_account_id, query_number};
use super::error::ApiError;
use super::forward::bills_at_operator;
use super::headers::RequestHeaders;
use super::json::GsmaJson;
use super::transactions::body_bytes;
use crate::auth::Caller;
use crate::bills::{Bill, BillCompany, BillPayment};
use crate::engine::bills::{BillPaymentRequest, IssueBill, IssueBills, NewBillPayment};
use crate::engine::Engine;

/// `limit` and `offset` of a bill list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Records to return (default 50, at most 1000).
    pub limit: Option<String>,
    /// Records to skip.
    pub offset: Option<String>,
}

fn page(query: Result<Query<PageQuery>, QueryRejection>) -> Result<(i64, i64), ApiError> {
    let Query(q) = query.map_err(|e| ApiError::from(GsmaError::format("query", e.body_text())))?;
    Ok((
        query_number("limit", q.limit.as_deref(), 50, 1000)?,
        query_number("offset", q.offset.as_deref(), 0, i64::MAX / 2)?,
    ))
}

/// A page of a list with the GSMA record-count headers; an offset beyond the records is validation/invalidOffset.
fn listed<T: serde::Serialize>(
    items: Vec<T>,
    total: i64,
    offset: i64,
) -> Result<Response, ApiError> {
    if offset > total {
        return Err(GsmaError::new(
            mmapi_core::ErrorCategory::Validation,
            mmapi_core::ErrorCode::InvalidOffset,
            format!("offset {offset} is beyond the {total} records"),
        )
        .into());
    }
    let returned = items.len();
    let mut response = GsmaJson(StatusCode::OK, items).into_response();
    let headers = response.headers_mut();
    headers.insert("x-records-available-count", HeaderValue::from(total));
    headers.insert("x-records-returned-count", HeaderValue::from(returned));
    Ok(response)
}

fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body_bytes(body)?;
    serde_json::from_slice(&body)
        .map_err(|e| GsmaError::format("body", format!("Malformed request body: {e}")).into())
}

fn two_params(
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(String, String), ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| GsmaError::format("path", e.body_text()).into())
}

fn three_params(
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<(String, String, String), ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| GsmaError::format("path", e.body_text()).into())
}

/// Issue a bill (extension of the GSMA API): the customer owes `amountDue` to the paybill `serviceProvider`, and
/// pays it with `accountReference` as the account number, by API (`POST …/bills/{billReference}/payments`) or from
/// the phone. Each payment is pushed to `X-Callback-URL`, signed like client callbacks and with their delivery
/// guarantees. Answers 201 with the bill once it is stored.
#[utoipa::path(
    post,
    path = "/billers/bills",
    operation_id = "billersBillsPOST",
    tag = "Billers (extension)",
    params(
        ("X-Callback-URL" = Option<String>, Header, description = "Where each payment of the bill is PUT (a GSMA bill payment)"),
    ),
    request_body(content = IssueBill, content_type = "application/json"),
    responses(
        (status = 201, description = "The bill, stored", body = Bill),
        (status = 400, description = "Validation error, or the reference is already used", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
    )
)]
pub async fn issue(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<Bill>), ApiError> {
    let bill: IssueBill = json_body(body)?;
    let mut bills = engine
        .issue_bills(&caller.client_id, headers.callback_url, vec![bill])
        .await?;
    let bill = bills
        .pop()
        .ok_or_else(|| ApiError::from(GsmaError::internal()))?;
    Ok((StatusCode::CREATED, GsmaJson(StatusCode::CREATED, bill)))
}

/// Issue up to 1000 bills at once, all or none (extension of the GSMA API); as `POST /billers/bills`.
#[utoipa::path(
    post,
    path = "/billers/bills/bulk",
    operation_id = "billersBillsBulkPOST",
    tag = "Billers (extension)",
    params(
        ("X-Callback-URL" = Option<String>, Header, description = "Where each payment of these bills is PUT"),
    ),
    request_body(content = IssueBills, content_type = "application/json"),
    responses(
        (status = 201, description = "The bills, stored", body = Vec<Bill>),
        (status = 400, description = "Validation error, or a reference is already used", body = GsmaError),
        (status = 401, description = "Not authorised", body = GsmaError),
    )
)]
pub async fn issue_bulk(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, GsmaJson<Vec<Bill>>), ApiError> {
    let request: IssueBills = json_body(body)?;
    let bills = engine
        .issue_bills(&caller.client_id, headers.callback_url, request.bills)
        .await?;
    Ok((StatusCode::CREATED, GsmaJson(StatusCode::CREATED, bills)))
}

/// A read the gateway's bills have nothing for, from the customer's GSMA-speaking operator if it presents bills.
async fn read_at_operator(
    engine: &Engine,
    caller: &Caller,
    customer: &[Party],
    uri: &Uri,
) -> Option<Result<Response, ApiError>> {
    let no_headers = RequestHeaders::default();
    bills_at_operator(
        engine,
        caller,
        customer,
        Method::GET,
        uri,
        &no_headers,
        None,
    )
    .await
}

/// This client's bills of the customer; when it has issued none, the bills the customer's GSMA-speaking operator
/// presents.
async fn list_bills(
    engine: &Engine,
    caller: &Caller,
    identifiers: &[Party],
    (limit, offset): (i64, i64),
    uri: &Uri,
) -> Result<Response, ApiError> {
    let (bills, total) = engine
        .customer_bills(&caller.client_id, identifiers, limit, offset)
        .await?;
    if total == 0 {
        if let Some(answer) = read_at_operator(engine, caller, identifiers, uri).await {
            return answer;
        }
    }
    listed(bills, total, offset)
}

/// The bills the customer owes (those this client issued), newest first, with `billStatus` unpaid,
/// partialpaid or paid and what is still due.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/bills",
    operation_id = "accountsIdentifierTypeIdentifierBillsGET",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "e.g. +254708374149"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The bills", body = Vec<Bill>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"))),
        (status = 400, description = "Malformed query", body = GsmaError),
    )
)]
pub async fn bills(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (identifier_type, identifier) = two_params(path)?;
    list_bills(
        &engine,
        &caller,
        &[Party::new(identifier_type, identifier)],
        page(query)?,
        &uri,
    )
    .await
}

/// The same list for an account named by its identifiers (`key@value$key@value`).
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/bills",
    operation_id = "accountsAccountIdBillsGET",
    tag = "Bills",
    params(("accountId" = String, Path, description = "e.g. msisdn@+254708374149"), PageQuery),
    responses(
        (status = 200, description = "The bills", body = Vec<Bill>),
        (status = 400, description = "Malformed account id or query", body = GsmaError),
    )
)]
pub async fn bills_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let identifiers = parse_account_id(&super::path_param(path)?)?;
    list_bills(&engine, &caller, &identifiers, page(query)?, &uri).await
}

/// The paying account a request names in its path, and that path (for the customer's operator).
struct Payer {
    account: Vec<Party>,
    uri: Uri,
}

/// Pays the bill `bill_reference`, or without one the payer's oldest open bill. A bill the gateway does not hold
/// for the payer (no such bill, or none open) is paid at the payer's GSMA-speaking operator if it presents bills.
async fn pay(
    engine: &Engine,
    caller: Caller,
    headers: RequestHeaders,
    bill_reference: Option<String>,
    payer: Option<Payer>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body_bytes(body)?;
    let request: BillPaymentRequest = serde_json::from_slice(&bytes)
        .map_err(|e| GsmaError::format("body", format!("Malformed request body: {e}")))?;
    let mut payment = NewBillPayment {
        client_id: caller.client_id.clone(),
        allowed_providers: caller.allowed_providers.clone(),
        correlation_id: headers.correlation_id.clone(),
        callback_url: headers.callback_url.clone(),
        bill_reference: String::new(),
        payer: payer.as_ref().map(|p| p.account.clone()),
        request,
    };
    let paid = match bill_reference {
        Some(reference) => {
            payment.bill_reference = reference;
            engine.pay_bill(payment).await
        }
        None => engine.pay_oldest_bill(payment).await,
    }
    .map_err(ApiError::from);
    match (paid, &payer) {
        (Ok(state), _) => Ok(GsmaJson(StatusCode::ACCEPTED, state).into_response()),
        (Err(e), Some(payer)) if e.is_not_found() => {
            let at_operator = bills_at_operator(
                engine,
                &caller,
                &payer.account,
                Method::POST,
                &payer.uri,
                &headers,
                Some(&bytes),
            )
            .await;
            at_operator.unwrap_or(Err(e))
        }
        (Err(e), _) => Err(e),
    }
}

/// Pay a bill without its reference: the customer's oldest open bill of this client (the earliest due date,
/// then the oldest), under that bill's rules, as `POST …/bills/{billReference}/payments` would. A customer who
/// owes the client nothing is identification/identifierError.
#[utoipa::path(
    post,
    path = "/accounts/{identifierType}/{identifier}/bills/payments",
    operation_id = "accountsIdentifierTypeIdentifierBillsBillPaymentsPOST",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "The paying customer, e.g. +254708374149"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final transaction (or the error object) is PUT"),
    ),
    request_body(content = BillPaymentRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState),
        (status = 400, description = "Validation or business-rule error (over- or under-payment)", body = GsmaError),
        (status = 404, description = "The customer owes no open bill", body = GsmaError),
    )
)]
pub async fn pay_oldest_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (identifier_type, identifier) = two_params(path)?;
    let payer = Some(Payer {
        account: vec![Party::new(identifier_type, identifier)],
        uri,
    });
    pay(&engine, caller, headers, None, payer, body).await
}

/// As `POST /accounts/{identifierType}/{identifier}/bills/payments`, the account by its id.
#[utoipa::path(
    post,
    path = "/accounts/{accountId}/bills/payments",
    operation_id = "accountsAccountIdBillsBillPaymentsPOST",
    tag = "Bills",
    params(("accountId" = String, Path, description = "e.g. msisdn@+254708374149")),
    request_body(content = BillPaymentRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState),
        (status = 400, description = "Validation or business-rule error", body = GsmaError),
        (status = 404, description = "The customer owes no open bill", body = GsmaError),
    )
)]
pub async fn pay_oldest_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    path: Result<Path<String>, PathRejection>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let account_id = super::path_param(path)?;
    let payer = Some(Payer {
        account: parse_account_id(&account_id)?,
        uri,
    });
    pay(&engine, caller, headers, None, payer, body).await
}

/// The completed payments of every bill of this client the customer owes or owed, oldest first; each names its
/// bill in `metadata` (`billReference`).
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/bills/payments",
    operation_id = "accountsIdentifierTypeIdentifierBillsBillPaymentsGET",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "e.g. +254708374149"),
        PageQuery,
    ),
    responses((status = 200, description = "The payments", body = Vec<BillPayment>))
)]
pub async fn customer_payments_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (identifier_type, identifier) = two_params(path)?;
    let customer = [Party::new(identifier_type, identifier)];
    list_customer_payments(&engine, &caller, &customer, page(query)?, &uri).await
}

/// As `GET /accounts/{identifierType}/{identifier}/bills/payments`, the account by its id.
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/bills/payments",
    operation_id = "accountsAccountIdBillsBillPaymentsGET",
    tag = "Bills",
    params(("accountId" = String, Path, description = "e.g. msisdn@+254708374149"), PageQuery),
    responses((status = 200, description = "The payments", body = Vec<BillPayment>))
)]
pub async fn customer_payments_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let account_id = super::path_param(path)?;
    let customer = parse_account_id(&account_id)?;
    list_customer_payments(&engine, &caller, &customer, page(query)?, &uri).await
}

/// The payments of this client's bills the customer made; when it has issued the customer none, the customer's
/// bill payments at its GSMA-speaking operator.
async fn list_customer_payments(
    engine: &Engine,
    caller: &Caller,
    customer: &[Party],
    (limit, offset): (i64, i64),
    uri: &Uri,
) -> Result<Response, ApiError> {
    let (payments, total): (Vec<BillPayment>, i64) = engine
        .customer_bill_payments(&caller.client_id, customer, limit, offset)
        .await?;
    if total == 0 {
        let (bills, _) = engine
            .customer_bills(&caller.client_id, customer, 1, 0)
            .await?;
        if bills.is_empty() {
            if let Some(answer) = read_at_operator(engine, caller, customer, uri).await {
                return answer;
            }
        }
    }
    listed(payments, total, offset)
}

/// Pay a bill the customer owes: a `billpay` transaction from the customer to the bill's paybill with its account
/// reference (Daraja: STK Push `CustomerPayBillOnline`; M-Pesa OpenAPI: `c2bPayment`). 202 with a request state
/// whose object is that transaction; the bill changes when it completes. More than is due on a bill that forbids
/// over-payment is businessRule/overPaymentNotAllowed, less on one that forbids partial payment
/// businessRule/underPaymentNotAllowed.
#[utoipa::path(
    post,
    path = "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments",
    operation_id = "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsPOST",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "The paying customer, e.g. +254708374149"),
        ("billReference" = String, Path, description = "The bill"),
        ("X-CorrelationID" = Option<String>, Header, description = "A UUID the client chooses (idempotency key)"),
        ("X-Callback-URL" = Option<String>, Header, description = "Where the final transaction (or the error object) is PUT"),
    ),
    request_body(content = BillPaymentRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState),
        (status = 400, description = "Validation or business-rule error (over- or under-payment)", body = GsmaError),
        (status = 404, description = "No such bill of this customer", body = GsmaError),
    )
)]
pub async fn pay_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    path: Result<Path<(String, String, String)>, PathRejection>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (identifier_type, identifier, reference) = three_params(path)?;
    let payer = Some(Payer {
        account: vec![Party::new(identifier_type, identifier)],
        uri,
    });
    pay(&engine, caller, headers, Some(reference), payer, body).await
}

/// As `POST /accounts/{identifierType}/{identifier}/bills/{billReference}/payments`, the account by its id.
#[utoipa::path(
    post,
    path = "/accounts/{accountId}/bills/{billReference}/payments",
    operation_id = "accountsAccountIdBillsBillReferencePaymentsPOST",
    tag = "Bills",
    params(
        ("accountId" = String, Path, description = "e.g. msisdn@+254708374149"),
        ("billReference" = String, Path, description = "The bill"),
    ),
    request_body(content = BillPaymentRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState),
        (status = 400, description = "Validation or business-rule error", body = GsmaError),
        (status = 404, description = "No such bill of this customer", body = GsmaError),
    )
)]
pub async fn pay_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (account_id, reference) = two_params(path)?;
    let payer = Some(Payer {
        account: parse_account_id(&account_id)?,
        uri,
    });
    pay(&engine, caller, headers, Some(reference), payer, body).await
}

/// As `POST /accounts/{identifierType}/{identifier}/bills/{billReference}/payments`, paid by the bill's customer.
#[utoipa::path(
    post,
    path = "/bills/{billReference}/payments",
    operation_id = "billsBillReferencePaymentsPOST",
    tag = "Bills",
    params(("billReference" = String, Path, description = "The bill")),
    request_body(content = BillPaymentRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted and stored", body = RequestState),
        (status = 400, description = "Validation or business-rule error", body = GsmaError),
        (status = 404, description = "No such bill", body = GsmaError),
    )
)]
pub async fn pay_by_reference(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    headers: RequestHeaders,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reference = super::path_param(path)?;
    pay(&engine, caller, headers, Some(reference), None, body).await
}

async fn list_payments(
    engine: &Engine,
    caller: &Caller,
    reference: &str,
    payer: Option<&[Party]>,
    (limit, offset): (i64, i64),
) -> Result<Response, ApiError> {
    let (payments, total): (Vec<BillPayment>, i64) = engine
        .bill_payments(&caller.client_id, reference, payer, limit, offset)
        .await?;
    listed(payments, total, offset)
}

/// The completed payments of a bill, oldest first, whichever way they were made.
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments",
    operation_id = "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsGET",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "e.g. +254708374149"),
        ("billReference" = String, Path, description = "The bill"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The payments", body = Vec<BillPayment>),
        (status = 404, description = "No such bill of this customer", body = GsmaError),
    )
)]
pub async fn payments_by_identifier(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (identifier_type, identifier, reference) = three_params(path)?;
    let payer = [Party::new(identifier_type, identifier)];
    let listed = list_payments(&engine, &caller, &reference, Some(&payer), page(query)?).await;
    or_operator_bill(&engine, &caller, &payer, &uri, listed).await
}

/// As `GET /accounts/{identifierType}/{identifier}/bills/{billReference}/payments`, the account by its id.
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/bills/{billReference}/payments",
    operation_id = "accountsAccountIdBillsBillReferencePaymentsGET",
    tag = "Bills",
    params(
        ("accountId" = String, Path, description = "e.g. msisdn@+254708374149"),
        ("billReference" = String, Path, description = "The bill"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The payments", body = Vec<BillPayment>),
        (status = 404, description = "No such bill of this customer", body = GsmaError),
    )
)]
pub async fn payments_by_id(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let (account_id, reference) = two_params(path)?;
    let payer = parse_account_id(&account_id)?;
    let listed = list_payments(&engine, &caller, &reference, Some(&payer), page(query)?).await;
    or_operator_bill(&engine, &caller, &payer, &uri, listed).await
}

/// The gateway's answer about one of the customer's bills, or, for a bill it does not hold, the answer of the
/// customer's GSMA-speaking operator if it presents bills.
async fn or_operator_bill(
    engine: &Engine,
    caller: &Caller,
    customer: &[Party],
    uri: &Uri,
    ours: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    match ours {
        Err(e) if e.is_not_found() => read_at_operator(engine, caller, customer, uri)
            .await
            .unwrap_or(Err(e)),
        ours => ours,
    }
}

/// As `GET /accounts/{identifierType}/{identifier}/bills/{billReference}/payments`, the bill by its reference
/// alone.
#[utoipa::path(
    get,
    path = "/bills/{billReference}/payments",
    operation_id = "abillsBillReferencePaymentsGET",
    tag = "Bills",
    params(("billReference" = String, Path, description = "The bill"), PageQuery),
    responses(
        (status = 200, description = "The payments", body = Vec<BillPayment>),
        (status = 404, description = "No such bill", body = GsmaError),
    )
)]
pub async fn payments_by_reference(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let reference = super::path_param(path)?;
    list_payments(&engine, &caller, &reference, None, page(query)?).await
}

/// The bill companies: the paybills bills are issued for (`[[bills.companies]]`; in sandbox mode the sandbox
/// paybill `174379` and the M-Pesa OpenAPI sandbox's `000000`).
#[utoipa::path(
    get,
    path = "/billcompanies",
    operation_id = "billCompaniesGET",
    tag = "Bills",
    params(PageQuery),
    responses(
        (status = 200, description = "The bill companies", body = Vec<BillCompany>,
         headers(
            ("X-Records-Available-Count" = i32, description = "Records that match"),
            ("X-Records-Returned-Count" = i32, description = "Records returned"))),
        (status = 400, description = "Malformed query", body = GsmaError),
    )
)]
pub async fn companies(
    State(engine): State<Arc<Engine>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (limit, offset) = page(query)?;
    let all = engine.bill_companies();
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let page: Vec<BillCompany> = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .collect();
    listed(page, total, offset)
}

/// One bill company, by its paybill.
#[utoipa::path(
    get,
    path = "/billcompanies/{serviceProvider}",
    operation_id = "billCompaniesServiceProviderGET",
    tag = "Bills",
    params(("serviceProvider" = String, Path, description = "The paybill, e.g. 174379")),
    responses(
        (status = 200, description = "The bill company", body = BillCompany),
        (status = 404, description = "No such bill company", body = GsmaError),
    )
)]
pub async fn company(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<GsmaJson<BillCompany>, ApiError> {
    let service_provider = super::path_param(path)?;
    Ok(GsmaJson(
        StatusCode::OK,
        engine.bill_company(&service_provider)?,
    ))
}

/// The bill companies the account can pay: every configured one (the gateway does not restrict billers by
/// payer).
#[utoipa::path(
    get,
    path = "/accounts/{identifierType}/{identifier}/billcompanies",
    operation_id = "accountsIdentifierTypeIdentifierBillCompaniesGET",
    tag = "Bills",
    params(
        ("identifierType" = String, Path, description = "e.g. msisdn"),
        ("identifier" = String, Path, description = "e.g. +254708374149"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "The bill companies", body = Vec<BillCompany>),
        (status = 400, description = "Malformed query", body = GsmaError),
    )
)]
pub async fn account_companies(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    two_params(path)?;
    companies(State(engine), query).await
}

/// As `GET /accounts/{identifierType}/{identifier}/billcompanies`, the account by its id.
#[utoipa::path(
    get,
    path = "/accounts/{accountId}/billcompanies",
    operation_id = "accountsAccountIdBillCompaniesGET",
    tag = "Bills",
    params(("accountId" = String, Path, description = "e.g. msisdn@+254708374149"), PageQuery),
    responses(
        (status = 200, description = "The bill companies", body = Vec<BillCompany>),
        (status = 400, description = "Malformed account id or query", body = GsmaError),
    )
)]
pub async fn account_companies_by_id(
    State(engine): State<Arc<Engine>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    parse_account_id(&super::path_param(path)?)?;
    companies(State(engine), query).await
}

/// Cancel a bill that is not paid (extension of the GSMA API): it is no longer listed nor payable, and the
/// invoice the operator sent for it (Daraja Bill Manager) is cancelled. 204.
#[utoipa::path(
    delete,
    path = "/billers/bills/{billReference}",
    operation_id = "billersBillsBillReferenceDELETE",
    tag = "Billers (extension)",
    params(("billReference" = String, Path, description = "The bill")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 400, description = "The bill is paid", body = GsmaError),
        (status = 404, description = "No such bill of this client", body = GsmaError),
    )
)]
pub async fn cancel(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let reference = super::path_param(path)?;
    engine.cancel_bill(&caller.client_id, &reference).await?;
    Ok(StatusCode::NO_CONTENT)
}
