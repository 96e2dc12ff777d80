//! Money-moving APIs: `c2bPayment/singleStage/`, `b2cPayment/`, `b2bPayment/` (POST) and
//! `reversal/` (PUT).

use std::sync::atomic::Ordering;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
    routing::{post, put},
    Router,
};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::{
    callback,
    journal::Event,
    ledger::{Txn, TxnKind, TxnState},
    markets::Market,
    session::{authenticate, new_hex_id, new_transaction_id, resolve, Refusal},
    wire::{self, validate, Kind, Reply},
    Shared,
};

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/{env}/ipg/v2/{market}/c2bPayment/singleStage/", post(c2b))
        .route("/{env}/ipg/v2/{market}/b2cPayment/", post(b2c))
        .route("/{env}/ipg/v2/{market}/b2bPayment/", post(b2b))
        .route("/{env}/ipg/v2/{market}/reversal/", put(reversal))
}

/// An error answer of a money-moving API: the code, `output_TransactionID: "N/A"`, a fresh
/// ConversationID and the ThirdPartyConversationID echoed.
pub(crate) fn refuse(code: &str, tpcid: Option<String>) -> Response {
    Reply {
        transaction_id: Some("N/A".into()),
        conversation_id: Some(new_hex_id()),
        third_party_conversation_id: tpcid,
        ..Reply::new(code)
    }
    .into_response_for(Kind::Create)
}

/// The path's market and the session check, then the JSON body.
async fn open<T: DeserializeOwned>(
    state: &Shared,
    env: &str,
    market: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'static Market, T), Refusal> {
    let market = resolve(env, market)?;
    authenticate(state, headers).await?;
    let request = serde_json::from_slice(body).map_err(|_| Box::new(refuse("INS-21", None)))?;
    Ok((market, request))
}

