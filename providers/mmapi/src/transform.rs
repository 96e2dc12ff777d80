//! Our harmonised objects to the operator's MMAPI requests, and its answers back to outcomes. Both sides speak
//! GSMA, so the mapping is mostly which fields belong to the client and which to the server, and whose
//! references are whose.

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{RequestState, RequestStatus, Transaction};
use mmapi_core::provider::{Completion, Failure, Outcome, ProviderError, ProviderRefs};
use mmapi_core::GsmaError;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::client::Answer;

/// `refs.extra` key: the operator's `serverCorrelationId` of our request.
pub(crate) const SERVER_CORRELATION_ID: &str = "serverCorrelationId";
/// `refs.extra` key: the operator's reference of the object our request created (its `objectReference`).
pub(crate) const OBJECT_REFERENCE: &str = "objectReference";

/// Fields of a transaction that the server sets, never the client.
const SERVER_FIELDS: [&str; 7] = [
    "transactionReference",
    "transactionStatus",
    "transactionReceipt",
    "creationDate",
    "modificationDate",
    "originalTransactionReference",
    "type",
];

/// The `X-CorrelationID` we send for one of our references: the reference itself when it is a UUID, else a
/// UUID made from its SHA-256, so that a request sent again after a restart carries the same id and the
/// operator's idempotency refuses a second one.
pub fn correlation_id_for(reference: &str) -> String {
    if let Ok(uuid) = uuid::Uuid::try_parse(reference) {
        return uuid.hyphenated().to_string();
    }
    let digest = Sha256::digest(reference.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The body of `POST /transactions/type/{type}` for one of our transactions: everything the client gave,
/// nothing the server owns. A payment under a debit mandate names the operator's mandate reference. A cited
/// quotation is kept only when the operator's own quotations are used (`operator_quotes`).
pub(crate) fn transaction_body(
    transaction: &Transaction,
    mandate_reference: Option<&str>,
    operator_quotes: bool,
) -> Value {
    let mut body = serde_json::to_value(transaction).unwrap_or_else(|_| json!({}));
    if let Some(fields) = body.as_object_mut() {
        for field in SERVER_FIELDS {
            fields.remove(field);
        }
        // A quotation the client cites is the gateway's own (it priced the transaction): the operator never
        // saw it.
        let info = fields
            .get_mut("internationalTransferInformation")
            .filter(|_| !operator_quotes);
        if let Some(Value::Object(info)) = info {
            info.remove("quotationReference");
            info.remove("quoteId");
        }
        if let (Some(reference), Some(Value::Array(parties))) =
            (mandate_reference, fields.get_mut("debitParty"))
        {
            for party in parties.iter_mut() {
                if party["key"] == "mandatereference" {
                    party["value"] = json!(reference);
                }
            }
        }
    }
    body
}

/// The body of `POST /transactions/{ref}/reversals` for one of our reversals.
pub(crate) fn reversal_body(reversal: &Transaction) -> Value {
    let mut body = json!({
        "type": "reversal",
        "amount": reversal.amount,
        "currency": reversal.currency,
    });
    if let Some(text) = &reversal.description_text {
        body["descriptionText"] = json!(text);
    }
    if let Some(r) = &reversal.requesting_organisation_transaction_reference {
        body["requestingOrganisationTransactionReference"] = json!(r);
    }
    body
}

/// The operator's error object, when a body is one.
pub(crate) fn error_of(body: &Value) -> Option<GsmaError> {
    body.get("errorCategory")?;
    serde_json::from_value(body.clone()).ok()
}

/// A GSMA error from the operator, kept as it is for the client, with its category and code as the
/// operator's result code.
pub(crate) fn failure(error: GsmaError) -> Failure {
    Failure {
        provider_code: format!(
            "{}/{}",
            enum_text(&error.error_category),
            enum_text(&error.error_code)
        ),
        provider_description: error.error_description.clone().unwrap_or_default(),
        error,
    }
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// What an answer that is not a success means. 401 and 403 are the gateway's own credentials (configuration);
/// a 5xx to a write may or may not have been processed; any other 4xx with an error object is the operator
/// refusing the request, its error passed through.
pub(crate) fn refusal(answer: &Answer, writes: bool) -> ProviderError {
    let status = answer.status;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return ProviderError::Configuration(format!(
            "the operator refused the gateway's credentials ({status})"
        ));
    }
    let error = error_of(&answer.body);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let why = format!(
            "the operator answered {status}{}",
            error
                .as_ref()
                .and_then(|e| e.error_description.as_deref())
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        let nothing_done = status == StatusCode::SERVICE_UNAVAILABLE
            || status == StatusCode::TOO_MANY_REQUESTS
            || !writes;
        return if nothing_done {
            ProviderError::Unavailable(why)
        } else {
            ProviderError::InDoubt(why)
        };
    }
    match error {
        Some(error) => ProviderError::Rejected(failure(error)),
        None => ProviderError::Rejected(failure(GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::GenericError,
            format!("The operator refused the request ({status})"),
        ))),
    }
}

/// The request state the operator answered to an asynchronous request.
pub(crate) fn request_state(answer: &Answer) -> Option<RequestState> {
    serde_json::from_value(answer.body.clone()).ok()
}

/// Our references for a request the operator took: the correlation id we sent is what its callbacks are
/// matched by; its `serverCorrelationId` and `objectReference` are kept beside.
pub(crate) fn refs_of(correlation_id: &str, state: Option<&RequestState>) -> ProviderRefs {
    let mut refs = ProviderRefs {
        reference: correlation_id.to_owned(),
        ..ProviderRefs::default()
    };
    if let Some(state) = state {
        refs.extra.insert(
            SERVER_CORRELATION_ID.into(),
            state.server_correlation_id.to_string(),
        );
        if let Some(object) = &state.object_reference {
            refs.extra.insert(OBJECT_REFERENCE.into(), object.clone());
        }
    }
    refs
}

/// What a request state says of the transaction, before its object is read: pending, failed (with the
/// operator's error), or completed (`None`: read the object for the receipt).
pub(crate) fn state_outcome(state: &RequestState) -> Option<Outcome> {
    match state.status {
        RequestStatus::Pending => Some(Outcome::Pending),
        RequestStatus::Completed => None,
        RequestStatus::Failed => Some(Outcome::Failed(failure(
            state.error.clone().unwrap_or_else(|| {
                GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::GenericError,
                    "The operator failed the request without saying why",
                )
            }),
        ))),
    }
}

