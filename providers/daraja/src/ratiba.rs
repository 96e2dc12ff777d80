//! M-Pesa Ratiba (standing orders): the Daraja side of GSMA debit mandates.
//!
//! A mandate becomes `POST /standingorder/v1/createStandingOrderExternal`; Daraja acknowledges it at once and
//! posts the customer's answer (approved on the phone, or declined) to `CallBackURL`. Ratiba then takes the
//! payments itself on each due date: each arrives at the payee's shortcode as an ordinary C2B payment whose
//! `BillRefNumber` is the standing order's `AccountReference`, which is how the gateway knows the mandate it
//! belongs to (see [`mandate_payment_key`]).
//!
//! GSMA `frequencyType` → Ratiba `Frequency` (1 One-off, 2 Daily, 3 Weekly, 4 Monthly, 5 Bi-monthly, 6 Quarterly,
//! 7 Half-year, 8 Yearly): `weekly` 3; `monthspecificdate` and `specificdaymonthly` 4 (on the start date's day);
//! `twomonths` 5 (read as every second month); `threemonths` 6; `sixmonths` 7; `yearly` 8; no `frequencyType` with
//! `numberOfPayments` 1 is a one-off. The others (`fortnight`, `fourmonths`, the last-day and last-weekday ones)
//! have no Ratiba frequency and are refused (400 validation/formatError on `frequencyType`).

use chrono::{Months, NaiveDate};
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::mandate::{FrequencyType, MandateOrder};
use mmapi_core::model::{party_value, KeyValue};
use mmapi_core::provider::{Failure, ProviderRefs};
use mmapi_core::GsmaError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::DarajaConfig;
use crate::transform::{self, org, PAYBILL_KEYS, TILL_KEYS};

/// Where standing orders are created.
pub const CREATE_PATH: &str = "/standingorder/v1/createStandingOrderExternal";
/// `TransactionType` of a standing order to a paybill.
pub const PAY_BILL: &str = "Standing Order Customer Pay Bill";
/// `TransactionType` of a standing order to a till, as Daraja's documentation spells it.
pub const PAY_MERCHANT: &str = "Standing Order Customer Pay Marchant";
/// Ratiba's longest `AccountReference`.
pub const MAX_ACCOUNT_REFERENCE: usize = 12;
/// The `TransactionDesc` the gateway sends (Ratiba allows 13 characters).
const DESCRIPTION: &str = "GSMA mandate";
/// The smallest and largest amount a standing order takes, as for customer payments.
const MIN_AMOUNT: i64 = 1;
const MAX_AMOUNT: i64 = 250_000;

/// Keys of a created mandate's [`ProviderRefs::extra`].
pub mod refs {
    pub const ACCOUNT_REFERENCE: &str = "AccountReference";
    pub const BUSINESS_SHORT_CODE: &str = "BusinessShortCode";
    pub const STANDING_ORDER_NAME: &str = "StandingOrderName";
    pub const RESPONSE_REF_ID: &str = "responseRefID";
    pub const TRANSACTION_ID: &str = "TransactionID";
}

/// The body of `createStandingOrderExternal`, every value a string as Daraja sends them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StandingOrderRequest {
    pub standing_order_name: String,
    pub start_date: String,
    pub end_date: String,
    pub business_short_code: String,
    pub transaction_type: &'static str,
    pub receiver_party_identifier_type: &'static str,
    pub amount: String,
    pub party_a: String,
    #[serde(rename = "CallBackURL")]
    pub call_back_url: String,
    pub account_reference: String,
    pub transaction_desc: &'static str,
    pub frequency: String,
}

/// The acknowledgement: `{"ResponseHeader":{"responseRefID","responseCode":"200",…},"ResponseBody":{…}}`.
#[derive(Debug, Default, Deserialize)]
pub struct StandingOrderAck {
    #[serde(rename = "ResponseHeader", alias = "responseHeader", default)]
    pub header: Option<AckHeader>,
}

