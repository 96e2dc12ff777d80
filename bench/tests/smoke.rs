//! `mmapi-bench run --smoke`: every scenario runs for a second at a low rate against the gateway binary and gives
//! sane figures. This checks that the benchmark works, never how fast anything is.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The gateway binary of the same profile, if it was built (e.g. by `cargo test --workspace`).
fn built_gateway() -> Option<PathBuf> {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_mmapi-bench"));
    let gateway = bench.parent()?.join("mmapi-gateway");
    gateway.is_file().then_some(gateway)
}

#[test]
fn a_smoke_run_measures_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("figures.json");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mmapi-bench"));
    command.args(["run", "--smoke", "--json"]).arg(&json);
    match built_gateway() {
        // A sanity run: any build of the gateway will do, so do not make cargo rebuild it.
        Some(gateway) => command.arg("--gateway").arg(gateway).arg("--no-build"),
        // Have the benchmark ask cargo to build it.
        None => command.env("CARGO", env!("CARGO")),
    };
    let output = command.output().expect("mmapi-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "mmapi-bench failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("accept / ceiling throughput"), "{stdout}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    let phases = report["phases"].as_array().unwrap();
    for scenario in ["ceiling", "accept", "e2e", "read-tx", "read-state"] {
        for mode in ["open", "closed"] {
            let phase = phases
                .iter()
                .find(|p| p["scenario"] == scenario && p["mode"] == mode)
                .unwrap_or_else(|| panic!("no {scenario} {mode} phase in {report:#}"));
            let context = format!("{scenario} {mode}: {phase:#}");
            assert!(
                phase["throughput_per_s"].as_f64().unwrap() > 0.0,
                "{context}"
            );
            assert!(phase["ok"].as_u64().unwrap() > 0, "{context}");
            assert_eq!(phase["failed"], 0, "{context}");
            assert_eq!(phase["errors"], 0, "{context}");
            assert!(
                phase["latency"]["p99_ms"].as_f64().unwrap() > 0.0,
                "{context}"
            );
            assert!(
                phase["usage"]["server_cpu_s"].as_f64().unwrap() > 0.0,
                "{context}"
            );
            assert!(
                phase["usage"]["server_peak_rss_mib"].as_f64().unwrap() > 0.0,
                "{context}"
            );
            if scenario == "e2e" {
                assert_eq!(phase["missing_callbacks"], 0, "{context}");
                assert_eq!(phase["not_completed"], 0, "{context}");
                assert_eq!(phase["stray_callbacks"], 0, "{context}");
            }
        }
    }
    // The gateway serves the account page, so it is measured (a probe refused, as once for want of the
    // client's credentials, would report it as not available).
    let acct_measured = phases.iter().any(|p| p["scenario"] == "read-acct");
    let acct_missing = report["not_available"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["scenario"] == "read-acct");
    assert!(acct_measured && !acct_missing, "{report:#}");
    assert!(report["accept_to_ceiling"]["closed_loop"].as_f64().unwrap() > 0.0);
}
