//! JUnit XML, written by hand: one `<testsuite>` per use case, one `<testcase>` per scenario, with `<failure>`
//! (every difference found) or `<skipped>`, and the step log in `<system-out>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::Counts;
use crate::runner::{CaseResult, Outcome};

/// The JUnit XML document for `results`.
pub fn render(results: &[CaseResult]) -> String {
    let mut by_use_case: BTreeMap<&str, Vec<&CaseResult>> = BTreeMap::new();
    for r in results {
        by_use_case.entry(r.use_case.as_str()).or_default().push(r);
    }
    let total = Counts::of(results);
    let seconds = |rs: &[&CaseResult]| rs.iter().map(|r| r.duration.as_secs_f64()).sum::<f64>();
    let all: Vec<&CaseResult> = results.iter().collect();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"mmapi-conformance\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
        results.len(),
        total.failed,
        total.skipped,
        seconds(&all)
    );
    for (use_case, cases) in &by_use_case {
        let counts = Counts::of(cases.iter().copied());
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
            escape(use_case),
            cases.len(),
            counts.failed,
            counts.skipped,
            seconds(cases)
        );
        for case in cases {
            let name = case.id.split_once('/').map_or(case.id.as_str(), |(_, n)| n);
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">",
                escape(use_case),
                escape(name),
                case.duration.as_secs_f64()
            );
            match case.outcome {
                Outcome::Passed => {}
                Outcome::Failed => {
                    let _ = write!(
                        xml,
                        "\n      <failure message=\"{}\" type=\"nonconformance\">{}</failure>",
                        escape(case.detail().unwrap_or("failed")),
                        escape(&case.failures.join("\n"))
                    );
                }
                Outcome::Skipped => {
                    let _ = write!(
                        xml,
                        "\n      <skipped message=\"{}\"/>",
                        escape(case.detail().unwrap_or("skipped"))
                    );
                }
            }
            if !case.log.is_empty() {
                let _ = write!(
                    xml,
                    "\n      <system-out>{}</system-out>",
                    escape(&format!("{}\n{}", case.title, case.log.join("\n")))
                );
            }
            if case.outcome == Outcome::Passed && case.log.is_empty() {
                xml.push_str("</testcase>\n");
            } else {
                xml.push_str("\n    </testcase>\n");
            }
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Escapes text for XML content and attribute values, and drops the characters XML 1.0 cannot carry.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("a<b>&\"c\"'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#10;"
        );
    }

    #[test]
    fn document() {
        let failed = CaseResult {
            id: "merchant-payments/x&y".into(),
            use_case: "merchant-payments".into(),
            title: "T".into(),
            outcome: Outcome::Failed,
            duration: Duration::from_millis(250),
            failures: vec!["step 'a': status 200, expected <202>".into()],
            skip_reason: None,
            log: vec!["POST /x -> 200 {}".into()],
        };
        let skipped = CaseResult {
            id: "disbursements/y".into(),
            use_case: "disbursements".into(),
            title: "T".into(),
            outcome: Outcome::Skipped,
            duration: Duration::ZERO,
            failures: vec![],
            skip_reason: Some("requires disbursement".into()),
            log: vec![],
        };
        let xml = render(&[failed, skipped]);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"mmapi-conformance\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\""), "{xml}");
        assert!(
            xml.contains(
                "<testcase classname=\"merchant-payments\" name=\"x&amp;y\" time=\"0.250\">"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"step &apos;a&apos;: status 200, expected &lt;202&gt;\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"requires disbursement\"/>"),
            "{xml}"
        );
        assert_eq!(xml.matches("<testsuite ").count(), 2);
        assert_eq!(xml.matches("</testcase>").count(), 2);
    }
}
