//! Daraja's JSON, field names exactly as Daraja spells them (typos included). Used by the adapter only; the
//! simulator has its own definitions so that a misspelt field cannot hide on both sides.

use std::fmt;

use mmapi_core::secret::serialize_exposed;
use mmapi_core::Secret;
use serde::{de, Deserialize, Deserializer, Serialize};

/// `GET /oauth/v1/generate` answer. `expires_in` is a string on the wire (`"3599"`), a number in the docs.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub expires_in: Code,
}

/// The synchronous error envelope. Daraja writes it camelCase; some fixtures capitalise it.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default, alias = "RequestID", alias = "requestID")]
    #[serde(rename = "requestId")]
    pub request_id: Option<String>,
    #[serde(default, alias = "ErrorCode")]
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
    #[serde(default, alias = "ErrorMessage")]
    #[serde(rename = "errorMessage")]
    pub error_message: Option<String>,
}

/// `POST /mpesa/stkpush/v1/processrequest` body. Numbers are sent as strings, as the adapter always does.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StkPushRequest {
    pub business_short_code: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub password: Secret,
    pub timestamp: String,
    pub transaction_type: &'static str,
    pub amount: String,
    pub party_a: String,
    pub party_b: String,
    pub phone_number: String,
    /// `CallBackURL` with a capital B, as Daraja documents it.
    #[serde(rename = "CallBackURL")]
    pub call_back_url: String,
    pub account_reference: String,
    pub transaction_desc: String,
}

/// STK Push acknowledgement (HTTP 200).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StkPushResponse {
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
    pub response_code: Code,
    #[serde(default)]
    pub response_description: Option<String>,
    #[serde(default)]
    pub customer_message: Option<String>,
}

/// `POST /mpesa/stkpushquery/v1/query` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StkQueryRequest {
    pub business_short_code: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub password: Secret,
    pub timestamp: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
}

/// STK Query answer once the transaction is final. `ResultCode` is a string here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StkQueryResponse {
    #[serde(default)]
    pub response_code: Option<Code>,
    #[serde(default)]
    pub response_description: Option<String>,
    #[serde(default, rename = "MerchantRequestID")]
    pub merchant_request_id: Option<String>,
    #[serde(default, rename = "CheckoutRequestID")]
    pub checkout_request_id: Option<String>,
    #[serde(default)]
    pub result_code: Option<Code>,
    #[serde(default)]
    pub result_desc: Option<String>,
}

/// The STK callback Daraja posts to `CallBackURL`.
#[derive(Debug, Deserialize)]
pub struct StkCallbackEnvelope {
    #[serde(rename = "Body")]
    pub body: StkCallbackBody,
}

/// `Body` of the STK callback.
#[derive(Debug, Deserialize)]
pub struct StkCallbackBody {
    #[serde(rename = "stkCallback")]
    pub stk_callback: StkCallback,
}

/// `Body.stkCallback`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StkCallback {
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
    pub result_code: Code,
    #[serde(default)]
    pub result_desc: Option<String>,
    /// Present on success only.
    #[serde(default)]
    pub callback_metadata: Option<CallbackMetadata>,
}

/// `CallbackMetadata` of a successful STK callback.
#[derive(Debug, Deserialize)]
pub struct CallbackMetadata {
    #[serde(rename = "Item", default, deserialize_with = "one_or_many")]
    pub item: Vec<MetadataItem>,
}

/// One `{Name, Value}` item; `Value` may be absent (`{"Name":"Balance"}`) and is a number or a string.
#[derive(Debug, Deserialize)]
pub struct MetadataItem {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Value", default)]
    pub value: Option<serde_json::Value>,
}

