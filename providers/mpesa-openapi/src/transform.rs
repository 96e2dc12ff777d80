//! Harmonised model ⇄ OpenAPI wire: pure functions, no I/O.

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::{party_value, Party, Transaction, TransactionRequest, TransactionType};
use mmapi_core::provider::{Completion, Failure, Outcome, ProviderError, ProviderRefs};
use mmapi_core::{Amount, Currency, GsmaError};
use rust_decimal::Decimal;

use crate::config::{Market, MarketConfig, OpenApiConfig};
use crate::wire;

pub mod mandate;
#[cfg(test)]
mod tests;

/// Party keys that name an organisation (shortcode) at the OpenAPI.
pub const ORG_KEYS: [&str; 9] = [
    "shortcode",
    "businessshortcode",
    "serviceprovider",
    "organisationid",
    "paybill",
    "storeid",
    "tillnumber",
    "till",
    "accountid",
];

/// `ProviderRefs::extra` key of the M-Pesa transaction ID (`output_TransactionID`).
pub const EXTRA_TRANSACTION_ID: &str = "TransactionID";
/// `ProviderRefs::extra` key of our `input_ThirdPartyConversationID`.
pub const EXTRA_THIRD_PARTY_ID: &str = "ThirdPartyConversationID";
/// `ProviderRefs::extra` key of the market context (e.g. `vodacomTZN`).
pub const EXTRA_MARKET: &str = "market";

/// The success code.
pub const SUCCESS: &str = "INS-0";

/// What an INS code means for the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsKind {
    /// Processed successfully.
    Success,
    /// M-Pesa took the transaction and it failed (customer declined, insufficient funds, limits).
    Declined,
    /// M-Pesa refused the request itself; nothing happened.
    Refused,
    /// The gateway's configuration is wrong (market, API, shortcode rights).
    Configuration,
    /// The session or API key was refused: renew the session once, then it is a configuration error.
    Session,
    /// M-Pesa is temporarily unable to take requests; nothing happened and a retry is safe.
    Retry,
}

/// One row of the INS-* table (§B.6).
#[derive(Clone, Copy, Debug)]
pub struct InsEntry {
    pub code: &'static str,
    /// The HTTP status the OpenAPI documents with it.
    pub http: u16,
    pub kind: InsKind,
    pub category: ErrorCategory,
    pub error_code: ErrorCode,
    /// The description the GSMA client sees.
    pub text: &'static str,
}

const fn ins(
    code: &'static str,
    http: u16,
    kind: InsKind,
    category: ErrorCategory,
    error_code: ErrorCode,
    text: &'static str,
) -> InsEntry {
    InsEntry {
        code,
        http,
        kind,
        category,
        error_code,
        text,
    }
}

use ErrorCategory::{
    Authorisation as Auth, BusinessRule as Rule, Identification as Ident, Internal,
    ServiceUnavailable as Unavail, Validation as Valid,
};
use ErrorCode::*;
use InsKind::*;

