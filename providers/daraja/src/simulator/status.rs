//! Transaction Status: `POST /mpesa/transactionstatus/v1/query`.
//!
//! Finds a transaction of `PartyA` by its receipt (`TransactionID`), else by the
//! `OriginalConversationID` (or `OriginatorConversationID`) given, which may be the original's
//! `OriginatorConversationID` or `ConversationID` (for STK: `MerchantRequestID` or
//! `CheckoutRequestID`). This is how a client settles a transaction whose result was lost.

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};

use super::{
    ids,
    ledger::{self, Accounts, Party, Txn},
    oauth::{self, BadToken},
    outcomes,
    results::{self, Context, Decision, Submission},
    wire::{
        self, text_of, AsyncAck, Code, KeyValue, OneOrMany, ReferenceData, Rejection, ResultBody,
        ResultEnvelope, ResultParameters, StatusRequest,
    },
    Shared,
};

/// Routes of Transaction Status.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(
        "/mpesa/transactionstatus/v1/query",
        post(query).fallback(wire::method_not_allowed),
    )
}

/// What to look for.
enum Lookup {
    Receipt(String),
    Conversation(String),
}

/// A validated status query.
struct StatusQuery {
    lookup: Lookup,
    party_a: String,
}

fn validate(req: &StatusRequest) -> Result<(StatusQuery, Submission), Rejection> {
    let (initiator, credential) =
        results::initiator_fields(&req.initiator, "Initiator", &req.security_credential)?;
    wire::one_of(&req.command_id, &["TransactionStatusQuery"])
        .ok_or_else(|| Rejection::invalid("CommandID"))?;
    let lookup = match text_of(&req.transaction_id) {
        Some(receipt) => Lookup::Receipt(receipt.into_owned()),
        None => text_of(&req.original_conversation_id)
            .or_else(|| text_of(&req.originator_conversation_id))
            .map(|id| Lookup::Conversation(id.into_owned()))
            .ok_or_else(|| Rejection::invalid("TransactionID"))?,
    };
    let party_a = wire::digits_of(&req.party_a).ok_or_else(|| Rejection::invalid("PartyA"))?;
    wire::one_of(&req.identifier_type, &["1", "2", "4"])
        .ok_or_else(|| Rejection::invalid("IdentifierType"))?;
    let result_url =
        wire::http_url(&req.result_url).ok_or_else(|| Rejection::invalid("ResultURL"))?;
    wire::http_url(&req.queue_time_out_url).ok_or_else(|| Rejection::invalid("QueueTimeOutURL"))?;
    results::optional_text(&req.remarks, "Remarks")?;
    results::optional_text(&req.occasion, "Occasion")?;
    results::optional_text(&req.occassion, "Occassion")?;
    Ok((
        StatusQuery { lookup, party_a },
        Submission {
            api: "status",
            initiator,
            credential,
            originator_conversation_id: None,
            result_url,
            ack_description: results::ACCEPTED,
        },
    ))
}

/// `POST /mpesa/transactionstatus/v1/query`
async fn query(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: StatusRequest = wire::parse_body(&body)?;
    let (status, submission) = validate(&req)?;
    results::submit(&sim, submission, |accounts, ctx| {
        decide(&status, accounts, ctx)
    })
    .await
}

/// The transaction asked for, if it belongs to `PartyA`.
fn find<'a>(status: &StatusQuery, accounts: &'a Accounts) -> Option<&'a Txn> {
    let txn = match &status.lookup {
        Lookup::Receipt(r) => accounts.by_receipt(r),
        Lookup::Conversation(id) => accounts.by_conversation(id),
    }?;
    (txn.record.org == status.party_a).then_some(txn)
}

/// `ReasonType` of a transaction, by its `CommandID` (the simulator's wording).
fn reason_type(command: &str) -> &'static str {
    match command {
        "BusinessPayment" => "Business Payment to Customer via API",
        "SalaryPayment" => "Salary Payment to Customer via API",
        "PromotionPayment" => "Promotion Payment to Customer via API",
        "BusinessPayToPochi" => "Business Payment to Pochi via API",
        "BusinessPayBill" => "Business Pay Bill",
        "BusinessBuyGoods" => "Business Buy Goods",
        "BusinessPayToBulk" => "Business Pay to Bulk",
        "CustomerBuyGoodsOnline" => "Customer Buy Goods Online",
        "TransactionReversal" => "Reversal",
        _ => "Customer Pay Bill Online",
    }
}

fn account_type(party: &Party) -> &'static str {
    match party {
        Party::Org(_, account) => account.display_name(),
        Party::Customer(_) => "Customer M-PESA Account",
    }
}

