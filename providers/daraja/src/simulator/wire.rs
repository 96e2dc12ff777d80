//! The simulator's own view of Daraja's JSON, field names exactly as Daraja spells them.
//!
//! Deliberately independent of the adapter's `wire.rs`: a misspelt field must not hide on
//! both sides at once.

use std::borrow::Cow;

use axum::{
    http::{Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize};

use super::{ids, outcomes::ResultCode};

// ---------------------------------------------------------------------------------------------
// Error envelope

/// `errorCode` values used by the simulator.
pub(crate) mod codes {
    /// `Bad Request - Invalid <Field>` (HTTP 400).
    pub(crate) const INVALID_FIELD: &str = "400.002.02";
    /// `Invalid Request Payload` (HTTP 400).
    pub(crate) const INVALID_PAYLOAD: &str = "400.002.05";
    /// `Invalid Authentication passed` (HTTP 400, OAuth).
    pub(crate) const INVALID_AUTHENTICATION: &str = "400.008.01";
    /// `Invalid grant type passed` (HTTP 400, OAuth).
    pub(crate) const INVALID_GRANT_TYPE: &str = "400.008.02";
    /// `Resource not found` (HTTP 404).
    pub(crate) const RESOURCE_NOT_FOUND: &str = "404.001.01";
    /// `Invalid Access Token` (HTTP 404, STK).
    pub(crate) const INVALID_ACCESS_TOKEN: &str = "404.001.03";
    /// `Invalid Authentication Header` (HTTP 404).
    pub(crate) const INVALID_AUTH_HEADER: &str = "404.001.04";
    /// `<METHOD> Method Not Allowed` (HTTP 405).
    pub(crate) const METHOD_NOT_ALLOWED: &str = "405.001";
    /// STK business rejections (HTTP 500).
    pub(crate) const STK_REJECTED: &str = "500.001.1001";
    /// `Duplicate OriginatorConversationID.` (HTTP 500, B2C v3).
    pub(crate) const DUPLICATE_ORIGINATOR: &str = "500.002.1001";
    /// `Error Occurred: Spike Arrest Violation` (HTTP 500, too many requests a second).
    pub(crate) const SPIKE_ARREST: &str = "500.003.02";
    /// `Invalid Access Token` (HTTP 400, C2B and Transaction Status).
    pub(crate) const INVALID_ACCESS_TOKEN_400: &str = "400.003.01";
    /// `Error Occurred - Invalid Access Token - <token>` (HTTP 401, Account Balance).
    pub(crate) const INVALID_ACCESS_TOKEN_401: &str = "401.002.01";
}

/// Daraja's synchronous error body: `{"requestId","errorCode","errorMessage"}`.
#[derive(Debug, Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "requestId")]
    request_id: &'a str,
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    #[serde(rename = "errorMessage")]
    error_message: &'a str,
}

/// A request rejected with Daraja's error envelope.
#[derive(Debug)]
pub(crate) struct Rejection {
    status: StatusCode,
    request_id: Option<String>,
    code: &'static str,
    message: Cow<'static, str>,
}

impl Rejection {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            request_id: None,
            code,
            message: message.into(),
        }
    }

    /// Uses `id` as `requestId` instead of a fresh random one.
    pub(crate) fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// HTTP 400 `400.002.02 Bad Request - Invalid <field>`.
    pub(crate) fn invalid(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_FIELD,
            format!("Bad Request - Invalid {field}"),
        )
    }

    /// HTTP 400 `400.002.05 Invalid Request Payload`.
    pub(crate) fn invalid_payload() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PAYLOAD,
            "Invalid Request Payload",
        )
    }

    /// HTTP 500 `500.001.1001 <message>`.
    pub(crate) fn stk(message: &'static str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::STK_REJECTED,
            message,
        )
    }

    /// HTTP 500 `500.002.1001 Duplicate OriginatorConversationID.`
    pub(crate) fn duplicate_originator() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::DUPLICATE_ORIGINATOR,
            "Duplicate OriginatorConversationID.",
        )
    }

    #[cfg(test)]
    pub(crate) fn code(&self) -> &'static str {
        self.code
    }

    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let request_id = self.request_id.unwrap_or_else(ids::request_id);
        let body = ErrorEnvelope {
            request_id: &request_id,
            error_code: self.code,
            error_message: &self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Fallback for unknown paths: HTTP 404 `404.001.01 Resource not found`.
pub(crate) async fn not_found() -> Rejection {
    Rejection::new(
        StatusCode::NOT_FOUND,
        codes::RESOURCE_NOT_FOUND,
        "Resource not found",
    )
}

/// Fallback for a known path with the wrong method: HTTP 405 `405.001 <METHOD> Method Not Allowed`.
pub(crate) async fn method_not_allowed(method: Method) -> Rejection {
    Rejection::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{method} Method Not Allowed"),
    )
}

