//! The checks every response (and callback) gets, whatever the scenario says: `X-Date` is a date-time, a body
//! is JSON labelled `application/json`, the status is one the spec declares for the operation, and the body
//! and declared headers satisfy the spec's schemas.

use serde_json::Value;

use crate::catalogue::{Catalogue, Operation};

/// A response or a callback, as received.
#[derive(Clone, Debug)]
pub struct Message {
    /// The HTTP status (0 for a callback).
    pub status: u16,
    /// Header name (lower case) and value pairs.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
    /// The body parsed, when it is JSON.
    pub json: Option<Value>,
}

impl Message {
    /// A message; the body is parsed when it is JSON.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: String) -> Self {
        let json = serde_json::from_str(&body).ok();
        Self {
            status,
            headers,
            body,
            json,
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_body(&self) -> bool {
        !self.body.trim().is_empty()
    }
}

/// Whether `text` is a date-time as the GSMA documents write `X-Date`: RFC 3339 (the YAML's `date-time`), or
/// the HTTP-date of RFC 7231 that the prose mentions.
pub fn is_x_date(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::DateTime::parse_from_rfc2822(text).is_ok()
}

/// `X-Date` is present and a date-time.
pub fn x_date(message: &Message) -> Option<String> {
    match message.header("x-date") {
        None => Some("the X-Date header is missing".into()),
        Some(v) if !is_x_date(v) => Some(format!("X-Date '{v}' is not a date-time")),
        Some(_) => None,
    }
}

/// A body, if any, is JSON and labelled `application/json`.
pub fn json_body(message: &Message) -> Vec<String> {
    let mut out = Vec::new();
    if !message.has_body() {
        return out;
    }
    match message.header("content-type") {
        None => out.push("a body is sent without Content-Type".into()),
        Some(ct) => {
            let media = ct.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/json") {
                out.push(format!("Content-Type is '{ct}', expected application/json"));
            }
        }
    }
    if message.json.is_none() {
        out.push(format!(
            "the body is not JSON: {}",
            crate::catalogue::shorten(&message.body, 120)
        ));
    }
    out
}

/// The status is declared for `op`, and the body and declared headers satisfy the spec.
pub fn response_against_spec(
    catalogue: &Catalogue,
    op: &Operation,
    message: &Message,
) -> Vec<String> {
    let mut out = Vec::new();
    let status = message.status.to_string();
    let Some(response) = op
        .responses
        .get(&status)
        .or_else(|| op.responses.get("default"))
    else {
        let mut declared: Vec<&str> = op.responses.keys().map(String::as_str).collect();
        declared.sort_unstable();
        out.push(format!(
            "the spec declares no {status} response for {} {} ({}); it declares {}",
            op.method,
            op.path,
            op.operation_id,
            declared.join(", ")
        ));
        return out;
    };
    if let Some(schema) = &response.schema {
        match &message.json {
            Some(body) => out.extend(schema_violations(
                catalogue,
                schema,
                body,
                &format!("the {status} body of {}", op.operation_id),
            )),
            None if !message.has_body() => out.push(format!(
                "the {status} response has no body; the spec declares one for {}",
                op.operation_id
            )),
            None => {} // reported by json_body
        }
    }
    let mut names: Vec<&String> = response.headers.keys().collect();
    names.sort();
    for name in names {
        let spec = &response.headers[name];
        match message.header(name) {
            None if spec.required => out.push(format!("the required header {name} is missing")),
            None => {}
            Some(text) => {
                let value = header_value(&spec.schema, text);
                out.extend(schema_violations(
                    catalogue,
                    &spec.schema,
                    &value,
                    &format!("header {name}"),
                ));
            }
        }
    }
    out
}

