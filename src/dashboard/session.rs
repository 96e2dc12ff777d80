//! Signing in and out, and the guard in front of every other page. A session is a random cookie (HttpOnly,
//! SameSite=Strict, Path=/dashboard, expiring after [`SESSION_LIFETIME_MS`]) kept in the store only as its
//! SHA-256 digest, so that several instances sharing a database share the sessions, with a CSRF token that
//! every form of the session carries. The credentials are checked by the same code as the OAuth token
//! endpoint's.

use axum::extract::{Request, State};
use axum::http::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use mmapi_core::Secret;
use serde::Deserialize;

use super::{page, DashboardError, DashboardState, Viewer, BASE};
use crate::auth::credentials::{digest, random_token};
use crate::auth::registry::Presented;
use crate::auth::Role;
use crate::store::{Change, SessionRow};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "mmapi_session";

/// How long a session lasts: 8 hours.
pub const SESSION_LIFETIME_MS: i64 = 8 * 3_600 * 1_000;

/// Checks the session cookie and puts the [`Viewer`] in the request's extensions. Without a valid session a
/// browser (asking for HTML) is sent to the sign-in page and anything else gets 401; no data is shown.
pub async fn require_session(
    State(state): State<DashboardState>,
    mut request: Request,
    next: Next,
) -> Response {
    match viewer_of(&state, request.headers()).await {
        Ok(Some(viewer)) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Ok(None) => {
            if wants_html(request.headers()) {
                redirect(&format!("{BASE}/signin"))
            } else {
                DashboardError::Unauthenticated.into_response()
            }
        }
        Err(e) => e.into_response(),
    }
}

/// The signed-in client of a request, if its session is valid and its client still enabled.
async fn viewer_of(
    state: &DashboardState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, DashboardError> {
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let store = state.engine.store();
    let now = crate::engine::now_ms();
    let Some(session) = store.session(&digest(&cookie), now).await? else {
        return Ok(None);
    };
    let Some(client) = store.client(&session.client_id).await? else {
        return Ok(None);
    };
    if client.disabled != 0 {
        return Ok(None);
    }
    Ok(Some(Viewer {
        client_id: client.client_id,
        role: Role::from_stored(&client.role),
        csrf_token: session.csrf_token,
    }))
}

/// The value of the session cookie, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Whether the request is a browser's navigation (it accepts HTML).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// A `303 See Other` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// `GET /dashboard/signin`.
pub async fn sign_in_page() -> Response {
    sign_in_form(None).into_response()
}

fn sign_in_form(error: Option<&str>) -> axum::response::Html<String> {
    page(
        "Sign in",
        None,
        html! {
            form.signin id="signin" method="post" action=(format!("{BASE}/signin")) {
                h1 { "Sign in" }
                p.muted { "With a client's consumer key and secret, as for the OAuth token endpoint." }
                @if let Some(error) = error {
                    p.error id="signin-error" { (error) }
                }
                label { "Consumer key" input type="text" name="consumer_key" autocomplete="username" required; }
                label {
                    "Consumer secret"
                    input type="password" name="consumer_secret" autocomplete="current-password" required;
                }
                button type="submit" id="signin-submit" { "Sign in" }
            }
        },
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignIn {
    consumer_key: String,
    consumer_secret: String,
}

/// `POST /dashboard/signin`: checks the credentials, starts a session and goes to the reports.
pub async fn sign_in(
    State(state): State<DashboardState>,
    Form(form): Form<SignIn>,
) -> Result<Response, DashboardError> {
    let presented = Presented {
        basic: Some((
            form.consumer_key.trim().to_owned(),
            Secret::new(form.consumer_secret),
        )),
        ..Presented::default()
    };
    let caller = match state.clients.authenticate(&presented).await {
        Ok(caller) => caller,
        Err(crate::auth::AuthError::Store(e)) => return Err(e.into()),
        Err(e) => {
            tracing::info!(reason = %e, "dashboard sign-in refused");
            let form = sign_in_form(Some("The consumer key or secret is wrong."));
            return Ok((StatusCode::UNAUTHORIZED, form).into_response());
        }
    };
    let cookie = random_token(43);
    let now = crate::engine::now_ms();
    state
        .engine
        .store()
        .apply(Change::PutSession(SessionRow {
            session_digest: digest(&cookie),
            client_id: caller.client_id.clone(),
            csrf_token: random_token(43),
            expires_at: now + SESSION_LIFETIME_MS,
            created_at: now,
        }))
        .await?;
    tracing::info!(client = %caller.client_id, "dashboard session started");
    let secure = if state.secure_cookie { "; Secure" } else { "" };
    let set_cookie = format!(
        "{COOKIE_NAME}={cookie}; HttpOnly; SameSite=Strict; Path={BASE}; Max-Age={}{secure}",
        SESSION_LIFETIME_MS / 1_000
    );
    let mut response = redirect(&format!("{BASE}/reports"));
    let value = HeaderValue::from_str(&set_cookie)
        .map_err(|e| DashboardError::Internal(format!("session cookie: {e}")))?;
    response.headers_mut().insert(SET_COOKIE, value);
    Ok(response)
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

/// `POST /dashboard/signout`: ends the session and clears the cookie.
pub async fn sign_out(
    State(state): State<DashboardState>,
    axum::Extension(viewer): axum::Extension<Viewer>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, DashboardError> {
    viewer.check_csrf(&form.csrf)?;
    if let Some(cookie) = session_cookie(&headers) {
        state
            .engine
            .store()
            .apply(Change::DeleteSession {
                session_digest: digest(&cookie),
            })
            .await?;
    }
    let mut response = redirect(&format!("{BASE}/signin"));
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "mmapi_session=; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age=0",
        ),
    );
    Ok(response)
}
