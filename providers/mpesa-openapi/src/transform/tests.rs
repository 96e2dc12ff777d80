//! Unit tests of the OpenAPI mappings, with payloads as the portal documents and the sandbox sends them.

use super::*;
use crate::config::MARKETS;
use mmapi_core::model::TransactionRequest;
use mmapi_core::Timestamp;

const TOML: &str = r#"
[[markets]]
market = "vodacomTZN"
base_url = "http://127.0.0.1:1"
environment = "sandbox"
api_key = "6bc4157dbee34d409118e0978dc6dd17"
public_key = "AAAA"
service_provider_code = "000000"
async_mode = false

[[markets]]
market = "vodafoneGHA"
api_key = "k"
public_key = "AAAA"
service_provider_code = "000001"
origin = "127.0.0.1"
session_lifetime_secs = 600
async_mode = true
request_timeout_ms = 1000
result_deadline_secs = 30
"#;

fn config() -> OpenApiConfig {
    toml::from_str(TOML).unwrap()
}

fn tzn() -> Market {
    Market::by_context("vodacomTZN").unwrap()
}

fn tx(kind: TransactionType, body: serde_json::Value) -> Transaction {
    let request: TransactionRequest = serde_json::from_value(body).unwrap();
    Transaction::pending(
        "01a2129a2c6d75b892142ececaa0e2db".into(),
        kind,
        request,
        Timestamp::now(),
    )
}

#[test]
fn config_reads_from_toml_with_defaults_and_refuses_unknown_keys() {
    let c = config();
    assert_eq!(c.markets.len(), 2);
    let t = &c.markets[0];
    assert_eq!(t.market().unwrap().currency, "TZS");
    assert_eq!(t.origin, "*");
    assert_eq!(t.session_lifetime_secs, 3600);
    assert_eq!(
        t.api_root(),
        "http://127.0.0.1:1/sandbox/ipg/v2/vodacomTZN/"
    );
    assert!(t.is_sandbox());
    let g = &c.markets[1];
    assert_eq!(
        g.api_root(),
        "https://openapi.m-pesa.com:443/openapi/ipg/v2/vodafoneGHA/"
    );
    assert!(g.async_mode);
    assert_eq!(format!("{:?}", g.api_key), "[redacted]");
    let bad = TOML.replace("async_mode = false", "async = false");
    assert!(toml::from_str::<OpenApiConfig>(&bad).is_err());
}

#[test]
fn every_market_has_its_currency() {
    let pairs: Vec<_> = MARKETS
        .iter()
        .map(|m| (m.context, m.country, m.currency))
        .collect();
    assert_eq!(
        pairs,
        [
            ("vodacomTZN", "TZN", "TZS"),
            ("vodafoneGHA", "GHA", "GHS"),
            ("vodacomLES", "LES", "LSL"),
            ("vodacomDRC", "DRC", "USD"),
            ("vodacomMOZ", "MOZ", "MZN"),
        ]
    );
    assert!(MARKETS.iter().all(|m| m.currency().is_some()));
    let c = config();
    let (entry, m) = market_for(&c, &Currency::parse("GHS").unwrap()).unwrap();
    assert_eq!(
        (entry.service_provider_code.as_str(), m.country),
        ("000001", "GHA")
    );
    let e = market_for(&c, &Currency::parse("KES").unwrap()).unwrap_err();
    assert_eq!(e.error_code, ErrorCode::CurrencyNotSupported);
}

