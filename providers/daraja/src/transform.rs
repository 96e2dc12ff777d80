//! Harmonised model ⇄ Daraja wire: pure functions, no I/O.

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{party_value, Transaction, TransactionRequest, TransactionType};
use mmapi_core::provider::{Completion, Failure, Outcome, ProviderError};
use mmapi_core::{GsmaError, Secret, Timestamp};

use crate::config::DarajaConfig;
use crate::wire;

/// `TransactionType` values of STK Push.
pub const PAY_BILL: &str = "CustomerPayBillOnline";
/// `TransactionType` for tills.
pub const BUY_GOODS: &str = "CustomerBuyGoodsOnline";

/// Party keys that name a till (Buy Goods).
pub const TILL_KEYS: [&str; 3] = ["storeid", "tillnumber", "till"];
/// Party keys that name a paybill.
pub const PAYBILL_KEYS: [&str; 6] = [
    "businessshortcode",
    "shortcode",
    "paybill",
    "serviceprovider",
    "organisationid",
    "accountid",
];
/// Party keys whose value becomes the STK `AccountReference`.
pub const ACCOUNT_REFERENCE_KEYS: [&str; 2] = ["consumerno", "accountreference"];

/// STK Push limits (KES) from the Daraja documentation.
pub const STK_MIN_AMOUNT: i64 = 1;
/// Largest STK Push amount.
pub const STK_MAX_AMOUNT: i64 = 250_000;

/// East Africa Time, the time zone Daraja timestamps are written in.
pub fn eat() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("UTC+3 is a valid offset")
}

/// The `YYYYMMDDHHmmss` timestamp Daraja expects, in EAT.
pub fn daraja_timestamp(at: DateTime<Utc>) -> String {
    at.with_timezone(&eat()).format("%Y%m%d%H%M%S").to_string()
}

/// Parses a Daraja `YYYYMMDDHHmmss` (EAT) time such as `TransactionDate`.
pub fn parse_daraja_timestamp(text: &str) -> Option<Timestamp> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M%S").ok()?;
    let local = eat().from_local_datetime(&naive).single()?;
    Some(Timestamp(local.with_timezone(&Utc)))
}

/// STK `Password` = base64(BusinessShortCode + Passkey + Timestamp).
pub fn stk_password(short_code: &str, passkey: &str, timestamp: &str) -> Secret {
    Secret::new(
        base64::engine::general_purpose::STANDARD
            .encode(format!("{short_code}{passkey}{timestamp}")),
    )
}

/// Normalises a Kenyan MSISDN (`+2547…`, `2547…`, `07…`, `7…`, also `01…`) to Daraja's `2547xxxxxxxx` form.
pub fn normalise_msisdn(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let national = if let Some(rest) = digits.strip_prefix("254") {
        rest
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest
    } else {
        digits
    };
    let ok = national.len() == 9 && (national.starts_with('7') || national.starts_with('1'));
    ok.then(|| format!("254{national}"))
}

/// How an STK Push collects the money: the wire `TransactionType`, `BusinessShortCode` and `PartyB`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StkTarget {
    pub transaction_type: &'static str,
    pub business_short_code: String,
    pub party_b: String,
}

/// Chooses Pay Bill or Buy Goods from the credit party and checks the account is one we hold a passkey for.
pub fn stk_target(
    config: &DarajaConfig,
    credit: &[mmapi_core::model::Party],
) -> Result<StkTarget, GsmaError> {
    if let Some(till) = TILL_KEYS.iter().find_map(|k| party_value(credit, k)) {
        let account = config
            .shortcode(till)
            .ok_or_else(|| unknown_account(till))?;
        return Ok(StkTarget {
            transaction_type: BUY_GOODS,
            business_short_code: account
                .store_number
                .clone()
                .unwrap_or_else(|| till.to_owned()),
            party_b: till.to_owned(),
        });
    }
    if let Some(paybill) = PAYBILL_KEYS.iter().find_map(|k| party_value(credit, k)) {
        config
            .shortcode(paybill)
            .ok_or_else(|| unknown_account(paybill))?;
        return Ok(StkTarget {
            transaction_type: PAY_BILL,
            business_short_code: paybill.to_owned(),
            party_b: paybill.to_owned(),
        });
    }
    Err(GsmaError::new(
        ErrorCategory::Validation,
        ErrorCode::MandatoryValueNotSupplied,
        "creditParty must name the merchant account: a till (storeid, tillnumber) or a paybill (businessshortcode, \
         serviceprovider, organisationid, accountid)",
    )
    .with_param("field", "creditParty"))
}

