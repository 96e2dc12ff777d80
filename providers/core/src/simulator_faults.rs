//! Fault injection shared by the provider simulators, to test how a client copes with an unreliable
//! operator: asynchronous results dropped, delayed or delivered twice, API calls answered with a 5xx or held
//! past the client's timeout.
//!
//! Every decision comes from one RNG seeded with [`Faults::seed`], drawn in a fixed number per event, so a run
//! with the same seed and the same sequence of events makes the same decisions. With every fraction at zero
//! (the default) nothing is drawn and nothing changes. Each simulator supplies only its own 5xx answer and the
//! paths it exempts, through [`inject`].

use std::{sync::Mutex, time::Duration};

use axum::{extract::Request, middleware::Next, response::Response};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which faults the simulator injects. Fractions are probabilities between 0 and 1; all are 0 by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Seed of the RNG behind every decision.
    pub seed: u64,
    /// Fraction of asynchronous results (result callbacks; at Daraja also C2B confirmations) never sent. The
    /// operator's status query (for C2B: Pull Transactions) still tells the outcome.
    pub drop_callbacks: f64,
    /// Fraction of asynchronous results sent [`Faults::callback_delay_ms`] later than due.
    pub delay_callbacks: f64,
    /// The extra wait of a delayed result, in milliseconds. Default 5,000.
    pub callback_delay_ms: u64,
    /// Fraction of asynchronous results sent twice.
    pub duplicate_callbacks: f64,
    /// Fraction of API calls (not authentication) answered with the operator's 5xx without being
    /// processed (Daraja: HTTP 500 `500.003.02 Spike Arrest Violation`; OpenAPI: HTTP 503 `INS-16`).
    pub server_errors: f64,
    /// Fraction of API calls (not authentication) processed but answered only after [`Faults::timeout_ms`], past
    /// the client's timeout.
    pub timeouts: f64,
    /// How long a timed-out call is held, in milliseconds. Default 20,000 (the gateway waits 15 s).
    pub timeout_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            seed: 0,
            drop_callbacks: 0.0,
            delay_callbacks: 0.0,
            callback_delay_ms: 5_000,
            duplicate_callbacks: 0.0,
            server_errors: 0.0,
            timeouts: 0.0,
            timeout_ms: 20_000,
        }
    }
}

impl Faults {
    /// Checks that every fraction is between 0 and 1, and that 5xx and timeouts add up to at most 1.
    pub fn validate(&self) -> Result<(), InvalidFaults> {
        for (field, value) in [
            ("drop_callbacks", self.drop_callbacks),
            ("delay_callbacks", self.delay_callbacks),
            ("duplicate_callbacks", self.duplicate_callbacks),
            ("server_errors", self.server_errors),
            ("timeouts", self.timeouts),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(InvalidFaults {
                    field,
                    problem: "must be between 0 and 1",
                });
            }
        }
        if self.server_errors + self.timeouts > 1.0 {
            return Err(InvalidFaults {
                field: "server_errors",
                problem: "and faults.timeouts add up to more than 1",
            });
        }
        Ok(())
    }

    fn calls_faulty(&self) -> bool {
        self.server_errors > 0.0 || self.timeouts > 0.0
    }

    fn callbacks_faulty(&self) -> bool {
        self.drop_callbacks > 0.0 || self.delay_callbacks > 0.0 || self.duplicate_callbacks > 0.0
    }
}

/// Why a [`Faults`] is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("faults.{field} {problem}")]
pub struct InvalidFaults {
    /// The offending setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// What happens to one API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFault {
    /// Served normally.
    None,
    /// Answered 5xx, not processed.
    ServerError,
    /// Processed, answered after the hold.
    Timeout,
}

/// What happens to one result callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackFault {
    /// Never sent.
    pub drop: bool,
    /// Extra wait before it is sent.
    pub delay: Duration,
    /// Sent twice.
    pub duplicate: bool,
}

impl CallbackFault {
    /// No fault.
    pub const NONE: Self = Self {
        drop: false,
        delay: Duration::ZERO,
        duplicate: false,
    };
}

/// Draws the decisions, one RNG behind a lock.
pub struct FaultInjector {
    faults: Faults,
    rng: Mutex<StdRng>,
}

impl FaultInjector {
    /// An injector drawing from an RNG seeded with [`Faults::seed`].
    pub fn new(faults: Faults) -> Self {
        Self {
            rng: Mutex::new(StdRng::seed_from_u64(faults.seed)),
            faults,
        }
    }

