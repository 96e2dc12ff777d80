//! One OpenAPI 3.0 Schema Object → one JSON Schema (draft 2020-12) object.
//!
//! Kept: structure, types, enums, patterns, lengths, bounds and `required` lists. Dropped: descriptions,
//! examples and other annotations. Converted: `nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`,
//! `type: number` with an integer format, and `$ref`s to `#/components/schemas/X`, which become `X.json`
//! relative to the component folder. OpenAPI 3.0 ignores the siblings of a `$ref`, and so does this conversion.
//! A keyword it does not know is an error, so that no constraint is lost silently.

use serde_json::{Map, Value};

use super::GenError;

/// The prefix of a reference to a component schema.
pub const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// Keywords that only annotate: dropped.
const ANNOTATIONS: &[&str] = &[
    "description",
    "example",
    "examples",
    "title",
    "deprecated",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "default",
    "discriminator",
];

/// Keywords whose value is copied unchanged.
const COPIED: &[&str] = &[
    "type",
    "required",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
];

/// Formats that JSON Schema also defines: kept, and asserted by the runner.
const JSON_SCHEMA_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "email",
    "uri",
    "uri-reference",
    "uuid",
    "hostname",
    "ipv4",
    "ipv6",
];

/// OpenAPI-only formats: dropped (integer ones turn `type: number` into `type: integer`).
const OPENAPI_FORMATS: &[&str] = &[
    "int32", "int64", "float", "double", "byte", "binary", "password",
];

/// Converts component schemas, checking that every reference names a component that exists.
pub struct Converter<'a> {
    components: &'a Map<String, Value>,
    /// Prepended to `X.json` in rewritten references (`""` inside the component folder, `"components/"`
    /// from the operation index).
    ref_base: &'a str,
}

impl<'a> Converter<'a> {
    /// A converter for references relative to `ref_base`.
    pub fn new(components: &'a Map<String, Value>, ref_base: &'a str) -> Self {
        Self {
            components,
            ref_base,
        }
    }

    /// Converts the schema at JSON pointer `at` (used in error messages).
    pub fn schema(&self, schema: &Value, at: &str) -> Result<Value, GenError> {
        let object = schema
            .as_object()
            .ok_or_else(|| GenError::Spec(format!("{at}: a schema must be an object")))?;
        if let Some(reference) = object.get("$ref") {
            return self.reference(reference, at);
        }
        let mut out = Map::new();
        for (key, value) in object {
            let here = format!("{at}/{key}");
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) || k.starts_with("x-") => {}
                k if COPIED.contains(&k) => {
                    out.insert(key.clone(), value.clone());
                }
                "nullable" | "exclusiveMinimum" | "exclusiveMaximum" | "minimum" | "maximum"
                | "format" => {} // handled below, they depend on each other
                "properties" => {
                    let properties = value.as_object().ok_or_else(|| {
                        GenError::Spec(format!("{here}: properties must be an object"))
                    })?;
                    let mut converted = Map::new();
                    for (name, property) in properties {
                        converted.insert(
                            name.clone(),
                            self.schema(property, &format!("{here}/{name}"))?,
                        );
                    }
                    out.insert(key.clone(), Value::Object(converted));
                }
                "additionalProperties" => {
                    let converted = match value {
                        Value::Bool(_) => value.clone(),
                        _ => self.schema(value, &here)?,
                    };
                    out.insert(key.clone(), converted);
                }
                "items" | "not" => {
                    out.insert(key.clone(), self.schema(value, &here)?);
                }
                "allOf" | "anyOf" | "oneOf" => {
                    let members = value
                        .as_array()
                        .ok_or_else(|| GenError::Spec(format!("{here}: {key} must be an array")))?;
                    let converted = members
                        .iter()
                        .enumerate()
                        .map(|(i, m)| self.schema(m, &format!("{here}/{i}")))
                        .collect::<Result<Vec<_>, _>>()?;
                    out.insert(key.clone(), Value::Array(converted));
                }
                other => {
                    return Err(GenError::Spec(format!(
                        "{at}: unknown schema keyword '{other}'; teach convert.rs what it means"
                    )))
                }
            }
        }
        format(object, &mut out, at)?;
        bounds(object, &mut out, "minimum", "exclusiveMinimum", at)?;
        bounds(object, &mut out, "maximum", "exclusiveMaximum", at)?;
        let out = collapse_single_all_of(out);
        nullable(object, out, at)
    }

    fn reference(&self, reference: &Value, at: &str) -> Result<Value, GenError> {
        let text = reference
            .as_str()
            .ok_or_else(|| GenError::Spec(format!("{at}/$ref: must be a string")))?;
        let name = text.strip_prefix(SCHEMA_REF_PREFIX).ok_or_else(|| {
            GenError::Spec(format!(
                "{at}/$ref: '{text}' does not point into {SCHEMA_REF_PREFIX}"
            ))
        })?;
        if !self.components.contains_key(name) {
            return Err(GenError::Spec(format!(
                "{at}/$ref: there is no component schema '{name}'"
            )));
        }
        let mut out = Map::new();
        out.insert(
            "$ref".into(),
            Value::String(format!("{}{name}.json", self.ref_base)),
        );
        Ok(Value::Object(out))
    }
}

