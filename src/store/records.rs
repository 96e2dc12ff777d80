//! What the store keeps and hands back.

use sqlx::FromRow;

/// A request state as stored.
#[derive(Clone, Debug, FromRow)]
pub struct RequestStateRow {
    pub server_correlation_id: String,
    pub client_id: String,
    pub client_correlation_id: Option<String>,
    pub object_type: String,
    pub object_reference: Option<String>,
    pub status: String,
    pub notification_method: String,
    pub callback_url: Option<String>,
    /// The GSMA error object (JSON) of a failed request.
    pub error: Option<String>,
}

/// What a client reads of a transaction: whose it is, and its GSMA representation.
#[derive(Clone, Debug, FromRow)]
pub struct TransactionBody {
    pub client_id: String,
    pub body: String,
}

/// A transaction as stored: the GSMA representation in `body`, and the engine's bookkeeping.
#[derive(Clone, Debug, FromRow)]
pub struct TransactionRow {
    pub transaction_reference: String,
    pub server_correlation_id: String,
    pub client_id: String,
    pub transaction_type: String,
    pub status: String,
    pub provider: String,
    pub dispatch_state: String,
    pub dispatch_attempts: i64,
    pub provider_reference: Option<String>,
    /// The operator's references (JSON of `ProviderRefs`).
    pub provider_refs: Option<String>,
    pub check_attempts: i64,
    /// When the transaction's dispatch became uncertain (ms since the epoch).
    pub in_doubt_since: Option<i64>,
    /// The GSMA transaction (JSON).
    pub body: String,
    /// Where the client wants its callback, from the request state.
    pub callback_url: Option<String>,
    /// The client's `X-CorrelationID`, from the request state.
    pub client_correlation_id: Option<String>,
    /// The `X-Request-ID` of the request that created it, from the request state.
    pub request_id: Option<String>,
}

/// A client callback still owed.
#[derive(Clone, Debug, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub server_correlation_id: String,
    pub url: String,
    pub correlation_id: Option<String>,
    pub body: String,
    pub attempts: i64,
    /// The client the callback belongs to (its key signs it); `None` for callbacks queued before clients.
    pub client_id: Option<String>,
    /// The `X-Request-ID` of the request that caused it.
    pub request_id: Option<String>,
}

/// A client callback's delivery log, as the outbox keeps it (without its body).
#[derive(Clone, Debug, FromRow)]
pub struct OutboxLogRow {
    pub id: i64,
    pub server_correlation_id: String,
    pub url: String,
    /// `pending`, `delivered` or `abandoned`.
    pub state: String,
    pub attempts: i64,
    /// The HTTP status of the latest attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
    /// ms since the epoch.
    pub created_at: i64,
    /// ms since the epoch.
    pub delivered_at: Option<i64>,
}

/// A new request state.
#[derive(Clone, Debug)]
pub struct NewRequestState {
    pub server_correlation_id: String,
    pub client_id: String,
    pub client_correlation_id: Option<String>,
    pub object_type: &'static str,
    pub object_reference: String,
    pub notification_method: &'static str,
    pub callback_url: Option<String>,
    pub now_ms: i64,
    /// The `X-Request-ID` of the request that created it ([`crate::observe::current_request_id`]).
    pub request_id: Option<String>,
}

/// A new pending transaction.
#[derive(Clone, Debug)]
pub struct NewTransaction {
    pub transaction_reference: String,
    pub transaction_type: &'static str,
    pub provider: String,
    pub body: String,
    /// The account keys of the two sides (see [`account_key`](crate::store::account_key)).
    pub debit_account: Option<String>,
    pub credit_account: Option<String>,
    /// The currency code (the market) and the amount (a decimal string), kept beside the body for reports.
    pub currency: String,
    pub amount: String,
}

impl NewTransaction {
    /// The row of `transaction` (serialised as `body`), routed to `provider`.
    pub fn of(transaction: &mmapi_core::model::Transaction, provider: &str, body: String) -> Self {
        let side = |parties: &[mmapi_core::model::Party]| {
            parties.first().map(|p| crate::store::account_key(&p.value))
        };
        Self {
            transaction_reference: transaction.transaction_reference.clone(),
            transaction_type: transaction.transaction_type.as_str(),
            provider: provider.to_owned(),
            debit_account: side(&transaction.debit_party),
            credit_account: side(&transaction.credit_party),
            currency: transaction.currency.code().to_owned(),
            amount: transaction.amount.to_string(),
            body,
        }
    }
}

