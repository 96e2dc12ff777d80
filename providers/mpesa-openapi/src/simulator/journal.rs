//! The simulator's durable record: one JSON object a line, appended and flushed to the OS (no fsync) before the
//! API call it records is answered, so that a simulator started again on the same file (after a SIGKILL of the
//! whole process, too) knows every transaction it processed, answers status queries for them, and rebuilds its
//! balances and submission counts.
//!
//! Balances are not written: replay applies the recorded outcome of each transaction, so it never decides
//! anything again. A last line cut short by a kill is ignored (and cut off the file); a damaged line followed by
//! others is an error.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be created, read or repaired.
    #[error("M-Pesa OpenAPI simulator journal {}: {source}", path.display())]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// A line other than the last one is not a journal event.
    #[error("M-Pesa OpenAPI simulator journal {} is damaged at line {line}: {message}", path.display())]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// The damaged line (1-based).
        line: usize,
        /// Why it could not be read.
        message: String,
    },
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// A money-moving request was accepted, as it stood when answered (settled in a synchronous market,
    /// pending in an asynchronous one). It counts one submission of its ThirdPartyConversationID.
    Transaction(Box<TxnRecord>),
    /// A pending transaction (asynchronous market) was settled.
    Settled(Settlement),
    /// A submission refused as a duplicate (INS-10): it counts, nothing else changes.
    Repeat {
        /// The repeated `input_ThirdPartyConversationID`.
        third_party_conversation_id: String,
    },
    /// A direct debit mandate was created (its creation's ThirdPartyConversationID is used from then on).
    Mandate(Box<MandateRecord>),
    /// A mandate was cancelled (`directDebitCancel/`).
    MandateCancelled {
        /// The mandate's `output_MandateID`.
        mandate_id: String,
        /// The cancellation's `input_ThirdPartyConversationID` (used from then on).
        third_party_conversation_id: String,
    },
}

/// A direct debit mandate as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MandateRecord {
    /// The market's URL context (`vodacomTZN`).
    pub(crate) market: String,
    pub(crate) service_provider: String,
    pub(crate) msisdn: String,
    pub(crate) token: String,
    pub(crate) third_party_reference: String,
    pub(crate) mandate_id: String,
    pub(crate) frequency: String,
    pub(crate) first_payment_date: String,
    pub(crate) start_range: String,
    pub(crate) end_range: String,
    pub(crate) expiry_date: String,
    pub(crate) transaction_reference: String,
    /// The creation's `input_ThirdPartyConversationID`.
    pub(crate) third_party_conversation_id: String,
}

/// A transaction as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TxnRecord {
    /// `c2b`, `b2c`, `b2b` or `reversal`.
    pub(crate) kind: String,
    /// For a reversal: the TransactionID of the transaction it reverses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reverses: Option<String>,
    /// The market's URL context (`vodacomTZN`).
    pub(crate) market: String,
    pub(crate) service_provider: String,
    /// The amount as a decimal string.
    pub(crate) amount: String,
    pub(crate) debit: String,
    pub(crate) credit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_id: Option<String>,
    pub(crate) conversation_id: String,
    pub(crate) third_party_conversation_id: String,
    /// `pending`, `completed` or the INS code it failed with.
    pub(crate) state: String,
    /// The MSISDN token of a direct debit payment (its asynchronous result carries it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) msisdn_token: Option<String>,
}

/// How a pending transaction ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settlement {
    pub(crate) third_party_conversation_id: String,
    /// `completed` or the INS code it failed with.
    pub(crate) state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_id: Option<String>,
}

/// The journal writer; [`Journal::disabled`] records nothing (a simulator in memory only).
pub(crate) struct Journal {
    path: Option<PathBuf>,
    file: Mutex<Option<File>>,
}

impl Journal {
    /// A journal that records nothing.
    pub(crate) fn disabled() -> Self {
        Self {
            path: None,
            file: Mutex::new(None),
        }
    }

