//! Bill presentment: bills a biller client issues (an extension of the GSMA API), the bills a customer owes,
//! and their payment. A payment by API is an ordinary `billpay` transaction to the bill's paybill with its
//! account reference (Daraja: STK Push `CustomerPayBillOnline`; M-Pesa OpenAPI: `c2bPayment`); a payment from the
//! phone arrives as an incoming payment. Either way the store applies it to the bill when the transaction is
//! completed, in the same database transaction (see `store::bills::apply_payment`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use mmapi_core::model::{KeyValue, Party, RequestState, TransactionRequest, TransactionType};
use mmapi_core::provider::{IncomingPayment, Invoice, Provider, ProviderError};
use mmapi_core::{Amount, Currency, GsmaError, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{now_ms, Engine, EngineError, NewTransactionRequest};
use crate::bills::{self, Bill, BillCompany, BillPayment};
use crate::store::{account_key, BillRow, Change, NewBill, StoreError};

/// The longest account reference: Daraja's STK Push `AccountReference` takes 12 characters.
pub const MAX_ACCOUNT_REFERENCE: usize = 12;

/// A bill a biller issues (extension of the GSMA API).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueBill {
    /// The bill's reference; the gateway makes one (12 characters) when absent.
    #[serde(default)]
    pub bill_reference: Option<String>,
    /// The paybill the bill is paid into (e.g. `174379`).
    pub service_provider: String,
    /// The account number the customer pays it with (at most 12 characters); the bill reference when absent.
    #[serde(default)]
    pub account_reference: Option<String>,
    /// Who owes it: e.g. `[{"key":"msisdn","value":"+254708374149"}]`.
    pub customer: Vec<Party>,
    /// The customer's name, on the invoice the operator sends (Daraja Bill Manager).
    #[serde(default)]
    pub customer_name: Option<String>,
    /// What the bill asks for.
    pub amount_due: Amount,
    pub currency: Currency,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub bill_description: Option<String>,
    #[serde(default)]
    pub minimum_amount_due: Option<Amount>,
    /// A payment below what is due is refused (businessRule/underPaymentNotAllowed). Default false.
    #[serde(default)]
    pub under_payment_not_allowed: bool,
    /// A payment above what is due is refused (businessRule/overPaymentNotAllowed). Default false.
    #[serde(default)]
    pub over_payment_not_allowed: bool,
}

/// Several bills issued at once, all or none.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueBills {
    /// At most 1000.
    pub bills: Vec<IssueBill>,
}

/// A GSMA bill payment request (`requestBillPayment`).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = requestBillPayment)]
pub struct BillPaymentRequest {
    pub amount_paid: Amount,
    pub currency: Currency,
    /// `partialpayment` or `fullpayment` (informative).
    #[serde(default)]
    pub payment_type: Option<String>,
    #[serde(default)]
    pub customer_reference: Option<String>,
    #[serde(default)]
    pub service_provider_payment_reference: Option<String>,
    #[serde(default)]
    pub requesting_organisation_transaction_reference: Option<String>,
    #[serde(default)]
    pub requesting_organisation: Option<String>,
    #[serde(default)]
    pub request_date: Option<String>,
    #[serde(default)]
    pub custom_data: Option<Vec<KeyValue>>,
    #[serde(default)]
    pub metadata: Option<Vec<KeyValue>>,
}

/// A bill payment a client asks for.
#[derive(Debug)]
pub struct NewBillPayment {
    pub client_id: String,
    pub allowed_providers: Option<Vec<String>>,
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    pub bill_reference: String,
    /// The paying account from the path, when the path names one: it must be the bill's customer.
    pub payer: Option<Vec<Party>>,
    pub request: BillPaymentRequest,
}

/// How many times the invoices of one request are offered to the operator.
const INVOICE_ATTEMPTS: u32 = 3;

/// The period an invoice is for: the due date's month, or this month.
fn billed_period(due_date: Option<&str>, now_ms: i64) -> String {
    let date = due_date
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .or_else(|| chrono::DateTime::from_timestamp_millis(now_ms).map(|t| t.date_naive()));
    date.map(|d| d.format("%B %Y").to_string())
        .unwrap_or_default()
}

/// The due date an invoice carries (Bill Manager requires one): the bill's, or the day it was issued.
fn invoice_due_date(due_date: Option<&str>, issued_ms: i64) -> String {
    match due_date {
        Some(d) => d.to_owned(),
        None => chrono::DateTime::from_timestamp_millis(issued_ms)
            .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    }
}

