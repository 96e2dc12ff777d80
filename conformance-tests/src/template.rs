//! `{{name}}` templates in paths, headers, bodies and expectations.
//!
//! Names are looked up in a [`Vars`] scope: the profile's data (flattened with dots: `payer.success`), the
//! scenario's `vars`, values extracted by earlier steps, and `callbackUrl`. `{{uuid}}` is a fresh lower-case
//! UUID v4 at every use; `{{now}}` is the current time in RFC 3339.

use std::collections::BTreeMap;

use serde_json::Value;

/// A template named a variable that is not defined.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown template variable '{0}'")]
pub struct UnknownVar(pub String);

/// The variables of one scenario run.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    /// Defines or replaces `name`.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    /// The value of `name`, if defined.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Defines every scalar of `data`, nested keys joined with dots (`{payer: {success: x}}` → `payer.success`).
    pub fn set_flattened(&mut self, prefix: &str, data: &Value) {
        match data {
            Value::Object(map) => {
                for (k, v) in map {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    self.set_flattened(&name, v);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.set_flattened(&format!("{prefix}.{i}"), v);
                }
            }
            Value::String(s) => self.set(prefix, s.clone()),
            Value::Null => {}
            other => self.set(prefix, other.to_string()),
        }
    }

    /// Replaces every `{{name}}` in `text`.
    pub fn render(&self, text: &str) -> Result<String, UnknownVar> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = after[..end].trim();
            out.push_str(&self.lookup(name)?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Renders every string inside a JSON value (keys included).
    pub fn render_value(&self, value: &Value) -> Result<Value, UnknownVar> {
        Ok(match value {
            Value::String(s) => Value::String(self.render(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    out.insert(self.render(k)?, self.render_value(v)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn lookup(&self, name: &str) -> Result<String, UnknownVar> {
        match name {
            "uuid" => Ok(uuid::Uuid::new_v4().to_string()),
            "now" => Ok(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            // Dates (UTC) for fields such as a mandate's startDate.
            "today" => Ok(chrono::Utc::now().date_naive().to_string()),
            "tomorrow" => Ok((chrono::Utc::now().date_naive() + chrono::Days::new(1)).to_string()),
            _ => self
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| UnknownVar(name.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_variables_uuids_and_nested_values() {
        let mut vars = Vars::default();
        vars.set_flattened(
            "",
            &json!({"payer": {"success": "+254708374149"}, "n": 5, "list": ["a"]}),
        );
        vars.set("ref", "R1");
        assert_eq!(
            vars.render("/transactions/{{ ref }}").unwrap(),
            "/transactions/R1"
        );
        assert_eq!(
            vars.render("{{payer.success}}/{{n}}/{{list.0}}").unwrap(),
            "+254708374149/5/a"
        );
        let a = vars.render("{{uuid}}").unwrap();
        assert_eq!(a.len(), 36);
        assert_ne!(a, vars.render("{{uuid}}").unwrap());
        assert_eq!(vars.render("{{nope}}"), Err(UnknownVar("nope".into())));
        assert_eq!(vars.render("a {{ b").unwrap(), "a {{ b");
        assert_eq!(
            vars.render_value(&json!({"x": ["{{ref}}", 1]})).unwrap(),
            json!({"x": ["R1", 1]})
        );
    }
}