/// The acknowledgement's header.
#[derive(Debug, Default, Deserialize)]
pub struct AckHeader {
    #[serde(rename = "responseRefID", alias = "ResponseRefID", default)]
    pub response_ref_id: Option<String>,
    #[serde(rename = "responseCode", alias = "ResponseCode", default)]
    pub response_code: Option<Value>,
    #[serde(rename = "responseDescription", alias = "ResponseDescription", default)]
    pub response_description: Option<String>,
}

impl StandingOrderAck {
    /// Whether Daraja took the request (`responseCode` 200).
    pub fn accepted(&self) -> bool {
        self.header
            .as_ref()
            .and_then(|h| h.response_code.as_ref())
            .and_then(scalar)
            .is_some_and(|code| code == "200" || code == "0")
    }
}

/// The customer's answer to a standing order, read from Ratiba's callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandingOrderResult {
    /// `responseCode` of the callback's data (else of its header): `0` is approved.
    pub code: String,
    pub description: String,
    /// `Status`: `OKAY` or `ERROR`.
    pub status: Option<String>,
    pub transaction_id: Option<String>,
    pub response_ref_id: Option<String>,
}

impl StandingOrderResult {
    /// Whether the customer approved the standing order.
    pub fn approved(&self) -> bool {
        self.code == "0"
            && self
                .status
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("OKAY"))
    }

    /// Why a declined standing order failed, as the client sees it beside Daraja's own code.
    pub fn failure(&self) -> Failure {
        let error =
            transform::stk_result_error(&self.code, &self.description).unwrap_or_else(|| {
                GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::GenericError,
                    format!(
                        "M-Pesa Ratiba did not create the standing order: {}",
                        self.description
                    ),
                )
            });
        Failure {
            error,
            provider_code: self.code.clone(),
            provider_description: self.description.clone(),
        }
    }
}

/// A JSON string or number as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A member of a JSON object, whatever the case of its key (Ratiba's samples write `ResponseHeader` and
/// `responseHeader`, `Name` and `name`).
fn member<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Reads Ratiba's callback. `None` if it is not one.
pub fn parse_callback(body: &[u8]) -> Option<StandingOrderResult> {
    let root: Value = serde_json::from_slice(body).ok()?;
    let header = member(&root, "responseHeader");
    let header_field = |key: &str| header.and_then(|h| member(h, key)).and_then(scalar);
    let data = member(&root, "responseBody")
        .and_then(|b| member(b, "responseData"))
        .and_then(Value::as_array);
    let datum = |key: &str| {
        data.into_iter().flatten().find_map(|item| {
            let name = member(item, "name").and_then(scalar)?;
            name.eq_ignore_ascii_case(key)
                .then(|| member(item, "value").and_then(scalar))
                .flatten()
        })
    };
    let code = datum("responseCode").or_else(|| header_field("responseCode"))?;
    Some(StandingOrderResult {
        description: header_field("responseDescription")
            .or_else(|| header_field("ResultDesc"))
            .unwrap_or_default(),
        status: datum("Status"),
        transaction_id: datum("TransactionID"),
        response_ref_id: header_field("responseRefID"),
        code,
    })
}

/// Ratiba's `Frequency` for a GSMA mandate's `frequencyType` (see the module table).
pub fn frequency(
    frequency_type: Option<FrequencyType>,
    number_of_payments: Option<i32>,
) -> Result<u8, GsmaError> {
    use FrequencyType as F;
    match frequency_type {
        None if number_of_payments == Some(1) => Ok(1),
        None => Err(GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            "frequencyType is needed for an M-Pesa Ratiba standing order (or numberOfPayments 1 for a one-off)",
        )
        .with_param("field", "frequencyType")),
        Some(F::Weekly) => Ok(3),
        Some(F::Monthspecificdate | F::Specificdaymonthly) => Ok(4),
        Some(F::Twomonths) => Ok(5),
        Some(F::Threemonths) => Ok(6),
        Some(F::Sixmonths) => Ok(7),
        Some(F::Yearly) => Ok(8),
        Some(other) => Err(GsmaError::format(
            "frequencyType",
            format!(
                "M-Pesa Ratiba has no '{}' frequency; it offers weekly, monthspecificdate, specificdaymonthly, \
                 twomonths, threemonths, sixmonths and yearly",
                other.as_str()
            ),
        )),
    }
}

