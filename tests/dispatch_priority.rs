//! The dispatcher runs on threads of its own at a lower CPU priority (`[dispatch] threads`, `nice`), and payments
//! still go to the operator and settle from there.

mod common;

use std::time::Duration;

use common::{correlation_id, sandbox_config, TestGateway, PAYER};
use reqwest::StatusCode;

/// The `/proc/self/task/<tid>` directories of this process's threads named `name` (Linux).
#[cfg(target_os = "linux")]
fn threads_named(name: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .map(|task| task.expect("a task entry").path())
        // A thread that ended meanwhile has no comm left to read.
        .filter(|path| {
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// The nice value of each thread of this process named `name` (`stat`: field 19, the 17th after the
/// parenthesised name).
#[cfg(target_os = "linux")]
fn nice_of_threads_named(name: &str) -> Vec<i64> {
    threads_named(name)
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path.join("stat")).ok())
        .map(|stat| {
            let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
            after_name
                .split(' ')
                .nth(16)
                .expect("a nice field")
                .parse()
                .expect("a number")
        })
        .collect()
}

/// Context switches, summed over the threads of this process named `name` (`status`): a thread parked with
/// nothing to do makes none, so a rise shows work ran on those threads.
#[cfg(target_os = "linux")]
fn switches_of_threads_named(name: &str) -> u64 {
    threads_named(name)
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path.join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_calls_run_on_threads_of_their_own_at_the_configured_priority() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.dispatch.threads = 2;
    config.dispatch.nice = 7;
    let gw = TestGateway::start_with(config, dir).await;
    // Let the dispatch runtime's threads start and park; from here they run only when work is given to them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = switches_of_threads_named("mmapi-dispatch");

    let (status, body) = gw
        .merchantpay(PAYER, "25.00", &[("X-CorrelationID", &correlation_id())])
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["serverCorrelationId"].as_str().expect("an id");
    let state = gw.wait_final(id, Duration::from_secs(20)).await;
    assert_eq!(state["status"], "completed", "{state}");
    // The payment was sent from those threads: they woke for it (spawned anywhere else, they would have slept).
    let after = switches_of_threads_named("mmapi-dispatch");
    assert!(
        after > idle,
        "the dispatch threads did not run: {idle} context switches before the payment, {after} after"
    );

    let dispatchers = nice_of_threads_named("mmapi-dispatch");
    // Two workers, and any blocking-pool thread the runtime started (they carry its name and priority too).
    assert!(
        dispatchers.len() >= 2 && dispatchers.iter().all(|n| *n == 7),
        "the dispatcher's threads: {dispatchers:?}"
    );
    // The threads that answer requests keep the process's priority.
    let this_thread = nice_of_threads_named("tokio-rt-worker");
    assert!(
        !this_thread.is_empty() && this_thread.iter().all(|n| *n == 0),
        "request threads: {this_thread:?}"
    );
}

#[tokio::test]
async fn a_nice_value_outside_0_to_19_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, "[dispatch]\nnice = 20\n").expect("config written");
    let error = mmapi_gateway::config::Config::load(Some(&config_path), Default::default())
        .expect_err("nice = 20 is refused");
    assert!(error.to_string().contains("nice"), "{error}");
}