    /// Draws `n` numbers in [0, 1) at once.
    fn draw<const N: usize>(&self) -> [f64; N] {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        std::array::from_fn(|_| rng.random::<f64>())
    }

    /// The fate of the next API call (one draw, when call faults are on).
    pub fn on_call(&self) -> CallFault {
        if !self.faults.calls_faulty() {
            return CallFault::None;
        }
        let [r] = self.draw();
        if r < self.faults.server_errors {
            CallFault::ServerError
        } else if r < self.faults.server_errors + self.faults.timeouts {
            CallFault::Timeout
        } else {
            CallFault::None
        }
    }

    /// The fate of the next result callback (three draws, when callback faults are on).
    pub fn on_callback(&self) -> CallbackFault {
        if !self.faults.callbacks_faulty() {
            return CallbackFault::NONE;
        }
        let [drop, delay, duplicate] = self.draw();
        CallbackFault {
            drop: drop < self.faults.drop_callbacks,
            delay: if delay < self.faults.delay_callbacks {
                Duration::from_millis(self.faults.callback_delay_ms)
            } else {
                Duration::ZERO
            },
            duplicate: duplicate < self.faults.duplicate_callbacks,
        }
    }

    /// How long a timed-out call is held.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.faults.timeout_ms)
    }
}

/// Injects the next call fault into `request`: `exempt` paths pass untouched, a server error is answered
/// with `server_error()` without running the handler, a timeout runs the handler and holds its answer.
/// `label` names the simulator in debug logs.
pub async fn inject(
    injector: &FaultInjector,
    label: &'static str,
    exempt: fn(&str) -> bool,
    server_error: fn() -> Response,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if exempt(path) {
        return next.run(request).await;
    }
    match injector.on_call() {
        CallFault::None => next.run(request).await,
        CallFault::ServerError => {
            tracing::debug!(path, simulator = label, "injected 5xx");
            server_error()
        }
        CallFault::Timeout => {
            let response = next.run(request).await;
            tracing::debug!(simulator = label, "injected timeout");
            tokio::time::sleep(injector.timeout()).await;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chaos(seed: u64) -> Faults {
        Faults {
            seed,
            drop_callbacks: 0.1,
            delay_callbacks: 0.2,
            duplicate_callbacks: 0.3,
            server_errors: 0.05,
            timeouts: 0.05,
            ..Faults::default()
        }
    }

    fn decisions(faults: Faults) -> (Vec<CallFault>, Vec<CallbackFault>) {
        let injector = FaultInjector::new(faults);
        let calls = (0..1_000).map(|_| injector.on_call()).collect();
        let callbacks = (0..1_000).map(|_| injector.on_callback()).collect();
        (calls, callbacks)
    }

    #[test]
    fn same_seed_same_decisions() {
        assert_eq!(decisions(chaos(7)), decisions(chaos(7)));
        assert_ne!(decisions(chaos(7)), decisions(chaos(8)));
    }

    #[test]
    fn fractions_are_roughly_kept() {
        let (calls, callbacks) = decisions(chaos(42));
        let count = |f: CallFault| calls.iter().filter(|c| **c == f).count();
        assert!((20..=80).contains(&count(CallFault::ServerError)));
        assert!((20..=80).contains(&count(CallFault::Timeout)));
        let dropped = callbacks.iter().filter(|c| c.drop).count();
        let doubled = callbacks.iter().filter(|c| c.duplicate).count();
        assert!((60..=140).contains(&dropped), "{dropped}");
        assert!((240..=360).contains(&doubled), "{doubled}");
    }

    #[test]
    fn off_by_default() {
        let injector = FaultInjector::new(Faults::default());
        assert!((0..100).all(|_| injector.on_call() == CallFault::None));
        assert!((0..100).all(|_| injector.on_callback() == CallbackFault::NONE));
        assert!(Faults::default().validate().is_ok());
    }

    #[test]
    fn invalid_fractions_are_refused() {
        let bad = Faults {
            drop_callbacks: 1.5,
            ..Faults::default()
        };
        assert!(bad.validate().is_err());
        let too_many = Faults {
            server_errors: 0.6,
            timeouts: 0.6,
            ..Faults::default()
        };
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn parses_from_toml_like_json() {
        let f: Faults = serde_json::from_str(r#"{"seed":3,"drop_callbacks":0.1}"#).expect("parses");
        assert_eq!(f.seed, 3);
        assert_eq!(f.timeout_ms, 20_000);
    }
}
