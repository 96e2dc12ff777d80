//! Turning request bodies into validated model objects, with a GSMA error object for every violation.
//!
//! Parsing goes in three steps, so that each mistake gets the code a GSMA client expects: the body must be JSON
//! (else `validation/formatError`), mandatory values must be present (else `validation/mandatoryValueNotSupplied`),
//! then every field must have the spec's type, pattern and length (else `validation/formatError`, naming the
//! field's path).

use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ErrorCategory, ErrorCode, GsmaError};
use crate::model::{KeyValue, Kyc, Party, TransactionRequest};

static GEO_CODE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(-?(90|(\d|[1-8]\d)(\.\d{1,6}){0,1}))\,{1}(-?(180|(\d|\d\d|1[0-7]\d)(\.\d{1,6}){0,1}))$",
    )
    .expect("the GSMA geoCode pattern is a valid regex")
});
static COUNTRY_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Z]{2}$").expect("valid country regex"));

/// Parses a JSON body into a JSON object, or says why it is not one.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GsmaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            "The request body is empty; a JSON object is required",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GsmaError::format(
            "body",
            "The request body must be a JSON object",
        )),
        Err(e) => Err(GsmaError::format(
            "body",
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

/// Deserialises a JSON value into `T`, mapping a failure to a GSMA error that names the offending field.
pub fn typed<T: DeserializeOwned>(value: Value) -> Result<T, GsmaError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if let Some(rest) = message.strip_prefix("missing field `") {
            let field = rest.split('`').next().unwrap_or(rest);
            let full = if path == "." || path.is_empty() {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            GsmaError::mandatory(&full)
        } else {
            GsmaError::format(&path, format!("{path}: {message}"))
        }
    })
}

/// Parses and validates the body of `POST /transactions/type/{transactionType}`.
pub fn transaction_request(body: &[u8]) -> Result<TransactionRequest, GsmaError> {
    // The common case, a well-formed body, is parsed once; only a body that fails goes through the slower
    // steps that find the exact mistake.
    if let Ok(request) = serde_json::from_slice::<TransactionRequest>(body) {
        let has_party = request.debit_party.is_some()
            || request.credit_party.is_some()
            || request.original_transaction_reference.is_some();
        if has_party {
            validate_transaction_request(&request)?;
            return Ok(request);
        }
    }
    diagnose_transaction_request(body)
}

/// The slow path of [`transaction_request`]: each mistake with the code a GSMA client expects.
fn diagnose_transaction_request(body: &[u8]) -> Result<TransactionRequest, GsmaError> {
    let object = json_object(body)?;
    for field in ["amount", "currency"] {
        if object.get(field).is_none_or(Value::is_null) {
            return Err(GsmaError::mandatory(field));
        }
    }
    if let Some(Value::String(amount)) = object.get("amount") {
        if amount.starts_with('-') {
            return Err(GsmaError::new(
                ErrorCategory::Validation,
                ErrorCode::NegativeValue,
                format!("amount must not be negative: '{amount}'"),
            )
            .with_param("field", "amount"));
        }
    }
    let has = |k: &str| object.get(k).is_some_and(|v| !v.is_null());
    // A refund or reversal may leave the parties out: they are those of the original, reversed.
    if !has("debitParty") && !has("creditParty") && !has("originalTransactionReference") {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            "At least one of debitParty and creditParty must be supplied",
        )
        .with_param("field", "creditParty"));
    }
    let request: TransactionRequest = typed(Value::Object(object))?;
    validate_transaction_request(&request)?;
    Ok(request)
}

/// Parses and validates the body of `POST /transactions/{transactionReference}/reversals`.
pub fn reversal_request(body: &[u8]) -> Result<crate::model::ReversalRequest, GsmaError> {
    let object = json_object(body)?;
    if object.get("type").is_none_or(Value::is_null) {
        return Err(GsmaError::mandatory("type"));
    }
    let request: crate::model::ReversalRequest = typed(Value::Object(object))?;
    max_len("descriptionText", request.description_text.as_deref(), 160)?;
    max_len(
        "requestingOrganisationTransactionReference",
        request
            .requesting_organisation_transaction_reference
            .as_deref(),
        256,
    )?;
    max_len("subType", request.sub_type.as_deref(), 256)?;
    key_values("customData", request.custom_data.as_deref())?;
    key_values("metadata", request.metadata.as_deref())?;
    Ok(request)
}

