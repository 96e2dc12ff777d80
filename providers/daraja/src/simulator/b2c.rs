//! B2C: `POST /mpesa/b2c/v3/paymentrequest` and `POST /mpesa/b2c/v1/paymentrequest`.
//!
//! The shortcode (`PartyA`) pays the customer (`PartyB`) from its Utility account. v3 requires
//! a unique merchant `OriginatorConversationID` (a repeat is `500.002.1001`); v1 has none and
//! Daraja makes one. Outcomes: [`outcomes`].

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};

use super::{
    ids,
    ledger::{self, Accounts, OrgAccount, Party, TxnRecord},
    oauth::{self, BadToken},
    outcomes::{self, ResultOutcome},
    results::{self, Context, Decision, Submission},
    wire::{
        self, text_of, AsyncAck, B2cRequest, Code, KeyValue, OneOrMany, ReferenceData, Rejection,
        ResultBody, ResultEnvelope, ResultParameters, Scalar, Val,
    },
    Shared,
};

/// Routes of B2C.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/mpesa/b2c/v3/paymentrequest",
            post(v3).fallback(wire::method_not_allowed),
        )
        .route(
            "/mpesa/b2c/v1/paymentrequest",
            post(v1).fallback(wire::method_not_allowed),
        )
}

const COMMANDS: &[&str] = &[
    "BusinessPayment",
    "SalaryPayment",
    "PromotionPayment",
    "BusinessPayToPochi",
];

/// A validated B2C request.
struct B2c {
    initiator: String,
    credential: String,
    originator_conversation_id: Option<String>,
    command: &'static str,
    amount: u64,
    party_a: String,
    party_b: String,
    msisdn: u64,
    result_url: String,
}

/// Validates the body in the order of Daraja's field table.
fn validate(req: &B2cRequest, v3: bool) -> Result<B2c, Rejection> {
    let originator_conversation_id = if v3 {
        Some(
            wire::short_text(&req.originator_conversation_id, 100)
                .ok_or_else(|| Rejection::invalid("OriginatorConversationID"))?,
        )
    } else {
        None
    };
    let (initiator, credential) = results::initiator_fields(
        &req.initiator_name,
        "InitiatorName",
        &req.security_credential,
    )?;
    let command =
        wire::one_of(&req.command_id, COMMANDS).ok_or_else(|| Rejection::invalid("CommandID"))?;
    let amount = req
        .amount
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|a| *a >= 1)
        .ok_or_else(|| Rejection::invalid("Amount"))?;
    let party_a = wire::digits_of(&req.party_a).ok_or_else(|| Rejection::invalid("PartyA"))?;
    let party_b = text_of(&req.party_b)
        .filter(|p| ledger::is_msisdn(p))
        .ok_or_else(|| Rejection::invalid("PartyB"))?
        .into_owned();
    let msisdn = party_b.parse().map_err(|_| Rejection::invalid("PartyB"))?;
    results::remarks(&req.remarks, 2)?;
    wire::http_url(&req.queue_time_out_url).ok_or_else(|| Rejection::invalid("QueueTimeOutURL"))?;
    let result_url =
        wire::http_url(&req.result_url).ok_or_else(|| Rejection::invalid("ResultURL"))?;
    results::optional_text(&req.occassion, "Occassion")?;
    results::optional_text(&req.occasion, "Occasion")?;
    Ok(B2c {
        initiator,
        credential,
        originator_conversation_id,
        command,
        amount,
        party_a,
        party_b,
        msisdn,
        result_url,
    })
}

async fn v3(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    handle(sim, headers, body, true).await
}

async fn v1(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    handle(sim, headers, body, false).await
}

async fn handle(
    sim: Shared,
    headers: HeaderMap,
    body: Bytes,
    v3: bool,
) -> Result<Json<AsyncAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::NotFound)?;
    let req: B2cRequest = wire::parse_body(&body)?;
    let b2c = validate(&req, v3)?;
    let submission = Submission {
        api: "b2c",
        initiator: b2c.initiator.clone(),
        credential: b2c.credential.clone(),
        originator_conversation_id: b2c.originator_conversation_id.clone(),
        result_url: b2c.result_url.clone(),
        ack_description: results::ACCEPTED,
    };
    results::submit(&sim, submission, |accounts, ctx| {
        decide(&b2c, accounts, ctx)
    })
    .await
}

/// The outcome, in the order of the module table of [`outcomes`].
fn outcome(b2c: &B2c, accounts: &Accounts, ctx: &Context) -> ResultOutcome {
    if !ctx.initiator_valid {
        return outcomes::INITIATOR_INVALID;
    }
    if !accounts.is_org(&b2c.party_a) {
        return outcomes::INITIATOR_NOT_ALLOWED;
    }
    if let Some(fixed) = outcomes::b2c_fixed_outcome(&b2c.party_b, b2c.amount) {
        return fixed;
    }
    let amount = ledger::cents(b2c.amount);
    if !accounts.can_pay(&utility(b2c), amount) {
        return outcomes::INSUFFICIENT_BALANCE;
    }
    let customer = accounts.balance(&Party::Customer(b2c.msisdn)).unwrap_or(0);
    if customer.saturating_add(amount) > ledger::cents(outcomes::CUSTOMER_MAX_BALANCE) {
        return outcomes::MAX_BALANCE;
    }
    outcomes::PROCESSED
}

fn utility(b2c: &B2c) -> Party {
    Party::Org(b2c.party_a.as_str().into(), OrgAccount::Utility)
}

