//! From a report's query string to a store filter, and from the rows read to what the page shows: totals per
//! status (values summed exactly, per currency), counts and values per time bucket, success rates and
//! operator latency percentiles.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{DashboardError, Viewer};
use crate::store::{LatencyRow, ReportFilter, SummaryRow};

/// The default range: the last 24 hours.
pub const DEFAULT_RANGE_MS: i64 = 24 * 3_600 * 1_000;

/// Rows a page of the table shows unless told otherwise, and at most.
pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 500;

/// The statuses a transaction can have, in the order the dashboard shows them.
pub const STATUSES: [&str; 4] = ["completed", "failed", "pending", "reversed"];

/// The format of the date inputs (`datetime-local`), read as UTC.
const INPUT_FORMAT: &str = "%Y-%m-%dT%H:%M";

/// A report's query string (`/dashboard/reports?…` and `/dashboard/reports.csv?…`). Empty fields are no filter.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ReportParams {
    pub from: Option<String>,
    pub to: Option<String>,
    /// Another client's id: honoured for operators only.
    pub client: Option<String>,
    pub provider: Option<String>,
    /// A currency code.
    pub market: Option<String>,
    #[serde(rename = "type")]
    pub transaction_type: Option<String>,
    pub status: Option<String>,
    pub msisdn: Option<String>,
    pub page: Option<i64>,
    pub per: Option<i64>,
}

/// A report's filter, as the store reads it and as the page shows it again.
#[derive(Clone, Debug)]
pub struct Report {
    pub filter: ReportFilter,
    /// 1-based.
    pub page: i64,
    pub per_page: i64,
}

impl ReportParams {
    /// The filter for `viewer`: a client other than an operator always gets its own id in it.
    pub fn resolve(&self, viewer: &Viewer, now_ms: i64) -> Result<Report, DashboardError> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let to_ms = match text(&self.to) {
            Some(t) => parse_time(&t)?,
            None => now_ms,
        };
        let from_ms = match text(&self.from) {
            Some(t) => parse_time(&t)?,
            None => to_ms - DEFAULT_RANGE_MS,
        };
        if from_ms >= to_ms {
            return Err(DashboardError::BadRequest(
                "The start of the range must be before its end.".into(),
            ));
        }
        let client_id = if viewer.is_operator() {
            text(&self.client)
        } else {
            Some(viewer.client_id.clone())
        };
        let status = text(&self.status);
        if let Some(s) = &status {
            if !STATUSES.contains(&s.as_str()) {
                return Err(DashboardError::BadRequest(format!("Unknown status {s:?}.")));
            }
        }
        Ok(Report {
            filter: ReportFilter {
                client_id,
                from_ms,
                to_ms,
                provider: text(&self.provider),
                currency: text(&self.market).map(|c| c.to_ascii_uppercase()),
                transaction_type: text(&self.transaction_type),
                status,
                msisdn: text(&self.msisdn).map(|m| crate::store::account_key(&m)),
            },
            page: self.page.unwrap_or(1).max(1),
            per_page: self.per.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE),
        })
    }
}

impl Report {
    /// The query string that gives this report again (dates in the inputs' format), without the page.
    pub fn query_string(&self, viewer: &Viewer) -> String {
        let f = &self.filter;
        let mut pairs: Vec<(&str, String)> =
            vec![("from", input_time(f.from_ms)), ("to", input_time(f.to_ms))];
        let optional = [
            (
                "client",
                f.client_id.as_ref().filter(|_| viewer.is_operator()),
            ),
            ("provider", f.provider.as_ref()),
            ("market", f.currency.as_ref()),
            ("type", f.transaction_type.as_ref()),
            ("status", f.status.as_ref()),
            ("msisdn", f.msisdn.as_ref()),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                pairs.push((name, value.clone()));
            }
        }
        if self.per_page != DEFAULT_PER_PAGE {
            pairs.push(("per", self.per_page.to_string()));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// A `datetime-local` value (UTC) or an RFC 3339 time, in ms since the epoch.
fn parse_time(text: &str) -> Result<i64, DashboardError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(text, INPUT_FORMAT)
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| t.and_utc().timestamp_millis())
        .map_err(|_| DashboardError::BadRequest(format!("Unreadable time {text:?}.")))
}

/// A time as a `datetime-local` input holds it (UTC).
pub fn input_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format(INPUT_FORMAT).to_string())
        .unwrap_or_default()
}

/// The count and the values (per currency, exact) of one status.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub count: u64,
    pub values: BTreeMap<String, Decimal>,
}

impl Tally {
    fn add(&mut self, row: &SummaryRow) {
        self.count += 1;
        if let (Some(currency), Some(amount)) = (&row.currency, &row.amount) {
            if let Ok(amount) = Decimal::from_str(amount) {
                *self.values.entry(currency.clone()).or_default() += amount;
            }
        }
    }
}

/// What the charts and totals show.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Per status.
    pub totals: BTreeMap<String, Tally>,
    /// Width of a bucket (ms) and the start of the first.
    pub bucket_ms: i64,
    pub start_ms: i64,
    /// Per bucket, per status.
    pub buckets: Vec<BTreeMap<String, Tally>>,
    /// Whether the rows read stopped at the limit (the figures cover the oldest ones only).
    pub truncated: bool,
}

