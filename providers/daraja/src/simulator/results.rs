//! What the initiator APIs (B2C, B2B, Transaction Status, Account Balance, Reversal) share: the
//! initiator check, identifiers, the decision under the ledger lock, the journal, and the
//! delivery of the asynchronous `Result` to `ResultURL`.
//!
//! A request is decided when it is accepted (money moves then), and its `Result` is rendered
//! and journaled at once; it is posted after the configured callback delay.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use axum::{body::Bytes, Json};

use super::{
    callback, ids,
    journal::{JournalEvent, ResultRecord},
    ledger::{Accounts, TxnRecord},
    wire::{text_of, AsyncAck, Rejection, ResultEnvelope, Scalar},
    Shared, SimState,
};

/// The acknowledgement text of the initiator APIs.
pub(crate) const ACCEPTED: &str = "Accept the service request successfully.";
/// `ResultDesc` of a success in Daraja's B2B and Account Balance samples (no final period).
pub(crate) const PROCESSED_AB: &str = "The service request is processed successfully";
/// `QueueTimeoutURL` reference items: Safaricom's internal URLs, as Daraja sends them.
pub(crate) const B2C_QUEUE_URL: &str =
    "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit";
pub(crate) const AB_QUEUE_URL: &str =
    "https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit";
pub(crate) const REVERSAL_QUEUE_URL: &str =
    "https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit";

/// A result still to be sent, or already sent.
struct Pending {
    url: Box<str>,
    /// Dropped once delivered.
    body: Option<Bytes>,
    sends: bool,
    done: bool,
    resolve_at_ms: i64,
}

/// Results of the initiator APIs, by `ConversationID`.
pub(crate) struct ResultStore {
    inner: Mutex<HashMap<Box<str>, Pending>>,
    accepted: AtomicU64,
}

impl ResultStore {
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(HashMap::new()),
            accepted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Pending>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests accepted by this instance (not counting those restored from the journal).
    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Remembers `record` (newly accepted or read back from the journal).
    pub(crate) fn insert(&self, record: &ResultRecord) {
        self.lock().insert(
            record.conversation_id.as_str().into(),
            Pending {
                url: record.result_url.as_str().into(),
                body: Some(Bytes::from(record.body.clone())),
                sends: record.sends_result,
                done: false,
                resolve_at_ms: record.resolve_at_ms,
            },
        );
    }

    /// Marks the result `id` as delivered or given up; `false` if unknown or already marked.
    pub(crate) fn mark_done(&self, id: &str) -> bool {
        match self.lock().get_mut(id) {
            Some(p) if !p.done => {
                p.done = true;
                p.body = None;
                true
            }
            _ => false,
        }
    }

    /// Results still owed: `(ConversationID, resolve time)`.
    pub(crate) fn owed(&self) -> Vec<(String, i64)> {
        self.lock()
            .iter()
            .filter(|(_, p)| p.sends && !p.done)
            .map(|(id, p)| (id.to_string(), p.resolve_at_ms))
            .collect()
    }

    /// The URL and body of result `id`, if still owed.
    fn request(&self, id: &str) -> Option<(String, Bytes)> {
        let inner = self.lock();
        let p = inner.get(id).filter(|p| !p.done)?;
        Some((p.url.to_string(), p.body.clone()?))
    }
}

/// Whether requests of `api` (`b2c`, `status`, …) start a transaction (rather than ask about one).
pub(crate) fn is_transaction(api: &str) -> bool {
    matches!(api, "b2c" | "b2b" | "reversal")
}

/// Posts result `id` once it is due, then journals that it is done.
pub(crate) fn schedule(sim: &Arc<SimState>, id: String, resolve_at_ms: i64) {
    callback::schedule_delivery(
        sim,
        id,
        resolve_at_ms,
        true,
        |sim, id| sim.results.request(id),
        |sim, id| sim.results.mark_done(id),
    );
}

/// A validated initiator-API request, before the initiator check.
pub(crate) struct Submission {
    /// `b2c`, `b2b`, `status`, `balance` or `reversal` (journal only).
    pub(crate) api: &'static str,
    pub(crate) initiator: String,
    pub(crate) credential: String,
    /// A client-supplied `OriginatorConversationID` (B2C v3), which must be unique.
    pub(crate) originator_conversation_id: Option<String>,
    pub(crate) result_url: String,
    /// `ResponseDescription` of the acknowledgement.
    pub(crate) ack_description: &'static str,
}