/// The due date `periods` periods after `start` at Ratiba frequency `frequency` (`None` past the calendar).
pub fn due_date(start: NaiveDate, frequency: u8, periods: u32) -> Option<NaiveDate> {
    let months = |n: u32| start.checked_add_months(Months::new(n.checked_mul(periods)?));
    match frequency {
        1 => (periods == 0).then_some(start),
        2 => start.checked_add_days(chrono::Days::new(u64::from(periods))),
        3 => start.checked_add_days(chrono::Days::new(7 * u64::from(periods))),
        4 => months(1),
        5 => months(2),
        6 => months(3),
        7 => months(6),
        8 => months(12),
        _ => None,
    }
}

/// The `AccountReference` of a mandate: the last twelve characters of its reference (the random part of the
/// gateway's references), upper-cased.
pub fn account_reference(mandate_reference: &str) -> String {
    let chars: Vec<char> = mandate_reference
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let start = chars.len().saturating_sub(MAX_ACCOUNT_REFERENCE);
    chars[start..]
        .iter()
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The key that ties a payment into `shortcode` with account number `account_reference` to the mandate whose
/// standing order carries them: also what [`crate::transform::c2b`] gives each C2B payment with an account number.
pub fn mandate_payment_key(shortcode: &str, account_reference: &str) -> String {
    format!(
        "{}/{}",
        shortcode.trim(),
        account_reference.trim().to_ascii_uppercase()
    )
}

/// Where the payments go: (`BusinessShortCode`, `ReceiverPartyIdentifierType`, `TransactionType`).
fn payee(
    config: &DarajaConfig,
    order: &MandateOrder<'_>,
) -> Result<(String, &'static str, &'static str), GsmaError> {
    let parties = order.request.payee.as_deref().unwrap_or_default();
    let unknown = |number: &str| {
        GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::GenericError,
            format!("{number} is not a merchant account this gateway collects for on M-Pesa Kenya"),
        )
        .with_param("field", "payee")
    };
    if let Some(till) = TILL_KEYS.iter().find_map(|k| party_value(parties, k)) {
        config.shortcode(till).ok_or_else(|| unknown(till))?;
        return Ok((till.to_owned(), "2", PAY_MERCHANT));
    }
    if let Some(paybill) = PAYBILL_KEYS.iter().find_map(|k| party_value(parties, k)) {
        config.shortcode(paybill).ok_or_else(|| unknown(paybill))?;
        return Ok((paybill.to_owned(), "4", PAY_BILL));
    }
    if !parties.is_empty() {
        return Err(GsmaError::format(
            "payee",
            "payee must name a paybill (businessshortcode) or a till (tillnumber, storeid)",
        ));
    }
    config
        .shortcodes
        .first()
        .map(|s| (s.shortcode.clone(), "4", PAY_BILL))
        .ok_or_else(|| GsmaError::mandatory("payee"))
}

