//! Transactions: `POST /transactions/type/{type}` (and the deprecated `POST /transactions`), read, cancelled
//! while pending, and reversed. A transaction moves money between two accounts of the ledger once it is
//! processed, after every rule has been checked at that moment: account state, limits, funds, an authorisation
//! code (`oneTimeCode`), a link (`linkref`), a debit mandate (`mandatereference`), a quotation and the KYC
//! rules of an international transfer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{Kyc, Party, TransactionRequest, TransactionType};
use mmapi_core::{Currency, ErrorCategory, ErrorCode, GsmaError, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::consents::{redeems_codes, Consents};
use super::ledger::Ledger;
use super::quotations::Quotations;
use super::requests::{accepted, begin, complete_later};
use super::{answer, lock, new_reference, AsyncHeaders, Sim, SimError};

/// Countries whose senders, nationals or documents the simulator refuses (test data).
pub(crate) const REFUSED_COUNTRIES: [&str; 2] = ["KP", "IR"];
/// ID documents an international transfer accepts.
const ACCEPTED_ID_DOCUMENTS: [&str; 4] = [
    "passport",
    "nationalidcard",
    "drivinglicence",
    "alienregistration",
];

/// How money moves for a transaction, once known.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Movement {
    payer_id: String,
    payee_id: String,
    debit: Decimal,
    credit: Decimal,
}

/// Every transaction: its representation, and how its money moved.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Transactions {
    by_ref: HashMap<String, Value>,
    moved: HashMap<String, Movement>,
    /// Amount already reversed, per original.
    reversed: HashMap<String, Decimal>,
    cancelled: std::collections::HashSet<String>,
}

impl Transactions {
    /// The transactions an account paid or was paid by, newest first.
    pub(crate) fn of_account(&self, account_id: &str) -> Vec<Value> {
        let mut list: Vec<Value> = self
            .moved
            .iter()
            .filter(|(_, m)| m.payer_id == account_id || m.payee_id == account_id)
            .filter_map(|(r, _)| self.by_ref.get(r).cloned())
            .collect();
        list.sort_by(|a, b| b["creationDate"].as_str().cmp(&a["creationDate"].as_str()));
        list
    }

    /// Fails the transaction `reference` if it is still pending: a restart interrupted it before it was
    /// processed, so it moved no money.
    pub(crate) fn fail_interrupted(&mut self, reference: &str) {
        if let Some(object) = self.by_ref.get_mut(reference) {
            if object["transactionStatus"] == "pending" {
                object["transactionStatus"] = json!("failed");
                object["modificationDate"] = json!(Timestamp::now());
            }
        }
    }
}

fn business(code: ErrorCode, description: impl Into<String>) -> GsmaError {
    GsmaError::new(ErrorCategory::BusinessRule, code, description)
}

fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

fn party_value<'a>(parties: &'a [Party], key: &str) -> Option<&'a str> {
    parties
        .iter()
        .find(|p| p.key.eq_ignore_ascii_case(key))
        .map(|p| p.value.as_str())
}

/// The account a party list names directly (no `linkref`, no `mandatereference`).
fn direct(ledger: &Ledger, parties: &[Party]) -> Option<String> {
    ledger.find_all(parties).map(|a| a.id.clone())
}

/// `POST /transactions/type/{type}`
pub(crate) async fn create(
    State(sim): State<Arc<Sim>>,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let transaction_type: TransactionType =
        serde_json::from_value(json!(type_name)).map_err(|_| {
            GsmaError::format(
                "transactionType",
                format!("'{type_name}' is not a transaction type"),
            )
        })?;
    let request = mmapi_core::parse::transaction_request(&body)?;
    start(&sim, transaction_type, request, &headers).map_err(SimError)
}

/// `POST /transactions` (deprecated): the type in the body.
pub(crate) async fn create_untyped(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let value = super::json_body(&body)?;
    let transaction_type: TransactionType = value
        .get("type")
        .cloned()
        .ok_or_else(|| GsmaError::mandatory("type"))
        .and_then(|t| {
            serde_json::from_value(t)
                .map_err(|_| GsmaError::format("type", "not a transaction type"))
        })?;
    let request = mmapi_core::parse::transaction_request(&body)?;
    start(&sim, transaction_type, request, &headers).map_err(SimError)
}

