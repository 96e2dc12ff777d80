//! The scenario model: one YAML (or JSON) file per scenario under `scenarios/<use-case>/`, read and checked
//! before anything runs. The format is described in the README.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::expect::Matcher;

/// A scenario file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("scenario {file}: {message}")]
pub struct ScenarioError {
    /// The file, relative to the scenario folder.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

/// One scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// `<use-case>/<file stem>`, e.g. `merchant-payments/polling-success`.
    pub id: String,
    /// The folder: the GSMA use case or API area.
    pub use_case: String,
    /// A one-line title.
    pub title: String,
    /// A longer explanation, if any.
    pub description: Option<String>,
    /// Capabilities the server must have (as listed by the profile); otherwise the scenario is skipped.
    pub requires: Vec<String>,
    /// Variables set before the first step (templates over the profile's data).
    pub vars: BTreeMap<String, String>,
    /// The steps, run in order; the first failing step ends the scenario.
    pub steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    steps: Vec<StepFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
    #[serde(default)]
    request: Option<Request>,
    #[serde(default)]
    callback: Option<CallbackWait>,
    #[serde(default)]
    poll: Option<PollFile>,
    #[serde(default)]
    expect: ExpectFile,
    #[serde(default)]
    extract: BTreeMap<String, String>,
}

/// An HTTP request to the server under test.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path (and query) relative to the base URL; a template.
    pub path: String,
    /// Request headers; values are templates. `Content-Type` here replaces the default `application/json`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body; every string in it is a template.
    #[serde(default)]
    pub json: Option<Value>,
    /// A body sent as text, unchanged but for templates (for malformed JSON).
    #[serde(default)]
    pub raw: Option<String>,
}

/// Waiting for the next callback to this scenario's `{{callbackUrl}}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackWait {
    /// How long to wait; the profile's `timeouts.callback_secs` by default.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PollFile {
    until: BTreeMap<String, Value>,
    #[serde(default)]
    max_tries: Option<u32>,
    #[serde(default)]
    interval_ms: Option<u64>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

/// Repeating a request until its body satisfies `until`, within limits.
#[derive(Clone, Debug)]
pub struct Poll {
    /// Body path → matcher; all must hold.
    pub until: Vec<(String, Matcher)>,
    /// At most this many requests (default 120).
    pub max_tries: u32,
    /// Pause between requests; the profile's `timeouts.poll_interval_ms` by default.
    pub interval_ms: Option<u64>,
    /// At most this long; the profile's `timeouts.poll_secs` by default.
    pub timeout_secs: Option<u64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    #[serde(default)]
    status: Option<StatusFile>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    body: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StatusFile {
    One(u16),
    Any(Vec<u16>),
}

/// What a response (or a callback) must be.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// Acceptable HTTP statuses (empty: any).
    pub status: Vec<u16>,
    /// For a callback: its HTTP method.
    pub method: Option<String>,
    /// A component schema of the spec that the body must satisfy, besides the operation's own.
    pub schema: Option<String>,
    /// Header name → matcher.
    pub headers: Vec<(String, Matcher)>,
    /// Body path → matcher.
    pub body: Vec<(String, Matcher)>,
}

/// Where an extracted value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// A body path.
    Body(String),
    /// A response header.
    Header(String),
    /// The HTTP status.
    Status,
}

/// What a step does.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send a request, possibly repeatedly.
    Request(Request, Option<Poll>),
    /// Wait for a callback.
    Callback(CallbackWait),
}

/// One step of a scenario.
#[derive(Clone, Debug)]
pub struct Step {
    /// Shown in reports.
    pub name: String,
    /// The request to send or the callback to wait for.
    pub action: Action,
    /// What the response or callback must be.
    pub expect: Expect,
    /// Variables to set from the response: name → source.
    pub extract: Vec<(String, Source)>,
}

