//! Bill companies, bills and bill payments. The simulator's biller is the utility of paybill
//! [`super::ledger::UTILITY_SHORTCODE`]; its bills (the README's test data) are owed by seeded wallets. A payment
//! moves money from the payer's account to the biller's, and the bill becomes `partialpaid` or `paid`; a bill's
//! `underPaymentNotAllowed`, `overPaymentNotAllowed` and `minimumAmountDue` are enforced.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mmapi_core::{Currency, ErrorCategory, ErrorCode, GsmaError, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ledger::UTILITY_SHORTCODE;
use super::requests::{accepted, begin, complete_later};
use super::{answer, json_body, lock, new_reference, page, AsyncHeaders, Sim, SimError};

/// A bill company.
const COMPANY_NAME: &str = "Sandbox Utilities";

#[derive(Serialize, Deserialize)]
struct Bill {
    account_id: String,
    currency: Currency,
    billed: Decimal,
    paid: Decimal,
    minimum: Option<Decimal>,
    under_not_allowed: bool,
    over_not_allowed: bool,
    due_date: String,
    description: String,
    payments: Vec<Value>,
}

/// One seeded bill: reference, the paying account's `accountid`, amount, and its rules.
struct SeedBill {
    reference: &'static str,
    account_id: &'static str,
    amount: i64,
    minimum: Option<i64>,
    under_not_allowed: bool,
    over_not_allowed: bool,
    description: &'static str,
}

/// The bills every simulator starts with (in USD, owed to the utility).
const SEED_BILLS: [SeedBill; 3] = [
    SeedBill {
        reference: "WATER-1001",
        account_id: "2000",
        amount: 60,
        minimum: None,
        under_not_allowed: false,
        over_not_allowed: false,
        description: "Water, December",
    },
    SeedBill {
        reference: "POWER-2001",
        account_id: "2001",
        amount: 100,
        minimum: None,
        under_not_allowed: true,
        over_not_allowed: true,
        description: "Electricity, December (paid in full only)",
    },
    SeedBill {
        reference: "RATES-2002",
        account_id: "2001",
        amount: 500,
        minimum: Some(50),
        under_not_allowed: false,
        over_not_allowed: true,
        description: "Council rates (at least 50 a payment)",
    },
];

/// Bills, by reference.
#[derive(Serialize, Deserialize)]
pub(crate) struct Bills {
    by_ref: HashMap<String, Bill>,
}

impl Default for Bills {
    fn default() -> Self {
        let Ok(usd) = Currency::parse("USD") else {
            return Self {
                by_ref: HashMap::new(),
            };
        };
        let by_ref = SEED_BILLS
            .iter()
            .map(|b| {
                let bill = Bill {
                    account_id: b.account_id.to_owned(),
                    currency: usd,
                    billed: Decimal::from(b.amount),
                    paid: Decimal::ZERO,
                    minimum: b.minimum.map(Decimal::from),
                    under_not_allowed: b.under_not_allowed,
                    over_not_allowed: b.over_not_allowed,
                    due_date: "2099-12-31".to_owned(),
                    description: b.description.to_owned(),
                    payments: Vec::new(),
                };
                (b.reference.to_owned(), bill)
            })
            .collect();
        Self { by_ref }
    }
}

fn business(code: ErrorCode, description: &str) -> GsmaError {
    GsmaError::new(ErrorCategory::BusinessRule, code, description)
}

fn bill_view(reference: &str, b: &Bill) -> Value {
    let due = (b.billed - b.paid).max(Decimal::ZERO);
    let status = if b.paid >= b.billed {
        "paid"
    } else if b.paid > Decimal::ZERO {
        "partialpaid"
    } else {
        "unpaid"
    };
    let mut view = json!({
        "billReference": reference,
        "billStatus": status,
        "amountDue": due.normalize().to_string(),
        "currency": b.currency,
        "dueDate": b.due_date,
        "billDescription": b.description,
        "metadata": [{"key": "serviceProvider", "value": UTILITY_SHORTCODE}],
    });
    if let Some(minimum) = b.minimum {
        view["minimumAmountDue"] = json!(minimum.min(due).normalize().to_string());
    }
    view
}