/// Checks the lengths, counts and patterns serde does not check.
pub fn validate_transaction_request(r: &TransactionRequest) -> Result<(), GsmaError> {
    if let Some(parties) = &r.debit_party {
        parties_ok("debitParty", parties)?;
    }
    if let Some(parties) = &r.credit_party {
        parties_ok("creditParty", parties)?;
    }
    max_len(
        "requestingOrganisationTransactionReference",
        r.requesting_organisation_transaction_reference.as_deref(),
        256,
    )?;
    max_len(
        "originalTransactionReference",
        r.original_transaction_reference.as_deref(),
        256,
    )?;
    max_len("subType", r.sub_type.as_deref(), 256)?;
    max_len("descriptionText", r.description_text.as_deref(), 160)?;
    max_len("oneTimeCode", r.one_time_code.as_deref(), 256)?;
    max_len("servicingIdentity", r.servicing_identity.as_deref(), 256)?;
    if let Some(geo) = &r.geo_code {
        if !GEO_CODE_RE.is_match(geo) {
            return Err(GsmaError::format(
                "geoCode",
                format!("geoCode '{geo}' is not 'latitude,longitude'"),
            ));
        }
    }
    if let Some(fees) = &r.fees {
        count("fees", fees.len(), 1, 20)?;
        for (i, fee) in fees.iter().enumerate() {
            text(&format!("fees[{i}].feeType"), &fee.fee_type, 1, 256)?;
        }
    }
    if let Some(org) = &r.requesting_organisation {
        text(
            "requestingOrganisation.requestingOrganisationIdentifier",
            &org.requesting_organisation_identifier,
            1,
            256,
        )?;
    }
    if let Some(itt) = &r.international_transfer_information {
        country(
            "internationalTransferInformation.originCountry",
            Some(&itt.origin_country),
        )?;
        country(
            "internationalTransferInformation.receivingCountry",
            itt.receiving_country.as_deref(),
        )?;
        country(
            "internationalTransferInformation.sendingServiceProviderCountry",
            itt.sending_service_provider_country.as_deref(),
        )?;
    }
    if let Some(kyc) = &r.sender_kyc {
        kyc_ok("senderKyc", kyc)?;
    }
    if let Some(kyc) = &r.recipient_kyc {
        kyc_ok("recipientKyc", kyc)?;
    }
    key_values("customData", r.custom_data.as_deref())?;
    key_values("metadata", r.metadata.as_deref())?;
    Ok(())
}

fn kyc_ok(field: &str, kyc: &Kyc) -> Result<(), GsmaError> {
    country(
        &format!("{field}.birthCountry"),
        kyc.birth_country.as_deref(),
    )?;
    country(&format!("{field}.nationality"), kyc.nationality.as_deref())?;
    if let Some(address) = &kyc.postal_address {
        country(
            &format!("{field}.postalAddress.country"),
            Some(&address.country),
        )?;
    }
    if let Some(docs) = &kyc.id_document {
        for (i, doc) in docs.iter().enumerate() {
            country(
                &format!("{field}.idDocument[{i}].issuerCountry"),
                doc.issuer_country.as_deref(),
            )?;
        }
    }
    Ok(())
}

fn parties_ok(field: &str, parties: &[Party]) -> Result<(), GsmaError> {
    count(field, parties.len(), 1, 10)?;
    for (i, p) in parties.iter().enumerate() {
        text(&format!("{field}[{i}].key"), &p.key, 1, 256)?;
        text(&format!("{field}[{i}].value"), &p.value, 1, 256)?;
    }
    Ok(())
}

fn key_values(field: &str, items: Option<&[KeyValue]>) -> Result<(), GsmaError> {
    let Some(items) = items else { return Ok(()) };
    count(field, items.len(), 0, 20)?;
    for (i, kv) in items.iter().enumerate() {
        text(&format!("{field}[{i}].key"), &kv.key, 1, 256)?;
        text(&format!("{field}[{i}].value"), &kv.value, 1, 256)?;
    }
    Ok(())
}

