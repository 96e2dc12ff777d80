//! Debit mandates ⇄ the OpenAPI's direct debits: `directDebitCreation/`, `directDebitPayment/`,
//! `queryDirectDebit/` and `directDebitCancel/`. Pure functions.

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::mandate::{
    DebitMandateRequest, FrequencyType, MandateContext, MandateOrder, MandateState,
};
use mmapi_core::model::{Party, Transaction};
use mmapi_core::provider::{Outcome, ProviderError, ProviderRefs};
use mmapi_core::GsmaError;

use super::{
    amount_text, ins_entry, market_for, party_msisdn, party_shortcode, real, third_party_id,
    transaction_answer, Answered, InsKind, EXTRA_MARKET, EXTRA_THIRD_PARTY_ID,
};
use crate::config::{Market, MarketConfig, OpenApiConfig};
use crate::wire;

/// `ProviderRefs::extra` key of `output_MandateID`.
pub const EXTRA_MANDATE_ID: &str = "MandateID";
/// `ProviderRefs::extra` key of `output_MsisdnToken`.
pub const EXTRA_MSISDN_TOKEN: &str = "MsisdnToken";
/// `ProviderRefs::extra` key of the customer's MSISDN as the market writes it.
pub const EXTRA_CUSTOMER_MSISDN: &str = "CustomerMSISDN";
/// `ProviderRefs::extra` key of `input_ThirdPartyReference` (the mandate reference sent).
pub const EXTRA_THIRD_PARTY_REFERENCE: &str = "ThirdPartyReference";
/// `ProviderRefs::extra` key of the service provider the mandate is with.
pub const EXTRA_SERVICE_PROVIDER: &str = "ServiceProviderCode";

/// The OpenAPI frequency code (§B.4) of a GSMA `frequencyType`. Without one, a single payment is `01` (once
/// off) and anything else `08` (on demand). Schedules M-Pesa has no code for are refused.
pub fn frequency_code(
    frequency: Option<FrequencyType>,
    number_of_payments: Option<i32>,
) -> Result<&'static str, GsmaError> {
    use FrequencyType::*;
    Ok(match frequency {
        None if number_of_payments == Some(1) => "01",
        None => "08",
        Some(Weekly) => "03",
        Some(
            Monthspecificdate | Specificdaymonthly | Lastdaymonth | Lastdaymonthworking | Lastmonday
            | Lasttuesday | Lastwednesday | Lastthursday | Lastfriday | Lastsaturday | Lastsunday,
        ) => "04",
        Some(Threemonths) => "05",
        Some(Sixmonths) => "06",
        Some(Yearly) => "07",
        Some(other @ (Fortnight | Twomonths | Fourmonths)) => {
            return Err(GsmaError::format(
                "frequencyType",
                format!(
                    "M-Pesa mandates run once, daily, weekly, monthly, quarterly, half-yearly, yearly or on \
                     demand; '{}' has no M-Pesa equivalent",
                    other.as_str()
                ),
            ))
        }
    })
}

/// The market and the payer's MSISDN of a mandate, checked before it is accepted.
pub fn check<'a>(
    config: &'a OpenApiConfig,
    payer: &[Party],
    request: &DebitMandateRequest,
) -> Result<(&'a MarketConfig, Market, String), GsmaError> {
    let currency = request
        .currency
        .as_ref()
        .ok_or_else(|| GsmaError::mandatory("currency"))?;
    let (entry, market) = market_for(config, currency)?;
    let msisdn = party_msisdn(entry, &market, payer, "identifier")?;
    if let Some(limit) = &request.amount_limit {
        amount_text(&market, limit).map_err(|mut e| {
            e.error_parameters = None;
            e.with_param("field", "amountLimit")
        })?;
    }
    party_shortcode(request.payee.as_deref().unwrap_or_default(), "payee")?;
    frequency_code(request.frequency_type, request.number_of_payments)?;
    Ok((entry, market, msisdn))
}