/// Checks what can be checked at once, records the transaction pending and processes it later.
fn start(
    sim: &Arc<Sim>,
    transaction_type: TransactionType,
    request: TransactionRequest,
    headers: &HeaderMap,
) -> Result<Response, GsmaError> {
    let headers = AsyncHeaders::read(headers)?;
    check_parties(sim, transaction_type, &request)?;
    let reference = new_reference();
    let object = pending_object(&request, transaction_type, &reference);
    let (id, state) = record_pending(sim, &headers, &reference, object)?;
    complete_later(sim, id, move |sim| {
        process(sim, &reference, transaction_type, &request)
    });
    Ok(accepted(state))
}

/// Checks that a transaction names both parties and that each names something that exists (a link or a
/// mandate is checked in full when the transaction is processed).
fn check_parties(
    sim: &Sim,
    transaction_type: TransactionType,
    request: &TransactionRequest,
) -> Result<(), GsmaError> {
    let debit = request
        .debit_party
        .as_deref()
        .ok_or_else(|| GsmaError::mandatory("debitParty"))?;
    let credit = request
        .credit_party
        .as_deref()
        .ok_or_else(|| GsmaError::mandatory("creditParty"))?;
    if transaction_type == TransactionType::Reversal {
        return Err(GsmaError::transaction_type(
            "A reversal is made with POST /transactions/{transactionReference}/reversals",
        ));
    }
    let consents = lock(&sim.consents);
    let ledger = lock(&sim.ledger);
    for (parties, field) in [(debit, "debitParty"), (credit, "creditParty")] {
        let known = if let Some(link) = party_value(parties, "linkref") {
            consents.has_link(link)
        } else if let Some(mandate) = party_value(parties, "mandatereference") {
            consents.has_mandate(mandate)
        } else {
            ledger.find_all(parties).is_some()
        };
        if !known {
            return Err(
                GsmaError::not_found(format!("No account has the {field}'s identifiers"))
                    .with_param("field", field),
            );
        }
    }
    Ok(())
}

/// A new transaction's representation, pending.
fn pending_object(
    request: &TransactionRequest,
    transaction_type: TransactionType,
    reference: &str,
) -> Value {
    let now = Timestamp::now();
    let mut object = serde_json::to_value(request).unwrap_or_else(|_| json!({}));
    object["transactionReference"] = json!(reference);
    object["type"] = json!(transaction_type);
    object["transactionStatus"] = json!("pending");
    object["creationDate"] = json!(now);
    object["modificationDate"] = json!(now);
    object
}

/// Makes and processes a transaction at once (a batch item): the reference and the completed transaction, or
/// why it was refused (with its reference when it was recorded).
pub(crate) fn run_now(
    sim: &Sim,
    transaction_type: TransactionType,
    request: &TransactionRequest,
) -> Result<(String, Value), (Option<String>, GsmaError)> {
    check_parties(sim, transaction_type, request).map_err(|e| (None, e))?;
    let reference = new_reference();
    let object = pending_object(request, transaction_type, &reference);
    lock(&sim.transactions)
        .by_ref
        .insert(reference.clone(), object);
    match process(sim, &reference, transaction_type, request) {
        Ok(view) => Ok((reference, view)),
        Err(e) => Err((Some(reference), e)),
    }
}

/// Registers the request for a new transaction and records it pending: the request id and state.
fn record_pending(
    sim: &Sim,
    headers: &AsyncHeaders,
    reference: &str,
    object: Value,
) -> Result<(String, Value), GsmaError> {
    let (id, state) = begin(
        sim,
        headers,
        format!("/transactions/{reference}"),
        reference,
    )?;
    lock(&sim.transactions)
        .by_ref
        .insert(reference.to_owned(), object);
    Ok((id, state))
}

