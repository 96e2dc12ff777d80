//! Bill Manager (`/v1/billmanager-invoice/…`): a paybill opts in with the URL its payments are pushed to,
//! then sends invoices (one, or up to 1000 at once) and cancels them. When a customer pays an opted-in paybill
//! (C2B) with the account reference of an open invoice, the payment is pushed to the biller:
//! `{"transactionId","paidAmount","msisdn","dateCreated","accountReference","shortCode"}`.
//!
//! Answers: `{"rescode":"200","resmsg":"Success",…}` (opt-in adds `app_key`, invoicing `Status_Message`). A
//! refused request answers HTTP 400 with `rescode` `400` and the reason in `resmsg`.
//!
//! Opt-ins, invoices and cancellations are journaled, so a restarted simulator still pushes payments of open
//! invoices. Simplification: the simulator has one application, so an invoice belongs to the paybill that opted
//! in last before it was sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::journal::JournalEvent;
use super::oauth::{self, BadToken};
use super::wire::{self, text_of, Scalar};
use super::{ids, Shared, SimState};

/// The most invoices one bulk request carries.
pub(crate) const MAX_BULK: usize = 1000;

/// Routes of Bill Manager.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/v1/billmanager-invoice/optin",
            post(optin).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/change-optin-details",
            post(change_optin).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/single-invoicing",
            post(single).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/bulk-invoicing",
            post(bulk).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/cancel-single-invoice",
            post(cancel_single).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/cancel-bulk-invoices",
            post(cancel_bulk).fallback(wire::method_not_allowed),
        )
        .route(
            "/v1/billmanager-invoice/reconciliation",
            post(reconciliation).fallback(wire::method_not_allowed),
        )
}

/// A paybill's opt-in.
#[derive(Clone, Debug)]
struct OptIn {
    callback_url: String,
}

/// An invoice sent.
#[derive(Clone, Debug)]
struct Invoice {
    shortcode: String,
    account_reference: String,
    cancelled: bool,
}

/// Opt-ins and invoices.
#[derive(Default)]
pub(crate) struct BillManagerStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// By shortcode.
    optins: HashMap<String, OptIn>,
    /// The shortcode that opted in last: the application's paybill.
    current: Option<String>,
    /// By external reference.
    invoices: HashMap<String, Invoice>,
}

impl BillManagerStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Journal replay: an opt-in, or a change of its details.
    pub(crate) fn restore_optin(&self, shortcode: String, callback_url: String, current: bool) {
        let mut inner = self.lock();
        if current {
            inner.current = Some(shortcode.clone());
        }
        inner.optins.insert(shortcode, OptIn { callback_url });
    }

    /// Journal replay: invoices sent for `shortcode`.
    pub(crate) fn restore_invoices(&self, shortcode: &str, invoices: Vec<(String, String)>) {
        let mut inner = self.lock();
        for (external, account_reference) in invoices {
            inner.invoices.insert(
                external,
                Invoice {
                    shortcode: shortcode.to_owned(),
                    account_reference,
                    cancelled: false,
                },
            );
        }
    }

    /// Journal replay: invoices cancelled.
    pub(crate) fn restore_cancelled(&self, references: &[String]) {
        let mut inner = self.lock();
        for r in references {
            if let Some(i) = inner.invoices.get_mut(r) {
                i.cancelled = true;
            }
        }
    }

    /// Where a payment to `shortcode` with `account_reference` is pushed, if it pays an open invoice of an
    /// opted-in paybill.
    pub(crate) fn push_url(&self, shortcode: &str, account_reference: &str) -> Option<String> {
        let inner = self.lock();
        let invoiced = inner.invoices.values().any(|i| {
            !i.cancelled
                && i.shortcode == shortcode
                && i.account_reference
                    .eq_ignore_ascii_case(account_reference.trim())
        });
        invoiced
            .then(|| inner.optins.get(shortcode).map(|o| o.callback_url.clone()))
            .flatten()
    }
}

fn refused(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"rescode": "400", "resmsg": message.into()})),
    )
        .into_response()
}

