//! SIGTERM while payments are being accepted: the gateway stops accepting, finishes the requests in flight,
//! exits 0, and every payment it answered 202 is on disk and completes after a restart, with its callback.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[simulators]\ncallback_delay_ms = 1500\nstk_result_deadline_secs = 1\n\
         [dispatch]\ntick_ms = 100\n[callbacks]\ninitial_backoff_ms = 200\n",
    )
    .expect("config written");
    let data_dir = dir.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1.2/mm");
    let http = reqwest::Client::new();
    let receiver = CallbackReceiver::start(vec![]).await;
    let database_url = test_database_url().await;

    let mut first = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&http, &base).await;
    let http = authenticated_http(&sandbox_credentials(&data_dir));

    // Eight clients send payments back to back; SIGTERM lands while they do.
    let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (http, base, url, accepted) = (
            http.clone(),
            base.clone(),
            receiver.url.clone(),
            accepted.clone(),
        );
        clients.push(tokio::spawn(async move {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                let sent = http
                    .post(format!("{base}/transactions/type/merchantpay"))
                    .header("content-type", "application/json")
                    .header("X-Callback-URL", &url)
                    .header("X-CorrelationID", correlation_id())
                    .body(
                        json!({"amount": "5", "currency": "KES",
                               "debitParty": [{"key": "msisdn", "value": PAYER}],
                               "creditParty": [{"key": "storeid", "value": TILL}]})
                        .to_string(),
                    )
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 202 => {
                        if let Ok(state) = response.json::<Value>().await {
                            accepted.lock().expect("lock").push(state);
                        }
                    }
                    Ok(response) => panic!("unexpected answer {}", response.status()),
                    // Refused once the listener has closed.
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = first.0.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the gateway did not stop"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    for client in clients {
        client.await.expect("client task");
    }
    let accepted = accepted.lock().expect("lock").clone();
    assert!(
        !accepted.is_empty(),
        "some payments were accepted before the stop"
    );

    let mut second = spawn_gateway(&config, port, &data_dir, database_url.as_deref());
    wait_up(&http, &base).await;
    for state in &accepted {
        let id = state["serverCorrelationId"].as_str().unwrap_or_default();
        let done = wait_final(&http, &base, id, Duration::from_secs(90)).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    let got = receiver
        .wait_for(accepted.len(), Duration::from_secs(30))
        .await;
    for state in &accepted {
        assert!(
            got.iter()
                .any(|r| r.body["transactionReference"] == state["objectReference"]),
            "a callback for {}",
            state["objectReference"]
        );
    }
    println!(
        "{} payments accepted before SIGTERM, all completed after the restart",
        accepted.len()
    );
    second.kill();
}