/// Bucket widths to choose from: the smallest that gives at most [`MAX_BUCKETS`].
const BUCKET_WIDTHS_MS: [i64; 10] = [
    60_000,
    300_000,
    900_000,
    3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
];
const MAX_BUCKETS: i64 = 48;

impl Summary {
    /// Totals `rows` (read with at most `limit` rows) over the range of `filter`.
    pub fn of(filter: &ReportFilter, rows: &[SummaryRow], limit: i64) -> Self {
        let span = (filter.to_ms - filter.from_ms).max(1);
        let bucket_ms = BUCKET_WIDTHS_MS
            .iter()
            .copied()
            .find(|w| span / w < MAX_BUCKETS)
            .unwrap_or(span / MAX_BUCKETS + 1);
        let start_ms = filter.from_ms - filter.from_ms.rem_euclid(bucket_ms);
        let count = usize::try_from((filter.to_ms - start_ms + bucket_ms - 1) / bucket_ms)
            .unwrap_or(1)
            .max(1);
        let mut summary = Summary {
            bucket_ms,
            start_ms,
            buckets: vec![BTreeMap::new(); count],
            truncated: i64::try_from(rows.len()).unwrap_or(i64::MAX) >= limit,
            ..Summary::default()
        };
        for row in rows {
            summary
                .totals
                .entry(row.status.clone())
                .or_default()
                .add(row);
            let index = usize::try_from((row.created_at - start_ms) / bucket_ms).unwrap_or(0);
            if let Some(bucket) = summary.buckets.get_mut(index) {
                bucket.entry(row.status.clone()).or_default().add(row);
            }
        }
        summary
    }

    /// How many transactions have `status`.
    pub fn count(&self, status: &str) -> u64 {
        self.totals.get(status).map_or(0, |t| t.count)
    }

    /// The currency the value chart shows: the filter's, else the one with the most transactions.
    pub fn main_currency(&self, filter: &ReportFilter) -> Option<String> {
        if let Some(c) = &filter.currency {
            return Some(c.clone());
        }
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for tally in self.totals.values() {
            for currency in tally.values.keys() {
                *counts.entry(currency).or_default() += tally.count;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(c, _)| c.to_owned())
    }

    /// Completed among the final (completed or failed) transactions, in percent; `None` without any.
    pub fn success_rate(bucket: &BTreeMap<String, Tally>) -> Option<f64> {
        let completed = bucket.get("completed").map_or(0, |t| t.count);
        let failed = bucket.get("failed").map_or(0, |t| t.count);
        let finals = completed + failed;
        (finals > 0).then(|| completed as f64 * 100.0 / finals as f64)
    }
}

/// Operator latency percentiles of one provider, in ms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latency {
    pub provider: String,
    pub samples: usize,
    pub p50: i64,
    pub p90: i64,
    pub p99: i64,
}

/// p50, p90 and p99 (nearest rank) of dispatch → result per provider.
pub fn latencies(rows: &[LatencyRow]) -> Vec<Latency> {
    let mut by_provider: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for row in rows {
        by_provider
            .entry(&row.provider)
            .or_default()
            .push((row.final_at - row.dispatched_at).max(0));
    }
    by_provider
        .into_iter()
        .map(|(provider, mut samples)| {
            samples.sort_unstable();
            Latency {
                provider: provider.to_owned(),
                samples: samples.len(),
                p50: percentile(&samples, 50),
                p90: percentile(&samples, 90),
                p99: percentile(&samples, 99),
            }
        })
        .collect()
}

/// The nearest-rank `p`th percentile of sorted `samples` (0 when empty).
fn percentile(samples: &[i64], p: usize) -> i64 {
    if samples.is_empty() {
        return 0;
    }
    let rank = (p * samples.len()).div_ceil(100).max(1);
    samples[rank.min(samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50), 50);
        assert_eq!(percentile(&samples, 90), 90);
        assert_eq!(percentile(&samples, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn values_are_summed_exactly_per_currency() {
        let row = |amount: &str| SummaryRow {
            created_at: 1_000,
            status: "completed".into(),
            currency: Some("KES".into()),
            amount: Some(amount.into()),
        };
        let filter = ReportFilter {
            from_ms: 0,
            to_ms: 3_600_000,
            ..ReportFilter::default()
        };
        let rows: Vec<SummaryRow> = (0..10).map(|_| row("0.1")).collect();
        let summary = Summary::of(&filter, &rows, 1_000);
        let tally = &summary.totals["completed"];
        assert_eq!(tally.count, 10);
        assert_eq!(tally.values["KES"], Decimal::from(1));
        assert_eq!(summary.buckets.len(), 12);
        assert!(!summary.truncated);
    }

    #[test]
    fn a_client_is_held_to_its_own_transactions() {
        let viewer = Viewer {
            client_id: "ck_a".into(),
            role: crate::auth::Role::Client,
            csrf_token: String::new(),
        };
        let params = ReportParams {
            client: Some("ck_b".into()),
            ..ReportParams::default()
        };
        let report = params.resolve(&viewer, 10 * DEFAULT_RANGE_MS).unwrap();
        assert_eq!(report.filter.client_id.as_deref(), Some("ck_a"));
        assert_eq!(
            report.filter.to_ms - report.filter.from_ms,
            DEFAULT_RANGE_MS
        );
    }
}
