//! The reports page (`/dashboard/reports`): filters, totals per status, charts and a paged table of
//! transactions; and the same filter as CSV (`/dashboard/reports.csv`).

use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::query::{latencies, Report, ReportParams, Summary, STATUSES};
use super::session::redirect;
use super::{charts, show_time, DashboardError, DashboardState, Viewer, BASE};
use crate::store::ReportRow;

/// The most rows the charts total (beyond it, they cover the oldest of the range and say so).
pub const SUMMARY_LIMIT: i64 = 200_000;

/// The most rows one CSV export holds.
pub const CSV_LIMIT: i64 = 100_000;

/// `GET /dashboard/`: the reports.
pub async fn home() -> Response {
    redirect(&format!("{BASE}/reports"))
}

/// `GET /dashboard/reports`.
pub async fn page(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
    Query(params): Query<ReportParams>,
) -> Result<Response, DashboardError> {
    let report = params.resolve(&viewer, crate::engine::now_ms())?;
    let store = state.engine.store();
    let filter = &report.filter;
    let total = store.report_count(filter).await?;
    let offset = (report.page - 1).saturating_mul(report.per_page);
    let rows = store.report_page(filter, report.per_page, offset).await?;
    let summary_rows = store.report_summary(filter, SUMMARY_LIMIT).await?;
    let summary = Summary::of(filter, &summary_rows, SUMMARY_LIMIT);
    let latency = latencies(&store.report_latencies(filter, SUMMARY_LIMIT).await?);
    let query = report.query_string(&viewer);
    let currency = summary.main_currency(filter);
    let content = html! {
        h1 { "Reports" }
        (filters(&report, &viewer))
        p {
            a id="csv-export" href=(format!("{BASE}/reports.csv?{query}")) { "Export CSV" }
            " · " (total) " transactions from " (show_time(filter.from_ms)) " to " (show_time(filter.to_ms)) " UTC"
        }
        (totals(&summary))
        @if summary.truncated {
            p.muted { "The charts cover the first " (SUMMARY_LIMIT) " transactions of the range." }
        }
        div.charts {
            (charts::counts(&summary))
            @if let Some(currency) = &currency { (charts::values(&summary, currency)) }
            (charts::success_rate(&summary))
            (charts::latency(&latency))
        }
        (latency_table(&latency))
        h2 { "Transactions" }
        (table(&rows, &viewer))
        (pager(&report, total, &query))
    };
    Ok(super::page("Reports", Some(&viewer), content).into_response())
}

fn filters(report: &Report, viewer: &Viewer) -> Markup {
    let f = &report.filter;
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form.filters id="filters" method="get" action=(format!("{BASE}/reports")) {
            label { "From (UTC)" input type="datetime-local" name="from" value=(super::query::input_time(f.from_ms)); }
            label { "To (UTC)" input type="datetime-local" name="to" value=(super::query::input_time(f.to_ms)); }
            @if viewer.is_operator() {
                label { "Client" input type="text" name="client" value=(value(&f.client_id)) placeholder="any"; }
            }
            label { "Provider" input type="text" name="provider" value=(value(&f.provider)) placeholder="any"; }
            label { "Market (currency)" input type="text" name="market" value=(value(&f.currency)) placeholder="any" size="5"; }
            label { "Type" input type="text" name="type" value=(value(&f.transaction_type)) placeholder="any"; }
            label {
                "Status"
                select name="status" {
                    option value="" { "any" }
                    @for status in STATUSES {
                        option value=(status) selected[f.status.as_deref() == Some(status)] { (status) }
                    }
                }
            }
            label { "MSISDN" input type="text" name="msisdn" value=(value(&f.msisdn)) placeholder="any"; }
            input type="hidden" name="per" value=(report.per_page);
            button type="submit" { "Apply" }
        }
    }
}