fn yyyymmdd(date: chrono::NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// `directDebitCreation/` of a mandate: our mandate reference is both the ThirdPartyConversationID and the
/// ThirdPartyReference; the first payment date is the mandate's start date, the expiry its end date.
pub fn creation_request(
    config: &OpenApiConfig,
    order: &MandateOrder<'_>,
) -> Result<(wire::DirectDebitCreation, Market), GsmaError> {
    let (entry, market, msisdn) = check(config, order.payer, order.request)?;
    let r = order.request;
    let reference = third_party_id(order.reference);
    Ok((
        wire::DirectDebitCreation {
            agreed_tc: "1".into(),
            country: market.country.into(),
            customer_msisdn: msisdn,
            end_range_of_days: None,
            expiry_date: r.end_date.map(yyyymmdd),
            first_payment_date: Some(yyyymmdd(r.start_date)),
            frequency: Some(frequency_code(r.frequency_type, r.number_of_payments)?.into()),
            service_provider_code: party_shortcode(
                r.payee.as_deref().unwrap_or_default(),
                "payee",
            )?
            .unwrap_or_else(|| entry.service_provider_code.clone()),
            start_range_of_days: None,
            third_party_reference: reference[reference.len().saturating_sub(32)..].to_owned(),
            third_party_conversation_id: reference,
        },
        market,
    ))
}

/// The references of a created mandate, or why it was not created. In an asynchronous market the answer is an
/// acknowledgement without the mandate's ID and token: the mandate is then found by MSISDN and reference.
pub fn creation_answer(
    http: u16,
    answer: &wire::Response,
    sent: &wire::DirectDebitCreation,
    market: &Market,
) -> Result<ProviderRefs, ProviderError> {
    let code = answer.response_code.clone().unwrap_or_default();
    let success = ins_entry(&code).map(|e| e.kind) == Some(InsKind::Success);
    if (200..300).contains(&http) && success {
        let mut refs = sent_refs(sent, market);
        if let Some(id) = real(answer.mandate_id.as_ref()) {
            refs.reference = id.to_owned();
            refs.extra.insert(EXTRA_MANDATE_ID.into(), id.to_owned());
        }
        if let Some(token) = real(answer.msisdn_token.as_ref()) {
            refs.extra
                .insert(EXTRA_MSISDN_TOKEN.into(), token.to_owned());
        }
        return Ok(refs);
    }
    Err(refusal(http, answer, "the mandate creation"))
}

/// The references of a mandate as sent (without the operator's ID and token): enough to find it again by
/// MSISDN and reference.
pub fn sent_refs(sent: &wire::DirectDebitCreation, market: &Market) -> ProviderRefs {
    let mut refs = ProviderRefs {
        reference: sent.third_party_reference.clone(),
        ..Default::default()
    };
    {
        let extra = &mut refs.extra;
        extra.insert(EXTRA_MARKET.into(), market.context.to_owned());
        extra.insert(
            EXTRA_THIRD_PARTY_ID.into(),
            sent.third_party_conversation_id.clone(),
        );
        extra.insert(
            EXTRA_THIRD_PARTY_REFERENCE.into(),
            sent.third_party_reference.clone(),
        );
        extra.insert(EXTRA_CUSTOMER_MSISDN.into(), sent.customer_msisdn.clone());
        extra.insert(
            EXTRA_SERVICE_PROVIDER.into(),
            sent.service_provider_code.clone(),
        );
    }
    refs
}

/// The error of a direct debit answer that is not a success: a customer who did not approve is a refusal too.
fn refusal(http: u16, answer: &wire::Response, what: &str) -> ProviderError {
    let code = answer.response_code.clone().unwrap_or_default();
    match transaction_answer(http, answer, "", &crate::config::MARKETS[0], false) {
        Answered::Error(e) => e,
        Answered::Outcome(_, Outcome::Failed(f)) => ProviderError::Rejected(f),
        Answered::Outcome(..) => {
            ProviderError::InDoubt(format!("M-Pesa answered {what} with {code}"))
        }
    }
}

fn mandate_field<'a>(mandate: &'a MandateContext, key: &str) -> Option<&'a str> {
    mandate.refs.extra.get(key).map(String::as_str)
}

/// The market a mandate was created in.
pub fn mandate_market(mandate: &MandateContext) -> Option<Market> {
    mandate_field(mandate, EXTRA_MARKET).and_then(Market::by_context)
}