#[test]
fn the_ins_table_maps_every_documented_code() {
    use ErrorCategory as C;
    use ErrorCode as E;
    // (code, documented HTTP status, kind, category, code)
    let expected: &[(&str, u16, InsKind, C, E)] = &[
        ("INS-0", 201, Success, C::BusinessRule, E::GenericError),
        ("INS-1", 400, Refused, C::Internal, E::GenericError),
        (
            "INS-2",
            401,
            Session,
            C::Authorisation,
            E::ClientAuthorisationError,
        ),
        (
            "INS-4",
            401,
            Configuration,
            C::Authorisation,
            E::ServicingPartyAuthorisationError,
        ),
        ("INS-5", 401, Declined, C::Authorisation, E::RequestDeclined),
        ("INS-6", 401, Declined, C::BusinessRule, E::GenericError),
        ("INS-9", 408, Declined, C::Authorisation, E::RequestDeclined),
        ("INS-10", 409, Refused, C::BusinessRule, E::DuplicateRequest),
        (
            "INS-13",
            400,
            Refused,
            C::Identification,
            E::IdentifierError,
        ),
        ("INS-14", 400, Refused, C::Validation, E::FormatError),
        ("INS-15", 400, Refused, C::Validation, E::FormatError),
        ("INS-16", 503, Retry, C::ServiceUnavailable, E::GenericError),
        ("INS-17", 400, Refused, C::Validation, E::LengthError),
        ("INS-18", 400, Refused, C::Validation, E::FormatError),
        ("INS-19", 400, Refused, C::Validation, E::FormatError),
        (
            "INS-20",
            400,
            Refused,
            C::Validation,
            E::MandatoryValueNotSupplied,
        ),
        ("INS-21", 400, Refused, C::Validation, E::FormatError),
        (
            "INS-22",
            400,
            Refused,
            C::BusinessRule,
            E::TransactionTypeError,
        ),
        (
            "INS-23",
            400,
            Refused,
            C::Identification,
            E::IdentifierError,
        ),
        (
            "INS-24",
            400,
            Configuration,
            C::Authorisation,
            E::RequestingPartyAuthorisationError,
        ),
        (
            "INS-25",
            400,
            Configuration,
            C::Authorisation,
            E::RequestingPartyAuthorisationError,
        ),
        (
            "INS-26",
            400,
            Refused,
            C::Validation,
            E::CurrencyNotSupported,
        ),
        ("INS-28", 400, Refused, C::Validation, E::FormatError),
        ("INS-30", 400, Refused, C::Validation, E::FormatError),
        ("INS-31", 400, Refused, C::Validation, E::FormatError),
        ("INS-32", 400, Refused, C::Validation, E::FormatError),
        (
            "INS-35",
            400,
            Refused,
            C::Authorisation,
            E::RequestingPartyAuthorisationError,
        ),
        ("INS-36", 400, Refused, C::Validation, E::FormatError),
        ("INS-39", 400, Refused, C::Validation, E::FormatError),
        ("INS-40", 400, Refused, C::Validation, E::FormatError),
        ("INS-41", 400, Refused, C::Validation, E::FormatError),
        ("INS-42", 400, Refused, C::Validation, E::FormatError),
        ("INS-43", 400, Refused, C::Validation, E::FormatError),
        ("INS-50", 400, Refused, C::Validation, E::FormatError),
        ("INS-51", 400, Refused, C::Validation, E::FormatError),
        ("INS-52", 400, Refused, C::Validation, E::FormatError),
        ("INS-54", 400, Refused, C::Validation, E::FormatError),
        (
            "INS-55",
            401,
            Refused,
            C::Validation,
            E::MandatoryValueNotSupplied,
        ),
        ("INS-56", 401, Refused, C::Validation, E::FormatError),
        (
            "INS-57",
            500,
            Refused,
            C::Validation,
            E::MandatoryValueNotSupplied,
        ),
        (
            "INS-58",
            400,
            Refused,
            C::BusinessRule,
            E::NoMandateAuthority,
        ),
        (
            "INS-989",
            400,
            Session,
            C::Authorisation,
            E::ClientAuthorisationError,
        ),
        (
            "INS-990",
            400,
            Declined,
            C::BusinessRule,
            E::DailyValueLimitExceeded,
        ),
        (
            "INS-991",
            400,
            Declined,
            C::BusinessRule,
            E::DailyVolumeLimitExceeded,
        ),
        (
            "INS-992",
            400,
            Declined,
            C::BusinessRule,
            E::DailyValueLimitExceeded,
        ),
        (
            "INS-993",
            400,
            Declined,
            C::BusinessRule,
            E::DailyVolumeLimitExceeded,
        ),
        (
            "INS-994",
            400,
            Declined,
            C::BusinessRule,
            E::DailyValueLimitExceeded,
        ),
        (
            "INS-995",
            400,
            Refused,
            C::BusinessRule,
            E::GreaterThanTransactionMaxValue,
        ),
        (
            "INS-996",
            400,
            Refused,
            C::ServiceUnavailable,
            E::GenericError,
        ),
        (
            "INS-997",
            400,
            Configuration,
            C::Authorisation,
            E::ServicingPartyAuthorisationError,
        ),
        ("INS-998", 400, Configuration, C::Validation, E::FormatError),
        (
            "INS-2001",
            400,
            Declined,
            C::Authorisation,
            E::RequestDeclined,
        ),
        (
            "INS-2002",
            400,
            Refused,
            C::Identification,
            E::IdentifierError,
        ),
        (
            "INS-2006",
            422,
            Declined,
            C::BusinessRule,
            E::InsufficientFunds,
        ),
        (
            "INS-2051",
            400,
            Refused,
            C::Identification,
            E::IdentifierError,
        ),
        ("INS-2057", 400, Refused, C::Validation, E::FormatError),
    ];
    assert_eq!(expected.len(), INS_TABLE.len(), "one row per table entry");
    for (code, http, kind, category, error_code) in expected {
        let e = ins_entry(code).unwrap_or_else(|| panic!("{code} is missing"));
        assert_eq!(
            (e.http, e.kind, e.category, e.error_code),
            (*http, *kind, *category, *error_code),
            "{code}"
        );
    }
    assert_eq!(ins_entry("0").unwrap().code, "INS-0");
    assert!(ins_entry("INS-2061").is_none(), "undocumented");
    let f = failure("INS-2006", "Insufficient balance");
    assert_eq!(f.error.error_code, ErrorCode::InsufficientFunds);
    assert_eq!(f.provider_code, "INS-2006");
    let unknown = failure("INS-777", "?");
    assert_eq!(unknown.error.error_category, ErrorCategory::BusinessRule);
}