/// A completed payment the gateway did not start (an operator's incoming-payment notification).
#[derive(Clone, Debug)]
pub struct NewIncoming {
    pub request_state: NewRequestState,
    pub transaction: NewTransaction,
    pub provider_reference: String,
    /// The notification owed for it, if the business wants one.
    pub callback: Option<NewCallback>,
}

/// Filters of an account's transaction list.
#[derive(Clone, Debug, Default)]
pub struct AccountQuery {
    pub client_id: String,
    pub account: String,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub status: Option<String>,
    pub transaction_type: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// The answer to [`Store::incoming`](super::Store::incoming): whether it was new, and its callback's outbox id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IncomingResult {
    pub recorded: bool,
    pub callback_id: Option<i64>,
}

/// The answer to [`Store::accept`](super::Store::accept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptResult {
    /// Stored and committed.
    Accepted,
    /// The client already used this correlation id; nothing was stored.
    Duplicate {
        /// The request state the earlier request created.
        server_correlation_id: String,
        object_type: String,
        object_reference: Option<String>,
    },
}

/// A transaction becoming final.
#[derive(Clone, Debug)]
pub struct Finalisation {
    pub transaction_reference: String,
    pub server_correlation_id: String,
    /// `completed` or `failed`.
    pub status: &'static str,
    /// The final GSMA transaction (JSON).
    pub body: String,
    /// The GSMA error object (JSON) when failed.
    pub error: Option<String>,
    /// The operator's references, when they were learnt only now.
    pub provider_refs: Option<(String, String)>,
    /// The client callback to queue, if the client asked for one.
    pub callback: Option<NewCallback>,
    /// A completed reversal's original: its reference and its body as `reversed` (changed only if it is
    /// still `completed`).
    pub reverses: Option<(String, String)>,
    /// What the story of the transaction records of its result (JSON): the mapped GSMA error beside the
    /// operator's own result code, or the receipt.
    pub outcome: Option<String>,
    pub now_ms: i64,
}

/// A client callback to queue.
#[derive(Clone, Debug)]
pub struct NewCallback {
    /// Until when the queuing instance holds it (it delivers it at once); others deliver it after that.
    pub claimed_until: i64,
    pub url: String,
    pub correlation_id: Option<String>,
    pub body: String,
    /// The client the callback belongs to: its signing key signs the delivery.
    pub client_id: Option<String>,
    /// The `X-Request-ID` of the request that caused it, sent along.
    pub request_id: Option<String>,
}

/// The answer to [`Store::finalise`](super::Store::finalise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinaliseResult {
    /// The queued callback's outbox id.
    pub callback_id: Option<i64>,
}

