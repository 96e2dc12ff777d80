//! The contract between the gateway and an operator backend.
//!
//! A provider turns harmonised transactions into operator calls and operator results back into harmonised
//! outcomes. Nothing outside a provider crate knows its wire format.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::currency::Currency;
use crate::error::GsmaError;
use crate::model::{Transaction, TransactionRequest, TransactionType};
use crate::time::Timestamp;

/// What a provider can serve.
#[derive(Clone, Debug, Default)]
pub struct Capabilities {
    /// Transaction types `submit` accepts.
    pub transaction_types: Vec<TransactionType>,
    /// Currencies the provider's accounts hold.
    pub currencies: Vec<Currency>,
    /// Account identifier types (`walletid`, …) that choose this provider: when not empty, it serves only
    /// requests naming an account by one of them, and takes those before the currency's provider.
    pub identifier_types: Vec<String>,
    /// The operator prices transfers itself (GSMA quotations): quotations naming its accounts are its, and a
    /// transaction citing one is checked by it, not by the gateway.
    pub quotations: bool,
    /// The operator keeps its accounts' statements: `GET …/transactions` and `…/statemententries` of an account
    /// it is chosen for by identifier type are read from it ([`Provider::forward`]), not from the gateway's
    /// records of what went through it.
    pub statements: bool,
    /// The operator presents bills to its customers: a bill operation on an account it is chosen for that the
    /// gateway's own bills do not answer is the operator's ([`Provider::forward`]).
    pub bills: bool,
}

impl Capabilities {
    /// Whether the provider can carry a transaction of this type.
    pub fn supports(&self, transaction_type: TransactionType) -> bool {
        self.transaction_types.contains(&transaction_type)
    }

    /// Whether the provider is chosen by identifier type and one of `parties` is of one of its types.
    pub fn chosen_by(&self, parties: &[crate::model::Party]) -> bool {
        parties.iter().any(|p| {
            self.identifier_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&p.key))
        })
    }
}

/// The operator's references for a transaction. `reference` is the key its asynchronous result is matched by
/// (e.g. Daraja's `CheckoutRequestID`); `extra` keeps the others (e.g. `MerchantRequestID`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRefs {
    pub reference: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// A transaction that completed at the operator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    /// The operator's receipt, e.g. an M-Pesa receipt number.
    pub receipt: Option<String>,
    /// When the operator completed it, if it says.
    pub completed_at: Option<Timestamp>,
}

/// A transaction the operator refused or that failed there.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The harmonised error the client sees.
    pub error: GsmaError,
    /// The operator's own result code, kept for operators of the gateway.
    pub provider_code: String,
    /// The operator's own description.
    pub provider_description: String,
}

/// What became of a transaction at the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Not final yet.
    Pending,
    /// Money moved.
    Completed(Completion),
    /// No money moved.
    Failed(Failure),
}

/// The answer to `submit`: the operator's references, and the outcome when the operator answered synchronously.
#[derive(Clone, Debug, PartialEq)]
pub struct Submitted {
    pub refs: ProviderRefs,
    pub outcome: Outcome,
}

/// Why an operator call did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The operator refused the request and nothing happened: the transaction fails with this error.
    #[error("the operator refused the request ({}): {}", .0.provider_code, .0.provider_description)]
    Rejected(Failure),
    /// The operator could not be reached or said it did not process the request: trying again is safe.
    #[error("the operator is unavailable: {0}")]
    Unavailable(String),
    /// The request may or may not have been processed (e.g. a timeout after sending): never send it again
    /// blindly; settle it by a status query.
    #[error("the operator's answer is unknown: {0}")]
    InDoubt(String),
    /// The gateway's own configuration for this operator is wrong (credentials, certificate, shortcode).
    #[error("provider configuration error: {0}")]
    Configuration(String),
    /// The provider cannot do this.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// An asynchronous result the operator sent to one of the provider's callback routes.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderEvent {
    /// The operator reference the result is for ([`ProviderRefs::reference`]).
    pub reference: String,
    /// Our transaction reference, when the provider embedded it in its callback URL. The engine only uses it
    /// for a transaction whose operator reference was never recorded (the gateway stopped mid-dispatch).
    pub transaction_hint: Option<String>,
    /// The result.
    pub outcome: Outcome,
}

/// What the engine did with a provider event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReceipt {
    /// The transaction became final.
    Applied,
    /// The transaction was already final; the event changed nothing (a duplicate callback).
    AlreadyFinal,
    /// No transaction has that reference; the event was ignored.
    Unknown,
    /// The event said the transaction is still pending; nothing changed.
    NotFinal,
}

