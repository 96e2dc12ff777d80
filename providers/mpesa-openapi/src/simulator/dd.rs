//! Direct debits: `directDebitCreation/` (POST), `directDebitPayment/` (POST),
//! `queryDirectDebit/` (GET) and `directDebitCancel/` (PUT).
//!
//! A mandate is created for a customer, a service provider and the integrator's
//! `input_ThirdPartyReference`; the answer gives an `output_MsisdnToken` that can stand for the
//! MSISDN afterwards, and a numeric `output_MandateID`. Payments against an active mandate move
//! money like a C2B payment, without a PIN prompt (the customer's test MSISDN scenario still
//! applies).

use axum::{
    body::Bytes,
    extract::{rejection::QueryRejection, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
    routing::{get, post, put},
    Router,
};
use rand::Rng;

use super::{
    callback,
    ledger::{Ledger, Mandate, Txn, TxnKind},
    markets::{scenario, Market, Scenario},
    payments::{amount, pending, refuse as refuse_payment, submit},
    session::{authenticate, new_hex_id, resolve},
    wire::{self, validate, Kind, Reply},
    Shared,
};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/{env}/ipg/v2/{market}/directDebitCreation/", post(create))
        .route("/{env}/ipg/v2/{market}/directDebitPayment/", post(payment))
        .route("/{env}/ipg/v2/{market}/queryDirectDebit/", get(query))
        .route("/{env}/ipg/v2/{market}/directDebitCancel/", put(cancel))
}

/// An error answer of a mandate API: `output_TransactionReference: "N/A"` as recorded.
fn refuse(code: &str, tpcid: Option<String>) -> Response {
    Reply {
        transaction_reference: Some("N/A".into()),
        conversation_id: Some(new_hex_id()),
        third_party_conversation_id: tpcid,
        ..Reply::new(code)
    }
    .into_response_for(Kind::Create)
}

/// `output_MsisdnToken`: 22 alphanumerics and `==`, like the portal's samples.
fn new_token() -> String {
    let body: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("{body}==")
}

/// `output_TransactionReference`: 32 lowercase alphanumerics.
fn new_reference() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(|b| char::from(b).to_ascii_lowercase())
        .collect()
}

fn is_date(s: &str) -> bool {
    s.len() == 8 && chrono::NaiveDate::parse_from_str(s, "%Y%m%d").is_ok()
}

fn is_day(s: &str) -> bool {
    s.len() == 2 && s.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The customer named by MSISDN, token or both (`INS-50` when they differ, `INS-56` for an
/// unknown token, `missing` when neither is given).
fn customer(
    state: &Shared,
    market: &Market,
    msisdn: Option<&str>,
    token: Option<&str>,
    missing: &'static str,
) -> Result<String, &'static str> {
    if let Some(m) = msisdn {
        if !(wire::is_msisdn_shape(m) && market.accepts_msisdn(m)) {
            return Err("INS-2051");
        }
    }
    let owner = match token {
        Some(t) => Some(state.ledger().token_owner(t).ok_or("INS-56")?),
        None => None,
    };
    match (msisdn, owner) {
        (Some(m), Some(o)) if m != o => Err("INS-50"),
        (Some(m), _) => Ok(m.to_owned()),
        (None, Some(o)) => Ok(o),
        (None, None) => Err(missing),
    }
}

/// The frequency rules of §B.4: the INS code of the first violation.
fn check_schedule(r: &wire::DirectDebitCreation) -> Result<(), &'static str> {
    let first = present(&r.first_payment_date);
    let start = present(&r.start_range_of_days);
    let end = present(&r.end_range_of_days);
    if let Some(expiry) = present(&r.expiry_date) {
        if !is_date(expiry) || first.is_some_and(|f| f > expiry) {
            return Err("INS-43");
        }
    }
    let ranges_allowed = match present(&r.frequency) {
        None => {
            if first.is_some() {
                return Err("INS-39");
            }
            false
        }
        Some("01" | "02" | "03" | "08") => false,
        Some("04" | "05" | "06" | "07") => true,
        Some(_) => return Err("INS-40"),
    };
    if present(&r.frequency).is_some() && !first.is_some_and(is_date) {
        return Err("INS-39");
    }
    if let Some(s) = start {
        if !ranges_allowed || !is_day(s) {
            return Err("INS-41");
        }
    }
    if let Some(e) = end {
        if !ranges_allowed || !is_day(e) || start.is_some_and(|s| s > e) {
            return Err("INS-42");
        }
    }
    Ok(())
}

