//! GET queries with a query string: `queryTransactionStatus/` and `queryBeneficiaryName/`
//! (Ghana only).

use std::collections::HashMap;

use axum::{
    extract::{rejection::QueryRejection, Path, Query, State},
    http::HeaderMap,
    response::Response,
    routing::get,
    Router,
};

use super::{
    callback,
    ledger::{Txn, TxnState},
    markets::{is_test_msisdn, Market},
    session::{authenticate, new_hex_id, resolve},
    wire::{self, validate, Kind, Reply},
    Shared,
};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/{env}/ipg/v2/{market}/queryTransactionStatus/",
            get(query_status),
        )
        .route(
            "/{env}/ipg/v2/{market}/queryBeneficiaryName/",
            get(query_beneficiary),
        )
}

/// An error answer of a query: the code, a fresh ConversationID and the
/// ThirdPartyConversationID echoed.
fn refuse(code: &str, tpcid: Option<String>) -> Response {
    Reply {
        conversation_id: Some(new_hex_id()),
        third_party_conversation_id: tpcid,
        ..Reply::new(code)
    }
    .into_response_for(Kind::Read)
}

/// `output_ResponseTransactionStatus` of a transaction.
fn status_of(txn: &Txn) -> &'static str {
    match txn.state {
        TxnState::Pending => "Pending",
        TxnState::Completed => "Completed",
        TxnState::Failed("INS-9") => "Expired",
        TxnState::Failed("INS-5" | "INS-6") => "Cancelled",
        TxnState::Failed(_) => "Failed",
    }
}

fn reversed(txn: &Txn) -> String {
    if txn.reversed.is_zero() {
        "False"
    } else {
        "True"
    }
    .to_owned()
}

/// Answers `INS-0` now (synchronous market) or acknowledges and posts the result later.
fn answer(
    state: &Shared,
    market: &Market,
    tpcid: String,
    reply: Reply,
    extras: Vec<(&'static str, String)>,
    transaction_id: String,
) -> Response {
    let conversation_id = new_hex_id();
    if state.is_async(market) {
        callback::schedule(state, conversation_id.clone(), tpcid.clone(), move |_| {
            callback::Result {
                code: "INS-0",
                transaction_id,
                response_style: false,
                extras,
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
        ..reply
    }
    .into_response_for(Kind::Read)
}

async fn query_status(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<wire::StatusQuery>, QueryRejection>,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let Ok(Query(q)) = query else {
        return refuse("INS-21", None);
    };
    let checks: [wire::Check<'_>; 4] = [
        (
            q.query_reference.as_ref(),
            &|r| wire::is_alnum(r, 32),
            "INS-21",
        ),
        (
            q.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (
            q.third_party_conversation_id.as_ref(),
            &|t| wire::is_text(t, 40),
            "INS-28",
        ),
        (q.country.as_ref(), &|c| c == market.country, "INS-998"),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, q.third_party_conversation_id.clone());
    }
    let (Some(reference), Some(tpcid)) = (&q.query_reference, &q.third_party_conversation_id)
    else {
        return refuse("INS-20", None);
    };
    let found = state
        .ledger()
        .find(reference)
        .filter(|t| t.market == market)
        .cloned();
    let Some(txn) = found else {
        return refuse("INS-23", Some(tpcid.clone()));
    };
    let original = txn.transaction_id.clone().unwrap_or_else(|| "N/A".into());
    let reply = Reply {
        transaction_status: Some(status_of(&txn).to_owned()),
        original_transaction_id: Some(original.clone()),
        reversed: Some(reversed(&txn)),
        ..Reply::new("INS-0")
    };
    let extras = vec![
        ("input_OriginalTransactionID", original.clone()),
        ("input_Reversed", reversed(&txn)),
    ];
    answer(&state, market, tpcid.clone(), reply, extras, original)
}

/// First and last names of a simulated Ghanaian customer, fixed per MSISDN.
fn names_of(msisdn: &str) -> (&'static str, &'static str) {
    const FIRST: [&str; 8] = [
        "Kwame", "Ama", "Kofi", "Akosua", "Yaw", "Abena", "Kwabena", "Efua",
    ];
    const LAST: [&str; 8] = [
        "Mensah", "Owusu", "Boateng", "Asante", "Osei", "Appiah", "Agyeman", "Darko",
    ];
    if msisdn == "000000000001" {
        return ("Jiazhen", "Wuu");
    }
    let sum: usize = msisdn.bytes().map(|b| usize::from(b - b'0')).sum();
    let last_digit = msisdn.bytes().last().map_or(0, |b| usize::from(b - b'0'));
    (FIRST[last_digit % 8], LAST[sum % 8])
}

async fn query_beneficiary(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let market = match resolve(&env, &market) {
        Ok(m) => m,
        Err(response) => return *response,
    };
    if let Err(response) = authenticate(&state, &headers).await {
        return *response;
    }
    let Ok(Query(q)) = query else {
        return refuse("INS-21", None);
    };
    let tpcid = q.get("input_ThirdPartyConversationID").cloned();
    if market.country != "GHA" {
        return refuse("INS-997", tpcid);
    }
    // The table says input_KycQueryType, the sample input_KYCQueryType: accept any case.
    let kyc = q
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("input_KycQueryType"))
        .map(|(_, v)| v);
    let checks: [wire::Check<'_>; 5] = [
        (
            q.get("input_CustomerMSISDN"),
            &|m| wire::is_msisdn_shape(m) && market.accepts_msisdn(m),
            "INS-2051",
        ),
        (q.get("input_Country"), &|c| c == market.country, "INS-998"),
        (
            q.get("input_ServiceProviderCode"),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (tpcid.as_ref(), &|t| wire::is_text(t, 40), "INS-28"),
        (kyc, &|k| k == "Name", "INS-32"),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, tpcid);
    }
    let (Some(msisdn), Some(tpcid)) = (q.get("input_CustomerMSISDN"), tpcid) else {
        return refuse("INS-20", None);
    };
    if is_test_msisdn(msisdn) && msisdn != "000000000001" {
        // Only the first test number is a registered customer.
        return refuse("INS-2051", Some(tpcid));
    }
    let (first, last) = names_of(msisdn);
    let reply = Reply {
        first_name: Some(first.to_owned()),
        last_name: Some(last.to_owned()),
        ..Reply::new("INS-0")
    };
    let extras = vec![
        ("input_CustomerFirstName", first.to_owned()),
        ("input_CustomerLastName", last.to_owned()),
    ];
    answer(&state, market, tpcid, reply, extras, "N/A".into())
}