/// The engine could not record an event; the operator should deliver it again.
#[derive(Debug, thiserror::Error)]
#[error("the event could not be recorded: {0}")]
pub struct EventError(pub String);

/// A payment the operator reports that the gateway did not start (e.g. a customer paying a paybill from the
/// phone: a Daraja C2B confirmation). It becomes a completed transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct IncomingPayment {
    /// The operator's unique reference (e.g. the M-Pesa `TransID`): a repeat of it is ignored.
    pub provider_reference: String,
    pub transaction_type: TransactionType,
    pub amount: crate::amount::Amount,
    pub currency: Currency,
    pub debit_party: Vec<crate::model::Party>,
    pub credit_party: Vec<crate::model::Party>,
    pub receipt: Option<String>,
    pub completed_at: Option<Timestamp>,
    /// Where the business wants each such payment pushed (same guarantees as client callbacks).
    pub notification_url: Option<String>,
    /// What ties the payment to a debit mandate whose payments the operator takes itself: a mandate whose
    /// references hold the same value under [`crate::mandate::PAYMENT_KEY`] (e.g. a Ratiba standing order's
    /// shortcode and account reference).
    pub mandate_key: Option<String>,
}

/// A bill sent to the operator's invoicing service (Daraja Bill Manager), which sends it to the customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Invoice {
    /// The biller's unique reference of the invoice (the gateway's bill reference).
    pub external_reference: String,
    /// The paybill it is paid into.
    pub paybill: String,
    /// What the customer types as the account number.
    pub account_reference: String,
    pub billed_full_name: String,
    /// The customer's phone number.
    pub billed_phone_number: String,
    /// e.g. `December 2026`.
    pub billed_period: String,
    pub invoice_name: String,
    /// `YYYY-MM-DD`, if the bill has a due date.
    pub due_date: Option<String>,
    pub amount: crate::amount::Amount,
}

/// Where providers hand the results that operators post to them. Returns once the result is durably recorded.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Records an operator result for a transaction of this provider.
    async fn deliver(
        &self,
        provider: &str,
        event: ProviderEvent,
    ) -> Result<EventReceipt, EventError>;

    /// Whether a payment the operator asks about before completing it (e.g. a Daraja C2B validation) is
    /// acceptable: `Err` with why it should be refused. The default accepts every payment.
    async fn validate_incoming(
        &self,
        provider: &str,
        payment: &IncomingPayment,
    ) -> Result<(), String> {
        let _ = (provider, payment);
        Ok(())
    }

    /// Records a payment the operator reports that the gateway did not start.
    async fn incoming(
        &self,
        provider: &str,
        payment: IncomingPayment,
    ) -> Result<EventReceipt, EventError>;

    /// Relays the operator's callback for a forwarded request (the one sent under `operator_correlation_id`) to
    /// the client that sent it: queued in the client's callback outbox, signed and redelivered like the
    /// gateway's own. [`EventReceipt::Unknown`] when no forwarded request of this provider has that id (the
    /// default: the sink relays nothing).
    async fn relay_forwarded(
        &self,
        provider: &str,
        operator_correlation_id: &str,
        body: serde_json::Value,
    ) -> Result<EventReceipt, EventError> {
        let _ = (provider, operator_correlation_id, body);
        Ok(EventReceipt::Unknown)
    }
}

/// A transaction to check before it is accepted.
#[derive(Clone, Copy, Debug)]
pub struct CheckRequest<'a> {
    pub transaction_type: TransactionType,
    pub request: &'a TransactionRequest,
    /// The transaction a reversal or refund refers to.
    pub original: Option<&'a Transaction>,
}

/// What a provider needs besides the transaction to send it.
#[derive(Clone, Debug, Default)]
pub struct DispatchContext {
    /// The transaction a reversal or refund refers to, with the operator's references for it.
    pub original: Option<(Transaction, ProviderRefs)>,
    /// The debit mandate a payment is taken under (its `debitParty` is `mandatereference`).
    pub mandate: Option<crate::mandate::MandateContext>,
}

/// An operator account, named by GSMA identifiers (e.g. `organisationid` = `600000`).
#[derive(Clone, Copy, Debug)]
pub struct AccountRef<'a> {
    pub identifiers: &'a [crate::model::Party],
}