/// Parses a JSON request body; anything unparseable is `400.002.05 Invalid Request Payload`.
pub(crate) fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Rejection> {
    serde_json::from_slice(body).map_err(|_| Rejection::invalid_payload())
}

// ---------------------------------------------------------------------------------------------
// Scalars: Daraja accepts numbers or strings for amounts, shortcodes and MSISDNs

/// A request field that may be a JSON string or number (or, wrongly, anything else).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Text(String),
    Number(serde_json::Number),
    /// A boolean, array or object: never valid, but reported as an invalid field rather
    /// than an invalid payload.
    Other,
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => Scalar::Text(s),
            serde_json::Value::Number(n) => Scalar::Number(n),
            _ => Scalar::Other,
        })
    }
}

impl Scalar {
    /// The field as text (numbers in their JSON spelling).
    pub(crate) fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Text(s) => Some(Cow::Borrowed(s)),
            Scalar::Number(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Other => None,
        }
    }

    /// The field as a whole number: `100`, `100.0`, `"100"` and `"100.00"` are 100;
    /// fractions, negatives, exponents and non-numbers are `None`.
    pub(crate) fn whole_number(&self) -> Option<u64> {
        match self {
            Scalar::Number(n) => n.as_u64().or_else(|| {
                let f = n.as_f64()?;
                (f >= 0.0 && f.fract() == 0.0 && f <= 1e15).then_some(f as u64)
            }),
            Scalar::Text(s) => {
                let (int, frac) = s.split_once('.').unwrap_or((s, ""));
                let digits_ok = !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit());
                if !digits_ok || !frac.bytes().all(|b| b == b'0') || int.len() > 15 {
                    return None;
                }
                int.parse().ok()
            }
            Scalar::Other => None,
        }
    }
}

/// The text of an optional scalar field, if present and non-empty.
pub(crate) fn text_of(field: &Option<Scalar>) -> Option<Cow<'_, str>> {
    field
        .as_ref()
        .and_then(Scalar::text)
        .filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------------
// OAuth

/// `GET /oauth/v1/generate` success body. `expires_in` is a string on the wire.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    pub(crate) expires_in: String,
}

// ---------------------------------------------------------------------------------------------
// STK Push (M-Pesa Express)

/// `POST /mpesa/stkpush/v1/processrequest` body. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct StkPushRequest {
    #[serde(rename = "BusinessShortCode")]
    pub(crate) business_short_code: Option<Scalar>,
    #[serde(rename = "Password")]
    pub(crate) password: Option<Scalar>,
    #[serde(rename = "Timestamp")]
    pub(crate) timestamp: Option<Scalar>,
    #[serde(rename = "TransactionType")]
    pub(crate) transaction_type: Option<Scalar>,
    #[serde(rename = "Amount")]
    pub(crate) amount: Option<Scalar>,
    #[serde(rename = "PartyA")]
    pub(crate) party_a: Option<Scalar>,
    #[serde(rename = "PartyB")]
    pub(crate) party_b: Option<Scalar>,
    #[serde(rename = "PhoneNumber")]
    pub(crate) phone_number: Option<Scalar>,
    /// The documented spelling (capital B).
    #[serde(rename = "CallBackURL")]
    pub(crate) call_back_url: Option<Scalar>,
    /// The spelling some clients send.
    #[serde(rename = "CallbackURL")]
    pub(crate) callback_url: Option<Scalar>,
    #[serde(rename = "AccountReference")]
    pub(crate) account_reference: Option<Scalar>,
    #[serde(rename = "TransactionDesc")]
    #[allow(dead_code)]
    pub(crate) transaction_desc: Option<Scalar>,
}

