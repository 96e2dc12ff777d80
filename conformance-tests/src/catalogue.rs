//! The embedded spec, at run time: the operation index and the component schemas generated from the GSMA YAML,
//! compiled into validators on first use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonschema::{Registry, Validator};
use serde::Deserialize;
use serde_json::Value;

use crate::embedded;
use crate::schemagen::{COMPONENTS_DIR, OPERATIONS_FILE, SCHEMA_BASE};

/// Why the embedded schemas could not be used (a broken build, not a server's fault).
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// `operations.json` is missing or malformed.
    #[error("the embedded operation index: {0}")]
    Index(String),
    /// A component schema is malformed.
    #[error("the embedded schemas: {0}")]
    Schema(String),
}

/// One response of an operation, as the spec declares it.
#[derive(Debug, Deserialize)]
pub struct ResponseSpec {
    /// The body's schema (`null` when the response has no body).
    pub schema: Option<Value>,
    /// Declared headers: name → `{required, schema}`.
    #[serde(default)]
    pub headers: HashMap<String, HeaderSpec>,
}

/// A declared response header.
#[derive(Debug, Deserialize)]
pub struct HeaderSpec {
    /// Whether the spec marks it as required.
    #[serde(default)]
    pub required: bool,
    /// The schema of its value.
    #[serde(default)]
    pub schema: Value,
}

/// A callback an operation may make to the client's `X-Callback-URL`.
#[derive(Debug, Deserialize)]
pub struct CallbackSpec {
    /// The callback's operationId.
    #[serde(rename = "operationId")]
    pub operation_id: Option<String>,
    /// The HTTP method of the callback.
    pub method: String,
    /// The body's schema.
    pub schema: Option<Value>,
}

/// One operation of the spec.
#[derive(Debug, Deserialize)]
pub struct Operation {
    /// The spec's operationId.
    #[serde(rename = "operationId")]
    pub operation_id: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// The path template, e.g. `/transactions/{transactionReference}`.
    pub path: String,
    /// Status code → response.
    pub responses: HashMap<String, ResponseSpec>,
    /// The callbacks the operation may make.
    #[serde(default)]
    pub callbacks: Vec<CallbackSpec>,
}

#[derive(Deserialize)]
struct Index {
    spec: SpecIdentity,
    operations: Vec<Operation>,
}

/// Which spec the schemas were generated from.
#[derive(Clone, Debug, Deserialize)]
pub struct SpecIdentity {
    /// The YAML's file name.
    pub file: String,
    /// `info.version`.
    pub version: Option<String>,
}

/// The spec's operations and schemas, with validators compiled on demand and cached.
pub struct Catalogue {
    spec: SpecIdentity,
    operations: Vec<Operation>,
    registry: Registry<'static>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

impl Catalogue {
    /// Loads the schemas embedded in the binary.
    pub fn embedded() -> Result<Self, CatalogueError> {
        let index = embedded::schema(OPERATIONS_FILE)
            .ok_or_else(|| CatalogueError::Index(format!("{OPERATIONS_FILE} is not embedded")))?;
        let index: Index =
            serde_json::from_str(index).map_err(|e| CatalogueError::Index(e.to_string()))?;
        let prefix = format!("{COMPONENTS_DIR}/");
        let mut resources = Vec::new();
        for (path, text) in embedded::SCHEMAS {
            if path.starts_with(&prefix) {
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| CatalogueError::Schema(format!("{path}: {e}")))?;
                resources.push((format!("{SCHEMA_BASE}{path}"), value));
            }
        }
        if resources.is_empty() {
            return Err(CatalogueError::Schema(
                "no component schema is embedded".into(),
            ));
        }
        let registry = Registry::new()
            .extend(resources)
            .and_then(|builder| builder.prepare())
            .map_err(|e| CatalogueError::Schema(e.to_string()))?;
        Ok(Self {
            spec: index.spec,
            operations: index.operations,
            registry,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Which spec the schemas come from.
    pub fn spec(&self) -> &SpecIdentity {
        &self.spec
    }

    /// The names of the component schemas.
    pub fn component_names(&self) -> Vec<&'static str> {
        embedded::SCHEMAS
            .iter()
            .filter_map(|(p, _)| p.strip_prefix("components/")?.strip_suffix(".json"))
            .collect()
    }

    /// The operation that serves `method` on `path` (relative to the API base, without query), preferring the
    /// template with the most literal segments.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .filter_map(|op| {
                let template: Vec<&str> = op.path.trim_matches('/').split('/').collect();
                if template.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (t, s) in template.iter().zip(&segments) {
                    if t.starts_with('{') && t.ends_with('}') {
                        if s.is_empty() {
                            return None;
                        }
                    } else if t == s {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, op)| op)
    }