/// A GSMA request the gateway does not model itself (authorisation codes, account links, account creation and
/// KYC), to be sent as it is to an operator that speaks GSMA.
#[derive(Clone, Copy, Debug)]
pub struct ForwardRequest<'a> {
    /// `GET`, `POST` or `PATCH`.
    pub method: &'a str,
    /// The path below the API root, percent-encoded as received (e.g. `/accounts/walletid/1/links`).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The client's `X-CorrelationID`.
    pub correlation_id: Option<&'a str>,
    /// The client's `X-Callback-URL`: the client wants the outcome pushed. The operator is given the provider's
    /// own callback route for the request instead (so that the gateway relays the outcome through its outbox,
    /// [`EventSink::relay_forwarded`]), never the client's URL.
    pub callback_url: Option<&'a str>,
    pub body: Option<&'a [u8]>,
}

/// The operator's answer to a forwarded request, passed to the client as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardAnswer {
    pub status: u16,
    pub body: serde_json::Value,
    /// A list's `X-Records-Available-Count` and `X-Records-Returned-Count`, when the operator sent them.
    pub records: Option<RecordCounts>,
}

/// The GSMA record-count headers of a paged list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordCounts {
    /// `X-Records-Available-Count`: records that match.
    pub available: u64,
    /// `X-Records-Returned-Count`: records in this page.
    pub returned: u64,
}

