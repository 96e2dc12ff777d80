//! C2B: `POST /mpesa/c2b/v{1,2}/registerurl`, `POST /mpesa/c2b/v{1,2}/simulate`, and the
//! validation and confirmation requests to the merchant.
//!
//! Registration may be repeated: the sandbox lets a shortcode overwrite its URLs, and so does
//! the simulator (production answers `500.003.1001 Urls are already registered`). URLs must be
//! `http`/`https` and must not contain Daraja's banned words (`mpesa`, `safaricom`, `exe`,
//! `cmd`, `sql`, `query`, …). A simulated payment is decided after the callback delay: see the
//! C2B table in [`outcomes`]. The callbacks carry the `MSISDN` as a SHA-256
//! hex hash when the URLs were registered through v1, masked (`25470****149`) through v2.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Json, Router};
use sha2::{Digest, Sha256};

use super::{
    callback::{self, sleep_or_shutdown},
    ids,
    journal::{C2bRecord, C2bRegistration, C2bSettlement, JournalEvent},
    ledger::{self, OrgAccount, Party, TxnRecord, CUSTOMER_FIRST_NAME, CUSTOMER_LAST_NAME},
    oauth::{self, BadToken},
    outcomes,
    wire::{
        self, text_of, C2bAck, C2bNotification, C2bRegisterRequest, C2bSimulateRequest,
        C2bValidationReply, Rejection, Scalar,
    },
    Shared, SimState,
};

/// Routes of C2B.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/mpesa/c2b/v1/registerurl",
            post(register_v1).fallback(wire::method_not_allowed),
        )
        .route(
            "/mpesa/c2b/v2/registerurl",
            post(register_v2).fallback(wire::method_not_allowed),
        )
        .route(
            "/mpesa/c2b/v1/simulate",
            post(simulate).fallback(wire::method_not_allowed),
        )
        .route(
            "/mpesa/c2b/v2/simulate",
            post(simulate).fallback(wire::method_not_allowed),
        )
}

pub(crate) const PAY_BILL: &str = "CustomerPayBillOnline";
pub(crate) const BUY_GOODS: &str = "CustomerBuyGoodsOnline";
const SIMULATE_ACCEPTED: &str = "Accept the service request successfully.";
/// Words Daraja refuses in callback URLs.
const BANNED_URL_WORDS: &[&str] = &["mpesa", "m-pesa", "safaricom", "exe", "cmd", "sql", "query"];

/// A payment in progress or decided.
struct Payment {
    record: C2bRecord,
    settled: bool,
    /// Settled with the money moved.
    completed: bool,
    /// The confirmation owed (URL, body); dropped once sent.
    confirmation: Option<(Box<str>, Bytes)>,
    done: bool,
}

/// Registrations and payments.
pub(crate) struct C2bStore {
    registrations: Mutex<HashMap<Box<str>, C2bRegistration>>,
    payments: Mutex<HashMap<Box<str>, Payment>>,
}

impl C2bStore {
    pub(crate) fn new() -> Self {
        Self {
            registrations: Mutex::new(HashMap::new()),
            payments: Mutex::new(HashMap::new()),
        }
    }

