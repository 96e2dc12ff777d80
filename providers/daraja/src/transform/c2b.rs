//! Customer payments to a shortcode (C2B): validation rules and confirmations as harmonised payments.

use chrono::TimeZone;
use mmapi_core::model::{Party, TransactionType};
use mmapi_core::provider::IncomingPayment;
use mmapi_core::{Amount, Currency, Timestamp};

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
    let till = config.is_some_and(|c| c.till) || n.transaction_type.as_deref() == Some("Buy Goods");
    Some(payment_into(
        config,
        CustomerPayment {
            shortcode: n.business_short_code.as_str(),
            trans_id: &n.trans_id,
            amount: Amount::parse(n.trans_amount.as_str()).ok()?,
            msisdn: n.msisdn.as_ref().map(wire::Code::as_str),
            bill_ref: n.bill_ref_number.as_deref(),
            completed_at: n
                .trans_time
                .as_ref()
                .and_then(|t| parse_daraja_timestamp(t.as_str())),
            till,
        },
    ))
}

/// The payments a Pull Transactions answer lists (its `Response`: records in arrays, at any depth), as the
/// completed payments into `config`'s shortcode their confirmations would have made. Unreadable records are
/// left out.
pub fn pulled_payments(config: &C2bConfig, response: &serde_json::Value) -> Vec<IncomingPayment> {
    let mut records = Vec::new();
    collect_records(response, &mut records);
    records
        .into_iter()
        .filter_map(|record| {
            let t: wire::PulledTransaction = serde_json::from_value(record.clone()).ok()?;
            let till = config.till
                || t.transactiontype
                    .as_deref()
                    .is_some_and(|k| k.contains("buy-goods"));
            Some(payment_into(
                Some(config),
                CustomerPayment {
                    shortcode: &config.shortcode,
                    trans_id: &t.transaction_id,
                    amount: Amount::parse(t.amount.as_str()).ok()?,
                    msisdn: t.msisdn.as_ref().map(wire::Code::as_str),
                    bill_ref: t.billreference.as_deref(),
                    completed_at: t.trx_date.as_deref().and_then(parse_iso_timestamp),
                    till,
                },
            ))
        })
        .collect()
}

fn collect_records<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match value {
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_records(v, out)),
        serde_json::Value::Object(_) => out.push(value),
        _ => {}
    }
}

/// An ISO 8601 date-time with an offset, or without one in EAT.
fn parse_iso_timestamp(text: &str) -> Option<Timestamp> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(Timestamp(t.with_timezone(&chrono::Utc)));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").ok()?;
    let local = super::eat().from_local_datetime(&naive).single()?;
    Some(Timestamp(local.with_timezone(&chrono::Utc)))
}

/// What a customer's payment into a shortcode says, however Daraja told it.
struct CustomerPayment<'a> {
    shortcode: &'a str,
    trans_id: &'a str,
    amount: Amount,
    msisdn: Option<&'a str>,
    bill_ref: Option<&'a str>,
    completed_at: Option<Timestamp>,
    till: bool,
}

/// A customer's payment as a completed payment into the shortcode: `billpay` to a paybill (the account number
/// as `consumerno`), `merchantpay` to a till.
fn payment_into(config: Option<&C2bConfig>, p: CustomerPayment<'_>) -> IncomingPayment {
    let shortcode = p.shortcode.to_owned();
    let mut credit_party = vec![Party::new(
        if p.till {
            "storeid"
        } else {
            "businessshortcode"
        },
        &shortcode,
    )];
    let account = p.bill_ref.map(str::trim).filter(|a| !a.is_empty());
    if let Some(account) = account {
        credit_party.push(Party::new("consumerno", account));
    }
    let debit_party = match p.msisdn.filter(|m| !m.is_empty()) {
        Some(msisdn) => vec![Party::new("msisdn", msisdn)],
        None => vec![Party::new("msisdn", "unknown")],
    };
    IncomingPayment {
        provider_reference: p.trans_id.to_owned(),
        transaction_type: if p.till {
            TransactionType::Merchantpay
        } else {
            TransactionType::Billpay
        },
        amount: p.amount,
        currency: Currency::KES,
        debit_party,
        credit_party,
        receipt: Some(p.trans_id.to_owned()),
        completed_at: p.completed_at,
        notification_url: config.and_then(|c| c.notification_url.clone()),
        mandate_key: account.map(|account| crate::ratiba::mandate_payment_key(&shortcode, account)),
    }
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
            pull_nominated_number: None,
        }
    }

    #[test]
    fn pulled_transactions_become_the_payments_their_confirmations_would_have_made() {
        let answer: serde_json::Value = serde_json::from_str(
            r#"{"ResponseRefID": "abc", "ResponseCode": "1000", "ResponseMessage": "Success",
                "Response": [[
                  {"transactionId": "RKL51ZDR4F", "trxDate": "2023-11-21T12:13:25+03:00", "msisdn": 254708374149,
                   "sender": "M-PESA", "transactiontype": "c2b-pay-bill-debit", "billreference": " INV-7 ",
                   "amount": "5.00", "organizationname": "Org"},
                  {"transactionId": "RKL51ZDR4G", "trxDate": "2023-11-21T12:14:00", "msisdn": "254708374149",
                   "transactiontype": "c2b-buy-goods-debit", "amount": 7},
                  {"transactionId": "BROKEN", "amount": "seven"}
                ]]}"#,
        )
        .unwrap();
        let payments = pulled_payments(&config(None), &answer["Response"]);
        assert_eq!(payments.len(), 2, "the unreadable amount is left out");
        let bill = &payments[0];
        assert_eq!(bill.provider_reference, "RKL51ZDR4F");
        assert_eq!(bill.transaction_type, TransactionType::Billpay);
        assert_eq!(bill.credit_party[1], Party::new("consumerno", "INV-7"));
        assert_eq!(bill.debit_party[0], Party::new("msisdn", "254708374149"));
        assert_eq!(
            bill.completed_at.map(|t| t.to_string()),
            Some("2023-11-21T09:13:25.000Z".to_owned())
        );
        let goods = &payments[1];
        assert_eq!(goods.transaction_type, TransactionType::Merchantpay);
        assert_eq!(goods.credit_party[0].key, "storeid");
        assert_eq!(goods.amount.as_str(), "7");
        assert_eq!(
            goods.completed_at.map(|t| t.to_string()),
            Some("2023-11-21T09:14:00.000Z".to_owned())
        );
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