fn success(extra: Value) -> Response {
    let mut body = json!({"rescode": "200", "resmsg": "Success"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    (StatusCode::OK, Json(body)).into_response()
}

#[derive(Deserialize)]
struct OptInRequest {
    shortcode: Option<Scalar>,
    email: Option<Scalar>,
    #[serde(rename = "officialContact")]
    official_contact: Option<Scalar>,
    #[serde(rename = "sendReminders")]
    send_reminders: Option<Scalar>,
    #[serde(default)]
    #[allow(dead_code)]
    logo: Option<Scalar>,
    callbackurl: Option<Scalar>,
}

/// Checks an opt-in's fields: the paybill, and where payments are pushed.
fn read_optin(sim: &SimState, body: &[u8]) -> Result<(String, OptIn), String> {
    let req: OptInRequest =
        serde_json::from_slice(body).map_err(|_| "Invalid Request Payload".to_owned())?;
    let shortcode = wire::digits_of(&req.shortcode)
        .filter(|sc| sim.ledger.lock().is_org(sc))
        .ok_or_else(|| "Invalid shortcode".to_owned())?;
    if text_of(&req.email).is_none_or(|e| !e.contains('@')) {
        return Err("Invalid email".to_owned());
    }
    if text_of(&req.official_contact).is_none() {
        return Err("Invalid officialContact".to_owned());
    }
    if text_of(&req.send_reminders).is_some_and(|r| r != "0" && r != "1") {
        return Err("Invalid sendReminders".to_owned());
    }
    let callback_url =
        wire::http_url(&req.callbackurl).ok_or_else(|| "Invalid callbackurl".to_owned())?;
    Ok((shortcode, OptIn { callback_url }))
}

/// `POST /v1/billmanager-invoice/optin`
async fn optin(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let (shortcode, opt_in) = match read_optin(&sim, &body) {
        Ok(o) => o,
        Err(why) => return refused(why),
    };
    let mut inner = sim.bill_manager.lock();
    sim.journal.append(&JournalEvent::BillOptedIn {
        shortcode: shortcode.clone(),
        callback_url: opt_in.callback_url.clone(),
        current: true,
    });
    inner.optins.insert(shortcode.clone(), opt_in);
    inner.current = Some(shortcode);
    success(json!({"app_key": ids::originator_conversation_id()}))
}

/// `POST /v1/billmanager-invoice/change-optin-details`
async fn change_optin(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let (shortcode, opt_in) = match read_optin(&sim, &body) {
        Ok(o) => o,
        Err(why) => return refused(why),
    };
    let mut inner = sim.bill_manager.lock();
    if !inner.optins.contains_key(&shortcode) {
        return refused("Shortcode has not opted in");
    }
    sim.journal.append(&JournalEvent::BillOptedIn {
        shortcode: shortcode.clone(),
        callback_url: opt_in.callback_url.clone(),
        current: false,
    });
    inner.optins.insert(shortcode, opt_in);
    success(json!({}))
}

#[derive(Deserialize)]
struct InvoiceRequest {
    #[serde(rename = "externalReference")]
    external_reference: Option<Scalar>,
    #[serde(rename = "billedFullName")]
    billed_full_name: Option<Scalar>,
    #[serde(rename = "billedPhoneNumber")]
    billed_phone_number: Option<Scalar>,
    #[serde(rename = "billedPeriod")]
    billed_period: Option<Scalar>,
    #[serde(rename = "invoiceName")]
    invoice_name: Option<Scalar>,
    #[serde(rename = "dueDate")]
    due_date: Option<Scalar>,
    #[serde(rename = "accountReference")]
    account_reference: Option<Scalar>,
    amount: Option<Scalar>,
    #[serde(rename = "invoiceItems", default)]
    #[allow(dead_code)]
    invoice_items: Option<Value>,
}

/// An invoice's fields as Bill Manager requires them: `(externalReference, accountReference)`.
fn check_invoice(req: &InvoiceRequest) -> Result<(String, String), String> {
    let text = |f: &Option<Scalar>, name: &str| {
        text_of(f)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("Invalid {name}"))
    };
    let external = text(&req.external_reference, "externalReference")?;
    text(&req.billed_full_name, "billedFullName")?;
    let phone = text(&req.billed_phone_number, "billedPhoneNumber")?;
    let local =
        phone.len() == 10 && phone.starts_with('0') && phone.bytes().all(|b| b.is_ascii_digit());
    if !local && !super::ledger::is_msisdn(&phone) {
        return Err("Invalid billedPhoneNumber".into());
    }
    text(&req.billed_period, "billedPeriod")?;
    text(&req.invoice_name, "invoiceName")?;
    text(&req.due_date, "dueDate")?;
    let account = text(&req.account_reference, "accountReference")?;
    let amount = text(&req.amount, "amount")?;
    if amount.parse::<f64>().map_or(true, |a| a <= 0.0) {
        return Err("Invalid amount".into());
    }
    Ok((external, account))
}

/// Records invoices, all or none.
fn invoice(sim: &SimState, requests: &[InvoiceRequest]) -> Result<(), String> {
    let mut checked = Vec::with_capacity(requests.len());
    for r in requests {
        checked.push(check_invoice(r)?);
    }
    let mut inner = sim.bill_manager.lock();
    let Some(shortcode) = inner.current.clone() else {
        return Err("No shortcode has opted in to Bill Manager".into());
    };
    for (i, (external, _)) in checked.iter().enumerate() {
        if inner.invoices.contains_key(external) || checked[..i].iter().any(|(e, _)| e == external)
        {
            return Err(format!("Duplicate externalReference {external}"));
        }
    }
    sim.journal.append(&JournalEvent::BillsInvoiced {
        shortcode: shortcode.clone(),
        invoices: checked.clone(),
    });
    for (external, account) in checked {
        inner.invoices.insert(
            external,
            Invoice {
                shortcode: shortcode.clone(),
                account_reference: account,
                cancelled: false,
            },
        );
    }
    Ok(())
}

/// `POST /v1/billmanager-invoice/single-invoicing`
async fn single(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let Ok(req) = serde_json::from_slice::<InvoiceRequest>(&body) else {
        return refused("Invalid Request Payload");
    };
    match invoice(&sim, std::slice::from_ref(&req)) {
        Ok(()) => success(json!({"Status_Message": "Invoice sent successfully"})),
        Err(why) => refused(why),
    }
}

/// `POST /v1/billmanager-invoice/bulk-invoicing`: an array of invoices.
async fn bulk(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let Ok(reqs) = serde_json::from_slice::<Vec<InvoiceRequest>>(&body) else {
        return refused("Invalid Request Payload");
    };
    if reqs.is_empty() || reqs.len() > MAX_BULK {
        return refused(format!("From 1 to {MAX_BULK} invoices at once"));
    }
    match invoice(&sim, &reqs) {
        Ok(()) => success(json!({"Status_Message": "Invoice sent successfully"})),
        Err(why) => refused(why),
    }
}

#[derive(Deserialize)]
struct CancelRequest {
    #[serde(rename = "externalReference")]
    external_reference: Option<Scalar>,
}

fn cancel(sim: &SimState, requests: &[CancelRequest]) -> Result<(), String> {
    let mut inner = sim.bill_manager.lock();
    let mut references = Vec::with_capacity(requests.len());
    for r in requests {
        let reference = text_of(&r.external_reference)
            .map(|t| t.trim().to_owned())
            .filter(|t| inner.invoices.get(t).is_some_and(|i| !i.cancelled))
            .ok_or("Invalid externalReference")?;
        references.push(reference);
    }
    sim.journal.append(&JournalEvent::BillsCancelled {
        references: references.clone(),
    });
    for r in references {
        if let Some(i) = inner.invoices.get_mut(&r) {
            i.cancelled = true;
        }
    }
    Ok(())
}

/// `POST /v1/billmanager-invoice/cancel-single-invoice`
async fn cancel_single(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let Ok(req) = serde_json::from_slice::<CancelRequest>(&body) else {
        return refused("Invalid Request Payload");
    };
    match cancel(&sim, std::slice::from_ref(&req)) {
        Ok(()) => success(json!({"Status_Message": "Invoice cancelled successfully"})),
        Err(why) => refused(why),
    }
}

/// `POST /v1/billmanager-invoice/cancel-bulk-invoices`: an array of `{"externalReference"}`.
async fn cancel_bulk(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    let Ok(reqs) = serde_json::from_slice::<Vec<CancelRequest>>(&body) else {
        return refused("Invalid Request Payload");
    };
    if reqs.is_empty() || reqs.len() > MAX_BULK {
        return refused(format!("From 1 to {MAX_BULK} invoices at once"));
    }
    match cancel(&sim, &reqs) {
        Ok(()) => success(json!({"Status_Message": "Invoices cancelled successfully"})),
        Err(why) => refused(why),
    }
}

/// `POST /v1/billmanager-invoice/reconciliation`: the biller acknowledges a payment it was pushed.
async fn reconciliation(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = oauth::authorize_as(&sim, &headers, BadToken::BadRequest) {
        return r.into_response();
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v.get("transactionId").is_some() || v.get("TransactionId").is_some() => {
            success(json!({}))
        }
        _ => refused("Invalid Request Payload"),
    }
}

/// The payment push to the biller, when a completed C2B payment pays an open invoice of an opted-in paybill.
pub(crate) fn push_payment(
    sim: &Arc<SimState>,
    shortcode: &str,
    account_reference: &str,
    trans_id: &str,
    amount: &str,
    msisdn: u64,
    at_ms: i64,
) {
    let Some(url) = sim.bill_manager.push_url(shortcode, account_reference) else {
        return;
    };
    let body = json!({
        "transactionId": trans_id,
        "paidAmount": amount,
        "msisdn": msisdn.to_string(),
        "dateCreated": ids::format_eat(at_ms, "%Y-%m-%d"),
        "accountReference": account_reference,
        "shortCode": shortcode,
    })
    .to_string();
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut shutdown = sim.shutdown.subscribe();
        let _ = sim.callbacks.deliver(&url, body, &mut shutdown).await;
    });
}