    /// Opens the journal at `path` (creating it and its directory if needed) and reads its events back. Blocking.
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<Event>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let (events, keep, torn) = read_events(&mut BufReader::new(&file), path)?;
        if let Some((line, message)) = torn {
            tracing::warn!(
                path = %path.display(),
                line,
                error = %message,
                "OpenAPI simulator: ignoring the torn last line of its journal"
            );
            file.set_len(keep).map_err(io)?;
        } else if keep > 0 && !ends_with_newline(path, keep).map_err(io)? {
            file.write_all(b"\n").map_err(io)?;
        }
        Ok((
            Self {
                path: Some(path.to_owned()),
                file: Mutex::new(Some(file)),
            },
            events,
        ))
    }

    /// Appends `event` as one line, written to the OS before returning. A failure is logged: the simulator goes
    /// on from memory.
    pub(crate) fn append(&self, event: &Event) {
        if self.path.is_none() {
            return;
        }
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "OpenAPI simulator: cannot serialise a journal event");
                return;
            }
        };
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            // One write of the whole line: the file is opened for appending and not buffered.
            if let Err(e) = f.write_all(&line).and_then(|()| f.flush()) {
                tracing::error!(path = ?self.path, error = %e, "OpenAPI simulator: cannot append to its journal");
            }
        }
    }
}

/// The bad line: its number and why it could not be read.
type Torn = Option<(usize, String)>;

/// Reads every event; returns them, the length of the file to keep, and the torn last line if there is one.
fn read_events(
    reader: &mut impl BufRead,
    path: &Path,
) -> Result<(Vec<Event>, u64, Torn), JournalError> {
    let mut events = Vec::new();
    let mut line = Vec::new();
    let (mut offset, mut number) = (0u64, 0usize);
    let mut bad: Option<(usize, String, u64)> = None;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| JournalError::Io {
                path: path.to_owned(),
                source,
            })?;
        if n == 0 {
            break;
        }
        number += 1;
        if let Some((line, message, _)) = bad {
            return Err(JournalError::Corrupt {
                path: path.to_owned(),
                line,
                message,
            });
        }
        let text = line.trim_ascii();
        if !text.is_empty() {
            match serde_json::from_slice::<Event>(text) {
                Ok(event) => events.push(event),
                Err(e) => bad = Some((number, e.to_string(), offset)),
            }
        }
        offset += n as u64;
    }
    Ok(match bad {
        Some((line, message, at)) => (events, at, Some((line, message))),
        None => (events, offset, None),
    })
}

/// Whether the byte before `len` is a line break.
fn ends_with_newline(path: &Path, len: u64) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeat(id: &str) -> Event {
        Event::Repeat {
            third_party_conversation_id: id.to_owned(),
        }
    }

    fn temp(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("sandbox").join("openapi.journal")
    }

    #[test]
    fn events_are_read_back_and_a_torn_last_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = temp(&dir);
        {
            let (journal, events) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(events.is_empty());
            journal.append(&repeat("a"));
            journal.append(&repeat("b"));
        }
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{e}"));
        file.write_all(br#"{"event":"repeat","third_party_con"#)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(file);
        {
            let (journal, events) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(events, vec![repeat("a"), repeat("b")]);
            journal.append(&repeat("c"));
        }
        let (_, events) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events, vec![repeat("a"), repeat("b"), repeat("c")]);
    }

    #[test]
    fn a_complete_last_line_without_its_line_break_is_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("j");
        std::fs::write(
            &path,
            r#"{"event":"repeat","third_party_conversation_id":"a"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        {
            let (journal, events) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(events, vec![repeat("a")]);
            journal.append(&repeat("b"));
        }
        let (_, events) = Journal::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(events, vec![repeat("a"), repeat("b")]);
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("j");
        std::fs::write(
            &path,
            "not json\n{\"event\":\"repeat\",\"third_party_conversation_id\":\"a\"}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            Journal::open(&path),
            Err(JournalError::Corrupt { line: 1, .. })
        ));
    }
}