/// The standing order for a mandate, checked against Ratiba's rules. `today` is the date in Nairobi: a standing
/// order cannot start before it.
pub fn standing_order(
    config: &DarajaConfig,
    order: &MandateOrder<'_>,
    call_back_url: String,
    today: NaiveDate,
) -> Result<StandingOrderRequest, GsmaError> {
    let request = order.request;
    let party_a = transform::safaricom_msisdn(
        order.payer,
        "identifier",
        "the payer's msisdn (the account in the path)",
    )?;
    let amount = request.amount_limit.as_ref().ok_or_else(|| {
        GsmaError::new(
            ErrorCategory::Validation,
            ErrorCode::MandatoryValueNotSupplied,
            "amountLimit is needed: M-Pesa Ratiba takes this amount on each due date",
        )
        .with_param("field", "amountLimit")
    })?;
    let amount = org::whole_amount(amount, MIN_AMOUNT, MAX_AMOUNT).map_err(|mut e| {
        e.error_parameters = Some(vec![KeyValue::new("field", "amountLimit")]);
        e
    })?;
    let frequency = frequency(request.frequency_type, request.number_of_payments)?;
    if request.start_date < today {
        return Err(GsmaError::format(
            "startDate",
            format!(
                "startDate must not be before today ({today}) for an M-Pesa Ratiba standing order"
            ),
        ));
    }
    let end_date = match (request.end_date, request.number_of_payments) {
        (Some(end), _) => end,
        (None, Some(n)) if n >= 1 => u32::try_from(n - 1)
            .ok()
            .and_then(|last| due_date(request.start_date, frequency, last))
            .ok_or_else(|| GsmaError::format("numberOfPayments", "numberOfPayments is too large"))?,
        _ => {
            return Err(GsmaError::new(
                ErrorCategory::Validation,
                ErrorCode::MandatoryValueNotSupplied,
                "endDate or numberOfPayments is needed: an M-Pesa Ratiba standing order has an end date",
            )
            .with_param("field", "endDate"))
        }
    };
    let (business_short_code, receiver_type, transaction_type) = payee(config, order)?;
    Ok(StandingOrderRequest {
        standing_order_name: order.reference.to_owned(),
        start_date: request.start_date.format("%Y%m%d").to_string(),
        end_date: end_date.format("%Y%m%d").to_string(),
        business_short_code,
        transaction_type,
        receiver_party_identifier_type: receiver_type,
        amount: amount.to_string(),
        party_a,
        call_back_url,
        account_reference: account_reference(order.reference),
        transaction_desc: DESCRIPTION,
        frequency: frequency.to_string(),
    })
}

/// Whether Ratiba refused a standing order because the customer already has one of that name (`400.002.02`
/// "Bad Request - StandingOrderName already exists for this customer").
pub fn is_duplicate_name(error_message: &str) -> bool {
    error_message.contains("StandingOrderName already exists")
}

