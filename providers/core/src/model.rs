//! GSMA MMAPI 1.2 objects, with serde names exactly as the spec spells them and utoipa schemas.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::amount::Amount;
use crate::currency::Currency;
use crate::error::GsmaError;
use crate::time::Timestamp;

/// A `{key, value}` pair: metadata, customData and errorParameters items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = metadata)]
pub struct KeyValue {
    #[schema(min_length = 1, max_length = 256)]
    pub key: String,
    #[schema(min_length = 1, max_length = 256)]
    pub value: String,
}

impl KeyValue {
    /// A new pair.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A party identifier: `key` is the account identifier type (`msisdn`, `storeid`, …), `value` its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = party)]
pub struct Party {
    #[schema(min_length = 1, max_length = 256, example = "msisdn")]
    pub key: String,
    #[schema(min_length = 1, max_length = 256, example = "+254708374149")]
    pub value: String,
}

impl Party {
    /// A new party identifier.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// Looks up the value of the first identifier with the given key (keys compare case-insensitively).
pub fn party_value<'a>(parties: &'a [Party], key: &str) -> Option<&'a str> {
    parties
        .iter()
        .find(|p| p.key.eq_ignore_ascii_case(key))
        .map(|p| p.value.as_str())
}

/// A fee charged on a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = fees)]
pub struct Fee {
    #[schema(min_length = 1, max_length = 256)]
    pub fee_type: String,
    pub fee_amount: Amount,
    pub fee_currency: Currency,
}

/// The organisation on whose behalf the request is made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestingOrganisation)]
pub struct RequestingOrganisation {
    pub requesting_organisation_identifier_type: RequestingOrganisationIdentifierType,
    #[schema(min_length = 1, max_length = 256)]
    pub requesting_organisation_identifier: String,
}

/// `requestingOrganisationIdentifierType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestingOrganisationIdentifierType {
    Lei,
    Swiftbic,
    Organisationid,
}

/// A person's name (`subjectName`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = subjectName)]
pub struct SubjectName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_name: Option<String>,
}

/// An identity document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = idDocument)]
pub struct IdDocument {
    pub id_type: IdType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub issue_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expiry_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_place: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub issuer_country: Option<String>,
    /// Spelt `otherIddescription` in the spec.
    #[serde(
        default,
        rename = "otherIddescription",
        skip_serializing_if = "Option::is_none"
    )]
    pub other_id_description: Option<String>,
}

/// `idType` values of the spec (`otherId` and `villageelderLetter` spelt as it spells them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum IdType {
    #[serde(rename = "passport")]
    Passport,
    #[serde(rename = "nationalregistration")]
    NationalRegistration,
    #[serde(rename = "otherId")]
    OtherId,
    #[serde(rename = "drivinglicence")]
    DrivingLicence,
    #[serde(rename = "socialsecurity")]
    SocialSecurity,
    #[serde(rename = "alienregistration")]
    AlienRegistration,
    #[serde(rename = "nationalidcard")]
    NationalIdCard,
    #[serde(rename = "employer")]
    Employer,
    #[serde(rename = "taxid")]
    TaxId,
    #[serde(rename = "seniorcitizenscard")]
    SeniorCitizensCard,
    #[serde(rename = "marriagecertificate")]
    MarriageCertificate,
    #[serde(rename = "birthcertificate")]
    BirthCertificate,
    #[serde(rename = "healthcard")]
    HealthCard,
    #[serde(rename = "votersid")]
    VotersId,
    #[serde(rename = "villageelderLetter")]
    VillageElderLetter,
    #[serde(rename = "pancard")]
    PanCard,
    #[serde(rename = "officialletter")]
    OfficialLetter,
}

/// A postal address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = postalAddress)]
pub struct PostalAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_line3: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

/// `gender`: m, f or u.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    M,
    F,
    U,
}

/// Know-your-customer data of a sender or recipient.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = kyc)]
pub struct Kyc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub birth_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_document: Option<Vec<IdDocument>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub nationality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occupation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_address: Option<PostalAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_name: Option<SubjectName>,
}

/// `deliveryMethod` of an international transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryMethod {
    Directtoaccount,
    Agent,
    Personaldelivery,
}

/// `internationalTransferInformation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = internationalTransferInformation)]
pub struct InternationalTransferInformation {
    #[schema(pattern = "^[A-Z]{2}$")]
    pub origin_country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotation_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_method: Option<DeliveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub receiving_country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_sender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittance_purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub sending_service_provider_country: Option<String>,
}