/// `DebitPartyCharges`: `Fee For B2C Payment|KES|5.00` as in Daraja's sample, empty when nothing was charged.
fn charges(r: &ledger::TxnRecord) -> String {
    if r.charge_cents == 0 {
        String::new()
    } else {
        format!("Fee For B2C Payment|KES|{}", ledger::kes(r.charge_cents))
    }
}

/// The result parameters describing `txn`, in the order of Daraja's sample.
fn parameters(txn: &Txn) -> Vec<KeyValue> {
    let r = &txn.record;
    let whole = r.amount_cents % 100 == 0;
    let amount = if whole {
        (r.amount_cents / 100).to_string()
    } else {
        ledger::kes(r.amount_cents)
    };
    vec![
        KeyValue::new("DebitPartyName", r.debit.public_name()),
        KeyValue::new("CreditPartyName", r.credit.public_name()),
        KeyValue::new(
            "OriginatorConversationID",
            r.originator_conversation_id.clone().unwrap_or_default(),
        ),
        KeyValue::new("InitiatedTime", results::timestamp(r.initiated_ms)),
        KeyValue::new("DebitAccountType", account_type(&r.debit)),
        KeyValue::new("DebitPartyCharges", charges(r)),
        KeyValue::bare("TransactionReason"),
        KeyValue::new("ReasonType", reason_type(&r.command)),
        KeyValue::new(
            "TransactionStatus",
            if r.completed { "Completed" } else { "Failed" },
        ),
        KeyValue::new("FinalisedTime", results::timestamp(r.finalised_ms)),
        KeyValue::new("Amount", amount),
        KeyValue::new(
            "ConversationID",
            r.conversation_id.clone().unwrap_or_default(),
        ),
        KeyValue::new("ReceiptNo", r.receipt.as_str()),
    ]
}

fn decide(status: &StatusQuery, accounts: &mut Accounts, ctx: &Context) -> Decision {
    let found = if !ctx.initiator_valid {
        Err(outcomes::INITIATOR_INVALID)
    } else if !accounts.is_org(&status.party_a) {
        Err(outcomes::INITIATOR_NOT_ALLOWED)
    } else {
        find(status, accounts).ok_or(outcomes::OPERATOR_DOES_NOT_EXIST)
    };
    let (outcome, result_parameters) = match found {
        Ok(txn) => (
            outcomes::PROCESSED,
            Some(ResultParameters {
                result_parameter: OneOrMany::Many(parameters(txn)),
            }),
        ),
        Err(outcome) => (outcome, None),
    };
    let placeholder = accounts.new_receipt();
    Decision {
        result: ResultEnvelope {
            result: ResultBody {
                result_type: Code::Number(0),
                result_code: Code::of(outcome.result_code, false),
                result_desc: outcome.result_desc,
                originator_conversation_id: ctx.originator_conversation_id.clone(),
                conversation_id: ctx.conversation_id.clone(),
                transaction_id: ids::placeholder(&placeholder),
                result_parameters,
                reference_data: ReferenceData {
                    reference_item: OneOrMany::One(KeyValue::bare("Occasion")),
                },
            },
        },
        sends_result: true,
        txn: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::ledger::OrgAccount;

    #[test]
    fn validation() {
        let body = serde_json::json!({
            "Initiator": "testapi", "SecurityCredential": "abc",
            "CommandID": "TransactionStatusQuery",
            "OriginatorConversationID": "7071-4170-a0e5-8345632bad442144258",
            "PartyA": "600782", "IdentifierType": "4", "ResultURL": "http://x.example/r",
            "QueueTimeOutURL": "http://x.example/q", "Remarks": "OK", "Occasion": "OK"
        });
        let parse =
            |j: serde_json::Value| -> StatusRequest { serde_json::from_value(j).expect("parses") };
        let (q, _) = validate(&parse(body.clone())).expect("valid");
        assert!(matches!(q.lookup, Lookup::Conversation(ref id) if id.starts_with("7071")));
        let mut j = body.clone();
        j["TransactionID"] = "NEF61H8J60".into();
        let (q, _) = validate(&parse(j)).expect("valid");
        assert!(matches!(q.lookup, Lookup::Receipt(ref r) if r == "NEF61H8J60"));
        let mut j = body.clone();
        j.as_object_mut()
            .map(|o| o.remove("OriginatorConversationID"));
        let err = validate(&parse(j)).err().map(|r| r.message().to_owned());
        assert_eq!(err.as_deref(), Some("Bad Request - Invalid TransactionID"));
        let mut j = body;
        j["IdentifierType"] = "7".into();
        let err = validate(&parse(j)).err().map(|r| r.message().to_owned());
        assert_eq!(err.as_deref(), Some("Bad Request - Invalid IdentifierType"));
        assert_eq!(
            account_type(&Party::Org("1".into(), OrgAccount::Utility)),
            "Utility Account"
        );
    }
}