fn company() -> Value {
    json!({"serviceProvider": UTILITY_SHORTCODE, "companyName": COMPANY_NAME, "serviceProviderType": "utility"})
}

/// `GET /billcompanies` and `GET …/billcompanies`
pub(crate) fn companies() -> Response {
    answer(StatusCode::OK, json!([company()]))
}

/// `GET /billcompanies/{serviceProvider}`
pub(crate) async fn company_by_id(
    Path(service_provider): Path<String>,
) -> Result<Response, SimError> {
    if service_provider == UTILITY_SHORTCODE {
        Ok(answer(StatusCode::OK, company()))
    } else {
        Err(GsmaError::not_found("No such bill company").into())
    }
}

/// `GET …/bills`: the account's bills, paged.
pub(crate) fn of_account(
    sim: &Sim,
    account_id: &str,
    query: &HashMap<String, String>,
) -> Result<Response, GsmaError> {
    let bills = lock(&sim.bills);
    let mut list: Vec<(&String, &Bill)> = bills
        .by_ref
        .iter()
        .filter(|(_, b)| b.account_id == account_id)
        .collect();
    list.sort_by(|a, b| a.0.cmp(b.0));
    page(
        list.into_iter().map(|(r, b)| bill_view(r, b)).collect(),
        query,
    )
}

/// `GET …/bills/{billReference}/payments` and `GET /bills/{billReference}/payments`, paged.
pub(crate) fn payments(
    sim: &Sim,
    account_id: Option<&str>,
    reference: &str,
    query: &HashMap<String, String>,
) -> Result<Response, GsmaError> {
    let bills = lock(&sim.bills);
    let bill = bills
        .by_ref
        .get(reference)
        .filter(|b| account_id.is_none_or(|a| a == b.account_id))
        .ok_or_else(|| GsmaError::not_found("No such bill"))?;
    page(bill.payments.clone(), query)
}

/// `POST …/bills/{billReference}/payments` (the payer is the account) and `POST /bills/{billReference}/payments`
/// (the payer is the bill's customer).
pub(crate) fn pay(
    sim: &Arc<Sim>,
    account_id: Option<String>,
    reference: &str,
    headers: &AsyncHeaders,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let request = json_body(body)?;
    let amount = request
        .get("amountPaid")
        .and_then(Value::as_str)
        .ok_or_else(|| GsmaError::mandatory("amountPaid"))
        .and_then(|a| {
            mmapi_core::Amount::parse(a).map_err(|e| GsmaError::format("amountPaid", e.0))
        })?
        .value();
    let currency = request
        .get("currency")
        .and_then(Value::as_str)
        .ok_or_else(|| GsmaError::mandatory("currency"))
        .and_then(|c| {
            Currency::parse(c)
                .map_err(|_| GsmaError::format("currency", "not an ISO 4217 currency"))
        })?;
    let payer = {
        let bills = lock(&sim.bills);
        let bill = bills
            .by_ref
            .get(reference)
            .filter(|b| account_id.as_ref().is_none_or(|a| *a == b.account_id))
            .ok_or_else(|| GsmaError::not_found("No such bill"))?;
        bill.account_id.clone()
    };
    let payment_reference = new_reference();
    let (id, state) = begin(
        sim,
        headers,
        format!("/bills/{reference}/payments"),
        &payment_reference,
    )?;
    let reference = reference.to_owned();
    complete_later(sim, id, move |sim| {
        settle(
            sim,
            &reference,
            &payer,
            amount,
            currency,
            request,
            &payment_reference,
        )
    });
    Ok(accepted(state))
}