/// An operator backend.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A stable name, stored with each transaction it serves (e.g. `daraja`).
    fn name(&self) -> &str;

    /// What it can serve.
    fn capabilities(&self) -> Capabilities;

    /// Checks a request against the operator's own rules (number formats, amount limits, known merchant
    /// accounts) before the gateway accepts it, so that such mistakes are a synchronous 400, not a failure later.
    fn check(&self, request: &CheckRequest<'_>) -> Result<(), GsmaError>;

    /// Starts a transaction at the operator.
    async fn submit(
        &self,
        transaction: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError>;

    /// Sends a transaction again that was left in doubt before the operator acknowledged it (a timeout, or the
    /// gateway stopped mid-call) and that the operator's status query does not know, under the same idempotency
    /// key as the first request, where the operator refuses a repeat of a key it has taken (M-Pesa OpenAPI:
    /// `input_ThirdPartyConversationID`). So a request that never arrived is carried out now, and one that did
    /// is refused as a duplicate rather than carried out twice. A refusal (`Rejected`, the duplicate among them)
    /// therefore settles nothing: the first request may have been carried out, and its result, a status query
    /// or a person settles it. The default, and where a late resend would do harm (a payment prompt on a
    /// customer's phone long after they paid at a till): `Unsupported`, and the transaction waits for its
    /// result, a status query or a person.
    async fn resend(
        &self,
        transaction: &Transaction,
        context: &DispatchContext,
    ) -> Result<Submitted, ProviderError> {
        let _ = (transaction, context);
        Err(ProviderError::Unsupported(
            "this operator takes no idempotency key to resend under".into(),
        ))
    }

    /// Asks the operator what became of a transaction (used by reconciliation).
    async fn status(
        &self,
        transaction: &Transaction,
        refs: &ProviderRefs,
    ) -> Result<Outcome, ProviderError>;

    /// The name of the holder of an account (e.g. a customer's MSISDN), where the operator can tell it.
    async fn account_name(
        &self,
        account: AccountRef<'_>,
    ) -> Result<crate::model::AccountName, ProviderError> {
        let _ = account;
        Err(ProviderError::Unsupported(
            "this operator offers no account-name lookup".into(),
        ))
    }

    /// Checks a debit mandate against the operator's rules before the gateway accepts it. The default: this
    /// operator offers no debit mandates (400 businessRule/transactionTypeError).
    fn check_mandate(
        &self,
        payer: &[crate::model::Party],
        request: &crate::mandate::DebitMandateRequest,
    ) -> Result<(), GsmaError> {
        let _ = (payer, request);
        Err(GsmaError::transaction_type(
            "The operator for this currency offers no debit mandates through this gateway",
        ))
    }

    /// Creates a debit mandate at the operator; the answer is the operator's references of the active mandate
    /// (a refusal is [`ProviderError::Rejected`]).
    async fn create_mandate(
        &self,
        order: &crate::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        let _ = order;
        Err(ProviderError::Unsupported(
            "this operator offers no debit mandates".into(),
        ))
    }

    /// Finishes the creation of a mandate whose first attempt may or may not have reached the operator (the
    /// gateway stopped while it was under way): the operator's references if it has the mandate active, else
    /// the outcome of creating it now. The default creates it again, which suits an operator that refuses a
    /// repeat of the same mandate.
    async fn resume_mandate(
        &self,
        order: &crate::mandate::MandateOrder<'_>,
    ) -> Result<ProviderRefs, ProviderError> {
        self.create_mandate(order).await
    }

    /// Asks the operator whether a mandate it created is still active.
    async fn query_mandate(
        &self,
        mandate: &crate::mandate::MandateContext,
    ) -> Result<crate::mandate::MandateState, ProviderError> {
        let _ = mandate;
        Err(ProviderError::Unsupported(
            "this operator offers no debit mandates".into(),
        ))
    }

    /// Cancels a mandate the operator created, so that no further payment can be taken under it. A mandate the
    /// operator no longer has counts as cancelled.
    async fn cancel_mandate(
        &self,
        mandate: &crate::mandate::MandateContext,
    ) -> Result<(), ProviderError> {
        let _ = mandate;
        Err(ProviderError::Unsupported(
            "this operator offers no debit mandates".into(),
        ))
    }

    /// Sends bills to the operator's invoicing service (at most 1000 at once), all of them to one paybill. The
    /// default: this operator has none ([`ProviderError::Unsupported`]); the bills are still paid by their
    /// account reference.
    async fn send_invoices(&self, invoices: &[Invoice]) -> Result<(), ProviderError> {
        let _ = invoices;
        Err(ProviderError::Unsupported(
            "this operator offers no invoicing".into(),
        ))
    }

    /// Cancels invoices sent with [`Provider::send_invoices`], by their external references. The default: this
    /// operator has no invoicing ([`ProviderError::Unsupported`]).
    async fn cancel_invoices(&self, external_references: &[String]) -> Result<(), ProviderError> {
        let _ = external_references;
        Err(ProviderError::Unsupported(
            "this operator offers no invoicing".into(),
        ))
    }

    /// Sends a request the gateway does not model itself to the operator, as it is (an operator that speaks GSMA).
    /// The default: this operator cannot take one ([`ProviderError::Unsupported`]).
    async fn forward(&self, request: &ForwardRequest<'_>) -> Result<ForwardAnswer, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported(
            "this operator does not speak GSMA".into(),
        ))
    }

    /// The completed incoming payments the operator lists as made between `from` and `to` (Daraja: Pull
    /// Transactions), so that those whose notification never came are filled in; a payment already recorded is
    /// ignored by its operator reference. `Unsupported` where the operator keeps no such list.
    async fn pull_incoming(
        &self,
        from: crate::Timestamp,
        to: crate::Timestamp,
    ) -> Result<Vec<IncomingPayment>, ProviderError> {
        let _ = (from, to);
        Err(ProviderError::Unsupported(
            "this operator lists no incoming payments".into(),
        ))
    }

    /// Work to do once at start-up, e.g. registering the gateway's URLs with the operator. The gateway retries
    /// it with back-off while it fails.
    async fn start(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// The balance of one of the operator accounts the gateway holds (e.g. a paybill), where the operator can
    /// tell it.
    async fn balance(
        &self,
        account: AccountRef<'_>,
    ) -> Result<crate::model::Balance, ProviderError> {
        let _ = account;
        Err(ProviderError::Unsupported(
            "this operator offers no balance enquiry".into(),
        ))
    }

    /// Whether each currency is its own failure domain (one circuit breaker per currency, as the M-Pesa
    /// OpenAPI's markets are separate endpoints), or the operator is one endpoint (one breaker). Default: per
    /// currency.
    fn breaker_per_currency(&self) -> bool {
        true
    }

    /// How long to wait for an asynchronous result before asking [`Provider::status`].
    fn result_deadline(&self, transaction_type: TransactionType) -> Duration;

    /// For a request that may have been sent but was never acknowledged (the gateway stopped mid-call, so no
    /// operator reference exists to query): how long after which, with no result having arrived, no result will
    /// come. The gateway then leaves it for manual review (the operator most likely never took it, but its result
    /// may have been lost). `None`: wait for the general give-up time.
    fn unacknowledged_expiry(&self, transaction_type: TransactionType) -> Option<Duration>;

    /// The routes where the operator posts asynchronous results, mounted by the gateway under
    /// `/callbacks/{name}`. They hand each result to `sink`.
    fn callback_router(&self, sink: Arc<dyn EventSink>) -> Option<axum::Router>;
}
