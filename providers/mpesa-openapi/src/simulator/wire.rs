//! The simulator's own view of the OpenAPI wire: the `output_*` reply, the INS-* code table
//! with its HTTP statuses (§B.6), the `input_*` request structs and the field validators
//! (§B.3). Nothing here is shared with the adapter.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};

/// The HTTP status and description of an INS code. `INS-0` is 201 here; queries and
/// `getSession/` answer it with 200 (see [`Reply::into_response_for`]).
pub(crate) fn ins(code: &str) -> (StatusCode, &'static str) {
    let (status, desc) = match code {
        "INS-0" => (201, "Request processed successfully"),
        "INS-1" => (400, "Internal Error"),
        "INS-2" => (401, "Invalid API Key"),
        "INS-6" => (401, "Transaction Failed"),
        "INS-9" => (408, "Request timeout"),
        "INS-10" => (409, "Duplicate Transaction"),
        "INS-13" => (400, "Invalid Shortcode Used"),
        "INS-15" => (400, "Invalid Amount Used"),
        "INS-16" => (
            503,
            "Unable to handle the request due to a temporary overloading",
        ),
        "INS-17" => (
            400,
            "Invalid Transaction Reference. Length Should Be Between 1 and 20.",
        ),
        "INS-18" => (400, "Invalid TransactionID Used"),
        "INS-19" => (400, "Invalid ThirdPartyReference Used"),
        "INS-20" => (400, "Not All Parameters Provided. Please try again."),
        "INS-21" => (400, "Parameter validations failed. Please try again."),
        "INS-23" => (400, "Transaction not found. Contact M-Pesa Support"),
        "INS-26" => (400, "Invalid Currency Used"),
        "INS-28" => (400, "Invalid ThirdPartyConversationID Used"),
        "INS-30" => (400, "Invalid Purchased Items Description Used"),
        "INS-31" => (400, "Invalid Payment Items Description Used"),
        "INS-32" => (400, "Invalid KYC Query Type Used"),
        "INS-35" => (400, "This transaction do not belong to you"),
        "INS-36" => (400, "Invalid Agreed TC"),
        "INS-39" => (400, "Invalid First Payment Date"),
        "INS-40" => (400, "Invalid Frequency"),
        "INS-41" => (400, "Invalid Start Range Days"),
        "INS-42" => (400, "Invalid End Range Days"),
        "INS-43" => (400, "Invalid Expiry Date"),
        "INS-50" => (400, "MSISDN and MSISDN Token do not match"),
        "INS-51" => (400, "Invalid MandateID"),
        "INS-52" => (400, "MandateID does not match ThirdPartyReference"),
        "INS-54" => (400, "Invalid BalanceAmount"),
        "INS-55" => (401, "BalanceAmount is mandatory"),
        "INS-56" => (401, "Invalid MSISDNToken"),
        "INS-57" => (500, "MSISDN or MSISDNToken is required"),
        "INS-58" => (400, "No Active Mandate found"),
        "INS-989" => (400, "Session Creation Failed"),
        "INS-997" => (400, "API Not Enabled"),
        "INS-998" => (400, "Invalid Market"),
        "INS-2006" => (422, "Insufficient balance"),
        "INS-2051" => (400, "MSISDN invalid."),
        _ => (400, "Internal Error"),
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        desc,
    )
}