pub(crate) fn amount(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

/// Accepts a validated transaction: INS-10 for a used ThirdPartyConversationID, else records
/// it and settles it now (synchronous market) or after the result delay (asynchronous). The
/// submission is journaled before the answer.
pub(crate) fn submit(state: &Shared, mut txn: Txn, msisdn_token: Option<String>) -> Response {
    let tpcid = txn.third_party_conversation_id.clone();
    let conversation_id = txn.conversation_id.clone();
    let is_async = state.is_async(txn.market);
    txn.msisdn_token = msisdn_token.clone();
    let (index, code, transaction_id) = {
        // The journal is written under the ledger lock, so its order is the ledger's.
        let mut ledger = state.ledger();
        state.submissions.submitted(&tpcid);
        if !ledger.claim_tpcid(&tpcid) {
            state.submissions.refused_repeat(&tpcid);
            state.journal.append(&Event::Repeat {
                third_party_conversation_id: tpcid.clone(),
            });
            drop(ledger);
            return refuse("INS-10", Some(tpcid));
        }
        state.accepted.fetch_add(1, Ordering::Relaxed);
        let index = ledger.record(txn);
        let code = if is_async {
            "INS-0"
        } else {
            ledger.settle(index, new_transaction_id())
        };
        state.journal.append(&ledger.journal_record(index));
        (index, code, ledger.get(index).transaction_id.clone())
    };
    if is_async {
        settle_later(state, index);
        return Reply {
            conversation_id: Some(conversation_id),
            third_party_conversation_id: Some(tpcid),
            msisdn_token,
            ..Reply::new("INS-0")
        }
        .into_response_for(Kind::Create);
    }
    Reply {
        transaction_id: Some(transaction_id.unwrap_or_else(|| "N/A".into())),
        conversation_id: Some(conversation_id),
        third_party_conversation_id: Some(tpcid),
        msisdn_token,
        ..Reply::new(code)
    }
    .into_response_for(Kind::Create)
}

/// Settles the pending transaction at `index` after the result delay, journals the settlement
/// and posts the result (also for one read back from the journal at start).
pub(crate) fn settle_later(state: &Shared, index: usize) {
    let (conversation_id, tpcid, token) = {
        let ledger = state.ledger();
        let txn = ledger.get(index);
        (
            txn.conversation_id.clone(),
            txn.third_party_conversation_id.clone(),
            txn.msisdn_token.clone(),
        )
    };
    callback::schedule(state, conversation_id, tpcid, move |state| {
        let mut ledger = state.ledger();
        let was_pending = ledger.get(index).state == TxnState::Pending;
        let code = ledger.settle(index, new_transaction_id());
        if was_pending {
            state.journal.append(&ledger.journal_settlement(index));
        }
        let transaction_id = match code {
            "INS-0" => ledger.get(index).transaction_id.clone(),
            _ => None,
        };
        callback::Result {
            code,
            transaction_id: transaction_id.unwrap_or_else(|| "N/A".into()),
            response_style: false,
            extras: token
                .map(|t| vec![("input_MsisdnToken", t)])
                .unwrap_or_default(),
        }
    });
}

pub(crate) fn pending(market: &'static Market, service_provider: &str, tpcid: &str) -> Txn {
    Txn {
        kind: TxnKind::C2b,
        market,
        service_provider: service_provider.to_owned(),
        amount: Decimal::ZERO,
        debit: String::new(),
        credit: String::new(),
        customer: None,
        transaction_id: None,
        conversation_id: new_hex_id(),
        third_party_conversation_id: tpcid.to_owned(),
        state: TxnState::Pending,
        reversed: Decimal::ZERO,
        msisdn_token: None,
    }
}

async fn c2b(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (market, r) = match open::<wire::C2bRequest>(&state, &env, &market, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let checks: [wire::Check<'_>; 8] = [
        (r.amount.as_ref(), &wire::is_amount, "INS-15"),
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (r.currency.as_ref(), &|c| c == market.currency, "INS-26"),
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
        (
            r.third_party_conversation_id.as_ref(),
            &|t| wire::is_text(t, 40),
            "INS-28",
        ),
        (
            r.transaction_reference.as_ref(),
            &|t| wire::is_text(t, 20),
            "INS-17",
        ),
        (
            r.purchased_items_desc.as_ref(),
            &|t| wire::is_text(t, 256),
            "INS-30",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, r.third_party_conversation_id.clone());
    }
    let (Some(sp), Some(tpcid), Some(msisdn), Some(value)) = (
        &r.service_provider_code,
        &r.third_party_conversation_id,
        &r.customer_msisdn,
        &r.amount,
    ) else {
        return refuse("INS-20", None);
    };
    submit(
        &state,
        Txn {
            kind: TxnKind::C2b,
            amount: amount(value),
            debit: msisdn.clone(),
            credit: sp.clone(),
            customer: Some(msisdn.clone()),
            ..pending(market, sp, tpcid)
        },
        None,
    )
}

async fn b2c(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (market, r) = match open::<wire::B2cRequest>(&state, &env, &market, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let checks: [wire::Check<'_>; 8] = [
        (r.amount.as_ref(), &wire::is_amount, "INS-15"),
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (r.currency.as_ref(), &|c| c == market.currency, "INS-26"),
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
        (
            r.third_party_conversation_id.as_ref(),
            &|t| wire::is_text(t, 40),
            "INS-28",
        ),
        (
            r.transaction_reference.as_ref(),
            &|t| wire::is_text(t, 20),
            "INS-17",
        ),
        (
            r.payment_items_desc.as_ref(),
            &|t| wire::is_text(t, 256),
            "INS-31",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, r.third_party_conversation_id.clone());
    }
    let (Some(sp), Some(tpcid), Some(msisdn), Some(value)) = (
        &r.service_provider_code,
        &r.third_party_conversation_id,
        &r.customer_msisdn,
        &r.amount,
    ) else {
        return refuse("INS-20", None);
    };
    submit(
        &state,
        Txn {
            kind: TxnKind::B2c,
            amount: amount(value),
            debit: sp.clone(),
            credit: msisdn.clone(),
            customer: Some(msisdn.clone()),
            ..pending(market, sp, tpcid)
        },
        None,
    )
}

async fn b2b(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (market, r) = match open::<wire::B2bRequest>(&state, &env, &market, &headers, &body).await {
        Ok(ok) => ok,
        Err(response) => return *response,
    };
    let checks: [wire::Check<'_>; 8] = [
        (r.amount.as_ref(), &wire::is_amount, "INS-15"),
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (r.currency.as_ref(), &|c| c == market.currency, "INS-26"),
        (
            r.primary_party_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (r.receiver_party_code.as_ref(), &wire::is_code, "INS-13"),
        (
            r.third_party_conversation_id.as_ref(),
            &|t| wire::is_text(t, 40),
            "INS-28",
        ),
        (
            r.transaction_reference.as_ref(),
            &|t| wire::is_text(t, 20),
            "INS-17",
        ),
        (
            r.purchased_items_desc.as_ref(),
            &|t| wire::is_text(t, 256),
            "INS-30",
        ),
    ];
    if let Err(code) = validate(&checks) {
        return refuse(code, r.third_party_conversation_id.clone());
    }
    let (Some(primary), Some(receiver), Some(tpcid), Some(value)) = (
        &r.primary_party_code,
        &r.receiver_party_code,
        &r.third_party_conversation_id,
        &r.amount,
    ) else {
        return refuse("INS-20", None);
    };
    if primary == receiver {
        return refuse("INS-13", Some(tpcid.clone()));
    }
    submit(
        &state,
        Txn {
            kind: TxnKind::B2b,
            amount: amount(value),
            debit: primary.clone(),
            credit: receiver.clone(),
            ..pending(market, primary, tpcid)
        },
        None,
    )
}

async fn reversal(
    State(state): State<Shared>,
    Path((env, market)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (market, r) =
        match open::<wire::ReversalRequest>(&state, &env, &market, &headers, &body).await {
            Ok(ok) => ok,
            Err(response) => return *response,
        };
    let checks: [wire::Check<'_>; 4] = [
        (r.country.as_ref(), &|c| c == market.country, "INS-998"),
        (
            r.service_provider_code.as_ref(),
            &|c| wire::is_code(c) && state.is_service_provider(c),
            "INS-13",
        ),
        (
            r.third_party_conversation_id.as_ref(),
            &|t| wire::is_text(t, 40),
            "INS-28",
        ),
        (
            r.transaction_id.as_ref(),
            &|t| wire::is_alnum(t, 20),
            "INS-18",
        ),
    ];
    let tpcid = r.third_party_conversation_id.clone();
    if let Err(code) = validate(&checks) {
        return refuse(code, tpcid);
    }
    if let Some(value) = r.reversal_amount.as_deref().filter(|v| !v.is_empty()) {
        if !wire::is_amount(value) {
            return refuse("INS-15", tpcid);
        }
    }
    let (Some(sp), Some(tpcid), Some(transaction_id)) = (
        &r.service_provider_code,
        &r.third_party_conversation_id,
        &r.transaction_id,
    ) else {
        return refuse("INS-20", None);
    };
    let original = {
        let ledger = state.ledger();
        ledger
            .by_transaction_id(transaction_id)
            .map(|i| (i, ledger.get(i).clone()))
    };
    let Some((index, original)) = original.filter(|(_, t)| t.market == market) else {
        return refuse("INS-18", Some(tpcid.clone()));
    };
    if original.service_provider != *sp || matches!(original.kind, TxnKind::Reversal(_)) {
        return refuse("INS-35", Some(tpcid.clone()));
    }
    let value = match r.reversal_amount.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => amount(v),
        // The full amount still unreversed (a fully reversed one then fails with INS-6).
        None if original.reversed < original.amount => original.amount - original.reversed,
        None => original.amount,
    };
    submit(
        &state,
        Txn {
            kind: TxnKind::Reversal(index),
            amount: value,
            debit: original.credit.clone(),
            credit: original.debit.clone(),
            ..pending(market, sp, tpcid)
        },
        None,
    )
}