/// A callback body satisfies one of the bodies the spec declares for `op`'s callbacks.
pub fn callback_against_spec(
    catalogue: &Catalogue,
    op: &Operation,
    method: &str,
    body: Option<&Value>,
) -> Vec<String> {
    let declared: Vec<&crate::catalogue::CallbackSpec> = op.callbacks.iter().collect();
    if declared.is_empty() {
        return vec![format!(
            "the spec declares no callback for {}",
            op.operation_id
        )];
    }
    let mut out = Vec::new();
    if !declared
        .iter()
        .any(|c| c.method.eq_ignore_ascii_case(method))
    {
        out.push(format!(
            "the callback is a {method}; the spec's callbacks for {} are {}",
            op.operation_id, declared[0].method
        ));
    }
    let Some(body) = body else {
        return out;
    };
    let mut why = Vec::new();
    for callback in &declared {
        let Some(schema) = &callback.schema else {
            continue;
        };
        let errors = schema_violations(catalogue, schema, body, "");
        if errors.is_empty() {
            return out;
        }
        why.push(format!(
            "{}: {}",
            callback.operation_id.as_deref().unwrap_or("callback"),
            errors.join("; ")
        ));
    }
    if !why.is_empty() {
        out.push(format!(
            "the callback body is none of the bodies the spec declares for {}: {}",
            op.operation_id,
            why.join(" | ")
        ));
    }
    out
}

/// The violations of `schema` by `value`, each prefixed with `what`, at most three (and how many more).
pub fn schema_violations(
    catalogue: &Catalogue,
    schema: &Value,
    value: &Value,
    what: &str,
) -> Vec<String> {
    let errors = match catalogue.check(schema, value) {
        Ok(errors) => errors,
        Err(e) => return vec![e.to_string()],
    };
    let label = |e: &String| {
        if what.is_empty() {
            e.clone()
        } else {
            format!("{what}: {e}")
        }
    };
    let mut out: Vec<String> = errors.iter().take(3).map(label).collect();
    if errors.len() > 3 {
        out.push(format!(
            "{what}: and {} more schema violations",
            errors.len() - 3
        ));
    }
    out
}

fn header_value(schema: &Value, text: &str) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") | Some("number") => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.trim().parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        _ => Value::String(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(status: u16, headers: &[(&str, &str)], body: &str) -> Message {
        Message::new(
            status,
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body.into(),
        )
    }

    #[test]
    fn x_date_and_content_type() {
        assert!(is_x_date("2017-07-21T17:32:28Z"));
        assert!(is_x_date("Fri, 21 Jul 2017 17:32:28 GMT"));
        assert!(!is_x_date("yesterday"));
        assert!(x_date(&msg(200, &[], "")).unwrap().contains("missing"));
        assert!(x_date(&msg(200, &[("X-Date", "2017-07-21T17:32:28.000Z")], "")).is_none());
        assert!(json_body(&msg(
            200,
            &[("content-type", "application/json; charset=utf-8")],
            "{}"
        ))
        .is_empty());
        assert_eq!(
            json_body(&msg(200, &[("content-type", "text/plain")], "{}")).len(),
            1
        );
        assert_eq!(
            json_body(&msg(200, &[("content-type", "application/json")], "{")).len(),
            1
        );
        assert!(json_body(&msg(204, &[], "")).is_empty());
    }

    #[test]
    fn responses_are_checked_against_the_operation() {
        let c = Catalogue::embedded().unwrap();
        let op = c
            .operation("POST", "/transactions/type/merchantpay")
            .unwrap();
        let ok = msg(
            202,
            &[],
            r#"{"serverCorrelationId":"01a2129a-2c6d-75b8-9214-2ecd1dac0b2b","status":"pending","notificationMethod":"polling"}"#,
        );
        assert!(response_against_spec(&c, op, &ok).is_empty());
        let undeclared = msg(200, &[], "{}");
        assert!(response_against_spec(&c, op, &undeclared)[0].contains("declares no 200"));
        let bad = msg(
            400,
            &[],
            r#"{"errorCategory":"Validation","errorCode":"formatError"}"#,
        );
        assert!(!response_against_spec(&c, op, &bad).is_empty());

        let list = c
            .operation("GET", "/accounts/msisdn/1/transactions")
            .unwrap();
        let wrong_count = msg(200, &[("x-records-available-count", "many")], "[]");
        let e = response_against_spec(&c, list, &wrong_count);
        assert!(
            e.iter().any(|e| e.contains("X-Records-Available-Count")),
            "{e:?}"
        );
        let good_count = msg(200, &[("x-records-available-count", "3")], "[]");
        assert!(response_against_spec(&c, list, &good_count).is_empty());

        let error =
            serde_json::json!({"errorCategory": "authorisation", "errorCode": "requestDeclined"});
        assert!(callback_against_spec(&c, op, "PUT", Some(&error)).is_empty());
        let junk = serde_json::json!({"hello": 1});
        assert_eq!(callback_against_spec(&c, op, "POST", Some(&junk)).len(), 2);
    }
}