/// `format`: JSON Schema formats are kept; `int32`/`int64` make a `number` an `integer`; other OpenAPI formats
/// are dropped.
fn format(
    source: &Map<String, Value>,
    out: &mut Map<String, Value>,
    at: &str,
) -> Result<(), GenError> {
    let Some(format) = source.get("format") else {
        return Ok(());
    };
    let format = format
        .as_str()
        .ok_or_else(|| GenError::Spec(format!("{at}/format: must be a string")))?;
    if JSON_SCHEMA_FORMATS.contains(&format) {
        out.insert("format".into(), Value::String(format.into()));
    } else if OPENAPI_FORMATS.contains(&format) {
        if matches!(format, "int32" | "int64") && out.get("type") == Some(&Value::from("number")) {
            out.insert("type".into(), Value::from("integer"));
        }
    } else {
        return Err(GenError::Spec(format!(
            "{at}/format: unknown format '{format}'; teach convert.rs what it means"
        )));
    }
    Ok(())
}

/// `minimum` + boolean `exclusiveMinimum` (OpenAPI 3.0, JSON Schema draft 4) → numeric `exclusiveMinimum`
/// (draft 2020-12); likewise for the maximum.
fn bounds(
    source: &Map<String, Value>,
    out: &mut Map<String, Value>,
    bound: &str,
    exclusive: &str,
    at: &str,
) -> Result<(), GenError> {
    let value = source.get(bound);
    if let Some(v) = value {
        if !v.is_number() {
            return Err(GenError::Spec(format!("{at}/{bound}: must be a number")));
        }
    }
    match (value, source.get(exclusive)) {
        (Some(v), Some(Value::Bool(true))) => {
            out.insert(exclusive.into(), v.clone());
        }
        (Some(v), None | Some(Value::Bool(false))) => {
            out.insert(bound.into(), v.clone());
        }
        (None, None | Some(Value::Bool(false))) => {}
        (_, Some(other)) => {
            return Err(GenError::Spec(format!(
                "{at}/{exclusive}: {other} needs a boolean with {bound} (OpenAPI 3.0)"
            )))
        }
    }
    Ok(())
}

/// `{allOf: [X]}` with nothing beside it (what remains of `{description, allOf: [$ref]}`) is just `X`.
fn collapse_single_all_of(mut out: Map<String, Value>) -> Map<String, Value> {
    if out.len() == 1 {
        if let Some(Value::Array(members)) = out.get("allOf") {
            if let [Value::Object(only)] = members.as_slice() {
                let only = only.clone();
                out = only;
            }
        }
    }
    out
}

/// `nullable: true` → `null` added to `type` (and to `enum`); with no `type`, the schema becomes
/// `anyOf: [schema, {type: null}]`.
fn nullable(
    source: &Map<String, Value>,
    mut out: Map<String, Value>,
    at: &str,
) -> Result<Value, GenError> {
    match source.get("nullable") {
        None | Some(Value::Bool(false)) => Ok(Value::Object(out)),
        Some(Value::Bool(true)) => {
            if let Some(Value::Array(values)) = out.get_mut("enum") {
                if !values.contains(&Value::Null) {
                    values.push(Value::Null);
                }
            }
            match out.get("type").cloned() {
                Some(Value::String(t)) => {
                    out.insert("type".into(), serde_json::json!([t, "null"]));
                    Ok(Value::Object(out))
                }
                _ => Ok(serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]})),
            }
        }
        Some(other) => Err(GenError::Spec(format!(
            "{at}/nullable: {other} is not a boolean"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn convert(schema: Value) -> Result<Value, GenError> {
        let components = json!({"amount": {"type": "string"}});
        let components = components.as_object().unwrap();
        Converter::new(components, "").schema(&schema, "#")
    }

    #[test]
    fn annotations_are_stripped_and_structure_kept() {
        let out = convert(json!({
            "type": "object", "description": "d", "example": {"a": 1}, "required": ["a"],
            "properties": {"a": {"type": "string", "pattern": "^x$", "maxLength": 3, "example": "x"},
                           "description": {"type": "string"}}
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"type": "object", "required": ["a"], "properties": {
                "a": {"type": "string", "pattern": "^x$", "maxLength": 3},
                "description": {"type": "string"}}})
        );
    }

    #[test]
    fn refs_are_rewritten_and_single_all_of_collapsed() {
        let out = convert(
            json!({"description": "x", "allOf": [{"$ref": "#/components/schemas/amount"}]}),
        )
        .unwrap();
        assert_eq!(out, json!({"$ref": "amount.json"}));
        assert!(convert(json!({"$ref": "#/components/schemas/nope"})).is_err());
        assert!(convert(json!({"$ref": "#/components/parameters/x"})).is_err());
    }

    #[test]
    fn openapi_specifics_are_converted() {
        assert_eq!(
            convert(
                json!({"type": "number", "format": "int32", "minimum": 0, "exclusiveMinimum": true})
            )
            .unwrap(),
            json!({"type": "integer", "exclusiveMinimum": 0})
        );
        assert_eq!(
            convert(json!({"type": "number", "minimum": 1, "exclusiveMinimum": false})).unwrap(),
            json!({"type": "number", "minimum": 1})
        );
        assert_eq!(
            convert(json!({"type": "string", "enum": ["a"], "nullable": true})).unwrap(),
            json!({"type": ["string", "null"], "enum": ["a", null]})
        );
        assert_eq!(
            convert(json!({"allOf": [{"$ref": "#/components/schemas/amount"}], "nullable": true}))
                .unwrap(),
            json!({"anyOf": [{"$ref": "amount.json"}, {"type": "null"}]})
        );
        assert_eq!(
            convert(json!({"type": "string", "format": "date-time"})).unwrap(),
            json!({"type": "string", "format": "date-time"})
        );
    }

    #[test]
    fn unknown_keywords_are_refused() {
        let e = convert(json!({"type": "string", "frobnicate": 1})).unwrap_err();
        assert!(e.to_string().contains("frobnicate"), "{e}");
    }
}
