//! Bill presentment: the GSMA shapes of bills and bill payments, and the rules a payment follows. Pure: the
//! store applies a payment with [`apply`] inside the database transaction that completes it, the engine checks a
//! payment by API against [`check_amount`] before it is sent.

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::model::KeyValue;
use mmapi_core::{Amount, Currency, GsmaError, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The party keys whose value names the paybill a bill payment goes to.
pub const PAYBILL_KEYS: [&str; 4] = [
    "businessshortcode",
    "paybill",
    "serviceprovider",
    "shortcode",
];
/// The party keys whose value is the account reference (what the customer types as the account number).
pub const ACCOUNT_REFERENCE_KEYS: [&str; 2] = ["consumerno", "accountreference"];

/// A bill as GSMA `responseBills` shows it, with the paybill and account reference it is paid with in
/// `metadata` (`serviceProvider`, `accountReference`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBills)]
pub struct Bill {
    pub bill_reference: String,
    /// `unpaid`, `partialpaid` or `paid`.
    pub bill_status: String,
    /// What is still owed (never below zero).
    pub amount_due: Amount,
    pub currency: Currency,
    /// The bill's description (the GSMA spelling is all lower case).
    #[serde(
        rename = "billdescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub bill_description: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_amount_due: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<KeyValue>>,
}

/// A bill payment as GSMA `responseBillPayment` shows it. `requestingOrganisationTransactionReference` is the
/// gateway's transaction reference, `serviceProviderPaymentReference` the operator's receipt; `metadata` names
/// the bill (`billReference`) and what it reads after this payment (`billStatus`, `amountDue`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBillPayment)]
pub struct BillPayment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_payment_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesting_organisation_transaction_reference: Option<String>,
    /// `partialpayment` or `fullpayment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_type: Option<String>,
    /// `completed` for every payment listed.
    pub bill_payment_status: String,
    pub amount_paid: Amount,
    pub currency: Currency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Vec<KeyValue>>,
}

/// A bill company (GSMA `responseBillCompanies`): a paybill bills are paid into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = responseBillCompanies)]
pub struct BillCompany {
    /// The paybill (e.g. `174379`).
    pub service_provider: String,
    pub company_name: String,
    /// e.g. `utility`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_sub_type: Option<String>,
    /// `currency` and `provider` (the operator behind the paybill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplementary_service_provider_details: Option<Vec<KeyValue>>,
}

/// One configured bill company (`[[bills.companies]]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillCompanyConfig {
    /// The paybill.
    pub service_provider: String,
    pub company_name: String,
    /// ISO 4217 code of the bills it issues (KES for Daraja paybills).
    pub currency: String,
    #[serde(default)]
    pub service_provider_type: Option<String>,
    #[serde(default)]
    pub service_provider_sub_type: Option<String>,
}

impl BillCompanyConfig {
    /// The company as `GET /billcompanies` lists it.
    pub fn company(&self) -> BillCompany {
        BillCompany {
            service_provider: self.service_provider.clone(),
            company_name: self.company_name.clone(),
            service_provider_type: self.service_provider_type.clone(),
            service_provider_sub_type: self.service_provider_sub_type.clone(),
            supplementary_service_provider_details: Some(vec![KeyValue::new(
                "currency",
                &self.currency,
            )]),
        }
    }
}

/// `[bills]`: the bill companies (paybills) bills may be issued for. When none are configured any paybill is
/// accepted; in sandbox mode the sandbox paybill `174379` (KES) and the
/// M-Pesa OpenAPI sandbox's service provider code `000000` (TZS) are the default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillSettings {
    pub companies: Vec<BillCompanyConfig>,
}

impl BillSettings {
    /// The settings of sandbox mode: the configured companies, or the sandbox paybill.
    pub fn or_sandbox(mut self) -> Self {
        if self.companies.is_empty() {
            self.companies.push(BillCompanyConfig {
                service_provider: "174379".into(),
                company_name: "Sandbox Utilities (Daraja paybill)".into(),
                currency: "KES".into(),
                service_provider_type: Some("utility".into()),
                service_provider_sub_type: None,
            });
            self.companies.push(BillCompanyConfig {
                service_provider: "000000".into(),
                company_name: "Sandbox Utilities (M-Pesa OpenAPI, Tanzania)".into(),
                currency: "TZS".into(),
                service_provider_type: Some("utility".into()),
                service_provider_sub_type: None,
            });
            self.companies.push(BillCompanyConfig {
                service_provider: mmapi_forward::simulator::UTILITY_SHORTCODE.into(),
                company_name: "Sandbox Utilities (MMAPI simulator, walletid customers)".into(),
                currency: "USD".into(),
                service_provider_type: Some("utility".into()),
                service_provider_sub_type: None,
            });
        }
        self
    }

