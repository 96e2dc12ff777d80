//! M-Pesa Express: STK Push (`/mpesa/stkpush/v1/processrequest`), STK Query
//! (`/mpesa/stkpushquery/v1/query`) and the result callback.

use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use chrono::NaiveDateTime;

use super::{
    callback, ids,
    journal::{JournalEvent, StkRecord},
    ledger::{self, Ledger, OrgAccount, Party, TxnRecord},
    oauth, outcomes,
    wire::{
        self, text_of, CallbackItem, CallbackMetadata, Rejection, Scalar, StkCallback,
        StkCallbackBody, StkCallbackEnvelope, StkPushRequest, StkPushResponse, StkQueryRequest,
        StkQueryResponse,
    },
    Shared, SimState,
};

/// Routes of M-Pesa Express.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/mpesa/stkpush/v1/processrequest",
            post(push).fallback(wire::method_not_allowed),
        )
        .route(
            "/mpesa/stkpushquery/v1/query",
            post(query).fallback(wire::method_not_allowed),
        )
}

const ACCEPTED: &str = "Success. Request accepted for processing";
/// The STK Query acknowledgement text (with Daraja's triple "s").
const QUERY_ACCEPTED: &str = "The service request has been accepted successsfully";
const MIN_AMOUNT: u64 = 1;
const MAX_AMOUNT: u64 = 250_000;

/// One STK Push session.
struct Session {
    merchant_request_id: Box<str>,
    transaction_type: &'static str,
    shortcode: Box<str>,
    phone: u64,
    amount: u64,
    callback_url: Box<str>,
    result_code: i32,
    result_desc: Cow<'static, str>,
    sends_callback: bool,
    /// Set for successful sessions only.
    receipt: Option<[u8; 10]>,
    created_at_ms: i64,
    /// Until then the customer is "still on the phone": STK Query answers pending.
    resolve_at_ms: i64,
    /// Whether it moved money (customer → shortcode Utility).
    moved: bool,
    callback_done: bool,
}

impl Session {
    fn record(&self, checkout_request_id: &str) -> StkRecord {
        StkRecord {
            checkout_request_id: checkout_request_id.to_owned(),
            merchant_request_id: self.merchant_request_id.to_string(),
            shortcode: self.shortcode.to_string(),
            phone: self.phone,
            amount: self.amount,
            callback_url: self.callback_url.to_string(),
            result_code: self.result_code,
            result_desc: self.result_desc.to_string(),
            sends_callback: self.sends_callback,
            receipt: self
                .receipt
                .as_ref()
                .map(|r| ids::receipt_str(r).to_owned()),
            created_at_ms: self.created_at_ms,
            resolve_at_ms: self.resolve_at_ms,
            moved: self.moved,
            transaction_type: (self.transaction_type != PAY_BILL)
                .then(|| self.transaction_type.to_owned()),
        }
    }
}

const PAY_BILL: &str = "CustomerPayBillOnline";
const BUY_GOODS: &str = "CustomerBuyGoodsOnline";

/// The transaction a successful session made: the customer pays the shortcode's Utility
/// account. Its conversation identifiers are the `MerchantRequestID` and `CheckoutRequestID`,
/// so Transaction Status finds it by those too.
pub(crate) fn stk_txn(rec: &StkRecord) -> TxnRecord {
    TxnRecord {
        command: rec
            .transaction_type
            .clone()
            .unwrap_or_else(|| PAY_BILL.to_owned()),
        receipt: rec.receipt.clone().unwrap_or_default(),
        completed: true,
        result_code: "0".to_owned(),
        debit: Party::Customer(rec.phone),
        credit: Party::Org(rec.shortcode.as_str().into(), OrgAccount::Utility),
        amount_cents: ledger::cents(rec.amount),
        charge_cents: 0,
        org: rec.shortcode.clone(),
        originator_conversation_id: Some(rec.merchant_request_id.clone()),
        conversation_id: Some(rec.checkout_request_id.clone()),
        initiated_ms: rec.created_at_ms,
        finalised_ms: rec.resolve_at_ms,
        reverses: None,
    }
}

/// All STK sessions, in memory (and in the journal when one is configured).
pub(crate) struct StkStore {
    inner: Mutex<StkInner>,
    pushes: AtomicU64,
    subscriber_lock: bool,
}

