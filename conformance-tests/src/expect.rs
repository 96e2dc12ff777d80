//! Expectations on values: exact values, or the matchers `present`, `absent`, `regex`, `not`, `one_of`,
//! `equals`, `min_len`, `max_len` and `date_time`; and dot paths into JSON bodies (`error.errorCode`,
//! `creditParty.0.value`, `$` for the whole body).

use serde_json::Value;

use crate::template::Vars;

const KEYWORDS: &[&str] = &[
    "present",
    "absent",
    "regex",
    "not",
    "one_of",
    "equals",
    "min_len",
    "max_len",
    "date_time",
];

/// A check on one value (which may be missing).
#[derive(Clone, Debug, PartialEq)]
pub enum Matcher {
    /// Equal to this JSON value (strings are templates).
    Equals(Value),
    /// There, and not `null`.
    Present,
    /// Missing, or `null`.
    Absent,
    /// A string (or a number's text) that the regular expression (a template) finds.
    Regex(String),
    /// The inner matcher does not hold.
    Not(Box<Matcher>),
    /// At least one of these holds.
    OneOf(Vec<Matcher>),
    /// An array or string at least this long.
    MinLen(usize),
    /// An array or string at most this long.
    MaxLen(usize),
    /// A string that is an RFC 3339 date-time.
    DateTime,
    /// All of these hold (a mapping with several matcher keywords).
    All(Vec<Matcher>),
}

