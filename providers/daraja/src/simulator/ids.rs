//! Identifier and clock helpers in Daraja's formats.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng;

/// East Africa Time (UTC+3), the zone of Daraja's timestamps.
pub(crate) fn eat() -> FixedOffset {
    FixedOffset::east_opt(3 * 3600).expect("UTC+3 is a valid offset")
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `ms` (Unix epoch milliseconds) in EAT, formatted with `fmt`.
pub(crate) fn format_eat(ms: i64, fmt: &str) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&eat())
        .format(fmt)
        .to_string()
}

/// An error-envelope `requestId` such as `29115-34620561-1`.
pub(crate) fn request_id() -> String {
    let mut rng = rand::rng();
    format!(
        "{}-{}-1",
        rng.random_range(10_000..100_000u32),
        rng.random_range(10_000_000..100_000_000u32)
    )
}

/// A `CheckoutRequestID` such as `ws_CO_191220191020363925123456`:
/// `ws_CO_` + DDMMYYYYHHmmss (EAT) + 10 random digits. Callers check uniqueness.
pub(crate) fn checkout_request_id(now_ms: i64) -> String {
    let digits = rand::rng().random_range(0..10_000_000_000u64);
    format!("ws_CO_{}{digits:010}", format_eat(now_ms, "%d%m%Y%H%M%S"))
}

/// Generates `MerchantRequestID`s such as `29115-34620561-1`, unique within one instance:
/// a random per-instance prefix and a sequence number.
pub(crate) struct MerchantIds {
    prefix: u32,
    seq: AtomicU64,
}

impl MerchantIds {
    pub(crate) fn new() -> Self {
        let mut rng = rand::rng();
        Self {
            prefix: rng.random_range(10_000..100_000),
            seq: AtomicU64::new(rng.random_range(10_000_000..50_000_000)),
        }
    }

    pub(crate) fn next(&self) -> String {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let n = 10_000_000 + seq % 90_000_000;
        format!("{}-{n}-{}", self.prefix, 1 + seq / 90_000_000 % 9)
    }
}

/// A random M-Pesa receipt number: 10 uppercase alphanumerics starting with a letter
/// (e.g. `NLJ7RT61SV`). Callers check uniqueness.
pub(crate) fn receipt() -> [u8; 10] {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    let mut out = [0u8; 10];
    out[0] = LETTERS[rng.random_range(0..LETTERS.len())];
    for b in &mut out[1..] {
        *b = ALNUM[rng.random_range(0..ALNUM.len())];
    }
    out
}

/// Parses a receipt read back from the journal.
pub(crate) fn parse_receipt(s: &str) -> Option<[u8; 10]> {
    let bytes: [u8; 10] = s.as_bytes().try_into().ok()?;
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        .then_some(bytes)
}

/// A receipt as text.
pub(crate) fn receipt_str(r: &[u8; 10]) -> &str {
    std::str::from_utf8(r).unwrap_or("OAK0000000")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let id = request_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].len(), 5);
        assert_eq!(parts[1].len(), 8);

        // 2019-12-19 07:20:36 UTC = 10:20:36 EAT
        let ms = 1_576_740_036_000;
        let co = checkout_request_id(ms);
        assert!(co.starts_with("ws_CO_19122019102036"), "{co}");
        assert_eq!(co.len(), "ws_CO_".len() + 14 + 10);
        assert_eq!(format_eat(ms, "%Y%m%d%H%M%S"), "20191219102036");

        let ids = MerchantIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert!(a.ends_with("-1"), "{a}");

        let r = receipt();
        assert!(r[0].is_ascii_uppercase());
        assert_eq!(parse_receipt(receipt_str(&r)), Some(r));
        assert_eq!(parse_receipt("nlj7rt61sv"), None);
    }
}