struct StkInner {
    sessions: HashMap<Box<str>, Session>,
    /// MSISDN → until when it is locked by a pending session (only with `subscriber_lock`).
    locks: HashMap<u64, i64>,
}

/// A validated STK Push, before it gets its identifiers.
struct NewSession {
    shortcode: String,
    transaction_type: &'static str,
    phone: u64,
    amount: u64,
    callback_url: String,
    outcome: outcomes::StkOutcome,
    created_at_ms: i64,
    resolve_at_ms: i64,
}

impl StkStore {
    pub(crate) fn new(subscriber_lock: bool) -> Self {
        Self {
            inner: Mutex::new(StkInner {
                sessions: HashMap::new(),
                locks: HashMap::new(),
            }),
            pushes: AtomicU64::new(0),
            subscriber_lock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StkInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of STK Pushes accepted by this instance.
    pub(crate) fn pushes(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed)
    }

    /// Registers a new session, giving it unique identifiers; refuses it if the subscriber
    /// is locked by another pending session. `settle` decides the final outcome (it may turn a
    /// success into a failure) and, for a success, gives the receipt and whether money moved;
    /// it runs with the sessions locked (lock order: sessions, then ledger).
    fn accept(
        &self,
        new: NewSession,
        merchant_request_id: String,
        settle: impl FnOnce(&NewSession, &str, &str) -> (outcomes::StkOutcome, Option<[u8; 10]>, bool),
    ) -> Result<StkRecord, Rejection> {
        let mut inner = self.lock();
        if self.subscriber_lock {
            if let Some(until) = inner.locks.get(&new.phone) {
                if *until > new.created_at_ms {
                    return Err(Rejection::stk(
                        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
                    ));
                }
            }
            inner.locks.insert(new.phone, new.resolve_at_ms);
        }
        let checkout_request_id = loop {
            let id = ids::checkout_request_id(new.created_at_ms);
            if !inner.sessions.contains_key(id.as_str()) {
                break id;
            }
        };
        let (outcome, receipt, moved) = settle(&new, &checkout_request_id, &merchant_request_id);
        let session = Session {
            merchant_request_id: merchant_request_id.into(),
            transaction_type: new.transaction_type,
            shortcode: new.shortcode.into(),
            phone: new.phone,
            amount: new.amount,
            callback_url: new.callback_url.into(),
            result_code: outcome.result_code,
            result_desc: Cow::Borrowed(outcome.result_desc),
            sends_callback: outcome.sends_callback,
            receipt,
            created_at_ms: new.created_at_ms,
            resolve_at_ms: new.resolve_at_ms,
            moved,
            callback_done: false,
        };
        let record = session.record(&checkout_request_id);
        inner.sessions.insert(checkout_request_id.into(), session);
        self.pushes.fetch_add(1, Ordering::Relaxed);
        Ok(record)
    }

    /// Restores a session read back from the journal, and the money it moved. (The ledger is
    /// released before the sessions are locked: only `accept` holds both, sessions first.)
    pub(crate) fn restore(&self, rec: StkRecord, now_ms: i64, ledger: &Ledger) {
        let receipt = {
            let mut accounts = ledger.lock();
            let receipt = rec
                .receipt
                .as_deref()
                .and_then(ids::parse_receipt)
                .or_else(|| (rec.result_code == 0).then(|| accounts.new_receipt()));
            if let Some(r) = &receipt {
                accounts.mark_issued(ids::receipt_str(r));
            }
            if rec.moved && receipt.is_some() {
                accounts.apply(stk_txn(&rec));
            }
            receipt
        };
        let mut inner = self.lock();
        if self.subscriber_lock && rec.resolve_at_ms > now_ms {
            inner.locks.insert(rec.phone, rec.resolve_at_ms);
        }
        let result_desc = match outcomes::known_desc(rec.result_code, &rec.result_desc) {
            Some(desc) => Cow::Borrowed(desc),
            None => Cow::Owned(rec.result_desc),
        };
        let transaction_type = match rec.transaction_type.as_deref() {
            Some(BUY_GOODS) => BUY_GOODS,
            _ => PAY_BILL,
        };
        inner.sessions.insert(
            rec.checkout_request_id.into(),
            Session {
                merchant_request_id: rec.merchant_request_id.into(),
                transaction_type,
                shortcode: rec.shortcode.into(),
                phone: rec.phone,
                amount: rec.amount,
                callback_url: rec.callback_url.into(),
                result_code: rec.result_code,
                result_desc,
                sends_callback: rec.sends_callback,
                receipt,
                created_at_ms: rec.created_at_ms,
                resolve_at_ms: rec.resolve_at_ms,
                moved: rec.moved,
                callback_done: false,
            },
        );
    }

    /// Marks the callback of `id` as delivered or given up; `false` if `id` is unknown or
    /// was already marked.
    pub(crate) fn mark_callback_done(&self, id: &str) -> bool {
        let mut inner = self.lock();
        match inner.sessions.get_mut(id) {
            Some(s) if !s.callback_done => {
                s.callback_done = true;
                true
            }
            _ => false,
        }
    }

    /// Sessions whose callback is still owed: `(CheckoutRequestID, resolve time)`.
    pub(crate) fn owed_callbacks(&self) -> Vec<(String, i64)> {
        let inner = self.lock();
        inner
            .sessions
            .iter()
            .filter(|(_, s)| s.sends_callback && !s.callback_done)
            .map(|(id, s)| (id.to_string(), s.resolve_at_ms))
            .collect()
    }

    /// The callback of `id`: its URL and JSON body.
    fn callback_request(&self, id: &str) -> Option<(String, Bytes)> {
        let inner = self.lock();
        let s = inner.sessions.get(id)?;
        let metadata = s.receipt.as_ref().map(|receipt| {
            let date: u64 = ids::format_eat(s.resolve_at_ms, "%Y%m%d%H%M%S")
                .parse()
                .unwrap_or_default();
            CallbackMetadata {
                item: vec![
                    CallbackItem {
                        name: "Amount",
                        value: Some(s.amount.into()),
                    },
                    CallbackItem {
                        name: "MpesaReceiptNumber",
                        value: Some(ids::receipt_str(receipt).into()),
                    },
                    CallbackItem {
                        name: "Balance",
                        value: None,
                    },
                    CallbackItem {
                        name: "TransactionDate",
                        value: Some(date.into()),
                    },
                    CallbackItem {
                        name: "PhoneNumber",
                        value: Some(s.phone.into()),
                    },
                ],
            }
        });
        let envelope = StkCallbackEnvelope {
            body: StkCallbackBody {
                stk_callback: StkCallback {
                    merchant_request_id: &s.merchant_request_id,
                    checkout_request_id: id,
                    result_code: s.result_code,
                    result_desc: &s.result_desc,
                    callback_metadata: metadata,
                },
            },
        };
        let body = serde_json::to_vec(&envelope).ok()?;
        Some((s.callback_url.to_string(), Bytes::from(body)))
    }

    /// STK Query: the final result, or pending.
    fn query(&self, id: &str, shortcode: &str, now_ms: i64) -> Result<StkQueryResponse, Rejection> {
        let inner = self.lock();
        let s = inner
            .sessions
            .get(id)
            .filter(|s| &*s.shortcode == shortcode)
            .ok_or_else(|| Rejection::invalid("CheckoutRequestID"))?;
        if now_ms < s.resolve_at_ms {
            return Err(Rejection::stk("The transaction is being processed").with_request_id(id));
        }
        Ok(StkQueryResponse {
            response_code: "0",
            response_description: QUERY_ACCEPTED,
            merchant_request_id: s.merchant_request_id.to_string(),
            checkout_request_id: id.to_owned(),
            result_code: s.result_code.to_string(),
            result_desc: s.result_desc.to_string(),
        })
    }
}

/// Sends the callback of session `id` once it resolves (immediately if it already has),
/// unless the simulator shuts down first.
pub(crate) fn schedule_callback(sim: &Arc<SimState>, id: String, resolve_at_ms: i64) {
    callback::schedule_delivery(
        sim,
        id,
        resolve_at_ms,
        true,
        |sim, id| sim.stk.callback_request(id),
        |sim, id| sim.stk.mark_callback_done(id),
    );
}

/// Checks `BusinessShortCode`, `Password` and `Timestamp`, in Daraja's order; returns the
/// shortcode.
fn check_credentials(
    sim: &SimState,
    shortcode: &Option<Scalar>,
    password: &Option<Scalar>,
    timestamp: &Option<Scalar>,
) -> Result<String, Rejection> {
    let shortcode = text_of(shortcode)
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Rejection::invalid("BusinessShortCode"))?;
    let passkey = sim
        .shortcodes
        .get(shortcode.as_ref())
        .ok_or_else(|| Rejection::stk("Merchant does not exist"))?;
    let timestamp = text_of(timestamp).unwrap_or_default();
    let expected = STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"));
    if text_of(password).as_deref() != Some(expected.as_str()) {
        return Err(Rejection::stk("Wrong credentials"));
    }
    let timestamp_ok = timestamp.len() == 14
        && timestamp.bytes().all(|b| b.is_ascii_digit())
        && NaiveDateTime::parse_from_str(&timestamp, "%Y%m%d%H%M%S").is_ok();
    if !timestamp_ok {
        return Err(Rejection::stk("Invalid Timestamp"));
    }
    Ok(shortcode.into_owned())
}