impl Scenario {
    /// Parses one scenario file; `relative` is its path under the scenario folder (`use-case/name.yaml`).
    pub fn parse(relative: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |message: String| ScenarioError {
            file: relative.to_owned(),
            message,
        };
        let file: ScenarioFile = if relative.ends_with(".json") {
            serde_json::from_str(text).map_err(|e| err(e.to_string()))?
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| err(e.to_string()))?
        };
        let id = relative
            .rsplit_once('.')
            .map_or(relative, |(stem, _)| stem)
            .to_owned();
        let use_case = match id.split_once('/') {
            Some((use_case, _)) => use_case.to_owned(),
            None => return Err(err("a scenario must be in a use-case folder".into())),
        };
        if file.steps.is_empty() {
            return Err(err("a scenario needs at least one step".into()));
        }
        let steps = file
            .steps
            .into_iter()
            .map(|s| {
                let name = s.name.clone();
                step(s).map_err(|m| err(format!("step '{name}': {m}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Scenario {
            id,
            use_case,
            title: file.title,
            description: file.description,
            requires: file.requires,
            vars: file.vars,
            steps,
        })
    }

    /// The scenarios embedded in the binary.
    pub fn embedded() -> Result<Vec<Scenario>, ScenarioError> {
        crate::embedded::SCENARIOS
            .iter()
            .map(|(path, text)| Scenario::parse(path, text))
            .collect()
    }

    /// The scenarios in a folder (`<dir>/<use-case>/<name>.yaml`), sorted by id.
    pub fn from_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
        let io = |message: String| ScenarioError {
            file: dir.display().to_string(),
            message,
        };
        let mut out = Vec::new();
        let use_cases = std::fs::read_dir(dir).map_err(|e| io(e.to_string()))?;
        for use_case in use_cases {
            let use_case = use_case.map_err(|e| io(e.to_string()))?.path();
            if !use_case.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&use_case).map_err(|e| io(e.to_string()))? {
                let path = file.map_err(|e| io(e.to_string()))?.path();
                let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
                if !matches!(ext, "yaml" | "yml" | "json") {
                    continue;
                }
                let relative = path
                    .strip_prefix(dir)
                    .map_err(|e| io(e.to_string()))?
                    .to_string_lossy()
                    .replace('\\', "/");
                let text =
                    std::fs::read_to_string(&path).map_err(|e| io(format!("{relative}: {e}")))?;
                out.push(Scenario::parse(&relative, &text)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}

fn matchers(map: BTreeMap<String, Value>) -> Result<Vec<(String, Matcher)>, String> {
    map.into_iter()
        .map(|(k, v)| {
            Matcher::parse(&v)
                .map(|m| (k.clone(), m))
                .map_err(|e| format!("{k}: {e}"))
        })
        .collect()
}

fn step(s: StepFile) -> Result<Step, String> {
    let action = match (s.request, s.callback) {
        (Some(request), None) => {
            if request.json.is_some() && request.raw.is_some() {
                return Err("a request has `json` or `raw`, not both".into());
            }
            let poll = s
                .poll
                .map(|p| -> Result<Poll, String> {
                    Ok(Poll {
                        until: matchers(p.until)?,
                        max_tries: p.max_tries.unwrap_or(120).max(1),
                        interval_ms: p.interval_ms,
                        timeout_secs: p.timeout_secs,
                    })
                })
                .transpose()?;
            Action::Request(request, poll)
        }
        (None, Some(wait)) => {
            if s.poll.is_some() {
                return Err("`poll` goes with `request`, not `callback`".into());
            }
            Action::Callback(wait)
        }
        _ => return Err("a step has exactly one of `request` and `callback`".into()),
    };
    let e = s.expect;
    let expect = Expect {
        status: match e.status {
            None => Vec::new(),
            Some(StatusFile::One(s)) => vec![s],
            Some(StatusFile::Any(list)) => list,
        },
        method: e.method,
        schema: e.schema,
        headers: matchers(e.headers)?,
        body: matchers(e.body)?,
    };
    if matches!(action, Action::Callback(_)) && !expect.status.is_empty() {
        return Err("a callback has no status; expect its `method`".into());
    }
    let extract = s
        .extract
        .into_iter()
        .map(|(name, from)| source(&from).map(|src| (name, src)))
        .collect::<Result<_, _>>()?;
    Ok(Step {
        name: s.name,
        action,
        expect,
        extract,
    })
}

fn source(text: &str) -> Result<Source, String> {
    if text == "status" {
        Ok(Source::Status)
    } else if text == "body" {
        Ok(Source::Body(String::new()))
    } else if let Some(path) = text.strip_prefix("body.") {
        Ok(Source::Body(path.to_owned()))
    } else if let Some(name) = text.strip_prefix("header.") {
        Ok(Source::Header(name.to_owned()))
    } else {
        Err(format!(
            "cannot extract from '{text}': use body.<path>, header.<Name> or status"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_scenario_parses() {
        let all = Scenario::embedded().unwrap();
        assert!(all.len() >= 20, "{} scenarios", all.len());
        let mut ids: Vec<_> = all.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
    }

    #[test]
    fn mistakes_are_reported_with_the_file() {
        let bad = "title: t\nsteps:\n  - name: s\n    request: {method: GET, path: /x}\n    callback: {}\n";
        let e = Scenario::parse("u/bad.yaml", bad).unwrap_err();
        assert!(e.to_string().contains("u/bad.yaml"), "{e}");
        assert!(e.to_string().contains("exactly one"), "{e}");
        let typo =
            "title: t\nsteps:\n  - name: s\n    request: {method: GET, path: /x}\n    expct: {}\n";
        assert!(Scenario::parse("u/typo.yaml", typo).is_err());
        let extract = "title: t\nsteps:\n  - name: s\n    request: {method: GET, path: /x}\n    extract: {a: foo}\n";
        assert!(Scenario::parse("u/x.yaml", extract).is_err());
        assert!(Scenario::parse("top.yaml", "title: t\nsteps: []\n").is_err());
    }
}
