//! Running scenarios against a server: requests, polling, callbacks, checks and extraction, one scenario at
//! a time, each reported as a [`CaseResult`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::callback::{CallbackListener, ReceivedCallback};
use crate::catalogue::{Catalogue, Operation};
use crate::checks::{self, Message};
use crate::expect::{lookup, Matcher};
use crate::profile::Profile;
use crate::scenario::{Action, CallbackWait, Expect, Poll, Request, Scenario, Source, Step};
use crate::template::Vars;

/// Credentials sent with every request.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `Authorization: Basic …`.
    Basic {
        /// The user (consumer key).
        user: String,
        /// The password (consumer secret).
        password: String,
    },
    /// `Authorization: Bearer …`.
    Bearer(String),
}

/// What the runner needs besides the scenarios.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The API base, e.g. `http://127.0.0.1:8080/v1.2/mm`.
    pub base_url: String,
    /// The server's test data and capabilities.
    pub profile: Profile,
    /// Credentials, if the server wants them.
    pub auth: Option<Auth>,
    /// Extra headers sent with every request (e.g. `X-API-Key`).
    pub headers: Vec<(String, String)>,
}

/// How a case ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every step conformed.
    Passed,
    /// A step did not conform.
    Failed,
    /// The profile lacks a capability the scenario requires.
    Skipped,
}

/// The result of one scenario.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The scenario id, `<use-case>/<name>`.
    pub id: String,
    /// The use case (folder).
    pub use_case: String,
    /// The scenario's title.
    pub title: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran.
    pub duration: Duration,
    /// Every difference found (in the failing step), first one first.
    pub failures: Vec<String>,
    /// Why it was skipped.
    pub skip_reason: Option<String>,
    /// What was done, step by step.
    pub log: Vec<String>,
}

impl CaseResult {
    /// The first difference, or the skip reason.
    pub fn detail(&self) -> Option<&str> {
        self.failures
            .first()
            .map(String::as_str)
            .or(self.skip_reason.as_deref())
    }
}

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// A `--header` is not a valid header.
    #[error("header {0}")]
    Header(String),
}

/// Runs scenarios against one server.
pub struct Runner {
    http: reqwest::Client,
    config: RunConfig,
    catalogue: Arc<Catalogue>,
    callbacks: CallbackListener,
}

/// The state of one scenario run.
struct Case<'a> {
    vars: Vars,
    token: String,
    callbacks_seen: usize,
    /// The operation whose request carried `X-Callback-URL`, to check the callback bodies against.
    callback_op: Option<&'a Operation>,
    log: Vec<String>,
}