/// Per-status totals, with stable ids and `data-*` attributes for tests and scrapers.
fn totals(summary: &Summary) -> Markup {
    html! {
        table id="totals" {
            thead { tr { th { "Status" } th { "Count" } th { "Value" } } }
            tbody {
                @for status in STATUSES {
                    @let tally = summary.totals.get(status);
                    tr {
                        td class=(format!("status-{status}")) { (status) }
                        td.num id=(format!("total-{status}")) data-status=(status) data-count=(summary.count(status)) {
                            (summary.count(status))
                        }
                        td {
                            @if let Some(tally) = tally {
                                @for (currency, value) in &tally.values {
                                    span data-currency=(currency) data-value=(value) { (currency) " " (value) " " }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn latency_table(latencies: &[super::query::Latency]) -> Markup {
    html! {
        table id="latency" {
            thead { tr { th { "Provider" } th { "Samples" } th { "p50 (ms)" } th { "p90 (ms)" } th { "p99 (ms)" } } }
            tbody {
                @for l in latencies {
                    tr data-provider=(l.provider) {
                        td { (l.provider) } td.num { (l.samples) } td.num { (l.p50) } td.num { (l.p90) } td.num { (l.p99) }
                    }
                }
            }
        }
    }
}

fn table(rows: &[ReportRow], viewer: &Viewer) -> Markup {
    html! {
        table id="transactions" {
            thead {
                tr {
                    th { "Created (UTC)" } th { "Reference" }
                    @if viewer.is_operator() { th { "Client" } }
                    th { "Type" } th { "Status" } th { "Provider" } th { "Amount" } th { "Debit" } th { "Credit" }
                }
            }
            tbody {
                @for row in rows {
                    tr data-reference=(row.transaction_reference) data-status=(row.status) {
                        td { (show_time(row.created_at)) }
                        td { a href=(format!("{BASE}/transactions/{}", row.transaction_reference)) { (row.transaction_reference) } }
                        @if viewer.is_operator() { td { (row.client_id) } }
                        td { (row.transaction_type) }
                        td class=(format!("status-{}", row.status)) { (row.status) }
                        td { (row.provider) }
                        td.num { (row.currency.as_deref().unwrap_or("")) " " (row.amount.as_deref().unwrap_or("")) }
                        td { (row.debit_account.as_deref().unwrap_or("")) }
                        td { (row.credit_account.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

fn pager(report: &Report, total: i64, query: &str) -> Markup {
    let pages = ((total + report.per_page - 1) / report.per_page).max(1);
    html! {
        p.pager id="pager" data-page=(report.page) data-pages=(pages) {
            @if report.page > 1 {
                a rel="prev" href=(format!("{BASE}/reports?{query}&page={}", report.page - 1)) { "← newer" } " "
            }
            "page " (report.page) " of " (pages)
            @if report.page < pages {
                " " a rel="next" href=(format!("{BASE}/reports?{query}&page={}", report.page + 1)) { "older →" }
            }
        }
    }
}

/// `GET /dashboard/reports.csv`: the transactions of the same filter (every page, at most [`CSV_LIMIT`]).
pub async fn csv(
    State(state): State<DashboardState>,
    Extension(viewer): Extension<Viewer>,
    Query(params): Query<ReportParams>,
) -> Result<Response, DashboardError> {
    let report = params.resolve(&viewer, crate::engine::now_ms())?;
    let rows = state
        .engine
        .store()
        .report_page(&report.filter, CSV_LIMIT, 0)
        .await?;
    let mut out = String::from(
        "transactionReference,creationDate,clientId,type,status,provider,currency,amount,debitAccount,creditAccount,providerReference\r\n",
    );
    for row in &rows {
        let created = mmapi_core::time::Timestamp::from_millis(row.created_at).to_string();
        let fields = [
            row.transaction_reference.as_str(),
            &created,
            &row.client_id,
            &row.transaction_type,
            &row.status,
            &row.provider,
            row.currency.as_deref().unwrap_or(""),
            row.amount.as_deref().unwrap_or(""),
            row.debit_account.as_deref().unwrap_or(""),
            row.credit_account.as_deref().unwrap_or(""),
            row.provider_reference.as_deref().unwrap_or(""),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"mmapi-transactions.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// A CSV field (RFC 4180), quoted when needed. A field a spreadsheet would read as a formula gets a leading `'`.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=1+1"), "'=1+1");
    }
}