/// Bookkeeping changes.
#[derive(Clone, Debug)]
pub enum Change {
    /// About to call the operator: from now on a stop leaves the transaction in doubt. The claim holds until
    /// `claimed_until`; a transaction still `sending` then is in doubt.
    Sending {
        transaction_reference: String,
        now_ms: i64,
        claimed_until: i64,
    },
    /// The operator acknowledged it with references; check its status at `next_check_at`.
    Acknowledged {
        transaction_reference: String,
        provider_reference: String,
        provider_refs: String,
        next_check_at: i64,
        now_ms: i64,
    },
    /// The operator could not be reached; nothing was sent. Try again at `next_check_at`.
    RetryDispatch {
        transaction_reference: String,
        next_check_at: i64,
        now_ms: i64,
    },
    /// Sent, but the answer is unknown: settle it by status query from `next_check_at`.
    InDoubt {
        transaction_reference: String,
        next_check_at: i64,
        now_ms: i64,
    },
    /// Sent again while in doubt, under its idempotency key (see `Provider::resend`); `answer` (JSON) says what
    /// the operator made of it. A step of its story; the state changes, if at all, by the change that follows.
    Resent {
        transaction_reference: String,
        answer: String,
        now_ms: i64,
    },
    /// A status check found it still pending; look again at `next_check_at`.
    CheckLater {
        transaction_reference: String,
        next_check_at: i64,
        now_ms: i64,
    },
    /// Its result never came and status queries did not settle it by the give-up time: it waits for a person
    /// (`dispatch_state` `review`), stays `pending`, and is no longer queried. A late operator result still
    /// settles it.
    Review {
        transaction_reference: String,
        now_ms: i64,
    },
    /// Nothing to change: answered once every write queued before it has committed (a barrier, used at
    /// shutdown).
    Flush,
    /// Folds up to `limit` of the account-count deltas that PostgreSQL's writers leave into the accounts' counts
    /// (migration `0015_account_counts`); returns the counts changed. SQLite keeps its counts directly and has
    /// none to fold.
    FoldAccountCounts { limit: i64 },
    /// A client callback was delivered.
    CallbackDelivered { id: i64, status: u16, now_ms: i64 },
    /// A client callback attempt failed; try again at `next_attempt_at`, or give up.
    CallbackFailed {
        id: i64,
        status: Option<u16>,
        error: String,
        next_attempt_at: i64,
        give_up: bool,
        now_ms: i64,
    },
    /// Deliver a client callback again (CLI `callbacks redeliver`): back to `pending`, due at `now_ms`, with a
    /// fresh attempt budget. The latest status and error stay until the next attempt.
    Redeliver { id: i64, now_ms: i64 },
    /// Registers an API client.
    PutClient(ClientRow),
    /// Starts a dashboard session (and forgets the expired ones).
    PutSession(SessionRow),
    /// Ends a dashboard session.
    DeleteSession { session_digest: String },
    /// Replaces a client's credentials (`clients rotate`); its access tokens stop working.
    RotateClient {
        client_id: String,
        secret_hash: String,
        api_key_digest: String,
        signing_key: String,
        now_ms: i64,
    },
    /// Disables or re-enables a client; a disabled client's access tokens are removed.
    SetClientDisabled {
        client_id: String,
        disabled: bool,
        now_ms: i64,
    },
    /// Records an OAuth access token (by its digest) and removes the expired ones.
    PutAccessToken {
        token_digest: String,
        client_id: String,
        expires_at: i64,
        now_ms: i64,
    },
    /// Claims the idempotency key and stores a request state with its pending debit mandate; 0 rows when the
    /// correlation id was used already.
    AcceptMandate {
        request_state: NewRequestState,
        mandate: super::mandates::NewMandate,
    },
    /// Takes over the creation of a mandate pending and untouched since before `cutoff_ms`; 0 rows when it is
    /// no longer pending or was claimed since.
    ClaimMandate {
        mandate_reference: String,
        cutoff_ms: i64,
        now_ms: i64,
    },
    /// A debit mandate's creation ended (see [`super::mandates::MandateFinalisation`]).
    FinaliseMandate(super::mandates::MandateFinalisation),
    /// What the operator now says of a created debit mandate: `active` or `inactive`.
    UpdateMandate {
        mandate_reference: String,
        status: &'static str,
        body: String,
        now_ms: i64,
    },
    /// Claims the idempotency key and stores a completed request state with its quotation; 0 rows when the
    /// correlation id was used already.
    PutQuotation {
        request_state: NewRequestState,
        quotation: super::quotations::NewQuotation,
    },
    /// Claims the client's idempotency key for a request forwarded to a GSMA-speaking operator and records it;
    /// 0 rows when the correlation id was used already.
    ClaimForward(super::forwarded::NewForward),
    /// What the operator answered a forwarded request (or told of it later).
    ForwardAnswered(super::forwarded::ForwardAnswer),
    /// The operator refused a forwarded request outright: its idempotency key is free again.
    ReleaseForward { operator_correlation_id: String },
    /// The operator's callback for a forwarded request: what it says was created is recorded, and the callback
    /// queued for the client; 1 row.
    RelayForwarded(super::forwarded::ForwardRelay),
    /// Takes the due check of a forwarded request's outcome (still due at `seen_check_at`) and sets the next one;
    /// 0 rows when another instance took it or the callback came.
    PostponeRelay {
        operator_correlation_id: String,
        seen_check_at: i64,
        next_check_at: i64,
    },
    /// Stores bills a biller issued, all or none: as many rows as bills, or 0 when a bill reference or a
    /// paybill's account reference is already used.
    PutBills(Vec<super::bills::NewBill>),
    /// Takes over sending the invoice of a bill pending and untouched since before `cutoff_ms`; 0 rows when it is
    /// no longer pending or was taken over since.
    ClaimInvoice {
        bill_reference: String,
        cutoff_ms: i64,
        now_ms: i64,
    },
    /// A biller cancels its bill (not yet paid): 1 row, or 0 when it is not the client's, is paid or was
    /// cancelled already.
    CancelBill {
        client_id: String,
        bill_reference: String,
        now_ms: i64,
    },
    /// What the operator's invoicing service did with these bills: `sent`, `failed` or `none`.
    SetInvoiceStatus {
        bill_references: Vec<String>,
        status: &'static str,
        now_ms: i64,
    },
    /// A change to a bulk disbursement (see [`super::batches::BatchChange`]).
    Batch(super::batches::BatchChange),
    /// A client cancels its transaction before it was sent (see [`Cancellation`]): 1 row, or 0 when it is not
    /// the client's, is final, or was claimed for dispatch first.
    Cancel(Cancellation),
    /// Start-up recovery (see [`Store::recover_after_restart`](super::Store::recover_after_restart)).
    RecoverAfterRestart {
        now_ms: i64,
        /// Whether this gateway is the only one using the database.
        sole_instance: bool,
    },
}