/// STK Push acknowledgement (HTTP 200).
#[derive(Debug, Serialize)]
pub(crate) struct StkPushResponse {
    #[serde(rename = "MerchantRequestID")]
    pub(crate) merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    pub(crate) checkout_request_id: String,
    #[serde(rename = "ResponseCode")]
    pub(crate) response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    pub(crate) response_description: &'static str,
    #[serde(rename = "CustomerMessage")]
    pub(crate) customer_message: &'static str,
}

/// `POST /mpesa/stkpushquery/v1/query` body.
#[derive(Debug, Deserialize)]
pub(crate) struct StkQueryRequest {
    #[serde(rename = "BusinessShortCode")]
    pub(crate) business_short_code: Option<Scalar>,
    #[serde(rename = "Password")]
    pub(crate) password: Option<Scalar>,
    #[serde(rename = "Timestamp")]
    pub(crate) timestamp: Option<Scalar>,
    #[serde(rename = "CheckoutRequestID")]
    pub(crate) checkout_request_id: Option<Scalar>,
}

/// STK Query answer for a final transaction (HTTP 200). `ResultCode` is a string here.
#[derive(Debug, Serialize)]
pub(crate) struct StkQueryResponse {
    #[serde(rename = "ResponseCode")]
    pub(crate) response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    pub(crate) response_description: &'static str,
    #[serde(rename = "MerchantRequestID")]
    pub(crate) merchant_request_id: String,
    #[serde(rename = "CheckoutRequestID")]
    pub(crate) checkout_request_id: String,
    #[serde(rename = "ResultCode")]
    pub(crate) result_code: String,
    #[serde(rename = "ResultDesc")]
    pub(crate) result_desc: String,
}

/// The STK result callback: `{"Body":{"stkCallback":{…}}}`.
#[derive(Debug, Serialize)]
pub(crate) struct StkCallbackEnvelope<'a> {
    #[serde(rename = "Body")]
    pub(crate) body: StkCallbackBody<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StkCallbackBody<'a> {
    #[serde(rename = "stkCallback")]
    pub(crate) stk_callback: StkCallback<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct StkCallback<'a> {
    #[serde(rename = "MerchantRequestID")]
    pub(crate) merchant_request_id: &'a str,
    #[serde(rename = "CheckoutRequestID")]
    pub(crate) checkout_request_id: &'a str,
    /// A JSON number in the callback.
    #[serde(rename = "ResultCode")]
    pub(crate) result_code: i32,
    #[serde(rename = "ResultDesc")]
    pub(crate) result_desc: &'a str,
    /// Present on success only.
    #[serde(rename = "CallbackMetadata", skip_serializing_if = "Option::is_none")]
    pub(crate) callback_metadata: Option<CallbackMetadata>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CallbackMetadata {
    #[serde(rename = "Item")]
    pub(crate) item: Vec<CallbackItem>,
}

/// `{"Name": …, "Value": …}`; `Value` is omitted when absent (e.g. `{"Name":"Balance"}`).
#[derive(Debug, Serialize)]
pub(crate) struct CallbackItem {
    #[serde(rename = "Name")]
    pub(crate) name: &'static str,
    #[serde(rename = "Value", skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<serde_json::Value>,
}

// ---------------------------------------------------------------------------------------------
// Field helpers shared by the APIs

/// The text of a required field that must be one of `allowed`.
pub(crate) fn one_of<'a>(field: &Option<Scalar>, allowed: &[&'a str]) -> Option<&'a str> {
    let text = text_of(field)?;
    allowed.iter().copied().find(|a| *a == text)
}

/// A field of at most `max` characters, if present and non-empty.
pub(crate) fn short_text(field: &Option<Scalar>, max: usize) -> Option<String> {
    text_of(field)
        .filter(|t| t.chars().count() <= max)
        .map(Cow::into_owned)
}

/// A non-empty, all-digit field (shortcodes, identifier types).
pub(crate) fn digits_of(field: &Option<Scalar>) -> Option<String> {
    text_of(field)
        .filter(|s| s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .map(Cow::into_owned)
}

/// An absolute `http`/`https` URL with a host.
pub(crate) fn http_url(field: &Option<Scalar>) -> Option<String> {
    let text = field.as_ref().and_then(Scalar::text)?;
    let url = reqwest::Url::parse(text.trim()).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| url.to_string())
}

// ---------------------------------------------------------------------------------------------
// Initiator APIs: requests