fn unknown_account(number: &str) -> GsmaError {
    GsmaError::new(
        ErrorCategory::BusinessRule,
        ErrorCode::GenericError,
        format!("{number} is not a merchant account this gateway collects for on M-Pesa Kenya"),
    )
    .with_param("field", "creditParty")
}

/// The payer's MSISDN in Daraja form, from the debit party.
pub fn payer_msisdn(request_debit: &[mmapi_core::model::Party]) -> Result<String, GsmaError> {
    safaricom_msisdn(
        request_debit,
        "debitParty",
        "the payer's msisdn for an M-Pesa STK Push",
    )
}

/// The Safaricom MSISDN of a party list (`field` names it in errors), in Daraja's form.
pub fn safaricom_msisdn(
    parties: &[mmapi_core::model::Party],
    field: &str,
    what: &str,
) -> Result<String, GsmaError> {
    let raw = party_value(parties, "msisdn").ok_or_else(|| {
        GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            format!("{field} must contain {what}"),
        )
        .with_param("field", field)
    })?;
    normalise_msisdn(raw).ok_or_else(|| {
        GsmaError::format(
            field,
            format!("'{raw}' is not a Safaricom mobile number (+2547xxxxxxxx, 2541xxxxxxxx or 07xxxxxxxx)"),
        )
    })
}

/// The amount in whole shillings within STK Push limits.
pub fn stk_amount(amount: &mmapi_core::Amount) -> Result<i64, GsmaError> {
    org::whole_amount(amount, STK_MIN_AMOUNT, STK_MAX_AMOUNT)
}

/// The checks made before a customer payment (merchant, bill, cash-out at an agent's till) is accepted.
pub fn check_stk_request(
    config: &DarajaConfig,
    t: TransactionType,
    r: &TransactionRequest,
) -> Result<(), GsmaError> {
    debug_assert!(t.is_customer_payment());
    if r.currency.code() != "KES" {
        return Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::CurrencyNotSupported,
            format!("M-Pesa Kenya moves KES only, not {}", r.currency),
        )
        .with_param("field", "currency"));
    }
    stk_amount(&r.amount)?;
    payer_msisdn(r.debit_parties())?;
    stk_target(config, r.credit_parties())?;
    Ok(())
}