/// Processes a transaction: every rule checked now, then the money moved and the transaction completed, or it
/// fails with the first rule it breaks. Locks are taken in one order: consents, quotations, ledger,
/// transactions.
fn process(
    sim: &Sim,
    reference: &str,
    transaction_type: TransactionType,
    request: &TransactionRequest,
) -> Result<Value, GsmaError> {
    let mut consents = lock(&sim.consents);
    let quotations = lock(&sim.quotations);
    let mut ledger = lock(&sim.ledger);
    let mut transactions = lock(&sim.transactions);
    let outcome = if transactions.cancelled.contains(reference) {
        Err(business(
            ErrorCode::GenericError,
            "The transaction was cancelled by the client",
        ))
    } else {
        decide(&consents, &quotations, &ledger, transaction_type, request)
    };
    let now = Timestamp::now();
    let Some(object) = transactions.by_ref.get_mut(reference) else {
        return Err(GsmaError::internal());
    };
    object["modificationDate"] = json!(now);
    match outcome {
        Ok(movement) => {
            ledger.transfer(
                &movement.payer_id,
                &movement.payee_id,
                movement.debit,
                movement.credit,
                day_of(now.millis()),
            );
            if let Some(code) = &request.one_time_code {
                consents.redeem_code(code);
            }
            if let Some(mandate) = request
                .debit_party
                .as_deref()
                .and_then(|d| party_value(d, "mandatereference"))
            {
                consents.count_mandate_payment(mandate);
            }
            object["transactionStatus"] = json!("completed");
            object["transactionReceipt"] =
                json!(format!("SIM{}", &reference[20..].to_ascii_uppercase()));
            let view = object.clone();
            transactions.moved.insert(reference.to_owned(), movement);
            Ok(view)
        }
        Err(error) => {
            object["transactionStatus"] = json!("failed");
            Err(error)
        }
    }
}

/// Which accounts pay and are paid, and how much, if every rule allows it.
fn decide(
    consents: &Consents,
    quotations: &Quotations,
    ledger: &Ledger,
    transaction_type: TransactionType,
    request: &TransactionRequest,
) -> Result<Movement, GsmaError> {
    let debit = request.debit_party.as_deref().unwrap_or_default();
    let credit = request.credit_party.as_deref().unwrap_or_default();
    let amount = request.amount.value();
    let currency = request.currency;
    let account_of = |p: &[Party]| direct(ledger, p);
    // The payee first: a mandate is checked against it.
    let payee_id = match party_value(credit, "linkref") {
        Some(link) => {
            let payer_direct = account_of(debit).unwrap_or_default();
            consents.through_link(link, false, &payer_direct, account_of)?
        }
        None => account_of(credit)
            .ok_or_else(|| GsmaError::not_found("No account has the creditParty's identifiers"))?,
    };
    let payer_id = if let Some(link) = party_value(debit, "linkref") {
        consents.through_link(link, true, &payee_id, account_of)?
    } else if let Some(mandate) = party_value(debit, "mandatereference") {
        consents.under_mandate(mandate, amount, currency, &payee_id, account_of)?
    } else {
        account_of(debit)
            .ok_or_else(|| GsmaError::not_found("No account has the debitParty's identifiers"))?
    };
    // A payment the payer must approve (no code, no mandate) is declined by a payer who declines everything.
    let pre_approved =
        request.one_time_code.is_some() || party_value(debit, "mandatereference").is_some();
    if !pre_approved && ledger.get(&payer_id).is_some_and(|a| a.declines) {
        return Err(GsmaError::new(
            ErrorCategory::Authorisation,
            ErrorCode::RequestDeclined,
            "The payer declined the payment",
        ));
    }
    if let Some(code) = &request.one_time_code {
        if !redeems_codes(transaction_type) {
            return Err(GsmaError::transaction_type(
                "Only a merchantpay or a withdrawal redeems an authorisation code",
            ));
        }
        consents.check_code(
            code,
            &payer_id,
            amount,
            currency,
            &transaction_type.to_string(),
        )?;
    }
    let payer_currency = ledger.get(&payer_id).map(|a| a.currency);
    let payee_currency = ledger.get(&payee_id).map(|a| a.currency);
    if payer_currency != Some(currency) {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::CurrencyNotSupported,
            "The payer's account is in another currency",
        )
        .with_param("field", "currency"));
    }
    let credit_amount = if transaction_type == TransactionType::Inttransfer {
        international(quotations, request, &payer_id, &payee_id, currency)?
    } else if payee_currency != Some(currency) {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::CurrencyNotSupported,
            "The payee's account is in another currency; use an inttransfer with a quotation",
        )
        .with_param("field", "currency"));
    } else {
        amount
    };
    let now = Timestamp::now().millis();
    ledger.check(&payer_id, &payee_id, amount, day_of(now))?;
    Ok(Movement {
        payer_id,
        payee_id,
        debit: amount,
        credit: credit_amount,
    })
}

