//! Account Balance: `POST /mpesa/accountbalance/v1/query`.
//!
//! The result's `AccountBalance` parameter lists `PartyA`'s accounts as
//! `Name|KES|current|available|reserved|uncleared`, joined by `&`, with the simulated Working
//! Utility and Charges Paid balances (the Float and Organization Settlement accounts stay at zero).

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};

use super::{
    ids,
    ledger::{self, Accounts, OrgAccount},
    oauth::{self, BadToken},
    outcomes,
    results::{self, Context, Decision, Submission},
    wire::{
        self, AsyncAck, BalanceRequest, Code, KeyValue, OneOrMany, ReferenceData, Rejection,
        ResultBody, ResultEnvelope, ResultParameters, Val,
    },
    Shared,
};

/// Routes of Account Balance.
pub(crate) fn routes() -> Router<Shared> {
    Router::new().route(
        "/mpesa/accountbalance/v1/query",
        post(query).fallback(wire::method_not_allowed),
    )
}

/// The acknowledgement text in Daraja's Account Balance sample (no final period).
const ACCEPTED: &str = "Accept the service request successfully";

fn validate(req: &BalanceRequest) -> Result<(String, Submission), Rejection> {
    let (initiator, credential) =
        results::initiator_fields(&req.initiator, "Initiator", &req.security_credential)?;
    wire::one_of(&req.command_id, &["AccountBalance"])
        .ok_or_else(|| Rejection::invalid("CommandID"))?;
    let party_a = wire::digits_of(&req.party_a).ok_or_else(|| Rejection::invalid("PartyA"))?;
    wire::one_of(&req.identifier_type, &["1", "2", "4"])
        .ok_or_else(|| Rejection::invalid("IdentifierType"))?;
    results::optional_text(&req.remarks, "Remarks")?;
    wire::http_url(&req.queue_time_out_url).ok_or_else(|| Rejection::invalid("QueueTimeOutURL"))?;
    let result_url =
        wire::http_url(&req.result_url).ok_or_else(|| Rejection::invalid("ResultURL"))?;
    Ok((
        party_a,
        Submission {
            api: "balance",
            initiator,
            credential,
            originator_conversation_id: None,
            result_url,
            ack_description: ACCEPTED,
        },
    ))
}

/// `POST /mpesa/accountbalance/v1/query`
async fn query(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<AsyncAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::Unauthorized)?;
    let req: BalanceRequest = wire::parse_body(&body)?;
    let (party_a, submission) = validate(&req)?;
    results::submit(&sim, submission, |accounts, ctx| {
        decide(&party_a, accounts, ctx)
    })
    .await
}

/// The `AccountBalance` value of `shortcode`.
pub(crate) fn balance_string(accounts: &Accounts, shortcode: &str) -> String {
    [
        accounts.account_line(shortcode, OrgAccount::Working),
        ledger::balance_line("Float Account", 0),
        accounts.account_line(shortcode, OrgAccount::Utility),
        accounts.account_line(shortcode, OrgAccount::ChargesPaid),
        ledger::balance_line("Organization Settlement Account", 0),
    ]
    .join("&")
}

fn decide(party_a: &str, accounts: &mut Accounts, ctx: &Context) -> Decision {
    let outcome = if !ctx.initiator_valid {
        outcomes::INITIATOR_INVALID
    } else if !accounts.is_org(party_a) {
        outcomes::INITIATOR_NOT_ALLOWED
    } else {
        outcomes::PROCESSED
    };
    let completed = results::timestamp(ctx.resolve_at_ms);
    let placeholder = ids::placeholder(&accounts.new_receipt());
    let queue_item = KeyValue::new("QueueTimeoutURL", results::AB_QUEUE_URL);
    // Daraja's sample: string codes and a string `BOCompletedTime` on success; failures as
    // in the B2B failure sample (numbers, one `BOCompletedTime` number).
    let body = if outcome.result_code.is_success() {
        ResultBody {
            result_type: Code::of(outcome.result_code, true),
            result_code: Code::of(outcome.result_code, true),
            result_desc: results::PROCESSED_AB,
            originator_conversation_id: ctx.originator_conversation_id.clone(),
            conversation_id: ctx.conversation_id.clone(),
            transaction_id: placeholder,
            result_parameters: Some(ResultParameters {
                result_parameter: OneOrMany::Many(vec![
                    KeyValue::new("AccountBalance", balance_string(accounts, party_a)),
                    KeyValue::new("BOCompletedTime", completed),
                ]),
            }),
            reference_data: ReferenceData {
                reference_item: OneOrMany::One(queue_item),
            },
        }
    } else {
        ResultBody {
            result_type: Code::Number(0),
            result_code: Code::of(outcome.result_code, false),
            result_desc: outcome.result_desc,
            originator_conversation_id: ctx.originator_conversation_id.clone(),
            conversation_id: ctx.conversation_id.clone(),
            transaction_id: placeholder,
            result_parameters: Some(ResultParameters {
                result_parameter: OneOrMany::One(KeyValue::new(
                    "BOCompletedTime",
                    Val::timestamp_number(&completed),
                )),
            }),
            reference_data: ReferenceData {
                reference_item: OneOrMany::One(queue_item),
            },
        }
    };
    Decision {
        result: ResultEnvelope { result: body },
        sends_result: true,
        txn: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::ledger::{Ledger, Openings};

    #[test]
    fn balance_string_shape() {
        let ledger = Ledger::new(
            ["600000"],
            Openings {
                customer: 0,
                utility: 22_803_700,
                working: 70_000_000,
                enforce_customer_funds: true,
            },
        );
        assert_eq!(
            balance_string(&ledger.lock(), "600000"),
            "Working Account|KES|700000.00|700000.00|0.00|0.00&Float Account|KES|0.00|0.00|0.00|0.00&Utility Account|KES|228037.00|228037.00|0.00|0.00&Charges Paid Account|KES|0.00|0.00|0.00|0.00&Organization Settlement Account|KES|0.00|0.00|0.00|0.00"
        );
    }
}