/// The INS-* codes of the OpenAPI and their harmonised errors.
#[rustfmt::skip]
pub const INS_TABLE: &[InsEntry] = &[
    ins(SUCCESS, 201, Success, Rule, GenericError, "Request processed successfully"),
    ins("INS-1", 400, Refused, Internal, GenericError, "M-Pesa reported an internal error"),
    ins("INS-2", 401, Session, Auth, ClientAuthorisationError, "M-Pesa refused the gateway's API key or session"),
    ins("INS-4", 401, Configuration, Auth, ServicingPartyAuthorisationError, "The gateway's M-Pesa API user is not active"),
    ins("INS-5", 401, Declined, Auth, RequestDeclined, "The customer cancelled the transaction"),
    ins("INS-6", 401, Declined, Rule, GenericError, "M-Pesa reported that the transaction failed"),
    ins("INS-9", 408, Declined, Auth, RequestDeclined, "The customer did not confirm the transaction in time"),
    ins("INS-10", 409, Refused, Rule, DuplicateRequest, "M-Pesa refused a duplicate of an earlier transaction"),
    ins("INS-13", 400, Refused, Ident, IdentifierError, "M-Pesa does not know the shortcode"),
    ins("INS-14", 400, Refused, Valid, FormatError, "M-Pesa refused the reference"),
    ins("INS-15", 400, Refused, Valid, FormatError, "M-Pesa refused the amount"),
    ins("INS-16", 503, Retry, Unavail, GenericError, "M-Pesa is temporarily overloaded"),
    ins("INS-17", 400, Refused, Valid, LengthError, "The transaction reference must be 1 to 20 characters"),
    ins("INS-18", 400, Refused, Valid, FormatError, "M-Pesa refused the transaction ID"),
    ins("INS-19", 400, Refused, Valid, FormatError, "M-Pesa refused the third-party reference"),
    ins("INS-20", 400, Refused, Valid, MandatoryValueNotSupplied, "M-Pesa says not all parameters were provided"),
    ins("INS-21", 400, Refused, Valid, FormatError, "M-Pesa's parameter validation failed"),
    ins("INS-22", 400, Refused, Rule, TransactionTypeError, "M-Pesa refused the operation type"),
    ins("INS-23", 400, Refused, Ident, IdentifierError, "M-Pesa does not know the transaction"),
    ins("INS-24", 400, Configuration, Auth, RequestingPartyAuthorisationError, "M-Pesa refused the initiator identifier"),
    ins("INS-25", 400, Configuration, Auth, RequestingPartyAuthorisationError, "M-Pesa refused the security credential"),
    ins("INS-26", 400, Refused, Valid, CurrencyNotSupported, "M-Pesa refused the currency"),
    ins("INS-28", 400, Refused, Valid, FormatError, "M-Pesa refused the conversation ID"),
    ins("INS-30", 400, Refused, Valid, FormatError, "M-Pesa refused the purchased items description"),
    ins("INS-31", 400, Refused, Valid, FormatError, "M-Pesa refused the payment items description"),
    ins("INS-32", 400, Refused, Valid, FormatError, "M-Pesa refused the KYC query type"),
    ins("INS-35", 400, Refused, Auth, RequestingPartyAuthorisationError, "The transaction does not belong to this organisation"),
    ins("INS-36", 400, Refused, Valid, FormatError, "M-Pesa refused the agreed terms flag"),
    ins("INS-39", 400, Refused, Valid, FormatError, "M-Pesa refused the first payment date"),
    ins("INS-40", 400, Refused, Valid, FormatError, "M-Pesa refused the frequency"),
    ins("INS-41", 400, Refused, Valid, FormatError, "M-Pesa refused the start range of days"),
    ins("INS-42", 400, Refused, Valid, FormatError, "M-Pesa refused the end range of days"),
    ins("INS-43", 400, Refused, Valid, FormatError, "M-Pesa refused the expiry date"),
    ins("INS-50", 400, Refused, Valid, FormatError, "The MSISDN token does not match the MSISDN"),
    ins("INS-51", 400, Refused, Valid, FormatError, "M-Pesa refused the mandate ID"),
    ins("INS-52", 400, Refused, Valid, FormatError, "The mandate ID does not match the third-party reference"),
    ins("INS-54", 400, Refused, Valid, FormatError, "M-Pesa refused the balance amount"),
    ins("INS-55", 401, Refused, Valid, MandatoryValueNotSupplied, "The balance amount is mandatory"),
    ins("INS-56", 401, Refused, Valid, FormatError, "M-Pesa refused the MSISDN token"),
    ins("INS-57", 500, Refused, Valid, MandatoryValueNotSupplied, "An MSISDN or MSISDN token is required"),
    ins("INS-58", 400, Refused, Rule, NoMandateAuthority, "No active mandate was found"),
    ins("INS-989", 400, Session, Auth, ClientAuthorisationError, "M-Pesa could not create a session for the gateway"),
    ins("INS-990", 400, Declined, Rule, DailyValueLimitExceeded, "The customer's transaction value limit was reached"),
    ins("INS-991", 400, Declined, Rule, DailyVolumeLimitExceeded, "The customer's transaction count limit was reached"),
    ins("INS-992", 400, Declined, Rule, DailyValueLimitExceeded, "Several M-Pesa limits were reached"),
    ins("INS-993", 400, Declined, Rule, DailyVolumeLimitExceeded, "The organisation's transaction count limit was reached"),
    ins("INS-994", 400, Declined, Rule, DailyValueLimitExceeded, "The organisation's transaction value limit was reached"),
    ins("INS-995", 400, Refused, Rule, GreaterThanTransactionMaxValue, "The amount is above the single-transaction limit"),
    ins("INS-996", 400, Refused, Unavail, GenericError, "M-Pesa does not accept this API at this time of day"),
    ins("INS-997", 400, Configuration, Auth, ServicingPartyAuthorisationError, "The API is not enabled for the gateway's application"),
    ins("INS-998", 400, Configuration, Valid, FormatError, "M-Pesa refused the market"),
    ins("INS-2001", 400, Declined, Auth, RequestDeclined, "The customer's authentication failed"),
    ins("INS-2002", 400, Refused, Ident, IdentifierError, "M-Pesa refused the receiver"),
    ins("INS-2006", 422, Declined, Rule, InsufficientFunds, "The payer's M-Pesa balance is insufficient"),
    ins("INS-2051", 400, Refused, Ident, IdentifierError, "The MSISDN is not a valid M-Pesa customer"),
    ins("INS-2057", 400, Refused, Valid, FormatError, "M-Pesa refused the language code"),
];

