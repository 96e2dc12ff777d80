//! Profiles: the test data and capabilities of one server under test, so that the same scenarios run against
//! servers whose test MSISDNs, accounts and currencies differ.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// A profile that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("profile {source_name}: {message}")]
pub struct ProfileError {
    /// The file or embedded name.
    pub source_name: String,
    /// What is wrong.
    pub message: String,
}

/// Time limits, in the profile's `timeouts`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Waiting for one HTTP response.
    pub request_secs: u64,
    /// Waiting for a callback.
    pub callback_secs: u64,
    /// Polling until a condition holds.
    pub poll_secs: u64,
    /// Pause between polls.
    pub poll_interval_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request_secs: 30,
            callback_secs: 30,
            poll_secs: 30,
            poll_interval_ms: 250,
        }
    }
}

/// The test data and capabilities of a server.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// A short name.
    pub name: String,
    /// What server this profile is for.
    #[serde(default)]
    pub description: Option<String>,
    /// What the server implements; scenarios that require anything else are skipped.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Time limits.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Test data, available to templates with dotted names (`{{payer.success}}`).
    #[serde(default)]
    pub data: Value,
}

impl Profile {
    /// Parses a profile (YAML, or JSON when `name` ends with `.json`).
    pub fn parse(name: &str, text: &str) -> Result<Profile, ProfileError> {
        let parsed = if name.ends_with(".json") {
            serde_json::from_str(text).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
        };
        parsed.map_err(|message| ProfileError {
            source_name: name.to_owned(),
            message,
        })
    }

    /// Reads the profile file at `arg`, or else the embedded profile of that name (`sandbox-daraja`).
    pub fn load(arg: &str) -> Result<Profile, ProfileError> {
        let path = Path::new(arg);
        if path.is_file() {
            let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
                source_name: arg.to_owned(),
                message: e.to_string(),
            })?;
            return Profile::parse(arg, &text);
        }
        match crate::embedded::profile(arg) {
            Some((name, text)) => Profile::parse(name, text),
            None => Err(ProfileError {
                source_name: arg.to_owned(),
                message: format!(
                    "no such file, and no embedded profile of that name (embedded: {})",
                    crate::embedded::PROFILES
                        .iter()
                        .map(|(p, _)| *p)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// The capabilities in `requires` that this profile lacks.
    pub fn missing<'a>(&self, requires: &'a [String]) -> Vec<&'a str> {
        requires
            .iter()
            .filter(|r| !self.capabilities.contains(r))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_sandbox_profile_loads() {
        let p = Profile::load("sandbox-daraja").unwrap();
        assert_eq!(p.data["currency"], "KES");
        assert!(p.capabilities.iter().any(|c| c == "merchantpay"));
        assert_eq!(
            p.missing(&["merchantpay".into(), "accountlinks".into()]),
            vec!["accountlinks"]
        );
        assert!(Profile::load("no-such-profile").is_err());
    }
}
