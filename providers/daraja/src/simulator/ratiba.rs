//! M-Pesa Ratiba (standing orders): `POST /standingorder/v1/createStandingOrderExternal`, the customer's answer
//! posted to `CallBackURL`, and the payments Ratiba then takes on each due date.
//!
//! A request is checked field by field (`400.002.02 Bad Request - Invalid <field>`), acknowledged with
//! `{"ResponseHeader":{"responseRefID","responseCode":"200",…},"ResponseBody":{…}}`, and answered by the
//! simulated customer after the callback delay: the STK test MSISDNs decline as they do an STK Push
//! (`254700000001` cancels, 1032; `254700000003` cannot be reached, 1037; …), every other number approves.
//!
//! An approved standing order pays `Amount` from `PartyA` into `BusinessShortCode` on `StartDate` and then every
//! period of its `Frequency` up to `EndDate`, each as a C2B payment (Pay Bill, or Buy Goods for a till) whose
//! `BillRefNumber` is the `AccountReference`: validation and confirmation go to the shortcode's registered URLs.
//! The due dates are read off the simulator's clock, which tests move forward with `POST /__simulator/clock`
//! (`{"advanceSeconds": n}`, not part of Daraja) or [`super::DarajaSimulator::advance_clock`]; everything else
//! in the simulator keeps real time.
//!
//! Standing orders, the customer's answers, the payments taken and the clock's moves are journaled, so a restarted
//! simulator still has its standing orders, answers those it owes an answer, keeps its clock where it was and
//! takes no payment twice.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::c2b::{self, BUY_GOODS, PAY_BILL};
use super::callback::sleep_or_shutdown;
use super::journal::JournalEvent;
use super::oauth::{self, BadToken};
use super::wire::{self, text_of, Rejection, Scalar};
use super::{ids, outcomes, Shared, SimState};

const CREATE_PATH: &str = "/standingorder/v1/createStandingOrderExternal";
/// `TransactionType`s, with the spelling of Daraja's documentation and that of the SDKs.
const TO_PAYBILL: &str = "Standing Order Customer Pay Bill";
const TO_TILL: [&str; 2] = [
    "Standing Order Customer Pay Marchant",
    "Standing Order Customer Pay Merchant",
];
const ACCEPTED: &str = "Request accepted for processing";
const PROCESSED: &str = "The service request is processed successfully";
/// The furthest one clock move goes (ten years).
const MAX_ADVANCE_SECS: i64 = 10 * 366 * 24 * 3600;
/// How often due payments are looked for without a clock move.
const TICK: Duration = Duration::from_secs(1);

/// Routes of Ratiba, and the simulator's clock.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(CREATE_PATH, post(create).fallback(wire::method_not_allowed))
        .route(
            "/__simulator/clock",
            post(advance).get(clock).fallback(wire::method_not_allowed),
        )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OrderState {
    /// Waiting for the customer's answer.
    Pending,
    Active,
    Declined,
}

/// A standing order, as it is journaled when accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Order {
    name: String,
    party_a: u64,
    shortcode: String,
    /// The C2B command its payments are made with.
    command: String,
    amount: u64,
    account_reference: String,
    frequency: u8,
    start: NaiveDate,
    end: NaiveDate,
    state: OrderState,
    /// Payments taken so far: the next is due `paid` periods after `start`.
    paid: u32,
    /// Where the customer's answer goes.
    callback_url: String,
    /// The `responseRefID` of the acknowledgement, repeated in the answer.
    response_ref_id: String,
}

impl Order {
    fn is(&self, party_a: u64, name: &str) -> bool {
        self.party_a == party_a && self.name == name
    }

    /// The date of the payment after the `paid` already taken, if there is one.
    fn next_due(&self) -> Option<NaiveDate> {
        let n = self.paid;
        let months = |per: u32| {
            self.start
                .checked_add_months(Months::new(per.checked_mul(n)?))
        };
        let date = match self.frequency {
            1 if n == 0 => Some(self.start),
            1 => None,
            2 => self.start.checked_add_days(chrono::Days::new(u64::from(n))),
            3 => self
                .start
                .checked_add_days(chrono::Days::new(u64::from(n) * 7)),
            4 => months(1),
            5 => months(2),
            6 => months(3),
            7 => months(6),
            _ => months(12),
        }?;
        (date <= self.end).then_some(date)
    }
}

/// Standing orders and the simulated clock.
#[derive(Default)]
pub(crate) struct RatibaStore {
    orders: Mutex<Vec<Order>>,
    /// How far the simulated clock is ahead of real time.
    offset_ms: AtomicI64,
}

