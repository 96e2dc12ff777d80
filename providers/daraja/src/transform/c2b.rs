//! Customer payments to a shortcode (C2B): validation rules and confirmations as harmonised payments.

use mmapi_core::model::{Party, TransactionType};
use mmapi_core::provider::IncomingPayment;
use mmapi_core::{Amount, Currency};

use super::parse_daraja_timestamp;
use crate::config::C2bConfig;
use crate::wire;

/// The answer to a validation request: `"0"` accepts; a `C2B000xx` code refuses.
pub fn validate(
    config: Option<&C2bConfig>,
    n: &wire::C2bNotification,
) -> (&'static str, &'static str) {
    let Some(config) = config else {
        return ("C2B00015", "Rejected: invalid shortcode");
    };
    if Amount::parse(n.trans_amount.as_str()).is_err() {
        return ("C2B00013", "Rejected: invalid amount");
    }
    if let Some(allowed) = &config.account_references {
        let given = n.bill_ref_number.as_deref().unwrap_or("").trim();
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(given)) {
            return ("C2B00012", "Rejected: invalid account number");
        }
    }
    ("0", "Accepted")
}

/// A confirmation as a completed payment into the shortcode: `billpay` to a paybill (the account number as
/// `consumerno`), `merchantpay` to a till. `None` if its amount is unreadable.
pub fn incoming_payment(
    config: Option<&C2bConfig>,
    n: &wire::C2bNotification,
) -> Option<IncomingPayment> {
    let amount = Amount::parse(n.trans_amount.as_str()).ok()?;
    let shortcode = n.business_short_code.as_str().to_owned();
    let till = config.is_some_and(|c| c.till) || n.transaction_type.as_deref() == Some("Buy Goods");
    let mut credit_party = vec![Party::new(
        if till { "storeid" } else { "businessshortcode" },
        &shortcode,
    )];
    if let Some(account) = n
        .bill_ref_number
        .as_deref()
        .filter(|a| !a.trim().is_empty())
    {
        credit_party.push(Party::new("consumerno", account.trim()));
    }
    let debit_party = match n
        .msisdn
        .as_ref()
        .map(wire::Code::as_str)
        .filter(|m| !m.is_empty())
    {
        Some(msisdn) => vec![Party::new("msisdn", msisdn)],
        None => vec![Party::new("msisdn", "unknown")],
    };
    Some(IncomingPayment {
        provider_reference: n.trans_id.clone(),
        transaction_type: if till {
            TransactionType::Merchantpay
        } else {
            TransactionType::Billpay
        },
        amount,
        currency: Currency::KES,
        debit_party,
        credit_party,
        receipt: Some(n.trans_id.clone()),
        completed_at: n
            .trans_time
            .as_ref()
            .and_then(|t| parse_daraja_timestamp(t.as_str())),
        notification_url: config.and_then(|c| c.notification_url.clone()),
        mandate_key: n
            .bill_ref_number
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(|account| crate::ratiba::mandate_payment_key(&shortcode, account)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENTED: &str = r#"{ "TransactionType": "Pay Bill", "TransID": "RKL51ZDR4F", "TransTime": "20231121121325",
        "TransAmount": "5.00", "BusinessShortCode": "600966", "BillRefNumber": "Sample Transaction",
        "InvoiceNumber": "", "OrgAccountBalance": "25.00", "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": "" }"#;

    fn config(refs: Option<Vec<&str>>) -> C2bConfig {
        C2bConfig {
            shortcode: "600966".into(),
            response_type: "Completed".into(),
            account_references: refs.map(|r| r.into_iter().map(String::from).collect()),
            notification_url: Some("https://merchant.example/notify".into()),
            till: false,
        }
    }

    #[test]
    fn the_documented_confirmation_becomes_a_bill_payment() {
        let n: wire::C2bNotification = serde_json::from_str(DOCUMENTED).unwrap();
        let p = incoming_payment(Some(&config(None)), &n).unwrap();
        assert_eq!(p.provider_reference, "RKL51ZDR4F");
        assert_eq!(p.transaction_type, TransactionType::Billpay);
        assert_eq!(p.amount.as_str(), "5.00");
        assert_eq!(
            p.credit_party[1],
            Party::new("consumerno", "Sample Transaction")
        );
        assert_eq!(p.debit_party[0].value, "2547 ***** 126");
        assert_eq!(
            p.completed_at.unwrap().to_string(),
            "2023-11-21T09:13:25.000Z"
        );
        assert_eq!(
            p.notification_url.as_deref(),
            Some("https://merchant.example/notify")
        );
    }

    #[test]
    fn validation_rules() {
        let n: wire::C2bNotification = serde_json::from_str(DOCUMENTED).unwrap();
        assert_eq!(validate(Some(&config(None)), &n).0, "0");
        assert_eq!(
            validate(Some(&config(Some(vec!["sample transaction"]))), &n).0,
            "0"
        );
        assert_eq!(
            validate(Some(&config(Some(vec!["ACC-1"]))), &n).0,
            "C2B00012"
        );
        assert_eq!(validate(None, &n).0, "C2B00015");
    }
}
