//! The gateway's OpenAPI document, generated from the handlers and the model.

use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes,
    SecurityScheme,
};
use utoipa::OpenApi;

use super::unsupported::NotOffered;

use super::{
    account_status, accounts, batches, bills, capabilities, mandates, quotations, statements,
    supporting, transactions,
};

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
        (url = "/simulator/v1.2/passthrough/mm", description = "The same API at the GSMA SDKs' default path"),
        (url = "/2/oauth/simulator/v1.2/mm", description = "The same API at the GSMA sandbox's OAuth path")
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
        mandates::create_by_identifier,
        mandates::create_by_id,
        mandates::get_by_identifier,
        mandates::get_by_id,
        mandates::cancel_by_identifier,
        mandates::cancel_by_id,
        quotations::create,
        quotations::get,
        batches::create,
        batches::get,
        batches::update,
        batches::completions,
        batches::rejections,
        supporting::request_state,
        supporting::response,
        supporting::heartbeat,
        transactions::create_with_type_in_body,
        transactions::update,
        account_status::status,
        account_status::status_by_id,
        account_status::account_name_by_id,
        account_status::own_balance,
        statements::statement_entries,
        statements::statement_entries_by_id,
        statements::statement_entry,
        capabilities::capabilities,
        bills::companies,
        bills::company,
        bills::account_companies,
        bills::account_companies_by_id,
        bills::issue,
        bills::issue_bulk,
        bills::cancel,
        bills::bills,
        bills::bills_by_id,
        bills::pay_by_identifier,
        bills::pay_oldest_by_identifier,
        bills::pay_oldest_by_id,
        bills::customer_payments_by_identifier,
        bills::customer_payments_by_id,
        bills::pay_by_id,
        bills::pay_by_reference,
        bills::payments_by_identifier,
        bills::payments_by_id,
        bills::payments_by_reference,
    ),
    modifiers(&SecuritySchemes, &NotOffered),
    security(("basicAuth" = []), ("oauth2" = []), ("apiKey" = [])),
    tags(
        (name = "Transactions", description = "Payments and transfers"),
        (name = "Accounts", description = "Operator accounts the gateway holds"),
        (name = "Debit Mandates", description = "Recurring payments: a payer's standing authority for a payee to take payments"),
        (name = "Quotations", description = "What a transaction will cost: the operator's fees, and how long the quote holds"),
        (name = "Batch Transactions", description = "Bulk disbursements: many disbursements in one batch, with maker/checker approval"),
        (name = "Bills", description = "Bills a customer owes and their payments, by API or from the phone"),
        (name = "Billers (extension)", description = "An extension of the GSMA API: a biller client issues bills, one or many at once, and is notified of each payment"),
        (name = "Supporting", description = "Request states, responses and the heartbeat"),
        (name = "Capabilities", description = "An extension of the GSMA API: which markets, transaction types and operations this gateway serves, and why the others are not offered")
    )
)]
pub struct ApiDoc;

/// The ways a client authenticates (README, "Authentication"): HTTP Basic with the consumer key and secret, an
/// OAuth 2.0 client-credentials token from `POST /v1/oauth/accesstoken`, or the `X-API-Key`.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basicAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("The consumer key and secret"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::ClientCredentials(ClientCredentials::new(
                    crate::auth::token::TOKEN_PATH,
                    Scopes::new(),
                ))],
                "Client credentials: POST the form grant_type=client_credentials with the consumer key and \
                 secret as HTTP Basic credentials; send the token as `Authorization: Bearer`",
            )),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "The client's API key",
            ))),
        );
    }
}

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
