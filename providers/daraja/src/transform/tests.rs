//! Unit tests of the Daraja mappings, with payloads as Daraja publishes and sends them.

use super::*;
use crate::config::ShortcodeConfig;
use mmapi_core::model::Party;
use mmapi_core::Secret;

const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

fn config() -> DarajaConfig {
    DarajaConfig {
        base_url: "http://127.0.0.1:1".into(),
        consumer_key: Secret::new("k"),
        consumer_secret: Secret::new("s"),
        shortcodes: vec![
            ShortcodeConfig {
                shortcode: "174379".into(),
                passkey: Secret::new(SANDBOX_PASSKEY),
                store_number: None,
            },
            ShortcodeConfig {
                shortcode: "5555555".into(),
                passkey: Secret::new("pk"),
                store_number: Some("6666666".into()),
            },
        ],
        request_timeout_ms: 1000,
        stk_result_deadline_secs: 60,
        stk_unacknowledged_expiry_secs: 600,
        initiator_name: None,
        initiator_password: None,
        certificate: None,
        disbursement_shortcode: None,
        result_deadline_secs: 60,
        balance_timeout_secs: 10,
        c2b: Vec::new(),
        bill_manager: None,
        ratiba_approval_timeout_secs: 180,
    }
}

#[test]
fn stk_password_matches_the_documented_vector() {
    assert_eq!(
        stk_password("174379", SANDBOX_PASSKEY, "20210628092408").expose(),
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
    );
}

#[test]
fn timestamps_are_east_africa_time() {
    let utc = chrono::DateTime::parse_from_rfc3339("2021-06-28T06:24:08Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(daraja_timestamp(utc), "20210628092408");
    let back = parse_daraja_timestamp("20210628092408").unwrap();
    assert_eq!(back.0, utc);
}

#[test]
fn msisdns_are_normalised() {
    for (input, want) in [
        ("+254708374149", Some("254708374149")),
        ("254708374149", Some("254708374149")),
        ("0708374149", Some("254708374149")),
        ("708374149", Some("254708374149")),
        ("+254 708 374 149", Some("254708374149")),
        ("0110000000", Some("254110000000")),
        ("+255708374149", None),
        ("25470837414", None),
        ("0608374149", None),
        ("abc", None),
        ("", None),
    ] {
        assert_eq!(normalise_msisdn(input).as_deref(), want, "{input}");
    }
}

#[test]
fn the_credit_party_chooses_pay_bill_or_buy_goods() {
    let c = config();
    let till = stk_target(&c, &[Party::new("storeid", "5555555")]).unwrap();
    assert_eq!(till.transaction_type, BUY_GOODS);
    assert_eq!(till.business_short_code, "6666666");
    assert_eq!(till.party_b, "5555555");
    let paybill = stk_target(&c, &[Party::new("businessshortcode", "174379")]).unwrap();
    assert_eq!(paybill.transaction_type, PAY_BILL);
    assert_eq!(paybill.business_short_code, "174379");
    let unknown = stk_target(&c, &[Party::new("storeid", "999")]).unwrap_err();
    assert_eq!(unknown.error_category, ErrorCategory::BusinessRule);
    let missing = stk_target(&c, &[Party::new("msisdn", "254708374149")]).unwrap_err();
    assert_eq!(missing.error_code, ErrorCode::MandatoryValueNotSupplied);
}

#[test]
fn amounts_must_be_whole_shillings_within_limits() {
    let a = |s: &str| stk_amount(&mmapi_core::Amount::parse(s).unwrap());
    assert_eq!(a("100").unwrap(), 100);
    assert_eq!(a("100.00").unwrap(), 100);
    assert_eq!(a("250000").unwrap(), 250_000);
    assert_eq!(a("100.5").unwrap_err().error_code, ErrorCode::FormatError);
    assert_eq!(
        a("0").unwrap_err().error_code,
        ErrorCode::LessThanTransactionMinValue
    );
    assert_eq!(
        a("250001").unwrap_err().error_code,
        ErrorCode::GreaterThanTransactionMaxValue
    );
}

#[test]
fn stk_push_body_has_daraja_field_names() {
    let request: TransactionRequest = serde_json::from_str(
        r#"{"amount":"100","currency":"KES","debitParty":[{"key":"msisdn","value":"+254708374149"}],
            "creditParty":[{"key":"storeid","value":"174379"}],"descriptionText":"Coffee and a very long description"}"#,
    )
    .unwrap();
    let tx = Transaction::pending(
        "0192f4c2a7e07d61b0f3c1d2e4a5b6c7".into(),
        TransactionType::Merchantpay,
        request,
        Timestamp::now(),
    );
    let body = stk_push_request(&config(), &tx, "20210628092408", "http://cb/x".into()).unwrap();
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["BusinessShortCode"], "174379");
    assert_eq!(v["TransactionType"], "CustomerBuyGoodsOnline");
    assert_eq!(v["Amount"], "100");
    assert_eq!(v["PartyA"], "254708374149");
    assert_eq!(v["PhoneNumber"], "254708374149");
    assert_eq!(v["CallBackURL"], "http://cb/x");
    assert_eq!(v["AccountReference"].as_str().unwrap().chars().count(), 12);
    assert_eq!(v["TransactionDesc"], "Coffee and a ");
    assert_eq!(
        v["Password"],
        "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
    );
}