fn answer(json: &str) -> wire::Response {
    serde_json::from_str(json).unwrap()
}

#[test]
fn the_recorded_sandbox_success_completes_with_the_transaction_id() {
    let a = answer(
        r#"{"output_ResponseCode":"INS-0","output_ResponseDesc":"Request processed successfully",
            "output_TransactionID":"G27DEn1DLoQ3","output_ConversationID":"08536a5d65ea4f50866db06f577cc5c1",
            "output_ThirdPartyConversationID":"asv02e5958774f7ba228d83d0d689761"}"#,
    );
    let Answered::Outcome(refs, outcome) =
        transaction_answer(201, &a, "asv02e5958774f7ba228d83d0d689761", &tzn(), false)
    else {
        panic!("no outcome")
    };
    assert_eq!(refs.reference, "08536a5d65ea4f50866db06f577cc5c1");
    assert_eq!(refs.extra[EXTRA_TRANSACTION_ID], "G27DEn1DLoQ3");
    assert_eq!(refs.extra[EXTRA_MARKET], "vodacomTZN");
    assert_eq!(
        outcome,
        Outcome::Completed(Completion {
            receipt: Some("G27DEn1DLoQ3".into()),
            completed_at: None
        })
    );
    // The same answer from an asynchronous application is only an acknowledgement.
    let Answered::Outcome(_, outcome) = transaction_answer(201, &a, "x", &tzn(), true) else {
        panic!("no outcome")
    };
    assert_eq!(outcome, Outcome::Pending);
}

#[test]
fn the_recorded_sandbox_duplicate_is_a_duplicate_request() {
    let a = answer(
        r#"{"output_ResponseCode":"INS-10","output_ResponseDesc":"Duplicate Transaction","output_TransactionID":"N/A",
            "output_ConversationID":"47bbaba4c5b34d1e8e2c8d9e6a8f0b2c","output_ThirdPartyConversationID":"asv02e5958774f7ba228d83d0d689761"}"#,
    );
    match transaction_answer(409, &a, "asv02e5958774f7ba228d83d0d689761", &tzn(), false) {
        Answered::Error(ProviderError::Rejected(f)) => {
            assert_eq!(f.error.error_category, ErrorCategory::BusinessRule);
            assert_eq!(f.error.error_code, ErrorCode::DuplicateRequest);
            assert_eq!(f.provider_code, "INS-10");
        }
        other => panic!("{other:?}"),
    }
    let refs = refs_of(&a, "t", &tzn());
    assert!(
        !refs.extra.contains_key(EXTRA_TRANSACTION_ID),
        "N/A is no ID"
    );
}

