//! Reversal: `POST /mpesa/reversal/v1/request`.
//!
//! Reverses a completed transaction (`TransactionID`, its receipt) that involved
//! `ReceiverParty`: the money moves back from the original's credit party to its debit party.
//! Only whole reversals (`Amount` equal to the original's) are simulated. Outcomes:
//! [`outcomes`].

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};

use super::{
    ids,
    ledger::{self, Accounts, OrgAccount, Party, TxnRecord},
    oauth::{self, BadToken},
    outcomes::{self, ResultOutcome},
    results::{self, Context, Decision, Submission},
    wire::{
        self, text_of, AsyncAck, Code, KeyValue, OneOrMany, ReferenceData, Rejection, ResultBody,
        ResultEnvelope, ResultParameters, ReversalRequest, Scalar, Val,
    },
    Shared,
};

/// Routes of Reversal.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(
        "/mpesa/reversal/v1/request",
        post(request).fallback(wire::method_not_allowed),
    )
}

const COMMAND: &str = "TransactionReversal";

/// A validated reversal request.
struct Reversal {
    transaction_id: String,
    amount: u64,
    receiver_party: String,
}

fn validate(req: &ReversalRequest) -> Result<(Reversal, Submission), Rejection> {
    let (initiator, credential) =
        results::initiator_fields(&req.initiator, "Initiator", &req.security_credential)?;
    wire::one_of(&req.command_id, &[COMMAND]).ok_or_else(|| Rejection::invalid("CommandID"))?;
    let transaction_id = text_of(&req.transaction_id)
        .filter(|t| t.len() <= 20 && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or_else(|| Rejection::invalid("TransactionID"))?
        .into_owned();
    let amount = req
        .amount
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|a| *a >= 1)
        .ok_or_else(|| Rejection::invalid("Amount"))?;
    let receiver_party =
        wire::digits_of(&req.receiver_party).ok_or_else(|| Rejection::invalid("ReceiverParty"))?;
    wire::one_of(&req.reciever_identifier_type, &["11", "4"])
        .ok_or_else(|| Rejection::invalid("RecieverIdentifierType"))?;
    results::remarks(&req.remarks, 2)?;
    wire::http_url(&req.queue_time_out_url).ok_or_else(|| Rejection::invalid("QueueTimeOutURL"))?;
    let result_url =
        wire::http_url(&req.result_url).ok_or_else(|| Rejection::invalid("ResultURL"))?;
    Ok((
        Reversal {
            transaction_id,
            amount,
            receiver_party,
        },
        Submission {
            api: "reversal",
            initiator,
            credential,
            originator_conversation_id: None,
            result_url,
            ack_description: results::ACCEPTED,
        },
    ))
}

/// `POST /mpesa/reversal/v1/request`
async fn request(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::NotFound)?;
    let req: ReversalRequest = wire::parse_body(&body)?;
    let (reversal, submission) = validate(&req)?;
    results::submit(&sim, submission, |accounts, ctx| {
        decide(&reversal, accounts, ctx)
    })
    .await
}

/// The outcome and, when it succeeds, the parties of the reversing transaction (debit,
/// credit).
fn outcome(
    reversal: &Reversal,
    accounts: &Accounts,
    ctx: &Context,
) -> Result<(Party, Party), ResultOutcome> {
    if !ctx.initiator_valid {
        return Err(outcomes::INITIATOR_INVALID);
    }
    if !accounts.is_org(&reversal.receiver_party) {
        return Err(outcomes::INITIATOR_NOT_ALLOWED);
    }
    let receiver = reversal.receiver_party.as_str();
    let original = accounts
        .by_receipt(&reversal.transaction_id)
        .filter(|t| {
            let r = &t.record;
            r.command != COMMAND
                && (r.debit.org() == Some(receiver) || r.credit.org() == Some(receiver))
                && r.amount_cents == ledger::cents(reversal.amount)
        })
        .ok_or(outcomes::INVALID_ORIGINAL)?;
    if original.reversed {
        return Err(outcomes::ALREADY_REVERSED);
    }
    let debit = original.record.credit.clone();
    let credit = original.record.debit.clone();
    if !accounts.can_pay(&debit, original.record.amount_cents) {
        return Err(outcomes::INSUFFICIENT_BALANCE);
    }
    Ok((debit, credit))
}

