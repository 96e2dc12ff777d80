//! Pre-filling a fresh store with N completed merchant payments, written straight into the gateway's SQLite file
//! with the row shapes its writer produces (`src/store/writer.rs`), so that figures with millions of stored
//! transactions can be compared with an empty store.
//!
//! The gateway creates and migrates the database first (it is started once on the empty data directory and
//! stopped); the rows are then bulk-inserted in key order, with ids derived from the row number ([`ids`]) so
//! that the reads can ask for pre-filled transactions without keeping a list.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::scenario::workloads::AcceptedIds;

/// The file, beside `mmapi.db`, that says how many payments were pre-filled.
pub const MARKER: &str = "bench-prefill.json";

/// The pre-filled payments were made this long ago (ms since the epoch of the first), one every 250 ms.
const FIRST_MS: u64 = 1_700_000_000_000;
const STEP_MS: u64 = 250;

/// Rows per database transaction while filling.
const CHUNK: u64 = 100_000;

/// What [`MARKER`] holds.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
pub struct Marker {
    /// Payments pre-filled.
    pub transactions: u64,
    /// The version of this fill's row shapes.
    pub format: u32,
}

const FORMAT: u32 = 2;

/// The ids of pre-filled payment number `i`.
pub fn ids(i: u64) -> AcceptedIds {
    let ms = created_ms(i);
    AcceptedIds {
        server_correlation_id: v7(ms, 1, i).hyphenated().to_string(),
        transaction_reference: v7(ms, 2, i).simple().to_string(),
    }
}

fn created_ms(i: u64) -> u64 {
    FIRST_MS + i * STEP_MS
}

/// A UUIDv7 at `ms` whose "random" bits are `tag` and `i` (unique, and increasing with `i`).
fn v7(ms: u64, tag: u8, i: u64) -> uuid::Uuid {
    let mut bits = [0u8; 10];
    bits[0] = tag;
    bits[2..].copy_from_slice(&i.to_be_bytes());
    uuid::Builder::from_unix_timestamp_millis(ms, &bits).into_uuid()
}

/// Reads the marker of a data directory, if any.
pub fn read_marker(data_dir: &Path) -> Option<Marker> {
    let text = std::fs::read_to_string(data_dir.join(MARKER)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether `data_dir` already holds exactly this fill.
pub fn is_prefilled(data_dir: &Path, n: u64) -> bool {
    read_marker(data_dir)
        == Some(Marker {
            transactions: n,
            format: FORMAT,
        })
}

/// Inserts `n` completed payments into the freshly migrated `data_dir/mmapi.db` (no gateway may be running on
/// it), then writes the marker.
pub fn fill(data_dir: &Path, n: u64) -> Result<()> {
    let path = data_dir.join("mmapi.db");
    let mut db =
        Connection::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let existing: i64 = db.query_row("SELECT COUNT(*) FROM transactions", [], |r| r.get(0))?;
    if existing != 0 {
        bail!(
            "{} already holds {existing} transactions: pre-fill only a fresh data directory",
            path.display()
        );
    }
    // A bulk load into a file nobody else uses: no rollback journal, no fsync until the end.
    db.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576; \
         PRAGMA locking_mode = EXCLUSIVE; PRAGMA temp_store = MEMORY;",
    )?;
    let accounts = has_account_columns(&db)?;
    let started = Instant::now();
    let mut row = RowText::default();
    let mut done = 0;
    while done < n {
        let end = (done + CHUNK).min(n);
        let tx = db.transaction()?;
        {
            let mut rs = tx.prepare_cached(&format!(
                "INSERT INTO request_states (server_correlation_id, client_id, client_correlation_id, \
                 object_type, object_reference, status, notification_method, callback_url, error, created_at, \
                 updated_at) VALUES (?1, '{client}', ?2, 'transaction', ?3, 'completed', 'polling', NULL, NULL, \
                 ?4, ?5)",
                client = crate::gateway::BENCH_CLIENT_ID
            ))?;
            let mut t = tx.prepare_cached(&transaction_insert(accounts))?;
            for i in done..end {
                row.fill(i);
                let ids = ids(i);
                rs.execute(params![
                    ids.server_correlation_id,
                    row.correlation_id,
                    ids.transaction_reference,
                    row.created_ms,
                    row.updated_ms
                ])?;
                let common = params![
                    ids.transaction_reference,
                    ids.server_correlation_id,
                    row.checkout_id,
                    row.provider_refs,
                    row.body,
                    row.created_ms,
                    row.updated_ms,
                ];
                if accounts {
                    let mut all = common.to_vec();
                    all.push(&DEBIT_ACCOUNT);
                    all.push(&CREDIT_ACCOUNT);
                    t.execute(all.as_slice())?;
                } else {
                    t.execute(common)?;
                }
            }
        }
        tx.commit()?;
        done = end;
        if done % 1_000_000 == 0 || done == n {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "prefill: {done} of {n} payments ({:.0}/s)",
                done as f64 / secs.max(1e-9)
            );
        }
    }
    if accounts {
        count_accounts(&db, n)?;
    }
    db.execute_batch("PRAGMA journal_mode = WAL;")?;
    drop(db);
    let marker = Marker {
        transactions: n,
        format: FORMAT,
    };
    std::fs::write(data_dir.join(MARKER), serde_json::to_vec(&marker)?)?;
    Ok(())
}