/// `^254[17]\d{8}$`
fn valid_msisdn(s: &str) -> bool {
    ledger::is_msisdn(s)
}

fn digits(field: &Option<Scalar>) -> bool {
    text_of(field).is_some_and(|s| s.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates an STK Push body in Daraja's order.
fn validate_push(
    sim: &SimState,
    req: &StkPushRequest,
    now_ms: i64,
) -> Result<NewSession, Rejection> {
    let shortcode =
        check_credentials(sim, &req.business_short_code, &req.password, &req.timestamp)?;
    let phone_text = text_of(&req.phone_number)
        .filter(|p| valid_msisdn(p))
        .ok_or_else(|| Rejection::invalid("PhoneNumber"))?;
    let phone: u64 = phone_text
        .parse()
        .map_err(|_| Rejection::invalid("PhoneNumber"))?;
    let amount = req
        .amount
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|a| (MIN_AMOUNT..=MAX_AMOUNT).contains(a))
        .ok_or_else(|| Rejection::invalid("Amount"))?;
    let transaction_type = wire::one_of(&req.transaction_type, &[PAY_BILL, BUY_GOODS])
        .ok_or_else(|| Rejection::invalid("TransactionType"))?;
    if !digits(&req.party_a) {
        return Err(Rejection::invalid("PartyA"));
    }
    if !digits(&req.party_b) {
        return Err(Rejection::invalid("PartyB"));
    }
    let callback_url = wire::http_url(if req.call_back_url.is_some() {
        &req.call_back_url
    } else {
        &req.callback_url
    })
    .ok_or_else(|| Rejection::invalid("CallBackURL"))?;
    if text_of(&req.account_reference).is_none() {
        return Err(Rejection::invalid("AccountReference"));
    }
    let delay_ms = i64::try_from(sim.callback_delay.as_millis()).unwrap_or(i64::MAX / 4);
    Ok(NewSession {
        outcome: outcomes::stk_outcome(&phone_text),
        transaction_type,
        shortcode,
        phone,
        amount,
        callback_url,
        created_at_ms: now_ms,
        resolve_at_ms: now_ms.saturating_add(delay_ms),
    })
}

/// Decides whether the customer pays, and moves the money if so: the table's outcome, unless
/// a success meets a balance below `Amount` (then `1`).
fn settle(
    sim: &SimState,
    new: &NewSession,
    checkout_request_id: &str,
    merchant_request_id: &str,
) -> (outcomes::StkOutcome, Option<[u8; 10]>, bool) {
    if new.outcome.result_code != 0 {
        return (new.outcome, None, false);
    }
    let mut accounts = sim.ledger.lock();
    if !accounts.can_pay(&Party::Customer(new.phone), ledger::cents(new.amount)) {
        return (
            outcomes::stk_outcome(outcomes::INSUFFICIENT_FUNDS_MSISDN),
            None,
            false,
        );
    }
    let receipt = accounts.new_receipt();
    accounts.apply(TxnRecord {
        command: new.transaction_type.to_owned(),
        receipt: ids::receipt_str(&receipt).to_owned(),
        completed: true,
        result_code: "0".to_owned(),
        debit: Party::Customer(new.phone),
        credit: Party::Org(new.shortcode.as_str().into(), OrgAccount::Utility),
        amount_cents: ledger::cents(new.amount),
        charge_cents: 0,
        org: new.shortcode.clone(),
        originator_conversation_id: Some(merchant_request_id.to_owned()),
        conversation_id: Some(checkout_request_id.to_owned()),
        initiated_ms: new.created_at_ms,
        finalised_ms: new.resolve_at_ms,
        reverses: None,
    });
    (new.outcome, Some(receipt), true)
}

/// `POST /mpesa/stkpush/v1/processrequest`
async fn push(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StkPushResponse>, Rejection> {
    oauth::authorize(&sim, &headers)?;
    let req: StkPushRequest = wire::parse_body(&body)?;
    let now = ids::now_ms();
    let new = validate_push(&sim, &req, now)?;
    let record = sim
        .stk
        .accept(new, sim.merchant_ids.next(), |new, checkout, merchant| {
            settle(&sim, new, checkout, merchant)
        })?;
    sim.submissions.submitted(&record.callback_url);
    sim.journal
        .append(&JournalEvent::StkCreated(record.clone()));
    tracing::debug!(
        checkout_request_id = %record.checkout_request_id,
        result_code = record.result_code,
        "Daraja simulator accepted an STK push"
    );
    if record.sends_callback {
        schedule_callback(
            &sim.state,
            record.checkout_request_id.clone(),
            record.resolve_at_ms,
        );
    }
    Ok(Json(StkPushResponse {
        merchant_request_id: record.merchant_request_id,
        checkout_request_id: record.checkout_request_id,
        response_code: "0",
        response_description: ACCEPTED,
        customer_message: ACCEPTED,
    }))
}

/// `POST /mpesa/stkpushquery/v1/query`
async fn query(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<StkQueryResponse>, Rejection> {
    oauth::authorize(&sim, &headers)?;
    let req: StkQueryRequest = wire::parse_body(&body)?;
    let shortcode = check_credentials(
        &sim,
        &req.business_short_code,
        &req.password,
        &req.timestamp,
    )?;
    let id =
        text_of(&req.checkout_request_id).ok_or_else(|| Rejection::invalid("CheckoutRequestID"))?;
    sim.stk.query(&id, &shortcode, ids::now_ms()).map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::{wire::codes, SimulatorConfig, SANDBOX_PASSKEY, SANDBOX_SHORTCODE};

    const GOLDEN: &str = "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4";

    fn state() -> SimState {
        SimState::new(&SimulatorConfig::default()).expect("state")
    }

    fn s(v: &str) -> Option<Scalar> {
        Some(Scalar::Text(v.to_owned()))
    }

    fn req(json: serde_json::Value) -> StkPushRequest {
        serde_json::from_value(json).expect("request")
    }

    fn good() -> serde_json::Value {
        serde_json::json!({
            "BusinessShortCode": 174379, "Password": GOLDEN, "Timestamp": "20210628092408",
            "TransactionType": "CustomerPayBillOnline", "Amount": "100",
            "PartyA": 254708374149u64, "PartyB": "174379", "PhoneNumber": "254708374149",
            "CallBackURL": "https://example.com/cb", "AccountReference": "ref", "TransactionDesc": "d"
        })
    }

    fn rejection(sim: &SimState, json: serde_json::Value) -> (&'static str, String) {
        match validate_push(sim, &req(json), 0) {
            Ok(_) => panic!("accepted"),
            Err(r) => (r.code(), r.message().to_owned()),
        }
    }

    #[test]
    fn golden_password() {
        let sim = state();
        let sc = check_credentials(
            &sim,
            &s(SANDBOX_SHORTCODE),
            &s(GOLDEN),
            &s("20210628092408"),
        )
        .expect("golden vector accepted");
        assert_eq!(sc, SANDBOX_SHORTCODE);
        assert_eq!(
            STANDARD.encode(format!(
                "{SANDBOX_SHORTCODE}{SANDBOX_PASSKEY}20210628092408"
            )),
            GOLDEN
        );
    }

    #[test]
    fn validation_order_and_messages() {
        let sim = state();
        assert!(validate_push(&sim, &req(good()), 0).is_ok());

        let with = |k: &str, v: serde_json::Value| {
            let mut j = good();
            j[k] = v;
            j
        };
        let without = |k: &str| {
            let mut j = good();
            j.as_object_mut().expect("object").remove(k);
            j
        };
        let stk = codes::STK_REJECTED;
        let bad = codes::INVALID_FIELD;
        assert_eq!(
            rejection(&sim, with("BusinessShortCode", "600000".into())),
            (stk, "Merchant does not exist".into())
        );
        assert_eq!(
            rejection(&sim, with("Password", "x".into())),
            (stk, "Wrong credentials".into())
        );
        // A bad timestamp whose password matches is an invalid timestamp.
        let ts = "2021062809240";
        let pw = STANDARD.encode(format!("174379{SANDBOX_PASSKEY}{ts}"));
        let mut j = with("Timestamp", ts.into());
        j["Password"] = pw.into();
        j["PhoneNumber"] = "12".into();
        assert_eq!(rejection(&sim, j), (stk, "Invalid Timestamp".into()));
        // Phone before amount.
        let mut j = with("PhoneNumber", "254808374149".into());
        j["Amount"] = 0.into();
        assert_eq!(
            rejection(&sim, j),
            (bad, "Bad Request - Invalid PhoneNumber".into())
        );
        for amount in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(250_001),
            serde_json::json!("100.5"),
            serde_json::json!(100.5),
            serde_json::json!(null),
        ] {
            assert_eq!(
                rejection(&sim, with("Amount", amount)),
                (bad, "Bad Request - Invalid Amount".into())
            );
        }
        assert!(validate_push(&sim, &req(with("Amount", serde_json::json!(100.0))), 0).is_ok());
        assert!(validate_push(&sim, &req(with("Amount", serde_json::json!(250_000))), 0).is_ok());
        assert_eq!(
            rejection(&sim, with("TransactionType", "BusinessPayment".into())),
            (bad, "Bad Request - Invalid TransactionType".into())
        );
        assert_eq!(
            rejection(&sim, without("PartyA")),
            (bad, "Bad Request - Invalid PartyA".into())
        );
        assert_eq!(
            rejection(&sim, without("PartyB")),
            (bad, "Bad Request - Invalid PartyB".into())
        );
        assert_eq!(
            rejection(&sim, with("CallBackURL", "ftp://x/y".into())),
            (bad, "Bad Request - Invalid CallBackURL".into())
        );
        assert_eq!(
            rejection(&sim, without("AccountReference")),
            (bad, "Bad Request - Invalid AccountReference".into())
        );
        let mut j = without("CallBackURL");
        j["CallbackURL"] = "http://127.0.0.1:9/cb".into();
        assert!(validate_push(&sim, &req(j), 0).is_ok());
    }

    #[test]
    fn msisdn_pattern() {
        assert!(valid_msisdn("254708374149"));
        assert!(valid_msisdn("254112345678"));
        assert!(!valid_msisdn("254808374149"));
        assert!(!valid_msisdn("25470837414"));
        assert!(!valid_msisdn("2547083741490"));
        assert!(!valid_msisdn("25470837414a"));
        assert!(!valid_msisdn("+25470837414"));
    }

    fn keep(new: &NewSession, _: &str, _: &str) -> (outcomes::StkOutcome, Option<[u8; 10]>, bool) {
        (new.outcome, None, false)
    }

    #[test]
    fn subscriber_lock() {
        let store = StkStore::new(true);
        let new = |now| NewSession {
            shortcode: "174379".into(),
            transaction_type: PAY_BILL,
            phone: 254708374149,
            amount: 1,
            callback_url: "http://x/".into(),
            outcome: outcomes::STK_SUCCESS,
            created_at_ms: now,
            resolve_at_ms: now + 100,
        };
        assert!(store.accept(new(0), "m1".into(), keep).is_ok());
        let err = store
            .accept(new(50), "m2".into(), keep)
            .expect_err("locked");
        assert!(err.message().starts_with("Unable to lock subscriber"));
        assert!(store.accept(new(100), "m3".into(), keep).is_ok());
        assert_eq!(store.pushes(), 2);
    }
}