impl MetadataItem {
    /// The value as text, whether Daraja sent a number or a string.
    pub fn value_text(&self) -> Option<String> {
        match self.value.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A code Daraja sends sometimes as a number, sometimes as a string (`ResultCode`, `ResponseCode`,
/// `expires_in`), kept as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code(pub String);

impl Code {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => Ok(Code(s.trim().to_owned())),
            serde_json::Value::Number(n) => Ok(Code(n.to_string())),
            other => Err(de::Error::custom(format!(
                "expected a number or a string, got {other}"
            ))),
        }
    }
}

/// Deserialises a field that is sometimes one object and sometimes an array of them.
pub fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(x)) => vec![x],
        None => Vec::new(),
    })
}

/// The synchronous acknowledgement of B2C, B2B, reversal, status and balance requests.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsyncAck {
    #[serde(rename = "ConversationID")]
    pub conversation_id: String,
    #[serde(default, rename = "OriginatorConversationID")]
    pub originator_conversation_id: Option<String>,
    pub response_code: Code,
    #[serde(default)]
    pub response_description: Option<String>,
}

/// `POST /mpesa/b2c/v3/paymentrequest` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct B2cRequest {
    #[serde(rename = "OriginatorConversationID")]
    pub originator_conversation_id: String,
    pub initiator_name: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub security_credential: Secret,
    #[serde(rename = "CommandID")]
    pub command_id: &'static str,
    pub amount: String,
    pub party_a: String,
    pub party_b: String,
    pub remarks: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    /// Spelt `Occassion` in B2C v3, as Daraja documents it.
    pub occassion: String,
}

/// `POST /mpesa/b2b/v1/paymentrequest` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct B2bRequest {
    pub initiator: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub security_credential: Secret,
    #[serde(rename = "CommandID")]
    pub command_id: &'static str,
    pub sender_identifier_type: &'static str,
    /// Spelt `RecieverIdentifierType`, as Daraja does.
    pub reciever_identifier_type: &'static str,
    pub amount: String,
    pub party_a: String,
    pub party_b: String,
    pub account_reference: String,
    pub remarks: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
}

/// `POST /mpesa/reversal/v1/request` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReversalRequest {
    pub initiator: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub security_credential: Secret,
    #[serde(rename = "CommandID")]
    pub command_id: &'static str,
    #[serde(rename = "TransactionID")]
    pub transaction_id: String,
    pub amount: String,
    pub receiver_party: String,
    /// Spelt `RecieverIdentifierType`, as Daraja does.
    pub reciever_identifier_type: &'static str,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    pub remarks: String,
}

/// `POST /mpesa/transactionstatus/v1/query` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransactionStatusRequest {
    pub initiator: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub security_credential: Secret,
    #[serde(rename = "CommandID")]
    pub command_id: &'static str,
    #[serde(rename = "TransactionID", skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    #[serde(
        rename = "OriginalConversationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_conversation_id: Option<String>,
    pub party_a: String,
    pub identifier_type: &'static str,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    pub remarks: String,
    pub occasion: String,
}

/// `POST /mpesa/accountbalance/v1/query` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountBalanceRequest {
    pub initiator: String,
    #[serde(serialize_with = "serialize_exposed")]
    pub security_credential: Secret,
    #[serde(rename = "CommandID")]
    pub command_id: &'static str,
    pub party_a: String,
    pub identifier_type: &'static str,
    pub remarks: String,
    #[serde(rename = "QueueTimeOutURL")]
    pub queue_time_out_url: String,
    #[serde(rename = "ResultURL")]
    pub result_url: String,
}

/// The asynchronous `Result` Daraja posts to `ResultURL` (and, on a queue timeout, to `QueueTimeOutURL`).
#[derive(Debug, Deserialize)]
pub struct ResultEnvelope {
    #[serde(rename = "Result")]
    pub result: ResultBody,
}

/// `Result`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResultBody {
    #[serde(default)]
    pub result_type: Option<Code>,
    pub result_code: Code,
    #[serde(default)]
    pub result_desc: Option<String>,
    #[serde(default, rename = "OriginatorConversationID")]
    pub originator_conversation_id: Option<String>,
    #[serde(default, rename = "ConversationID")]
    pub conversation_id: Option<String>,
    #[serde(default, rename = "TransactionID")]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub result_parameters: Option<ResultParameters>,
}

