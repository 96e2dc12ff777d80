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

/// POST `directDebitCreation/`: a mandate the customer approves on the phone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectDebitCreation {
    /// Always `1`.
    #[serde(rename = "input_AgreedTC")]
    pub agreed_tc: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_CustomerMSISDN")]
    pub customer_msisdn: String,
    #[serde(
        rename = "input_EndRangeOfDays",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_range_of_days: Option<String>,
    /// `yyyyMMdd`.
    #[serde(rename = "input_ExpiryDate", skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<String>,
    /// `yyyyMMdd`.
    #[serde(
        rename = "input_FirstPaymentDate",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_payment_date: Option<String>,
    /// `01` once off … `08` on demand.
    #[serde(rename = "input_Frequency", skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(
        rename = "input_StartRangeOfDays",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_range_of_days: Option<String>,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    /// The integrator's mandate reference.
    #[serde(rename = "input_ThirdPartyReference")]
    pub third_party_reference: String,
}

/// POST `directDebitPayment/`: a payment under a mandate (no PIN prompt).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectDebitPayment {
    #[serde(rename = "input_Amount")]
    pub amount: String,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(rename = "input_Currency")]
    pub currency: String,
    #[serde(
        rename = "input_CustomerMSISDN",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_msisdn: Option<String>,
    #[serde(rename = "input_MandateID", skip_serializing_if = "Option::is_none")]
    pub mandate_id: Option<String>,
    #[serde(rename = "input_MsisdnToken", skip_serializing_if = "Option::is_none")]
    pub msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_ThirdPartyReference")]
    pub third_party_reference: String,
}

/// `PUT directDebitCancel/`: the mandate by its customer (MSISDN or token), reference and ID.
#[derive(Clone, Debug, Serialize)]
pub struct DirectDebitCancel {
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(
        rename = "input_CustomerMSISDN",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_msisdn: Option<String>,
    #[serde(rename = "input_MsisdnToken", skip_serializing_if = "Option::is_none")]
    pub msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_ThirdPartyReference")]
    pub third_party_reference: String,
    #[serde(rename = "input_MandateID", skip_serializing_if = "Option::is_none")]
    pub mandate_id: Option<String>,
}

/// GET `queryDirectDebit/`, sent as a query string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectDebitQuery {
    /// `True` / `False`.
    #[serde(rename = "input_QueryBalanceAmount")]
    pub query_balance_amount: String,
    #[serde(
        rename = "input_BalanceAmount",
        skip_serializing_if = "Option::is_none"
    )]
    pub balance_amount: Option<String>,
    #[serde(rename = "input_Country")]
    pub country: String,
    #[serde(
        rename = "input_CustomerMSISDN",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_msisdn: Option<String>,
    #[serde(rename = "input_MsisdnToken", skip_serializing_if = "Option::is_none")]
    pub msisdn_token: Option<String>,
    #[serde(rename = "input_ServiceProviderCode")]
    pub service_provider_code: String,
    #[serde(rename = "input_ThirdPartyConversationID")]
    pub third_party_conversation_id: String,
    #[serde(rename = "input_ThirdPartyReference")]
    pub third_party_reference: String,
    #[serde(rename = "input_MandateID", skip_serializing_if = "Option::is_none")]
    pub mandate_id: Option<String>,
    #[serde(rename = "input_Currency")]
    pub currency: String,
}

/// Any OpenAPI answer (success or error: both keep this shape). Unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Response {
    #[serde(rename = "output_ResponseCode", default)]
    pub response_code: Option<String>,
    #[serde(rename = "output_ResponseDesc", default)]
    pub response_desc: Option<String>,
    /// `getSession/` only; never shown (`Debug` prints `[redacted]`).
    #[serde(rename = "output_SessionID", default)]
    pub session_id: Option<mmapi_core::Secret>,
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
    /// Direct debits: the mandate's numeric ID.
    #[serde(rename = "output_MandateID", default)]
    pub mandate_id: Option<String>,
    /// Direct debits: the token that stands for the customer's MSISDN.
    #[serde(rename = "output_MsisdnToken", default)]
    pub msisdn_token: Option<String>,
    /// Direct debit creation and cancel: the operator's reference (`N/A` on errors).
    #[serde(rename = "output_TransactionReference", default)]
    pub transaction_reference: Option<String>,
    /// Query direct debit: `Active`.
    #[serde(rename = "output_MandateStatus", default)]
    pub mandate_status: Option<String>,
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