/// `POST /mpesa/b2c/v3/paymentrequest` (and v1) body.
#[derive(Debug, Deserialize)]
pub(crate) struct B2cRequest {
    /// Mandatory on v3, absent on v1.
    #[serde(rename = "OriginatorConversationID")]
    pub(crate) originator_conversation_id: Option<Scalar>,
    #[serde(rename = "InitiatorName")]
    pub(crate) initiator_name: Option<Scalar>,
    #[serde(rename = "SecurityCredential")]
    pub(crate) security_credential: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "Amount")]
    pub(crate) amount: Option<Scalar>,
    #[serde(rename = "PartyA")]
    pub(crate) party_a: Option<Scalar>,
    #[serde(rename = "PartyB")]
    pub(crate) party_b: Option<Scalar>,
    #[serde(rename = "Remarks")]
    pub(crate) remarks: Option<Scalar>,
    #[serde(rename = "QueueTimeOutURL")]
    pub(crate) queue_time_out_url: Option<Scalar>,
    #[serde(rename = "ResultURL")]
    pub(crate) result_url: Option<Scalar>,
    /// The documented spelling.
    #[serde(rename = "Occassion")]
    pub(crate) occassion: Option<Scalar>,
    /// The spelling v1 clients send.
    #[serde(rename = "Occasion")]
    pub(crate) occasion: Option<Scalar>,
}

/// `POST /mpesa/b2b/v1/paymentrequest` body.
#[derive(Debug, Deserialize)]
pub(crate) struct B2bRequest {
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Option<Scalar>,
    #[serde(rename = "SecurityCredential")]
    pub(crate) security_credential: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "SenderIdentifierType")]
    pub(crate) sender_identifier_type: Option<Scalar>,
    /// Daraja's spelling ("ie").
    #[serde(rename = "RecieverIdentifierType")]
    pub(crate) reciever_identifier_type: Option<Scalar>,
    #[serde(rename = "Amount")]
    pub(crate) amount: Option<Scalar>,
    #[serde(rename = "PartyA")]
    pub(crate) party_a: Option<Scalar>,
    #[serde(rename = "PartyB")]
    pub(crate) party_b: Option<Scalar>,
    #[serde(rename = "AccountReference")]
    pub(crate) account_reference: Option<Scalar>,
    #[serde(rename = "Requester")]
    pub(crate) requester: Option<Scalar>,
    #[serde(rename = "Remarks")]
    pub(crate) remarks: Option<Scalar>,
    #[serde(rename = "QueueTimeOutURL")]
    pub(crate) queue_time_out_url: Option<Scalar>,
    #[serde(rename = "ResultURL")]
    pub(crate) result_url: Option<Scalar>,
    #[serde(rename = "Occassion")]
    pub(crate) occassion: Option<Scalar>,
    #[serde(rename = "Occasion")]
    pub(crate) occasion: Option<Scalar>,
}

/// `POST /mpesa/transactionstatus/v1/query` body.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusRequest {
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Option<Scalar>,
    #[serde(rename = "SecurityCredential")]
    pub(crate) security_credential: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "TransactionID")]
    pub(crate) transaction_id: Option<Scalar>,
    /// The current docs' name.
    #[serde(rename = "OriginalConversationID")]
    pub(crate) original_conversation_id: Option<Scalar>,
    /// The name some clients send.
    #[serde(rename = "OriginatorConversationID")]
    pub(crate) originator_conversation_id: Option<Scalar>,
    #[serde(rename = "PartyA")]
    pub(crate) party_a: Option<Scalar>,
    #[serde(rename = "IdentifierType")]
    pub(crate) identifier_type: Option<Scalar>,
    #[serde(rename = "ResultURL")]
    pub(crate) result_url: Option<Scalar>,
    #[serde(rename = "QueueTimeOutURL")]
    pub(crate) queue_time_out_url: Option<Scalar>,
    #[serde(rename = "Remarks")]
    pub(crate) remarks: Option<Scalar>,
    #[serde(rename = "Occasion")]
    pub(crate) occasion: Option<Scalar>,
    #[serde(rename = "Occassion")]
    pub(crate) occassion: Option<Scalar>,
}

