//! Charts drawn on the server as inline SVG: no JavaScript, no library, nothing fetched. Every bar carries its
//! exact figure in `data-*` attributes (and a `<title>` tooltip); `f64` is used for pixel coordinates only.

use std::collections::BTreeMap;

use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;

use super::query::{Latency, Summary, Tally, STATUSES};
use super::show_time;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 10.0;

/// The colour of a status.
pub fn colour(status: &str) -> &'static str {
    match status {
        "completed" => "#2e9d4f",
        "failed" => "#d64545",
        "pending" => "#e0a100",
        "reversed" => "#6c63c7",
        _ => "#8a8f99",
    }
}

/// Stacked bars of transactions per time bucket, by status.
pub fn counts(summary: &Summary) -> Markup {
    stacked(summary, "chart-count", "Transactions over time", |tally| {
        (tally.count as f64, tally.count.to_string())
    })
}

/// Stacked bars of the value in `currency` per time bucket, by status.
pub fn values(summary: &Summary, currency: &str) -> Markup {
    let title = format!("Value over time ({currency})");
    stacked(summary, "chart-value", &title, |tally| {
        let value = tally.values.get(currency).copied().unwrap_or_default();
        (value.to_f64().unwrap_or(0.0), value.to_string())
    })
}

fn stacked(
    summary: &Summary,
    id: &str,
    title: &str,
    measure: impl Fn(&Tally) -> (f64, String),
) -> Markup {
    let totals: Vec<f64> = summary
        .buckets
        .iter()
        .map(|b| b.values().map(|t| measure(t).0).sum())
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (HEIGHT - TOP - BOTTOM) / max
    } else {
        0.0
    };
    let slot = (WIDTH - LEFT - 8.0) / summary.buckets.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    html! {
        figure.chart {
            h3 { (title) }
            svg id=(id) width=(WIDTH) height=(HEIGHT) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                xmlns="http://www.w3.org/2000/svg" role="img" aria-label=(title) {
                (axes(max))
                @for (i, bucket) in summary.buckets.iter().enumerate() {
                    @let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                    @let at = summary.start_ms + summary.bucket_ms * i as i64;
                    @let stack = stack_of(bucket, &measure);
                    @for (status, value, text, below) in stack {
                        rect x=(fmt(x)) y=(fmt(HEIGHT - BOTTOM - (below + value) * scale))
                            width=(fmt(bar)) height=(fmt(value * scale)) fill=(colour(status))
                            data-status=(status) data-count=(bucket.get(status).map_or(0, |t| t.count))
                            data-value=(text) data-bucket=(show_time(at)) {
                            title { (show_time(at)) " · " (status) ": " (text) }
                        }
                    }
                }
                (time_labels(summary))
            }
            (legend())
        }
    }
}

/// The statuses of a bucket with their measure, each with the sum of those drawn below it.
fn stack_of<'a>(
    bucket: &'a BTreeMap<String, Tally>,
    measure: &impl Fn(&Tally) -> (f64, String),
) -> Vec<(&'a str, f64, String, f64)> {
    let mut below = 0.0;
    let mut stack = Vec::new();
    for status in STATUSES {
        if let Some(tally) = bucket.get(status) {
            let (value, text) = measure(tally);
            stack.push((status, value, text, below));
            below += value;
        }
    }
    stack
}

/// The share of completed among final transactions per bucket, as a line with a dot per bucket that has any.
pub fn success_rate(summary: &Summary) -> Markup {
    let slot = (WIDTH - LEFT - 8.0) / summary.buckets.len().max(1) as f64;
    let scale = (HEIGHT - TOP - BOTTOM) / 100.0;
    let points: Vec<(f64, f64, f64, i64)> = summary
        .buckets
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            Summary::success_rate(b).map(|rate| {
                let at = summary.start_ms + summary.bucket_ms * i as i64;
                (
                    LEFT + slot * (i as f64 + 0.5),
                    HEIGHT - BOTTOM - rate * scale,
                    rate,
                    at,
                )
            })
        })
        .collect();
    let line: Vec<String> = points
        .iter()
        .map(|(x, y, _, _)| format!("{},{}", fmt(*x), fmt(*y)))
        .collect();
    html! {
        figure.chart {
            h3 { "Success rate (completed among final, %)" }
            svg id="chart-success" width=(WIDTH) height=(HEIGHT) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Success rate" {
                (axes(100.0))
                polyline points=(line.join(" ")) fill="none" stroke="#2e6bd6" stroke-width="2" {}
                @for (x, y, rate, at) in &points {
                    circle cx=(fmt(*x)) cy=(fmt(*y)) r="3" fill="#2e6bd6" data-rate=(format!("{rate:.1}")) {
                        title { (show_time(*at)) ": " (format!("{rate:.1}")) " %" }
                    }
                }
                (time_labels(summary))
            }
        }
    }
}

