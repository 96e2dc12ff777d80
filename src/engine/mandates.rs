//! Debit mandates: accept (202 + request state) → create at the operator → final (callback or polling); read
//! back with the operator's current word on it; payments taken under one.

use std::sync::Arc;
use std::time::Duration;

use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::mandate::{
    DebitMandate, DebitMandateRequest, MandateContext, MandateOrder, MandateState, MandateStatus,
    MANDATE_REFERENCE_KEY, PAYMENT_KEY,
};
use mmapi_core::model::{
    party_value, NotificationMethod, Party, RequestState, RequestStatus, Transaction,
    TransactionRequest, TransactionType,
};
use mmapi_core::provider::{CheckRequest, IncomingPayment, Provider, ProviderError, ProviderRefs};
use mmapi_core::{GsmaError, Timestamp};
use uuid::Uuid;

use super::{link_for, notification_method_str, Engine, EngineError};
use crate::store::{
    account_key, Change, MandateFinalisation, MandateRow, NewCallback, NewMandate, NewRequestState,
    StoreError,
};

/// The request state's `objectType` of a mandate creation.
pub const OBJECT_TYPE: &str = "debitMandate";

/// A debit mandate as a client asked for it: the payer is the account in the path.
#[derive(Debug)]
pub struct NewMandateRequest {
    pub client_id: String,
    /// The providers the client may use; all when `None`.
    pub allowed_providers: Option<Vec<String>>,
    pub correlation_id: Option<String>,
    pub callback_url: Option<String>,
    pub payer: Vec<Party>,
    pub request: DebitMandateRequest,
}

/// Attempts at creating a mandate while the operator is unreachable.
const CREATE_ATTEMPTS: u32 = 3;