/// `POST /mpesa/accountbalance/v1/query` body.
#[derive(Debug, Deserialize)]
pub(crate) struct BalanceRequest {
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Option<Scalar>,
    #[serde(rename = "SecurityCredential")]
    pub(crate) security_credential: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "PartyA")]
    pub(crate) party_a: Option<Scalar>,
    #[serde(rename = "IdentifierType")]
    pub(crate) identifier_type: Option<Scalar>,
    #[serde(rename = "Remarks")]
    pub(crate) remarks: Option<Scalar>,
    #[serde(rename = "QueueTimeOutURL")]
    pub(crate) queue_time_out_url: Option<Scalar>,
    #[serde(rename = "ResultURL")]
    pub(crate) result_url: Option<Scalar>,
}

/// `POST /mpesa/reversal/v1/request` body.
#[derive(Debug, Deserialize)]
pub(crate) struct ReversalRequest {
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Option<Scalar>,
    #[serde(rename = "SecurityCredential")]
    pub(crate) security_credential: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "TransactionID")]
    pub(crate) transaction_id: Option<Scalar>,
    #[serde(rename = "Amount")]
    pub(crate) amount: Option<Scalar>,
    #[serde(rename = "ReceiverParty")]
    pub(crate) receiver_party: Option<Scalar>,
    /// Daraja's spelling ("ie").
    #[serde(rename = "RecieverIdentifierType")]
    pub(crate) reciever_identifier_type: Option<Scalar>,
    #[serde(rename = "Remarks")]
    pub(crate) remarks: Option<Scalar>,
    #[serde(rename = "QueueTimeOutURL")]
    pub(crate) queue_time_out_url: Option<Scalar>,
    #[serde(rename = "ResultURL")]
    pub(crate) result_url: Option<Scalar>,
}

/// The synchronous acknowledgement of the initiator APIs (HTTP 200).
#[derive(Debug, Serialize)]
pub(crate) struct AsyncAck {
    #[serde(rename = "OriginatorConversationID")]
    pub(crate) originator_conversation_id: String,
    #[serde(rename = "ConversationID")]
    pub(crate) conversation_id: String,
    #[serde(rename = "ResponseCode")]
    pub(crate) response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    pub(crate) response_description: &'static str,
}

// ---------------------------------------------------------------------------------------------
// Initiator APIs: the asynchronous `Result`

/// `ResultCode`/`ResultType` on the wire: a number, or a string where Daraja's sample has one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub(crate) enum Code {
    Number(i64),
    Text(Cow<'static, str>),
}

impl Code {
    /// `code` as Daraja's samples send it: numbers as numbers (or as strings when `stringly`),
    /// alphanumeric codes always as strings.
    pub(crate) fn of(code: ResultCode, stringly: bool) -> Self {
        match code {
            ResultCode::Number(n) if stringly => Code::Text(Cow::Owned(n.to_string())),
            ResultCode::Number(n) => Code::Number(n.into()),
            ResultCode::Text(t) => Code::Text(Cow::Borrowed(t)),
        }
    }
}

/// A `ResultParameter`/`ReferenceItem` value.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Val {
    Text(String),
    Int(i64),
    /// A number written exactly as given, e.g. `1000000.00`.
    Raw(Box<serde_json::value::RawValue>),
}

impl Val {
    /// A decimal amount as a JSON number with two decimals (`8959269.60`).
    pub(crate) fn decimal(text: String) -> Self {
        match serde_json::value::RawValue::from_string(text.clone()) {
            Ok(raw) => Val::Raw(raw),
            Err(_) => Val::Text(text),
        }
    }

    /// `YYYYMMDDHHmmss` as a JSON number.
    pub(crate) fn timestamp_number(text: &str) -> Self {
        text.parse()
            .map_or_else(|_| Val::Text(text.to_owned()), Val::Int)
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_owned())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}

/// `{"Key": …, "Value": …}`; `Value` is omitted when absent (e.g. `{"Key":"Occasion"}`).
#[derive(Debug, Serialize)]
pub(crate) struct KeyValue {
    #[serde(rename = "Key")]
    pub(crate) key: &'static str,
    #[serde(rename = "Value", skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<Val>,
}

impl KeyValue {
    pub(crate) fn new(key: &'static str, value: impl Into<Val>) -> Self {
        Self {
            key,
            value: Some(value.into()),
        }
    }

    pub(crate) fn bare(key: &'static str) -> Self {
        Self { key, value: None }
    }
}

