//! Quotations: `POST /quotations` prices a transfer between two accounts with the simulator's FX rates and fee,
//! for a limited time; `GET /quotations/{ref}` reads it. An international transfer (`inttransfer`) cites one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mmapi_core::model::Party;
use mmapi_core::{Currency, GsmaError, Timestamp};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::requests::{accepted, begin, complete_later};
use super::{answer, json_body, lock, new_reference, AsyncHeaders, Sim, SimError};

/// Units of each currency one US dollar buys (the simulator's fixed rates; others are not quoted).
pub(crate) const RATES: [(&str, &str); 8] = [
    ("USD", "1"),
    ("GBP", "0.79"),
    ("EUR", "0.92"),
    ("RWF", "1300"),
    ("KES", "129"),
    ("TZS", "2650"),
    ("GHS", "15.5"),
    ("ZAR", "18.2"),
];

/// The fee: 1 % of the sending amount, at least 1 unit of the sending currency.
const FEE_PERCENT: i64 = 1;
/// How long a quote can be used, unless the request's `customData` sets `quoteLifetimeSeconds`.
const QUOTE_LIFETIME_SECS: i64 = 600;

fn rate_of(currency: Currency) -> Option<Decimal> {
    RATES
        .iter()
        .find(|(code, _)| *code == currency.code())
        .and_then(|(_, rate)| rate.parse().ok())
}

/// A quote that can be cited.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Quote {
    pub quote_id: String,
    pub payer_id: String,
    pub payee_id: String,
    pub sending_amount: Decimal,
    pub sending_currency: Currency,
    pub receiving_amount: Decimal,
    pub expires_at_ms: i64,
}

/// Quotations, by reference.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Quotations {
    by_ref: HashMap<String, (Value, Quote)>,
}

impl Quotations {
    /// The quote `quote_id` of quotation `reference`.
    pub(crate) fn quote(&self, reference: &str, quote_id: &str) -> Option<&Quote> {
        self.by_ref
            .get(reference)
            .map(|(_, q)| q)
            .filter(|q| q.quote_id == quote_id)
    }
}

fn round(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn party_list(body: &Value, field: &str) -> Result<Vec<Party>, GsmaError> {
    let value = body.get(field).ok_or_else(|| GsmaError::mandatory(field))?;
    serde_json::from_value::<Vec<Party>>(value.clone())
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| GsmaError::format(field, format!("{field} is an array of {{key, value}}")))
}

/// `POST /quotations`
pub(crate) async fn create(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let headers = AsyncHeaders::read(&headers)?;
    let mut request = json_body(&body)?;
    let debit = party_list(&request, "debitParty")?;
    let credit = party_list(&request, "creditParty")?;
    let amount_text = request
        .get("requestAmount")
        .and_then(Value::as_str)
        .ok_or_else(|| GsmaError::mandatory("requestAmount"))?;
    let amount = mmapi_core::Amount::parse(amount_text)
        .map_err(|e| GsmaError::format("requestAmount", e.0))?
        .value();
    let currency_text = request
        .get("requestCurrency")
        .and_then(Value::as_str)
        .ok_or_else(|| GsmaError::mandatory("requestCurrency"))?;
    let currency = Currency::parse(currency_text)
        .map_err(|_| GsmaError::format("requestCurrency", "not an ISO 4217 currency"))?;
    let (payer_id, payee_id, from, to) = {
        let ledger = lock(&sim.ledger);
        let payer = ledger
            .find_all(&debit)
            .ok_or_else(|| GsmaError::not_found("No account has the debitParty's identifiers"))?;
        let payee = ledger
            .find_all(&credit)
            .ok_or_else(|| GsmaError::not_found("No account has the creditParty's identifiers"))?;
        (
            payer.id.clone(),
            payee.id.clone(),
            payer.currency,
            payee.currency,
        )
    };
    let unsupported = |c: Currency| {
        GsmaError::new(
            mmapi_core::ErrorCategory::Validation,
            mmapi_core::ErrorCode::CurrencyNotSupported,
            format!("The simulator has no FX rate for {}", c.code()),
        )
    };
    let from_rate = rate_of(from).ok_or_else(|| unsupported(from))?;
    let to_rate = rate_of(to).ok_or_else(|| unsupported(to))?;
    let fx = to_rate / from_rate;
    let (sending, receiving) = if currency == from {
        (amount, round(amount * fx))
    } else if currency == to {
        (round(amount / fx), amount)
    } else {
        return Err(GsmaError::format(
            "requestCurrency",
            "requestCurrency is the sender's or the recipient's currency",
        )
        .into());
    };
    let fee = round((sending * Decimal::from(FEE_PERCENT) / Decimal::from(100)).max(Decimal::ONE));
    let lifetime = request["customData"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|i| i["key"] == "quoteLifetimeSeconds")
                .and_then(|i| i["value"].as_str()?.parse::<i64>().ok())
        })
        .unwrap_or(QUOTE_LIFETIME_SECS)
        .clamp(1, 86_400);
    let reference = new_reference();
    let quote_id = format!("{reference}-1");
    let expires_at_ms = Timestamp::now().millis() + lifetime * 1000;
    request["quotationReference"] = json!(reference);
    request["quotationStatus"] = json!("completed");
    request["quotes"] = json!([{
        "quoteId": quote_id,
        "sendingAmount": sending.normalize().to_string(),
        "sendingCurrency": from.code(),
        "receivingAmount": receiving.normalize().to_string(),
        "receivingCurrency": to.code(),
        "fees": [{"feeType": "transfer fee", "feeAmount": fee.normalize().to_string(), "feeCurrency": from.code()}],
        "fxRate": fx.round_dp(10).normalize().to_string(),
        "quoteExpiryTime": Timestamp::from_millis(expires_at_ms),
        "receivingServiceProvider": "mmapi-simulator",
    }]);
    let quote = Quote {
        quote_id,
        payer_id,
        payee_id,
        sending_amount: sending,
        sending_currency: from,
        receiving_amount: receiving,
        expires_at_ms,
    };
    let (id, state) = begin(
        &sim,
        &headers,
        format!("/quotations/{reference}"),
        &reference,
    )?;
    lock(&sim.quotations)
        .by_ref
        .insert(reference.clone(), (request, quote));
    complete_later(&sim, id, move |sim| {
        lock(&sim.quotations)
            .by_ref
            .get(&reference)
            .map(|(view, _)| view.clone())
            .ok_or_else(GsmaError::internal)
    });
    Ok(accepted(state))
}

/// `GET /quotations/{quotationReference}`
pub(crate) async fn read(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
) -> Result<Response, SimError> {
    let view = lock(&sim.quotations)
        .by_ref
        .get(&reference)
        .map(|(view, _)| view.clone());
    view.map(|v| answer(StatusCode::OK, v))
        .ok_or_else(|| SimError(GsmaError::not_found("No such quotation")))
}