/// A client's cancellation of its transaction not yet sent to the operator. Applied only while the transaction
/// is `pending` and `queued` (never claimed for dispatch) and belongs to `client_id`, as one conditional change in
/// the writer, so a dispatch and a cancellation never both happen.
#[derive(Clone, Debug)]
pub struct Cancellation {
    pub transaction_reference: String,
    pub client_id: String,
    pub server_correlation_id: String,
    /// The transaction as it reads once cancelled (`failed`).
    pub body: String,
    /// The GSMA error object (JSON) the request state carries.
    pub error: String,
    /// The client callback to queue, if the client asked for one.
    pub callback: Option<NewCallback>,
    pub now_ms: i64,
}

/// An API client as stored: credentials only as hashes and digests.
#[derive(Clone, Debug, FromRow)]
pub struct ClientRow {
    /// The consumer key.
    pub client_id: String,
    pub name: String,
    /// argon2id PHC string of the consumer secret.
    pub secret_hash: String,
    /// SHA-256 (hex) of the API key.
    pub api_key_digest: String,
    /// Hex HMAC key for signing callbacks (derived from the secret).
    pub signing_key: String,
    /// `client` or `operator`.
    pub role: String,
    /// Comma-separated provider names the client may use; all when `None`.
    pub allowed_providers: Option<String>,
    /// Comma-separated hosts or networks the client's callbacks may reach although they are private.
    pub callback_hosts: Option<String>,
    /// Comma-separated account keys granted to the client.
    pub accounts: Option<String>,
    /// Requests a second; the gateway's default when `None`.
    pub rate_limit_per_sec: Option<i64>,
    /// 1 when disabled.
    pub disabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A dashboard session as stored: the cookie only as its SHA-256 digest.
#[derive(Clone, Debug, FromRow)]
pub struct SessionRow {
    pub session_digest: String,
    pub client_id: String,
    /// The token every form of the session carries.
    pub csrf_token: String,
    /// ms since the epoch.
    pub expires_at: i64,
    /// ms since the epoch.
    pub created_at: i64,
}

/// One step of a transaction's story (`transaction_events`).
#[derive(Clone, Debug, FromRow)]
pub struct EventRow {
    /// ms since the epoch.
    pub at_ms: i64,
    /// `accepted`, `dispatched`, `acknowledged`, `completed`, `failed`, `callback`, …
    pub kind: String,
    /// JSON: what the step learnt (operator references, result codes, a callback's HTTP status).
    pub detail: Option<String>,
}
