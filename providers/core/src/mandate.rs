//! Debit mandates (GSMA recurring payments): `POST /accounts/{…}/debitmandates` and
//! `GET /accounts/{…}/debitmandates/{debitMandateReference}`, with the names of the 1.2 YAML's
//! `requestDebitMandate` and `responseDebitMandate`, and what a provider needs to create, query and pay under one.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::amount::Amount;
use crate::currency::Currency;
use crate::error::{ErrorCategory, ErrorCode, GsmaError};
use crate::model::{KeyValue, Party, RequestingOrganisation};
use crate::parse::{json_object, typed};
use crate::provider::ProviderRefs;
use crate::time::Timestamp;

/// The party key a payment under a mandate names in its `debitParty`.
pub const MANDATE_REFERENCE_KEY: &str = "mandatereference";

/// The key of a created mandate's [`ProviderRefs::extra`] under which an operator that takes the payments itself
/// (e.g. M-Pesa Ratiba on its schedule) names what each of those payments carries: the same value as
/// [`crate::provider::IncomingPayment::mandate_key`] of such a payment.
pub const PAYMENT_KEY: &str = "mandatePaymentKey";

/// `mandateStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = mandateStatus)]
pub enum MandateStatus {
    Active,
    Inactive,
}

/// `frequencyType`: how often the payee may take a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = frequencyType)]
pub enum FrequencyType {
    Weekly,
    Fortnight,
    Monthspecificdate,
    Twomonths,
    Threemonths,
    Fourmonths,
    Sixmonths,
    Yearly,
    Lastdaymonth,
    Lastdaymonthworking,
    Lastmonday,
    Lasttuesday,
    Lastwednesday,
    Lastthursday,
    Lastfriday,
    Lastsaturday,
    Lastsunday,
    Specificdaymonthly,
}

impl FrequencyType {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FrequencyType::Weekly => "weekly",
            FrequencyType::Fortnight => "fortnight",
            FrequencyType::Monthspecificdate => "monthspecificdate",
            FrequencyType::Twomonths => "twomonths",
            FrequencyType::Threemonths => "threemonths",
            FrequencyType::Fourmonths => "fourmonths",
            FrequencyType::Sixmonths => "sixmonths",
            FrequencyType::Yearly => "yearly",
            FrequencyType::Lastdaymonth => "lastdaymonth",
            FrequencyType::Lastdaymonthworking => "lastdaymonthworking",
            FrequencyType::Lastmonday => "lastmonday",
            FrequencyType::Lasttuesday => "lasttuesday",
            FrequencyType::Lastwednesday => "lastwednesday",
            FrequencyType::Lastthursday => "lastthursday",
            FrequencyType::Lastfriday => "lastfriday",
            FrequencyType::Lastsaturday => "lastsaturday",
            FrequencyType::Lastsunday => "lastsunday",
            FrequencyType::Specificdaymonthly => "specificdaymonthly",
        }
    }
}

/// The body of `POST /accounts/{…}/debitmandates` (`requestDebitMandate`). The payer is the account in the path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestDebitMandate)]
pub struct DebitMandateRequest {
    /// Who may take payments under the mandate (e.g. `{"key": "businessshortcode", "value": "000000"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 10)]
    pub payee: Option<Vec<Party>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate_status: Option<MandateStatus>,
    /// The most one payment under the mandate may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_limit: Option<Amount>,
    /// The currency of `amountLimit`; the gateway chooses the operator by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[schema(value_type = String, format = Date, example = "2026-12-01")]
    pub start_date: chrono::NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_type: Option<FrequencyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub number_of_payments: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub custom_data: Option<Vec<KeyValue>>,
}

/// A debit mandate as the gateway returns it (`responseDebitMandate`), and the body of its callback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseDebitMandate)]
pub struct DebitMandate {
    /// The gateway's reference of the mandate: name it as `{"key": "mandatereference", "value": …}` in the
    /// `debitParty` of a merchant payment to take a payment under it.
    #[schema(max_length = 256)]
    pub mandate_reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<Vec<Party>>,
    /// `active` once the operator created it; `inactive` once the operator no longer has it active. Absent while
    /// the creation is pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandate_status: Option<MandateStatus>,
    #[schema(value_type = String, format = Date)]
    pub start_date: chrono::NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_limit: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub end_date: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_type: Option<FrequencyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_payments: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation: Option<RequestingOrganisation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<Vec<KeyValue>>,
}

impl DebitMandate {
    /// A new mandate, its creation pending at the operator.
    pub fn pending(reference: String, request: DebitMandateRequest, now: Timestamp) -> Self {
        Self {
            mandate_reference: reference,
            payee: request.payee,
            mandate_status: None,
            start_date: request.start_date,
            amount_limit: request.amount_limit,
            currency: request.currency,
            end_date: request.end_date,
            frequency_type: request.frequency_type,
            number_of_payments: request.number_of_payments,
            requesting_organisation: request.requesting_organisation,
            creation_date: Some(now),
            modification_date: Some(now),
            request_date: request.request_date,
            custom_data: request.custom_data,
        }
    }
}