/// The table row of a code; `0` (some Mozambique documents) is read as `INS-0`.
pub fn ins_entry(code: &str) -> Option<&'static InsEntry> {
    let code = code.trim();
    let code = if code == "0" { SUCCESS } else { code };
    INS_TABLE.iter().find(|e| e.code.eq_ignore_ascii_case(code))
}

/// Codes after which the OpenAPI wants a new session (§B.2.5).
pub fn needs_new_session(code: &str) -> bool {
    matches!(
        code,
        "INS-990" | "INS-991" | "INS-992" | "INS-993" | "INS-994" | "INS-995" | "INS-996"
    )
}

/// The harmonised failure of a non-success code, with the operator's code and description kept.
pub fn failure(code: &str, desc: &str) -> Failure {
    let error = match ins_entry(code) {
        Some(e) => GsmaError::new(e.category, e.error_code, e.text),
        None => GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::GenericError,
            "M-Pesa refused the transaction",
        ),
    }
    .with_param("providerCode", code)
    .with_param("providerDescription", desc);
    Failure {
        error,
        provider_code: code.to_owned(),
        provider_description: desc.to_owned(),
    }
}

/// Whether an OpenAPI value is a real ID (not empty, not `N/A`).
fn real(value: Option<&String>) -> Option<&str> {
    value
        .map(|v| v.trim())
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("N/A"))
}

/// The references of an answer: the ConversationID (the key async results come by), else our own ID.
pub fn refs_of(answer: &wire::Response, third_party_id: &str, market: &Market) -> ProviderRefs {
    let mut refs = ProviderRefs {
        reference: real(answer.conversation_id.as_ref())
            .unwrap_or(third_party_id)
            .to_owned(),
        ..Default::default()
    };
    refs.extra
        .insert(EXTRA_THIRD_PARTY_ID.into(), third_party_id.to_owned());
    refs.extra
        .insert(EXTRA_MARKET.into(), market.context.to_owned());
    if let Some(id) = real(answer.transaction_id.as_ref()) {
        refs.extra
            .insert(EXTRA_TRANSACTION_ID.into(), id.to_owned());
    }
    refs
}

/// How the answer to a transaction request (C2B, B2C, B2B, reversal) ends.
#[derive(Debug)]
pub enum Answered {
    /// The outcome (completed, failed at M-Pesa, or pending an asynchronous result).
    Outcome(ProviderRefs, Outcome),
    /// No outcome: the request was refused, M-Pesa is unavailable, or the answer is unknown.
    Error(ProviderError),
}

