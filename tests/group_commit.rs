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

/// A SQLite store in `dir`.
async fn open_store(dir: &tempfile::TempDir, settings: &StoreSettings) -> Arc<Store> {
    Arc::new(
        Store::open(None, dir.path(), settings)
            .await
            .expect("store opens"),
    )
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
    let store = open_store(&dir, &settings).await;
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

/// Payments stored by a steady stream of concurrent callers, never letting the writer rest.
const STREAM_PAYMENTS: usize = 12_000;
const STREAM_CALLERS: usize = 32;

/// Under commits that never pause, the WAL is started afresh again and again rather than growing with every
/// commit: its file stays a small multiple of what 100 ms of commits write. (Left to SQLite alone, a checkpoint
/// running beside the writer never finds the WAL fully copied, and the file grows by every page committed: here
/// to hundreds of megabytes, in production until the disk is full.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_small_under_a_steady_stream_of_commits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_store(
        &dir,
        &StoreSettings {
            group_commit_window_us: 1_000,
        },
    )
    .await;
    let wal = dir.path().join("mmapi.db-wal");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let largest_wal = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..STREAM_CALLERS {
        let (store, next, largest_wal, wal) = (
            store.clone(),
            next.clone(),
            largest_wal.clone(),
            wal.clone(),
        );
        callers.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= STREAM_PAYMENTS {
                    break;
                }
                let (rs, tx) = payment(i);
                let result = store.accept(rs, tx).await;
                assert!(
                    matches!(result, Ok(AcceptResult::Accepted)),
                    "payment {i}: {result:?}"
                );
                if i % 100 == 0 {
                    let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                    largest_wal.fetch_max(size, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
    }
    let started = std::time::Instant::now();
    while let Some(joined) = callers.join_next().await {
        joined.expect("a caller panicked");
    }
    let took = started.elapsed();
    let written = std::fs::metadata(dir.path().join("mmapi.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let largest_wal = largest_wal.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "{STREAM_PAYMENTS} payments in {took:?}: largest WAL {largest_wal} bytes, database {written} bytes, \
         {} commits",
        store.writer_stats().commits
    );
    // Each commit writes every page it changed, so the pages written add up to many times the database's size;
    // a WAL restarted every 100 ms or so holds a fraction of them.
    assert!(
        largest_wal < 32 << 20,
        "the WAL reached {largest_wal} bytes for {STREAM_PAYMENTS} payments (database: {written} bytes)"
    );
    for i in [0, STREAM_PAYMENTS / 2, STREAM_PAYMENTS - 1] {
        let reference = format!("groupcommit{i:06}");
        assert!(store
            .transaction(&reference)
            .await
            .expect("readable")
            .is_some());
    }
}