impl RatibaStore {
    fn orders(&self) -> std::sync::MutexGuard<'_, Vec<Order>> {
        self.orders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The simulated time (Unix milliseconds).
    pub(crate) fn now_ms(&self) -> i64 {
        ids::now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// The simulated date in Nairobi.
    fn today(&self) -> NaiveDate {
        chrono::DateTime::from_timestamp_millis(self.now_ms())
            .unwrap_or_default()
            .with_timezone(&ids::eat())
            .date_naive()
    }

    /// Moves the clock forward; answers the new offset.
    fn advance(&self, by_ms: i64) -> i64 {
        let by_ms = by_ms.max(0);
        self.offset_ms.fetch_add(by_ms, Ordering::Relaxed) + by_ms
    }

    /// Journal replay: a standing order accepted.
    pub(crate) fn restore(&self, order: Order) {
        self.orders().push(order);
    }

    /// Journal replay: the customer's answer to a standing order.
    pub(crate) fn restore_answer(&self, party_a: u64, name: &str, approved: bool) {
        if let Some(o) = self
            .orders()
            .iter_mut()
            .find(|o| o.is(party_a, name) && o.state == OrderState::Pending)
        {
            o.state = if approved {
                OrderState::Active
            } else {
                OrderState::Declined
            };
        }
    }

    /// Journal replay: a standing order's payments taken so far.
    pub(crate) fn restore_paid(&self, party_a: u64, name: &str, paid: u32) {
        if let Some(o) = self
            .orders()
            .iter_mut()
            .find(|o| o.is(party_a, name) && o.state == OrderState::Active)
        {
            o.paid = o.paid.max(paid);
        }
    }

    /// Journal replay: the clock's offset after a move.
    pub(crate) fn restore_clock(&self, offset_ms: i64) {
        self.offset_ms.fetch_max(offset_ms, Ordering::Relaxed);
    }

    /// The standing orders still waiting for the customer's answer.
    fn pending(&self) -> Vec<Order> {
        self.orders()
            .iter()
            .filter(|o| o.state == OrderState::Pending)
            .cloned()
            .collect()
    }
}

/// The request body, every field as Daraja may send it (string or number).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateRequest {
    standing_order_name: Option<Scalar>,
    start_date: Option<Scalar>,
    end_date: Option<Scalar>,
    business_short_code: Option<Scalar>,
    transaction_type: Option<Scalar>,
    receiver_party_identifier_type: Option<Scalar>,
    amount: Option<Scalar>,
    party_a: Option<Scalar>,
    #[serde(rename = "CallBackURL")]
    call_back_url: Option<Scalar>,
    account_reference: Option<Scalar>,
    transaction_desc: Option<Scalar>,
    frequency: Option<Scalar>,
}

fn date_of(field: &Option<Scalar>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text_of(field)?.trim(), "%Y%m%d").ok()
}

/// Checks a request against Ratiba's rules: the order, and where the customer's answer goes.
fn read(sim: &SimState, req: &CreateRequest) -> Result<Order, Rejection> {
    let name = wire::short_text(&req.standing_order_name, 100)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Rejection::invalid("StandingOrderName"))?;
    let start = date_of(&req.start_date).ok_or_else(|| Rejection::invalid("StartDate"))?;
    if start < sim.ratiba.today() {
        return Err(Rejection::invalid("StartDate"));
    }
    let end = date_of(&req.end_date)
        .filter(|end| *end >= start)
        .ok_or_else(|| Rejection::invalid("EndDate"))?;
    let shortcode = wire::digits_of(&req.business_short_code)
        .filter(|sc| sim.ledger.lock().is_org(sc))
        .ok_or_else(|| Rejection::invalid("BusinessShortCode"))?;
    let transaction_type = text_of(&req.transaction_type).unwrap_or_default();
    let receiver = wire::one_of(&req.receiver_party_identifier_type, &["2", "4"])
        .ok_or_else(|| Rejection::invalid("ReceiverPartyIdentifierType"))?;
    let command = match (transaction_type.as_ref(), receiver) {
        (TO_PAYBILL, "4") => PAY_BILL,
        (t, "2") if TO_TILL.contains(&t) => BUY_GOODS,
        _ => return Err(Rejection::invalid("TransactionType")),
    };
    let amount = c2b::customer_amount(&req.amount)?;
    let party_a = c2b::customer_msisdn(&req.party_a, "PartyA")?;
    let callback_url =
        wire::http_url(&req.call_back_url).ok_or_else(|| Rejection::invalid("CallBackURL"))?;
    let account_reference = wire::short_text(&req.account_reference, 12)
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| Rejection::invalid("AccountReference"))?;
    wire::short_text(&req.transaction_desc, 13)
        .ok_or_else(|| Rejection::invalid("TransactionDesc"))?;
    let frequency = req
        .frequency
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|f| (1..=8).contains(f))
        .and_then(|f| u8::try_from(f).ok())
        .ok_or_else(|| Rejection::invalid("Frequency"))?;
    Ok(Order {
        name,
        party_a,
        shortcode,
        command: command.to_owned(),
        amount,
        account_reference,
        frequency,
        start,
        end,
        state: OrderState::Pending,
        paid: 0,
        callback_url,
        response_ref_id: uuid::Uuid::new_v4().to_string(),
    })
}