fn parse_callback(json: &str) -> (String, Outcome) {
    let envelope: wire::StkCallbackEnvelope = serde_json::from_str(json).unwrap();
    stk_callback_outcome(&envelope.body.stk_callback)
}

#[test]
fn documented_success_callback_with_balance_item_without_value() {
    let (reference, outcome) = parse_callback(
        r#"{"Body":{"stkCallback":{"MerchantRequestID":"29115-34620561-1","CheckoutRequestID":"ws_CO_191220191020363925",
        "ResultCode":0,"ResultDesc":"The service request is processed successfully.",
        "CallbackMetadata":{"Item":[{"Name":"Amount","Value":1.00},{"Name":"MpesaReceiptNumber","Value":"NLJ7RT61SV"},
        {"Name":"Balance"},{"Name":"TransactionDate","Value":20191219102115},{"Name":"PhoneNumber","Value":254708374149}]}}}}"#,
    );
    assert_eq!(reference, "ws_CO_191220191020363925");
    let Outcome::Completed(done) = outcome else {
        panic!("expected completion, got {outcome:?}")
    };
    assert_eq!(done.receipt.as_deref(), Some("NLJ7RT61SV"));
    assert_eq!(
        done.completed_at.unwrap().to_string(),
        "2019-12-19T07:21:15.000Z"
    );
}

#[test]
fn recorded_failure_callbacks_with_prefixes_and_string_codes() {
    let cases = [
        (
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"8555-67195-1","CheckoutRequestID":"ws_CO_27072017151044001","ResultCode":1032,"ResultDesc":"[STK_CB - ]Request cancelled by user"}}}"#,
            ErrorCategory::Authorisation,
            ErrorCode::RequestDeclined,
            "1032",
        ),
        (
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws_CO_1","ResultCode":"1","ResultDesc":"The balance is insufficient for the transaction."}}}"#,
            ErrorCategory::BusinessRule,
            ErrorCode::InsufficientFunds,
            "1",
        ),
        (
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws_CO_2","ResultCode":2001,"ResultDesc":"[MpesaCB - ]The initiator information is invalid."}}}"#,
            ErrorCategory::Authorisation,
            ErrorCode::RequestDeclined,
            "2001",
        ),
        (
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws_CO_3","ResultCode":1036,"ResultDesc":"[STK_CB - ]SMSC ACK timeout."}}}"#,
            ErrorCategory::Authorisation,
            ErrorCode::RequestDeclined,
            "1036",
        ),
        (
            r#"{"Body":{"stkCallback":{"MerchantRequestID":"1","CheckoutRequestID":"ws_CO_4","ResultCode":1037,"ResultDesc":"DS timeout user cannot be reached"}}}"#,
            ErrorCategory::Authorisation,
            ErrorCode::RequestDeclined,
            "1037",
        ),
    ];
    for (json, category, code, provider_code) in cases {
        let (_, outcome) = parse_callback(json);
        let Outcome::Failed(f) = outcome else {
            panic!("expected failure for {json}")
        };
        assert_eq!(f.error.error_category, category, "{json}");
        assert_eq!(f.error.error_code, code, "{json}");
        assert_eq!(f.provider_code, provider_code);
        assert!(
            !f.provider_description.starts_with('['),
            "prefix kept: {}",
            f.provider_description
        );
    }
}