#[test]
fn failures_are_classified_by_what_happened() {
    let body = |code: &str| {
        answer(&format!(
            r#"{{"output_ResponseCode":"{code}","output_ResponseDesc":"d"}}"#
        ))
    };
    let m = tzn();
    // Declined at M-Pesa: the transaction failed.
    for (http, code, expected) in [
        (422, "INS-2006", ErrorCode::InsufficientFunds),
        (408, "INS-9", ErrorCode::RequestDeclined),
        (401, "INS-6", ErrorCode::GenericError),
    ] {
        match transaction_answer(http, &body(code), "t", &m, false) {
            Answered::Outcome(_, Outcome::Failed(f)) => assert_eq!(f.error.error_code, expected),
            other => panic!("{code}: {other:?}"),
        }
    }
    let class = |http, code: &str| match transaction_answer(http, &body(code), "t", &m, false) {
        Answered::Error(ProviderError::Rejected(_)) => "rejected",
        Answered::Error(ProviderError::Unavailable(_)) => "unavailable",
        Answered::Error(ProviderError::InDoubt(_)) => "in doubt",
        Answered::Error(ProviderError::Configuration(_)) => "configuration",
        Answered::Error(ProviderError::Unsupported(_)) => "unsupported",
        Answered::Outcome(..) => "outcome",
    };
    assert_eq!(class(400, "INS-21"), "rejected");
    assert_eq!(class(400, "INS-1"), "rejected");
    assert_eq!(class(500, "INS-1"), "in doubt");
    assert_eq!(class(503, "INS-16"), "unavailable");
    assert_eq!(class(401, "INS-2"), "configuration");
    assert_eq!(class(400, "INS-998"), "configuration");
    assert_eq!(class(502, ""), "in doubt");
    assert_eq!(class(503, ""), "unavailable");
    assert_eq!(class(201, "INS-21"), "in doubt");
    assert_eq!(class(400, "INS-4242"), "rejected");
}

