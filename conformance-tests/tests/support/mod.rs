//! Running the whole embedded suite against a server and checking that every scenario its profile does not
//! skip passes.

use mmapi_conformance::profile::Profile;
use mmapi_conformance::runner::{Auth, Outcome, RunConfig};
use mmapi_conformance::scenario::Scenario;

/// Runs every scenario against `base_url` with `profile_name`'s data; fails the test, with each failing
/// scenario's log, unless all pass that the profile does not skip.
pub async fn assert_suite_passes(base_url: String, auth: Auth, profile_name: &str) {
    let profile = Profile::load(profile_name).expect("profile");
    let scenarios = Scenario::embedded().expect("scenarios parse");
    let expected_skips = scenarios
        .iter()
        .filter(|s| !profile.missing(&s.requires).is_empty())
        .count();
    let config = RunConfig {
        base_url,
        profile,
        auth: Some(auth),
        headers: vec![],
    };
    let results = mmapi_conformance::run_suite(
        config,
        &scenarios,
        "127.0.0.1:0".parse().expect("an address"),
        None,
        |_| {},
    )
    .await
    .expect("the suite runs");

    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| {
            format!(
                "{}: {}\n    {}",
                r.id,
                r.failures.join("\n    "),
                r.log.join("\n    ")
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
    let skipped = results
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .count();
    assert_eq!(skipped, expected_skips);
    let passed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed)
        .count();
    assert!(passed >= 20, "{passed} passed");
}