/// What a transaction object (a callback's body or `GET /transactions/{ref}`) or an error object says. The
/// spec leaves `transactionStatus` a free string: operators' words for final states are accepted.
pub(crate) fn outcome_of(body: &Value) -> Option<Outcome> {
    if let Some(error) = error_of(body) {
        return Some(Outcome::Failed(failure(error)));
    }
    let status = body
        .get("transactionStatus")?
        .as_str()?
        .to_ascii_lowercase();
    Some(match status.as_str() {
        "completed" | "success" | "successful" | "reversed" => Outcome::Completed(Completion {
            receipt: body
                .get("transactionReceipt")
                .and_then(Value::as_str)
                .map(str::to_owned),
            completed_at: body
                .get("modificationDate")
                .and_then(|d| serde_json::from_value(d.clone()).ok()),
        }),
        "failed" | "rejected" | "declined" | "cancelled" | "expired" => {
            Outcome::Failed(failure(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::GenericError,
                format!("The operator says the transaction {status}"),
            )))
        }
        _ => Outcome::Pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            body,
            records: None,
        }
    }

    #[test]
    fn correlation_ids_are_stable_uuids() {
        let reference = "0193a7c2a2b47c9e8e7f1a2b3c4d5e6f";
        assert_eq!(
            correlation_id_for(reference),
            "0193a7c2-a2b4-7c9e-8e7f-1a2b3c4d5e6f"
        );
        let other = correlation_id_for("MANDATE42");
        assert_eq!(other, correlation_id_for("MANDATE42"));
        assert_ne!(other, correlation_id_for("MANDATE43"));
        assert!(uuid::Uuid::try_parse(&other).is_ok());
    }

    #[test]
    fn a_transaction_loses_the_servers_fields_and_names_the_operators_mandate() {
        let transaction: Transaction = serde_json::from_value(json!({
            "transactionReference": "ours", "type": "merchantpay", "transactionStatus": "pending",
            "amount": "10.50", "currency": "USD", "creationDate": "2026-12-03T08:00:00.000Z",
            "debitParty": [{"key": "mandatereference", "value": "OUR-MANDATE"}],
            "creditParty": [{"key": "walletid", "value": "1"}],
            "descriptionText": "rent", "originalTransactionReference": "x",
            "internationalTransferInformation": {"originCountry": "KE", "quotationReference": "Q1", "quoteId": "Q1-1"}
        }))
        .expect("a transaction");
        let body = transaction_body(&transaction, Some("THEIR-MANDATE"), false);
        assert_eq!(body["amount"], "10.50");
        assert_eq!(body["currency"], "USD");
        assert_eq!(body["descriptionText"], "rent");
        assert_eq!(body["debitParty"][0]["value"], "THEIR-MANDATE");
        assert_eq!(
            body["internationalTransferInformation"],
            json!({"originCountry": "KE"})
        );
        for field in SERVER_FIELDS {
            assert!(body.get(field).is_none(), "{field}: {body}");
        }
        let quoted = transaction_body(&transaction, None, true);
        assert_eq!(
            quoted["internationalTransferInformation"]["quoteId"],
            "Q1-1"
        );
    }

    #[test]
    fn refusals_pass_the_operators_error_through() {
        let error = json!({"errorCategory": "businessRule", "errorCode": "insufficientFunds",
                           "errorDescription": "Not enough money", "errorDateTime": "2026-12-03T08:00:00.000Z"});
        let ProviderError::Rejected(f) = refusal(&answer(400, error.clone()), true) else {
            panic!("a rejection");
        };
        assert_eq!(f.error.error_code, ErrorCode::InsufficientFunds);
        assert_eq!(f.provider_code, "businessRule/insufficientFunds");
        assert_eq!(f.provider_description, "Not enough money");
        let cases = [
            (401, true, "configuration"),
            (403, false, "configuration"),
            (503, true, "unavailable"),
            (429, true, "unavailable"),
            (500, false, "unavailable"),
            (500, true, "in doubt"),
            (502, true, "in doubt"),
            (404, false, "rejected"),
            (409, true, "rejected"),
        ];
        for (status, writes, expected) in cases {
            let kind = match refusal(&answer(status, error.clone()), writes) {
                ProviderError::Configuration(_) => "configuration",
                ProviderError::Unavailable(_) => "unavailable",
                ProviderError::InDoubt(_) => "in doubt",
                ProviderError::Rejected(_) => "rejected",
                ProviderError::Unsupported(_) => "unsupported",
            };
            assert_eq!(kind, expected, "{status} writes={writes}");
        }
        let ProviderError::Rejected(f) = refusal(&answer(400, Value::Null), true) else {
            panic!("a rejection");
        };
        assert_eq!(f.error.error_code, ErrorCode::GenericError);
    }

    #[test]
    fn outcomes_of_request_states_and_objects() {
        let state: RequestState = serde_json::from_value(json!({
            "serverCorrelationId": "0f1c6b3e-41e5-4fe3-9a1b-8b84f4a4e3e2", "status": "failed",
            "notificationMethod": "polling",
            "error": {"errorCategory": "authorisation", "errorCode": "requestDeclined"}
        }))
        .expect("a request state");
        let Some(Outcome::Failed(f)) = state_outcome(&state) else {
            panic!("failed");
        };
        assert_eq!(f.error.error_code, ErrorCode::RequestDeclined);
        let refs = refs_of("cid", Some(&state));
        assert_eq!(refs.reference, "cid");
        assert_eq!(
            refs.extra[SERVER_CORRELATION_ID],
            "0f1c6b3e-41e5-4fe3-9a1b-8b84f4a4e3e2"
        );

        let completed = json!({"transactionReference": "theirs", "type": "merchantpay",
            "transactionStatus": "completed", "amount": "5", "currency": "KES",
            "debitParty": [{"key": "msisdn", "value": "+254708374149"}],
            "creditParty": [{"key": "storeid", "value": "174379"}],
            "transactionReceipt": "SLK123ABC"});
        let Some(Outcome::Completed(c)) = outcome_of(&completed) else {
            panic!("completed");
        };
        assert_eq!(c.receipt.as_deref(), Some("SLK123ABC"));
        let mut pending = completed.clone();
        pending["transactionStatus"] = json!("pending");
        assert_eq!(outcome_of(&pending), Some(Outcome::Pending));
        let error = json!({"errorCategory": "businessRule", "errorCode": "insufficientFunds"});
        assert!(matches!(outcome_of(&error), Some(Outcome::Failed(_))));
        assert_eq!(outcome_of(&json!({"nonsense": 1})), None);
    }
}
