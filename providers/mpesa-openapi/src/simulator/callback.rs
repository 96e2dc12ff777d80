//! Asynchronous results (§B.5): after [`super::SimulatorConfig::result_delay`] the outcome is
//! decided and POSTed to the configured Response URL as `input_*` fields; the listener must
//! answer 2xx with the `output_*` acknowledgement (`output_OriginalConversationID` and an
//! `output_ResponseCode` of `"0"` or `"INS-0"`), otherwise the post is retried a few times.

use std::{sync::Arc, time::Duration};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{wire::ins, Shared, SimState};

/// Attempts per result.
const ATTEMPTS: u32 = 4;

/// What a deferred API produces when its time comes.
pub(crate) struct Result {
    /// The INS code.
    pub(crate) code: &'static str,
    /// `input_TransactionID` (`"N/A"` when no money moved).
    pub(crate) transaction_id: String,
    /// `input_ResponseCode`/`input_ResponseDesc` instead of `input_ResultCode`/`input_ResultDesc`
    /// (Query Direct Debit).
    pub(crate) response_style: bool,
    /// The API's extra `input_*` fields.
    pub(crate) extras: Vec<(&'static str, String)>,
}

/// The listener's acknowledgement.
#[derive(Debug, Deserialize)]
struct Ack {
    #[serde(rename = "output_OriginalConversationID")]
    original_conversation_id: Option<String>,
    #[serde(rename = "output_ResponseCode")]
    response_code: Option<String>,
}

/// Decides the result with `produce` after the result delay and POSTs it.
pub(crate) fn schedule(
    state: &Shared,
    conversation_id: String,
    third_party_conversation_id: String,
    produce: impl FnOnce(&SimState) -> Result + Send + 'static,
) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        tokio::time::sleep(state.result_delay).await;
        let fault = state.faults.on_callback();
        if !fault.delay.is_zero() {
            tokio::time::sleep(fault.delay).await;
        }
        let result = produce(&state);
        let mut body = Map::new();
        let mut put = |k: &str, v: String| {
            body.insert(k.to_owned(), Value::String(v));
        };
        put("input_OriginalConversationID", conversation_id.clone());
        put("input_TransactionID", result.transaction_id);
        let (code_key, desc_key) = if result.response_style {
            ("input_ResponseCode", "input_ResponseDesc")
        } else {
            ("input_ResultCode", "input_ResultDesc")
        };
        put(code_key, result.code.to_owned());
        put(desc_key, ins(result.code).1.to_owned());
        put(
            "input_ThirdPartyConversationID",
            third_party_conversation_id,
        );
        for (k, v) in result.extras {
            put(k, v);
        }
        let Some(url) = state.async_result_url.clone() else {
            return;
        };
        if fault.drop {
            tracing::debug!(%conversation_id, "OpenAPI simulator: injected a lost result");
            return;
        }
        let body = Value::Object(body);
        deliver(&state, &url, &body, &conversation_id).await;
        if fault.duplicate {
            tracing::debug!(%conversation_id, "OpenAPI simulator: injected a duplicate result");
            deliver(&state, &url, &body, &conversation_id).await;
        }
    });
}

async fn deliver(state: &SimState, url: &str, body: &Value, conversation_id: &str) {
    for attempt in 1..=ATTEMPTS {
        match state.http.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => match response.json::<Ack>().await {
                Ok(ack)
                    if ack.original_conversation_id.as_deref() == Some(conversation_id)
                        && matches!(ack.response_code.as_deref(), Some("0" | "INS-0")) =>
                {
                    return;
                }
                other => tracing::warn!(
                    url,
                    attempt,
                    ?other,
                    "OpenAPI simulator: result listener did not acknowledge as documented"
                ),
            },
            Ok(response) => tracing::warn!(
                url,
                attempt,
                status = %response.status(),
                "OpenAPI simulator: result listener refused the result"
            ),
            Err(error) => tracing::warn!(
                url,
                attempt,
                %error,
                "OpenAPI simulator: cannot post the result"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500) * attempt).await;
    }
}