/// `directDebitPayment/` of a payment under a mandate, from the mandate's service provider.
pub fn payment_request(
    entry: &MarketConfig,
    market: &Market,
    tx: &Transaction,
    mandate: &MandateContext,
) -> Result<wire::DirectDebitPayment, GsmaError> {
    if mandate_market(mandate).is_some_and(|m| m.context != market.context) {
        return Err(GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::NoMandateAuthority,
            "The payment's currency is not the one of its mandate",
        ));
    }
    let msisdn = match mandate_field(mandate, EXTRA_CUSTOMER_MSISDN) {
        Some(m) => m.to_owned(),
        None => party_msisdn(entry, market, &mandate.payer, "debitParty")?,
    };
    let reference = mandate_field(mandate, EXTRA_THIRD_PARTY_REFERENCE)
        .map(str::to_owned)
        .unwrap_or_else(|| third_party_id(&mandate.reference));
    Ok(wire::DirectDebitPayment {
        amount: amount_text(market, &tx.amount)?,
        country: market.country.into(),
        currency: market.currency.into(),
        customer_msisdn: Some(msisdn),
        mandate_id: mandate_field(mandate, EXTRA_MANDATE_ID).map(str::to_owned),
        msisdn_token: mandate_field(mandate, EXTRA_MSISDN_TOKEN).map(str::to_owned),
        service_provider_code: mandate_field(mandate, EXTRA_SERVICE_PROVIDER)
            .map(str::to_owned)
            .unwrap_or_else(|| entry.service_provider_code.clone()),
        third_party_conversation_id: third_party_id(&tx.transaction_reference),
        third_party_reference: reference,
    })
}

/// `queryDirectDebit/` of a mandate; `fresh_id` is the query's own ThirdPartyConversationID.
pub fn query(
    entry: &MarketConfig,
    market: &Market,
    mandate: &MandateContext,
    fresh_id: String,
) -> wire::DirectDebitQuery {
    wire::DirectDebitQuery {
        query_balance_amount: "False".into(),
        balance_amount: None,
        country: market.country.into(),
        customer_msisdn: mandate_field(mandate, EXTRA_CUSTOMER_MSISDN).map(str::to_owned),
        msisdn_token: mandate_field(mandate, EXTRA_MSISDN_TOKEN).map(str::to_owned),
        service_provider_code: mandate_field(mandate, EXTRA_SERVICE_PROVIDER)
            .map(str::to_owned)
            .unwrap_or_else(|| entry.service_provider_code.clone()),
        third_party_conversation_id: fresh_id,
        third_party_reference: mandate_field(mandate, EXTRA_THIRD_PARTY_REFERENCE)
            .map(str::to_owned)
            .unwrap_or_else(|| third_party_id(&mandate.reference)),
        mandate_id: mandate_field(mandate, EXTRA_MANDATE_ID).map(str::to_owned),
        currency: market.currency.into(),
    }
}

/// `directDebitCancel/` of a mandate; `fresh_id` is the cancellation's own ThirdPartyConversationID.
pub fn cancel(
    entry: &MarketConfig,
    market: &Market,
    mandate: &MandateContext,
    fresh_id: String,
) -> wire::DirectDebitCancel {
    let query = query(entry, market, mandate, fresh_id);
    wire::DirectDebitCancel {
        country: query.country,
        customer_msisdn: query.customer_msisdn,
        msisdn_token: query.msisdn_token,
        service_provider_code: query.service_provider_code,
        third_party_conversation_id: query.third_party_conversation_id,
        third_party_reference: query.third_party_reference,
        mandate_id: query.mandate_id,
    }
}

/// What a `directDebitCancel` answer means: cancelled (`INS-0`), or already gone (`INS-6`, which this API
/// uses for "Mandate does not exist"); anything else is the operator's refusal.
pub fn cancel_answer(http: u16, answer: &wire::Response) -> Result<(), ProviderError> {
    match answer.response_code.as_deref() {
        Some("INS-6") => Ok(()),
        Some(code)
            if (200..300).contains(&http)
                && ins_entry(code).map(|e| e.kind) == Some(InsKind::Success) =>
        {
            Ok(())
        }
        _ => Err(refusal(http, answer, "the mandate cancellation")),
    }
}