/// The operator's references of a standing order the customer approved.
pub fn created_refs(
    order: &StandingOrderRequest,
    ack_ref: Option<String>,
    result: &StandingOrderResult,
) -> ProviderRefs {
    let mut refs = ProviderRefs {
        reference: order.account_reference.clone(),
        ..Default::default()
    };
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            refs.extra.insert(key.to_owned(), v);
        }
    };
    put(
        refs::ACCOUNT_REFERENCE,
        Some(order.account_reference.clone()),
    );
    put(
        refs::BUSINESS_SHORT_CODE,
        Some(order.business_short_code.clone()),
    );
    put(
        refs::STANDING_ORDER_NAME,
        Some(order.standing_order_name.clone()),
    );
    put(
        refs::RESPONSE_REF_ID,
        ack_ref.or_else(|| result.response_ref_id.clone()),
    );
    put(refs::TRANSACTION_ID, result.transaction_id.clone());
    put(
        mmapi_core::mandate::PAYMENT_KEY,
        Some(mandate_payment_key(
            &order.business_short_code,
            &order.account_reference,
        )),
    );
    refs
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmapi_core::mandate::DebitMandateRequest;
    use mmapi_core::model::Party;

    fn config() -> DarajaConfig {
        serde_json::from_value(serde_json::json!({
            "base_url": "http://127.0.0.1:1",
            "consumer_key": "k",
            "consumer_secret": "s",
            "shortcodes": [{"shortcode": "174379", "passkey": "p"}, {"shortcode": "5555", "passkey": "q"}]
        }))
        .expect("a config")
    }

    fn request(json: serde_json::Value) -> DebitMandateRequest {
        serde_json::from_value(json).expect("a mandate request")
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_weekly_mandate_becomes_a_weekly_standing_order() {
        let r = request(serde_json::json!({"amountLimit": "250", "currency": "KES",
            "startDate": "2026-12-03", "endDate": "2027-03-01", "frequencyType": "weekly"}));
        let payer = [Party::new("msisdn", "+254708374149")];
        let order = MandateOrder {
            reference: "0190a1b2c3d47e8f9a0b1c2d3e4f5a6b",
            payer: &payer,
            request: &r,
        };
        let so = standing_order(
            &config(),
            &order,
            "https://gw/cb".into(),
            date("2026-12-02"),
        )
        .unwrap();
        let json = serde_json::to_value(&so).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"StandingOrderName": "0190a1b2c3d47e8f9a0b1c2d3e4f5a6b",
                "StartDate": "20261203", "EndDate": "20270301", "BusinessShortCode": "174379",
                "TransactionType": "Standing Order Customer Pay Bill", "ReceiverPartyIdentifierType": "4",
                "Amount": "250", "PartyA": "254708374149", "CallBackURL": "https://gw/cb",
                "AccountReference": "1C2D3E4F5A6B", "TransactionDesc": "GSMA mandate", "Frequency": "3"})
        );
        assert!(so.account_reference.len() <= MAX_ACCOUNT_REFERENCE);
        assert!(so.transaction_desc.len() <= 13);
    }

    #[test]
    fn a_till_payee_and_a_count_of_payments() {
        let r = request(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-31", "frequencyType": "monthspecificdate", "numberOfPayments": 3,
            "payee": [{"key": "tillnumber", "value": "5555"}]}));
        let payer = [Party::new("msisdn", "0708374149")];
        let order = MandateOrder {
            reference: "abc",
            payer: &payer,
            request: &r,
        };
        let so = standing_order(&config(), &order, "u".into(), date("2026-12-02")).unwrap();
        assert_eq!(so.receiver_party_identifier_type, "2");
        assert_eq!(so.transaction_type, PAY_MERCHANT);
        assert_eq!(so.business_short_code, "5555");
        // The third monthly payment from 31 December falls on the last day of February.
        assert_eq!(so.end_date, "20270228");
    }

    #[test]
    fn what_ratiba_cannot_express_is_refused_by_field() {
        let payer = [Party::new("msisdn", "254708374149")];
        let check = |json: serde_json::Value| {
            let r = request(json);
            let order = MandateOrder {
                reference: "abc",
                payer: &payer,
                request: &r,
            };
            standing_order(&config(), &order, "u".into(), date("2026-12-02")).unwrap_err()
        };
        let e = check(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-03", "endDate": "2027-01-01", "frequencyType": "fortnight"}));
        assert_eq!(e.error_code, ErrorCode::FormatError);
        assert_eq!(e.error_category, ErrorCategory::Validation);
        assert!(e
            .error_parameters
            .unwrap()
            .iter()
            .any(|p| p.value == "frequencyType"));
        let e = check(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-03", "endDate": "2027-01-01", "frequencyType": "lastfriday"}));
        assert_eq!(e.error_code, ErrorCode::FormatError);
        let e = check(
            serde_json::json!({"currency": "KES", "startDate": "2026-12-03",
            "endDate": "2027-01-01", "frequencyType": "weekly"}),
        );
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied);
        let e = check(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-01", "endDate": "2027-01-01", "frequencyType": "weekly"}));
        assert_eq!(e.error_code, ErrorCode::FormatError, "starts in the past");
        let e = check(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-03", "frequencyType": "weekly"}));
        assert_eq!(e.error_code, ErrorCode::MandatoryValueNotSupplied, "no end");
        let e = check(
            serde_json::json!({"amountLimit": "100.50", "currency": "KES",
            "startDate": "2026-12-03", "endDate": "2027-01-01", "frequencyType": "weekly"}),
        );
        assert_eq!(e.error_code, ErrorCode::FormatError, "cents");
        let e = check(serde_json::json!({"amountLimit": "100", "currency": "KES",
            "startDate": "2026-12-03", "endDate": "2027-01-01", "frequencyType": "weekly",
            "payee": [{"key": "businessshortcode", "value": "999999"}]}));
        assert_eq!(e.error_code, ErrorCode::GenericError, "not our paybill");
    }

    #[test]
    fn frequencies() {
        assert_eq!(frequency(None, Some(1)).unwrap(), 1);
        assert_eq!(frequency(Some(FrequencyType::Yearly), None).unwrap(), 8);
        assert_eq!(frequency(Some(FrequencyType::Sixmonths), None).unwrap(), 7);
        assert_eq!(
            frequency(Some(FrequencyType::Threemonths), None).unwrap(),
            6
        );
        assert_eq!(frequency(Some(FrequencyType::Twomonths), None).unwrap(), 5);
        assert!(frequency(Some(FrequencyType::Fourmonths), None).is_err());
        assert!(frequency(None, None).is_err());
        let start = date("2026-01-31");
        assert_eq!(due_date(start, 3, 2), Some(date("2026-02-14")));
        assert_eq!(due_date(start, 4, 1), Some(date("2026-02-28")));
        assert_eq!(due_date(start, 8, 1), Some(date("2027-01-31")));
        assert_eq!(due_date(start, 1, 1), None);
    }

    #[test]
    fn the_documented_callbacks_parse_whatever_their_case() {
        let ok = br#"{"responseHeader":{"responseRefID":"4dd9b5d9-d738-42ba-9326-2cc99e966000","requestRefID":"c8e8c3b1","responseCode":"0","responseDescription":"The service request is processed successfully"},"responseBody":{"responseData":[{"name":"TransactionID","value":"SC8F2IQMH5"},{"name":"responseCode","value":"0"},{"name":"Status","value":"OKAY"},{"name":"Msisdn","value":"254******867"}]}}"#;
        let r = parse_callback(ok).unwrap();
        assert!(r.approved());
        assert_eq!(r.transaction_id.as_deref(), Some("SC8F2IQMH5"));
        assert_eq!(
            r.response_ref_id.as_deref(),
            Some("4dd9b5d9-d738-42ba-9326-2cc99e966000")
        );
        let declined = br#"{"ResponseHeader":{"ResponseRefID":"x","ResponseCode":"1032","ResponseDescription":"Request cancelled by user"},"ResponseBody":{"ResponseData":[{"Name":"responseCode","Value":"1032"},{"Name":"Status","Value":"ERROR"}]}}"#;
        let r = parse_callback(declined).unwrap();
        assert!(!r.approved());
        let failure = r.failure();
        assert_eq!(failure.provider_code, "1032");
        assert_eq!(failure.provider_description, "Request cancelled by user");
        assert!(parse_callback(b"{}").is_none());
        assert!(parse_callback(b"not json").is_none());
    }

    #[test]
    fn the_acknowledgement() {
        let ack: StandingOrderAck = serde_json::from_str(
            r#"{"ResponseHeader":{"responseRefID":"r1","responseCode":"200","responseDescription":"Request accepted for processing","ResultDesc":"The service request is processed successfully."},"ResponseBody":{"responseDescription":"Request accepted for processing","responseCode":"200"}}"#,
        )
        .unwrap();
        assert!(ack.accepted());
        assert!(!StandingOrderAck::default().accepted());
    }

    #[test]
    fn account_references_and_payment_keys() {
        assert_eq!(
            account_reference("0190a1b2c3d47e8f9a0b1c2d3e4f5a6b"),
            "1C2D3E4F5A6B"
        );
        assert_eq!(account_reference("ab"), "AB");
        assert_eq!(mandate_payment_key("174379", " 1c2d "), "174379/1C2D");
    }
}