/// An international transfer: the quotation it cites (unexpired, for these accounts and this amount) and the
/// KYC rules; answers the amount the payee receives.
fn international(
    quotations: &Quotations,
    request: &TransactionRequest,
    payer_id: &str,
    payee_id: &str,
    currency: Currency,
) -> Result<Decimal, GsmaError> {
    let info = request
        .international_transfer_information
        .as_ref()
        .ok_or_else(|| GsmaError::mandatory("internationalTransferInformation"))?;
    if REFUSED_COUNTRIES.contains(&info.origin_country.as_str()) {
        return Err(business(
            ErrorCode::CountryofOriginNotPermitted,
            format!("Transfers from {} are not permitted", info.origin_country),
        ));
    }
    let sender = request
        .sender_kyc
        .as_ref()
        .ok_or_else(|| GsmaError::mandatory("senderKyc"))?;
    check_kyc(sender, "senderKyc")?;
    if let Some(recipient) = &request.recipient_kyc {
        check_kyc(recipient, "recipientKyc")?;
    }
    let (Some(reference), Some(quote_id)) = (&info.quotation_reference, &info.quote_id) else {
        return Err(GsmaError::mandatory(
            "internationalTransferInformation.quotationReference",
        ));
    };
    let quote = quotations.quote(reference, quote_id).ok_or_else(|| {
        GsmaError::not_found("No quotation has this quotationReference and quoteId")
    })?;
    if quote.expires_at_ms <= Timestamp::now().millis() {
        return Err(business(
            ErrorCode::QuoteHasExpired,
            "The quote has expired",
        ));
    }
    if quote.payer_id != payer_id
        || quote.payee_id != payee_id
        || quote.sending_currency != currency
        || quote.sending_amount != request.amount.value()
    {
        return Err(GsmaError::format(
            "internationalTransferInformation.quoteId",
            "The transfer differs from the quote it cites (parties, amount or currency)",
        ));
    }
    Ok(quote.receiving_amount)
}