#[test]
fn every_stk_result_code_maps_to_the_documented_class() {
    use ErrorCategory::*;
    use ErrorCode::*;
    let table = [
        ("1", BusinessRule, InsufficientFunds),
        ("2", BusinessRule, LessThanTransactionMinValue),
        ("3", BusinessRule, GreaterThanTransactionMaxValue),
        ("4", BusinessRule, DailyValueLimitExceeded),
        ("8", BusinessRule, MaxBalanceExceeded),
        ("11", BusinessRule, IncorrectState),
        ("17", BusinessRule, GenericError),
        ("21", Authorisation, RequestingPartyAuthorisationError),
        ("26", ServiceUnavailable, GenericError),
        ("1001", BusinessRule, GenericError),
        ("1019", Authorisation, RequestDeclined),
        ("1025", ServiceUnavailable, GenericError),
        ("9999", ServiceUnavailable, GenericError),
        ("1032", Authorisation, RequestDeclined),
        ("1036", Authorisation, RequestDeclined),
        ("1037", Authorisation, RequestDeclined),
        ("2001", Authorisation, RequestDeclined),
        ("2006", BusinessRule, IncorrectState),
        ("2028", Authorisation, RequestingPartyAuthorisationError),
        ("2040", BusinessRule, IncorrectState),
        ("8006", Authorisation, RequestingPartyAuthorisationError),
        ("SFC_IC0003", BusinessRule, GenericError),
    ];
    assert!(stk_result_error("0", "ok").is_none());
    for (code, category, error_code) in table {
        let e = stk_result_error(code, "x").unwrap();
        assert_eq!(
            (e.error_category, e.error_code),
            (category, error_code),
            "{code}"
        );
        let params = e.error_parameters.unwrap();
        assert!(params
            .iter()
            .any(|p| p.key == "providerCode" && p.value == code));
    }
}

#[test]
fn stk_query_answers() {
    let done: wire::StkQueryResponse = serde_json::from_str(
        r#"{"ResponseCode":"0","ResponseDescription":"The service request has been accepted successsfully",
        "MerchantRequestID":"22205-34066-1","CheckoutRequestID":"ws_CO_13012021093521236557",
        "ResultCode":"1032","ResultDesc":"Request cancelled by user"}"#,
    )
    .unwrap();
    assert!(matches!(stk_query_outcome(&done), Outcome::Failed(f) if f.provider_code == "1032"));
    let pending: wire::ErrorEnvelope = serde_json::from_str(
        r#"{"requestId":"ws_CO_1","errorCode":"500.001.1001","errorMessage":"The transaction is being processed"}"#,
    )
    .unwrap();
    assert!(query_still_processing(&pending));
}

#[test]
fn error_envelopes_in_either_case_map_to_provider_errors() {
    let bad_amount: wire::ErrorEnvelope = serde_json::from_str(
        r#"{"requestId":"1c5b-4ba8-815c-ac45c57a3db01495926","errorCode":"400.002.02","errorMessage":"Bad Request - Invalid Amount"}"#,
    )
    .unwrap();
    match envelope_error(400, &bad_amount) {
        ProviderError::Rejected(f) => assert_eq!(f.error.error_code, ErrorCode::FormatError),
        other => panic!("{other:?}"),
    }
    let capitalised: wire::ErrorEnvelope = serde_json::from_str(
        r#"{"RequestID":"x","ErrorCode":"401.002.01","ErrorMessage":"Error Occurred - Invalid Access Token - abc"}"#,
    )
    .unwrap();
    assert_eq!(capitalised.error_code.as_deref(), Some("401.002.01"));
    assert!(TOKEN_ERROR_CODES.contains(&"401.002.01"));
    let wrong: wire::ErrorEnvelope = serde_json::from_str(
        r#"{"requestId":"x","errorCode":"500.001.1001","errorMessage":"Wrong credentials"}"#,
    )
    .unwrap();
    assert!(matches!(
        envelope_error(500, &wrong),
        ProviderError::Configuration(_)
    ));
    let busy: wire::ErrorEnvelope = serde_json::from_str(
        r#"{"requestId":"x","errorCode":"500.001.1001","errorMessage":"Unable to lock subscriber, a transaction is already in process for the current subscriber"}"#,
    )
    .unwrap();
    assert!(matches!(
        envelope_error(500, &busy),
        ProviderError::Rejected(_)
    ));
    let unknown = wire::ErrorEnvelope::default();
    assert!(matches!(
        envelope_error(502, &unknown),
        ProviderError::InDoubt(_)
    ));
}

