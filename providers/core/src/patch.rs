//! The GSMA's generic PATCH body (`requestGenericPatchArray`): `[{"op": "replace", "path": "/…", "value": …}]`,
//! used to change one property of a resource (a debit mandate's `mandateStatus`, a transaction's
//! `transactionStatus`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::GsmaError;

/// One operation of a PATCH body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = requestGenericPatch)]
pub struct GenericPatch {
    /// Only `replace` is defined by the GSMA API.
    #[schema(example = "replace")]
    pub op: String,
    /// The property, as a JSON pointer (e.g. `/mandateStatus`).
    #[schema(example = "/mandateStatus")]
    pub path: String,
    /// Its new value.
    #[schema(example = "inactive")]
    pub value: String,
}

/// Parses a PATCH body (1 to 10 operations) and returns the one `replace` of `path` it must hold.
pub fn single_replace(body: &[u8], path: &str) -> Result<String, GsmaError> {
    let value = serde_json::from_slice::<serde_json::Value>(body).map_err(|e| {
        GsmaError::format("body", format!("The request body is not valid JSON: {e}"))
    })?;
    let operations: Vec<GenericPatch> = crate::parse::typed(value)?;
    if operations.is_empty() || operations.len() > 10 {
        return Err(GsmaError::format(
            "body",
            "A PATCH body is an array of 1 to 10 operations",
        ));
    }
    let mut found = None;
    for (i, operation) in operations.into_iter().enumerate() {
        if operation.op != "replace" {
            return Err(GsmaError::format(
                &format!("[{i}].op"),
                format!("'{}' is not supported; use 'replace'", operation.op),
            ));
        }
        if operation.path != path {
            return Err(GsmaError::format(
                &format!("[{i}].path"),
                format!(
                    "'{}' cannot be changed here; only '{path}' can",
                    operation.path
                ),
            ));
        }
        found = Some(operation.value);
    }
    found.ok_or_else(|| GsmaError::mandatory(path.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replace_of_the_path_is_read() {
        let body = br#"[{"op":"replace","path":"/mandateStatus","value":"inactive"}]"#;
        assert_eq!(single_replace(body, "/mandateStatus").unwrap(), "inactive");
        for bad in [
            &br#"[]"#[..],
            br#"{"op":"replace"}"#,
            br#"[{"op":"add","path":"/mandateStatus","value":"inactive"}]"#,
            br#"[{"op":"replace","path":"/amountLimit","value":"1"}]"#,
            br#"[{"op":"replace","path":"/mandateStatus"}]"#,
            br#"not json"#,
        ] {
            let e = single_replace(bad, "/mandateStatus").unwrap_err();
            assert_eq!(
                e.error_category,
                crate::ErrorCategory::Validation,
                "{bad:?}"
            );
        }
    }
}