/// A single object or an array, as Daraja varies per API.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

#[derive(Debug, Serialize)]
pub(crate) struct ResultParameters {
    #[serde(rename = "ResultParameter")]
    pub(crate) result_parameter: OneOrMany<KeyValue>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ReferenceData {
    #[serde(rename = "ReferenceItem")]
    pub(crate) reference_item: OneOrMany<KeyValue>,
}

/// `{"Result": {…}}` posted to `ResultURL`.
#[derive(Debug, Serialize)]
pub(crate) struct ResultEnvelope {
    #[serde(rename = "Result")]
    pub(crate) result: ResultBody,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResultBody {
    #[serde(rename = "ResultType")]
    pub(crate) result_type: Code,
    #[serde(rename = "ResultCode")]
    pub(crate) result_code: Code,
    #[serde(rename = "ResultDesc")]
    pub(crate) result_desc: &'static str,
    #[serde(rename = "OriginatorConversationID")]
    pub(crate) originator_conversation_id: String,
    #[serde(rename = "ConversationID")]
    pub(crate) conversation_id: String,
    #[serde(rename = "TransactionID")]
    pub(crate) transaction_id: String,
    #[serde(rename = "ResultParameters", skip_serializing_if = "Option::is_none")]
    pub(crate) result_parameters: Option<ResultParameters>,
    #[serde(rename = "ReferenceData")]
    pub(crate) reference_data: ReferenceData,
}

// ---------------------------------------------------------------------------------------------
// C2B

/// `POST /mpesa/c2b/v{1,2}/registerurl` body.
#[derive(Debug, Deserialize)]
pub(crate) struct C2bRegisterRequest {
    #[serde(rename = "ShortCode")]
    pub(crate) short_code: Option<Scalar>,
    #[serde(rename = "ResponseType")]
    pub(crate) response_type: Option<Scalar>,
    #[serde(rename = "ConfirmationURL")]
    pub(crate) confirmation_url: Option<Scalar>,
    #[serde(rename = "ValidationURL")]
    pub(crate) validation_url: Option<Scalar>,
}

/// `POST /mpesa/c2b/v{1,2}/simulate` body.
#[derive(Debug, Deserialize)]
pub(crate) struct C2bSimulateRequest {
    #[serde(rename = "ShortCode")]
    pub(crate) short_code: Option<Scalar>,
    #[serde(rename = "CommandID")]
    pub(crate) command_id: Option<Scalar>,
    #[serde(rename = "Amount")]
    pub(crate) amount: Option<Scalar>,
    #[serde(rename = "Msisdn")]
    pub(crate) msisdn: Option<Scalar>,
    /// `null` for Buy Goods.
    #[serde(rename = "BillRefNumber")]
    pub(crate) bill_ref_number: Option<Scalar>,
}

/// C2B register and simulate acknowledgement, with Daraja's `OriginatorCoversationID` typo.
#[derive(Debug, Serialize)]
pub(crate) struct C2bAck {
    #[serde(rename = "OriginatorCoversationID")]
    pub(crate) originator_coversation_id: String,
    #[serde(rename = "ResponseCode")]
    pub(crate) response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    pub(crate) response_description: &'static str,
}

/// The validation and confirmation request body: every value is a string.
#[derive(Debug, Serialize)]
pub(crate) struct C2bNotification<'a> {
    #[serde(rename = "TransactionType")]
    pub(crate) transaction_type: &'static str,
    #[serde(rename = "TransID")]
    pub(crate) trans_id: &'a str,
    #[serde(rename = "TransTime")]
    pub(crate) trans_time: String,
    #[serde(rename = "TransAmount")]
    pub(crate) trans_amount: String,
    #[serde(rename = "BusinessShortCode")]
    pub(crate) business_short_code: &'a str,
    #[serde(rename = "BillRefNumber")]
    pub(crate) bill_ref_number: &'a str,
    #[serde(rename = "InvoiceNumber")]
    pub(crate) invoice_number: &'static str,
    /// Empty in validation; the Utility balance after the payment in confirmation.
    #[serde(rename = "OrgAccountBalance")]
    pub(crate) org_account_balance: String,
    #[serde(rename = "ThirdPartyTransID")]
    pub(crate) third_party_trans_id: &'a str,
    #[serde(rename = "MSISDN")]
    pub(crate) msisdn: String,
    #[serde(rename = "FirstName")]
    pub(crate) first_name: &'static str,
    #[serde(rename = "MiddleName")]
    pub(crate) middle_name: &'static str,
    #[serde(rename = "LastName")]
    pub(crate) last_name: &'static str,
}

/// The merchant's answer to a validation request.
#[derive(Debug, Deserialize)]
pub(crate) struct C2bValidationReply {
    #[serde(rename = "ResultCode")]
    pub(crate) result_code: Option<Scalar>,
    #[serde(rename = "ThirdPartyTransID")]
    pub(crate) third_party_trans_id: Option<Scalar>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(json: &str) -> Scalar {
        serde_json::from_str(json).expect("valid JSON")
    }