/// Builds the STK Push body for an accepted transaction.
pub fn stk_push_request(
    config: &DarajaConfig,
    tx: &Transaction,
    timestamp: &str,
    callback_url: String,
) -> Result<wire::StkPushRequest, GsmaError> {
    let target = stk_target(config, &tx.credit_party)?;
    let account = config
        .shortcode(&target.party_b)
        .ok_or_else(|| unknown_account(&target.party_b))?;
    let phone = payer_msisdn(&tx.debit_party)?;
    let amount = stk_amount(&tx.amount)?;
    let account_reference = ACCOUNT_REFERENCE_KEYS
        .iter()
        .find_map(|k| party_value(&tx.credit_party, k))
        .or(tx.requesting_organisation_transaction_reference.as_deref())
        .unwrap_or(&tx.transaction_reference);
    let description = tx.description_text.as_deref().unwrap_or("Payment");
    Ok(wire::StkPushRequest {
        password: stk_password(
            &target.business_short_code,
            account.passkey.expose(),
            timestamp,
        ),
        business_short_code: target.business_short_code,
        timestamp: timestamp.to_owned(),
        transaction_type: target.transaction_type,
        amount: amount.to_string(),
        party_a: phone.clone(),
        party_b: target.party_b,
        phone_number: phone,
        call_back_url: callback_url,
        account_reference: truncate(account_reference, 12),
        transaction_desc: truncate(description, 13),
    })
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Removes the `[STK_CB - ]`-style prefix older Daraja results put before `ResultDesc`.
pub fn clean_result_desc(desc: &str) -> &str {
    match (desc.starts_with('['), desc.find(']')) {
        (true, Some(end)) => desc[end + 1..].trim_start(),
        _ => desc,
    }
}

/// Maps an STK result code (callback or query) to the harmonised error; `None` for success (`0`).
pub fn stk_result_error(code: &str, desc: &str) -> Option<GsmaError> {
    use ErrorCategory::*;
    use ErrorCode::*;
    let (category, error_code, text) = match code {
        "0" => return None,
        "1" => (
            BusinessRule,
            InsufficientFunds,
            "The payer's M-Pesa balance is insufficient",
        ),
        "2" => (
            BusinessRule,
            LessThanTransactionMinValue,
            "The amount is below the M-Pesa minimum",
        ),
        "3" => (
            BusinessRule,
            GreaterThanTransactionMaxValue,
            "The amount is above the M-Pesa maximum",
        ),
        "4" => (
            BusinessRule,
            DailyValueLimitExceeded,
            "The payer's daily M-Pesa limit would be exceeded",
        ),
        "8" => (
            BusinessRule,
            MaxBalanceExceeded,
            "The receiving account's maximum balance would be exceeded",
        ),
        "11" => (
            BusinessRule,
            IncorrectState,
            "The payer's account is not in a state that allows payments",
        ),
        "17" => (
            BusinessRule,
            GenericError,
            "M-Pesa refused a repeat of the same payment within two minutes",
        ),
        "21" => (
            Authorisation,
            RequestingPartyAuthorisationError,
            "The merchant is not allowed to initiate this payment",
        ),
        "26" => (
            ServiceUnavailable,
            GenericError,
            "M-Pesa is too busy to process the payment",
        ),
        "1001" => (
            BusinessRule,
            GenericError,
            "The payer already has an M-Pesa transaction in progress",
        ),
        "1019" => (
            Authorisation,
            RequestDeclined,
            "The payer did not authorise the payment in time",
        ),
        "1025" | "9999" => (
            ServiceUnavailable,
            GenericError,
            "M-Pesa could not send the payment prompt to the payer",
        ),
        "1032" => (
            Authorisation,
            RequestDeclined,
            "The payer cancelled the payment",
        ),
        "1036" | "1037" => (
            Authorisation,
            RequestDeclined,
            "The payer could not be reached to authorise the payment",
        ),
        "2001" => (
            Authorisation,
            RequestDeclined,
            "The payer entered a wrong M-Pesa PIN",
        ),
        "2006" | "2040" => (
            BusinessRule,
            IncorrectState,
            "The payer's account cannot make this payment",
        ),
        "2028" => (
            Authorisation,
            RequestingPartyAuthorisationError,
            "The merchant account is not permitted this payment type",
        ),
        "8006" => (
            Authorisation,
            RequestingPartyAuthorisationError,
            "The payer's or merchant's security credential is locked",
        ),
        _ => (BusinessRule, GenericError, "M-Pesa declined the payment"),
    };
    Some(
        GsmaError::new(category, error_code, text)
            .with_param("providerCode", code)
            .with_param("providerDescription", clean_result_desc(desc)),
    )
}

/// An STK result (code, description, metadata) as a harmonised outcome.
pub fn stk_outcome(code: &str, desc: &str, metadata: Option<&wire::CallbackMetadata>) -> Outcome {
    match stk_result_error(code, desc) {
        None => {
            let item = |name: &str| {
                metadata
                    .and_then(|m| m.item.iter().find(|i| i.name == name))
                    .and_then(wire::MetadataItem::value_text)
            };
            Outcome::Completed(Completion {
                receipt: item("MpesaReceiptNumber"),
                completed_at: item("TransactionDate").and_then(|d| parse_daraja_timestamp(&d)),
            })
        }
        Some(error) => Outcome::Failed(Failure {
            error,
            provider_code: code.to_owned(),
            provider_description: clean_result_desc(desc).to_owned(),
        }),
    }
}

/// The outcome carried by an STK callback, with the `CheckoutRequestID` it is for.
pub fn stk_callback_outcome(callback: &wire::StkCallback) -> (String, Outcome) {
    let outcome = stk_outcome(
        callback.result_code.as_str(),
        callback.result_desc.as_deref().unwrap_or(""),
        callback.callback_metadata.as_ref(),
    );
    (callback.checkout_request_id.clone(), outcome)
}

/// Error codes that mean "the access token is bad or expired: authenticate again and retry once".
pub const TOKEN_ERROR_CODES: [&str; 4] = ["404.001.03", "401.002.01", "400.003.01", "404.001.04"];

/// Maps a synchronous Daraja rejection to a provider error.
pub fn envelope_error(http_status: u16, envelope: &wire::ErrorEnvelope) -> ProviderError {
    let code = envelope.error_code.as_deref().unwrap_or("");
    let message = envelope.error_message.as_deref().unwrap_or("");
    let reject = |category, error_code, text: &str| {
        ProviderError::Rejected(Failure {
            error: GsmaError::new(category, error_code, text)
                .with_param("providerCode", code)
                .with_param("providerDescription", message),
            provider_code: code.to_owned(),
            provider_description: message.to_owned(),
        })
    };
    match code {
        "400.002.02" => reject(
            ErrorCategory::Validation,
            ErrorCode::FormatError,
            "M-Pesa refused a value of the request",
        ),
        "400.002.05" => {
            ProviderError::Configuration(format!("Daraja refused our request body ({code})"))
        }
        "500.001.1001" if message.contains("Unable to lock subscriber") => reject(
            ErrorCategory::BusinessRule,
            ErrorCode::GenericError,
            "The payer already has an M-Pesa transaction in progress",
        ),
        "500.001.1001"
            if message.contains("Wrong credentials")
                || message.contains("Merchant does not exist") =>
        {
            ProviderError::Configuration(format!("Daraja refused the merchant account: {message}"))
        }
        "500.002.1001" => reject(
            ErrorCategory::BusinessRule,
            ErrorCode::DuplicateRequest,
            "M-Pesa has already processed a request with this reference",
        ),
        "500.003.02" | "500.003.03" => {
            ProviderError::Unavailable(format!("Daraja rate limit ({code})"))
        }
        "401.003.01" | "400.008.01" | "400.008.02" => {
            ProviderError::Configuration(format!("Daraja refused our credentials ({code})"))
        }
        c if c.starts_with("404.001.0") || c.starts_with("404.002") || c.starts_with("404.003") => {
            ProviderError::Configuration(format!("Daraja does not know the path or token ({code})"))
        }
        "405.001" => ProviderError::Configuration(format!("Daraja refused the method ({code})")),
        _ if http_status >= 500 => {
            ProviderError::InDoubt(format!("Daraja answered HTTP {http_status} {code}"))
        }
        _ => ProviderError::Configuration(format!("Daraja answered HTTP {http_status} {code}")),
    }
}

/// Maps an STK Query answer to an outcome: final when `ResultCode` is present.
pub fn stk_query_outcome(response: &wire::StkQueryResponse) -> Outcome {
    match &response.result_code {
        Some(code) => stk_outcome(
            code.as_str(),
            response.result_desc.as_deref().unwrap_or(""),
            None,
        ),
        None => Outcome::Pending,
    }
}

/// Whether an STK Query rejection means "still being processed".
pub fn query_still_processing(envelope: &wire::ErrorEnvelope) -> bool {
    envelope.error_code.as_deref() == Some("500.001.1001")
        && envelope
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("being processed"))
}

pub mod c2b;
pub mod org;

#[cfg(test)]
mod tests;
