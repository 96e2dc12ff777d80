//! One kept-alive HTTP/1.1 connection (hyper's connection-level client): no pool, no per-request lookup, so the
//! load generator's cost per request stays small.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The longest wait for one answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A request as the workloads build it.
pub type Req = Request<Full<Bytes>>;

/// A connection to one server.
pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Opens a connection to `addr`.
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1 handshake")?;
        tokio::spawn(async move {
            // Ends when the connection closes; its error, if any, shows up in the next send.
            let _ = connection.await;
        });
        Ok(Self { addr, sender })
    }

    /// Sends one request and reads the whole answer, giving up after [`REQUEST_TIMEOUT`]. On a broken or
    /// timed-out connection, opens a new one for the next call.
    pub async fn send(&mut self, request: Req) -> Result<(StatusCode, Bytes)> {
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, self.try_send(request)).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        if result.is_err() || self.sender.is_closed() {
            *self = Conn::open(self.addr).await?;
        }
        result
    }

    async fn try_send(&mut self, request: Req) -> Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}