fn decide(b2c: &B2c, accounts: &mut Accounts, ctx: &Context) -> Decision {
    let outcome = outcome(b2c, accounts, ctx);
    let success = outcome.result_code.is_success();
    let receipt = accounts.new_receipt();
    let receipt = ids::receipt_str(&receipt).to_owned();
    let txn = TxnRecord {
        command: b2c.command.to_owned(),
        receipt: receipt.clone(),
        completed: success,
        result_code: outcome.result_code.to_string(),
        debit: utility(b2c),
        credit: Party::Customer(b2c.msisdn),
        amount_cents: ledger::cents(b2c.amount),
        charge_cents: ledger::cents(crate::tariff::b2c_charge(b2c.amount)),
        org: b2c.party_a.clone(),
        originator_conversation_id: Some(ctx.originator_conversation_id.clone()),
        conversation_id: Some(ctx.conversation_id.clone()),
        initiated_ms: ctx.now_ms,
        finalised_ms: ctx.resolve_at_ms,
        reverses: None,
    };
    accounts.apply(txn.clone());
    let result_parameters = success.then(|| {
        let balance = |account| {
            accounts
                .balance(&Party::Org(b2c.party_a.as_str().into(), account))
                .unwrap_or(0)
        };
        ResultParameters {
            result_parameter: OneOrMany::Many(vec![
                KeyValue::new(
                    "TransactionAmount",
                    Val::Int(b2c.amount.try_into().unwrap_or(i64::MAX)),
                ),
                KeyValue::new("TransactionReceipt", receipt.as_str()),
                KeyValue::new("ReceiverPartyPublicName", txn.credit.public_name()),
                KeyValue::new(
                    "TransactionCompletedDateTime",
                    ids::format_eat(ctx.resolve_at_ms, "%d.%m.%Y %H:%M:%S"),
                ),
                KeyValue::new(
                    "B2CUtilityAccountAvailableFunds",
                    Val::decimal(ledger::kes(balance(OrgAccount::Utility))),
                ),
                KeyValue::new(
                    "B2CWorkingAccountAvailableFunds",
                    Val::decimal(ledger::kes(balance(OrgAccount::Working))),
                ),
                KeyValue::new("B2CRecipientIsRegisteredCustomer", "Y"),
                KeyValue::new(
                    "B2CChargesPaidAccountAvailableFunds",
                    Val::decimal(ledger::kes(balance(OrgAccount::ChargesPaid))),
                ),
            ]),
        }
    });
    Decision {
        result: ResultEnvelope {
            result: ResultBody {
                result_type: Code::Number(0),
                result_code: Code::of(outcome.result_code, false),
                result_desc: outcome.result_desc,
                originator_conversation_id: ctx.originator_conversation_id.clone(),
                conversation_id: ctx.conversation_id.clone(),
                transaction_id: receipt,
                result_parameters,
                reference_data: ReferenceData {
                    reference_item: OneOrMany::One(KeyValue::new(
                        "QueueTimeoutURL",
                        results::B2C_QUEUE_URL,
                    )),
                },
            },
        },
        sends_result: outcome.sends_result,
        txn: Some(txn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> serde_json::Value {
        serde_json::json!({
            "OriginatorConversationID": "600997_Test_1", "InitiatorName": "testapi",
            "SecurityCredential": "abc", "CommandID": "BusinessPayment", "Amount": "10",
            "PartyA": 600992, "PartyB": "254705912645", "Remarks": "remarked",
            "QueueTimeOutURL": "https://x.example/q", "ResultURL": "https://x.example/r",
            "Occassion": "ChristmasPay"
        })
    }

    fn rejection(json: serde_json::Value, v3: bool) -> String {
        let req: B2cRequest = serde_json::from_value(json).expect("parses");
        match validate(&req, v3) {
            Ok(_) => "accepted".into(),
            Err(r) => r.message().to_owned(),
        }
    }

    #[test]
    fn validation() {
        assert_eq!(rejection(body(), true), "accepted");
        let without = |k: &str| {
            let mut j = body();
            j.as_object_mut().expect("object").remove(k);
            j
        };
        let with = |k: &str, v: serde_json::Value| {
            let mut j = body();
            j[k] = v;
            j
        };
        assert_eq!(
            rejection(without("OriginatorConversationID"), true),
            "Bad Request - Invalid OriginatorConversationID"
        );
        assert_eq!(
            rejection(without("OriginatorConversationID"), false),
            "accepted"
        );
        for (field, value, message) in [
            ("InitiatorName", serde_json::json!(""), "InitiatorName"),
            (
                "SecurityCredential",
                serde_json::json!(null),
                "SecurityCredential",
            ),
            (
                "CommandID",
                serde_json::json!("CustomerPayBillOnline"),
                "CommandID",
            ),
            ("Amount", serde_json::json!("10.5"), "Amount"),
            ("Amount", serde_json::json!(0), "Amount"),
            ("PartyA", serde_json::json!("60x"), "PartyA"),
            ("PartyB", serde_json::json!("0705912645"), "PartyB"),
            ("Remarks", serde_json::json!("r"), "Remarks"),
            (
                "QueueTimeOutURL",
                serde_json::json!("nope"),
                "QueueTimeOutURL",
            ),
            ("ResultURL", serde_json::json!("ftp://x/r"), "ResultURL"),
            ("Occassion", serde_json::json!("o".repeat(101)), "Occassion"),
        ] {
            assert_eq!(
                rejection(with(field, value), true),
                format!("Bad Request - Invalid {message}")
            );
        }
        // Numbers for amounts and parties, `Occasion`, a below-minimum amount (async).
        let mut j = with("Amount", serde_json::json!(5));
        j["PartyB"] = serde_json::json!(254705912645u64);
        j["Occasion"] = serde_json::json!("x");
        assert_eq!(rejection(j, true), "accepted");
    }
}