/// A sender's or recipient's KYC: a nationality and an ID document the simulator accepts.
fn check_kyc(kyc: &Kyc, field: &str) -> Result<(), GsmaError> {
    if let Some(nationality) = &kyc.nationality {
        if REFUSED_COUNTRIES.contains(&nationality.as_str()) {
            return Err(business(
                ErrorCode::NationalityNotPermitted,
                format!("{field}: nationality {nationality} is not permitted"),
            ));
        }
    }
    for document in kyc.id_document.iter().flatten() {
        let id_type = serde_json::to_value(document.id_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if !ACCEPTED_ID_DOCUMENTS.contains(&id_type.as_str()) {
            return Err(business(
                ErrorCode::IdDocumentNotSupported,
                format!("{field}: a {id_type} is not accepted"),
            ));
        }
        if document
            .issuer_country
            .as_deref()
            .is_some_and(|c| REFUSED_COUNTRIES.contains(&c))
        {
            return Err(business(
                ErrorCode::IssuingCountryNotSupported,
                format!("{field}: documents issued there are not accepted"),
            ));
        }
    }
    Ok(())
}

/// `GET /transactions/{transactionReference}`
pub(crate) async fn read(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
) -> Result<Response, SimError> {
    let view = lock(&sim.transactions).by_ref.get(&reference).cloned();
    view.map(|v| answer(StatusCode::OK, v))
        .ok_or_else(|| SimError(GsmaError::not_found("No such transaction")))
}

/// `PATCH /transactions/{transactionReference}`: `/transactionStatus` → `cancelled`, while it is pending.
pub(crate) async fn patch(
    State(sim): State<Arc<Sim>>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Result<Response, SimError> {
    let value = mmapi_core::patch::single_replace(&body, "/transactionStatus")?;
    if value != "cancelled" {
        return Err(
            GsmaError::format("transactionStatus", "a transaction can only be cancelled").into(),
        );
    }
    let mut transactions = lock(&sim.transactions);
    let status = transactions
        .by_ref
        .get(&reference)
        .map(|t| t["transactionStatus"].clone())
        .ok_or_else(|| GsmaError::not_found("No such transaction"))?;
    if status != "pending" {
        return Err(business(
            ErrorCode::IncorrectState,
            "Only a pending transaction can be cancelled",
        )
        .into());
    }
    transactions.cancelled.insert(reference);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /transactions/{transactionReference}/reversals`: the money moves back, in full or in part.
pub(crate) async fn reverse(
    State(sim): State<Arc<Sim>>,
    Path(original): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    let headers = AsyncHeaders::read(&headers)?;
    let request = mmapi_core::parse::reversal_request(&body)?;
    let (original_view, movement) = {
        let transactions = lock(&sim.transactions);
        let view = transactions
            .by_ref
            .get(&original)
            .cloned()
            .ok_or_else(|| GsmaError::not_found("No such transaction"))?;
        (view, transactions.moved.get(&original).cloned())
    };
    let movement = movement.ok_or_else(|| {
        business(
            ErrorCode::IncorrectState,
            "Only a completed transaction can be reversed",
        )
    })?;
    let amount = request
        .amount
        .as_ref()
        .map(mmapi_core::Amount::value)
        .unwrap_or(movement.debit);
    if amount <= Decimal::ZERO || amount > movement.debit {
        return Err(
            GsmaError::format("amount", "A reversal is at most the original amount").into(),
        );
    }
    let reference = new_reference();
    let now = Timestamp::now();
    let object = json!({
        "transactionReference": reference,
        "originalTransactionReference": original,
        "type": request.reversal_type,
        "transactionStatus": "pending",
        "amount": mmapi_core::Amount::from_decimal(amount).map(|a| a.as_str().to_owned()).unwrap_or_default(),
        "currency": original_view["currency"],
        "debitParty": original_view["creditParty"],
        "creditParty": original_view["debitParty"],
        "creationDate": now,
        "modificationDate": now,
    });
    let (id, state) = record_pending(&sim, &headers, &reference, object)?;
    complete_later(&sim, id, move |sim| {
        let mut ledger = lock(&sim.ledger);
        let mut transactions = lock(&sim.transactions);
        let done = transactions
            .reversed
            .get(&original)
            .copied()
            .unwrap_or_default();
        // Back from the payee in its currency, in proportion for an international transfer.
        let back = if movement.debit.is_zero() {
            Decimal::ZERO
        } else {
            (movement.credit * amount / movement.debit).round_dp(4)
        };
        let outcome = if done + amount > movement.debit {
            Err(business(
                ErrorCode::IncorrectState,
                "The transaction is already reversed",
            ))
        } else {
            let payee = ledger
                .get(&movement.payee_id)
                .map(|a| a.balance)
                .unwrap_or_default();
            if payee < back {
                Err(business(
                    ErrorCode::InsufficientFunds,
                    "The payee has not enough funds to reverse",
                ))
            } else {
                Ok(())
            }
        };
        let now = Timestamp::now();
        match outcome {
            Ok(()) => {
                ledger.transfer(
                    &movement.payee_id,
                    &movement.payer_id,
                    back,
                    amount,
                    day_of(now.millis()),
                );
                let total = done + amount;
                transactions.reversed.insert(original.clone(), total);
                transactions.moved.insert(
                    reference.clone(),
                    Movement {
                        payer_id: movement.payee_id.clone(),
                        payee_id: movement.payer_id.clone(),
                        debit: back,
                        credit: amount,
                    },
                );
                if total == movement.debit {
                    if let Some(o) = transactions.by_ref.get_mut(&original) {
                        o["transactionStatus"] = json!("reversed");
                        o["modificationDate"] = json!(now);
                    }
                }
                let Some(r) = transactions.by_ref.get_mut(&reference) else {
                    return Err(GsmaError::internal());
                };
                r["transactionStatus"] = json!("completed");
                r["modificationDate"] = json!(now);
                Ok(r.clone())
            }
            Err(error) => {
                if let Some(r) = transactions.by_ref.get_mut(&reference) {
                    r["transactionStatus"] = json!("failed");
                }
                Err(error)
            }
        }
    });
    Ok(accepted(state))
}