/// Classifies the answer to a transaction request. `async_mode`: success answers are acknowledgements.
pub fn transaction_answer(
    http: u16,
    answer: &wire::Response,
    third_party_id: &str,
    market: &Market,
    async_mode: bool,
) -> Answered {
    let code = answer.response_code.clone().unwrap_or_default();
    let desc = answer.response_desc.clone().unwrap_or_default();
    let refs = refs_of(answer, third_party_id, market);
    let entry = ins_entry(&code);
    if (200..300).contains(&http) {
        return match entry.map(|e| e.kind) {
            Some(Success) => {
                let receipt = real(answer.transaction_id.as_ref()).map(str::to_owned);
                match receipt {
                    Some(receipt) if !async_mode => Answered::Outcome(
                        refs,
                        Outcome::Completed(Completion {
                            receipt: Some(receipt),
                            completed_at: None,
                        }),
                    ),
                    // Async mode (or a success without an ID): the result comes later or by a status query.
                    _ => Answered::Outcome(refs, Outcome::Pending),
                }
            }
            Some(Declined) => Answered::Outcome(refs, Outcome::Failed(failure(&code, &desc))),
            _ => Answered::Error(ProviderError::InDoubt(format!(
                "M-Pesa answered HTTP {http} with code '{code}'"
            ))),
        };
    }
    match entry.map(|e| e.kind) {
        Some(Declined) => Answered::Outcome(refs, Outcome::Failed(failure(&code, &desc))),
        Some(Refused) if http >= 500 => Answered::Error(ProviderError::InDoubt(format!(
            "M-Pesa answered HTTP {http} {code}: {desc}"
        ))),
        Some(Refused) => Answered::Error(ProviderError::Rejected(failure(&code, &desc))),
        Some(Configuration) | Some(Session) => Answered::Error(ProviderError::Configuration(
            format!("M-Pesa refused the gateway's application (HTTP {http} {code}: {desc})"),
        )),
        Some(Retry) => Answered::Error(ProviderError::Unavailable(format!(
            "M-Pesa is unavailable (HTTP {http} {code})"
        ))),
        Some(Success) | None => match http {
            401 | 403 => Answered::Error(ProviderError::Configuration(format!(
                "M-Pesa refused the gateway's credentials (HTTP {http})"
            ))),
            503 => Answered::Error(ProviderError::Unavailable(format!(
                "M-Pesa is unavailable (HTTP {http})"
            ))),
            400..=499 if !code.is_empty() => {
                Answered::Error(ProviderError::Rejected(failure(&code, &desc)))
            }
            _ => Answered::Error(ProviderError::InDoubt(format!(
                "M-Pesa answered HTTP {http} with code '{code}'"
            ))),
        },
    }
}

/// The outcome a `queryTransactionStatus` answer tells.
pub fn status_outcome(http: u16, answer: &wire::Response) -> Result<Outcome, ProviderError> {
    let code = answer.response_code.clone().unwrap_or_default();
    let desc = answer.response_desc.clone().unwrap_or_default();
    if code == "INS-23" {
        // Not (yet) known: the transaction may still be waiting for the customer.
        return Ok(Outcome::Pending);
    }
    if ins_entry(&code).map(|e| e.kind) != Some(Success) || !(200..300).contains(&http) {
        return Err(
            match transaction_answer(http, answer, "", &crate::config::MARKETS[0], false) {
                Answered::Error(ProviderError::Rejected(f)) => ProviderError::InDoubt(format!(
                    "M-Pesa refused the status query ({}: {})",
                    f.provider_code, f.provider_description
                )),
                Answered::Error(e) => e,
                Answered::Outcome(..) => {
                    ProviderError::InDoubt(format!("M-Pesa answered the status query with {code}"))
                }
            },
        );
    }
    let status = answer.transaction_status.as_deref().unwrap_or("").trim();
    let receipt = real(answer.original_transaction_id.as_ref())
        .or_else(|| real(answer.transaction_id.as_ref()))
        .map(str::to_owned);
    Ok(status_word_outcome(status, receipt, &desc))
}

