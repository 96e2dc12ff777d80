//! How often each transaction reached a provider simulator, shared by the simulators so that a test can show that
//! nothing was carried out twice: every submission is counted by the transaction's key, and those the simulator
//! refused as repeats of one it had taken (under the operator's idempotency key) are counted apart.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Counts {
    submitted: HashMap<String, u32>,
    refused_repeats: HashMap<String, u32>,
}

/// Submission counts by transaction key (what the gateway puts its transaction reference in).
#[derive(Default)]
pub struct SubmissionCounts {
    counts: Mutex<Counts>,
}

impl SubmissionCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one submission of the transaction `key`.
    pub fn submitted(&self, key: &str) {
        *self.lock().submitted.entry(key.to_owned()).or_insert(0) += 1;
    }

    /// Counts one submission of `key`, already counted by [`SubmissionCounts::submitted`], as a repeat that was
    /// refused: sent again, not carried out again.
    pub fn refused_repeat(&self, key: &str) {
        *self
            .lock()
            .refused_repeats
            .entry(key.to_owned())
            .or_insert(0) += 1;
    }

    /// Every submission, refused repeats included, by key.
    pub fn submissions(&self) -> HashMap<String, u32> {
        self.lock().submitted.clone()
    }

    /// The refused repeats, by key.
    pub fn refused_repeats(&self) -> HashMap<String, u32> {
        self.lock().refused_repeats.clone()
    }

    /// What `GET /__simulator/submissions` answers: `{"submissions": {key: count}, "refusedRepeats": {key:
    /// count}, "duplicates": [keys carried out more than once, sorted]}`.
    pub fn report(&self) -> serde_json::Value {
        let counts = self.lock();
        let mut duplicates: Vec<&String> = counts
            .submitted
            .iter()
            .filter(|(key, n)| {
                let refused = counts.refused_repeats.get(*key).copied().unwrap_or(0);
                n.saturating_sub(refused) > 1
            })
            .map(|(key, _)| key)
            .collect();
        duplicates.sort();
        serde_json::json!({
            "submissions": counts.submitted,
            "refusedRepeats": counts.refused_repeats,
            "duplicates": duplicates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refused_repeat_is_no_duplicate_but_a_second_execution_is() {
        let counts = SubmissionCounts::default();
        for key in ["a", "a", "b", "b", "c"] {
            counts.submitted(key);
        }
        counts.refused_repeat("a");
        assert_eq!(
            counts.report(),
            json!({
                "submissions": {"a": 2, "b": 2, "c": 1},
                "refusedRepeats": {"a": 1},
                "duplicates": ["b"],
            })
        );
        assert_eq!(counts.refused_repeats().get("a"), Some(&1));
        assert_eq!(counts.submissions().get("c"), Some(&1));
    }
}