/// The harmonised transaction types (`transactionType` path parameter and `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = transactionType)]
pub enum TransactionType {
    Billpay,
    Deposit,
    Disbursement,
    Transfer,
    Merchantpay,
    Inttransfer,
    Adjustment,
    Reversal,
    Withdrawal,
}

impl TransactionType {
    /// Every type, in the spec's order.
    pub const ALL: [TransactionType; 9] = [
        TransactionType::Billpay,
        TransactionType::Deposit,
        TransactionType::Disbursement,
        TransactionType::Transfer,
        TransactionType::Merchantpay,
        TransactionType::Inttransfer,
        TransactionType::Adjustment,
        TransactionType::Reversal,
        TransactionType::Withdrawal,
    ];

    /// The lower-case name the spec uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionType::Billpay => "billpay",
            TransactionType::Deposit => "deposit",
            TransactionType::Disbursement => "disbursement",
            TransactionType::Transfer => "transfer",
            TransactionType::Merchantpay => "merchantpay",
            TransactionType::Inttransfer => "inttransfer",
            TransactionType::Adjustment => "adjustment",
            TransactionType::Reversal => "reversal",
            TransactionType::Withdrawal => "withdrawal",
        }
    }

    /// A customer pays an organisation and must authorise it: a merchant or bill payment, or a cash-out, which
    /// is the customer paying the agent's till for the cash it hands over.
    pub fn is_customer_payment(self) -> bool {
        matches!(
            self,
            TransactionType::Merchantpay | TransactionType::Billpay | TransactionType::Withdrawal
        )
    }

    /// An organisation pays a customer: a disbursement, a refund (adjustment), or a cash-in, which is the agent's
    /// organisation paying the customer for the cash it took.
    pub fn is_payment_to_customer(self) -> bool {
        matches!(
            self,
            TransactionType::Disbursement | TransactionType::Adjustment | TransactionType::Deposit
        )
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TransactionType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TransactionType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(())
    }
}

/// Where a transaction stands. The spec leaves `transactionStatus` a free string; the gateway uses these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransactionStatus {
    Pending,
    Completed,
    Failed,
    Reversed,
}

impl TransactionStatus {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransactionStatus::Pending => "pending",
            TransactionStatus::Completed => "completed",
            TransactionStatus::Failed => "failed",
            TransactionStatus::Reversed => "reversed",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Completed, Self::Failed, Self::Reversed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// The body of `POST /transactions/type/{transactionType}` (`requestTransactionType`): the type comes from the
/// path. `amount` and `currency` are mandatory, and at least one of `debitParty` and `creditParty`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestTransactionType)]
pub struct TransactionRequest {
    pub amount: Amount,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub debit_party: Option<Vec<Party>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub credit_party: Option<Vec<Party>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub requesting_organisation_transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub original_transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 160)]
    pub description_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 20)]
    pub fees: Option<Vec<Fee>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        pattern = r"^(-?(90|(\d|[1-8]\d)(\.\d{1,6}){0,1}))\,{1}(-?(180|(\d|\d\d|1[0-7]\d)(\.\d{1,6}){0,1}))$"
    )]
    pub geo_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_transfer_information: Option<InternationalTransferInformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub one_time_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub servicing_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub metadata: Option<Vec<KeyValue>>,
}

impl TransactionRequest {
    /// A request with only an amount and a currency (the other fields to be filled in).
    pub fn empty(amount: Amount, currency: Currency) -> Self {
        Self {
            amount,
            currency,
            debit_party: None,
            credit_party: None,
            requesting_organisation_transaction_reference: None,
            original_transaction_reference: None,
            sub_type: None,
            description_text: None,
            fees: None,
            geo_code: None,
            international_transfer_information: None,
            one_time_code: None,
            recipient_kyc: None,
            sender_kyc: None,
            requesting_organisation: None,
            servicing_identity: None,
            request_date: None,
            custom_data: None,
            metadata: None,
        }
    }

    /// Every party, debit then credit.
    pub fn parties(&self) -> Vec<Party> {
        self.debit_parties()
            .iter()
            .chain(self.credit_parties())
            .cloned()
            .collect()
    }

    /// The debit parties (empty when none were given).
    pub fn debit_parties(&self) -> &[Party] {
        self.debit_party.as_deref().unwrap_or_default()
    }

    /// The credit parties (empty when none were given).
    pub fn credit_parties(&self) -> &[Party] {
        self.credit_party.as_deref().unwrap_or_default()
    }
}