/// The most bills one request issues.
pub const MAX_BILLS_PER_REQUEST: usize = 1000;

/// Turns of the payments of each bill: a payment's check against the bill's rules and its acceptance happen in
/// its bill's turn, so two payments of one bill arriving together are checked one after the other, the second
/// seeing the first under way (within one gateway instance).
#[derive(Default)]
pub(crate) struct BillTurns(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl BillTurns {
    fn of(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.0.lock().unwrap_or_else(|e| e.into_inner());
        turns.entry(key.to_owned()).or_default().clone()
    }

    /// Forgets a bill nobody waits on any more.
    fn release(&self, key: &str) {
        let mut turns = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if turns.get(key).is_some_and(|t| Arc::strong_count(t) == 1) {
            turns.remove(key);
        }
    }
}

fn rejected(e: GsmaError) -> EngineError {
    EngineError::Rejected(e)
}

fn valid_date(text: &str) -> bool {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

/// A stored bill as the GSMA shows it.
pub fn bill_of(row: &BillRow) -> Result<Bill, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("bill {}: {what}", row.bill_reference));
    let billed = Decimal::from_str(&row.amount_billed).map_err(|_| corrupt("amount billed"))?;
    let paid = Decimal::from_str(&row.amount_paid).map_err(|_| corrupt("amount paid"))?;
    Ok(Bill {
        bill_reference: row.bill_reference.clone(),
        bill_status: row.status.clone(),
        amount_due: Amount::from_decimal(bills::amount_due(billed, paid))
            .map_err(|_| corrupt("amount due"))?,
        currency: Currency::parse(&row.currency).map_err(|_| corrupt("currency"))?,
        bill_description: row.description.clone(),
        due_date: row.due_date.clone(),
        minimum_amount_due: row
            .minimum_amount_due
            .as_deref()
            .map(Amount::parse)
            .transpose()
            .map_err(|_| corrupt("minimum amount due"))?,
        creation_date: Some(Timestamp::from_millis(row.created_at)),
        modification_date: Some(Timestamp::from_millis(row.updated_at)),
        metadata: Some(vec![
            KeyValue::new("serviceProvider", &row.service_provider),
            KeyValue::new("accountReference", &row.account_reference),
            KeyValue::new("invoiceStatus", &row.invoice_status),
        ]),
    })
}

impl Engine {
    /// The bill companies: the configured paybills bills are issued for.
    pub fn bill_companies(&self) -> Vec<BillCompany> {
        self.bill_settings
            .companies
            .iter()
            .map(|c| c.company())
            .collect()
    }

    /// One bill company, by its paybill: identification/identifierError (404) when it is not one.
    pub fn bill_company(&self, service_provider: &str) -> Result<BillCompany, EngineError> {
        self.bill_settings
            .company(service_provider)
            .map(|c| c.company())
            .ok_or_else(|| {
                rejected(GsmaError::not_found(format!(
                    "No bill company {service_provider}"
                )))
            })
    }

    /// Validates and durably stores bills a client issues, all or none. `notification_url` is where each
    /// payment of them is pushed to the biller.
    pub async fn issue_bills(
        &self,
        client_id: &str,
        notification_url: Option<String>,
        issued: Vec<IssueBill>,
    ) -> Result<Vec<Bill>, EngineError> {
        if issued.is_empty() || issued.len() > MAX_BILLS_PER_REQUEST {
            return Err(rejected(GsmaError::format(
                "bills",
                format!("from 1 to {MAX_BILLS_PER_REQUEST} bills at once"),
            )));
        }
        let now = now_ms();
        let mut new = Vec::with_capacity(issued.len());
        let mut invoices = Vec::new();
        for b in issued {
            let (bill, invoice) = self.new_bill(client_id, notification_url.clone(), b, now)?;
            new.push(bill);
            invoices.extend(invoice);
        }
        let mut references = HashSet::with_capacity(new.len());
        let mut accounts = HashSet::with_capacity(new.len());
        for b in &new {
            let account = (
                b.service_provider.clone(),
                bills::account_match(&b.account_reference),
            );
            if !references.insert(b.bill_reference.clone()) || !accounts.insert(account) {
                return Err(rejected(GsmaError::duplicate_request(format!(
                    "bill {} repeats a bill reference or account reference of this request",
                    b.bill_reference
                ))));
            }
        }
        let currencies: Vec<(String, String)> = new
            .iter()
            .map(|b| (b.bill_reference.clone(), b.currency.clone()))
            .collect();
        // What is stored, as it will read back.
        let out = new
            .iter()
            .map(|b| bill_of(&stored_row(b)))
            .collect::<Result<Vec<_>, _>>()?;
        let stored = self.store().apply(Change::PutBills(new)).await?;
        if stored == 0 {
            return Err(rejected(GsmaError::duplicate_request(
                "A bill reference, or a paybill's account reference, is already used by another bill",
            )));
        }
        self.send_invoices(&currencies, invoices);
        Ok(out)
    }