#[test]
fn status_answers_settle_or_wait() {
    let a = answer(
        r#"{"output_ResponseCode":"INS-0","output_ResponseDesc":"Request processed successfully",
            "output_ResponseTransactionStatus":"Completed","output_ConversationID":"fd1e9143d22544459f7c66e1860ef276",
            "output_ThirdPartyConversationID":"1e9b774d1da34af78412a498cbc28f5e","output_OriginalTransactionID":"4C123GE3",
            "output_Reversed":"False"}"#,
    );
    assert_eq!(
        status_outcome(200, &a).unwrap(),
        Outcome::Completed(Completion {
            receipt: Some("4C123GE3".into()),
            completed_at: None
        })
    );
    let with = |status: &str| {
        let mut b = a.clone();
        b.transaction_status = Some(status.into());
        status_outcome(200, &b).unwrap()
    };
    assert!(
        matches!(with("Cancelled"), Outcome::Failed(f) if f.error.error_code == ErrorCode::RequestDeclined)
    );
    assert!(matches!(with("Expired"), Outcome::Failed(_)));
    assert!(matches!(with("Failed"), Outcome::Failed(_)));
    assert_eq!(with("Pending"), Outcome::Pending);
    assert_eq!(with("N/A"), Outcome::Pending);
    let alias = answer(r#"{"output_ResponseCode":"INS-0","output_TransactionStatus":"Completed"}"#);
    assert!(matches!(
        status_outcome(200, &alias).unwrap(),
        Outcome::Completed(_)
    ));
    let not_found =
        answer(r#"{"output_ResponseCode":"INS-23","output_ResponseDesc":"Transaction not found"}"#);
    assert_eq!(status_outcome(400, &not_found).unwrap(), Outcome::Pending);
    let refused = answer(r#"{"output_ResponseCode":"INS-21","output_ResponseDesc":"bad"}"#);
    assert!(matches!(
        status_outcome(400, &refused),
        Err(ProviderError::InDoubt(_))
    ));
}

#[test]
fn async_results_become_events_and_are_acknowledged() {
    let r: wire::AsyncResult = serde_json::from_str(
        r#"{"input_OriginalConversationID":"fd1e9143d22544459f7c66e1860ef276","input_TransactionID":"hv9ahxcg4ccv",
            "input_ResultCode":"INS-0","input_ResultDesc":"Request processed successfully",
            "input_ThirdPartyConversationID":"1e9b774d1da34af78412a498cbc28f5e"}"#,
    )
    .unwrap();
    let (reference, hint, outcome) = async_result_outcome(&r);
    assert_eq!(reference, "fd1e9143d22544459f7c66e1860ef276");
    assert_eq!(hint.as_deref(), Some("1e9b774d1da34af78412a498cbc28f5e"));
    assert_eq!(
        outcome,
        Outcome::Completed(Completion {
            receipt: Some("hv9ahxcg4ccv".into()),
            completed_at: None
        })
    );
    assert_eq!(
        serde_json::to_value(async_ack(&r)).unwrap(),
        serde_json::json!({"output_OriginalConversationID":"fd1e9143d22544459f7c66e1860ef276",
            "output_ResponseCode":"0","output_ResponseDesc":"Successfully Accepted Result",
            "output_ThirdPartyConversationID":"1e9b774d1da34af78412a498cbc28f5e"})
    );
    let zero: wire::AsyncResult =
        serde_json::from_str(r#"{"input_OriginalConversationID":"c","input_ResultCode":"0"}"#)
            .unwrap();
    assert!(matches!(
        async_result_outcome(&zero).2,
        Outcome::Completed(_)
    ));
    let failed: wire::AsyncResult = serde_json::from_str(
        r#"{"input_OriginalConversationID":"c","input_ResultCode":"INS-2006","input_ResultDesc":"Insufficient balance"}"#,
    )
    .unwrap();
    assert!(
        matches!(async_result_outcome(&failed).2, Outcome::Failed(f) if f.error.error_code == ErrorCode::InsufficientFunds)
    );
}

#[test]
fn msisdns_are_normalised_to_the_market() {
    let m = tzn();
    for raw in [
        "+255712345678",
        "255712345678",
        "0712345678",
        "712345678",
        "+255 712 345 678",
    ] {
        assert_eq!(
            normalise_msisdn(&m, raw, false).as_deref(),
            Some("255712345678"),
            "{raw}"
        );
    }
    assert_eq!(
        normalise_msisdn(&m, "+254712345678", false),
        None,
        "Kenya is not Tanzania"
    );
    assert_eq!(normalise_msisdn(&m, "000000000001", false), None);
    assert_eq!(
        normalise_msisdn(&m, "000000000001", true).as_deref(),
        Some("000000000001")
    );
    assert_eq!(normalise_msisdn(&m, "25571234567x", false), None);
    assert_eq!(
        normalise_msisdn(&m, "255123456", false).as_deref(),
        Some("255255123456"),
        "a national number that begins like the dialling code"
    );
    let les = Market::by_context("vodacomLES").unwrap();
    assert_eq!(
        normalise_msisdn(&les, "+26658123456", false).as_deref(),
        Some("26658123456")
    );
    let c = config();
    let e = party_msisdn(
        &c.markets[0],
        &m,
        &[Party::new("msisdn", "+233241234567")],
        "debitParty",
    )
    .unwrap_err();
    assert_eq!(
        (e.error_category, e.error_code),
        (ErrorCategory::Validation, ErrorCode::FormatError)
    );
    assert!(format!("{:?}", e.error_parameters).contains("debitParty"));
}

#[test]
fn amounts_follow_the_market() {
    let a = |s: &str| Amount::parse(s).unwrap();
    assert_eq!(amount_text(&tzn(), &a("1000")).unwrap(), "1000");
    assert_eq!(amount_text(&tzn(), &a("1000.00")).unwrap(), "1000");
    assert_eq!(
        amount_text(&tzn(), &a("10.5")).unwrap_err().error_code,
        ErrorCode::FormatError
    );
    let gha = Market::by_context("vodafoneGHA").unwrap();
    assert_eq!(amount_text(&gha, &a("10.50")).unwrap(), "10.5");
    assert!(amount_text(&gha, &a("10.505")).is_err());
    assert!(amount_text(&gha, &a("0")).is_err());
}

#[test]
fn text_fields_keep_what_the_openapi_accepts() {
    assert_eq!(wire_text("Shoes, size 42 (red)!", 256), "Shoes size 42 red");
    assert_eq!(third_party_id("01a2129a-2c6d-75b8"), "01a2129a2c6d75b8");
    assert_eq!(third_party_id(&"a".repeat(50)).len(), 40);
}

#[test]
fn a_merchant_payment_becomes_a_c2b_single_stage() {
    let c = config();
    let t = tx(
        TransactionType::Merchantpay,
        serde_json::json!({"amount": "1500", "currency": "TZS",
            "debitParty": [{"key": "msisdn", "value": "+255712345678"}],
            "creditParty": [{"key": "storeid", "value": "123456"}],
            "descriptionText": "Shoes & socks",
            "requestingOrganisationTransactionReference": "T1234C"}),
    );
    let body = c2b_request(&c.markets[0], &tzn(), &t).unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        serde_json::json!({"input_Amount": "1500", "input_Country": "TZN", "input_Currency": "TZS",
            "input_CustomerMSISDN": "255712345678", "input_ServiceProviderCode": "123456",
            "input_ThirdPartyConversationID": "01a2129a2c6d75b892142ececaa0e2db",
            "input_TransactionReference": "T1234C", "input_PurchasedItemsDesc": "Shoes socks"})
    );
    let plain = tx(
        TransactionType::Billpay,
        serde_json::json!({"amount": "10", "currency": "TZS",
            "debitParty": [{"key": "msisdn", "value": "000000000001"}],
            "creditParty": [{"key": "accountid", "value": "x"}]}),
    );
    assert!(
        c2b_request(&c.markets[0], &tzn(), &plain).is_err(),
        "a bad shortcode"
    );
    let plain = tx(
        TransactionType::Billpay,
        serde_json::json!({"amount": "10", "currency": "TZS",
            "debitParty": [{"key": "msisdn", "value": "000000000001"}],
            "creditParty": [{"key": "msisdn", "value": "255712345678"}]}),
    );
    let body = c2b_request(&c.markets[0], &tzn(), &plain).unwrap();
    assert_eq!(body.service_provider_code, "000000");
    assert_eq!(
        body.transaction_reference, "75b892142ececaa0e2db",
        "the last 20 of ours"
    );
    assert_eq!(body.purchased_items_desc, "Payment");
}

#[test]
fn disbursement_transfer_reversal_and_status_requests() {
    let c = config();
    let m = tzn();
    let d = tx(
        TransactionType::Disbursement,
        serde_json::json!({"amount": "500", "currency": "TZS",
            "debitParty": [{"key": "organisationid", "value": "000000"}],
            "creditParty": [{"key": "msisdn", "value": "0712345678"}]}),
    );
    let b2c = b2c_request(&c.markets[0], &m, &d).unwrap();
    assert_eq!(
        (
            b2c.customer_msisdn.as_str(),
            b2c.service_provider_code.as_str(),
            b2c.payment_items_desc.as_str()
        ),
        ("255712345678", "000000", "Payment")
    );
    let t = tx(
        TransactionType::Transfer,
        serde_json::json!({"amount": "500", "currency": "TZS",
            "debitParty": [{"key": "organisationid", "value": "000000"}],
            "creditParty": [{"key": "organisationid", "value": "000001"}]}),
    );
    let b2b = b2b_request(&c.markets[0], &m, &t).unwrap();
    assert_eq!(
        (
            b2b.primary_party_code.as_str(),
            b2b.receiver_party_code.as_str()
        ),
        ("000000", "000001")
    );
    let to_person = tx(
        TransactionType::Transfer,
        serde_json::json!({"amount": "500", "currency": "TZS",
            "creditParty": [{"key": "msisdn", "value": "0712345678"}]}),
    );
    assert_eq!(
        b2b_request(&c.markets[0], &m, &to_person)
            .unwrap_err()
            .error_code,
        ErrorCode::TransactionTypeError
    );

    let mut original = d.clone();
    original.transaction_receipt = Some("G27DEn1DLoQ3".into());
    let refs = ProviderRefs::default();
    let mut reversal = tx(
        TransactionType::Reversal,
        serde_json::json!({"amount": "500", "currency": "TZS"}),
    );
    reversal.transaction_reference = "rev1".into();
    let body = reversal_request(&c.markets[0], &m, &reversal, &original, &refs).unwrap();
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        serde_json::json!({"input_Country": "TZN", "input_ServiceProviderCode": "000000",
            "input_ThirdPartyConversationID": "rev1", "input_TransactionID": "G27DEn1DLoQ3"})
    );
    reversal.amount = Amount::parse("200").unwrap();
    let body = reversal_request(&c.markets[0], &m, &reversal, &original, &refs).unwrap();
    assert_eq!(body.reversal_amount.as_deref(), Some("200"));
    original.transaction_receipt = None;
    assert!(reversal_request(&c.markets[0], &m, &reversal, &original, &refs).is_err());

    let refs = ProviderRefs {
        reference: "fd1e9143d22544459f7c66e1860ef276".into(),
        ..Default::default()
    };
    let q = status_query(&c.markets[0], &m, &d, &refs, "q1".into());
    assert_eq!(
        serde_json::to_value(&q).unwrap(),
        serde_json::json!({"input_QueryReference": "fd1e9143d22544459f7c66e1860ef276",
            "input_ServiceProviderCode": "000000", "input_ThirdPartyConversationID": "q1", "input_Country": "TZN"})
    );
    let q = status_query(&c.markets[0], &m, &d, &ProviderRefs::default(), "q2".into());
    assert_eq!(q.query_reference, "01a2129a2c6d75b892142ececaa0e2db");
}

