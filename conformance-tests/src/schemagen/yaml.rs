//! Reading the GSMA YAML into JSON values. OpenAPI documents use integer keys (HTTP statuses such as `201:`),
//! which a JSON object cannot hold, so keys are turned into their text here.

use serde_json::{Map, Number, Value};
use serde_yaml_ng::Value as Yaml;

use super::GenError;

/// Parses YAML text (LF or CRLF line ends) into a JSON value, stringifying scalar mapping keys.
pub fn parse(text: &str) -> Result<Value, GenError> {
    let yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| GenError::Yaml(e.to_string()))?;
    to_json(&yaml, "")
}

fn to_json(yaml: &Yaml, at: &str) -> Result<Value, GenError> {
    Ok(match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => number(n, at)?,
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, &format!("{at}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = key_text(key, at)?;
                let child = to_json(value, &format!("{at}/{key}"))?;
                object.insert(key, child);
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => to_json(&tagged.value, at)?,
    })
}

fn number(n: &serde_yaml_ng::Number, at: &str) -> Result<Value, GenError> {
    if let Some(i) = n.as_i64() {
        Ok(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Value::from(u))
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| GenError::Spec(format!("{at}: {n} is not a finite number")))
    }
}

fn key_text(key: &Yaml, at: &str) -> Result<String, GenError> {
    match key {
        Yaml::String(s) => Ok(s.clone()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::Bool(b) => Ok(b.to_string()),
        other => Err(GenError::Spec(format!(
            "{at}: a mapping key must be a scalar, not {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_integer_keys_and_quoted_scalars() {
        let v = parse("a:\r\n  201:\r\n    x: \"NO\"\r\n  b: NO\r\n  c: 1.5\r\n").unwrap();
        assert_eq!(v["a"]["201"]["x"], "NO");
        assert_eq!(v["a"]["b"], "NO", "YAML 1.2: NO is a string");
        assert_eq!(v["a"]["c"], 1.5);
    }
}