    /// The company of a paybill.
    pub fn company(&self, service_provider: &str) -> Option<&BillCompanyConfig> {
        self.companies
            .iter()
            .find(|c| c.service_provider == service_provider)
    }
}

/// A bill's status from what it asked for and what was paid.
pub fn status_for(billed: Decimal, paid: Decimal) -> &'static str {
    if paid >= billed {
        "paid"
    } else if paid > Decimal::ZERO {
        "partialpaid"
    } else {
        "unpaid"
    }
}

/// What is still owed: never below zero.
pub fn amount_due(billed: Decimal, paid: Decimal) -> Decimal {
    (billed - paid).max(Decimal::ZERO)
}

/// A bill's payment rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    /// A payment below what is due is refused.
    pub under_payment_not_allowed: bool,
    /// A payment above what is due is refused.
    pub over_payment_not_allowed: bool,
    /// A payment below this (or below what is due, when less) is refused.
    pub minimum_amount_due: Option<Decimal>,
}

/// Checks a payment against a bill's rules, `due` being what is still owed: more than is due when over-payment is
/// not allowed is `businessRule/overPaymentNotAllowed`; less when under-payment is not allowed, or less than the
/// bill's minimum, `underPaymentNotAllowed`.
pub fn check_amount(amount: Decimal, due: Decimal, rules: Rules) -> Result<(), GsmaError> {
    if rules.over_payment_not_allowed && amount > due {
        return Err(GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::OverPaymentNotAllowed,
            format!("The bill does not allow over-payment: {due} is due"),
        ));
    }
    if rules.under_payment_not_allowed && amount < due {
        return Err(GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::UnderPaymentNotAllowed,
            format!("The bill does not allow partial payment: {due} is due"),
        ));
    }
    if let Some(minimum) = rules.minimum_amount_due {
        let minimum = minimum.min(due);
        if amount < minimum {
            return Err(GsmaError::new(
                ErrorCategory::BusinessRule,
                ErrorCode::UnderPaymentNotAllowed,
                format!("The bill's minimum payment is {minimum}"),
            ));
        }
    }
    Ok(())
}

/// A completed bill payment as the store reads it from its transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentFacts {
    pub paybill: String,
    pub account_reference: String,
    pub amount: Amount,
    pub currency: String,
    pub receipt: Option<String>,
    pub completed_at: Option<Timestamp>,
}

/// The bill payment a completed `billpay` transaction (GSMA JSON) makes: `None` when it is not one, or names no
/// paybill and account reference.
pub fn payment_facts(transaction_body: &str) -> Option<PaymentFacts> {
    // Most completed transactions are not bill payments: their type alone, read without building the document,
    // says so.
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let kind: Kind<'_> = serde_json::from_str(transaction_body).ok()?;
    if kind.kind.as_deref() != Some("billpay") {
        return None;
    }
    let t: serde_json::Value = serde_json::from_str(transaction_body).ok()?;
    let credit = t.get("creditParty")?.as_array()?;
    let find = |keys: &[&str]| {
        credit.iter().find_map(|p| {
            let key = p.get("key")?.as_str()?.to_ascii_lowercase();
            keys.contains(&key.as_str())
                .then(|| p.get("value")?.as_str().map(str::to_owned))
                .flatten()
        })
    };
    let paybill = find(&PAYBILL_KEYS)?;
    let account_reference = find(&ACCOUNT_REFERENCE_KEYS)?;
    let amount = Amount::parse(t.get("amount")?.as_str()?).ok()?;
    let currency = t.get("currency")?.as_str()?.to_owned();
    Some(PaymentFacts {
        paybill,
        account_reference,
        amount,
        currency,
        receipt: t
            .get("transactionReceipt")
            .and_then(|r| r.as_str())
            .map(str::to_owned),
        completed_at: t
            .get("creationDate")
            .and_then(|d| serde_json::from_value(d.clone()).ok()),
    })
}

/// How an account reference is matched: trimmed and lower-cased.
pub fn account_match(account_reference: &str) -> String {
    account_reference.trim().to_lowercase()
}

/// A bill as stored, enough to apply a payment to it.
#[derive(Clone, Debug)]
pub struct BillState {
    pub bill_reference: String,
    pub currency: String,
    pub billed: Decimal,
    pub paid: Decimal,
}