/// A synchronous answer: `output_ResponseCode`, `output_ResponseDesc` and what the API adds.
/// All values are strings.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Reply {
    #[serde(rename = "output_ResponseCode")]
    pub(crate) code: String,
    #[serde(rename = "output_ResponseDesc")]
    pub(crate) desc: String,
    #[serde(rename = "output_SessionID", skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<String>,
    #[serde(
        rename = "output_ResponseTransactionStatus",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) transaction_status: Option<String>,
    #[serde(
        rename = "output_TransactionID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) transaction_id: Option<String>,
    #[serde(
        rename = "output_ConversationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) conversation_id: Option<String>,
    #[serde(
        rename = "output_ThirdPartyConversationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(
        rename = "output_OriginalTransactionID",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) original_transaction_id: Option<String>,
    #[serde(rename = "output_Reversed", skip_serializing_if = "Option::is_none")]
    pub(crate) reversed: Option<String>,
    #[serde(
        rename = "output_CustomerFirstName",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) first_name: Option<String>,
    #[serde(
        rename = "output_CustomerLastName",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) last_name: Option<String>,
    #[serde(
        rename = "output_TransactionReference",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) transaction_reference: Option<String>,
    #[serde(rename = "output_MsisdnToken", skip_serializing_if = "Option::is_none")]
    pub(crate) msisdn_token: Option<String>,
    #[serde(rename = "output_MandateID", skip_serializing_if = "Option::is_none")]
    pub(crate) mandate_id: Option<String>,
    #[serde(
        rename = "output_SufficientBalance",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) sufficient_balance: Option<String>,
    #[serde(
        rename = "output_MandateStatus",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) mandate_status: Option<String>,
    #[serde(
        rename = "output_AccountStatus",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) account_status: Option<String>,
    #[serde(
        rename = "output_FirstPaymentDate",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) first_payment_date: Option<String>,
    #[serde(rename = "output_Frequency", skip_serializing_if = "Option::is_none")]
    pub(crate) frequency: Option<String>,
    #[serde(
        rename = "output_PaymentDayFrom",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) payment_day_from: Option<String>,
    #[serde(
        rename = "output_PaymentDayTo",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) payment_day_to: Option<String>,
    #[serde(rename = "output_ExpiryDate", skip_serializing_if = "Option::is_none")]
    pub(crate) expiry_date: Option<String>,
}

/// Whether a successful answer is a creation (201) or a read (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Money-moving APIs: `INS-0` is 201.
    Create,
    /// `getSession/` and the GET queries: `INS-0` is 200.
    Read,
}

impl Reply {
    /// A reply with `code` and its documented description.
    pub(crate) fn new(code: &str) -> Self {
        Self {
            code: code.to_owned(),
            desc: ins(code).1.to_owned(),
            ..Self::default()
        }
    }

    /// The HTTP response with an explicit status (where an API departs from the table).
    pub(crate) fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        response
    }

    /// The HTTP response: the code's status, JSON, and `Access-Control-Allow-Origin: *` as the
    /// recorded sandbox responses carry.
    pub(crate) fn into_response_for(self, kind: Kind) -> Response {
        let status = match (self.code.as_str(), kind) {
            ("INS-0", Kind::Read) => StatusCode::OK,
            (code, _) => ins(code).0,
        };
        self.into_response_with(status)
    }
}

/// `POST c2bPayment/singleStage/`.
#[derive(Debug, Deserialize)]
pub(crate) struct C2bRequest {
    #[serde(rename = "input_Amount")]
    pub(crate) amount: Option<String>,
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_Currency")]
    pub(crate) currency: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_TransactionReference")]
    pub(crate) transaction_reference: Option<String>,
    #[serde(rename = "input_PurchasedItemsDesc")]
    pub(crate) purchased_items_desc: Option<String>,
}

/// `POST b2cPayment/`.
#[derive(Debug, Deserialize)]
pub(crate) struct B2cRequest {
    #[serde(rename = "input_Amount")]
    pub(crate) amount: Option<String>,
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_Currency")]
    pub(crate) currency: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_TransactionReference")]
    pub(crate) transaction_reference: Option<String>,
    #[serde(rename = "input_PaymentItemsDesc")]
    pub(crate) payment_items_desc: Option<String>,
}

/// `POST b2bPayment/`.
#[derive(Debug, Deserialize)]
pub(crate) struct B2bRequest {
    #[serde(rename = "input_Amount")]
    pub(crate) amount: Option<String>,
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_Currency")]
    pub(crate) currency: Option<String>,
    #[serde(rename = "input_PrimaryPartyCode")]
    pub(crate) primary_party_code: Option<String>,
    #[serde(rename = "input_ReceiverPartyCode")]
    pub(crate) receiver_party_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_TransactionReference")]
    pub(crate) transaction_reference: Option<String>,
    #[serde(rename = "input_PurchasedItemsDesc")]
    pub(crate) purchased_items_desc: Option<String>,
}

/// `PUT reversal/`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReversalRequest {
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_ReversalAmount")]
    pub(crate) reversal_amount: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_TransactionID")]
    pub(crate) transaction_id: Option<String>,
}

/// `POST directDebitCreation/`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectDebitCreation {
    #[serde(rename = "input_AgreedTC")]
    pub(crate) agreed_tc: Option<String>,
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_EndRangeOfDays")]
    pub(crate) end_range_of_days: Option<String>,
    #[serde(rename = "input_ExpiryDate")]
    pub(crate) expiry_date: Option<String>,
    #[serde(rename = "input_FirstPaymentDate")]
    pub(crate) first_payment_date: Option<String>,
    #[serde(rename = "input_Frequency")]
    pub(crate) frequency: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_StartRangeOfDays")]
    pub(crate) start_range_of_days: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_ThirdPartyReference")]
    pub(crate) third_party_reference: Option<String>,
}