#[test]
fn token_expiry_is_a_string_or_a_number() {
    let a: wire::TokenResponse = serde_json::from_str(
        r#"{"access_token":"c9SQxWWhmdVRlyh0zh8gZDTkubVF","expires_in":"3599"}"#,
    )
    .unwrap();
    let b: wire::TokenResponse =
        serde_json::from_str(r#"{"access_token":"x","expires_in":3599}"#).unwrap();
    assert_eq!(a.expires_in.as_str(), "3599");
    assert_eq!(b.expires_in.as_str(), "3599");
}

/// What the engine does with a synchronous rejection (PROVIDERS.md §A.3), by class: the transaction fails with
/// the mapped GSMA error; the gateway's own Daraja configuration is wrong (internal/genericError, operator
/// alerted); Daraja is unavailable (retried, then serviceUnavailable); or the outcome is in doubt (settled by
/// status query). Token errors are retried once after re-authenticating before they get here.
#[test]
fn every_documented_error_envelope_has_a_mapping() {
    #[derive(Debug, PartialEq)]
    enum Class {
        Fails(ErrorCategory, ErrorCode),
        Configuration,
        Unavailable,
        InDoubt,
    }
    let class = |e: ProviderError| match e {
        ProviderError::Rejected(f) => Class::Fails(f.error.error_category, f.error.error_code),
        ProviderError::Configuration(_) | ProviderError::Unsupported(_) => Class::Configuration,
        ProviderError::Unavailable(_) => Class::Unavailable,
        ProviderError::InDoubt(_) => Class::InDoubt,
    };
    let table = [
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber", Class::Fails(ErrorCategory::Validation, ErrorCode::FormatError)),
        (400, "400.002.05", "Invalid Request Payload", Class::Configuration),
        (400, "400.003.01", "Invalid Access Token", Class::Configuration),
        (400, "400.003.02", "Bad Request", Class::Configuration),
        (400, "400.008.01", "Invalid Authentication passed", Class::Configuration),
        (400, "400.008.02", "Invalid grant type passed", Class::Configuration),
        (401, "401.002.01", "Error Occurred - Invalid Access Token - abc", Class::Configuration),
        (401, "401.003.01", "Invalid Access Token - Invalid API call as no apiproduct match found", Class::Configuration),
        (404, "404.001.01", "Resource not found", Class::Configuration),
        (404, "404.002.01", "Resource not found", Class::Configuration),
        (404, "404.003.01", "Resource not found", Class::Configuration),
        (404, "404.001.03", "Invalid Access Token", Class::Configuration),
        (404, "404.001.04", "Invalid Authentication Header", Class::Configuration),
        (405, "405.001", "POST Method Not Allowed", Class::Configuration),
        (500, "500.001.1001", "Wrong credentials", Class::Configuration),
        (500, "500.001.1001", "Merchant does not exist", Class::Configuration),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            Class::Fails(ErrorCategory::BusinessRule, ErrorCode::GenericError),
        ),
        (500, "500.001.1001", "The transaction is being processed", Class::InDoubt),
        (500, "500.002.1001", "Duplicate OriginatorConversationID", Class::Fails(ErrorCategory::BusinessRule, ErrorCode::DuplicateRequest)),
        (500, "500.003.1001", "Internal Server Error", Class::InDoubt),
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation", Class::Unavailable),
        (500, "500.003.03", "Quota Violation", Class::Unavailable),
    ];
    for (status, code, message, want) in table {
        let envelope = wire::ErrorEnvelope {
            request_id: Some("1c5b-4ba8-815c-ac45c57a3db01495926".into()),
            error_code: Some(code.into()),
            error_message: Some(message.into()),
        };
        assert_eq!(
            class(envelope_error(status, &envelope)),
            want,
            "{code} {message}"
        );
    }
}