    fn new_bill(
        &self,
        client_id: &str,
        notification_url: Option<String>,
        b: IssueBill,
        now: i64,
    ) -> Result<(NewBill, Option<Invoice>), EngineError> {
        let bill_reference = match b.bill_reference {
            Some(r) if r.trim().is_empty() || r.len() > 256 => {
                return Err(rejected(GsmaError::format(
                    "billReference",
                    "billReference must have 1 to 256 characters",
                )))
            }
            Some(r) => r.trim().to_owned(),
            None => {
                let id = Uuid::now_v7().simple().to_string();
                format!("BL{}", id[22..].to_ascii_uppercase())
            }
        };
        let account_reference = b
            .account_reference
            .map(|a| a.trim().to_owned())
            .unwrap_or_else(|| bill_reference.clone());
        if account_reference.is_empty()
            || account_reference.chars().count() > MAX_ACCOUNT_REFERENCE
            || !account_reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(rejected(GsmaError::format(
                "accountReference",
                format!(
                    "accountReference '{account_reference}' must be 1 to {MAX_ACCOUNT_REFERENCE} letters, digits, '-' or '_' (what the customer types as the account number)"
                ),
            )));
        }
        let service_provider = b.service_provider.trim().to_owned();
        if service_provider.is_empty()
            || service_provider.len() > 32
            || !service_provider.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(rejected(GsmaError::format(
                "serviceProvider",
                "serviceProvider must be the paybill the bill is paid into",
            )));
        }
        if !self.bill_settings.companies.is_empty() {
            match self.bill_settings.company(&service_provider) {
                None => {
                    return Err(rejected(GsmaError::format(
                        "serviceProvider",
                        format!("{service_provider} is not a bill company of this gateway (GET /billcompanies)"),
                    )))
                }
                Some(c) if !c.currency.eq_ignore_ascii_case(&b.currency.to_string()) => {
                    return Err(rejected(GsmaError::format(
                        "currency",
                        format!("{service_provider} bills in {}", c.currency),
                    )))
                }
                Some(_) => {}
            }
        }
        let Some(first) = b.customer.first() else {
            return Err(rejected(GsmaError::mandatory("customer")));
        };
        if b.customer
            .iter()
            .any(|p| p.key.is_empty() || p.value.is_empty())
        {
            return Err(rejected(GsmaError::format(
                "customer",
                "each customer identifier needs a key and a value",
            )));
        }
        let currency = b.currency.to_string();
        if !self.router().markets().iter().any(|(c, _)| *c == currency) {
            return Err(rejected(GsmaError::transaction_type(format!(
                "No operator behind this gateway carries {}",
                b.currency
            ))));
        }
        if b.amount_due.value() <= Decimal::ZERO {
            return Err(rejected(GsmaError::format(
                "amountDue",
                "amountDue must be above zero",
            )));
        }
        if b.minimum_amount_due
            .as_ref()
            .is_some_and(|m| m.value() <= Decimal::ZERO || m.value() > b.amount_due.value())
        {
            return Err(rejected(GsmaError::format(
                "minimumAmountDue",
                "minimumAmountDue must be above zero and at most amountDue",
            )));
        }
        if let Some(d) = &b.due_date {
            if !valid_date(d) {
                return Err(rejected(GsmaError::format(
                    "dueDate",
                    format!("dueDate '{d}' is not a date (YYYY-MM-DD)"),
                )));
            }
        }
        if b.bill_description.as_ref().is_some_and(|d| d.len() > 256) {
            return Err(rejected(GsmaError::format(
                "billDescription",
                "billDescription has at most 256 characters",
            )));
        }
        let customer = serde_json::to_string(&b.customer)
            .map_err(|e| StoreError::Corrupt(format!("cannot serialise parties: {e}")))?;
        let phone = b
            .customer
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case("msisdn"))
            .map(|p| p.value.clone());
        let invoice = phone.map(|phone| Invoice {
            external_reference: bill_reference.clone(),
            paybill: service_provider.clone(),
            account_reference: account_reference.clone(),
            billed_full_name: b
                .customer_name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "Customer".into()),
            billed_phone_number: phone,
            billed_period: billed_period(b.due_date.as_deref(), now),
            invoice_name: b
                .bill_description
                .clone()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| format!("Bill {bill_reference}")),
            due_date: Some(invoice_due_date(b.due_date.as_deref(), now)),
            amount: b.amount_due.clone(),
        });
        let bill = NewBill {
            bill_reference,
            client_id: client_id.to_owned(),
            service_provider,
            account_reference,
            customer_account: account_key(&first.value),
            customer,
            currency: b.currency.to_string(),
            amount_billed: b.amount_due.as_str().to_owned(),
            minimum_amount_due: b.minimum_amount_due.map(|a| a.as_str().to_owned()),
            due_date: b.due_date,
            description: b.bill_description,
            under_payment_not_allowed: b.under_payment_not_allowed,
            over_payment_not_allowed: b.over_payment_not_allowed,
            notification_url,
            invoice_status: if invoice.is_some() { "pending" } else { "none" },
            now_ms: now,
        };
        Ok((bill, invoice))
    }

    /// Sends stored bills to the invoicing service of the operator of their currency (Daraja Bill Manager), in the
    /// background, and records the outcome on each bill (`invoiceStatus` in its metadata): `sent`, `failed`
    /// after three attempts, or `none` when the operator offers no invoicing. The bill stands either way: it is
    /// paid by its account reference.
    fn send_invoices(&self, currencies: &[(String, String)], invoices: Vec<Invoice>) {
        let markets = self.router().markets();
        let mut by_provider: Vec<(Arc<dyn Provider>, Vec<Invoice>)> = Vec::new();
        for invoice in invoices {
            let Some(currency) = currencies
                .iter()
                .find(|(r, _)| *r == invoice.external_reference)
                .map(|(_, c)| c)
            else {
                continue;
            };
            let Some((_, provider)) = markets.iter().find(|(c, _)| c == currency) else {
                continue;
            };
            match by_provider
                .iter_mut()
                .find(|(p, list)| p.name() == provider.name() && list[0].paybill == invoice.paybill)
            {
                Some((_, list)) => list.push(invoice),
                None => by_provider.push((provider.clone(), vec![invoice])),
            }
        }
        for (provider, invoices) in by_provider {
            let store = self.store().clone();
            tokio::spawn(async move {
                let references: Vec<String> = invoices
                    .iter()
                    .map(|i| i.external_reference.clone())
                    .collect();
                let mut status = "failed";
                for attempt in 1..=INVOICE_ATTEMPTS {
                    match provider.send_invoices(&invoices).await {
                        Ok(()) => {
                            status = "sent";
                            break;
                        }
                        Err(ProviderError::Unsupported(why)) => {
                            tracing::debug!(provider = provider.name(), %why, "bills not invoiced");
                            status = "none";
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(provider = provider.name(), attempt, error = %e, "invoicing failed");
                            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt)))
                                .await;
                        }
                    }
                }
                let change = Change::SetInvoiceStatus {
                    bill_references: references,
                    status,
                    now_ms: now_ms(),
                };
                if let Err(e) = store.apply(change).await {
                    tracing::warn!(error = %e, "could not record the bills' invoice status");
                }
            });
        }
    }

    /// Sends again the invoices whose sending was interrupted (the gateway stopped while it was under way): those
    /// pending and untouched for longer than a claim lease, each claimed first so that one instance sends it.
    /// The customer's name was not kept: the invoice names the customer `Customer`.
    pub(crate) async fn resume_stale_invoices(&self) -> Result<(), StoreError> {
        let now = now_ms();
        let cutoff = now - self.lease_ms();
        let mut currencies = Vec::new();
        let mut invoices = Vec::new();
        for row in self.store().stale_pending_invoices(cutoff, 100).await? {
            let claimed = self
                .store()
                .apply(Change::ClaimInvoice {
                    bill_reference: row.bill_reference.clone(),
                    cutoff_ms: cutoff,
                    now_ms: now,
                })
                .await?;
            if claimed == 0 {
                continue;
            }
            let Some(invoice) = invoice_of(&row) else {
                continue;
            };
            tracing::info!(bill = %row.bill_reference, "sending an interrupted invoice again");
            currencies.push((row.bill_reference.clone(), row.currency.clone()));
            invoices.push(invoice);
        }
        if !invoices.is_empty() {
            self.send_invoices(&currencies, invoices);
        }
        Ok(())
    }

    /// Whether a payment from the phone about to complete keeps the rules of the bill its paybill and account
    /// reference name: `Err` with why not (more than is due on a bill that forbids over-payment, less on one
    /// that forbids partial payment). A payment that pays no bill is not this check's business.
    pub(crate) async fn check_incoming_bill_payment(
        &self,
        payment: &IncomingPayment,
    ) -> Result<Result<(), String>, StoreError> {
        if payment.transaction_type != TransactionType::Billpay {
            return Ok(Ok(()));
        }
        let find = |keys: &[&str]| {
            payment
                .credit_party
                .iter()
                .find(|p| keys.contains(&p.key.to_ascii_lowercase().as_str()))
                .map(|p| p.value.clone())
        };
        let (Some(paybill), Some(account)) = (
            find(&bills::PAYBILL_KEYS),
            find(&bills::ACCOUNT_REFERENCE_KEYS),
        ) else {
            return Ok(Ok(()));
        };
        let Some(row) = self
            .store()
            .bill_by_account(&paybill, &bills::account_match(&account))
            .await?
        else {
            return Ok(Ok(()));
        };
        let bill = bill_of(&row)?;
        Ok(bills::check_amount(
            payment.amount.value(),
            bill.amount_due.value(),
            rules_of(&bill, &row),
        )
        .map_err(|e| e.error_description.unwrap_or_default()))
    }

    /// The bills this client issued to the customer `identifiers` names, newest first, and how many in all.
    pub async fn customer_bills(
        &self,
        client_id: &str,
        identifiers: &[Party],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Bill>, i64), EngineError> {
        let Some(first) = identifiers.first() else {
            return Err(rejected(GsmaError::mandatory("identifier")));
        };
        let (rows, total) = self
            .store()
            .bills_of_customer(client_id, &account_key(&first.value), limit, offset)
            .await?;
        let bills = rows.iter().map(bill_of).collect::<Result<_, _>>()?;
        Ok((bills, total))
    }

    /// A bill of this client, optionally checked to be owed by `payer`: identification/identifierError (404)
    /// otherwise.
    async fn client_bill(
        &self,
        client_id: &str,
        reference: &str,
        payer: Option<&[Party]>,
    ) -> Result<BillRow, EngineError> {
        let not_found = || rejected(GsmaError::not_found(format!("No bill {reference}")));
        let row = self.store().bill(reference).await?.ok_or_else(not_found)?;
        if row.client_id != client_id || row.cancelled_at.is_some() {
            return Err(not_found());
        }
        if let Some(payer) = payer {
            let customer = account_key(&customer_of(&row)?.value);
            let owes = payer
                .first()
                .is_some_and(|p| account_key(&p.value) == customer);
            if !owes {
                return Err(not_found());
            }
        }
        Ok(row)
    }

    /// Cancels a bill this client issued and that is not paid: it is no longer listed nor payable, and an
    /// invoice the operator sent for it is cancelled there (in the background). A paid bill is
    /// businessRule/genericError; an unknown or cancelled one identification/identifierError.
    pub async fn cancel_bill(&self, client_id: &str, reference: &str) -> Result<(), EngineError> {
        let row = self.client_bill(client_id, reference, None).await?;
        let changed = self
            .store()
            .apply(Change::CancelBill {
                client_id: client_id.to_owned(),
                bill_reference: reference.to_owned(),
                now_ms: now_ms(),
            })
            .await?;
        if changed == 0 {
            return Err(rejected(if row.status == "paid" {
                GsmaError::new(
                    mmapi_core::ErrorCategory::BusinessRule,
                    mmapi_core::ErrorCode::GenericError,
                    "A paid bill cannot be cancelled",
                )
            } else {
                GsmaError::not_found(format!("No bill {reference}"))
            }));
        }
        if row.invoice_status == "sent" {
            let provider = self
                .router()
                .markets()
                .into_iter()
                .find(|(c, _)| *c == row.currency)
                .map(|(_, p)| p);
            if let Some(provider) = provider {
                let references = vec![row.bill_reference.clone()];
                tokio::spawn(async move {
                    if let Err(e) = provider.cancel_invoices(&references).await {
                        tracing::warn!(bill = %references[0], error = %e, "could not cancel the invoice");
                    }
                });
            }
        }
        Ok(())
    }

    /// Pays a bill: checks its rules (what is due less the payments of it still under way), then accepts a `billpay` transaction from the customer to the bill's paybill
    /// with its account reference. The bill changes when that transaction completes.
    pub async fn pay_bill(&self, new: NewBillPayment) -> Result<RequestState, EngineError> {
        let key = format!("{}/{}", new.client_id, new.bill_reference);
        let turn = self.bill_turns.of(&key);
        let accepted = {
            let _turn = turn.lock().await;
            self.pay_bill_in_turn(new).await
        };
        drop(turn);
        self.bill_turns.release(&key);
        accepted
    }

    /// [`Engine::pay_bill`] in its bill's turn.
    async fn pay_bill_in_turn(&self, new: NewBillPayment) -> Result<RequestState, EngineError> {
        let row = self
            .client_bill(&new.client_id, &new.bill_reference, new.payer.as_deref())
            .await?;
        let r = new.request;
        if !r.currency.to_string().eq_ignore_ascii_case(&row.currency) {
            return Err(rejected(GsmaError::format(
                "currency",
                format!("The bill is in {}", row.currency),
            )));
        }
        if r.amount_paid.value() <= Decimal::ZERO {
            return Err(rejected(GsmaError::format(
                "amountPaid",
                "amountPaid must be above zero",
            )));
        }
        // Payments of this bill still under way count as paid for the rules.
        let match_key = bills::account_match(&row.account_reference);
        let under_way: Decimal = self
            .store()
            .pending_billpays(
                &new.client_id,
                &account_key(&row.service_provider),
                &row.account_reference,
            )
            .await?
            .iter()
            .filter_map(|body| bills::payment_facts(body))
            .filter(|f| {
                f.paybill == row.service_provider
                    && bills::account_match(&f.account_reference) == match_key
            })
            .map(|f| f.amount.value())
            .sum();
        // What is due is read after the payments under way: one that completes in between is then counted twice
        // (refusing too much, never too little) rather than missed.
        let row = self
            .client_bill(&new.client_id, &new.bill_reference, new.payer.as_deref())
            .await?;
        let bill = bill_of(&row)?;
        bills::check_amount(
            r.amount_paid.value(),
            (bill.amount_due.value() - under_way).max(Decimal::ZERO),
            rules_of(&bill, &row),
        )
        .map_err(rejected)?;
        let payer = match new.payer {
            Some(p) => p,
            None => vec![customer_of(&row)?],
        };
        let mut request = TransactionRequest::empty(r.amount_paid, r.currency);
        request.debit_party = Some(payer);
        request.credit_party = Some(vec![
            Party::new("businessshortcode", &row.service_provider),
            Party::new("consumerno", &row.account_reference),
        ]);
        request.description_text = r.customer_reference.clone();
        request.metadata = Some(vec![KeyValue::new("billReference", &row.bill_reference)]);
        self.accept_transaction(NewTransactionRequest {
            client_id: new.client_id,
            allowed_providers: new.allowed_providers,
            correlation_id: new.correlation_id,
            callback_url: new.callback_url,
            transaction_type: TransactionType::Billpay,
            request,
        })
        .await
    }

    /// A payment without a bill reference: it pays the customer's oldest open bill of this client (see
    /// [`Store::oldest_open_bill`](crate::store::Store::oldest_open_bill)) under that bill's rules. A customer
    /// who owes this client nothing is identification/identifierError.
    pub async fn pay_oldest_bill(
        &self,
        mut new: NewBillPayment,
    ) -> Result<RequestState, EngineError> {
        let customer = customer_key(new.payer.as_deref())?;
        new.bill_reference = self
            .store()
            .oldest_open_bill(&new.client_id, &customer)
            .await?
            .ok_or_else(|| rejected(GsmaError::not_found("The account owes no open bill")))?;
        self.pay_bill(new).await
    }

    /// The completed payments of every bill of this client the customer `identifiers` names owes or owed,
    /// oldest first, and how many in all.
    pub async fn customer_bill_payments(
        &self,
        client_id: &str,
        identifiers: &[Party],
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BillPayment>, i64), EngineError> {
        let customer = customer_key(Some(identifiers))?;
        let (rows, total) = self
            .store()
            .customer_bill_payments(client_id, &customer, limit, offset)
            .await?;
        Ok((payments_of(&rows)?, total))
    }

    /// The completed payments of a bill of this client, oldest first, and how many in all.
    pub async fn bill_payments(
        &self,
        client_id: &str,
        reference: &str,
        payer: Option<&[Party]>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<BillPayment>, i64), EngineError> {
        self.client_bill(client_id, reference, payer).await?;
        let (rows, total) = self.store().bill_payments(reference, limit, offset).await?;
        Ok((payments_of(&rows)?, total))
    }
}

