//! Bill Manager (`/v1/billmanager-invoice/…`): the opt-in of the configured paybill at start-up (with the URL its
//! payments are pushed to), invoices sent for the bills issued through the gateway, and the payment push read as an
//! incoming payment.

use mmapi_core::model::{Party, TransactionType};
use mmapi_core::provider::{IncomingPayment, Invoice, ProviderError};
use mmapi_core::{Amount, Currency};
use serde::{Deserialize, Serialize};

use crate::client::{CallError, DarajaClient};
use crate::config::BillManagerConfig;

/// The most invoices one bulk request carries.
pub const MAX_BULK: usize = 1000;

/// `POST /v1/billmanager-invoice/optin` (and `change-optin-details`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OptIn<'a> {
    shortcode: &'a str,
    email: &'a str,
    official_contact: &'a str,
    send_reminders: &'static str,
    logo: &'static str,
    callbackurl: String,
}

/// One invoice of `single-invoicing` / `bulk-invoicing`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceBody<'a> {
    external_reference: &'a str,
    billed_full_name: &'a str,
    billed_phone_number: String,
    billed_period: &'a str,
    invoice_name: &'a str,
    due_date: String,
    account_reference: &'a str,
    amount: &'a str,
    invoice_items: [InvoiceItem<'a>; 1],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceItem<'a> {
    item_name: &'a str,
    amount: &'a str,
}

/// Bill Manager's answer: `{"rescode":"200","resmsg":"Success",…}`.
#[derive(Debug, Default, Deserialize)]
struct Answer {
    #[serde(default)]
    rescode: Option<serde_json::Value>,
    #[serde(default)]
    resmsg: Option<String>,
}

impl Answer {
    fn ok(&self) -> bool {
        match &self.rescode {
            Some(serde_json::Value::String(s)) => s == "200",
            Some(serde_json::Value::Number(n)) => n.as_u64() == Some(200),
            _ => false,
        }
    }
}

/// The payment push: `{"transactionId","paidAmount","msisdn","dateCreated","accountReference","shortCode"}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPush {
    pub transaction_id: String,
    pub paid_amount: serde_json::Value,
    #[serde(default)]
    pub msisdn: Option<serde_json::Value>,
    #[serde(default)]
    pub account_reference: Option<String>,
    #[serde(default)]
    pub short_code: Option<serde_json::Value>,
}

fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn refused(what: &str, answer: &Answer) -> ProviderError {
    ProviderError::Unavailable(format!(
        "Bill Manager refused the {what}: {}",
        answer.resmsg.as_deref().unwrap_or("no reason given")
    ))
}

fn call_failed(what: &str, e: CallError) -> ProviderError {
    match e {
        CallError::Transport(e) => e,
        CallError::Rejected { status, .. } => {
            ProviderError::Unavailable(format!("Bill Manager refused the {what} (HTTP {status})"))
        }
    }
}

/// Opts the paybill in, or updates its details when it already is.
pub async fn opt_in(
    client: &DarajaClient,
    config: &BillManagerConfig,
    callback_base_url: &str,
) -> Result<(), ProviderError> {
    let body = OptIn {
        shortcode: &config.shortcode,
        email: &config.email,
        official_contact: &config.official_contact,
        send_reminders: if config.send_reminders { "1" } else { "0" },
        logo: "",
        callbackurl: format!(
            "{callback_base_url}/billmanager/{}/payment",
            config.shortcode
        ),
    };
    let first = client
        .post::<_, Answer>("/v1/billmanager-invoice/optin", &body)
        .await;
    if matches!(&first, Ok(a) if a.ok()) {
        tracing::info!(shortcode = %config.shortcode, "opted in to Bill Manager");
        return Ok(());
    }
    // Already opted in (production refuses a second opt-in): the details are updated instead.
    let answer = client
        .post::<_, Answer>("/v1/billmanager-invoice/change-optin-details", &body)
        .await
        .map_err(|e| call_failed("opt-in", e))?;
    if answer.ok() {
        tracing::info!(shortcode = %config.shortcode, "Bill Manager opt-in details updated");
        Ok(())
    } else {
        Err(refused("opt-in", &answer))
    }
}

/// The phone number as Bill Manager's examples write it (`07…`), from a GSMA MSISDN.
fn local_phone(msisdn: &str) -> String {
    let digits: String = msisdn.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix("254") {
        Some(rest) if rest.len() == 9 => format!("0{rest}"),
        _ => digits,
    }
}

