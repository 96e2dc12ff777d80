//! The runner's own callback listener: every scenario gets a URL of its own (`{{callbackUrl}}`), and every
//! request that arrives there is kept, answered `204`, and handed to the scenario's `callback` steps in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use axum::Router;
use tokio::sync::Notify;

/// A callback as it arrived.
#[derive(Clone, Debug)]
pub struct ReceivedCallback {
    /// The HTTP method (`PUT` for GSMA callbacks).
    pub method: String,
    /// Header name (lower case) and value pairs.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

#[derive(Default)]
struct Inbox {
    by_token: Mutex<HashMap<String, Vec<ReceivedCallback>>>,
    arrived: Notify,
}

/// A loopback HTTP listener that records callbacks.
pub struct CallbackListener {
    address: SocketAddr,
    host: String,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl CallbackListener {
    /// Listens on `listen` (port 0: any free port). Callback URLs name `host` (what the server under test can
    /// reach), or the listening IP when `host` is `None`.
    pub async fn start(listen: SocketAddr, host: Option<&str>) -> std::io::Result<Self> {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/callbacks/{token}", any(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("callback listener stopped: {e}");
            }
        });
        let host = match host {
            Some(h) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            Some(h) => h.to_owned(),
            None if address.is_ipv6() => format!("[{}]", address.ip()),
            None => address.ip().to_string(),
        };
        Ok(Self {
            address,
            host,
            inbox,
            task,
        })
    }

    /// Where the listener listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The callback URL of `token` (one per scenario run).
    pub fn url_for(&self, token: &str) -> String {
        format!(
            "http://{}:{}/callbacks/{token}",
            self.host,
            self.address.port()
        )
    }

    /// The `index`-th callback received for `token` (from 0), waiting up to `timeout` for it.
    pub async fn wait(
        &self,
        token: &str,
        index: usize,
        timeout: Duration,
    ) -> Option<ReceivedCallback> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.inbox.arrived.notified();
            if let Some(found) = self.get(token, index) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return self.get(token, index);
            }
        }
    }

    /// How many callbacks arrived for `token`.
    pub fn count(&self, token: &str) -> usize {
        self.inbox
            .by_token
            .lock()
            .map(|m| m.get(token).map_or(0, Vec::len))
            .unwrap_or(0)
    }

    fn get(&self, token: &str, index: usize) -> Option<ReceivedCallback> {
        let map = self.inbox.by_token.lock().ok()?;
        map.get(token)?.get(index).cloned()
    }
}

impl Drop for CallbackListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let callback = ReceivedCallback {
        method: method.to_string(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if let Ok(mut map) = inbox.by_token.lock() {
        map.entry(token).or_default().push(callback);
    }
    inbox.arrived.notify_waiters();
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_callbacks_per_token() {
        let listener = CallbackListener::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let url = listener.url_for("abc");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let http = reqwest::Client::new();
        let sender = {
            let url = url.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                http.put(url)
                    .header("x-correlationid", "c1")
                    .body("{\"a\":1}")
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        let got = listener
            .wait("abc", 0, Duration::from_secs(5))
            .await
            .expect("callback");
        assert_eq!(sender.await.unwrap(), 204);
        assert_eq!(got.method, "PUT");
        assert_eq!(got.body, "{\"a\":1}");
        assert!(got
            .headers
            .iter()
            .any(|(k, v)| k == "x-correlationid" && v == "c1"));
        assert_eq!(listener.count("abc"), 1);
        assert!(listener
            .wait("abc", 1, Duration::from_millis(50))
            .await
            .is_none());
        assert!(listener
            .wait("other", 0, Duration::from_millis(10))
            .await
            .is_none());
    }
}