/// `POST directDebitPayment/`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectDebitPayment {
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_MsisdnToken")]
    pub(crate) msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_ThirdPartyReference")]
    pub(crate) third_party_reference: Option<String>,
    #[serde(rename = "input_MandateID")]
    pub(crate) mandate_id: Option<String>,
    #[serde(rename = "input_Amount")]
    pub(crate) amount: Option<String>,
    #[serde(rename = "input_Currency")]
    pub(crate) currency: Option<String>,
}

/// `GET queryDirectDebit/?…`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectDebitQuery {
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_MsisdnToken")]
    pub(crate) msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_ThirdPartyReference")]
    pub(crate) third_party_reference: Option<String>,
    #[serde(rename = "input_MandateID")]
    pub(crate) mandate_id: Option<String>,
    #[serde(rename = "input_QueryBalanceAmount")]
    pub(crate) query_balance_amount: Option<String>,
    #[serde(rename = "input_BalanceAmount")]
    pub(crate) balance_amount: Option<String>,
    #[serde(rename = "input_Currency")]
    pub(crate) currency: Option<String>,
}

/// `PUT directDebitCancel/`.
#[derive(Debug, Deserialize)]
pub(crate) struct DirectDebitCancel {
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
    #[serde(rename = "input_CustomerMSISDN")]
    pub(crate) customer_msisdn: Option<String>,
    #[serde(rename = "input_MsisdnToken")]
    pub(crate) msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_ThirdPartyReference")]
    pub(crate) third_party_reference: Option<String>,
    #[serde(rename = "input_MandateID")]
    pub(crate) mandate_id: Option<String>,
}

/// `GET queryTransactionStatus/?…`.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusQuery {
    #[serde(rename = "input_QueryReference")]
    pub(crate) query_reference: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub(crate) service_provider_code: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub(crate) third_party_conversation_id: Option<String>,
    #[serde(rename = "input_Country")]
    pub(crate) country: Option<String>,
}

/// `input_Amount`: `^\d*\.?\d+$`, and more than zero.
pub(crate) fn is_amount(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => ("", s),
    };
    !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<rust_decimal::Decimal>()
            .is_ok_and(|d| d > rust_decimal::Decimal::ZERO)
}

/// Shortcodes: `^([0-9A-Za-z]{4,12})$`.
pub(crate) fn is_code(s: &str) -> bool {
    (4..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `^[0-9a-zA-Z \w+]{1,max}$`: letters, digits, `_`, space and `+`.
pub(crate) fn is_text(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.chars().count())
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == ' ' || c == '+')
}

/// `^[0-9a-zA-Z]{1,max}$`.
pub(crate) fn is_alnum(s: &str, max: usize) -> bool {
    (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `input_CustomerMSISDN` before the market check: `^[0-9]{11,14}$` (11 for Lesotho).
pub(crate) fn is_msisdn_shape(s: &str) -> bool {
    (11..=14).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// One field to check: its value, its validator and the INS code when it fails.
pub(crate) type Check<'a> = (Option<&'a String>, &'a dyn Fn(&str) -> bool, &'static str);

/// `INS-20` when any field is missing or empty, else the code of the first invalid field.
pub(crate) fn validate(checks: &[Check<'_>]) -> Result<(), &'static str> {
    if checks
        .iter()
        .any(|(v, _, _)| v.is_none_or(|v| v.trim().is_empty()))
    {
        return Err("INS-20");
    }
    for (value, ok, code) in checks {
        if let Some(v) = value {
            if !ok(v) {
                return Err(code);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        for ok in ["10", "10.5", ".5", "0.01"] {
            assert!(is_amount(ok), "{ok}");
        }
        for bad in ["", "0", "-1", "1.", "1e3", "a", "1.2.3"] {
            assert!(!is_amount(bad), "{bad}");
        }
    }

    #[test]
    fn texts() {
        assert!(is_text("T1234C", 20));
        assert!(is_text("Salary payment", 256));
        assert!(!is_text("a-b", 20));
        assert!(!is_text("", 20));
    }
}
