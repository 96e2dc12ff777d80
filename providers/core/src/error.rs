//! The GSMA error object (`errorObject`) with the spec's categories, codes and HTTP statuses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::model::KeyValue;
use crate::time::Timestamp;

/// `errorCategory`, with the lowerCamelCase values of the 1.2 YAML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCategory {
    BusinessRule,
    Validation,
    Authorisation,
    Identification,
    Internal,
    ServiceUnavailable,
}

impl ErrorCategory {
    /// The HTTP status the spec gives each category.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCategory::BusinessRule | ErrorCategory::Validation => 400,
            ErrorCategory::Authorisation => 401,
            ErrorCategory::Identification => 404,
            ErrorCategory::Internal => 500,
            ErrorCategory::ServiceUnavailable => 503,
        }
    }
}

/// `errorCode`: the 38 harmonised codes of the 1.2 YAML, spelt as it spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    GenericError,
    DailyVolumeLimitExceeded,
    DailyValueLimitExceeded,
    WeeklyVolumeLimitExceeded,
    WeeklyValueLimitExceeded,
    MonthlyVolumeLimitExceeded,
    MonthlyValueLimitExceeded,
    AccountMaxTotalVolumeExceeded,
    AccountMaxTotalValueExceeded,
    LessThanTransactionMinValue,
    GreaterThanTransactionMaxValue,
    MaxBalanceExceeded,
    SamePartiesError,
    DuplicateRequest,
    InsufficientFunds,
    IncorrectState,
    UnderPaymentNotAllowed,
    OverPaymentNotAllowed,
    RateLimitError,
    TransactionTypeError,
    NoMandateAuthority,
    LinkViolation,
    /// Spelt with a lower-case "of", as in the spec.
    CountryofOriginNotPermitted,
    NationalityNotPermitted,
    IdDocumentNotSupported,
    IssuingCountryNotSupported,
    QuoteHasExpired,
    IdentifierError,
    LengthError,
    FormatError,
    NegativeValue,
    CurrencyNotSupported,
    MandatoryValueNotSupplied,
    InvalidOffset,
    ClientAuthorisationError,
    RequestDeclined,
    ServicingPartyAuthorisationError,
    RequestingPartyAuthorisationError,
}

/// The GSMA error object. `errorDescription` is emitted with a capital D as the prose spec and the GSMA test
/// platform spell it (the 1.2 YAML's `errordescription` is a known typo; it is accepted when parsing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = errorObject)]
pub struct GsmaError {
    pub error_category: ErrorCategory,
    pub error_code: ErrorCode,
    #[serde(
        default,
        alias = "errordescription",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_length = 256)]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_date_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 20)]
    pub error_parameters: Option<Vec<KeyValue>>,
}

impl GsmaError {
    /// A new error stamped with the current time.
    pub fn new(category: ErrorCategory, code: ErrorCode, description: impl Into<String>) -> Self {
        let mut description: String = description.into();
        if description.len() > 256 {
            let mut cut = 253;
            while !description.is_char_boundary(cut) {
                cut -= 1;
            }
            description.truncate(cut);
            description.push_str("...");
        }
        Self {
            error_category: category,
            error_code: code,
            error_description: Some(description),
            error_date_time: Some(Timestamp::now()),
            error_parameters: None,
        }
    }

    /// Adds one `{key, value}` to `errorParameters` (at most 20 are kept, as the spec allows).
    pub fn with_param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let params = self.error_parameters.get_or_insert_with(Vec::new);
        if params.len() < 20 {
            params.push(KeyValue::new(key, value));
        }
        self
    }

    /// The HTTP status of this error's category.
    pub fn http_status(&self) -> u16 {
        self.error_category.http_status()
    }

    /// 400 validation/formatError naming the field.
    pub fn format(field: &str, description: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::Validation,
            ErrorCode::FormatError,
            description,
        )
        .with_param("field", field)
    }

    /// 400 validation/mandatoryValueNotSupplied naming the field.
    pub fn mandatory(field: &str) -> Self {
        Self::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            format!("{field} is mandatory and was not supplied"),
        )
        .with_param("field", field)
    }

    /// 404 identification/identifierError.
    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::Identification,
            ErrorCode::IdentifierError,
            description,
        )
    }

    /// 400 businessRule/duplicateRequest.
    pub fn duplicate_request(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::BusinessRule,
            ErrorCode::DuplicateRequest,
            description,
        )
    }

    /// 400 businessRule/transactionTypeError.
    pub fn transaction_type(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::BusinessRule,
            ErrorCode::TransactionTypeError,
            description,
        )
    }

    /// 500 internal/genericError, with a description that reveals nothing internal.
    pub fn internal() -> Self {
        Self::new(
            ErrorCategory::Internal,
            ErrorCode::GenericError,
            "The gateway could not process the request because of an internal error",
        )
    }

    /// 503 serviceUnavailable/genericError.
    pub fn unavailable(description: impl Into<String>) -> Self {
        Self::new(
            ErrorCategory::ServiceUnavailable,
            ErrorCode::GenericError,
            description,
        )
    }
}

impl std::fmt::Display for GsmaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}/{:?}: {}",
            self.error_category,
            self.error_code,
            self.error_description.as_deref().unwrap_or("")
        )
    }
}

impl std::error::Error for GsmaError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_gsma_names_and_lower_camel_values() {
        let e = GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::InsufficientFunds,
            "no money",
        )
        .with_param("k", "v");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["errorCategory"], "businessRule");
        assert_eq!(v["errorCode"], "insufficientFunds");
        assert_eq!(v["errorDescription"], "no money");
        assert!(v["errorDateTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["errorParameters"][0]["key"], "k");
        let odd = serde_json::to_value(ErrorCode::CountryofOriginNotPermitted).unwrap();
        assert_eq!(odd, "countryofOriginNotPermitted");
    }

    #[test]
    fn parses_the_yaml_typo_too() {
        let e: GsmaError = serde_json::from_str(
            r#"{"errorCategory":"validation","errorCode":"formatError","errordescription":"x"}"#,
        )
        .unwrap();
        assert_eq!(e.error_description.as_deref(), Some("x"));
    }

    #[test]
    fn categories_map_to_spec_statuses() {
        use ErrorCategory::*;
        let table = [
            (BusinessRule, 400),
            (Validation, 400),
            (Authorisation, 401),
            (Identification, 404),
            (Internal, 500),
            (ServiceUnavailable, 503),
        ];
        for (c, s) in table {
            assert_eq!(c.http_status(), s);
        }
    }
}