/// Parses and validates the body of `POST /accounts/{…}/debitmandates`.
pub fn debit_mandate_request(body: &[u8]) -> Result<DebitMandateRequest, GsmaError> {
    let object = json_object(body)?;
    if object.get("startDate").is_none_or(Value::is_null) {
        return Err(GsmaError::mandatory("startDate"));
    }
    if let Some(Value::String(limit)) = object.get("amountLimit") {
        if limit.starts_with('-') {
            return Err(GsmaError::new(
                ErrorCategory::Validation,
                ErrorCode::NegativeValue,
                format!("amountLimit must not be negative: '{limit}'"),
            )
            .with_param("field", "amountLimit"));
        }
    }
    if let Some(Value::Number(n)) = object.get("numberOfPayments") {
        if n.as_i64().is_some_and(|n| n < 0) {
            return Err(GsmaError::new(
                ErrorCategory::Validation,
                ErrorCode::NegativeValue,
                "numberOfPayments must not be negative",
            )
            .with_param("field", "numberOfPayments"));
        }
    }
    let request: DebitMandateRequest = typed(Value::Object(object))?;
    if let Some(payee) = &request.payee {
        if payee.is_empty() || payee.len() > 10 {
            return Err(length("payee", "payee must have 1 to 10 items"));
        }
        for (i, p) in payee.iter().enumerate() {
            for (what, text) in [("key", &p.key), ("value", &p.value)] {
                if text.is_empty() || text.chars().count() > 256 {
                    return Err(length(
                        &format!("payee[{i}].{what}"),
                        "must be 1 to 256 characters long",
                    ));
                }
            }
        }
    }
    if let Some(items) = &request.custom_data {
        if items.len() > 20 {
            return Err(length("customData", "customData has at most 20 items"));
        }
    }
    if let Some(end) = request.end_date {
        if end < request.start_date {
            return Err(GsmaError::format(
                "endDate",
                "endDate must not be before startDate",
            ));
        }
    }
    if request.amount_limit.as_ref().is_some() && request.currency.is_none() {
        return Err(GsmaError::mandatory("currency"));
    }
    Ok(request)
}

fn length(field: &str, text: &str) -> GsmaError {
    GsmaError::new(
        ErrorCategory::Validation,
        ErrorCode::LengthError,
        format!("{field}: {text}"),
    )
    .with_param("field", field)
}

/// A mandate to create at the operator.
#[derive(Clone, Copy, Debug)]
pub struct MandateOrder<'a> {
    /// The gateway's reference of the mandate (alphanumerics).
    pub reference: &'a str,
    /// The payer: the account in the request's path.
    pub payer: &'a [Party],
    pub request: &'a DebitMandateRequest,
}

/// A mandate the operator created, as a later call needs it: the payer and the operator's references.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MandateContext {
    /// The gateway's reference of the mandate.
    pub reference: String,
    pub payer: Vec<Party>,
    /// What the operator answered when it created the mandate (its IDs, token, market).
    pub refs: ProviderRefs,
}

/// Whether the operator still has a mandate active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MandateState {
    Active,
    Inactive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_a_mandate() {
        let ok = br#"{"payee":[{"key":"businessshortcode","value":"000000"}],"amountLimit":"5000","currency":"TZS","startDate":"2026-12-01","endDate":"2027-12-01","frequencyType":"weekly","numberOfPayments":12}"#;
        let r = debit_mandate_request(ok).unwrap();
        assert_eq!(r.frequency_type, Some(FrequencyType::Weekly));
        assert_eq!(FrequencyType::Weekly.as_str(), "weekly");
        let e = debit_mandate_request(br#"{"currency":"TZS"}"#).unwrap_err();
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied);
        let e = debit_mandate_request(br#"{"startDate":"12/01/2026"}"#).unwrap_err();
        assert_eq!(e.error_code, ErrorCode::FormatError);
        let e = debit_mandate_request(br#"{"startDate":"2026-12-01","frequencyType":"daily"}"#)
            .unwrap_err();
        assert_eq!(e.error_code, ErrorCode::FormatError);
        let e = debit_mandate_request(
            br#"{"startDate":"2026-12-01","endDate":"2026-11-01","currency":"TZS"}"#,
        )
        .unwrap_err();
        assert_eq!(e.error_code, ErrorCode::FormatError);
        let e =
            debit_mandate_request(br#"{"startDate":"2026-12-01","amountLimit":"-5"}"#).unwrap_err();
        assert_eq!(e.error_code, ErrorCode::NegativeValue);
        let e = debit_mandate_request(b"nope").unwrap_err();
        assert_eq!(e.error_code, ErrorCode::FormatError);
    }
}