#[test]
fn checks_refuse_what_the_openapi_would() {
    let c = config();
    let req =
        |body: serde_json::Value| -> TransactionRequest { serde_json::from_value(body).unwrap() };
    let ok = req(serde_json::json!({"amount": "10", "currency": "TZS",
        "debitParty": [{"key": "msisdn", "value": "+255712345678"}],
        "creditParty": [{"key": "storeid", "value": "000000"}]}));
    assert!(check_request(&c, TransactionType::Merchantpay, &ok, None).is_ok());
    let kes = req(serde_json::json!({"amount": "10", "currency": "KES",
        "debitParty": [{"key": "msisdn", "value": "+254712345678"}]}));
    assert_eq!(
        check_request(&c, TransactionType::Merchantpay, &kes, None)
            .unwrap_err()
            .error_code,
        ErrorCode::CurrencyNotSupported
    );
    let ghana_payer = req(serde_json::json!({"amount": "10", "currency": "TZS",
        "debitParty": [{"key": "msisdn", "value": "+233241234567"}]}));
    let e = check_request(&c, TransactionType::Merchantpay, &ghana_payer, None).unwrap_err();
    assert_eq!(e.error_code, ErrorCode::FormatError);
    let long_ref = req(serde_json::json!({"amount": "10", "currency": "TZS",
        "debitParty": [{"key": "msisdn", "value": "+255712345678"}],
        "requestingOrganisationTransactionReference": "this reference is far too long"}));
    assert!(check_request(&c, TransactionType::Merchantpay, &long_ref, None).is_err());
    assert_eq!(
        check_request(&c, TransactionType::Inttransfer, &ok, None)
            .unwrap_err()
            .error_code,
        ErrorCode::TransactionTypeError
    );
    assert!(check_request(&c, TransactionType::Reversal, &ok, None).is_err());
    assert!(
        check_request(&c, TransactionType::Transfer, &ok, None).is_err(),
        "a person pays"
    );
}

#[test]
fn the_documented_beneficiary_answer_gives_a_name() {
    let a = answer(
        r#"{"output_ResponseCode":"INS-0","output_ResponseDesc":"Request processed successfully",
            "output_CustomerFirstName":"Jiazhen","output_CustomerLastName":"Wuu",
            "output_ConversationID":"fd1e9143d22544459f7c66e1860ef276","output_ThirdPartyConversationID":"x"}"#,
    );
    let name = beneficiary_name(200, &a).unwrap();
    assert_eq!(
        (
            name.first_name.as_deref(),
            name.last_name.as_deref(),
            name.full_name.as_deref()
        ),
        (Some("Jiazhen"), Some("Wuu"), Some("Jiazhen Wuu"))
    );
    let invalid =
        answer(r#"{"output_ResponseCode":"INS-2051","output_ResponseDesc":"MSISDN invalid."}"#);
    assert!(matches!(
        beneficiary_name(400, &invalid),
        Err(ProviderError::Rejected(f)) if f.error.error_code == ErrorCode::IdentifierError
    ));
}