fn country(field: &str, value: Option<&str>) -> Result<(), GsmaError> {
    match value {
        Some(v) if !COUNTRY_RE.is_match(v) => Err(GsmaError::format(
            field,
            format!("{field} '{v}' is not an ISO 3166 alpha-2 country code"),
        )),
        _ => Ok(()),
    }
}

fn count(field: &str, n: usize, min: usize, max: usize) -> Result<(), GsmaError> {
    if n < min || n > max {
        return Err(length_error(
            field,
            format!("{field} must have {min} to {max} items, it has {n}"),
        ));
    }
    Ok(())
}

fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), GsmaError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(length_error(
            field,
            format!("{field} must be {min} to {max} characters long, it is {n}"),
        ));
    }
    Ok(())
}

fn max_len(field: &str, value: Option<&str>, max: usize) -> Result<(), GsmaError> {
    match value {
        Some(v) => text(field, v, 0, max),
        None => Ok(()),
    }
}

fn length_error(field: &str, description: String) -> GsmaError {
    GsmaError::new(
        ErrorCategory::Validation,
        ErrorCode::LengthError,
        description,
    )
    .with_param("field", field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> GsmaError {
        transaction_request(body.as_bytes()).unwrap_err()
    }

    const OK: &str = r#"{"amount":"100","currency":"KES","debitParty":[{"key":"msisdn","value":"+254708374149"}],"creditParty":[{"key":"storeid","value":"174379"}]}"#;

    #[test]
    fn parses_a_valid_merchant_payment() {
        let r = transaction_request(OK.as_bytes()).unwrap();
        assert_eq!(r.amount.as_str(), "100");
        assert_eq!(r.currency.code(), "KES");
        assert_eq!(r.credit_parties()[0].value, "174379");
    }

    #[test]
    fn not_json_is_a_format_error() {
        let e = err("amount=100");
        assert_eq!(e.error_category, ErrorCategory::Validation);
        assert_eq!(e.error_code, ErrorCode::FormatError);
        assert_eq!(err("[1]").error_code, ErrorCode::FormatError);
        assert_eq!(err("").error_code, ErrorCode::MandatoryValueNotSupplied);
    }

    #[test]
    fn missing_values_are_mandatory_errors() {
        let e = err(r#"{"currency":"KES","creditParty":[{"key":"msisdn","value":"1"}]}"#);
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied);
        assert_eq!(e.error_parameters.unwrap()[0].value, "amount");
        let e = err(r#"{"amount":"1","currency":"KES"}"#);
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied);
        let e = err(r#"{"amount":"1","currency":"KES","creditParty":[{"key":"msisdn"}]}"#);
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied);
        assert_eq!(e.error_parameters.unwrap()[0].value, "creditParty[0].value");
    }

    #[test]
    fn bad_amount_and_currency_name_the_field() {
        let e = err(&OK.replace("\"100\"", "\"12.345.6\""));
        assert_eq!(e.error_code, ErrorCode::FormatError);
        assert_eq!(e.error_parameters.unwrap()[0].value, "amount");
        let e = err(&OK.replace("KES", "XXY"));
        assert_eq!(e.error_code, ErrorCode::FormatError);
        assert_eq!(e.error_parameters.unwrap()[0].value, "currency");
        let e = err(&OK.replace("\"100\"", "100"));
        assert_eq!(e.error_code, ErrorCode::FormatError);
        let e = err(&OK.replace("\"100\"", "\"-100\""));
        assert_eq!(e.error_code, ErrorCode::NegativeValue);
    }

    #[test]
    fn lengths_and_counts_are_checked() {
        let long = "x".repeat(161);
        let e = err(&OK.replace(
            "{\"amount\"",
            &format!("{{\"descriptionText\":\"{long}\",\"amount\""),
        ));
        assert_eq!(e.error_code, ErrorCode::LengthError);
        let e = err(&OK.replace(r#"[{"key":"storeid","value":"174379"}]"#, "[]"));
        assert_eq!(e.error_code, ErrorCode::LengthError);
        let e = err(&OK.replace("{\"amount\"", "{\"geoCode\":\"north\",\"amount\""));
        assert_eq!(e.error_code, ErrorCode::FormatError);
    }
}
