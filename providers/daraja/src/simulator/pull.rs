//! Pull Transactions (`PROVIDERS.md` §A.16): an organisation registers a shortcode once, then queries the
//! completed customer payments into it between two dates, within the last 48 hours, a page at a time. Lost C2B
//! confirmations are filled in from it.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::{
    body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post, Json, Router,
};
use chrono::{NaiveDateTime, TimeZone};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    c2b::{self, BUY_GOODS},
    ids,
    journal::C2bRecord,
    ledger,
    oauth::{self, BadToken},
    wire::{self, text_of, Rejection, Scalar},
    Shared,
};

/// How far back a query may reach.
const WINDOW_MS: i64 = 48 * 3_600_000;
/// Records in one page of a query.
pub(crate) const PAGE_SIZE: usize = 1_000;
/// The date format of `StartDate` and `EndDate` (EAT).
const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// `400.001`: the shortcode is not registered for Pull Transactions (or not an organisation).
const INVALID_SHORTCODE: &str = "400.001";

/// Routes of Pull Transactions.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/pulltransactions/v1/register",
            post(register).fallback(wire::method_not_allowed),
        )
        .route(
            "/pulltransactions/v1/query",
            post(query).fallback(wire::method_not_allowed),
        )
}

/// Shortcodes registered for Pull Transactions.
#[derive(Default)]
pub(crate) struct PullRegistrations(Mutex<HashSet<String>>);

impl PullRegistrations {
    /// Registers `shortcode`; `false` when it already was.
    fn register(&self, shortcode: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(shortcode.to_owned())
    }

    fn contains(&self, shortcode: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(shortcode)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterRequest {
    short_code: Option<Scalar>,
    request_type: Option<Scalar>,
    nominated_number: Option<Scalar>,
    #[serde(rename = "CallBackURL")]
    callback_url: Option<Scalar>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryRequest {
    short_code: Option<Scalar>,
    start_date: Option<Scalar>,
    end_date: Option<Scalar>,
    off_set_value: Option<Scalar>,
}

fn invalid_shortcode() -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        INVALID_SHORTCODE,
        "Invalid shortcode",
    )
}

/// `POST /pulltransactions/v1/register`: `1000` the first time, `1001` when already registered.
async fn register(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: RegisterRequest = wire::parse_body(&body)?;
    let shortcode = c2b::shortcode(&sim, &req.short_code).map_err(|_| invalid_shortcode())?;
    if wire::one_of(&req.request_type, &["Pull"]).is_none() {
        return Err(Rejection::invalid("RequestType"));
    }
    if wire::digits_of(&req.nominated_number).is_none() {
        return Err(Rejection::invalid("NominatedNumber"));
    }
    if text_of(&req.callback_url).is_none_or(|u| !u.starts_with("http")) {
        return Err(Rejection::invalid("CallBackURL"));
    }
    let (status, description) = if sim.pull.register(&shortcode) {
        ("1000", "ShortCode Registered Successfully")
    } else {
        ("1001", "ShortCode Already Registered")
    };
    Ok(Json(json!({
        "ResponseRefID": ids::originator_conversation_id(),
        "ResponseStatus": status,
        "ShortCode": shortcode,
        "ResponseDescription": description,
    })))
}

/// A `StartDate`/`EndDate` (EAT) in ms since the epoch.
fn date_ms(field: &Option<Scalar>, name: &str) -> Result<i64, Rejection> {
    let text = text_of(field).ok_or_else(|| Rejection::invalid(name))?;
    let naive = NaiveDateTime::parse_from_str(text.trim(), DATE_FORMAT)
        .map_err(|_| Rejection::invalid(name))?;
    ids::eat()
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| Rejection::invalid(name))
}

/// `POST /pulltransactions/v1/query`: the completed payments into a registered shortcode between the dates
/// (clipped to the last 48 hours), oldest first, [`PAGE_SIZE`] from `OffSetValue`.
async fn query(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: QueryRequest = wire::parse_body(&body)?;
    let shortcode = wire::digits_of(&req.short_code)
        .filter(|sc| sim.pull.contains(sc))
        .ok_or_else(invalid_shortcode)?;
    let start = date_ms(&req.start_date, "StartDate")?;
    let end = date_ms(&req.end_date, "EndDate")?;
    if end < start {
        return Err(Rejection::invalid("EndDate"));
    }
    let offset = match &req.off_set_value {
        None => 0,
        Some(v) => v
            .whole_number()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Rejection::invalid("OffSetValue"))?,
    };
    let start = start.max(ids::now_ms() - WINDOW_MS);
    let page: Vec<Value> = sim
        .c2b
        .completed_between(&shortcode, start, end)
        .iter()
        .skip(offset)
        .take(PAGE_SIZE)
        .map(record)
        .collect();
    Ok(Json(json!({
        "ResponseRefID": ids::originator_conversation_id(),
        "ResponseCode": "1000",
        "ResponseMessage": "Success",
        "Response": [page],
    })))
}

/// One payment as Pull Transactions lists it.
fn record(r: &C2bRecord) -> Value {
    json!({
        "transactionId": r.trans_id,
        "trxDate": ids::format_eat(r.resolve_at_ms, "%Y-%m-%dT%H:%M:%S+03:00"),
        "msisdn": r.msisdn,
        "sender": "M-PESA",
        "transactiontype": if r.command == BUY_GOODS { "c2b-buy-goods-debit" } else { "c2b-pay-bill-debit" },
        "billreference": r.bill_ref,
        "amount": ledger::kes(ledger::cents(r.amount)),
        "organizationname": format!("Organisation {}", r.shortcode),
    })
}