    fn payments(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Payment>> {
        self.payments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a registration (replacing the shortcode's earlier one).
    pub(crate) fn register(&self, reg: C2bRegistration) {
        let mut regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        regs.insert(reg.shortcode.as_str().into(), reg);
    }

    fn registration(&self, shortcode: &str) -> Option<C2bRegistration> {
        let regs = self.registrations.lock().unwrap_or_else(|e| e.into_inner());
        regs.get(shortcode).cloned()
    }

    /// Records a simulated payment (new, or read back from the journal).
    pub(crate) fn insert(&self, record: C2bRecord) {
        self.payments().insert(
            record.id.as_str().into(),
            Payment {
                record,
                settled: false,
                completed: false,
                confirmation: None,
                done: false,
            },
        );
    }

    /// Records how a payment ended; `false` if unknown or already settled.
    pub(crate) fn settle(&self, s: &C2bSettlement) -> bool {
        match self.payments().get_mut(s.id.as_str()) {
            Some(p) if !p.settled => {
                p.settled = true;
                p.completed = s.outcome == "completed";
                p.confirmation = s
                    .confirmation_url
                    .as_deref()
                    .zip(s.confirmation.clone())
                    .map(|(url, body)| (url.into(), Bytes::from(body)));
                true
            }
            _ => false,
        }
    }

    /// Marks the confirmation of `id` as sent or given up.
    pub(crate) fn mark_done(&self, id: &str) -> bool {
        match self.payments().get_mut(id) {
            Some(p) if p.settled && !p.done => {
                p.done = true;
                p.confirmation = None;
                true
            }
            _ => false,
        }
    }

    /// Payments still to decide: `(id, due time)`.
    pub(crate) fn unsettled(&self) -> Vec<(String, i64)> {
        self.payments()
            .iter()
            .filter(|(_, p)| !p.settled)
            .map(|(id, p)| (id.to_string(), p.record.resolve_at_ms))
            .collect()
    }

    /// Payments whose confirmation is still owed.
    pub(crate) fn owed_confirmations(&self) -> Vec<String> {
        self.payments()
            .iter()
            .filter(|(_, p)| p.settled && !p.done && p.confirmation.is_some())
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// The completed payments into `shortcode` decided between `from_ms` and `to_ms`, oldest first.
    pub(crate) fn completed_between(
        &self,
        shortcode: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<C2bRecord> {
        let mut records: Vec<C2bRecord> = self
            .payments()
            .values()
            .filter(|p| {
                p.completed
                    && p.record.shortcode == shortcode
                    && (from_ms..=to_ms).contains(&p.record.resolve_at_ms)
            })
            .map(|p| p.record.clone())
            .collect();
        records.sort_by(|a, b| (a.resolve_at_ms, &a.trans_id).cmp(&(b.resolve_at_ms, &b.trans_id)));
        records
    }

    fn confirmation(&self, id: &str) -> Option<(String, Bytes)> {
        let payments = self.payments();
        let (url, body) = payments.get(id)?.confirmation.as_ref()?;
        Some((url.to_string(), body.clone()))
    }

    fn unsettled_record(&self, id: &str) -> Option<C2bRecord> {
        let payments = self.payments();
        payments
            .get(id)
            .filter(|p| !p.settled)
            .map(|p| p.record.clone())
    }
}

/// The `Amount` of a customer's payment: whole shillings within the C2B range.
pub(crate) fn customer_amount(field: &Option<Scalar>) -> Result<u64, Rejection> {
    field
        .as_ref()
        .and_then(Scalar::whole_number)
        .filter(|a| outcomes::C2B_AMOUNT_RANGE.contains(a))
        .ok_or_else(|| Rejection::invalid("Amount"))
}

/// The paying customer's MSISDN (`2547…`), in the field named `name`.
pub(crate) fn customer_msisdn(field: &Option<Scalar>, name: &str) -> Result<u64, Rejection> {
    text_of(field)
        .filter(|m| ledger::is_msisdn(m))
        .and_then(|m| m.parse::<u64>().ok())
        .ok_or_else(|| Rejection::invalid(name))
}

/// A callback URL as Daraja accepts it.
fn callback_url(field: &Option<Scalar>) -> Option<String> {
    let url = wire::http_url(field)?;
    let lower = url.to_ascii_lowercase();
    (!BANNED_URL_WORDS.iter().any(|w| lower.contains(w))).then_some(url)
}

/// A registered shortcode must be a simulated organisation.
pub(crate) fn shortcode(sim: &SimState, field: &Option<Scalar>) -> Result<String, Rejection> {
    wire::digits_of(field)
        .filter(|sc| sim.ledger.lock().is_org(sc))
        .ok_or_else(|| Rejection::invalid("ShortCode"))
}

async fn register_v1(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<C2bAck>, Rejection> {
    register(sim, headers, body, 1)
}

async fn register_v2(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<C2bAck>, Rejection> {
    register(sim, headers, body, 2)
}

/// `POST /mpesa/c2b/v{1,2}/registerurl`
fn register(
    sim: Shared,
    headers: HeaderMap,
    body: Bytes,
    version: u8,
) -> Result<Json<C2bAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: C2bRegisterRequest = wire::parse_body(&body)?;
    let shortcode = shortcode(&sim, &req.short_code)?;
    let response_type = wire::one_of(&req.response_type, &["Completed", "Cancelled"])
        .ok_or_else(|| Rejection::invalid("ResponseType"))?;
    let confirmation_url =
        callback_url(&req.confirmation_url).ok_or_else(|| Rejection::invalid("ConfirmationURL"))?;
    let validation_url =
        callback_url(&req.validation_url).ok_or_else(|| Rejection::invalid("ValidationURL"))?;
    let reg = C2bRegistration {
        shortcode,
        response_type: response_type.to_owned(),
        confirmation_url,
        validation_url,
        version,
    };
    sim.c2b.register(reg.clone());
    sim.journal.append(&JournalEvent::C2bRegistered(reg));
    Ok(Json(C2bAck {
        originator_coversation_id: ids::originator_conversation_id(),
        response_code: "0",
        response_description: "Success",
    }))
}

/// `POST /mpesa/c2b/v{1,2}/simulate`
async fn simulate(
    State(sim): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<C2bAck>, Rejection> {
    oauth::authorize_as(&sim, &headers, BadToken::BadRequest)?;
    let req: C2bSimulateRequest = wire::parse_body(&body)?;
    let shortcode = shortcode(&sim, &req.short_code)?;
    let command = wire::one_of(&req.command_id, &[PAY_BILL, BUY_GOODS])
        .ok_or_else(|| Rejection::invalid("CommandID"))?;
    let amount = customer_amount(&req.amount)?;
    let msisdn = customer_msisdn(&req.msisdn, "Msisdn")?;
    let bill_ref = match text_of(&req.bill_ref_number) {
        Some(r) if r.chars().count() > 20 => return Err(Rejection::invalid("BillRefNumber")),
        Some(r) => r.into_owned(),
        None => String::new(),
    };
    let id = start_payment(&sim.state, shortcode, command, amount, msisdn, bill_ref);
    tracing::debug!(id, "Daraja simulator accepted a C2B simulation");
    Ok(Json(C2bAck {
        originator_coversation_id: id,
        response_code: "0",
        response_description: SIMULATE_ACCEPTED,
    }))
}

/// Starts a customer's payment into `shortcode` (`command` Pay Bill or Buy Goods), decided after the callback
/// delay as a simulated one is: the same validation, confirmation and Bill Manager push. Journaled, so it
/// survives a restart. Returns its id.
pub(crate) fn start_payment(
    sim: &Arc<SimState>,
    shortcode: String,
    command: &str,
    amount: u64,
    msisdn: u64,
    bill_ref: String,
) -> String {
    let now = ids::now_ms();
    let trans_id = ids::receipt_str(&sim.ledger.lock().new_receipt()).to_owned();
    let record = C2bRecord {
        id: ids::originator_conversation_id(),
        trans_id,
        shortcode,
        command: command.to_owned(),
        amount,
        msisdn,
        bill_ref,
        created_at_ms: now,
        resolve_at_ms: now.saturating_add(sim.callback_delay_ms()),
    };
    let id = record.id.clone();
    sim.c2b.insert(record.clone());
    sim.journal.append(&JournalEvent::C2bCreated(record));
    spawn_payment(sim, id.clone());
    id
}

/// `MSISDN` as the callbacks carry it: v1 a SHA-256 hex hash, v2 masked (`25470****149`).
fn callback_msisdn(msisdn: u64, version: u8) -> String {
    let text = msisdn.to_string();
    if version == 1 {
        let digest = Sha256::digest(text.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        let (head, tail) = (
            &text[..5.min(text.len())],
            &text[text.len().saturating_sub(3)..],
        );
        format!("{head}****{tail}")
    }
}

/// The validation or confirmation body.
fn notification(
    record: &C2bRecord,
    version: u8,
    org_account_balance: String,
    third_party_trans_id: &str,
) -> Vec<u8> {
    let body = C2bNotification {
        transaction_type: if record.command == BUY_GOODS {
            "Buy Goods"
        } else {
            "Pay Bill"
        },
        trans_id: &record.trans_id,
        trans_time: ids::format_eat(record.resolve_at_ms, "%Y%m%d%H%M%S"),
        trans_amount: ledger::kes(ledger::cents(record.amount)),
        business_short_code: &record.shortcode,
        bill_ref_number: &record.bill_ref,
        invoice_number: "",
        org_account_balance,
        third_party_trans_id,
        msisdn: callback_msisdn(record.msisdn, version),
        first_name: CUSTOMER_FIRST_NAME,
        middle_name: "",
        last_name: CUSTOMER_LAST_NAME,
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The merchant's verdict on a validation request.
enum Verdict {
    Accept(String),
    Reject(String),
    NoAnswer,
}

async fn validate_with_merchant(
    sim: &SimState,
    record: &C2bRecord,
    reg: &C2bRegistration,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Verdict {
    let body = notification(record, reg.version, String::new(), "");
    let Some(answer) = sim
        .callbacks
        .exchange(
            &reg.validation_url,
            body,
            sim.c2b_validation_timeout,
            shutdown,
        )
        .await
    else {
        return Verdict::NoAnswer;
    };
    let Ok(reply) = serde_json::from_slice::<C2bValidationReply>(&answer) else {
        return Verdict::NoAnswer;
    };
    match text_of(&reply.result_code) {
        Some(code) if code == "0" => Verdict::Accept(
            text_of(&reply.third_party_trans_id)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        ),
        Some(code) => Verdict::Reject(code.into_owned()),
        None => Verdict::NoAnswer,
    }
}

/// Runs payment `id` once it is due: validation, then settlement and confirmation.
pub(crate) fn spawn_payment(sim: &Arc<SimState>, id: String) {
    let sim = Arc::clone(sim);
    tokio::spawn(async move {
        let mut shutdown = sim.shutdown.subscribe();
        let Some(record) = sim.c2b.unsettled_record(&id) else {
            return;
        };
        let wait = u64::try_from(record.resolve_at_ms - ids::now_ms()).unwrap_or(0);
        if !sleep_or_shutdown(Duration::from_millis(wait), &mut shutdown).await {
            return;
        }
        let paid = record.clone();
        let settlement = decide(&sim, record, &mut shutdown).await;
        let Some(settlement) = settlement else {
            return; // shut down while validating: decided again after a restart
        };
        if !sim.c2b.settle(&settlement) {
            return;
        }
        let owes = settlement.confirmation.is_some();
        let completed = settlement.outcome == "completed";
        tracing::debug!(id, outcome = %settlement.outcome, "Daraja simulator settled a C2B payment");
        sim.journal.append(&JournalEvent::C2bSettled(settlement));
        if owes {
            schedule_confirmation(&sim, id);
        }
        if completed {
            super::bill_manager::push_payment(
                &sim,
                &paid.shortcode,
                &paid.bill_ref,
                &paid.trans_id,
                &ledger::kes(ledger::cents(paid.amount)),
                paid.msisdn,
                paid.resolve_at_ms,
            );
        }
    });
}

/// Sends the confirmation of payment `id`, if owed.
pub(crate) fn schedule_confirmation(sim: &Arc<SimState>, id: String) {
    // Subject to the callback faults: a lost confirmation is what Pull Transactions is for.
    callback::schedule_delivery(
        sim,
        id,
        0,
        true,
        |sim, id| sim.c2b.confirmation(id),
        |sim, id| sim.c2b.mark_done(id),
    );
}

fn declined(id: &str, outcome: &str) -> C2bSettlement {
    C2bSettlement {
        id: id.to_owned(),
        outcome: outcome.to_owned(),
        txn: None,
        confirmation_url: None,
        confirmation: None,
    }
}

/// Decides a due payment, moving the money if it completes (`None` if the simulator shut down
/// meanwhile). Only one task decides a given payment.
async fn decide(
    sim: &SimState,
    record: C2bRecord,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<C2bSettlement> {
    let customer = Party::Customer(record.msisdn);
    let amount = ledger::cents(record.amount);
    let can_pay = |sim: &SimState| {
        record.msisdn.to_string() != outcomes::INSUFFICIENT_FUNDS_MSISDN
            && sim.ledger.lock().can_pay(&customer, amount)
    };
    if !can_pay(sim) {
        return Some(declined(&record.id, "declined"));
    }
    let registration = sim.c2b.registration(&record.shortcode);
    let third_party = match &registration {
        Some(reg) if sim.c2b_validation => {
            match validate_with_merchant(sim, &record, reg, shutdown).await {
                Verdict::Accept(third_party) => third_party,
                Verdict::Reject(code) => return Some(declined(&record.id, &code)),
                Verdict::NoAnswer if *shutdown.borrow() => return None,
                Verdict::NoAnswer if reg.response_type == "Cancelled" => {
                    return Some(declined(&record.id, "cancelled"))
                }
                Verdict::NoAnswer => String::new(),
            }
        }
        _ => String::new(),
    };
    let org = Party::Org(record.shortcode.as_str().into(), OrgAccount::Utility);
    let txn = TxnRecord {
        command: record.command.clone(),
        receipt: record.trans_id.clone(),
        completed: true,
        result_code: "0".to_owned(),
        debit: customer.clone(),
        credit: org.clone(),
        amount_cents: amount,
        charge_cents: 0,
        org: record.shortcode.clone(),
        originator_conversation_id: Some(record.id.clone()),
        conversation_id: None,
        initiated_ms: record.created_at_ms,
        finalised_ms: record.resolve_at_ms,
        reverses: None,
    };
    // The balance after the payment, for `OrgAccountBalance`.
    let org_balance = {
        let mut accounts = sim.ledger.lock();
        if !accounts.can_pay(&customer, amount) {
            return Some(declined(&record.id, "declined"));
        }
        accounts.apply(txn.clone());
        accounts.balance(&org).unwrap_or(0)
    };
    let confirmation = registration.map(|reg| {
        let body = notification(&record, reg.version, ledger::kes(org_balance), &third_party);
        (
            reg.confirmation_url,
            String::from_utf8(body).unwrap_or_default(),
        )
    });
    let (confirmation_url, confirmation) = confirmation.unzip();
    Some(C2bSettlement {
        id: record.id.clone(),
        outcome: "completed".to_owned(),
        txn: Some(txn),
        confirmation_url,
        confirmation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_forms() {
        assert_eq!(callback_msisdn(254708374149, 2), "25470****149");
        let hashed = callback_msisdn(254708374149, 1);
        assert_eq!(hashed.len(), 64);
        assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn banned_words() {
        let url = |s: &str| Some(Scalar::Text(s.to_owned()));
        assert!(callback_url(&url("http://127.0.0.1:9/c2b/confirm")).is_some());
        assert!(callback_url(&url("https://x.example/mpesa/confirm")).is_none());
        assert!(callback_url(&url("https://x.example/c?Query=1")).is_none());
        assert!(callback_url(&url("ftp://x.example/c")).is_none());
    }
}