/// What a `queryDirectDebit` answer says of the mandate: `INS-58` (no active mandate) is inactive.
pub fn query_answer(http: u16, answer: &wire::Response) -> Result<MandateState, ProviderError> {
    let code = answer.response_code.clone().unwrap_or_default();
    if code == "INS-58" {
        return Ok(MandateState::Inactive);
    }
    let success = ins_entry(&code).map(|e| e.kind) == Some(InsKind::Success);
    if (200..300).contains(&http) && success {
        let active = answer
            .mandate_status
            .as_deref()
            .is_none_or(|s| s.trim().eq_ignore_ascii_case("active"));
        return Ok(if active {
            MandateState::Active
        } else {
            MandateState::Inactive
        });
    }
    Err(match refusal(http, answer, "the mandate query") {
        ProviderError::Rejected(f) => ProviderError::InDoubt(format!(
            "M-Pesa refused the mandate query ({}: {})",
            f.provider_code, f.provider_description
        )),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: serde_json::Value) -> wire::Response {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cancellation_answers() {
        let ok = answer(
            json!({"output_ResponseCode": "INS-0", "output_ResponseDesc": "Request processed successfully"}),
        );
        assert!(cancel_answer(201, &ok).is_ok());
        let gone = answer(
            json!({"output_ResponseCode": "INS-6", "output_ResponseDesc": "Mandate does not exist"}),
        );
        assert!(cancel_answer(401, &gone).is_ok());
        let refused = answer(
            json!({"output_ResponseCode": "INS-13", "output_ResponseDesc": "Invalid Shortcode Used"}),
        );
        assert!(cancel_answer(400, &refused).is_err());
    }

    #[test]
    fn frequencies_map_to_the_openapi_codes() {
        assert_eq!(frequency_code(None, Some(1)).unwrap(), "01");
        assert_eq!(frequency_code(None, None).unwrap(), "08");
        assert_eq!(
            frequency_code(Some(FrequencyType::Weekly), None).unwrap(),
            "03"
        );
        assert_eq!(
            frequency_code(Some(FrequencyType::Lastfriday), None).unwrap(),
            "04"
        );
        assert_eq!(
            frequency_code(Some(FrequencyType::Yearly), None).unwrap(),
            "07"
        );
        let e = frequency_code(Some(FrequencyType::Fortnight), None).unwrap_err();
        assert_eq!(e.error_code, ErrorCode::FormatError);
    }

    #[test]
    fn recorded_creation_answers() {
        let sent = wire::DirectDebitCreation {
            agreed_tc: "1".into(),
            country: "TZN".into(),
            customer_msisdn: "000000000001".into(),
            end_range_of_days: None,
            expiry_date: None,
            first_payment_date: Some("20261201".into()),
            frequency: Some("03".into()),
            service_provider_code: "000000".into(),
            start_range_of_days: None,
            third_party_conversation_id: "abc".into(),
            third_party_reference: "abc".into(),
        };
        let tz = crate::config::MARKETS[0];
        let ok = answer(
            json!({"output_ResponseCode":"INS-0","output_ResponseDesc":"Request processed successfully","output_TransactionReference":"vgisfyn4b22w6tmqjftatq75lyuie6vc","output_MsisdnToken":"cvgwUBZ3lAO9ivwhWAFeng==","output_ConversationID":"fd1e9143d22544459f7c66e1860ef276","output_ThirdPartyConversationID":"abc","output_MandateID":"15045"}),
        );
        let refs = creation_answer(201, &ok, &sent, &tz).unwrap();
        assert_eq!(refs.reference, "15045");
        assert_eq!(refs.extra[EXTRA_MSISDN_TOKEN], "cvgwUBZ3lAO9ivwhWAFeng==");
        assert_eq!(refs.extra[EXTRA_MARKET], "vodacomTZN");
        let dup = answer(
            json!({"output_ResponseCode":"INS-10","output_ResponseDesc":"Duplicate Transaction","output_TransactionReference":"N/A","output_ConversationID":"47bbaba4c3f44a4e9a2e9a0f9d5e3a1b","output_ThirdPartyConversationID":"abc"}),
        );
        match creation_answer(409, &dup, &sent, &tz) {
            Err(ProviderError::Rejected(f)) => {
                assert_eq!(f.error.error_code, ErrorCode::DuplicateRequest)
            }
            other => panic!("{other:?}"),
        }
        let timeout =
            answer(json!({"output_ResponseCode":"INS-9","output_ResponseDesc":"Request timeout"}));
        match creation_answer(408, &timeout, &sent, &tz) {
            Err(ProviderError::Rejected(f)) => {
                assert_eq!(f.error.error_code, ErrorCode::RequestDeclined)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn query_answers() {
        let active = answer(json!({"output_ResponseCode":"INS-0","output_MandateStatus":"Active"}));
        assert_eq!(query_answer(200, &active).unwrap(), MandateState::Active);
        let gone = answer(
            json!({"output_ResponseCode":"INS-58","output_ResponseDesc":"No Active Mandate found"}),
        );
        assert_eq!(query_answer(400, &gone).unwrap(), MandateState::Inactive);
        let busy = answer(json!({"output_ResponseCode":"INS-16"}));
        assert!(matches!(
            query_answer(503, &busy),
            Err(ProviderError::Unavailable(_))
        ));
    }
}
