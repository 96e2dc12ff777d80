//! The OpenAPI's JSON as the portal spells it: `input_*` in requests, `output_*` in answers, every value a string.

use serde::{Deserialize, Serialize};

/// POST `c2bPayment/singleStage/`: a USSD PIN prompt to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct C2bRequest {
    #[serde(rename = "input_Amount")]
    pub amount: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_Currency")]
    pub currency: String,
    #[serde(rename = "input_CustomerMSISDN")]
    pub customer_msisdn: String,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_TransactionReference")]
    pub transaction_reference: String,
    #[serde(rename = "input_PurchasedItemsDesc")]
    pub purchased_items_desc: String,
}

/// POST `b2cPayment/`: a payment to a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct B2cRequest {
    #[serde(rename = "input_Amount")]
    pub amount: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_Currency")]
    pub currency: String,
    #[serde(rename = "input_CustomerMSISDN")]
    pub customer_msisdn: String,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_TransactionReference")]
    pub transaction_reference: String,
    #[serde(rename = "input_PaymentItemsDesc")]
    pub payment_items_desc: String,
}

/// POST `b2bPayment/`: a payment between two organisations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct B2bRequest {
    #[serde(rename = "input_Amount")]
    pub amount: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_Currency")]
    pub currency: String,
    #[serde(rename = "input_PrimaryPartyCode")]
    pub primary_party_code: String,
    #[serde(rename = "input_ReceiverPartyCode")]
    pub receiver_party_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_TransactionReference")]
    pub transaction_reference: String,
    #[serde(rename = "input_PurchasedItemsDesc")]
    pub purchased_items_desc: String,
}

/// PUT `reversal/`. Without `input_ReversalAmount` the whole amount is reversed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReversalRequest {
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(
        rename = "input_ReversalAmount",
        skip_serializing_if = "Option::is_none"
    )]
    pub reversal_amount: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_TransactionID")]
    pub transaction_id: String,
}

/// GET `queryTransactionStatus/`, sent as a query string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusQuery {
    #[serde(rename = "input_QueryReference")]
    pub query_reference: String,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_Country")]
    pub country: String,
}

/// GET `queryBeneficiaryName/` (Ghana only), sent as a query string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BeneficiaryQuery {
    #[serde(rename = "input_CustomerMSISDN")]
    pub customer_msisdn: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    /// Always `Name`.
    #[serde(rename = "input_KycQueryType")]
    pub kyc_query_type: String,
}

/// Any OpenAPI answer (success or error: both keep this shape). Unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Response {
    #[serde(rename = "output_ResponseCode", default)]
    pub response_code: Option<String>,
    #[serde(rename = "output_ResponseDesc", default)]
    pub response_desc: Option<String>,
    #[serde(rename = "output_SessionID", default)]
    pub session_id: Option<String>,
    #[serde(rename = "output_TransactionID", default)]
    pub transaction_id: Option<String>,
    #[serde(rename = "output_ConversationID", default)]
    pub conversation_id: Option<String>,
    #[serde(rename = "output_ThirdPartyConversationID", default)]
    pub third_party_conversation_id: Option<String>,
    /// Query status: `Completed`, `Cancelled`, `Expired`, `N/A` (also `Pending`, `Failed`).
    #[serde(
        rename = "output_ResponseTransactionStatus",
        alias = "output_TransactionStatus",
        default
    )]
    pub transaction_status: Option<String>,
    #[serde(rename = "output_OriginalTransactionID", default)]
    pub original_transaction_id: Option<String>,
    /// `True` / `False`.
    #[serde(rename = "output_Reversed", default)]
    pub reversed: Option<String>,
    /// Query beneficiary name only.
    #[serde(rename = "output_CustomerFirstName", default)]
    pub customer_first_name: Option<String>,
    #[serde(rename = "output_CustomerLastName", default)]
    pub customer_last_name: Option<String>,
}

/// The result the OpenAPI posts to the asynchronous response URL (§B.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct AsyncResult {
    #[serde(rename = "input_OriginalConversationID", default)]
    pub original_conversation_id: Option<String>,
    #[serde(rename = "input_TransactionID", default)]
    pub transaction_id: Option<String>,
    /// `INS-0`, or `0` in some Mozambique documents.
    #[serde(rename = "input_ResultCode", alias = "input_ResponseCode", default)]
    pub result_code: Option<String>,
    #[serde(rename = "input_ResultDesc", alias = "input_ResponseDesc", default)]
    pub result_desc: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID", default)]
    pub third_party_conversation_id: Option<String>,
    /// Query-status results only.
    #[serde(rename = "input_OriginalTransactionID", default)]
    pub original_transaction_id: Option<String>,
    #[serde(rename = "input_Reversed", default)]
    pub reversed: Option<String>,
}

/// The listener's answer to an asynchronous result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AsyncAck {
    #[serde(rename = "output_OriginalConversationID")]
    pub original_conversation_id: String,
    #[serde(rename = "output_ResponseCode")]
    pub response_code: String,
    #[serde(rename = "output_ResponseDesc")]
    pub response_desc: String,
    #[serde(rename = "output_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
}
