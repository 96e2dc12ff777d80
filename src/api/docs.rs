//! The gateway's OpenAPI document, generated from the handlers and the model.

use utoipa::OpenApi;

use super::{accounts, supporting, transactions};

/// The OpenAPI document of the GSMA facade.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mmapi-gateway",
        description = "The GSMA Mobile Money API 1.2, served by mmapi-gateway in front of M-Pesa operators. \
            Deviation from the GSMA YAML, on purpose: the error object's description is `errorDescription` \
            (as the GSMA prose specification and test platform spell it), not `errordescription`.",
        license(name = "Apache-2.0")
    ),
    servers(
        (url = "/v1.2/mm", description = "The gateway's GSMA API"),
        (url = "/simulator/v1.2/passthrough/mm", description = "The same API at the GSMA SDKs' default path")
    ),
    paths(
        transactions::create,
        transactions::get,
        transactions::reverse,
        accounts::balance,
        accounts::balance_by_id,
        accounts::account_name,
        accounts::transactions,
        accounts::transactions_by_id,
        supporting::request_state,
        supporting::response,
        supporting::heartbeat,
    ),
    tags(
        (name = "Transactions", description = "Payments and transfers"),
        (name = "Accounts", description = "Operator accounts the gateway holds"),
        (name = "Supporting", description = "Request states, responses and the heartbeat")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (what `mmapi-gateway openapi` prints and `openapi/mmapi-gateway.json` holds).
pub fn json() -> String {
    let mut doc = match serde_json::to_value(ApiDoc::openapi()) {
        Ok(v) => v,
        Err(e) => return format!("{{\"error\": \"{e}\"}}\n"),
    };
    drop_nullability(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The gateway omits absent optional fields and never sends `null`, so the document does not offer `null` either:
/// `"type": ["string", "null"]` becomes `"type": "string"`, and `oneOf: [{"type": "null"}, X]` becomes `X`.
/// Generated clients then get plain optional fields, as in the GSMA specification.
fn drop_nullability(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 {
                    map.insert("type".into(), kept[0].clone());
                } else if kept.len() != types.len() {
                    map.insert("type".into(), Value::Array(kept));
                }
            }
            if let Some(Value::Array(variants)) = map.get("oneOf") {
                let kept: Vec<Value> = variants
                    .iter()
                    .filter(|v| v.get("type") != Some(&Value::from("null")))
                    .cloned()
                    .collect();
                if kept.len() == 1 && variants.len() == 2 {
                    map.remove("oneOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, v) in inner {
                            map.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
            for v in map.values_mut() {
                drop_nullability(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nullability),
        _ => {}
    }
}
