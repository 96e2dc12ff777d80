//! Durable simulator state: an append-only file of JSON lines.
//!
//! Each accepted request is written (and flushed to the OS, no fsync) before its
//! acknowledgement is sent, so a restarted simulator answers queries for it, still sends the
//! callbacks it owes and restores every balance, even after the whole process was SIGKILLed.
//! Balances are not written as such: they are replayed from the transactions that moved money
//! (`stk_created` with `moved`, `result_created` and `c2b_settled` with a completed `txn`).
//! Events only ever gain optional fields, so older journals stay readable.

use std::{
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

use super::{ledger::TxnRecord, ratiba::Order, SimulatorError};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum JournalEvent {
    /// An STK Push was accepted.
    StkCreated(StkRecord),
    /// The callback for `id` (a `CheckoutRequestID`, a `ConversationID` or a C2B payment's
    /// `OriginatorCoversationID`) was delivered (`delivered: true`) or given up on.
    CallbackDone { id: String, delivered: bool },
    /// A B2C, B2B, Transaction Status, Account Balance or Reversal request was accepted and
    /// decided.
    ResultCreated(ResultRecord),
    /// A B2C request was refused as a repeat of one already taken (`500.002.1001`); nothing was decided.
    RepeatRefused { result_url: String },
    /// C2B URLs were registered (replacing any earlier registration of the shortcode).
    C2bRegistered(C2bRegistration),
    /// A C2B payment was simulated; it is decided after the callback delay.
    C2bCreated(C2bRecord),
    /// A C2B payment was decided.
    C2bSettled(C2bSettlement),
    /// An M-Pesa Ratiba standing order was accepted (waiting for the customer's answer).
    RatibaCreated(Order),
    /// The customer approved or declined a standing order.
    RatibaAnswered {
        party_a: u64,
        name: String,
        approved: bool,
    },
    /// A standing order has taken `paid` payments in all.
    RatibaPaid {
        party_a: u64,
        name: String,
        paid: u32,
    },
    /// The simulated clock was moved: it is now `offset_ms` ahead of real time.
    ClockMoved { offset_ms: i64 },
    /// A paybill opted in to Bill Manager (`current`: by an opt-in, which makes it the application's paybill,
    /// rather than by a change of its details).
    BillOptedIn {
        shortcode: String,
        callback_url: String,
        current: bool,
    },
    /// Invoices were sent for `shortcode`: `(externalReference, accountReference)` each.
    BillsInvoiced {
        shortcode: String,
        invoices: Vec<(String, String)>,
    },
    /// Invoices were cancelled, by external reference.
    BillsCancelled { references: Vec<String> },
}

/// An accepted initiator-API request and its (already rendered) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ResultRecord {
    pub(crate) conversation_id: String,
    pub(crate) originator_conversation_id: String,
    /// `b2c`, `b2b`, `status`, `balance` or `reversal`.
    pub(crate) api: String,
    pub(crate) result_url: String,
    /// The JSON `{"Result":{…}}` posted to `result_url`.
    pub(crate) body: String,
    pub(crate) sends_result: bool,
    pub(crate) created_at_ms: i64,
    pub(crate) resolve_at_ms: i64,
    /// The transaction it made, completed or failed (B2C, B2B, Reversal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) txn: Option<TxnRecord>,
}

/// Registered C2B URLs of one shortcode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct C2bRegistration {
    pub(crate) shortcode: String,
    /// `Completed` or `Cancelled`.
    pub(crate) response_type: String,
    pub(crate) confirmation_url: String,
    pub(crate) validation_url: String,
    /// The API version registered with (1: hashed MSISDN in callbacks, 2: masked).
    pub(crate) version: u8,
}

/// A simulated C2B payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct C2bRecord {
    /// The `OriginatorCoversationID` of the simulate acknowledgement.
    pub(crate) id: String,
    /// The `TransID` it gets.
    pub(crate) trans_id: String,
    pub(crate) shortcode: String,
    /// `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    pub(crate) command: String,
    pub(crate) amount: u64,
    pub(crate) msisdn: u64,
    pub(crate) bill_ref: String,
    pub(crate) created_at_ms: i64,
    pub(crate) resolve_at_ms: i64,
}

/// How a C2B payment ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct C2bSettlement {
    pub(crate) id: String,
    /// `completed`, `declined`, `cancelled` or the merchant's rejection code.
    pub(crate) outcome: String,
    /// The completed transaction (money moved), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) txn: Option<TxnRecord>,
    /// The confirmation owed: its URL and body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) confirmation_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) confirmation: Option<String>,
}

/// Everything needed to answer STK Query for a session and send its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StkRecord {
    pub(crate) checkout_request_id: String,
    pub(crate) merchant_request_id: String,
    pub(crate) shortcode: String,
    pub(crate) phone: u64,
    pub(crate) amount: u64,
    pub(crate) callback_url: String,
    pub(crate) result_code: i32,
    pub(crate) result_desc: String,
    pub(crate) sends_callback: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) receipt: Option<String>,
    pub(crate) created_at_ms: i64,
    pub(crate) resolve_at_ms: i64,
    /// Whether the push moved money (customer → shortcode Utility). Absent in journals written
    /// before balances existed: those sessions move nothing on replay.
    #[serde(default)]
    pub(crate) moved: bool,
    /// `CustomerBuyGoodsOnline`; absent for `CustomerPayBillOnline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) transaction_type: Option<String>,
}

/// The journal writer (a no-op when the simulator runs in memory only).
pub(crate) struct Journal {
    path: Option<PathBuf>,
    writer: Mutex<Option<BufWriter<File>>>,
}