fn no_mandate_authority(description: impl Into<String>) -> EngineError {
    EngineError::Rejected(GsmaError::new(
        ErrorCategory::BusinessRule,
        ErrorCode::NoMandateAuthority,
        description,
    ))
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl Engine {
    /// Validates, routes and durably accepts a debit mandate, then creates it at the operator in the background.
    /// The returned request state is committed before this returns.
    pub async fn accept_mandate(
        self: &Arc<Self>,
        new: NewMandateRequest,
    ) -> Result<RequestState, EngineError> {
        let currency = new
            .request
            .currency
            .ok_or_else(|| EngineError::Rejected(GsmaError::mandatory("currency")))?;
        let parties: Vec<Party> = new
            .payer
            .iter()
            .chain(new.request.payee.iter().flatten())
            .cloned()
            .collect();
        let provider = self
            .router
            .for_parties(currency.code(), &parties)
            .cloned()
            .ok_or_else(|| {
                EngineError::Rejected(
                    GsmaError::new(
                        ErrorCategory::Validation,
                        ErrorCode::CurrencyNotSupported,
                        format!("No operator behind this gateway moves {currency}"),
                    )
                    .with_param("field", "currency"),
                )
            })?;
        if let Some(allowed) = &new.allowed_providers {
            if !allowed.iter().any(|p| p == provider.name()) {
                return Err(EngineError::Rejected(GsmaError::new(
                    ErrorCategory::Authorisation,
                    ErrorCode::RequestingPartyAuthorisationError,
                    "This client is not permitted to use the operator this mandate routes to",
                )));
            }
        }
        provider
            .check_mandate(&new.payer, &new.request)
            .map_err(EngineError::Rejected)?;

        let now = Timestamp::now();
        let server_correlation_id = Uuid::now_v7();
        let reference = Uuid::now_v7().simple().to_string();
        let mandate = DebitMandate::pending(reference.clone(), new.request.clone(), now);
        let body = serde_json::to_string(&mandate).map_err(|e| corrupt("a mandate", e))?;
        let payer = serde_json::to_string(&new.payer).map_err(|e| corrupt("a payer", e))?;
        let notification_method = if new.callback_url.is_some() {
            NotificationMethod::Callback
        } else {
            NotificationMethod::Polling
        };
        let accepted = self
            .store
            .apply(Change::AcceptMandate {
                request_state: NewRequestState {
                    server_correlation_id: server_correlation_id.to_string(),
                    client_id: new.client_id.clone(),
                    client_correlation_id: new.correlation_id.clone(),
                    object_type: OBJECT_TYPE,
                    object_reference: reference.clone(),
                    notification_method: notification_method_str(notification_method),
                    callback_url: new.callback_url.clone(),
                    now_ms: now.millis(),
                    request_id: crate::observe::current_request_id(),
                },
                mandate: NewMandate {
                    mandate_reference: reference.clone(),
                    provider: provider.name().to_owned(),
                    payer_account: new
                        .payer
                        .first()
                        .map(|p| account_key(&p.value))
                        .unwrap_or_default(),
                    payer,
                    body,
                },
            })
            .await?;
        if accepted == 0 {
            let link = match &new.correlation_id {
                Some(id) => match self
                    .store
                    .request_state_by_correlation(&new.client_id, id)
                    .await?
                {
                    Some(row) => match row.object_reference {
                        Some(r) => Some(self.link_to(&row.object_type, &r).await?),
                        None => None,
                    },
                    None => None,
                },
                None => None,
            };
            return Err(EngineError::Duplicate { link });
        }
        let engine = Arc::clone(self);
        let task_reference = reference.clone();
        // While this task creates it, the reconciler of this instance leaves it alone.
        self.claim(&reference);
        tokio::spawn(async move {
            let job = CreationJob {
                reference: task_reference,
                server_correlation_id: server_correlation_id.to_string(),
                client_id: new.client_id,
                callback_url: new.callback_url,
                correlation_id: new.correlation_id,
                payer: new.payer,
                request: new.request,
                mandate,
            };
            engine.create_at_operator(provider, job, false).await;
        });
        Ok(RequestState {
            server_correlation_id,
            object_reference: Some(reference),
            status: RequestStatus::Pending,
            notification_method,
            pending_reason: None,
            expiry_time: None,
            poll_limit: None,
            error: None,
        })
    }

    /// Creates an accepted mandate at the operator (`resume`: one whose first attempt may have reached it) and
    /// records the outcome.
    async fn create_at_operator(
        &self,
        provider: Arc<dyn Provider>,
        job: CreationJob,
        resume: bool,
    ) {
        let reference = job.reference.clone();
        self.create_and_finalise(provider, job, resume).await;
        self.release(&reference);
    }

    async fn create_and_finalise(
        &self,
        provider: Arc<dyn Provider>,
        job: CreationJob,
        resume: bool,
    ) {
        let order = MandateOrder {
            reference: &job.reference,
            payer: &job.payer,
            request: &job.request,
        };
        let mut attempt = 1;
        let result = loop {
            let permit = self.permits.acquire().await;
            let result = if resume {
                provider.resume_mandate(&order).await
            } else {
                provider.create_mandate(&order).await
            };
            drop(permit);
            match result {
                Err(ProviderError::Unavailable(why)) if attempt < CREATE_ATTEMPTS => {
                    tracing::info!(reference = %job.reference, reason = %why, "operator unavailable for a mandate; trying again");
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        let outcome = match result {
            Ok(refs) => Ok(refs),
            Err(ProviderError::Rejected(f)) => Err(f.error),
            Err(ProviderError::Unavailable(why) | ProviderError::InDoubt(why)) => {
                tracing::warn!(reference = %job.reference, reason = %why, "mandate not created at the operator");
                Err(GsmaError::unavailable(
                    "The operator did not confirm the mandate; no mandate was created, try again",
                ))
            }
            Err(ProviderError::Configuration(why)) => {
                tracing::error!(reference = %job.reference, reason = %why, "mandate refused by the operator");
                Err(GsmaError::internal())
            }
            Err(ProviderError::Unsupported(why)) => Err(GsmaError::transaction_type(why)),
        };
        if let Err(e) = self.finalise_mandate(job, outcome).await {
            tracing::error!(error = %e, "could not record a mandate's creation");
        }
    }

    async fn finalise_mandate(
        &self,
        job: CreationJob,
        outcome: Result<ProviderRefs, GsmaError>,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut mandate = job.mandate;
        mandate.modification_date = Some(now);
        let (status, error, refs, payment_key) = match outcome {
            Ok(refs) => {
                mandate.mandate_status = Some(MandateStatus::Active);
                let payment_key = refs.extra.get(PAYMENT_KEY).cloned();
                let refs = serde_json::to_string(&refs).map_err(|e| corrupt("references", e))?;
                ("active", None, Some(refs), payment_key)
            }
            Err(error) => (
                "failed",
                Some(serde_json::to_string(&error).map_err(|e| corrupt("an error", e))?),
                None,
                None,
            ),
        };
        let body = serde_json::to_string(&mandate).map_err(|e| corrupt("a mandate", e))?;
        let callback = job.callback_url.map(|url| NewCallback {
            claimed_until: now.millis() + self.lease_ms(),
            url,
            correlation_id: job.correlation_id,
            body: error.clone().unwrap_or_else(|| body.clone()),
            client_id: Some(job.client_id),
            request_id: None,
        });
        let done = self
            .store
            .apply(Change::FinaliseMandate(MandateFinalisation {
                mandate_reference: job.reference.clone(),
                server_correlation_id: job.server_correlation_id.clone(),
                status,
                body,
                error,
                provider_refs: refs,
                payment_key,
                callback: callback.clone(),
                now_ms: now.millis(),
            }))
            .await?;
        tracing::debug!(reference = %job.reference, status, "mandate final");
        if let (Some(cb), Ok(id)) = (callback, i64::try_from(done)) {
            if id > 0 {
                self.notifier.deliver_now(id, job.server_correlation_id, cb);
            }
        }
        Ok(())
    }

    /// The client's mandate `reference` of the payer `payer`, with the operator's current word on an active or
    /// inactive one (the stored state when the operator does not answer). 404 for another client's, another
    /// payer's, an unknown or a failed mandate.
    pub async fn mandate(
        &self,
        client_id: &str,
        payer: &[Party],
        reference: &str,
    ) -> Result<String, EngineError> {
        let row = self.owned_mandate(client_id, payer, reference).await?;
        if !matches!(row.status.as_str(), "active" | "inactive") {
            return Ok(row.body);
        }
        let Some(provider) = self.router.by_name(&row.provider).cloned() else {
            return Ok(row.body);
        };
        let context = mandate_context_of(&row)?;
        let state = match provider.query_mandate(&context).await {
            Ok(state) => state,
            Err(e) => {
                tracing::info!(reference, error = %e, "mandate query unanswered; the stored state is shown");
                return Ok(row.body);
            }
        };
        let (status, word) = match state {
            MandateState::Active => ("active", MandateStatus::Active),
            MandateState::Inactive => ("inactive", MandateStatus::Inactive),
        };
        if status == row.status {
            return Ok(row.body);
        }
        let mut mandate: DebitMandate =
            serde_json::from_str(&row.body).map_err(|e| corrupt("a stored mandate", e))?;
        let now = Timestamp::now();
        mandate.mandate_status = Some(word);
        mandate.modification_date = Some(now);
        let body = serde_json::to_string(&mandate).map_err(|e| corrupt("a mandate", e))?;
        self.store
            .apply(Change::UpdateMandate {
                mandate_reference: row.mandate_reference.clone(),
                status,
                body: body.clone(),
                now_ms: now.millis(),
            })
            .await?;
        Ok(body)
    }

    /// Takes over the mandates whose creation was interrupted (their gateway stopped while it was under way: they
    /// stayed pending, untouched, for longer than the claim lease) and finishes it: the operator is asked first,
    /// so a creation it took is not made twice. Called by the reconciler.
    pub(crate) async fn resume_stale_mandates(self: &Arc<Self>) -> Result<(), StoreError> {
        let now = Timestamp::now().millis();
        let cutoff = now - self.lease_ms();
        for row in self.store.stale_pending_mandates(cutoff, 50).await? {
            let reference = row.mandate_reference.clone();
            if !self.claim(&reference) {
                continue;
            }
            let claimed = self
                .store
                .apply(Change::ClaimMandate {
                    mandate_reference: reference.clone(),
                    cutoff_ms: cutoff,
                    now_ms: now,
                })
                .await;
            let job = match claimed {
                Ok(1) => resumed_job(row),
                Ok(_) => {
                    self.release(&reference);
                    continue;
                }
                Err(e) => {
                    self.release(&reference);
                    return Err(e);
                }
            };
            let provider = self.router.by_name(&job.provider).cloned();
            match (job.job, provider) {
                (Ok(job), Some(provider)) => {
                    tracing::info!(reference = %reference, "resuming an interrupted mandate creation");
                    let engine = Arc::clone(self);
                    tokio::spawn(
                        async move { engine.create_at_operator(provider, job, true).await },
                    );
                }
                (Err(e), _) => {
                    tracing::error!(reference = %reference, error = %e, "a pending mandate cannot be read back");
                    self.release(&reference);
                }
                (Ok(_), None) => {
                    tracing::warn!(reference = %reference, provider = %job.provider, "a pending mandate's operator is not configured");
                    self.release(&reference);
                }
            }
        }
        Ok(())
    }

    /// Where a resource the client created is read: a debit mandate under its payer's account
    /// (`/accounts/{identifierType}/{identifier}/debitmandates/{ref}`), anything else as [`link_for`] says.
    pub async fn link_to(&self, object_type: &str, reference: &str) -> Result<String, StoreError> {
        if object_type != OBJECT_TYPE {
            return Ok(link_for(object_type, reference));
        }
        let payer = self
            .store
            .mandate(reference)
            .await?
            .and_then(|row| serde_json::from_str::<Vec<Party>>(&row.payer).ok())
            .and_then(|payer| payer.into_iter().next());
        Ok(match payer {
            Some(p) => format!("/accounts/{}/{}/debitmandates/{reference}", p.key, p.value),
            None => link_for(object_type, reference),
        })
    }

    /// The client's mandate `reference` of the payer `payer`: 404 for another client's, another payer's, an
    /// unknown or a failed one.
    async fn owned_mandate(
        &self,
        client_id: &str,
        payer: &[Party],
        reference: &str,
    ) -> Result<MandateRow, EngineError> {
        match self.store.mandate(reference).await? {
            Some(row)
                if row.client_id == client_id
                    && row.status != "failed"
                    && payer
                        .iter()
                        .any(|p| account_key(&p.value) == row.payer_account) =>
            {
                Ok(row)
            }
            _ => Err(EngineError::Rejected(
                GsmaError::not_found(format!("There is no debit mandate {reference}"))
                    .with_param("debitMandateReference", reference),
            )),
        }
    }

    /// Cancels the client's mandate at the operator (`PATCH …/debitmandates/{ref}` setting `mandateStatus` to
    /// `inactive`): no payment can be taken under it afterwards. Cancelling an inactive mandate changes nothing;
    /// one whose creation is still pending cannot be cancelled yet (businessRule/incorrectState).
    pub async fn cancel_mandate(
        &self,
        client_id: &str,
        payer: &[Party],
        reference: &str,
    ) -> Result<(), EngineError> {
        let row = self.owned_mandate(client_id, payer, reference).await?;
        match row.status.as_str() {
            "inactive" => return Ok(()),
            "active" => {}
            _ => {
                return Err(EngineError::Rejected(GsmaError::new(
                    ErrorCategory::BusinessRule,
                    ErrorCode::IncorrectState,
                    "The mandate's creation is still pending at the operator; cancel it once it is active",
                )))
            }
        }
        let provider = self.router.by_name(&row.provider).cloned().ok_or_else(|| {
            EngineError::Rejected(GsmaError::unavailable(
                "The operator of this mandate is not configured",
            ))
        })?;
        let context = mandate_context_of(&row)?;
        let permit = self.permits.acquire().await;
        let cancelled = provider.cancel_mandate(&context).await;
        drop(permit);
        match cancelled {
            Ok(()) => {}
            Err(ProviderError::Rejected(f)) => return Err(EngineError::Rejected(f.error)),
            Err(ProviderError::Unsupported(why)) => {
                return Err(EngineError::Rejected(GsmaError::transaction_type(why)))
            }
            Err(e) => {
                tracing::warn!(reference, error = %e, "mandate cancellation not confirmed by the operator");
                return Err(EngineError::Rejected(GsmaError::unavailable(
                    "The operator did not confirm the cancellation; the mandate is unchanged, try again",
                )));
            }
        }
        let mut mandate: DebitMandate =
            serde_json::from_str(&row.body).map_err(|e| corrupt("a stored mandate", e))?;
        let now = Timestamp::now();
        mandate.mandate_status = Some(MandateStatus::Inactive);
        mandate.modification_date = Some(now);
        let body = serde_json::to_string(&mandate).map_err(|e| corrupt("a mandate", e))?;
        self.store
            .apply(Change::UpdateMandate {
                mandate_reference: row.mandate_reference.clone(),
                status: "inactive",
                body,
                now_ms: now.millis(),
            })
            .await?;
        tracing::info!(reference, "mandate cancelled");
        Ok(())
    }

    /// For a payment whose debit party names a mandate (`mandatereference`): the operator of the mandate, once
    /// the payment is checked against it. `None` for any other transaction.
    pub(crate) async fn mandate_payment_provider(
        &self,
        client_id: &str,
        transaction_type: TransactionType,
        request: &TransactionRequest,
    ) -> Result<Option<Arc<dyn Provider>>, EngineError> {
        let Some(reference) = party_value(request.debit_parties(), MANDATE_REFERENCE_KEY) else {
            return Ok(None);
        };
        if transaction_type != TransactionType::Merchantpay {
            return Err(EngineError::Rejected(
                GsmaError::transaction_type(format!(
                    "Only a merchantpay can be taken under a debit mandate, not a {transaction_type}"
                ))
                .with_param("field", "debitParty"),
            ));
        }
        // A mandate the operator never created does not exist, as for `GET`.
        let row = match self.store.mandate(reference).await? {
            Some(row) if row.client_id == client_id && row.status != "failed" => row,
            _ => {
                return Err(EngineError::Rejected(
                    GsmaError::not_found(format!("There is no debit mandate {reference}"))
                        .with_param("field", "debitParty"),
                ))
            }
        };
        if row.status != "active" {
            return Err(no_mandate_authority(format!(
                "Debit mandate {reference} is not active"
            )));
        }
        // The operator's own refusal comes first (e.g. one that takes a mandate's payments itself).
        let provider = self.router.by_name(&row.provider).cloned().ok_or_else(|| {
            EngineError::Rejected(GsmaError::unavailable(
                "The mandate's operator is no longer configured",
            ))
        })?;
        if !provider.capabilities().supports(transaction_type) {
            return Err(EngineError::Rejected(GsmaError::transaction_type(
                "The mandate's operator cannot carry merchant payments",
            )));
        }
        provider
            .check(&CheckRequest {
                transaction_type,
                request,
                original: None,
            })
            .map_err(EngineError::Rejected)?;
        let mandate: DebitMandate =
            serde_json::from_str(&row.body).map_err(|e| corrupt("a stored mandate", e))?;
        if mandate.currency.is_some_and(|c| c != request.currency) {
            return Err(no_mandate_authority(format!(
                "Debit mandate {reference} is in another currency"
            )));
        }
        if let Some(limit) = &mandate.amount_limit {
            if request.amount.value() > limit.value() {
                return Err(no_mandate_authority(format!(
                    "The amount is above the limit {limit} of debit mandate {reference}"
                )));
            }
        }
        let today = chrono::Utc::now().date_naive();
        if today < mandate.start_date || mandate.end_date.is_some_and(|end| today > end) {
            return Err(no_mandate_authority(format!(
                "Debit mandate {reference} is not in force today"
            )));
        }
        Ok(Some(provider))
    }

    /// A payment the operator took itself under a mandate (an M-Pesa Ratiba standing order's due payment), as the
    /// mandate's client sees it: a merchant payment whose debit party is the mandate's payer and names the mandate
    /// (`mandatereference`), notified to the mandate's callback URL. Returns the payment, and the mandate's
    /// client when it is one; any other payment is returned as it came.
    pub(crate) async fn under_mandate(
        &self,
        provider: &str,
        mut payment: IncomingPayment,
    ) -> Result<(IncomingPayment, Option<String>), StoreError> {
        let Some(key) = &payment.mandate_key else {
            return Ok((payment, None));
        };
        let Some(row) = self.store.mandate_by_payment_key(provider, key).await? else {
            return Ok((payment, None));
        };
        let mut debit: Vec<Party> =
            serde_json::from_str(&row.payer).map_err(|e| corrupt("a mandate's payer", e))?;
        debit.push(Party::new(MANDATE_REFERENCE_KEY, &row.mandate_reference));
        payment.debit_party = debit;
        payment.transaction_type = TransactionType::Merchantpay;
        if row.callback_url.is_some() {
            payment.notification_url = row.callback_url.clone();
        }
        tracing::info!(mandate = %row.mandate_reference, provider, "a payment taken under a debit mandate");
        Ok((payment, Some(row.client_id)))
    }

    /// The mandate a payment is taken under, as its operator needs it.
    pub(crate) async fn mandate_context(
        &self,
        transaction: &Transaction,
    ) -> Result<Option<MandateContext>, StoreError> {
        let Some(reference) = party_value(&transaction.debit_party, MANDATE_REFERENCE_KEY) else {
            return Ok(None);
        };
        match self.store.mandate(reference).await? {
            Some(row) => mandate_context_of(&row).map(Some),
            None => Ok(None),
        }
    }
}

/// What a provider needs of a stored mandate.
fn mandate_context_of(row: &MandateRow) -> Result<MandateContext, StoreError> {
    Ok(MandateContext {
        reference: row.mandate_reference.clone(),
        payer: serde_json::from_str(&row.payer).map_err(|e| corrupt("a mandate's payer", e))?,
        refs: match &row.provider_refs {
            Some(text) => {
                serde_json::from_str(text).map_err(|e| corrupt("a mandate's references", e))?
            }
            None => ProviderRefs::default(),
        },
    })
}

/// An accepted mandate on its way to the operator.
/// A stored pending mandate as the job that creates it, with its operator's name.
struct ResumedJob {
    provider: String,
    job: Result<CreationJob, StoreError>,
}

fn resumed_job(row: MandateRow) -> ResumedJob {
    let job = (|| {
        let payer: Vec<Party> =
            serde_json::from_str(&row.payer).map_err(|e| corrupt("a mandate's payer", e))?;
        let mandate: DebitMandate =
            serde_json::from_str(&row.body).map_err(|e| corrupt("a stored mandate", e))?;
        let request = DebitMandateRequest {
            payee: mandate.payee.clone(),
            mandate_status: None,
            amount_limit: mandate.amount_limit.clone(),
            currency: mandate.currency,
            start_date: mandate.start_date,
            end_date: mandate.end_date,
            frequency_type: mandate.frequency_type,
            number_of_payments: mandate.number_of_payments,
            requesting_organisation: mandate.requesting_organisation.clone(),
            request_date: mandate.request_date,
            custom_data: mandate.custom_data.clone(),
        };
        Ok(CreationJob {
            reference: row.mandate_reference,
            server_correlation_id: row.server_correlation_id,
            client_id: row.client_id,
            callback_url: row.callback_url,
            correlation_id: row.client_correlation_id,
            payer,
            request,
            mandate,
        })
    })();
    ResumedJob {
        provider: row.provider,
        job,
    }
}

struct CreationJob {
    reference: String,
    server_correlation_id: String,
    client_id: String,
    callback_url: Option<String>,
    correlation_id: Option<String>,
    payer: Vec<Party>,
    request: DebitMandateRequest,
    mandate: DebitMandate,
}
