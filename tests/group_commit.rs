//! The SQLite writer's group commit: changes arriving back to back share commits (one fsync), every change is
//! answered only once it is committed, and none is lost.

use std::sync::Arc;
use std::time::Duration;

use mmapi_gateway::store::{AcceptResult, NewRequestState, NewTransaction, Store, StoreSettings};

const CHANGES: usize = 300;

fn payment(i: usize) -> (NewRequestState, NewTransaction) {
    let reference = format!("groupcommit{i:06}");
    let rs = NewRequestState {
        server_correlation_id: format!("00000000-0000-7000-8000-{i:012}"),
        client_id: "client-1".into(),
        client_correlation_id: Some(format!("11111111-0000-4000-8000-{i:012}")),
        object_type: "transaction",
        object_reference: reference.clone(),
        notification_method: "polling",
        callback_url: None,
        now_ms: 1_700_000_000_000,
        request_id: None,
    };
    let body = format!(
        r#"{{"transactionReference":"{reference}","type":"merchantpay","amount":"10.00","currency":"KES","transactionStatus":"pending"}}"#
    );
    let tx = NewTransaction {
        transaction_reference: reference,
        transaction_type: "merchantpay",
        provider: "daraja".into(),
        body,
        debit_account: Some("msisdn:254708374149".into()),
        credit_account: Some("businessid:174379".into()),
        currency: "KES".into(),
        amount: "10.00".into(),
    };
    (rs, tx)
}

/// Sends the payments one every 100 µs (each waits for its own commit on a task of its own) and returns the
/// commits the writer made for them.
async fn commits_for_back_to_back_payments(store: Arc<Store>) -> u64 {
    let before = store.writer_stats().commits;
    let mut waiting = tokio::task::JoinSet::new();
    for i in 0..CHANGES {
        let store = store.clone();
        waiting.spawn(async move {
            let (rs, tx) = payment(i);
            (i, store.accept(rs, tx).await)
        });
        // A blocking pause keeps the arrivals close together: the runtime's timer would round up to 1 ms.
        std::thread::sleep(Duration::from_micros(100));
    }
    while let Some(joined) = waiting.join_next().await {
        let (i, result) = joined.expect("an accept task panicked");
        assert!(
            matches!(result, Ok(AcceptResult::Accepted)),
            "payment {i}: {result:?}"
        );
    }
    for i in 0..CHANGES {
        let reference = format!("groupcommit{i:06}");
        let row = store.transaction(&reference).await.expect("readable");
        assert!(row.is_some(), "payment {i} was answered but is not stored");
    }
    store.writer_stats().commits - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_changes_share_commits_and_none_is_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = StoreSettings {
        group_commit_window_us: 2_000,
    };
    let store = Arc::new(
        Store::open(None, dir.path(), &settings)
            .await
            .expect("store opens"),
    );
    let commits = commits_for_back_to_back_payments(store.clone()).await;
    // 300 payments over about 30 ms: with a 2 ms window the writer makes a commit every 2 ms or so, each
    // carrying about 20 of them. Without gathering it commits as often as the disk lets it.
    assert!(
        commits <= (CHANGES / 4) as u64,
        "{commits} commits for {CHANGES} payments arriving 100 µs apart"
    );

    // Reopened, the store still has every one of them.
    drop(store);
    let reopened = Store::open(None, dir.path(), &settings)
        .await
        .expect("store reopens");
    for i in [0, CHANGES / 2, CHANGES - 1] {
        let reference = format!("groupcommit{i:06}");
        assert!(reopened
            .transaction(&reference)
            .await
            .expect("readable")
            .is_some());
    }
}
