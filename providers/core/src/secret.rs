//! A wrapper for credentials that never shows its value in logs, errors or debug output.

use std::fmt;

use serde::{Deserialize, Deserializer, Serializer};

/// A secret string (consumer secret, passkey, password, token). `Debug` and `Display` print `[redacted]`;
/// the value is reachable only through [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// Writes the value of a secret where a wire format needs it: `#[serde(serialize_with = "serialize_exposed")]`.
/// `Secret` itself has no `Serialize`, so that it cannot end up in a JSON answer or a log by accident.
pub fn serialize_exposed<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn serialises_only_where_asked() {
        #[derive(serde::Serialize)]
        struct Wire {
            #[serde(serialize_with = "serialize_exposed")]
            password: Secret,
        }
        let json = serde_json::to_string(&Wire {
            password: Secret::new("hunter2"),
        })
        .unwrap();
        assert_eq!(json, r#"{"password":"hunter2"}"#);
    }
}