/// The debit and credit accounts of every pre-filled payment, as the gateway keys them (`account_key`: the first
/// party's value without `+`, spaces or dashes).
const DEBIT_ACCOUNT: &str = "254708374149";
const CREDIT_ACCOUNT: &str = "174379";

/// Whether the schema has the account columns (migration `0002_account_columns`).
fn has_account_columns(db: &Connection) -> Result<bool> {
    let mut columns = db.prepare("SELECT name FROM pragma_table_info('transactions')")?;
    let names = columns
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names.iter().any(|n| n == "debit_account") && names.iter().any(|n| n == "credit_account"))
}

/// Adds the `n` pre-filled payments to their accounts' counts, where the gateway's writer keeps them (migration
/// `0016_lean_transaction_writes`; an older schema's trigger counted each insert, and one without `account_counts`
/// counts nothing).
fn count_accounts(db: &Connection, n: u64) -> Result<()> {
    let has = |kind: &str, name: &str| -> Result<bool> {
        let found: i64 = db.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
            params![kind, name],
            |r| r.get(0),
        )?;
        Ok(found > 0)
    };
    if !has("table", "account_counts")? || has("trigger", "account_counts_on_insert")? {
        return Ok(());
    }
    for account in [DEBIT_ACCOUNT, CREDIT_ACCOUNT] {
        db.execute(
            "INSERT INTO account_counts (client_id, account, transactions) VALUES (?1, ?2, ?3) \
             ON CONFLICT (client_id, account) DO UPDATE SET transactions = transactions + ?3",
            params![crate::gateway::BENCH_CLIENT_ID, account, n as i64],
        )?;
    }
    Ok(())
}

/// The insert of one completed transaction, with the account columns when the schema has them.
fn transaction_insert(accounts: bool) -> String {
    let (columns, values) = if accounts {
        (", debit_account, credit_account", ", ?8, ?9")
    } else {
        ("", "")
    };
    format!(
        "INSERT INTO transactions (transaction_reference, server_correlation_id, client_id, transaction_type, \
         status, provider, dispatch_state, dispatch_attempts, provider_reference, provider_refs, next_check_at, \
         in_doubt_since, check_attempts, body, created_at, updated_at{columns}) VALUES (?1, ?2, '{client}', \
         'merchantpay', 'completed', 'daraja', 'final', 1, ?3, ?4, NULL, NULL, 0, ?5, ?6, ?7{values})",
        client = crate::gateway::BENCH_CLIENT_ID
    )
}