fn decide(reversal: &Reversal, accounts: &mut Accounts, ctx: &Context) -> Decision {
    let decided = outcome(reversal, accounts, ctx);
    let receipt = accounts.new_receipt();
    let queue_item = KeyValue::new("QueueTimeoutURL", results::REVERSAL_QUEUE_URL);
    let (outcome, transaction_id, result_parameters, txn) = match decided {
        Err(outcome) => (outcome, ids::placeholder(&receipt), None, None),
        Ok((debit, credit)) => {
            let receipt = ids::receipt_str(&receipt).to_owned();
            let txn = TxnRecord {
                command: COMMAND.to_owned(),
                receipt: receipt.clone(),
                completed: true,
                result_code: "0".to_owned(),
                debit,
                credit,
                amount_cents: ledger::cents(reversal.amount),
                charge_cents: 0,
                org: reversal.receiver_party.clone(),
                originator_conversation_id: Some(ctx.originator_conversation_id.clone()),
                conversation_id: Some(ctx.conversation_id.clone()),
                initiated_ms: ctx.now_ms,
                finalised_ms: ctx.resolve_at_ms,
                reverses: Some(reversal.transaction_id.clone()),
            };
            accounts.apply(txn.clone());
            // The receiver's account that the reversal touched.
            let account = match (&txn.debit, &txn.credit) {
                (Party::Org(sc, a), _) if **sc == *reversal.receiver_party => *a,
                (_, Party::Org(sc, a)) if **sc == *reversal.receiver_party => *a,
                _ => OrgAccount::Utility,
            };
            let parameters = vec![
                KeyValue::new(
                    "DebitAccountBalance",
                    accounts.account_line(&reversal.receiver_party, account),
                ),
                KeyValue::new("Amount", Val::decimal(ledger::kes(txn.amount_cents))),
                KeyValue::new(
                    "TransCompletedTime",
                    Val::timestamp_number(&results::timestamp(ctx.resolve_at_ms)),
                ),
                KeyValue::new("OriginalTransactionID", reversal.transaction_id.as_str()),
                KeyValue::new("Charge", Val::decimal(ledger::kes(0))),
                KeyValue::new("CreditPartyPublicName", txn.credit.public_name()),
                KeyValue::new("DebitPartyPublicName", txn.debit.public_name()),
            ];
            (
                outcomes::PROCESSED,
                receipt,
                Some(ResultParameters {
                    result_parameter: OneOrMany::Many(parameters),
                }),
                Some(txn),
            )
        }
    };
    Decision {
        result: ResultEnvelope {
            result: ResultBody {
                result_type: Code::Number(0),
                result_code: Code::of(outcome.result_code, false),
                result_desc: outcome.result_desc,
                originator_conversation_id: ctx.originator_conversation_id.clone(),
                conversation_id: ctx.conversation_id.clone(),
                transaction_id,
                result_parameters,
                reference_data: ReferenceData {
                    reference_item: OneOrMany::One(queue_item),
                },
            },
        },
        sends_result: outcome.sends_result,
        txn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let body = serde_json::json!({
            "Initiator": "apiop37", "SecurityCredential": "abc",
            "CommandID": "TransactionReversal", "TransactionID": "PDU91HIVIT", "Amount": "200",
            "ReceiverParty": "603021", "RecieverIdentifierType": "11",
            "ResultURL": "https://x.example/r", "QueueTimeOutURL": "https://x.example/q",
            "Remarks": "Payment reversal"
        });
        let check = |j: serde_json::Value| {
            let req: ReversalRequest = serde_json::from_value(j).expect("parses");
            validate(&req).err().map(|r| r.message().to_owned())
        };
        assert_eq!(check(body.clone()), None);
        for (field, value) in [
            ("CommandID", serde_json::json!("Reversal")),
            ("TransactionID", serde_json::json!("")),
            ("Amount", serde_json::json!("1.5")),
            ("ReceiverParty", serde_json::json!("abc")),
            ("RecieverIdentifierType", serde_json::json!("1")),
            ("Remarks", serde_json::json!("x")),
        ] {
            let mut j = body.clone();
            j[field] = value;
            assert_eq!(
                check(j),
                Some(format!("Bad Request - Invalid {field}")),
                "{field}"
            );
        }
    }
}