/// A payment applied to a bill: the bill's new `amount_paid` and status, and the GSMA bill payment to record and
/// push to the biller.
#[derive(Clone, Debug)]
pub struct Applied {
    pub amount_paid: Amount,
    pub status: &'static str,
    pub payment: BillPayment,
}

/// Applies a completed payment of `facts` (made by `transaction_reference`) to `bill`.
pub fn apply(
    bill: &BillState,
    facts: &PaymentFacts,
    transaction_reference: &str,
    now: Timestamp,
) -> Result<Applied, String> {
    let currency = Currency::parse(&facts.currency).map_err(|e| e.0)?;
    if !facts.currency.eq_ignore_ascii_case(&bill.currency) {
        return Err(format!(
            "a {} payment cannot pay a {} bill",
            facts.currency, bill.currency
        ));
    }
    let due_before = amount_due(bill.billed, bill.paid);
    let paid = bill.paid + facts.amount.value();
    let status = status_for(bill.billed, paid);
    let due_after = amount_due(bill.billed, paid);
    let amount_paid = Amount::from_decimal(paid).map_err(|e| e.0)?;
    let amount_due_after = Amount::from_decimal(due_after).map_err(|e| e.0)?;
    let payment = BillPayment {
        service_provider_payment_reference: facts.receipt.clone(),
        requesting_organisation_transaction_reference: Some(transaction_reference.to_owned()),
        payment_type: Some(
            if facts.amount.value() >= due_before {
                "fullpayment"
            } else {
                "partialpayment"
            }
            .to_owned(),
        ),
        bill_payment_status: "completed".into(),
        amount_paid: facts.amount.clone(),
        currency,
        creation_date: Some(facts.completed_at.unwrap_or(now)),
        metadata: Some(vec![
            KeyValue::new("billReference", &bill.bill_reference),
            KeyValue::new("billStatus", status),
            KeyValue::new("amountDue", amount_due_after.as_str()),
        ]),
    };
    Ok(Applied {
        amount_paid,
        status,
        payment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn statuses_follow_what_was_paid() {
        assert_eq!(status_for(d("100"), d("0")), "unpaid");
        assert_eq!(status_for(d("100"), d("40")), "partialpaid");
        assert_eq!(status_for(d("100"), d("100")), "paid");
        assert_eq!(status_for(d("100"), d("120")), "paid");
        assert_eq!(amount_due(d("100"), d("120")), Decimal::ZERO);
    }

    #[test]
    fn rules_refuse_over_and_under_payment() {
        let rules = |under, over, minimum: Option<&str>| Rules {
            under_payment_not_allowed: under,
            over_payment_not_allowed: over,
            minimum_amount_due: minimum.map(d),
        };
        let over = check_amount(d("101"), d("100"), rules(false, true, None)).unwrap_err();
        assert_eq!(over.error_code, ErrorCode::OverPaymentNotAllowed);
        let under = check_amount(d("99"), d("100"), rules(true, false, None)).unwrap_err();
        assert_eq!(under.error_code, ErrorCode::UnderPaymentNotAllowed);
        assert!(check_amount(d("150"), d("100"), rules(true, false, None)).is_ok());
        assert!(check_amount(d("50"), d("100"), rules(false, true, None)).is_ok());
        let below = check_amount(d("10"), d("100"), rules(false, false, Some("20"))).unwrap_err();
        assert_eq!(below.error_code, ErrorCode::UnderPaymentNotAllowed);
        assert!(check_amount(d("20"), d("100"), rules(false, false, Some("20"))).is_ok());
        // Less than the minimum is still due: paying that is enough.
        assert!(check_amount(d("5"), d("5"), rules(false, false, Some("20"))).is_ok());
    }

    #[test]
    fn a_completed_billpay_names_its_bill() {
        let body = r#"{"type":"billpay","amount":"40.50","currency":"KES","transactionReceipt":"R1",
            "creditParty":[{"key":"businessshortcode","value":"174379"},{"key":"consumerno","value":"INV-1"}],
            "debitParty":[{"key":"msisdn","value":"+254708374149"}]}"#;
        let facts = payment_facts(body).unwrap();
        assert_eq!(facts.paybill, "174379");
        assert_eq!(facts.account_reference, "INV-1");
        let bill = BillState {
            bill_reference: "B1".into(),
            currency: "KES".into(),
            billed: d("100"),
            paid: d("0"),
        };
        let applied = apply(&bill, &facts, "t1", Timestamp::now()).unwrap();
        assert_eq!(applied.status, "partialpaid");
        assert_eq!(applied.amount_paid.as_str(), "40.5");
        assert!(payment_facts(&body.replace("billpay", "merchantpay")).is_none());
    }
}
