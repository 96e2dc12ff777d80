//! The operations page (`/dashboard/operations`, operators only): provider and market health (circuit state,
//! the failed share of the last hour), client callbacks still owed or given up (with redelivery), transactions
//! waiting for manual review (with resolve), and batch progress. The actions are POST forms with the session's
//! CSRF token.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{html, Markup};
use serde::Deserialize;

use super::session::redirect;
use super::{show_time, DashboardError, DashboardState, Viewer, BASE};
use crate::breaker::BreakerState;
use crate::review::{Resolution, ReviewError};
use crate::store::OutboxLogRow;

/// How far back the provider error rate looks.
const RECENT_MS: i64 = 3_600_000;

/// How many callbacks, reviews and batches the page lists at most.
const LIST_LIMIT: i64 = 50;

/// `GET /dashboard/operations`.
pub async fn page(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Response, DashboardError> {
    viewer.require_operator()?;
    let engine = &state.engine;
    let store = engine.store();
    let now = crate::engine::now_ms();
    let outcomes = store.recent_outcomes(now - RECENT_MS).await?;
    let callback_counts = store.callback_counts().await?;
    let owed = store.callback_log(Some("pending"), LIST_LIMIT).await?;
    let abandoned = store.callback_log(Some("abandoned"), LIST_LIMIT).await?;
    let review = crate::review::list(store).await?;
    let mut batches = Vec::new();
    for batch in store.recent_batches(LIST_LIMIT).await? {
        let counts = store.batch_counts(&batch.batch_id).await?;
        batches.push((batch, counts));
    }
    let providers: Vec<String> = engine
        .router()
        .providers()
        .map(|p| p.name().to_owned())
        .collect();
    let content = html! {
        h1 { "Operations" }
        h2 { "Providers and markets" }
        table id="breakers" {
            thead { tr { th { "Breaker" } th { "Circuit" } } }
            tbody {
                @for (label, breaker) in engine.router().breakers() {
                    @let circuit = circuit(breaker.state());
                    tr data-breaker=(label) data-state=(circuit) { td { (label) } td { (circuit) } }
                }
            }
        }
        table id="error-rates" {
            thead { tr { th { "Provider" } th { "Completed (1 h)" } th { "Failed (1 h)" } th { "Failed share" } } }
            tbody {
                @for provider in &providers {
                    @let count = |status: &str| outcomes.iter().filter(|(p, s, _)| p == provider && s == status).map(|(_, _, n)| *n).sum::<i64>();
                    @let (completed, failed) = (count("completed"), count("failed"));
                    tr data-provider=(provider) {
                        td { (provider) } td.num { (completed) } td.num { (failed) }
                        td.num {
                            @if completed + failed > 0 { (format!("{:.1} %", failed as f64 * 100.0 / (completed + failed) as f64)) }
                            @else { "—" }
                        }
                    }
                }
            }
        }
        h2 { "Client callbacks" }
        p id="callback-counts" {
            @for (state, n) in &callback_counts { span data-state=(state) data-count=(n) { (state) ": " (n) " " } }
        }
        h3 { "Still owed" }
        (callbacks(&owed, &viewer))
        h3 { "Given up" }
        (callbacks(&abandoned, &viewer))
        h2 { "Manual review" }
        @if review.is_empty() { p.muted id="review-empty" { "Nothing waits for review." } }
        @else {
            table id="review" {
                thead { tr { th { "Reference" } th { "Type" } th { "Provider" } th { "Operator reference" } th { "Amount" } th { "Accepted" } th { "Resolve" } } }
                tbody {
                    @for item in &review {
                        tr data-reference=(item.transaction_reference) {
                            td { a href=(format!("{BASE}/transactions/{}", item.transaction_reference)) { (item.transaction_reference) } }
                            td { (item.transaction_type) } td { (item.provider) }
                            td { (item.provider_reference.as_deref().unwrap_or("")) }
                            td { (item.currency.as_deref().unwrap_or("")) " " (item.amount.as_deref().unwrap_or("")) }
                            td { (item.creation_date.as_deref().unwrap_or("")) }
                            td {
                                @for (status, label) in [("completed", "Completed"), ("failed", "Failed")] {
                                    form.inline method="post" action=(format!("{BASE}/review/{}", item.transaction_reference)) {
                                        input type="hidden" name="csrf" value=(viewer.csrf_token);
                                        input type="hidden" name="status" value=(status);
                                        button type="submit" { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Batches" }
        @if batches.is_empty() { p.muted { "No batches." } }
        table id="batches" {
            thead { tr { th { "Batch" } th { "Client" } th { "Status" } th { "Items" } th { "Progress" } th { "Created" } } }
            tbody {
                @for (batch, counts) in &batches {
                    tr data-batch=(batch.batch_id) data-status=(batch.status) {
                        td { (batch.batch_id) } td { (batch.client_id) } td { (batch.status) } td.num { (batch.item_count) }
                        td { @for (state, n) in counts { (state) ": " (n) " " } }
                        td { (show_time(batch.created_at)) }
                    }
                }
            }
        }
    };
    Ok(super::page("Operations", Some(&viewer), content).into_response())
}

fn circuit(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half-open",
    }
}

fn callbacks(rows: &[OutboxLogRow], viewer: &Viewer) -> Markup {
    html! {
        @if rows.is_empty() { p.muted { "None." } }
        @else {
            table.callbacks {
                thead { tr { th { "Id" } th { "Server correlation id" } th { "URL" } th { "Attempts" } th { "Last status" } th { "Last error" } th { "Queued" } th {} } }
                tbody {
                    @for cb in rows {
                        tr data-id=(cb.id) {
                            td { (cb.id) } td { (cb.server_correlation_id) } td { (cb.url) } td.num { (cb.attempts) }
                            td { (cb.last_status.map(|s| s.to_string()).unwrap_or_default()) }
                            td { (cb.last_error.as_deref().unwrap_or("")) }
                            td { (show_time(cb.created_at)) }
                            td { (redeliver_form(viewer, cb.id, &format!("{BASE}/operations"))) }
                        }
                    }
                }
            }
        }
    }
}

/// The form that queues a client callback for delivery again, coming back to `back` (a dashboard page).
pub fn redeliver_form(viewer: &Viewer, id: i64, back: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("{BASE}/callbacks/{id}/redeliver")) {
            input type="hidden" name="csrf" value=(viewer.csrf_token);
            input type="hidden" name="back" value=(back);
            button type="submit" { "Redeliver" }
        }
    }
}

/// The resolve form.
#[derive(Deserialize)]
pub struct ResolveForm {
    csrf: String,
    status: Resolution,
}

/// `POST /dashboard/review/{reference}`: settles a transaction in review as completed or failed.
pub async fn resolve(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
    Path(reference): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, DashboardError> {
    viewer.require_operator()?;
    viewer.check_csrf(&form.csrf)?;
    match crate::review::resolve(&state.engine, &reference, form.status).await {
        Ok(()) => {
            tracing::info!(reference, by = %viewer.client_id, "review resolved from the dashboard");
            Ok(redirect(&format!("{BASE}/operations")))
        }
        Err(ReviewError::NotFound(_)) => Err(DashboardError::NotFound),
        Err(e @ ReviewError::NotInReview { .. }) => Err(DashboardError::Conflict(e.to_string())),
        Err(ReviewError::Store(e)) => Err(e.into()),
        Err(e) => Err(DashboardError::Internal(e.to_string())),
    }
}

/// The redeliver form.
#[derive(Deserialize)]
pub struct RedeliverForm {
    csrf: String,
    back: Option<String>,
}

/// `POST /dashboard/callbacks/{id}/redeliver`: queues a client callback again.
pub async fn redeliver(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
    Form(form): Form<RedeliverForm>,
) -> Result<Response, DashboardError> {
    viewer.require_operator()?;
    viewer.check_csrf(&form.csrf)?;
    match crate::callbacks::redeliver(state.engine.store(), &[id]).await {
        Ok(()) => {}
        Err(crate::callbacks::CallbacksError::NotFound(_)) => return Err(DashboardError::NotFound),
        Err(crate::callbacks::CallbacksError::Store(e)) => return Err(e.into()),
    }
    // Back only to a page of the dashboard.
    let back = form
        .back
        .filter(|b| b.starts_with(&format!("{BASE}/")) && !b.contains("//"))
        .unwrap_or_else(|| format!("{BASE}/operations"));
    Ok(redirect(&back))
}