    /// Validates `instance` against the component schema `name` (e.g. `responseTransaction`). Returns the
    /// violations, empty when it conforms.
    pub fn check_component(
        &self,
        name: &str,
        instance: &Value,
    ) -> Result<Vec<String>, CatalogueError> {
        if embedded::schema(&format!("{COMPONENTS_DIR}/{name}.json")).is_none() {
            return Err(CatalogueError::Schema(format!(
                "there is no component schema '{name}' in the spec"
            )));
        }
        self.check(
            &serde_json::json!({"$ref": format!("{COMPONENTS_DIR}/{name}.json")}),
            instance,
        )
    }

    /// Validates `instance` against a schema from the operation index (relative references resolve against
    /// the schema folder). Returns the violations, empty when it conforms.
    pub fn check(&self, schema: &Value, instance: &Value) -> Result<Vec<String>, CatalogueError> {
        let validator = self.validator(schema)?;
        Ok(validator
            .iter_errors(instance)
            .map(|e| {
                let path = e.instance_path().to_string();
                let text = shorten(&e.to_string(), 240);
                if path.is_empty() {
                    text
                } else {
                    format!("{path}: {text}")
                }
            })
            .collect())
    }

    fn validator(&self, schema: &Value) -> Result<Arc<Validator>, CatalogueError> {
        let key = schema.to_string();
        let mut cache = self
            .validators
            .lock()
            .map_err(|_| CatalogueError::Schema("validator cache poisoned".into()))?;
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&self.registry)
            .with_base_uri(format!("{SCHEMA_BASE}{OPERATIONS_FILE}"))
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| CatalogueError::Schema(format!("{schema}: {e}")))?;
        let validator = Arc::new(validator);
        cache.insert(key, validator.clone());
        Ok(validator)
    }
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(max).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn operations_are_matched_by_template() {
        let c = Catalogue::embedded().unwrap();
        let op = |m, p| c.operation(m, p).map(|o| o.operation_id.as_str());
        assert_eq!(
            op("POST", "/transactions/type/merchantpay"),
            Some("transactionstypetransactionTypePUT")
        );
        assert_eq!(
            op("GET", "/transactions/abc"),
            Some("transactionsTransactionReferenceGET")
        );
        assert_eq!(op("GET", "/heartbeat"), Some("heartbeatGET"));
        assert_eq!(
            op("GET", "/requeststates/x?y=1"),
            Some("requeststatesServerCorrelationIdGET")
        );
        assert_eq!(
            op("GET", "/accounts/msisdn/+254700000000/balance"),
            Some("accountsIdentifierTypeIdentifierBalanceGET")
        );
        assert_eq!(op("DELETE", "/heartbeat"), None);
        assert_eq!(op("GET", "/nope"), None);
    }

    #[test]
    fn components_validate_with_references_and_formats() {
        let c = Catalogue::embedded().unwrap();
        let ok = json!({"serverCorrelationId": "01a2129a-2c6d-75b8-9214-2ecd1dac0b2b", "status": "pending",
                        "notificationMethod": "polling"});
        assert!(c
            .check_component("requestStateObject", &ok)
            .unwrap()
            .is_empty());
        let bad = json!({"serverCorrelationId": "x", "status": "done", "notificationMethod": "polling",
                         "error": {"errorCategory": "BusinessRule"}, "expiryTime": "yesterday"});
        let errors = c.check_component("requestStateObject", &bad).unwrap();
        assert!(errors.len() >= 4, "{errors:?}");
        let amount = json!({"amount": "12.345.6", "currency": "KES", "debitParty": [{"key": "msisdn", "value": "1"}]});
        assert!(!c
            .check_component("requestTransactionType", &amount)
            .unwrap()
            .is_empty());
        assert!(c.check_component("nope", &amount).is_err());
    }
}