/// What a decision is made with.
pub(crate) struct Context {
    /// Whether the initiator name and `SecurityCredential` are right.
    pub(crate) initiator_valid: bool,
    pub(crate) originator_conversation_id: String,
    pub(crate) conversation_id: String,
    /// When the request came (`InitiatedTime`).
    pub(crate) now_ms: i64,
    /// When it completes and its result is sent.
    pub(crate) resolve_at_ms: i64,
}

/// What a decision produced. Any transaction in it has been applied to the ledger.
pub(crate) struct Decision {
    pub(crate) result: ResultEnvelope,
    pub(crate) sends_result: bool,
    pub(crate) txn: Option<TxnRecord>,
}

/// Runs the common part of an initiator API once its fields are valid: checks the initiator
/// (off the async threads), enforces a client `OriginatorConversationID`'s uniqueness, lets
/// `decide` decide under the ledger lock, journals, schedules the result and acknowledges.
pub(crate) async fn submit(
    sim: &Shared,
    sub: Submission,
    decide: impl FnOnce(&mut Accounts, &Context) -> Decision,
) -> Result<Json<AsyncAck>, Rejection> {
    if is_transaction(sub.api) {
        sim.submissions.submitted(&sub.result_url);
    }
    let initiator_valid = sim.initiator.check(&sub.initiator, &sub.credential).await;
    let now_ms = ids::now_ms();
    let ctx = Context {
        initiator_valid,
        originator_conversation_id: sub
            .originator_conversation_id
            .clone()
            .unwrap_or_else(ids::originator_conversation_id),
        conversation_id: ids::conversation_id(now_ms),
        now_ms,
        resolve_at_ms: now_ms.saturating_add(sim.callback_delay_ms()),
    };
    let decision = {
        let mut accounts = sim.ledger.lock();
        if let Some(id) = &sub.originator_conversation_id {
            if accounts.has_conversation(id) {
                drop(accounts);
                sim.submissions.refused_repeat(&sub.result_url);
                sim.journal.append(&JournalEvent::RepeatRefused {
                    result_url: sub.result_url,
                });
                return Err(Rejection::duplicate_originator());
            }
        }
        decide(&mut accounts, &ctx)
    };
    let body = serde_json::to_string(&decision.result).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise a Daraja simulator result");
        String::new()
    });
    let record = ResultRecord {
        conversation_id: ctx.conversation_id.clone(),
        originator_conversation_id: ctx.originator_conversation_id.clone(),
        api: sub.api.to_owned(),
        result_url: sub.result_url,
        body,
        sends_result: decision.sends_result,
        created_at_ms: ctx.now_ms,
        resolve_at_ms: ctx.resolve_at_ms,
        txn: decision.txn,
    };
    sim.results.insert(&record);
    sim.results.accepted.fetch_add(1, Ordering::Relaxed);
    let sends = record.sends_result;
    sim.journal.append(&JournalEvent::ResultCreated(record));
    tracing::debug!(
        api = sub.api,
        conversation_id = %ctx.conversation_id,
        "Daraja simulator accepted a request"
    );
    if sends {
        schedule(&sim.state, ctx.conversation_id.clone(), ctx.resolve_at_ms);
    }
    Ok(Json(AsyncAck {
        originator_conversation_id: ctx.originator_conversation_id,
        conversation_id: ctx.conversation_id,
        response_code: "0",
        response_description: sub.ack_description,
    }))
}

/// The initiator name and credential fields, required in this order.
pub(crate) fn initiator_fields(
    name: &Option<Scalar>,
    name_field: &'static str,
    credential: &Option<Scalar>,
) -> Result<(String, String), Rejection> {
    let name = text_of(name).ok_or_else(|| Rejection::invalid(name_field))?;
    let credential = text_of(credential).ok_or_else(|| Rejection::invalid("SecurityCredential"))?;
    Ok((name.into_owned(), credential.into_owned()))
}

/// `Remarks`: required, `min..=100` characters.
pub(crate) fn remarks(field: &Option<Scalar>, min: usize) -> Result<(), Rejection> {
    text_of(field)
        .filter(|t| (min..=100).contains(&t.chars().count()))
        .map(|_| ())
        .ok_or_else(|| Rejection::invalid("Remarks"))
}

/// An optional text field of at most 100 characters (`Occasion`, status `Remarks`).
pub(crate) fn optional_text(field: &Option<Scalar>, name: &'static str) -> Result<(), Rejection> {
    match text_of(field) {
        Some(t) if t.chars().count() > 100 => Err(Rejection::invalid(name)),
        _ => Ok(()),
    }
}

/// `YYYYMMDDHHmmss` (EAT) of `ms`.
pub(crate) fn timestamp(ms: i64) -> String {
    ids::format_eat(ms, "%Y%m%d%H%M%S")
}