    #[test]
    fn whole_numbers() {
        assert_eq!(scalar("100").whole_number(), Some(100));
        assert_eq!(scalar("100.0").whole_number(), Some(100));
        assert_eq!(scalar("\"100\"").whole_number(), Some(100));
        assert_eq!(scalar("\"100.00\"").whole_number(), Some(100));
        assert_eq!(scalar("\"100.5\"").whole_number(), None);
        assert_eq!(scalar("100.5").whole_number(), None);
        assert_eq!(scalar("-5").whole_number(), None);
        assert_eq!(scalar("\"-5\"").whole_number(), None);
        assert_eq!(scalar("\"\"").whole_number(), None);
        assert_eq!(scalar("\" 1\"").whole_number(), None);
        assert_eq!(scalar("\"1e3\"").whole_number(), None);
        assert_eq!(scalar("true").whole_number(), None);
        assert_eq!(scalar("[1]").whole_number(), None);
    }

    #[test]
    fn scalar_text() {
        assert_eq!(scalar("174379").text().as_deref(), Some("174379"));
        assert_eq!(scalar("\"174379\"").text().as_deref(), Some("174379"));
        assert_eq!(scalar("{}").text(), None);
    }

    #[test]
    fn push_request_accepts_both_callback_spellings_and_nulls() {
        let r: StkPushRequest = serde_json::from_str(
            r#"{"CallbackURL":"http://x/y","TransactionDesc":null,"Extra":1}"#,
        )
        .expect("parses");
        assert!(r.call_back_url.is_none());
        assert_eq!(r.callback_url, Some(Scalar::Text("http://x/y".into())));
        assert!(r.transaction_desc.is_none());
    }

    #[test]
    fn result_shapes() {
        let body = ResultEnvelope {
            result: ResultBody {
                result_type: Code::of(ResultCode::Number(0), true),
                result_code: Code::of(ResultCode::Text("R000002"), false),
                result_desc: "d",
                originator_conversation_id: "o".into(),
                conversation_id: "AG_1".into(),
                transaction_id: "OAK0000000".into(),
                result_parameters: Some(ResultParameters {
                    result_parameter: OneOrMany::Many(vec![
                        KeyValue::new("Amount", Val::decimal("1000000.00".into())),
                        KeyValue::new("When", Val::timestamp_number("20200120164825")),
                        KeyValue::bare("TransactionReason"),
                    ]),
                }),
                reference_data: ReferenceData {
                    reference_item: OneOrMany::One(KeyValue::new("QueueTimeoutURL", "u")),
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&body).expect("serialises"),
            r#"{"Result":{"ResultType":"0","ResultCode":"R000002","ResultDesc":"d","OriginatorConversationID":"o","ConversationID":"AG_1","TransactionID":"OAK0000000","ResultParameters":{"ResultParameter":[{"Key":"Amount","Value":1000000.00},{"Key":"When","Value":20200120164825},{"Key":"TransactionReason"}]},"ReferenceData":{"ReferenceItem":{"Key":"QueueTimeoutURL","Value":"u"}}}}"#
        );
    }

    #[test]
    fn callback_shape() {
        let cb = StkCallbackEnvelope {
            body: StkCallbackBody {
                stk_callback: StkCallback {
                    merchant_request_id: "m",
                    checkout_request_id: "c",
                    result_code: 1032,
                    result_desc: "Request cancelled by user",
                    callback_metadata: None,
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&cb).expect("serialises"),
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":1032,"ResultDesc":"Request cancelled by user"}}}"#
        );
    }
}
