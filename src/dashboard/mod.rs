//! The web dashboard at `/dashboard`: server-rendered HTML (maud) behind a sign-in with a client's consumer key
//! and secret. An operator sees every client's transactions and the operations page; any other client sees
//! only its own transactions (the filter is in the SQL). No JavaScript: charts are inline SVG drawn here.
//!
//! Pages, one module each: [`session`] (sign-in, sign-out and the session guard), [`reports`] (the table,
//! the charts and the CSV export), [`story`] (a transaction's steps), [`operations`] (provider health,
//! callbacks owed, manual review, batches). [`query`] turns a page's filters into a store query and totals
//! what it reads; [`charts`] draws.

pub mod charts;
pub mod operations;
pub mod query;
pub mod reports;
pub mod session;
pub mod story;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use mmapi_core::time::Timestamp;

use crate::auth::{ClientRegistry, Role};
use crate::engine::Engine;
use crate::store::StoreError;

/// Where the dashboard is mounted.
pub const BASE: &str = "/dashboard";

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct DashboardState {
    pub engine: Arc<Engine>,
    pub clients: Arc<ClientRegistry>,
    /// Whether the session cookie is marked `Secure` (the gateway serves HTTPS).
    pub secure_cookie: bool,
}

/// The signed-in client, put in each request's extensions by [`session::require_session`].
#[derive(Clone, Debug)]
pub struct Viewer {
    pub client_id: String,
    pub role: Role,
    /// The session's CSRF token, which every form carries.
    pub csrf_token: String,
}

impl Viewer {
    /// Whether the viewer runs the gateway (sees every client's data and the operations page).
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// Refuses a viewer without the operator role.
    pub fn require_operator(&self) -> Result<(), DashboardError> {
        if self.is_operator() {
            Ok(())
        } else {
            Err(DashboardError::Forbidden)
        }
    }

    /// Refuses a form whose CSRF token is not the session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), DashboardError> {
        let expected = self.csrf_token.as_bytes();
        let given = presented.as_bytes();
        // Compared in constant time for equal lengths.
        let same = expected.len() == given.len()
            && expected
                .iter()
                .zip(given)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(DashboardError::Csrf)
        }
    }
}

/// Why a dashboard page could not be shown. Each is an HTML page with the matching HTTP status; nothing in it
/// comes from a secret or a store error's text.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("not signed in")]
    Unauthenticated,
    #[error("this page needs the operator role")]
    Forbidden,
    #[error("the form's token does not match the session; reload the page and try again")]
    Csrf,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl DashboardError {
    fn status(&self) -> StatusCode {
        match self {
            DashboardError::Unauthenticated => StatusCode::UNAUTHORIZED,
            DashboardError::Forbidden | DashboardError::Csrf => StatusCode::FORBIDDEN,
            DashboardError::NotFound => StatusCode::NOT_FOUND,
            DashboardError::BadRequest(_) => StatusCode::BAD_REQUEST,
            DashboardError::Conflict(_) => StatusCode::CONFLICT,
            DashboardError::Store(_) | DashboardError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            DashboardError::Store(e) => {
                tracing::error!(error = %e, "dashboard: the store failed");
                "The gateway could not read its store.".to_owned()
            }
            DashboardError::Internal(e) => {
                tracing::error!(error = %e, "dashboard: internal error");
                "Something went wrong in the gateway.".to_owned()
            }
            other => other.to_string(),
        };
        let body = page(
            "Error",
            None,
            html! {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p id="error-message" { (message) }
                p { a href=(format!("{BASE}/reports")) { "Back to the reports" } }
            },
        );
        (status, body).into_response()
    }
}

/// The dashboard's routes, mounted at [`BASE`]. All but the sign-in page need a session.
pub fn routes(state: DashboardState) -> Router {
    let signed_in = Router::new()
        .route("/", get(reports::home))
        .route("/reports", get(reports::page))
        .route("/reports.csv", get(reports::csv))
        .route("/transactions/{reference}", get(story::page))
        .route("/operations", get(operations::page))
        .route("/review/{reference}", post(operations::resolve))
        .route("/callbacks/{id}/redeliver", post(operations::redeliver))
        .route("/signout", post(session::sign_out))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::require_session,
        ));
    Router::new()
        .route("/signin", get(session::sign_in_page).post(session::sign_in))
        .merge(signed_in)
        .with_state(state)
}

/// A whole page: the head, the navigation for a signed-in viewer, and `content`.
pub fn page(title: &str, viewer: Option<&Viewer>, content: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · mmapi-gateway" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "mmapi-gateway" }
                    @if let Some(viewer) = viewer {
                        nav {
                            a href=(format!("{BASE}/reports")) { "Reports" }
                            @if viewer.is_operator() {
                                a href=(format!("{BASE}/operations")) { "Operations" }
                            }
                        }
                        form.signout method="post" action=(format!("{BASE}/signout")) {
                            span id="signed-in-as" data-role=(viewer.role.as_str()) { (viewer.client_id) }
                            input type="hidden" name="csrf" value=(viewer.csrf_token);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    };
    Html(markup.into_string())
}

/// A time as the dashboard shows it: UTC, to the second.
pub fn show_time(ms: i64) -> String {
    let text = Timestamp::from_millis(ms).to_string();
    // RFC 3339 with milliseconds: keep "YYYY-MM-DD HH:MM:SS".
    text.get(..19)
        .map(|t| t.replacen('T', " ", 1))
        .unwrap_or(text)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{display:flex;gap:1.5em;align-items:center;padding:.6em 1.2em;background:#1d2330;color:#fff}\
header a{color:#cfe3ff;margin-right:1em}header form.signout{margin-left:auto;display:flex;gap:.6em;align-items:center}\
main{padding:1em 1.2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0 1.2em;background:#fff}\
th,td{border:1px solid #d8dce3;padding:.25em .5em;text-align:left;font-size:.9em}th{background:#eef1f5}\
td.num{text-align:right;font-variant-numeric:tabular-nums}form.filters{display:flex;flex-wrap:wrap;gap:.6em;\
align-items:end;background:#fff;padding:.6em;border:1px solid #d8dce3}form.filters label{display:flex;\
flex-direction:column;font-size:.8em}.charts{display:flex;flex-wrap:wrap;gap:1em}.chart{background:#fff;\
border:1px solid #d8dce3;padding:.4em;margin:0}.chart h3{margin:.2em 0;font-size:.95em}.status-completed{color:#1a7f37}\
.status-failed{color:#c62828}.status-pending{color:#9a6700}.muted{color:#667}form.inline{display:inline}\
.signin{max-width:420px;background:#fff;padding:1em 1.5em;border:1px solid #d8dce3}.signin label{display:block;\
margin:.6em 0}.signin input{width:100%;padding:.3em}.error{color:#c62828}";
