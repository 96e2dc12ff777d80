//! The simulator's state on disk, so that a restarted simulator (or a restarted sandbox gateway) still holds its
//! wallets, balances, transactions, codes, links, mandates, quotations, bills and batches.
//!
//! Every change is made under the simulator's mutation gate (a request that may change something, a request's
//! processing with the recording of its outcome, one batch item), and the whole state is written, under that
//! gate so that it is consistent, at most [`SAVE_INTERVAL`] after a change: to a temporary file, synced, then
//! renamed over the state file. A graceful stop saves at once; a process killed outright loses at most the
//! changes of that last interval.
//!
//! At start, what the saved state left half done is settled: a request still pending (its processing had not
//! run, so it changed nothing) fails with an `internal` error, its transaction with it, and its callback is sent;
//! an approved batch goes on from its next item.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{batches, bills, consents, ledger, lock, quotations, requests, transactions, Sim};

/// How long after a change the state is written at most.
pub const SAVE_INTERVAL: Duration = Duration::from_millis(200);

/// The version of the file's layout.
const VERSION: u32 = 1;

/// Why the saved state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("MMAPI simulator state {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("MMAPI simulator state {} is not one this version can read: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
}

/// The state as written.
#[derive(Serialize)]
struct Saving<'a> {
    version: u32,
    ledger: &'a ledger::Ledger,
    requests: &'a requests::Requests,
    transactions: &'a transactions::Transactions,
    consents: &'a consents::Consents,
    quotations: &'a quotations::Quotations,
    batches: &'a batches::Batches,
    bills: &'a bills::Bills,
}

/// The state as read back.
#[derive(Deserialize)]
pub(crate) struct Saved {
    version: u32,
    pub ledger: ledger::Ledger,
    pub requests: requests::Requests,
    pub transactions: transactions::Transactions,
    pub consents: consents::Consents,
    pub quotations: quotations::Quotations,
    pub batches: batches::Batches,
    pub bills: bills::Bills,
}

/// Reads the state saved at `path`; `None` when there is none yet.
pub(crate) fn load(path: &Path) -> Result<Option<Saved>, StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| StateError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if saved.version != VERSION {
        return Err(StateError::Unreadable {
            path: path.to_owned(),
            message: format!("layout version {}, expected {VERSION}", saved.version),
        });
    }
    Ok(Some(saved))
}

/// Writes the whole state to `path`, consistent: taken under the mutation gate.
pub(crate) async fn save(sim: &Sim, path: &Path) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = {
        let _mutating = sim.gate.lock().await;
        sim.dirty.store(false, Ordering::SeqCst);
        let (ledger, requests, transactions) = (
            lock(&sim.ledger),
            lock(&sim.requests),
            lock(&sim.transactions),
        );
        let (consents, quotations, batches, bills) = (
            lock(&sim.consents),
            lock(&sim.quotations),
            lock(&sim.batches),
            lock(&sim.bills),
        );
        serde_json::to_vec(&Saving {
            version: VERSION,
            ledger: &ledger,
            requests: &requests,
            transactions: &transactions,
            consents: &consents,
            quotations: &quotations,
            batches: &batches,
            bills: &bills,
        })
        .map_err(|e| io(std::io::Error::other(e)))?
    };
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || write_atomically(&path, &bytes))
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// Saves the state whenever it changed, every [`SAVE_INTERVAL`], for as long as the simulator exists.
pub(crate) fn spawn_saver(sim: &Arc<Sim>, path: PathBuf) {
    let weak: Weak<Sim> = Arc::downgrade(sim);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SAVE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(sim) = weak.upgrade() else {
                return;
            };
            if !sim.dirty.load(Ordering::SeqCst) {
                continue;
            }
            if let Err(e) = save(&sim, &path).await {
                sim.dirty.store(true, Ordering::SeqCst);
                tracing::warn!(error = %e, "MMAPI simulator state not saved; trying again");
            }
        }
    });
}
