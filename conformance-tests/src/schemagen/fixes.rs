//! **The one place** where the known defects of the GSMA MMAPI 1.2.0 YAML are corrected before schemas are
//! generated (see `shared/spec/SOURCES.md`, "Known defects in the official YAML").
//!
//! Each fix checks that the defect is still there and fails otherwise, so that a corrected upstream file is
//! noticed and the fix retired rather than applied blindly. The list of fixes applied is written into
//! `operations.json`.
//!
//! Deliberately **not** changed:
//! - the lowerCamelCase enums of `errorObject` (`businessRule`, `genericError`, …): the YAML is right, the prose
//!   tables' UpperCamelCase is not what the GSMA compliance cases and SDKs use;
//! - `batchdescription` (sic) in the batch objects: a spelling, not a contradiction with the prose we can
//!   settle, and no scenario exercises batches yet;
//! - the recurring-payments use-case file being a copy of the P2P file: only the master file is read.

use serde_json::{json, Value};

use super::GenError;

/// A correction of the GSMA YAML.
pub struct Fix {
    /// A short stable name.
    pub id: &'static str,
    /// What is wrong in the YAML and what the generated schemas say instead.
    pub description: &'static str,
    apply: fn(&mut Value) -> Result<(), String>,
}

/// Every correction, applied in this order.
pub const FIXES: &[Fix] = &[
    Fix {
        id: "error-description-spelling",
        description: "errorObject spells its text property 'errordescription'; the prose specification, the \
                      GSMA test platform and most clients use 'errorDescription', which the schema declares instead",
        apply: error_description_spelling,
    },
    Fix {
        id: "request-state-error-reference",
        description: "requestStateObject names its error property 'error' while the prose calls it \
                      'errorReference'; the schema keeps 'error' and also declares 'errorReference' with the \
                      same errorObject schema, so either spelling is validated",
        apply: request_state_error_reference,
    },
    Fix {
        id: "authorisation-code-list-is-array",
        description: "GET /accounts/.../authorisationcodes (a list) declares a single responseAuthorisationCode \
                      as its 200 body; the schema is an array of them",
        apply: authorisation_code_list_is_array,
    },
];

/// Applies every fix to the parsed OpenAPI document.
pub fn apply_all(spec: &mut Value) -> Result<(), GenError> {
    for fix in FIXES {
        (fix.apply)(spec).map_err(|why| {
            GenError::Fix(format!(
                "{}: {why}; the GSMA YAML changed, review src/schemagen/fixes.rs",
                fix.id
            ))
        })?;
    }
    Ok(())
}

fn at<'a>(spec: &'a mut Value, pointer: &str) -> Result<&'a mut Value, String> {
    spec.pointer_mut(pointer)
        .ok_or_else(|| format!("{pointer} is not in the YAML"))
}

fn properties<'a>(
    spec: &'a mut Value,
    schema: &str,
) -> Result<&'a mut serde_json::Map<String, Value>, String> {
    at(spec, &format!("/components/schemas/{schema}/properties"))?
        .as_object_mut()
        .ok_or_else(|| format!("{schema}.properties is not an object"))
}

fn error_description_spelling(spec: &mut Value) -> Result<(), String> {
    let props = properties(spec, "errorObject")?;
    let wrong = props
        .remove("errordescription")
        .ok_or("errorObject.errordescription is no longer there")?;
    if props.contains_key("errorDescription") {
        return Err("errorObject already declares errorDescription".into());
    }
    props.insert("errorDescription".into(), wrong);
    Ok(())
}

fn request_state_error_reference(spec: &mut Value) -> Result<(), String> {
    let props = properties(spec, "requestStateObject")?;
    let error = props
        .get("error")
        .cloned()
        .ok_or("requestStateObject.error is no longer there")?;
    if props.contains_key("errorReference") {
        return Err("requestStateObject already declares errorReference".into());
    }
    props.insert("errorReference".into(), error);
    Ok(())
}

fn authorisation_code_list_is_array(spec: &mut Value) -> Result<(), String> {
    for path in [
        "/accounts/{accountId}/authorisationcodes",
        "/accounts/{identifierType}/{identifier}/authorisationcodes",
    ] {
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let schema = at(
            spec,
            &format!("/paths/{escaped}/get/responses/200/content/application~1json/schema"),
        )?;
        if schema.get("type") == Some(&Value::from("array")) {
            return Err(format!("GET {path} already answers an array"));
        }
        if schema.get("$ref")
            != Some(&Value::from(
                "#/components/schemas/responseAuthorisationCode",
            ))
        {
            return Err(format!(
                "GET {path} no longer answers responseAuthorisationCode"
            ));
        }
        *schema = json!({"type": "array", "items": schema.clone()});
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_that_no_longer_applies_is_an_error() {
        let mut spec = json!({"components": {"schemas": {"errorObject": {"properties": {"errorDescription": {}}}}}});
        let e = apply_all(&mut spec).unwrap_err().to_string();
        assert!(e.contains("error-description-spelling"), "{e}");
    }
}