/// A transaction as the gateway returns it (`responseTransaction`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseTransaction)]
pub struct Transaction {
    #[schema(min_length = 1, max_length = 256)]
    pub transaction_reference: String,
    #[serde(rename = "type")]
    pub transaction_type: TransactionType,
    pub transaction_status: TransactionStatus,
    pub amount: Amount,
    pub currency: Currency,
    #[schema(min_items = 1, max_items = 10)]
    pub debit_party: Vec<Party>,
    #[schema(min_items = 1, max_items = 10)]
    pub credit_party: Vec<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation_transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 160)]
    pub description_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<Vec<Fee>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub international_transfer_information: Option<InternationalTransferInformation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_time_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_kyc: Option<Kyc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servicing_identity: Option<String>,
    /// The operator's receipt (e.g. the M-Pesa receipt number) once the transaction completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_receipt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<KeyValue>>,
}

impl Transaction {
    /// A new pending transaction from an accepted request.
    pub fn pending(
        reference: String,
        transaction_type: TransactionType,
        request: TransactionRequest,
        now: Timestamp,
    ) -> Self {
        Self {
            transaction_reference: reference,
            transaction_type,
            transaction_status: TransactionStatus::Pending,
            amount: request.amount,
            currency: request.currency,
            debit_party: request.debit_party.unwrap_or_default(),
            credit_party: request.credit_party.unwrap_or_default(),
            requesting_organisation_transaction_reference: request
                .requesting_organisation_transaction_reference,
            original_transaction_reference: request.original_transaction_reference,
            sub_type: request.sub_type,
            description_text: request.description_text,
            fees: request.fees,
            geo_code: request.geo_code,
            international_transfer_information: request.international_transfer_information,
            one_time_code: request.one_time_code,
            recipient_kyc: request.recipient_kyc,
            sender_kyc: request.sender_kyc,
            requesting_organisation: request.requesting_organisation,
            servicing_identity: request.servicing_identity,
            transaction_receipt: None,
            request_date: request.request_date,
            creation_date: Some(now),
            modification_date: Some(now),
            custom_data: request.custom_data,
            metadata: request.metadata,
        }
    }
}

/// `status` of a request state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Pending,
    Completed,
    Failed,
}

impl RequestStatus {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Completed => "completed",
            RequestStatus::Failed => "failed",
        }
    }

    /// Parses the lower-case name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Completed, Self::Failed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// How the client learns the outcome: a PUT to its `X-Callback-URL`, or polling `/requeststates`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotificationMethod {
    Callback,
    Polling,
}

/// The interim object of an asynchronous request (`requestStateObject`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestStateObject)]
pub struct RequestState {
    /// Lower-case UUID.
    #[schema(value_type = String, format = Uuid, example = "0f1c6b3e-41e5-4fe3-9a1b-8b84f4a4e3e2")]
    pub server_correlation_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_reference: Option<String>,
    pub status: RequestStatus,
    pub notification_method: NotificationMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub poll_limit: Option<i32>,
    /// The error of a failed request (named `error` in the 1.2 YAML, `errorReference` in the prose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<GsmaError>,
}

/// `serviceStatus` of the heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    Available,
    Unavailable,
    Degraded,
}

/// `GET /heartbeat` answer (`responseHeartbeat`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseHeartbeat)]
pub struct Heartbeat {
    pub service_status: ServiceStatus,
    /// Expected delay in milliseconds, only when degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_restoration_time: Option<Timestamp>,
}

/// `GET /responses/{clientCorrelationId}` answer (`responseResponse`): the path of the resource created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = responseResponse)]
pub struct Link {
    #[schema(
        min_length = 1,
        max_length = 256,
        example = "/transactions/0192f4c2a7e07d61b0f3c1d2e4a5b6c7"
    )]
    pub link: String,
}

/// `accountStatus` of a balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Available,
    Unavailable,
    Unregistered,
}

/// `GET /accounts/{…}/balance` answer (`responseAccountBalance`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseAccountBalance)]
pub struct Balance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_status: Option<AccountStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncleared_balance: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// The body of `POST /transactions/{transactionReference}/reversals` (`requestReversal`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestReversal)]
pub struct ReversalRequest {
    /// `reversal` or `adjustment`.
    #[serde(rename = "type")]
    pub reversal_type: ReversalType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation_transaction_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 160)]
    pub description_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<KeyValue>>,
}

/// `typeReversal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReversalType {
    Reversal,
    Adjustment,
}

/// `GET /accounts/{…}/accountname` answer (`responseAccountName`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseAccountName)]
pub struct AccountName {
    pub name: SubjectName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z0-9]{4}00[A-Z0-9]{12}\\d{2}$")]
    pub lei: Option<String>,
}