/// `POST /standingorder/v1/createStandingOrderExternal`
async fn create(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: CreateRequest = wire::parse_body(&body)?;
    let order = read(&sim, &req)?;
    {
        let mut orders = sim.ratiba.orders();
        let taken = orders
            .iter()
            .any(|o| o.is(order.party_a, &order.name) && o.state != OrderState::Declined);
        if taken {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "400.002.02",
                "Bad Request - StandingOrderName already exists for this customer",
            ));
        }
        sim.journal
            .append(&JournalEvent::RatibaCreated(order.clone()));
        orders.push(order.clone());
    }
    let response_ref_id = order.response_ref_id.clone();
    tracing::debug!(name = %order.name, "Daraja simulator accepted a standing order");
    spawn_answer(&sim.state, order);
    Ok(Json(json!({
        "ResponseHeader": {
            "responseRefID": response_ref_id,
            "responseCode": "200",
            "responseDescription": ACCEPTED,
            "ResultDesc": PROCESSED,
        },
        "ResponseBody": {"responseDescription": ACCEPTED, "responseCode": "200"},
    })))
}

/// Answers the standing orders a restarted simulator still owes an answer.
pub(crate) fn resume(sim: &Arc<SimState>) {
    for order in sim.ratiba.pending() {
        spawn_answer(sim, order);
    }
}

/// The customer answers after the callback delay; the answer is posted to `CallBackURL`.
fn spawn_answer(sim: &Arc<SimState>, order: Order) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut shutdown = sim.shutdown.subscribe();
        if !sleep_or_shutdown(sim.callback_delay, &mut shutdown).await {
            return;
        }
        let outcome = outcomes::stk_outcome(&order.party_a.to_string());
        let approved = outcome.result_code == 0;
        {
            let mut orders = sim.ratiba.orders();
            if let Some(o) = orders
                .iter_mut()
                .find(|o| o.is(order.party_a, &order.name) && o.state == OrderState::Pending)
            {
                o.state = if approved {
                    OrderState::Active
                } else {
                    OrderState::Declined
                };
                sim.journal.append(&JournalEvent::RatibaAnswered {
                    party_a: order.party_a,
                    name: order.name.clone(),
                    approved,
                });
            }
        }
        if approved {
            take_due_payments(&sim);
        }
        if !outcome.sends_callback {
            return;
        }
        let body = answer_body(
            &order,
            approved,
            outcome.result_code,
            outcome.result_desc,
            &order.response_ref_id,
        );
        sim.callbacks
            .deliver(&order.callback_url, body.to_string(), &mut shutdown)
            .await;
    });
}

/// The callback, as in Daraja's sample: the result as name/value pairs.
fn answer_body(
    order: &Order,
    approved: bool,
    code: i32,
    description: &str,
    response_ref_id: &str,
) -> Value {
    let msisdn = order.party_a.to_string();
    let masked = format!(
        "{}******{}",
        &msisdn[..3.min(msisdn.len())],
        &msisdn[msisdn.len().saturating_sub(3)..]
    );
    let mut data = Vec::new();
    if approved {
        data.push(json!({"name": "TransactionID", "value": ids::receipt_str(&ids::receipt())}));
    }
    data.push(json!({"name": "responseCode", "value": code.to_string()}));
    data.push(json!({"name": "Status", "value": if approved { "OKAY" } else { "ERROR" }}));
    data.push(json!({"name": "Msisdn", "value": masked}));
    json!({
        "responseHeader": {
            "responseRefID": response_ref_id,
            "requestRefID": uuid::Uuid::new_v4().to_string(),
            "responseCode": code.to_string(),
            "responseDescription": if approved { PROCESSED } else { description },
        },
        "responseBody": {"responseData": data},
    })
}

/// Takes every payment that has fallen due on the simulated clock, once each. The count taken is journaled
/// before the payments start, so a crash between the two loses a payment rather than taking one twice.
pub(crate) fn take_due_payments(sim: &Arc<SimState>) {
    let today = sim.ratiba.today();
    let mut due = Vec::new();
    {
        let mut orders = sim.ratiba.orders();
        for order in orders.iter_mut().filter(|o| o.state == OrderState::Active) {
            let before = due.len();
            while order.next_due().is_some_and(|date| date <= today) {
                order.paid += 1;
                due.push(order.clone());
            }
            if due.len() > before {
                sim.journal.append(&JournalEvent::RatibaPaid {
                    party_a: order.party_a,
                    name: order.name.clone(),
                    paid: order.paid,
                });
            }
        }
    }
    for order in due {
        let id = c2b::start_payment(
            sim,
            order.shortcode.clone(),
            &order.command,
            order.amount,
            order.party_a,
            order.account_reference.clone(),
        );
        tracing::debug!(id, name = %order.name, "Ratiba took a standing order's payment");
    }
}

