//! B2B: `POST /mpesa/b2b/v1/paymentrequest` (`BusinessPayBill`, `BusinessBuyGoods`, and
//! `BusinessPayToBulk`, the B2C account top-up).
//!
//! `PartyA` pays from its Working account to `PartyB`'s Working account (`BusinessPayToBulk`:
//! to its Utility account). Both must be simulated organisations. Outcomes:
//! [`outcomes`].

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};

use super::{
    ids,
    ledger::{self, Accounts, OrgAccount, Party, TxnRecord},
    oauth::{self, BadToken},
    outcomes::{self, ResultOutcome},
    results::{self, Context, Decision, Submission},
    wire::{
        self, text_of, AsyncAck, B2bRequest, Code, KeyValue, OneOrMany, ReferenceData, Rejection,
        ResultBody, ResultEnvelope, ResultParameters, Scalar, Val,
    },
    Shared,
};

/// Routes of B2B.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(
        "/mpesa/b2b/v1/paymentrequest",
        post(payment).fallback(wire::method_not_allowed),
    )
}

const PAY_BILL: &str = "BusinessPayBill";
const BUY_GOODS: &str = "BusinessBuyGoods";
const PAY_TO_BULK: &str = "BusinessPayToBulk";

/// A validated B2B request.
struct B2b {
    command: &'static str,
    amount: u64,
    party_a: String,
    party_b: String,
    account_reference: Option<String>,
}

/// Validates the body in the order of Daraja's field table; returns the request and the
/// submission details.
fn validate(req: &B2bRequest) -> Result<(B2b, Submission), Rejection> {
    let (initiator, credential) =
        results::initiator_fields(&req.initiator, "Initiator", &req.security_credential)?;
    let command = wire::one_of(&req.command_id, &[PAY_BILL, BUY_GOODS, PAY_TO_BULK])
        .ok_or_else(|| Rejection::invalid("CommandID"))?;
    wire::one_of(&req.sender_identifier_type, &["4"])
        .ok_or_else(|| Rejection::invalid("SenderIdentifierType"))?;
    wire::one_of(&req.reciever_identifier_type, &["4"])
        .ok_or_else(|| Rejection::invalid("RecieverIdentifierType"))?;
    let amount = req
        .amount
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|a| *a >= 1)
        .ok_or_else(|| Rejection::invalid("Amount"))?;
    let party_a = wire::digits_of(&req.party_a).ok_or_else(|| Rejection::invalid("PartyA"))?;
    let party_b = wire::digits_of(&req.party_b).ok_or_else(|| Rejection::invalid("PartyB"))?;
    let account_reference = match text_of(&req.account_reference) {
        Some(r) if r.chars().count() <= 13 => Some(r.into_owned()),
        None if command != PAY_BILL => None,
        _ => return Err(Rejection::invalid("AccountReference")),
    };
    if text_of(&req.requester).is_some_and(|r| !ledger::is_msisdn(&r)) {
        return Err(Rejection::invalid("Requester"));
    }
    results::remarks(&req.remarks, 1)?;
    wire::http_url(&req.queue_time_out_url).ok_or_else(|| Rejection::invalid("QueueTimeOutURL"))?;
    let result_url =
        wire::http_url(&req.result_url).ok_or_else(|| Rejection::invalid("ResultURL"))?;
    results::optional_text(&req.occassion, "Occassion")?;
    results::optional_text(&req.occasion, "Occasion")?;
    Ok((
        B2b {
            command,
            amount,
            party_a,
            party_b,
            account_reference,
        },
        Submission {
            api: "b2b",
            initiator,
            credential,
            originator_conversation_id: None,
            result_url,
            ack_description: results::ACCEPTED,
        },
    ))
}

/// `POST /mpesa/b2b/v1/paymentrequest`
async fn payment(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::NotFound)?;
    let req: B2bRequest = wire::parse_body(&body)?;
    let (b2b, submission) = validate(&req)?;
    results::submit(&sim, submission, |accounts, ctx| {
        decide(&b2b, accounts, ctx)
    })
    .await
}

fn parties(b2b: &B2b) -> (Party, Party) {
    let credit_account = if b2b.command == PAY_TO_BULK {
        OrgAccount::Utility
    } else {
        OrgAccount::Working
    };
    (
        Party::Org(b2b.party_a.as_str().into(), OrgAccount::Working),
        Party::Org(b2b.party_b.as_str().into(), credit_account),
    )
}

fn outcome(b2b: &B2b, accounts: &Accounts, ctx: &Context) -> ResultOutcome {
    if !ctx.initiator_valid {
        return outcomes::INITIATOR_INVALID;
    }
    if !accounts.is_org(&b2b.party_a) {
        return outcomes::INITIATOR_NOT_ALLOWED;
    }
    if !accounts.is_org(&b2b.party_b) {
        return outcomes::OPERATOR_DOES_NOT_EXIST;
    }
    if !accounts.can_pay(&parties(b2b).0, ledger::cents(b2b.amount)) {
        return outcomes::INSUFFICIENT_BALANCE;
    }
    outcomes::PROCESSED
}

/// `{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}` (a Java map
/// string; `MinimumAmount` is in cents).
fn java_amount(cents: ledger::Cents) -> String {
    format!(
        "{{Amount={{CurrencyCode=KES, MinimumAmount={cents}, BasicAmount={}}}}}",
        ledger::kes(cents)
    )
}

