//! What the scenarios send: merchant payments (with or without a callback URL) and reads.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use rand::Rng;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::load::conn::Req;
use crate::load::Workload;
use crate::meter::Target;
use crate::prefill;
use crate::receiver::Callbacks;

/// The GSMA API's mount point.
pub const API: &str = "/v1.2/mm";

/// The merchant payment of the README: KES 100 from the sandbox customer to till 174379.
const PAYMENT: &str = r#"{"amount":"100","currency":"KES","debitParty":[{"key":"msisdn","value":"+254708374149"}],"creditParty":[{"key":"storeid","value":"174379"}]}"#;

/// The ids of an accepted payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedIds {
    /// The request state's `serverCorrelationId`.
    pub server_correlation_id: String,
    /// The transaction's `objectReference`.
    pub transaction_reference: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestStateBody {
    server_correlation_id: String,
    object_reference: Option<String>,
}

/// Ids of accepted payments, kept for the reads (at most `cap`).
pub struct IdCollector {
    ids: Mutex<Vec<AcceptedIds>>,
    cap: usize,
}

impl IdCollector {
    /// Keeps at most `cap` ids.
    pub fn new(cap: usize) -> Self {
        Self {
            ids: Mutex::new(Vec::new()),
            cap,
        }
    }

    fn offer(&self, body: &[u8]) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.len() >= self.cap {
            return;
        }
        if let Ok(RequestStateBody {
            server_correlation_id,
            object_reference: Some(transaction_reference),
        }) = serde_json::from_slice(body)
        {
            ids.push(AcceptedIds {
                server_correlation_id,
                transaction_reference,
            });
        }
    }

    /// The ids kept so far.
    pub fn snapshot(&self) -> Vec<AcceptedIds> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many ids are kept.
    pub fn len(&self) -> usize {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Where the client wants its callbacks, and whether each connection waits for its payment's callback.
pub struct CallbackMode {
    pub url: HeaderValue,
    pub callbacks: Arc<Callbacks>,
    /// Closed loop: wait up to this long for the callback before the next payment.
    pub wait: Option<Duration>,
}

/// `POST /transactions/type/merchantpay`, each with a fresh `X-CorrelationID`.
pub struct Payments {
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    path: String,
    body: Bytes,
    callback: Option<CallbackMode>,
    collector: Option<Arc<IdCollector>>,
}

impl Payments {
    /// Payments to the server `target`.
    pub fn new(target: &Target) -> Self {
        Self {
            host: host_header(target),
            authorization: target.authorization.clone(),
            path: format!("{API}/transactions/type/merchantpay"),
            body: Bytes::from_static(PAYMENT.as_bytes()),
            callback: None,
            collector: None,
        }
    }

    /// Asks for callbacks (notification method `callback`).
    pub fn with_callbacks(mut self, mode: CallbackMode) -> Self {
        self.callback = Some(mode);
        self
    }

    /// Keeps the ids of accepted payments.
    pub fn collecting(mut self, collector: Arc<IdCollector>) -> Self {
        self.collector = Some(collector);
        self
    }
}

/// What a payment request leaves for its answer.
pub struct PaymentTicket {
    correlation_id: String,
    callback: Option<oneshot::Receiver<()>>,
}

impl Workload for Payments {
    type Ticket = PaymentTicket;

    fn request(&self, _seq: u64, due: Instant) -> (Req, PaymentTicket) {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("X-CorrelationID", correlation_id.as_str());
        if let Some(authorization) = &self.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        let mut wait = None;
        if let Some(mode) = &self.callback {
            builder = builder.header("X-Callback-URL", mode.url.clone());
            let notify = mode.wait.map(|_| {
                let (tx, rx) = oneshot::channel();
                wait = Some(rx);
                tx
            });
            mode.callbacks.expect(correlation_id.clone(), due, notify);
        }
        let request = builder
            .body(Full::new(self.body.clone()))
            .expect("a valid request");
        (
            request,
            PaymentTicket {
                correlation_id,
                callback: wait,
            },
        )
    }

    async fn done(&self, ticket: PaymentTicket, status: StatusCode, body: Bytes) -> bool {
        if status != StatusCode::ACCEPTED {
            if let Some(mode) = &self.callback {
                mode.callbacks.forget(&ticket.correlation_id);
            }
            return false;
        }
        if let Some(collector) = &self.collector {
            collector.offer(&body);
        }
        match (ticket.callback, self.callback.as_ref().and_then(|m| m.wait)) {
            (Some(rx), Some(wait)) => matches!(tokio::time::timeout(wait, rx).await, Ok(Ok(()))),
            _ => true,
        }
    }
}

/// Which resource a read asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// `GET /transactions/{transactionReference}`
    Transaction,
    /// `GET /requeststates/{serverCorrelationId}`
    RequestState,
    /// `GET /accounts/msisdn/{payer}/transactions?offset=0&limit=20`: the newest page of the account every payment
    /// of the benchmark debits.
    AccountTransactions,
}

/// The first page of the payer's account transactions.
pub const ACCOUNT_PAGE: &str = "/accounts/msisdn/%2B254708374149/transactions?offset=0&limit=20";

/// Reads of stored payments, chosen uniformly at random among those accepted in this run and the pre-filled
/// ones.
pub struct Reads {
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    kind: ReadKind,
    accepted: Arc<Vec<AcceptedIds>>,
    prefilled: u64,
}

impl Reads {
    /// Reads from the server `target`.
    pub fn new(
        target: &Target,
        kind: ReadKind,
        accepted: Arc<Vec<AcceptedIds>>,
        prefilled: u64,
    ) -> Self {
        Self {
            host: host_header(target),
            authorization: target.authorization.clone(),
            kind,
            accepted,
            prefilled,
        }
    }

    fn pick(&self) -> AcceptedIds {
        let n = self.accepted.len() as u64;
        let i = rand::rng().random_range(0..(n + self.prefilled).max(1));
        match self.accepted.get(i as usize) {
            Some(ids) if i < n => ids.clone(),
            _ => prefill::ids(i.saturating_sub(n)),
        }
    }
}

impl Workload for Reads {
    type Ticket = ();

    fn request(&self, _seq: u64, _due: Instant) -> (Req, ()) {
        let path = match self.kind {
            ReadKind::Transaction => {
                format!("{API}/transactions/{}", self.pick().transaction_reference)
            }
            ReadKind::RequestState => {
                format!("{API}/requeststates/{}", self.pick().server_correlation_id)
            }
            ReadKind::AccountTransactions => format!("{API}{ACCOUNT_PAGE}"),
        };
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        (request, ())
    }

    async fn done(&self, _ticket: (), status: StatusCode, _body: Bytes) -> bool {
        status == StatusCode::OK
    }
}

/// The `Host` header for requests to `target`.
fn host_header(target: &Target) -> HeaderValue {
    HeaderValue::from_str(&target.addr.to_string()).expect("a host:port is a valid header")
}