/// Operator latency (dispatch → result) per provider: p50, p90 and p99 side by side.
pub fn latency(latencies: &[Latency]) -> Markup {
    let max = latencies.iter().map(|l| l.p99).max().unwrap_or(0) as f64;
    let scale = if max > 0.0 {
        (HEIGHT - TOP - BOTTOM) / max
    } else {
        0.0
    };
    let slot = (WIDTH - LEFT - 8.0) / latencies.len().max(1) as f64;
    let bar = (slot * 0.8 / 3.0).max(1.0);
    let shades = [("p50", "#9cc3f5"), ("p90", "#4f8fe0"), ("p99", "#1d4f9c")];
    html! {
        figure.chart {
            h3 { "Operator latency, dispatch → result (ms)" }
            svg id="chart-latency" width=(WIDTH) height=(HEIGHT) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Operator latency" {
                (axes(max))
                @for (i, l) in latencies.iter().enumerate() {
                    @for (j, (name, shade)) in shades.iter().enumerate() {
                        @let value = match j { 0 => l.p50, 1 => l.p90, _ => l.p99 };
                        @let x = LEFT + slot * i as f64 + slot * 0.1 + bar * j as f64;
                        rect x=(fmt(x)) y=(fmt(HEIGHT - BOTTOM - value as f64 * scale)) width=(fmt(bar))
                            height=(fmt(value as f64 * scale)) fill=(shade) data-provider=(l.provider)
                            data-percentile=(name) data-ms=(value) {
                            title { (l.provider) " " (name) ": " (value) " ms" }
                        }
                    }
                    text x=(fmt(LEFT + slot * (i as f64 + 0.5))) y=(fmt(HEIGHT - 8.0)) font-size="11"
                        text-anchor="middle" { (l.provider) }
                }
            }
            p.muted { "Bars: p50, p90, p99." }
        }
    }
}

fn axes(max: f64) -> Markup {
    html! {
        line x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(HEIGHT - BOTTOM) stroke="#99a" {}
        line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH - 4.0) y2=(HEIGHT - BOTTOM) stroke="#99a" {}
        text x=(LEFT - 4.0) y=(TOP + 8.0) font-size="10" text-anchor="end" { (short(max)) }
        text x=(LEFT - 4.0) y=(HEIGHT - BOTTOM) font-size="10" text-anchor="end" { "0" }
    }
}

fn time_labels(summary: &Summary) -> Markup {
    let end = summary.start_ms + summary.bucket_ms * summary.buckets.len() as i64;
    html! {
        text x=(LEFT) y=(HEIGHT - 8.0) font-size="10" { (show_time(summary.start_ms)) }
        text x=(WIDTH - 4.0) y=(HEIGHT - 8.0) font-size="10" text-anchor="end" { (show_time(end)) }
    }
}

fn legend() -> Markup {
    html! {
        p.legend {
            @for status in STATUSES {
                span style=(format!("color:{}", colour(status))) { "■ " (status) " " }
            }
        }
    }
}

/// A pixel coordinate, to a tenth.
fn fmt(v: f64) -> String {
    format!("{:.1}", if v.is_finite() { v } else { 0.0 })
}

/// An axis figure, short.
fn short(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1_000_000.0)
    } else if v >= 10_000.0 {
        format!("{:.0}k", v / 1_000.0)
    } else {
        format!("{v:.0}")
    }
}
