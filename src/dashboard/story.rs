//! A transaction's story (`/dashboard/transactions/{reference}`): what it is, every step with its time
//! (accepted, dispatched, the operator's acknowledgement and result — its own result code beside the mapped GSMA
//! error —, each client-callback attempt with its HTTP status), the operator's references and the callbacks.
//! A client other than an operator gets 404 for another client's transaction, as for one that does not exist.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use mmapi_core::model::Transaction;
use mmapi_core::provider::ProviderRefs;
use serde_json::Value;

use super::{show_time, DashboardError, DashboardState, Viewer, BASE};
use crate::store::{EventRow, OutboxLogRow};

/// `GET /dashboard/transactions/{reference}`.
pub async fn page(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
    Path(reference): Path<String>,
) -> Result<Response, DashboardError> {
    let store = state.engine.store();
    let owner = (!viewer.is_operator()).then_some(viewer.client_id.as_str());
    let row = store
        .transaction_seen_by(&reference, owner)
        .await?
        .ok_or(DashboardError::NotFound)?;
    let transaction: Option<Transaction> = serde_json::from_str(&row.body).ok();
    let error: Option<Value> = store
        .request_state(&row.server_correlation_id)
        .await?
        .and_then(|rs| rs.error)
        .and_then(|e| serde_json::from_str(&e).ok());
    let refs: Option<ProviderRefs> = row
        .provider_refs
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    let events = store.transaction_events(&reference).await?;
    let callbacks = store.callbacks_of(&row.server_correlation_id).await?;
    let content = html! {
        h1 { "Transaction " code { (row.transaction_reference) } }
        table id="summary" {
            tr { th { "Status" } td id="story-status" class=(format!("status-{}", row.status)) { (row.status) } }
            tr { th { "Type" } td { (row.transaction_type) } }
            @if let Some(t) = &transaction {
                tr { th { "Amount" } td id="story-amount" { (t.currency.code()) " " (t.amount.to_string()) } }
                tr { th { "Debit party" } td { (parties(&t.debit_party)) } }
                tr { th { "Credit party" } td { (parties(&t.credit_party)) } }
                @if let Some(receipt) = &t.transaction_receipt { tr { th { "Receipt" } td { (receipt) } } }
            }
            tr { th { "Provider" } td { (row.provider) } }
            @if viewer.is_operator() { tr { th { "Client" } td { (row.client_id) } } }
            tr { th { "Server correlation id" } td { (row.server_correlation_id) } }
            @if let Some(cid) = &row.client_correlation_id { tr { th { "X-CorrelationID" } td { (cid) } } }
            @if let Some(refs) = &refs {
                tr { th { "Operator reference" } td id="operator-reference" { (refs.reference) } }
                @for (name, value) in &refs.extra { tr { th { "Operator " (name) } td { (value) } } }
            }
            @if let Some(error) = &error {
                tr {
                    th { "GSMA error" }
                    td id="gsma-error" data-category=(text(error, "errorCategory")) data-code=(text(error, "errorCode")) {
                        (text(error, "errorCategory")) " / " (text(error, "errorCode"))
                        @if let Some(d) = error.get("errorDescription").and_then(Value::as_str) { " — " (d) }
                    }
                }
            }
        }
        h2 { "Steps" }
        (steps(&events))
        h2 { "Client callbacks" }
        (callback_table(&callbacks, &viewer, &reference))
    };
    Ok(super::page("Transaction", Some(&viewer), content).into_response())
}

fn parties(parties: &[mmapi_core::model::Party]) -> Markup {
    html! { @for p in parties { (p.key) ": " (p.value) " " } }
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// What a step is called on the page.
fn label(kind: &str) -> &str {
    match kind {
        "accepted" => "Accepted",
        "received" => "Received from the operator (incoming payment)",
        "dispatched" => "Dispatched to the operator",
        "acknowledged" => "Operator acknowledgement",
        "retry" => "Operator unreachable; will retry",
        "in_doubt" => "Operator answer unknown; settled by status query",
        "resent" => "Sent again under its idempotency key (the operator refuses a repeat)",
        "review" => "Waiting for manual review",
        "completed" => "Operator result: completed",
        "failed" => "Result: failed",
        "cancelled" => "Cancelled by the client",
        "callback" => "Client callback attempt",
        "callback_redeliver" => "Client callback queued again",
        other => other,
    }
}

fn steps(events: &[EventRow]) -> Markup {
    html! {
        table id="steps" {
            thead { tr { th { "Time (UTC)" } th { "Step" } th { "Detail" } } }
            tbody {
                @for event in events {
                    @let detail: Value = event.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
                    tr data-kind=(event.kind) {
                        td { (show_time(event.at_ms)) }
                        td { (label(&event.kind)) }
                        td { (step_detail(&event.kind, &detail)) }
                    }
                }
            }
        }
    }
}

fn step_detail(kind: &str, detail: &Value) -> Markup {
    match kind {
        "failed" => {
            let error = detail.get("error").cloned().unwrap_or(Value::Null);
            let code = text(detail, "providerCode");
            html! {
                span.gsma { "GSMA " (text(&error, "errorCategory")) " / " (text(&error, "errorCode")) }
                @if !code.is_empty() {
                    " · operator result code "
                    code id="operator-result-code" data-code=(code) { (code) }
                    " " span.muted { (text(detail, "providerDescription")) }
                } @else {
                    " · " span.muted { "no operator result code (failed by the gateway)" }
                }
            }
        }
        "callback" => {
            let status = detail.get("status").and_then(Value::as_u64);
            html! {
                @match status {
                    Some(s) => { "HTTP " span.http-status data-status=(s) { (s) } }
                    None => { "no answer" }
                }
                @if detail.get("delivered").and_then(Value::as_bool) == Some(true) { " · delivered" }
                @if let Some(e) = detail.get("error").and_then(Value::as_str) { " · " (e) }
                @if detail.get("gaveUp").and_then(Value::as_bool) == Some(true) { " · given up" }
            }
        }
        "acknowledged" => match serde_json::from_value::<ProviderRefs>(detail.clone()) {
            Ok(refs) => html! {
                "operator reference " code { (refs.reference) }
                @for (name, value) in &refs.extra { " · " (name) " " code { (value) } }
            },
            Err(_) => html! {},
        },
        _ => match detail {
            Value::Object(map) => html! {
                @for (k, v) in map {
                    @if !v.is_null() {
                        span.kv { (k) ": " (v.as_str().map_or_else(|| v.to_string(), str::to_owned)) " " }
                    }
                }
            },
            _ => html! {},
        },
    }
}

fn callback_table(callbacks: &[OutboxLogRow], viewer: &Viewer, reference: &str) -> Markup {
    html! {
        @if callbacks.is_empty() {
            p.muted { "None: the client polls for the result." }
        } @else {
            table id="callbacks" {
                thead { tr { th { "Id" } th { "URL" } th { "State" } th { "Attempts" } th { "Last status" } th { "Last error" } th {} } }
                tbody {
                    @for cb in callbacks {
                        tr data-state=(cb.state) {
                            td { (cb.id) } td { (cb.url) } td { (cb.state) } td.num { (cb.attempts) }
                            td { (cb.last_status.map(|s| s.to_string()).unwrap_or_default()) }
                            td { (cb.last_error.as_deref().unwrap_or("")) }
                            td {
                                @if viewer.is_operator() {
                                    (super::operations::redeliver_form(viewer, cb.id, &format!("{BASE}/transactions/{reference}")))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