fn status_word_outcome(status: &str, receipt: Option<String>, desc: &str) -> Outcome {
    let declined = |category, error_code, text: &str| {
        Outcome::Failed(Failure {
            error: GsmaError::new(category, error_code, text)
                .with_param("providerCode", status)
                .with_param("providerDescription", desc),
            provider_code: status.to_owned(),
            provider_description: desc.to_owned(),
        })
    };
    match status.to_ascii_lowercase().as_str() {
        "completed" => Outcome::Completed(Completion {
            receipt,
            completed_at: None,
        }),
        "cancelled" => declined(Auth, RequestDeclined, "The transaction was cancelled"),
        "expired" => declined(
            Auth,
            RequestDeclined,
            "The transaction expired before the customer confirmed it",
        ),
        "failed" => declined(
            Rule,
            GenericError,
            "M-Pesa reported that the transaction failed",
        ),
        _ => Outcome::Pending,
    }
}

/// The event an asynchronous result carries: the ConversationID it is for, our ThirdPartyConversationID (the
/// transaction reference), and the outcome.
pub fn async_result_outcome(result: &wire::AsyncResult) -> (String, Option<String>, Outcome) {
    let code = result.result_code.clone().unwrap_or_default();
    let desc = result.result_desc.clone().unwrap_or_default();
    let reference = result.original_conversation_id.clone().unwrap_or_default();
    let hint = real(result.third_party_conversation_id.as_ref()).map(str::to_owned);
    let outcome = match ins_entry(&code).map(|e| e.kind) {
        Some(Success) => Outcome::Completed(Completion {
            receipt: real(result.transaction_id.as_ref()).map(str::to_owned),
            completed_at: None,
        }),
        Some(Retry) => Outcome::Pending,
        _ => Outcome::Failed(failure(&code, &desc)),
    };
    (reference, hint, outcome)
}