impl Journal {
    /// A journal that records nothing.
    pub(crate) fn disabled() -> Self {
        Self {
            path: None,
            writer: Mutex::new(None),
        }
    }

    /// Opens (creating if needed) the journal at `path` and reads back its events.
    ///
    /// A damaged last line (a write cut short by a crash) is dropped and cut off the file; a
    /// damaged line anywhere else is an error. Blocking: call it off the async threads.
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<JournalEvent>), SimulatorError> {
        let io_err = |source| SimulatorError::JournalIo {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;

        let mut events = Vec::new();
        let mut reader = BufReader::new(&mut file);
        let mut line = Vec::new();
        let mut offset: u64 = 0;
        let mut line_no = 0usize;
        // (line number, message, offset of the line) of the first bad line, if any.
        let mut bad: Option<(usize, String, u64)> = None;
        let mut needs_newline = false;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io_err)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if let Some((bad_line, message, _)) = &bad {
                // Something follows a damaged line: it was not the tail.
                return Err(SimulatorError::JournalCorrupt {
                    path: path.to_owned(),
                    line: *bad_line,
                    message: message.clone(),
                });
            }
            let complete = line.ends_with(b"\n");
            let text = line.trim_ascii();
            if !text.is_empty() {
                match serde_json::from_slice::<JournalEvent>(text) {
                    Ok(event) => {
                        events.push(event);
                        needs_newline = !complete;
                    }
                    Err(e) => bad = Some((line_no, e.to_string(), offset)),
                }
            }
            offset += n as u64;
        }
        drop(reader);

        if let Some((line, message, at)) = bad {
            tracing::warn!(
                path = %path.display(),
                line,
                error = %message,
                "dropping a damaged last line of the Daraja simulator journal"
            );
            file.set_len(at).map_err(io_err)?;
            file.seek(SeekFrom::End(0)).map_err(io_err)?;
        } else if needs_newline {
            file.write_all(b"\n").map_err(io_err)?;
        }

        Ok((
            Self {
                path: Some(path.to_owned()),
                writer: Mutex::new(Some(BufWriter::new(file))),
            },
            events,
        ))
    }

    /// Appends one event and flushes it to the OS. Failures are logged, not returned: the
    /// simulator keeps serving from memory.
    pub(crate) fn append(&self, event: &JournalEvent) {
        if self.path.is_none() {
            return;
        }
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a Daraja simulator journal event");
                return;
            }
        };
        line.push(b'\n');
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = writer.as_mut() {
            if let Err(e) = w.write_all(&line).and_then(|()| w.flush()) {
                tracing::error!(
                    path = ?self.path,
                    error = %e,
                    "cannot append to the Daraja simulator journal"
                );
            }
        }
    }

    /// Stops recording (after a shutdown).
    pub(crate) fn close(&self) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut w) = writer.take() {
            let _ = w.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        std::env::temp_dir().join(format!(
            "mmapi-daraja-journal-{name}-{}-{nanos}.jsonl",
            std::process::id()
        ))
    }

    fn done(id: &str) -> JournalEvent {
        JournalEvent::CallbackDone {
            id: id.to_owned(),
            delivered: true,
        }
    }

    #[test]
    fn round_trip_and_truncated_tail() {
        let path = temp_path("tail");
        {
            let (j, events) = Journal::open(&path).expect("opens");
            assert!(events.is_empty());
            j.append(&done("a"));
            j.append(&done("b"));
        }
        // Simulate a write cut short by a crash.
        let mut f = OpenOptions::new().append(true).open(&path).expect("reopen");
        f.write_all(br#"{"event":"callback_done","id":"c","deliv"#)
            .expect("write");
        drop(f);

        {
            let (j, events) = Journal::open(&path).expect("tolerates a truncated tail");
            assert_eq!(events, vec![done("a"), done("b")]);
            j.append(&done("d"));
        }
        let (_, events) = Journal::open(&path).expect("opens again");
        assert_eq!(events, vec![done("a"), done("b"), done("d")]);

        let text = std::fs::read_to_string(&path).expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.lines().count(), 3);
    }

    #[test]
    fn complete_last_line_without_newline_is_kept() {
        let path = temp_path("nonl");
        std::fs::write(
            &path,
            br#"{"event":"callback_done","id":"a","delivered":true}"#,
        )
        .expect("write");
        {
            let (j, events) = Journal::open(&path).expect("opens");
            assert_eq!(events, vec![done("a")]);
            j.append(&done("b"));
        }
        let (_, events) = Journal::open(&path).expect("opens");
        let _ = std::fs::remove_file(&path);
        assert_eq!(events, vec![done("a"), done("b")]);
    }

    #[test]
    fn old_stk_lines_are_readable() {
        let line = r#"{"event":"stk_created","checkout_request_id":"ws_CO_1","merchant_request_id":"1-2-1","shortcode":"174379","phone":254708374149,"amount":1,"callback_url":"http://x/","result_code":0,"result_desc":"ok","sends_callback":true,"receipt":"NLJ7RT61SV","created_at_ms":1,"resolve_at_ms":2}"#;
        match serde_json::from_str::<JournalEvent>(line) {
            Ok(JournalEvent::StkCreated(r)) => assert!(!r.moved),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn damage_in_the_middle_is_an_error() {
        let path = temp_path("middle");
        std::fs::write(
            &path,
            "garbage\n{\"event\":\"callback_done\",\"id\":\"a\",\"delivered\":true}\n",
        )
        .expect("write");
        let result = Journal::open(&path);
        let _ = std::fs::remove_file(&path);
        assert!(matches!(
            result,
            Err(SimulatorError::JournalCorrupt { line: 1, .. })
        ));
    }
}