impl Runner {
    /// A runner with its HTTP client; `callbacks` is the listener whose URLs scenarios get.
    pub fn new(
        config: RunConfig,
        catalogue: Arc<Catalogue>,
        callbacks: CallbackListener,
    ) -> Result<Self, RunError> {
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| RunError::Header(format!("'{k}': {e}")))?;
            let value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| RunError::Header(format!("'{k}' value: {e}")))?;
            headers.insert(name, value);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(
                config.profile.timeouts.request_secs.max(1),
            ))
            .default_headers(headers)
            .build()?;
        Ok(Self {
            http,
            config,
            catalogue,
            callbacks,
        })
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.config.profile
    }

    /// Runs one scenario (or skips it when the profile lacks a capability it requires).
    pub async fn run(&self, scenario: &Scenario) -> CaseResult {
        let started = Instant::now();
        let mut result = CaseResult {
            id: scenario.id.clone(),
            use_case: scenario.use_case.clone(),
            title: scenario.title.clone(),
            outcome: Outcome::Passed,
            duration: Duration::ZERO,
            failures: Vec::new(),
            skip_reason: None,
            log: Vec::new(),
        };
        let missing = self.config.profile.missing(&scenario.requires);
        if !missing.is_empty() {
            result.outcome = Outcome::Skipped;
            result.skip_reason = Some(format!(
                "requires {} (not in profile {})",
                missing.join(", "),
                self.config.profile.name
            ));
            return result;
        }
        let mut case = match self.new_case(scenario) {
            Ok(case) => case,
            Err(e) => {
                result.outcome = Outcome::Failed;
                result.failures.push(e);
                result.duration = started.elapsed();
                return result;
            }
        };
        for step in &scenario.steps {
            let failures = self.step(&mut case, step).await;
            if !failures.is_empty() {
                result.outcome = Outcome::Failed;
                result.failures = failures
                    .into_iter()
                    .map(|f| format!("step '{}': {f}", step.name))
                    .collect();
                case.log.push(format!("step '{}': FAILED", step.name));
                break;
            }
            case.log.push(format!("step '{}': ok", step.name));
        }
        result.log = case.log;
        result.duration = started.elapsed();
        result
    }

    fn new_case(&self, scenario: &Scenario) -> Result<Case<'_>, String> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mut vars = Vars::default();
        vars.set_flattened("", &self.config.profile.data);
        vars.set("callbackUrl", self.callbacks.url_for(&token));
        vars.set("baseUrl", self.config.base_url.clone());
        let mut rendered = Vec::new();
        for (name, template) in &scenario.vars {
            rendered.push((
                name.clone(),
                vars.render(template)
                    .map_err(|e| format!("vars.{name}: {e}"))?,
            ));
        }
        for (name, value) in rendered {
            vars.set(name, value);
        }
        Ok(Case {
            vars,
            token,
            callbacks_seen: 0,
            callback_op: None,
            log: Vec::new(),
        })
    }

    async fn step<'s>(&'s self, case: &mut Case<'s>, step: &Step) -> Vec<String> {
        match &step.action {
            Action::Request(request, poll) => {
                self.request_step(case, step, request, poll.as_ref()).await
            }
            Action::Callback(wait) => self.callback_step(case, step, wait).await,
        }
    }

    async fn request_step<'s>(
        &'s self,
        case: &mut Case<'s>,
        step: &Step,
        request: &Request,
        poll: Option<&Poll>,
    ) -> Vec<String> {
        let sent = match self.render(case, request) {
            Ok(sent) => sent,
            Err(e) => return vec![e],
        };
        let op = self.catalogue.operation(&sent.method, &sent.path);
        if sent
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("x-callback-url"))
        {
            case.callback_op = op;
        }
        let timeouts = &self.config.profile.timeouts;
        let deadline = Instant::now()
            + Duration::from_secs(
                poll.and_then(|p| p.timeout_secs)
                    .unwrap_or(timeouts.poll_secs),
            );
        let interval = Duration::from_millis(
            poll.and_then(|p| p.interval_ms)
                .unwrap_or(timeouts.poll_interval_ms),
        );
        let poll_started = Instant::now();
        let mut tries = 0;
        let message = loop {
            tries += 1;
            let message = match self.send(&sent).await {
                Ok(m) => m,
                Err(e) => return vec![format!("{} {}: {e}", sent.method, sent.path)],
            };
            case.log.push(format!(
                "{} {} -> {} {}",
                sent.method,
                sent.path,
                message.status,
                crate::catalogue::shorten(&message.body, 300)
            ));
            let Some(poll) = poll else {
                break message;
            };
            let conformance = self.conformance(op, &message);
            if !conformance.is_empty() {
                return conformance;
            }
            let unmet = body_mismatches(&poll.until, message.json.as_ref(), &case.vars);
            if unmet.is_empty() {
                break message;
            }
            if tries >= poll.max_tries || Instant::now() + interval > deadline {
                return vec![format!(
                    "still unmet after {tries} tries in {:.1}s (last status {}): {}",
                    poll_started.elapsed().as_secs_f64(),
                    message.status,
                    unmet[0]
                )];
            }
            tokio::time::sleep(interval).await;
        };

        let mut failures = Vec::new();
        if !step.expect.status.is_empty() && !step.expect.status.contains(&message.status) {
            failures.push(format!(
                "status {}, expected {} (body: {})",
                message.status,
                step.expect
                    .status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or "),
                crate::catalogue::shorten(&message.body, 200)
            ));
        }
        failures.extend(self.conformance(op, &message));
        failures.extend(self.expectations(&step.expect, &message, &case.vars));
        if failures.is_empty() {
            failures.extend(extract(&mut case.vars, &step.extract, &message));
        }
        failures
    }

    async fn callback_step(
        &self,
        case: &mut Case<'_>,
        step: &Step,
        wait: &CallbackWait,
    ) -> Vec<String> {
        let timeout = Duration::from_secs(
            wait.timeout_secs
                .unwrap_or(self.config.profile.timeouts.callback_secs),
        );
        let Some(received) = self
            .callbacks
            .wait(&case.token, case.callbacks_seen, timeout)
            .await
        else {
            return vec![format!(
                "no callback arrived at {} within {}s",
                self.callbacks.url_for(&case.token),
                timeout.as_secs()
            )];
        };
        case.callbacks_seen += 1;
        let ReceivedCallback {
            method,
            headers,
            body,
        } = received;
        case.log.push(format!(
            "callback {method} {}",
            crate::catalogue::shorten(&body, 300)
        ));
        let message = Message::new(0, headers, body);
        let mut failures = Vec::new();
        if let Some(expected) = &step.expect.method {
            if !expected.eq_ignore_ascii_case(&method) {
                failures.push(format!("the callback is a {method}, expected {expected}"));
            }
        }
        failures.extend(checks::json_body(&message));
        if let Some(op) = case.callback_op {
            failures.extend(checks::callback_against_spec(
                &self.catalogue,
                op,
                &method,
                message.json.as_ref(),
            ));
        }
        failures.extend(self.expectations(&step.expect, &message, &case.vars));
        if failures.is_empty() {
            failures.extend(extract(&mut case.vars, &step.extract, &message));
        }
        failures
    }

    /// The checks every response gets: `X-Date`, a JSON body, and the spec's declared status and schemas.
    fn conformance(&self, op: Option<&Operation>, message: &Message) -> Vec<String> {
        let mut out: Vec<String> = checks::x_date(message).into_iter().collect();
        out.extend(checks::json_body(message));
        if let Some(op) = op {
            out.extend(checks::response_against_spec(&self.catalogue, op, message));
        }
        out
    }

    /// The step's own expectations: a named schema, headers and body values.
    fn expectations(&self, expect: &Expect, message: &Message, vars: &Vars) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(name) = &expect.schema {
            match &message.json {
                Some(body) => match self.catalogue.check_component(name, body) {
                    Ok(errors) => out.extend(
                        errors
                            .into_iter()
                            .take(3)
                            .map(|e| format!("schema {name}: {e}")),
                    ),
                    Err(e) => out.push(e.to_string()),
                },
                None => out.push(format!("schema {name}: there is no JSON body")),
            }
        }
        for (name, matcher) in &expect.headers {
            let actual = message.header(name).map(|v| Value::String(v.to_owned()));
            if let Err(e) = matcher.check(actual.as_ref(), vars) {
                out.push(format!("header {name} {e}"));
            }
        }
        out.extend(body_mismatches(&expect.body, message.json.as_ref(), vars));
        out
    }

    fn render(&self, case: &Case<'_>, request: &Request) -> Result<Sent, String> {
        let vars = &case.vars;
        let path = vars.render(&request.path).map_err(|e| e.to_string())?;
        let mut headers = Vec::new();
        for (k, v) in &request.headers {
            headers.push((
                k.clone(),
                vars.render(v).map_err(|e| format!("header {k}: {e}"))?,
            ));
        }
        let body = match (&request.json, &request.raw) {
            (Some(json), _) => Some(
                vars.render_value(json)
                    .map_err(|e| e.to_string())?
                    .to_string(),
            ),
            (None, Some(raw)) => Some(vars.render(raw).map_err(|e| e.to_string())?),
            (None, None) => None,
        };
        Ok(Sent {
            method: request.method.to_ascii_uppercase(),
            path,
            headers,
            body,
        })
    }

    async fn send(&self, sent: &Sent) -> Result<Message, String> {
        let method =
            reqwest::Method::from_bytes(sent.method.as_bytes()).map_err(|e| e.to_string())?;
        let url = format!(
            "{}{}",
            self.config.base_url.trim_end_matches('/'),
            sent.path
        );
        let mut request = self
            .http
            .request(method, &url)
            .header("accept", "application/json");
        if sent.body.is_some()
            && !sent
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in &sent.headers {
            request = request.header(k, v);
        }
        request = match &self.config.auth {
            Some(Auth::Basic { user, password }) => request.basic_auth(user, Some(password)),
            Some(Auth::Bearer(token)) => request.bearer_auth(token),
            None => request,
        };
        if let Some(body) = &sent.body {
            request = request.body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("no response: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .text()
            .await
            .map_err(|e| format!("reading the body: {e}"))?;
        Ok(Message::new(status, headers, body))
    }
}

/// A request with its templates rendered.
struct Sent {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

fn body_mismatches(
    expected: &[(String, Matcher)],
    body: Option<&Value>,
    vars: &Vars,
) -> Vec<String> {
    let mut out = Vec::new();
    for (path, matcher) in expected {
        let actual = body.and_then(|b| lookup(b, path));
        if let Err(e) = matcher.check(actual, vars) {
            out.push(format!("body {path} {e}"));
        }
    }
    out
}

fn extract(vars: &mut Vars, wanted: &[(String, Source)], message: &Message) -> Vec<String> {
    let mut out = Vec::new();
    for (name, source) in wanted {
        let value = match source {
            Source::Status => Some(message.status.to_string()),
            Source::Header(h) => message.header(h).map(str::to_owned),
            Source::Body(path) => message
                .json
                .as_ref()
                .and_then(|b| lookup(b, path))
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                }),
        };
        match value {
            Some(v) => vars.set(name.clone(), v),
            None => out.push(format!("cannot extract {name}: {source:?} is missing")),
        }
    }
    out
}
