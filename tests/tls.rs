//! The optional TLS listener: with `[tls]` the gateway serves HTTPS with the configured certificate (a
//! self-signed one made here), plain HTTP to that port fails, and a graceful stop still works.

mod common;

use std::time::Duration;

use common::*;
use mmapi_gateway::tls::TlsSettings;

#[tokio::test]
async fn https_with_the_configured_certificate_and_no_plain_http() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a self-signed certificate");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).expect("written");
    std::fs::write(&key_path, certified.key_pair.serialize_pem()).expect("written");

    let mut config = sandbox_config(dir.path()).await;
    config.tls = Some(TlsSettings {
        cert_path,
        key_path,
        handshake_timeout_ms: 2_000,
    });
    let gateway = mmapi_gateway::app::start(config)
        .await
        .expect("the gateway starts with TLS");
    let port = gateway.address.port();

    let trusted = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes())
                .expect("a PEM certificate"),
        )
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    for host in ["127.0.0.1", "localhost"] {
        let response = trusted
            .get(format!("https://{host}:{port}/v1.2/mm/heartbeat"))
            .send()
            .await
            .expect("HTTPS works");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-date"));
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["serviceStatus"], "available", "{body}");
    }

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    assert!(plain
        .get(format!("http://127.0.0.1:{port}/v1.2/mm/heartbeat"))
        .send()
        .await
        .is_err());
    // Nor does a client that does not trust the certificate.
    assert!(plain
        .get(format!("https://127.0.0.1:{port}/v1.2/mm/heartbeat"))
        .send()
        .await
        .is_err());
    // A client that connects and never says anything holds up nobody.
    let _silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    let response = trusted
        .get(format!("https://127.0.0.1:{port}/v1.2/mm/heartbeat"))
        .send()
        .await
        .expect("HTTPS still works");
    assert_eq!(response.status(), 200);

    // A graceful stop ends serving and closes the port.
    tokio::time::timeout(
        Duration::from_secs(30),
        gateway.run_until(std::future::ready(())),
    )
    .await
    .expect("the stop is quick")
    .expect("a clean stop");
    assert!(trusted
        .get(format!("https://127.0.0.1:{port}/v1.2/mm/heartbeat"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn an_unusable_certificate_stops_the_start() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = sandbox_config(dir.path()).await;
    config.tls = Some(TlsSettings {
        cert_path: dir.path().join("missing.pem"),
        key_path: dir.path().join("missing-key.pem"),
        handshake_timeout_ms: 2_000,
    });
    let error = match mmapi_gateway::app::start(config).await {
        Ok(_) => panic!("the gateway started without its certificate"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("missing.pem"), "{error}");
}