/// The account key of the customer a path names.
fn customer_key(payer: Option<&[Party]>) -> Result<String, EngineError> {
    payer
        .and_then(|p| p.first())
        .map(|p| account_key(&p.value))
        .ok_or_else(|| rejected(GsmaError::mandatory("identifier")))
}

/// Stored bill payments as the API shows them.
fn payments_of(rows: &[crate::store::BillPaymentRow]) -> Result<Vec<BillPayment>, StoreError> {
    rows.iter()
        .map(|r| {
            serde_json::from_str(&r.body).map_err(|e| {
                StoreError::Corrupt(format!("bill payment {}: {e}", r.transaction_reference))
            })
        })
        .collect()
}

/// The invoice of a stored bill (`None` when its customer has no phone number).
fn invoice_of(row: &BillRow) -> Option<Invoice> {
    let parties: Vec<Party> = serde_json::from_str(&row.customer).ok()?;
    let phone = parties
        .into_iter()
        .find(|p| p.key.eq_ignore_ascii_case("msisdn"))?
        .value;
    Some(Invoice {
        external_reference: row.bill_reference.clone(),
        paybill: row.service_provider.clone(),
        account_reference: row.account_reference.clone(),
        billed_full_name: "Customer".into(),
        billed_phone_number: phone,
        billed_period: billed_period(row.due_date.as_deref(), row.created_at),
        invoice_name: row
            .description
            .clone()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| format!("Bill {}", row.bill_reference)),
        due_date: Some(invoice_due_date(row.due_date.as_deref(), row.created_at)),
        amount: Amount::parse(&row.amount_billed).ok()?,
    })
}