/// The acknowledgement of an asynchronous result (§B.5).
pub fn async_ack(result: &wire::AsyncResult) -> wire::AsyncAck {
    wire::AsyncAck {
        original_conversation_id: result.original_conversation_id.clone().unwrap_or_default(),
        response_code: "0".into(),
        response_desc: "Successfully Accepted Result".into(),
        third_party_conversation_id: result
            .third_party_conversation_id
            .clone()
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Requests.

/// The configured market serving a currency.
pub fn market_for<'a>(
    config: &'a OpenApiConfig,
    currency: &Currency,
) -> Result<(&'a MarketConfig, Market), GsmaError> {
    config
        .markets
        .iter()
        .find_map(|c| {
            c.market()
                .filter(|m| m.currency == currency.code())
                .map(|m| (c, m))
        })
        .ok_or_else(|| {
            GsmaError::new(
                Valid,
                CurrencyNotSupported,
                format!("The M-Pesa OpenAPI markets of this gateway do not move {currency}"),
            )
            .with_param("field", "currency")
        })
}

/// Whether a value is one of the sandbox's test MSISDNs (`000000000001`…).
fn is_sandbox_test_msisdn(digits: &str) -> bool {
    digits.len() == 12 && digits.starts_with("000000") && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Normalises a mobile number to the market's international form (`255xxxxxxxxx`): `+255…`, `255…`, `0…` and
/// the bare national number are accepted. In the sandbox the portal's test MSISDNs pass unchanged.
pub fn normalise_msisdn(market: &Market, raw: &str, sandbox: bool) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = digits.strip_prefix('+').unwrap_or(&digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if sandbox && is_sandbox_test_msisdn(digits) {
        return Some(digits.to_owned());
    }
    let candidates = [
        digits.strip_prefix(market.dialling_code),
        digits.strip_prefix('0'),
        Some(digits),
    ];
    let normalised = candidates
        .into_iter()
        .flatten()
        .find(|national| national.len() == market.national_digits && !national.starts_with('0'))
        .map(|national| format!("{}{national}", market.dialling_code));
    normalised
}

/// The MSISDN of a party in the market's form; `field` names the party in the error.
pub fn party_msisdn(
    entry: &MarketConfig,
    market: &Market,
    parties: &[Party],
    field: &str,
) -> Result<String, GsmaError> {
    let raw = party_value(parties, "msisdn").ok_or_else(|| {
        GsmaError::new(
            Valid,
            MandatoryValueNotSupplied,
            format!("{field} must contain the customer's msisdn"),
        )
        .with_param("field", field)
    })?;
    normalise_msisdn(market, raw, entry.is_sandbox()).ok_or_else(|| {
        GsmaError::format(
            field,
            format!(
                "'{raw}' is not a mobile number of {} (+{} followed by {} digits), as {} payments need",
                market.country, market.dialling_code, market.national_digits, market.currency
            ),
        )
    })
}

/// `input_Amount`: positive, with no more decimals than the market allows.
pub fn amount_text(market: &Market, amount: &Amount) -> Result<String, GsmaError> {
    let value = amount.value();
    if value <= Decimal::ZERO {
        return Err(GsmaError::new(
            Rule,
            LessThanTransactionMinValue,
            "The amount must be positive",
        ));
    }
    if value.normalize().scale() > market.decimals {
        return Err(GsmaError::format(
            "amount",
            if market.decimals == 0 {
                format!(
                    "M-Pesa moves whole {} only; '{amount}' has decimals",
                    market.currency
                )
            } else {
                format!(
                    "M-Pesa moves {} with at most {} decimals; '{amount}' has more",
                    market.currency, market.decimals
                )
            },
        ));
    }
    Ok(value.normalize().to_string())
}

/// Keeps the characters the OpenAPI's text fields accept (`[0-9a-zA-Z _+]`), at most `max` of them.
pub fn wire_text(text: &str, max: usize) -> String {
    let kept: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '+') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let collapsed = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(max).collect()
}

/// `input_ThirdPartyConversationID`: our transaction reference (alphanumerics, at most 40).
pub fn third_party_id(transaction_reference: &str) -> String {
    let id: String = transaction_reference
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let skip = id.len().saturating_sub(40);
    id[skip..].to_owned()
}

/// `input_TransactionReference`: the client's own reference when the OpenAPI accepts it, else the last 20
/// characters of ours.
pub fn transaction_reference(tx: &Transaction) -> String {
    if let Some(r) = tx.requesting_organisation_transaction_reference.as_deref() {
        if valid_transaction_reference(r) {
            return r.to_owned();
        }
    }
    let id = third_party_id(&tx.transaction_reference);
    let skip = id.len().saturating_sub(20);
    id[skip..].to_owned()
}

fn valid_transaction_reference(r: &str) -> bool {
    (1..=20).contains(&r.chars().count())
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '+'))
}