async fn create(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let Ok(r) = serde_json::from_slice::<wire::DirectDebitCreation>(&body) else {
        return refuse("INS-21", None);
    };
    let tpcid = r.third_party_conversation_id.clone();
    let checks: [wire::Check<'_>; 6] = [
        (r.agreed_tc.as_ref(), &|a| a == "1", "INS-36"),
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (
            r.customer_msisdn.as_ref(),
            &|m| wire::is_msisdn_shape(m) && market.accepts_msisdn(m),
            "INS-2051",
        ),
        (
            r.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (tpcid.as_ref(), &|t| wire::is_text(t, 40), "INS-28"),
        (
            r.third_party_reference.as_ref(),
            &|t| wire::is_alnum(t, 32),
            "INS-19",
        ),
    ];
    if let Err(code) = validate(&checks).and_then(|()| check_schedule(&r)) {
        return refuse(code, tpcid);
    }
    let (Some(msisdn), Some(sp), Some(tpcid), Some(reference)) = (
        &r.customer_msisdn,
        &r.service_provider_code,
        tpcid,
        &r.third_party_reference,
    ) else {
        return refuse("INS-20", None);
    };
    if !state.ledger().claim_tpcid(&tpcid) {
        return refuse("INS-10", Some(tpcid));
    }
    // The customer approves the mandate on the phone: the prompt scenarios apply.
    let code = match scenario(msisdn) {
        Scenario::Fail(code @ ("INS-9" | "INS-6" | "INS-1" | "INS-16")) => code,
        _ => "INS-0",
    };
    let mandate = (code == "INS-0").then(|| {
        // The journal is written under the ledger lock, so its order is the ledger's.
        let mut ledger = state.ledger();
        let mandate = ledger.add_mandate(Mandate {
            market,
            service_provider: sp.clone(),
            msisdn: msisdn.clone(),
            token: new_token(),
            third_party_reference: reference.clone(),
            mandate_id: String::new(),
            frequency: present(&r.frequency).unwrap_or_default().to_owned(),
            first_payment_date: present(&r.first_payment_date)
                .unwrap_or_default()
                .to_owned(),
            start_range: present(&r.start_range_of_days)
                .unwrap_or_default()
                .to_owned(),
            end_range: present(&r.end_range_of_days).unwrap_or_default().to_owned(),
            expiry_date: present(&r.expiry_date).unwrap_or_default().to_owned(),
            transaction_reference: new_reference(),
            active: true,
        });
        state
            .journal
            .append(&Ledger::journal_mandate(&mandate, &tpcid));
        mandate
    });
    let conversation_id = new_hex_id();
    if state.is_async(market) {
        let extras = mandate
            .as_ref()
            .map(|m| {
                vec![
                    (
                        "input_TransactionReference",
                        m.transaction_reference.clone(),
                    ),
                    ("input_MsisdnToken", m.token.clone()),
                    ("input_MandateID", m.mandate_id.clone()),
                ]
            })
            .unwrap_or_default();
        callback::schedule(&state, conversation_id.clone(), tpcid.clone(), move |_| {
            callback::Result {
                code,
                transaction_id: "N/A".into(),
                response_style: false,
                extras,
            }
        });
        return Reply {
            conversation_id: Some(conversation_id),
            third_party_conversation_id: Some(tpcid),
            ..Reply::new("INS-0")
        }
        .into_response_for(Kind::Create);
    }
    let Some(m) = mandate else {
        return refuse(code, Some(tpcid));
    };
    Reply {
        transaction_reference: Some(m.transaction_reference),
        msisdn_token: Some(m.token),
        conversation_id: Some(conversation_id),
        third_party_conversation_id: Some(tpcid),
        mandate_id: Some(m.mandate_id),
        ..Reply::new("INS-0")
    }
    .into_response_for(Kind::Create)
}

async fn payment(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let Ok(r) = serde_json::from_slice::<wire::DirectDebitPayment>(&body) else {
        return refuse_payment("INS-21", None);
    };
    let tpcid = r.third_party_conversation_id.clone();
    let checks: [wire::Check<'_>; 6] = [
        (r.amount.as_ref(), &wire::is_amount, "INS-15"),
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (r.currency.as_ref(), &|c| c == market.currency, "INS-26"),
        (
            r.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (tpcid.as_ref(), &|t| wire::is_text(t, 40), "INS-28"),
        (
            r.third_party_reference.as_ref(),
            &|t| wire::is_alnum(t, 32),
            "INS-19",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return refuse_payment(code, tpcid);
    }
    let mandate_id = present(&r.mandate_id);
    if mandate_id.is_some_and(|m| !(m.len() <= 12 && m.bytes().all(|b| b.is_ascii_digit()))) {
        return refuse_payment("INS-51", tpcid);
    }
    let msisdn = match customer(
        &state,
        market,
        present(&r.customer_msisdn),
        present(&r.msisdn_token),
        "INS-20",
    ) {
        Ok(m) => m,
        Err(code) => return refuse_payment(code, tpcid),
    };
    let (Some(sp), Some(tpcid), Some(reference), Some(value)) = (
        &r.service_provider_code,
        tpcid,
        &r.third_party_reference,
        &r.amount,
    ) else {
        return refuse_payment("INS-20", None);
    };
    let token = match state
        .ledger()
        .find_mandate(market, sp, &msisdn, reference, mandate_id)
    {
        Ok(Some(m)) => m.token.clone(),
        Ok(None) => return refuse_payment("INS-58", Some(tpcid)),
        Err(code) => return refuse_payment(code, Some(tpcid)),
    };
    submit(
        &state,
        Txn {
            kind: TxnKind::C2b,
            amount: amount(value),
            debit: msisdn.clone(),
            credit: sp.clone(),
            customer: Some(msisdn),
            ..pending(market, sp, &tpcid)
        },
        Some(token),
    )
}

async fn query(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<wire::DirectDebitQuery>, QueryRejection>,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let read_refusal = |code: &str, tpcid: Option<String>| {
        let reply = Reply {
            conversation_id: Some(new_hex_id()),
            third_party_conversation_id: tpcid,
            ..Reply::new(code)
        };
        match code {
            // MandateID of another reference is 500 here (§B.6).
            "INS-52" => reply.into_response_with(StatusCode::INTERNAL_SERVER_ERROR),
            _ => reply.into_response_for(Kind::Read),
        }
    };
    let Ok(Query(q)) = query else {
        return read_refusal("INS-21", None);
    };
    let tpcid = q.third_party_conversation_id.clone();
    let checks: [wire::Check<'_>; 4] = [
        (q.country.as_ref(), &|c| c == market.country, "INS-998"),
        (
            q.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (tpcid.as_ref(), &|t| wire::is_text(t, 40), "INS-28"),
        (
            q.third_party_reference.as_ref(),
            &|t| wire::is_alnum(t, 32),
            "INS-19",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return read_refusal(code, tpcid);
    }
    if let Some(c) = present(&q.currency) {
        if c != market.currency {
            return read_refusal("INS-26", tpcid);
        }
    }
    let wants_balance =
        present(&q.query_balance_amount).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let balance_amount = present(&q.balance_amount);
    if wants_balance {
        match balance_amount {
            None => return read_refusal("INS-55", tpcid),
            Some(b) if !wire::is_amount(b) => return read_refusal("INS-54", tpcid),
            Some(_) => {}
        }
    }
    let msisdn = match customer(
        &state,
        market,
        present(&q.customer_msisdn),
        present(&q.msisdn_token),
        "INS-57",
    ) {
        Ok(m) => m,
        Err(code) => return read_refusal(code, tpcid),
    };
    let (Some(sp), Some(tpcid), Some(reference)) =
        (&q.service_provider_code, tpcid, &q.third_party_reference)
    else {
        return read_refusal("INS-20", None);
    };
    let mut ledger = state.ledger();
    let mandate = match ledger.find_mandate(market, sp, &msisdn, reference, present(&q.mandate_id))
    {
        Ok(Some(m)) => m.clone(),
        Ok(None) => return read_refusal("INS-58", Some(tpcid)),
        Err(code) => return read_refusal(code, Some(tpcid)),
    };
    let sufficient = wants_balance.then(|| {
        let enough = ledger.balance(market, &msisdn) >= amount(balance_amount.unwrap_or("0"));
        if enough { "True" } else { "False" }.to_owned()
    });
    drop(ledger);
    let fields: Vec<(&'static str, String)> = [
        ("input_SufficientBalance", sufficient.clone()),
        ("input_MsisdnToken", Some(mandate.token.clone())),
        ("input_MandateID", Some(mandate.mandate_id.clone())),
        ("input_MandateStatus", Some("Active".to_owned())),
        ("input_AccountStatus", Some("Active".to_owned())),
        (
            "input_FirstPaymentDate",
            Some(mandate.first_payment_date.clone()),
        ),
        ("input_Frequency", Some(mandate.frequency.clone())),
        ("input_PaymentDayFrom", Some(mandate.start_range.clone())),
        ("input_PaymentDayTo", Some(mandate.end_range.clone())),
        ("input_ExpiryDate", Some(mandate.expiry_date.clone())),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let conversation_id = new_hex_id();
    if state.is_async(market) {
        callback::schedule(&state, conversation_id.clone(), tpcid.clone(), move |_| {
            callback::Result {
                code: "INS-0",
                transaction_id: "N/A".into(),
                response_style: true,
                extras: fields,
            }
        });
        return Reply {
            conversation_id: Some(conversation_id),
            third_party_conversation_id: Some(tpcid),
            ..Reply::new("INS-0")
        }
        .into_response_for(Kind::Read);
    }
    Reply {
        conversation_id: Some(conversation_id),
        third_party_conversation_id: Some(tpcid),
        sufficient_balance: sufficient,
        msisdn_token: Some(mandate.token),
        mandate_id: Some(mandate.mandate_id),
        mandate_status: Some("Active".into()),
        account_status: Some("Active".into()),
        first_payment_date: Some(mandate.first_payment_date),
        frequency: Some(mandate.frequency),
        payment_day_from: Some(mandate.start_range),
        payment_day_to: Some(mandate.end_range),
        expiry_date: Some(mandate.expiry_date),
        ..Reply::new("INS-0")
    }
    .into_response_for(Kind::Read)
}

async fn cancel(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let Ok(r) = serde_json::from_slice::<wire::DirectDebitCancel>(&body) else {
        return refuse("INS-21", None);
    };
    let tpcid = r.third_party_conversation_id.clone();
    let checks: [wire::Check<'_>; 4] = [
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (
            r.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (tpcid.as_ref(), &|t| wire::is_text(t, 40), "INS-28"),
        (
            r.third_party_reference.as_ref(),
            &|t| wire::is_alnum(t, 32),
            "INS-19",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, tpcid);
    }
    let msisdn = match customer(
        &state,
        market,
        present(&r.customer_msisdn),
        present(&r.msisdn_token),
        "INS-20",
    ) {
        Ok(m) => m,
        Err(code) => return refuse(code, tpcid),
    };
    let (Some(sp), Some(tpcid), Some(reference)) =
        (&r.service_provider_code, tpcid, &r.third_party_reference)
    else {
        return refuse("INS-20", None);
    };
    let cancelled = {
        let mut ledger = state.ledger();
        if !ledger.claim_tpcid(&tpcid) {
            drop(ledger);
            return refuse("INS-10", Some(tpcid));
        }
        let found =
            match ledger.find_mandate(market, sp, &msisdn, reference, present(&r.mandate_id)) {
                Ok(Some(m)) => {
                    m.active = false;
                    Ok((m.token.clone(), m.mandate_id.clone()))
                }
                Ok(None) | Err(_) => Err(()),
            };
        if let Ok((_, mandate_id)) = &found {
            state
                .journal
                .append(&super::journal::Event::MandateCancelled {
                    mandate_id: mandate_id.clone(),
                    third_party_conversation_id: tpcid.clone(),
                });
        }
        found.map(|(token, _)| token)
    };
    let Ok(token) = cancelled else {
        // Here INS-6 means "Mandate does not exist" (§B.4).
        return Reply {
            desc: "Mandate does not exist".into(),
            transaction_reference: Some("N/A".into()),
            conversation_id: Some(new_hex_id()),
            third_party_conversation_id: Some(tpcid),
            ..Reply::new("INS-6")
        }
        .into_response_for(Kind::Create);
    };
    Reply {
        transaction_reference: Some(new_reference()),
        msisdn_token: Some(token),
        conversation_id: Some(new_hex_id()),
        third_party_conversation_id: Some(tpcid),
        ..Reply::new("INS-0")
    }
    .into_response_for(Kind::Create)
}
