//! Quotations (`POST /quotations`, `GET /quotations/{quotationReference}`): what a transaction would cost
//! before it is made.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::{
    DeliveryMethod, Fee, InternationalTransferInformation, KeyValue, Kyc, Party,
    RequestingOrganisation, TransactionRequest, TransactionType,
};
use crate::{Amount, Currency, GsmaError, Timestamp};

/// The body of `POST /quotations` (`requestQuotation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestQuotation)]
pub struct QuotationRequest {
    #[schema(min_items = 1, max_items = 10)]
    pub credit_party: Vec<Party>,
    #[schema(min_items = 1, max_items = 10)]
    pub debit_party: Vec<Party>,
    /// The transaction type to quote; a transfer when not given.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<TransactionType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub sub_type: Option<String>,
    pub request_amount: Amount,
    pub request_currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub origin_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub receiving_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub sending_service_provider_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub metadata: Option<Vec<KeyValue>>,
}

impl QuotationRequest {
    /// The quoted transaction type (`transfer` when the request names none, as a P2P quote would).
    pub fn quoted_type(&self) -> TransactionType {
        self.transaction_type.unwrap_or(TransactionType::Transfer)
    }

    /// The transaction the quote is for, as a transaction request (for routing and the operator's checks).
    pub fn as_transaction_request(&self) -> TransactionRequest {
        let mut r = TransactionRequest::empty(self.request_amount.clone(), self.request_currency);
        r.debit_party = Some(self.debit_party.clone());
        r.credit_party = Some(self.credit_party.clone());
        r.sub_type = self.sub_type.clone();
        r.recipient_kyc = self.recipient_kyc.clone();
        r.sender_kyc = self.sender_kyc.clone();
        r.requesting_organisation = self.requesting_organisation.clone();
        r.international_transfer_information =
            self.origin_country
                .clone()
                .map(|origin_country| InternationalTransferInformation {
                    origin_country,
                    quotation_reference: None,
                    quote_id: None,
                    delivery_method: self.chosen_delivery_method,
                    receiving_country: self.receiving_country.clone(),
                    relationship_sender: None,
                    remittance_purpose: None,
                    sending_service_provider_country: self.sending_service_provider_country.clone(),
                });
        r
    }
}

/// Parses and checks a `POST /quotations` body.
pub fn quotation_request(body: &[u8]) -> Result<QuotationRequest, GsmaError> {
    let object = crate::parse::json_object(body)?;
    let request: QuotationRequest = crate::parse::typed(serde_json::Value::Object(object))?;
    crate::parse::validate_transaction_request(&request.as_transaction_request())?;
    Ok(request)
}

/// `quotationStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = quotationStatus)]
pub enum QuotationStatus {
    Pending,
    Rejected,
    Completed,
}

/// One quote (`quotes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = quotes)]
pub struct Quote {
    #[schema(min_length = 1, max_length = 256)]
    pub quote_id: String,
    pub receiving_amount: Amount,
    pub receiving_currency: Currency,
    pub sending_amount: Amount,
    pub sending_currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 20)]
    pub fees: Option<Vec<Fee>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fx_rate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_expiry_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub receiving_service_provider: Option<String>,
}

/// A quotation (`responseQuotation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseQuotation)]
pub struct Quotation {
    #[schema(min_length = 1, max_length = 256)]
    pub quotation_reference: String,
    pub credit_party: Vec<Party>,
    pub debit_party: Vec<Party>,
    #[serde(rename = "type")]
    pub transaction_type: TransactionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    pub request_amount: Amount,
    pub request_currency: Currency,
    pub quotation_status: QuotationStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotes: Vec<Quote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiving_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sending_service_provider_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    pub creation_date: Timestamp,
    pub modification_date: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<KeyValue>>,
}

impl Quotation {
    /// A completed quotation of `request` with its `quotes`, made `now`.
    pub fn completed(
        quotation_reference: String,
        request: QuotationRequest,
        quotes: Vec<Quote>,
        now: Timestamp,
    ) -> Self {
        let transaction_type = request.quoted_type();
        Self {
            quotation_reference,
            credit_party: request.credit_party,
            debit_party: request.debit_party,
            transaction_type,
            sub_type: request.sub_type,
            request_amount: request.request_amount,
            request_currency: request.request_currency,
            quotation_status: QuotationStatus::Completed,
            quotes,
            chosen_delivery_method: request.chosen_delivery_method,
            origin_country: request.origin_country,
            receiving_country: request.receiving_country,
            sending_service_provider_country: request.sending_service_provider_country,
            request_date: request.request_date,
            creation_date: now,
            modification_date: now,
            custom_data: request.custom_data,
            metadata: request.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_parses_and_bad_ones_name_the_field() {
        let ok = quotation_request(
            br#"{"requestAmount":"1000","requestCurrency":"KES","type":"disbursement",
                 "debitParty":[{"key":"organisationid","value":"600000"}],
                 "creditParty":[{"key":"msisdn","value":"+254708374149"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.quoted_type(), TransactionType::Disbursement);
        let missing = quotation_request(
            br#"{"requestCurrency":"KES","debitParty":[{"key":"msisdn","value":"1"}],
                 "creditParty":[{"key":"msisdn","value":"2"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            missing.error_code,
            crate::ErrorCode::MandatoryValueNotSupplied
        );
        assert!(missing
            .error_description
            .as_deref()
            .is_some_and(|d| d.contains("requestAmount")));
    }
}