/// Sends invoices, one request per 1000.
pub async fn send(client: &DarajaClient, invoices: &[Invoice]) -> Result<(), ProviderError> {
    for chunk in invoices.chunks(MAX_BULK) {
        let bodies: Vec<InvoiceBody<'_>> = chunk
            .iter()
            .map(|i| InvoiceBody {
                external_reference: &i.external_reference,
                billed_full_name: &i.billed_full_name,
                billed_phone_number: local_phone(&i.billed_phone_number),
                billed_period: &i.billed_period,
                invoice_name: &i.invoice_name,
                due_date: i
                    .due_date
                    .as_deref()
                    .map(|d| format!("{d} 00:00:00.00"))
                    .unwrap_or_default(),
                account_reference: &i.account_reference,
                amount: i.amount.as_str(),
                invoice_items: [InvoiceItem {
                    item_name: &i.invoice_name,
                    amount: i.amount.as_str(),
                }],
            })
            .collect();
        let answer = if let [one] = bodies.as_slice() {
            client
                .post::<_, Answer>("/v1/billmanager-invoice/single-invoicing", one)
                .await
        } else {
            client
                .post::<_, Answer>("/v1/billmanager-invoice/bulk-invoicing", &bodies)
                .await
        }
        .map_err(|e| call_failed("invoices", e))?;
        if !answer.ok() {
            return Err(refused("invoices", &answer));
        }
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody<'a> {
    external_reference: &'a str,
}

/// Cancels invoices by their external references, one request per 1000.
pub async fn cancel(client: &DarajaClient, references: &[String]) -> Result<(), ProviderError> {
    for chunk in references.chunks(MAX_BULK) {
        let bodies: Vec<CancelBody<'_>> = chunk
            .iter()
            .map(|r| CancelBody {
                external_reference: r,
            })
            .collect();
        let answer = if let [one] = bodies.as_slice() {
            client
                .post::<_, Answer>("/v1/billmanager-invoice/cancel-single-invoice", one)
                .await
        } else {
            client
                .post::<_, Answer>("/v1/billmanager-invoice/cancel-bulk-invoices", &bodies)
                .await
        }
        .map_err(|e| call_failed("cancellation", e))?;
        if !answer.ok() {
            return Err(refused("cancellation", &answer));
        }
    }
    Ok(())
}

/// A payment push as a completed bill payment to the paybill (`None` if its amount is unreadable).
pub fn incoming_payment(shortcode: &str, push: &PaymentPush) -> Option<IncomingPayment> {
    let amount = Amount::parse(&text(&push.paid_amount)?).ok()?;
    let mut credit_party = vec![Party::new("businessshortcode", shortcode)];
    if let Some(account) = push
        .account_reference
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        credit_party.push(Party::new("consumerno", account));
    }
    let msisdn = push
        .msisdn
        .as_ref()
        .and_then(text)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Some(IncomingPayment {
        provider_reference: push.transaction_id.trim().to_owned(),
        transaction_type: TransactionType::Billpay,
        amount,
        currency: Currency::KES,
        debit_party: vec![Party::new("msisdn", msisdn)],
        credit_party,
        receipt: Some(push.transaction_id.trim().to_owned()),
        completed_at: None,
        notification_url: None,
        mandate_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_push_becomes_a_bill_payment() {
        let push: PaymentPush = serde_json::from_str(
            r#"{"transactionId":"RJB53MYR1N","paidAmount":"500","msisdn":"254722000000",
                "dateCreated":"2021-09-15","accountReference":"LGHJIO789","shortCode":"718003"}"#,
        )
        .unwrap();
        let p = incoming_payment("718003", &push).unwrap();
        assert_eq!(p.provider_reference, "RJB53MYR1N");
        assert_eq!(p.transaction_type, TransactionType::Billpay);
        assert_eq!(p.amount.as_str(), "500");
        assert_eq!(p.credit_party[1], Party::new("consumerno", "LGHJIO789"));
        assert_eq!(p.debit_party[0].value, "254722000000");
    }

    #[test]
    fn phones_in_the_local_form() {
        assert_eq!(local_phone("+254708374149"), "0708374149");
        assert_eq!(local_phone("0708374149"), "0708374149");
    }
}