/// Moves the simulated clock forward by `by_ms` (journaled) and takes the payments that fell due.
pub(crate) fn move_clock(sim: &Arc<SimState>, by_ms: i64) {
    let offset_ms = sim.ratiba.advance(by_ms);
    sim.journal.append(&JournalEvent::ClockMoved { offset_ms });
    take_due_payments(sim);
}

/// Looks for due payments every [`TICK`] until the simulator shuts down.
pub(crate) fn spawn_scheduler(sim: &Arc<SimState>) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut shutdown = sim.shutdown.subscribe();
        while sleep_or_shutdown(TICK, &mut shutdown).await {
            take_due_payments(&sim);
        }
    });
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Advance {
    advance_seconds: i64,
}

fn clock_view(sim: &SimState) -> Value {
    let now = sim.ratiba.now_ms();
    json!({
        "now": ids::format_eat(now, "%Y-%m-%dT%H:%M:%S%:z"),
        "today": sim.ratiba.today().to_string(),
        "weekday": sim.ratiba.today().weekday().to_string(),
        "offsetSeconds": sim.ratiba.offset_ms.load(Ordering::Relaxed) / 1000,
    })
}

/// `GET /__simulator/clock` (not part of Daraja): the simulated time.
async fn clock(State(sim): State<Shared>) -> Json<Value> {
    Json(clock_view(&sim))
}

/// `POST /__simulator/clock` (not part of Daraja), `{"advanceSeconds": n}`: moves the simulated clock forward
/// and takes the standing-order payments that fell due.
async fn advance(State(sim): State<Shared>, body: Bytes) -> Result<Json<Value>, Rejection> {
    let Ok(Advance { advance_seconds }) = serde_json::from_slice::<Advance>(&body) else {
        return Err(Rejection::invalid("advanceSeconds"));
    };
    if !(0..=MAX_ADVANCE_SECS).contains(&advance_seconds) {
        return Err(Rejection::invalid("advanceSeconds"));
    }
    move_clock(&sim.state, advance_seconds * 1000);
    Ok(Json(clock_view(&sim)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(frequency: u8, start: &str, end: &str) -> Order {
        Order {
            name: "n".into(),
            party_a: 254708374149,
            shortcode: "174379".into(),
            command: PAY_BILL.into(),
            amount: 10,
            account_reference: "A".into(),
            frequency,
            start: NaiveDate::parse_from_str(start, "%Y-%m-%d").unwrap(),
            end: NaiveDate::parse_from_str(end, "%Y-%m-%d").unwrap(),
            state: OrderState::Active,
            paid: 0,
            callback_url: "http://127.0.0.1:9/cb".into(),
            response_ref_id: "r".into(),
        }
    }

    fn dates(mut o: Order) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = o.next_due() {
            out.push(d.to_string());
            o.paid += 1;
            if out.len() > 20 {
                break;
            }
        }
        out
    }

    #[test]
    fn due_dates_follow_the_frequency_up_to_the_end() {
        assert_eq!(
            dates(order(3, "2026-12-03", "2026-12-24")),
            ["2026-12-03", "2026-12-10", "2026-12-17", "2026-12-24"]
        );
        assert_eq!(
            dates(order(4, "2027-01-31", "2027-04-30")),
            ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
        );
        assert_eq!(dates(order(1, "2027-01-31", "2027-04-30")), ["2027-01-31"]);
        assert_eq!(
            dates(order(6, "2027-01-15", "2027-12-31")),
            ["2027-01-15", "2027-04-15", "2027-07-15", "2027-10-15"]
        );
    }

    #[test]
    fn the_callback_masks_the_msisdn() {
        let body = answer_body(&order(3, "2026-12-03", "2026-12-24"), true, 0, "", "r");
        let data = body["responseBody"]["responseData"].as_array().unwrap();
        assert!(data.iter().any(|d| d["value"] == "254******149"));
        assert_eq!(body["responseHeader"]["responseCode"], "0");
        let declined = answer_body(
            &order(3, "2026-12-03", "2026-12-24"),
            false,
            1032,
            "Request cancelled by user",
            "r",
        );
        assert_eq!(
            declined["responseHeader"]["responseDescription"],
            "Request cancelled by user"
        );
        assert!(!declined.to_string().contains("TransactionID"));
    }
}