/// A new bill as the store will hold it once stored.
fn stored_row(b: &NewBill) -> BillRow {
    BillRow {
        bill_reference: b.bill_reference.clone(),
        client_id: b.client_id.clone(),
        service_provider: b.service_provider.clone(),
        account_reference: b.account_reference.clone(),
        customer: b.customer.clone(),
        currency: b.currency.clone(),
        amount_billed: b.amount_billed.clone(),
        amount_paid: "0".into(),
        minimum_amount_due: b.minimum_amount_due.clone(),
        status: "unpaid".into(),
        due_date: b.due_date.clone(),
        description: b.description.clone(),
        under_payment_not_allowed: i64::from(b.under_payment_not_allowed),
        over_payment_not_allowed: i64::from(b.over_payment_not_allowed),
        notification_url: b.notification_url.clone(),
        invoice_status: b.invoice_status.to_owned(),
        cancelled_at: None,
        created_at: b.now_ms,
        updated_at: b.now_ms,
    }
}

/// A stored bill's payment rules.
fn rules_of(bill: &Bill, row: &BillRow) -> bills::Rules {
    bills::Rules {
        under_payment_not_allowed: row.under_payment_not_allowed != 0,
        over_payment_not_allowed: row.over_payment_not_allowed != 0,
        minimum_amount_due: bill.minimum_amount_due.as_ref().map(Amount::value),
    }
}

/// The customer's first identifier.
fn customer_of(row: &BillRow) -> Result<Party, StoreError> {
    let parties: Vec<Party> = serde_json::from_str(&row.customer)
        .map_err(|e| StoreError::Corrupt(format!("bill {}: {e}", row.bill_reference)))?;
    parties
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt(format!("bill {} has no customer", row.bill_reference)))
}