fn decide(b2b: &B2b, accounts: &mut Accounts, ctx: &Context) -> Decision {
    let outcome = outcome(b2b, accounts, ctx);
    let success = outcome.result_code.is_success();
    let (debit, credit) = parties(b2b);
    let receipt = accounts.new_receipt();
    let transaction_id = if success {
        ids::receipt_str(&receipt).to_owned()
    } else {
        ids::placeholder(&receipt)
    };
    let txn = TxnRecord {
        command: b2b.command.to_owned(),
        receipt: ids::receipt_str(&receipt).to_owned(),
        completed: success,
        result_code: outcome.result_code.to_string(),
        debit,
        credit,
        amount_cents: ledger::cents(b2b.amount),
        charge_cents: 0,
        org: b2b.party_a.clone(),
        originator_conversation_id: Some(ctx.originator_conversation_id.clone()),
        conversation_id: Some(ctx.conversation_id.clone()),
        initiated_ms: ctx.now_ms,
        finalised_ms: ctx.resolve_at_ms,
        reverses: None,
    };
    accounts.apply(txn.clone());
    let completed_time = results::timestamp(ctx.resolve_at_ms);
    let queue_item = KeyValue::new("QueueTimeoutURL", results::AB_QUEUE_URL);
    // Daraja's success sample: string codes, a parameter array and a reference array; its
    // failure sample: number codes and single objects.
    let body = if success {
        let working = accounts.balance(&txn.debit).unwrap_or(0);
        let mut references = Vec::with_capacity(2);
        if let Some(r) = &b2b.account_reference {
            references.push(KeyValue::new("BillReferenceNumber", r.as_str()));
        }
        references.push(queue_item);
        ResultBody {
            result_type: Code::of(outcomes::PROCESSED.result_code, true),
            result_code: Code::of(outcome.result_code, true),
            result_desc: results::PROCESSED_AB,
            originator_conversation_id: ctx.originator_conversation_id.clone(),
            conversation_id: ctx.conversation_id.clone(),
            transaction_id,
            result_parameters: Some(ResultParameters {
                result_parameter: OneOrMany::Many(vec![
                    KeyValue::new("DebitAccountBalance", java_amount(working)),
                    KeyValue::new("Amount", ledger::kes(txn.amount_cents)),
                    KeyValue::new(
                        "DebitPartyAffectedAccountBalance",
                        accounts.account_line(&b2b.party_a, OrgAccount::Working),
                    ),
                    KeyValue::new("TransCompletedTime", completed_time),
                    KeyValue::new("DebitPartyCharges", ""),
                    KeyValue::new("ReceiverPartyPublicName", txn.credit.public_name()),
                    KeyValue::new("Currency", "KES"),
                    KeyValue::new("InitiatorAccountCurrentBalance", java_amount(working)),
                ]),
            }),
            reference_data: ReferenceData {
                reference_item: OneOrMany::Many(references),
            },
        }
    } else {
        ResultBody {
            result_type: Code::Number(0),
            result_code: Code::of(outcome.result_code, false),
            result_desc: outcome.result_desc,
            originator_conversation_id: ctx.originator_conversation_id.clone(),
            conversation_id: ctx.conversation_id.clone(),
            transaction_id,
            result_parameters: Some(ResultParameters {
                result_parameter: OneOrMany::One(KeyValue::new(
                    "BOCompletedTime",
                    Val::timestamp_number(&completed_time),
                )),
            }),
            reference_data: ReferenceData {
                reference_item: OneOrMany::One(queue_item),
            },
        }
    };
    Decision {
        result: ResultEnvelope { result: body },
        sends_result: outcome.sends_result,
        txn: Some(txn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> serde_json::Value {
        serde_json::json!({
            "Initiator": "testapi", "SecurityCredential": "abc", "CommandID": "BusinessPayBill",
            "SenderIdentifierType": "4", "RecieverIdentifierType": "4", "Amount": "239",
            "PartyA": "174379", "PartyB": "600000", "AccountReference": "353353",
            "Requester": "254700000000", "Remarks": "OK",
            "QueueTimeOutURL": "http://x.example/q", "ResultURL": "http://x.example/r"
        })
    }

    fn check(json: serde_json::Value) -> String {
        let req: B2bRequest = serde_json::from_value(json).expect("parses");
        match validate(&req) {
            Ok(_) => "accepted".into(),
            Err(r) => r.message().to_owned(),
        }
    }

    #[test]
    fn validation() {
        assert_eq!(check(body()), "accepted");
        let with = |k: &str, v: serde_json::Value| {
            let mut j = body();
            j[k] = v;
            j
        };
        // The corrected spelling is not Daraja's.
        let mut j = body();
        let t = j
            .as_object_mut()
            .and_then(|o| o.remove("RecieverIdentifierType"))
            .unwrap_or_default();
        j["ReceiverIdentifierType"] = t;
        assert_eq!(check(j), "Bad Request - Invalid RecieverIdentifierType");
        for (field, value) in [
            ("Initiator", serde_json::json!(null)),
            ("CommandID", serde_json::json!("BusinessPayment")),
            ("SenderIdentifierType", serde_json::json!("2")),
            ("Amount", serde_json::json!(-1)),
            ("PartyB", serde_json::json!("")),
            ("AccountReference", serde_json::json!("12345678901234")),
            ("Requester", serde_json::json!("12")),
            ("Remarks", serde_json::json!(null)),
            ("ResultURL", serde_json::json!(null)),
        ] {
            assert_eq!(
                check(with(field, value)),
                format!("Bad Request - Invalid {field}")
            );
        }
        let mut j = with("CommandID", serde_json::json!("BusinessBuyGoods"));
        j.as_object_mut().map(|o| o.remove("AccountReference"));
        j["SenderIdentifierType"] = serde_json::json!(4);
        assert_eq!(check(j), "accepted");
        assert_eq!(
            java_amount(618_683),
            "{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}"
        );
    }
}