/// Checks a bill payment against the bill's rules and the payer's account, then moves the money.
fn settle(
    sim: &Sim,
    reference: &str,
    payer: &str,
    amount: Decimal,
    currency: Currency,
    mut request: Value,
    payment_reference: &str,
) -> Result<Value, GsmaError> {
    let mut ledger = lock(&sim.ledger);
    let mut bills = lock(&sim.bills);
    let bill = bills
        .by_ref
        .get_mut(reference)
        .ok_or_else(GsmaError::internal)?;
    if currency != bill.currency {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::CurrencyNotSupported,
            "The payment is in another currency than the bill",
        ));
    }
    let due = (bill.billed - bill.paid).max(Decimal::ZERO);
    if due.is_zero() {
        return Err(business(ErrorCode::IncorrectState, "The bill is paid"));
    }
    if bill.over_not_allowed && amount > due {
        return Err(business(
            ErrorCode::OverPaymentNotAllowed,
            "The payment is more than is due",
        ));
    }
    let minimum = bill.minimum.map_or(Decimal::ZERO, |m| m.min(due));
    if (bill.under_not_allowed && amount < due) || amount < minimum {
        return Err(business(
            ErrorCode::UnderPaymentNotAllowed,
            "The payment is less than is due",
        ));
    }
    let biller = ledger
        .find("businessshortcode", UTILITY_SHORTCODE)
        .map(|a| a.id.clone())
        .ok_or_else(GsmaError::internal)?;
    let now = Timestamp::now();
    ledger.check(payer, &biller, amount, now.millis().div_euclid(86_400_000))?;
    ledger.transfer(
        payer,
        &biller,
        amount,
        amount,
        now.millis().div_euclid(86_400_000),
    );
    bill.paid += amount;
    request["billPaymentStatus"] = json!("completed");
    request["serviceProviderPaymentReference"] = json!(payment_reference);
    request["creationDate"] = json!(now);
    bill.payments.push(request.clone());
    Ok(request)
}

/// `POST …/bills/payments`, a payment without a bill reference: it goes to the account's oldest open bill (the
/// earliest due date, then the lowest reference), under that bill's rules. An account that owes nothing gets
/// `404 identification/identifierError`.
pub(crate) fn pay_on_account(
    sim: &Arc<Sim>,
    account_id: String,
    headers: &AsyncHeaders,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let oldest_open = {
        let bills = lock(&sim.bills);
        bills
            .by_ref
            .iter()
            .filter(|(_, b)| b.account_id == account_id && b.paid < b.billed)
            .min_by(|a, b| (&a.1.due_date, a.0).cmp(&(&b.1.due_date, b.0)))
            .map(|(reference, _)| reference.clone())
    };
    let reference = oldest_open.ok_or_else(|| GsmaError::not_found("The account owes no bill"))?;
    pay(sim, Some(account_id), &reference, headers, body)
}

/// `GET …/bills/payments`: every payment of the account's bills, oldest first, paged; each names its bill in
/// `supplementaryBillReferenceDetails`.
pub(crate) fn payments_of_account(
    sim: &Sim,
    account_id: &str,
    query: &HashMap<String, String>,
) -> Result<Response, GsmaError> {
    let bills = lock(&sim.bills);
    let mut list: Vec<Value> = bills
        .by_ref
        .iter()
        .filter(|(_, b)| b.account_id == account_id)
        .flat_map(|(reference, b)| {
            b.payments.iter().map(move |payment| {
                let mut payment = payment.clone();
                payment["supplementaryBillReferenceDetails"] = json!([
                    {"paymentReferenceType": "billReference", "paymentReferenceValue": reference}
                ]);
                payment
            })
        })
        .collect();
    list.sort_by(|a, b| {
        let key = |v: &Value| v["creationDate"].as_str().unwrap_or("").to_owned();
        key(a).cmp(&key(b))
    });
    page(list, query)
}

/// `GET /bills/{billReference}/payments`
pub(crate) async fn payments_by_bill(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    Ok(payments(&sim, None, &reference, &query)?)
}

/// `POST /bills/{billReference}/payments`: paid by the bill's customer.
pub(crate) async fn pay_by_bill(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let headers = AsyncHeaders::read(&headers)?;
    Ok(pay(&sim, None, &reference, &headers, &body)?)
}