/// The text columns of one pre-filled payment, built in reused buffers.
#[derive(Default)]
struct RowText {
    correlation_id: String,
    checkout_id: String,
    provider_refs: String,
    body: String,
    created_ms: i64,
    updated_ms: i64,
}

impl RowText {
    /// A completed KES 100 payment from the sandbox customer to till 174379, as the gateway stores it once the
    /// STK result came (`Engine::finalise`).
    fn fill(&mut self, i: u64) {
        let created = created_ms(i);
        let updated = created + 1_500;
        self.created_ms = created as i64;
        self.updated_ms = updated as i64;
        self.correlation_id.clear();
        let _ = write!(self.correlation_id, "{}", v7(created, 3, i).hyphenated());
        self.checkout_id.clear();
        let _ = write!(self.checkout_id, "ws_CO_14112023000000{i:010}");
        self.provider_refs.clear();
        let _ = write!(
            self.provider_refs,
            r#"{{"reference":"{}","extra":{{"MerchantRequestID":"29115-34620561-{i}"}}}}"#,
            self.checkout_id
        );
        let ids = ids(i);
        self.body.clear();
        let _ = write!(
            self.body,
            r#"{{"transactionReference":"{}","type":"merchantpay","transactionStatus":"completed","amount":"100","currency":"KES","debitParty":[{{"key":"msisdn","value":"+254708374149"}}],"creditParty":[{{"key":"storeid","value":"174379"}}],"transactionReceipt":"{}","creationDate":"{}","modificationDate":"{}"}}"#,
            ids.transaction_reference,
            receipt(i),
            rfc3339(created),
            rfc3339(updated),
        );
    }
}

/// An M-Pesa-like receipt (10 characters, capital letters and digits), unique per `i`.
fn receipt(i: u64) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = [b'0'; 10];
    out[0] = b'T';
    let mut v = i;
    for slot in out[1..].iter_mut().rev() {
        *slot = ALPHABET[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `ms` as the gateway writes timestamps: RFC 3339 in UTC with milliseconds.
fn rfc3339(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_increasing_and_shaped_like_the_gateways() {
        let a = ids(0);
        let b = ids(1);
        assert!(a.server_correlation_id < b.server_correlation_id);
        assert!(a.transaction_reference < b.transaction_reference);
        assert_eq!(a.transaction_reference.len(), 32);
        assert_eq!(a.server_correlation_id.len(), 36);
        assert_eq!(
            uuid::Uuid::parse_str(&a.server_correlation_id)
                .unwrap()
                .get_version_num(),
            7
        );
        assert_eq!(ids(12_345), ids(12_345));
    }

    #[test]
    fn inserts_match_both_schemas() {
        assert!(transaction_insert(true).contains("credit_account) VALUES"));
        assert!(transaction_insert(true).ends_with("?7, ?8, ?9)"));
        assert!(!transaction_insert(false).contains("account"));
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE transactions (transaction_reference TEXT, debit_account TEXT, credit_account TEXT)")
            .unwrap();
        assert!(has_account_columns(&db).unwrap());
    }

    #[test]
    fn row_text_is_json() {
        let mut row = RowText::default();
        row.fill(0);
        let body: serde_json::Value = serde_json::from_str(&row.body).unwrap();
        assert_eq!(body["transactionStatus"], "completed");
        assert_eq!(
            body["transactionReference"],
            ids(0).transaction_reference.as_str()
        );
        assert_eq!(body["creationDate"], "2023-11-14T22:13:20.000Z");
        let refs: serde_json::Value = serde_json::from_str(&row.provider_refs).unwrap();
        assert_eq!(refs["reference"], row.checkout_id.as_str());
        assert_eq!(receipt(0), "T000000000");
        assert_ne!(receipt(1), receipt(36));
    }
}