impl Matcher {
    /// Reads a matcher from a scenario value: a mapping whose keys are all matcher keywords is a matcher, any
    /// other value is an exact value.
    pub fn parse(value: &Value) -> Result<Matcher, String> {
        let Value::Object(map) = value else {
            return Ok(Matcher::Equals(value.clone()));
        };
        let keyword_count = map
            .keys()
            .filter(|k| KEYWORDS.contains(&k.as_str()))
            .count();
        if keyword_count == 0 {
            return Ok(Matcher::Equals(value.clone()));
        }
        if keyword_count != map.len() {
            return Err(format!(
                "{value} mixes matcher keywords ({}) with other keys; use `equals:` for a literal object",
                KEYWORDS.join(", ")
            ));
        }
        let mut all = Vec::new();
        for (k, v) in map {
            let flag = || {
                v.as_bool()
                    .ok_or_else(|| format!("`{k}` takes true or false"))
            };
            let len = || {
                v.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| format!("`{k}` takes a non-negative integer"))
            };
            all.push(match k.as_str() {
                "present" => {
                    if flag()? {
                        Matcher::Present
                    } else {
                        Matcher::Absent
                    }
                }
                "absent" => {
                    if flag()? {
                        Matcher::Absent
                    } else {
                        Matcher::Present
                    }
                }
                "regex" => {
                    let text = v.as_str().ok_or("`regex` takes a string")?;
                    Matcher::Regex(text.to_owned())
                }
                "not" => Matcher::Not(Box::new(Matcher::parse(v)?)),
                "one_of" => Matcher::OneOf(
                    v.as_array()
                        .ok_or("`one_of` takes a list")?
                        .iter()
                        .map(Matcher::parse)
                        .collect::<Result<_, _>>()?,
                ),
                "equals" => Matcher::Equals(v.clone()),
                "min_len" => Matcher::MinLen(len()?),
                "max_len" => Matcher::MaxLen(len()?),
                "date_time" => {
                    if flag()? {
                        Matcher::DateTime
                    } else {
                        Matcher::Not(Box::new(Matcher::DateTime))
                    }
                }
                other => return Err(format!("unknown matcher keyword `{other}`")),
            });
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Matcher::All(all)
        })
    }

    /// Whether `actual` satisfies the matcher; `Err` says how it differs.
    pub fn check(&self, actual: Option<&Value>, vars: &Vars) -> Result<(), String> {
        let actual = actual.filter(|v| !v.is_null());
        let shown = || {
            actual.map_or_else(
                || "missing".to_owned(),
                |v| crate::catalogue::shorten(&v.to_string(), 120),
            )
        };
        match self {
            Matcher::Equals(expected) => {
                let expected = vars.render_value(expected).map_err(|e| e.to_string())?;
                if actual == Some(&expected) || (actual.is_none() && expected.is_null()) {
                    Ok(())
                } else {
                    Err(format!("is {}, expected {expected}", shown()))
                }
            }
            Matcher::Present => actual.map(|_| ()).ok_or_else(|| "is missing".to_owned()),
            Matcher::Absent => match actual {
                None => Ok(()),
                Some(_) => Err(format!("is {}, expected it to be absent", shown())),
            },
            Matcher::Regex(pattern) => {
                let pattern = vars.render(pattern).map_err(|e| e.to_string())?;
                let re = regex::Regex::new(&pattern)
                    .map_err(|e| format!("bad regex /{pattern}/: {e}"))?;
                match actual {
                    Some(Value::String(s)) if re.is_match(s) => Ok(()),
                    Some(Value::Number(n)) if re.is_match(&n.to_string()) => Ok(()),
                    _ => Err(format!("is {}, expected a match for /{pattern}/", shown())),
                }
            }
            Matcher::Not(inner) => match inner.check(actual, vars) {
                Ok(()) => Err(format!("is {}, expected not {}", shown(), inner.describe())),
                Err(_) => Ok(()),
            },
            Matcher::OneOf(options) => {
                if options.iter().any(|m| m.check(actual, vars).is_ok()) {
                    Ok(())
                } else {
                    let described: Vec<String> = options.iter().map(Matcher::describe).collect();
                    Err(format!(
                        "is {}, expected one of {}",
                        shown(),
                        described.join(", ")
                    ))
                }
            }
            Matcher::MinLen(n) | Matcher::MaxLen(n) => {
                let len = match actual {
                    Some(Value::Array(a)) => a.len(),
                    Some(Value::String(s)) => s.chars().count(),
                    _ => return Err(format!("is {}, expected an array or a string", shown())),
                };
                let ok = if matches!(self, Matcher::MinLen(_)) {
                    len >= *n
                } else {
                    len <= *n
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!("has length {len}, expected {}", self.describe()))
                }
            }
            Matcher::DateTime => match actual {
                Some(Value::String(s)) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => Ok(()),
                _ => Err(format!("is {}, expected an RFC 3339 date-time", shown())),
            },
            Matcher::All(all) => all.iter().try_for_each(|m| m.check(actual, vars)),
        }
    }

    /// A short description, for messages.
    pub fn describe(&self) -> String {
        match self {
            Matcher::Equals(v) => v.to_string(),
            Matcher::Present => "present".into(),
            Matcher::Absent => "absent".into(),
            Matcher::Regex(p) => format!("/{p}/"),
            Matcher::Not(m) => format!("not {}", m.describe()),
            Matcher::OneOf(ms) => format!(
                "one of [{}]",
                ms.iter()
                    .map(Matcher::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Matcher::MinLen(n) => format!("length >= {n}"),
            Matcher::MaxLen(n) => format!("length <= {n}"),
            Matcher::DateTime => "a date-time".into(),
            Matcher::All(ms) => ms
                .iter()
                .map(Matcher::describe)
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }
}

/// The value at a dot path (`a.b.0.c`; `$` or `` is the root; a leading `$.` is allowed).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_prefix("$.").unwrap_or(path);
    if path.is_empty() || path == "$" {
        return Some(root);
    }
    path.split('.')
        .try_fold(root, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(m: Value, actual: Option<Value>) -> Result<(), String> {
        let mut vars = Vars::default();
        vars.set("cid", "abc");
        Matcher::parse(&m).unwrap().check(actual.as_ref(), &vars)
    }

    #[test]
    fn matchers() {
        assert!(check(json!("pending"), Some(json!("pending"))).is_ok());
        assert!(check(json!("{{cid}}"), Some(json!("abc"))).is_ok());
        assert!(check(json!(202), Some(json!(202))).is_ok());
        let e = check(json!("completed"), Some(json!("pending"))).unwrap_err();
        assert_eq!(e, r#"is "pending", expected "completed""#);
        assert!(check(json!({"present": true}), Some(json!("x"))).is_ok());
        assert!(check(json!({"present": true}), None).is_err());
        assert!(check(json!({"present": true}), Some(Value::Null)).is_err());
        assert!(check(json!({"absent": true}), None).is_ok());
        assert!(check(json!({"regex": "^a.c$"}), Some(json!("abc"))).is_ok());
        assert!(check(json!({"regex": "{{cid}}$"}), Some(json!("/x/abc"))).is_ok());
        assert!(check(json!({"regex": "^\\d+$"}), Some(json!(12))).is_ok());
        assert!(check(json!({"not": "pending"}), Some(json!("completed"))).is_ok());
        assert!(check(json!({"not": "pending"}), Some(json!("pending"))).is_err());
        assert!(check(json!({"one_of": ["a", {"regex": "^b"}]}), Some(json!("bc"))).is_ok());
        assert!(check(json!({"one_of": ["a", "b"]}), Some(json!("c"))).is_err());
        assert!(check(json!({"min_len": 1, "max_len": 2}), Some(json!([1, 2]))).is_ok());
        assert!(check(json!({"max_len": 1}), Some(json!([1, 2]))).is_err());
        assert!(check(
            json!({"date_time": true}),
            Some(json!("2017-07-21T17:32:28Z"))
        )
        .is_ok());
        assert!(check(json!({"date_time": true}), Some(json!("Fri, 21 Jul 2017"))).is_err());
        assert!(check(
            json!({"equals": {"present": 1}}),
            Some(json!({"present": 1}))
        )
        .is_ok());
        assert!(Matcher::parse(&json!({"present": true, "x": 1})).is_err());
    }

    #[test]
    fn paths() {
        let v = json!({"a": {"b": [{"c": 1}]}});
        assert_eq!(lookup(&v, "a.b.0.c"), Some(&json!(1)));
        assert_eq!(lookup(&v, "$.a.b.0.c"), Some(&json!(1)));
        assert_eq!(lookup(&v, "$"), Some(&v));
        assert_eq!(lookup(&v, "a.x"), None);
        assert_eq!(lookup(&v, "a.b.x"), None);
    }
}