fn valid_shortcode(code: &str) -> bool {
    (4..=12).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The organisation a party names (its shortcode), if any; `field` names the party in the error.
pub fn party_shortcode(parties: &[Party], field: &str) -> Result<Option<String>, GsmaError> {
    match ORG_KEYS.iter().find_map(|k| party_value(parties, k)) {
        None => Ok(None),
        Some(code) if valid_shortcode(code) => Ok(Some(code.to_owned())),
        Some(code) => Err(GsmaError::format(
            field,
            format!("'{code}' is not an M-Pesa shortcode (4 to 12 letters or digits)"),
        )),
    }
}

fn description(text: Option<&str>, default: &str) -> String {
    let d = wire_text(text.unwrap_or(""), 256);
    if d.is_empty() {
        default.to_owned()
    } else {
        d
    }
}

/// C2B single stage for a merchant or bill payment: the debit party's MSISDN pays the credit party's shortcode
/// (or the configured one).
pub fn c2b_request(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
) -> Result<wire::C2bRequest, GsmaError> {
    Ok(wire::C2bRequest {
        amount: amount_text(market, &tx.amount)?,
        country: market.country.into(),
        currency: market.currency.into(),
        customer_msisdn: party_msisdn(entry, market, &tx.debit_party, "debitParty")?,
        service_provider_code: party_shortcode(&tx.credit_party, "creditParty")?
            .unwrap_or_else(|| entry.service_provider_code.clone()),
        third_party_conversation_id: third_party_id(&tx.transaction_reference),
        transaction_reference: transaction_reference(tx),
        purchased_items_desc: description(tx.description_text.as_deref(), "Payment"),
    })
}

/// B2C: the configured (or debit party's) shortcode pays the credit party's MSISDN.
pub fn b2c_request(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
) -> Result<wire::B2cRequest, GsmaError> {
    Ok(wire::B2cRequest {
        amount: amount_text(market, &tx.amount)?,
        country: market.country.into(),
        currency: market.currency.into(),
        customer_msisdn: party_msisdn(entry, market, &tx.credit_party, "creditParty")?,
        service_provider_code: party_shortcode(&tx.debit_party, "debitParty")?
            .unwrap_or_else(|| entry.service_provider_code.clone()),
        third_party_conversation_id: third_party_id(&tx.transaction_reference),
        transaction_reference: transaction_reference(tx),
        payment_items_desc: description(tx.description_text.as_deref(), "Payment"),
    })
}

/// B2B: the debit organisation (or the configured one) pays the credit organisation.
pub fn b2b_request(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
) -> Result<wire::B2bRequest, GsmaError> {
    let receiver = party_shortcode(&tx.credit_party, "creditParty")?.ok_or_else(|| {
        GsmaError::transaction_type(
            "An M-Pesa OpenAPI transfer goes between organisations: creditParty must name a shortcode",
        )
        .with_param("field", "creditParty")
    })?;
    Ok(wire::B2bRequest {
        amount: amount_text(market, &tx.amount)?,
        country: market.country.into(),
        currency: market.currency.into(),
        primary_party_code: party_shortcode(&tx.debit_party, "debitParty")?
            .unwrap_or_else(|| entry.service_provider_code.clone()),
        receiver_party_code: receiver,
        third_party_conversation_id: third_party_id(&tx.transaction_reference),
        transaction_reference: transaction_reference(tx),
        purchased_items_desc: description(tx.description_text.as_deref(), "Transfer"),
    })
}

/// The M-Pesa transaction ID of an earlier transaction, from its references or its receipt.
pub fn original_transaction_id(original: &Transaction, refs: &ProviderRefs) -> Option<String> {
    refs.extra
        .get(EXTRA_TRANSACTION_ID)
        .cloned()
        .or_else(|| original.transaction_receipt.clone())
        .filter(|id| (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Reversal of `original`; a partial amount is sent as `input_ReversalAmount`.
pub fn reversal_request(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
    original: &Transaction,
    refs: &ProviderRefs,
) -> Result<wire::ReversalRequest, GsmaError> {
    let transaction_id = original_transaction_id(original, refs).ok_or_else(|| {
        GsmaError::new(
            Rule,
            IncorrectState,
            "The original transaction has no M-Pesa transaction ID, so it cannot be reversed",
        )
    })?;
    let amount = amount_text(market, &tx.amount)?;
    let whole = original.amount.value() == tx.amount.value();
    Ok(wire::ReversalRequest {
        country: market.country.into(),
        reversal_amount: (!whole).then_some(amount),
        service_provider_code: match original.transaction_type {
            // The organisation that received the money gives it back; otherwise the one that paid.
            t if t.is_customer_payment() => party_shortcode(&original.credit_party, "creditParty"),
            _ => party_shortcode(&original.debit_party, "debitParty"),
        }
        .ok()
        .flatten()
        .unwrap_or_else(|| entry.service_provider_code.clone()),
        third_party_conversation_id: third_party_id(&tx.transaction_reference),
        transaction_id,
    })
}

/// The status query of a transaction: by its ConversationID when known, else by our ThirdPartyConversationID.
/// `fresh_id` is the query's own ThirdPartyConversationID.
pub fn status_query(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
    refs: &ProviderRefs,
    fresh_id: String,
) -> wire::StatusQuery {
    let query_reference = Some(refs.reference.clone())
        .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()) && r.len() <= 32)
        .unwrap_or_else(|| third_party_id(&tx.transaction_reference));
    wire::StatusQuery {
        query_reference,
        service_provider_code: entry.service_provider_code.clone(),
        third_party_conversation_id: fresh_id,
        country: market.country.into(),
    }
}

/// The name a `queryBeneficiaryName` answer gives, or why there is none.
pub fn beneficiary_name(
    http: u16,
    answer: &wire::Response,
) -> Result<mmapi_core::model::SubjectName, ProviderError> {
    let code = answer.response_code.clone().unwrap_or_default();
    if (200..300).contains(&http) && ins_entry(&code).map(|e| e.kind) == Some(Success) {
        let first = real(answer.customer_first_name.as_ref()).map(str::to_owned);
        let last = real(answer.customer_last_name.as_ref()).map(str::to_owned);
        let full = [first.as_deref(), last.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        return Ok(mmapi_core::model::SubjectName {
            first_name: first,
            last_name: last,
            full_name: (!full.is_empty()).then_some(full),
            ..Default::default()
        });
    }
    Err(
        match transaction_answer(http, answer, "", &crate::config::MARKETS[1], false) {
            Answered::Error(e) => e,
            Answered::Outcome(_, Outcome::Failed(f)) => ProviderError::Rejected(f),
            Answered::Outcome(..) => {
                ProviderError::InDoubt(format!("M-Pesa answered the name query with {code}"))
            }
        },
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Checks before acceptance.

/// The checks made before a request is accepted.
pub fn check_request(
    config: &OpenApiConfig,
    transaction_type: TransactionType,
    r: &TransactionRequest,
    original: Option<&Transaction>,
) -> Result<(), GsmaError> {
    let (entry, market) = market_for(config, &r.currency)?;
    amount_text(&market, &r.amount)?;
    let debit = r.debit_party.as_deref().unwrap_or_default();
    let credit = r.credit_party.as_deref().unwrap_or_default();
    if let Some(reference) = r.requesting_organisation_transaction_reference.as_deref() {
        if !valid_transaction_reference(reference) {
            return Err(GsmaError::format(
                "requestingOrganisationTransactionReference",
                "M-Pesa accepts 1 to 20 letters, digits, spaces, '_' or '+' as a transaction reference",
            ));
        }
    }
    match transaction_type {
        t if t.is_customer_payment() => {
            // A payment under a debit mandate names the mandate, not the payer (the gateway checked it).
            let under_mandate = transaction_type == TransactionType::Merchantpay
                && party_value(debit, mmapi_core::mandate::MANDATE_REFERENCE_KEY).is_some();
            if !under_mandate {
                party_msisdn(entry, &market, debit, "debitParty")?;
            }
            party_shortcode(credit, "creditParty")?;
        }
        TransactionType::Disbursement | TransactionType::Deposit => {
            party_msisdn(entry, &market, credit, "creditParty")?;
            party_shortcode(debit, "debitParty")?;
        }
        TransactionType::Transfer => {
            for (parties, field, required) in
                [(debit, "debitParty", false), (credit, "creditParty", true)]
            {
                let code = party_shortcode(parties, field)?;
                let person = party_value(parties, "msisdn").is_some();
                if (required && code.is_none()) || (code.is_none() && person) {
                    return Err(GsmaError::transaction_type(
                        "An M-Pesa OpenAPI transfer goes between organisations: both parties must be shortcodes",
                    )
                    .with_param("field", field));
                }
            }
        }
        TransactionType::Reversal => {
            let original =
                original.ok_or_else(|| GsmaError::mandatory("originalTransactionReference"))?;
            if original.transaction_receipt.is_none() {
                return Err(GsmaError::new(
                    Rule,
                    IncorrectState,
                    "The original transaction has no M-Pesa transaction ID, so it cannot be reversed",
                ));
            }
            if r.amount.value() > original.amount.value() {
                return Err(GsmaError::new(
                    Rule,
                    OverPaymentNotAllowed,
                    "A reversal cannot exceed the original amount",
                ));
            }
        }
        other => {
            return Err(GsmaError::transaction_type(format!(
                "The M-Pesa OpenAPI cannot carry a {other} transaction through this gateway"
            )))
        }
    }
    Ok(())
}