impl ResultBody {
    /// A result parameter's value as text (numbers as Daraja wrote them).
    pub fn parameter(&self, key: &str) -> Option<String> {
        self.result_parameters
            .as_ref()?
            .result_parameter
            .iter()
            .find(|p| p.key == key)
            .and_then(KeyValueItem::value_text)
    }
}

/// `ResultParameters`: one object or an array of them.
#[derive(Debug, Deserialize)]
pub struct ResultParameters {
    #[serde(rename = "ResultParameter", default, deserialize_with = "one_or_many")]
    pub result_parameter: Vec<KeyValueItem>,
}

/// A `{Key, Value}` item whose `Value` may be absent, a number or a string.
#[derive(Debug, Deserialize)]
pub struct KeyValueItem {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default)]
    pub value: Option<serde_json::Value>,
}

impl KeyValueItem {
    /// The value as text.
    pub fn value_text(&self) -> Option<String> {
        match self.value.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// `POST /mpesa/c2b/v2/registerurl` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct C2bRegisterRequest {
    pub short_code: String,
    pub response_type: String,
    #[serde(rename = "ConfirmationURL")]
    pub confirmation_url: String,
    #[serde(rename = "ValidationURL")]
    pub validation_url: String,
}

/// `POST /pulltransactions/v1/register` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PullRegisterRequest {
    pub short_code: String,
    /// `Pull`.
    pub request_type: &'static str,
    /// The organisation's nominated MSISDN.
    pub nominated_number: String,
    #[serde(rename = "CallBackURL")]
    pub callback_url: String,
}

/// The Pull Transactions registration answer: `ResponseStatus` `1000` registered, `1001` already registered.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PullRegisterResponse {
    #[serde(rename = "ResponseRefID", default)]
    pub response_ref_id: Option<Code>,
    pub response_status: Code,
    #[serde(default)]
    pub response_description: Option<String>,
}

/// `POST /pulltransactions/v1/query` body: dates in EAT as `YYYY-MM-DD HH:MM:SS`, the page as an offset.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PullQueryRequest {
    pub short_code: String,
    pub start_date: String,
    pub end_date: String,
    pub off_set_value: String,
}

/// One payment in a Pull Transactions answer (its `Response` nests them in arrays).
#[derive(Debug, Deserialize)]
pub struct PulledTransaction {
    #[serde(rename = "transactionId")]
    pub transaction_id: String,
    /// ISO 8601 (e.g. `2024-07-06T10:20:36+03:00`).
    #[serde(rename = "trxDate", default)]
    pub trx_date: Option<String>,
    #[serde(default)]
    pub msisdn: Option<Code>,
    /// `c2b-pay-bill-debit`, `c2b-buy-goods-debit`, …
    #[serde(default)]
    pub transactiontype: Option<String>,
    #[serde(default)]
    pub billreference: Option<String>,
    pub amount: Code,
}

/// The C2B registration answer (`OriginatorCoversationID` is misspelt by Daraja).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct C2bRegisterResponse {
    #[serde(default, rename = "OriginatorCoversationID")]
    pub originator_coversation_id: Option<String>,
    pub response_code: Code,
    #[serde(default)]
    pub response_description: Option<String>,
}

/// A C2B validation or confirmation request; Daraja writes every value as a string.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct C2bNotification {
    #[serde(default)]
    pub transaction_type: Option<String>,
    #[serde(rename = "TransID")]
    pub trans_id: String,
    #[serde(default)]
    pub trans_time: Option<Code>,
    pub trans_amount: Code,
    pub business_short_code: Code,
    #[serde(default)]
    pub bill_ref_number: Option<String>,
    #[serde(default, rename = "ThirdPartyTransID")]
    pub third_party_trans_id: Option<String>,
    #[serde(default, rename = "MSISDN")]
    pub msisdn: Option<Code>,
    #[serde(default)]
    pub first_name: Option<String>,
}
