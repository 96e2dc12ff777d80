//! What a run prints: one table row per case as it finishes, a summary line per use case, and the closing line
//! `conformance: N passed, N failed, N skipped` that CI log parsers read.

use std::collections::BTreeMap;

use crate::runner::{CaseResult, Outcome};

/// Passed, failed and skipped counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cases that conformed.
    pub passed: usize,
    /// Cases that did not.
    pub failed: usize,
    /// Cases not run.
    pub skipped: usize,
}

impl Counts {
    /// Counts the outcomes of `results`.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a CaseResult>) -> Self {
        let mut c = Counts::default();
        for r in results {
            match r.outcome {
                Outcome::Passed => c.passed += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Skipped => c.skipped += 1,
            }
        }
        c
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// The case table, with the id column as wide as the longest id.
pub struct Table {
    width: usize,
}

impl Table {
    /// A table for these ids.
    pub fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let width = ids.into_iter().map(str::len).max().unwrap_or(4).max(4);
        Self { width }
    }

    /// The heading line.
    pub fn header(&self) -> String {
        format!(
            "{:<6} {:<w$} {:>7}  {}",
            "RESULT",
            "CASE",
            "TIME",
            "DETAIL",
            w = self.width
        )
    }

    /// One case's line: result, id, time and the first difference (or the skip reason).
    pub fn row(&self, r: &CaseResult) -> String {
        let result = match r.outcome {
            Outcome::Passed => "PASS",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "SKIP",
        };
        let time = if r.outcome == Outcome::Skipped {
            String::new()
        } else {
            format!("{:.2}s", r.duration.as_secs_f64())
        };
        let detail = r
            .detail()
            .map(|d| crate::catalogue::shorten(&d.replace(['\n', '\r'], " "), 220))
            .unwrap_or_default();
        format!(
            "{result:<6} {:<w$} {time:>7}  {detail}",
            r.id,
            w = self.width
        )
        .trim_end()
        .to_owned()
    }
}

/// One line per use case (`use case merchant-payments: 6 passed, 0 failed, 0 skipped`), then the closing line.
pub fn summary(results: &[CaseResult]) -> Vec<String> {
    let mut by_use_case: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        by_use_case.entry(r.use_case.as_str()).or_default().push(r);
    }
    let mut lines: Vec<String> = by_use_case
        .iter()
        .map(|(use_case, rs)| format!("use case {use_case}: {}", Counts::of(rs.iter().copied())))
        .collect();
    lines.push(format!("conformance: {}", Counts::of(results)));
    lines
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    pub(crate) fn case(id: &str, outcome: Outcome, detail: Option<&str>) -> CaseResult {
        CaseResult {
            id: id.into(),
            use_case: id.split('/').next().unwrap().into(),
            title: "t".into(),
            outcome,
            duration: Duration::from_millis(1500),
            failures: if outcome == Outcome::Failed {
                detail.map(|d| vec![d.to_owned()]).unwrap_or_default()
            } else {
                vec![]
            },
            skip_reason: if outcome == Outcome::Skipped {
                detail.map(str::to_owned)
            } else {
                None
            },
            log: vec![],
        }
    }

    #[test]
    fn rows_and_summary() {
        let results = vec![
            case("a/x", Outcome::Passed, None),
            case(
                "a/y",
                Outcome::Failed,
                Some("step 's': status 200, expected 202"),
            ),
            case("b/z", Outcome::Skipped, Some("requires disbursement")),
        ];
        let table = Table::new(results.iter().map(|r| r.id.as_str()));
        assert_eq!(table.row(&results[0]), "PASS   a/x    1.50s");
        assert_eq!(
            table.row(&results[1]),
            "FAIL   a/y    1.50s  step 's': status 200, expected 202"
        );
        assert_eq!(
            table.row(&results[2]),
            "SKIP   b/z           requires disbursement"
        );
        assert_eq!(
            summary(&results),
            vec![
                "use case a: 1 passed, 1 failed, 0 skipped",
                "use case b: 0 passed, 0 failed, 1 skipped",
                "conformance: 1 passed, 1 failed, 1 skipped",
            ]
        );
    }
}
