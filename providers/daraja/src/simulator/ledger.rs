//! Simulated M-Pesa accounts and the transactions that moved money between them.
//!
//! Every organisation shortcode has a Utility account (customer payments land there; B2C pays
//! out of it) and a Working (MMF) account (B2B pays out of it); customers have one M-Pesa
//! balance each, opened on first use. Amounts are whole cents. A completed transaction may carry a
//! charge (B2C, by Safaricom's tariff: [`crate::tariff`]), taken from the paying organisation's Charges
//! Paid account, which goes below zero as M-Pesa's does; the Float and Organization Settlement accounts
//! stay at zero.
//!
//! Money moves only through a [`TxnRecord`]: a completed one debits `debit` and credits
//! `credit`. The journal keeps each record, so replaying it restores every balance.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    sync::{Mutex, MutexGuard},
};

use serde::{Deserialize, Serialize};

use super::ids;

/// Amounts in cents of a shilling.
pub(crate) type Cents = i64;

/// Whole shillings to cents.
pub(crate) fn cents(kes: u64) -> Cents {
    i64::try_from(kes).unwrap_or(i64::MAX / 200) * 100
}

/// `123456` cents as `1234.56` (Daraja's two-decimal amounts).
pub(crate) fn kes(cents: Cents) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// One of an organisation's accounts that can hold money here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OrgAccount {
    Utility,
    Working,
    /// Where M-Pesa takes the organisation's transaction charges from (negative once charged).
    ChargesPaid,
}

impl OrgAccount {
    /// The name in balance strings (`Utility Account|KES|…`).
    pub(crate) fn display_name(self) -> &'static str {
        match self {
            OrgAccount::Utility => "Utility Account",
            OrgAccount::Working => "Working Account",
            OrgAccount::ChargesPaid => "Charges Paid Account",
        }
    }
}

/// Who a transaction debits or credits. Serialised as `254708374149` (a customer) or
/// `174379:utility` / `174379:working` / `174379:charges` (an organisation's account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Party {
    Customer(u64),
    Org(Box<str>, OrgAccount),
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Party::Customer(msisdn) => write!(f, "{msisdn}"),
            Party::Org(sc, OrgAccount::Utility) => write!(f, "{sc}:utility"),
            Party::Org(sc, OrgAccount::Working) => write!(f, "{sc}:working"),
            Party::Org(sc, OrgAccount::ChargesPaid) => write!(f, "{sc}:charges"),
        }
    }
}

impl std::str::FromStr for Party {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        match s.split_once(':') {
            None if is_msisdn(s) => s.parse().map(Party::Customer).map_err(|e| e.to_string()),
            Some((sc, "utility")) if digits(sc) => Ok(Party::Org(sc.into(), OrgAccount::Utility)),
            Some((sc, "working")) if digits(sc) => Ok(Party::Org(sc.into(), OrgAccount::Working)),
            Some((sc, "charges")) if digits(sc) => {
                Ok(Party::Org(sc.into(), OrgAccount::ChargesPaid))
            }
            _ => Err(format!("not an account: {s:?}")),
        }
    }
}

impl Serialize for Party {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Party {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Party {
    /// The public name Daraja shows, e.g. `254708374149 - John Doe`.
    pub(crate) fn public_name(&self) -> String {
        match self {
            Party::Customer(msisdn) => {
                format!("{msisdn} - {CUSTOMER_FIRST_NAME} {CUSTOMER_LAST_NAME}")
            }
            Party::Org(sc, _) => org_public_name(sc),
        }
    }

    /// The organisation shortcode, if this is an organisation's account.
    pub(crate) fn org(&self) -> Option<&str> {
        match self {
            Party::Org(sc, _) => Some(sc),
            Party::Customer(_) => None,
        }
    }
}

/// Every simulated customer is called John Doe.
pub(crate) const CUSTOMER_FIRST_NAME: &str = "John";
pub(crate) const CUSTOMER_LAST_NAME: &str = "Doe";

/// `600000 - Sandbox Org 600000`
pub(crate) fn org_public_name(shortcode: &str) -> String {
    format!("{shortcode} - Sandbox Org {shortcode}")
}

/// `^254[17]\d{8}$`
pub(crate) fn is_msisdn(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && s.starts_with("254")
        && matches!(b[3], b'1' | b'7')
        && b.iter().all(u8::is_ascii_digit)
}

/// A transaction, completed (money moved) or failed (kept for Transaction Status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TxnRecord {
    /// The `CommandID` (`BusinessPayment`, `CustomerPayBillOnline`, `TransactionReversal`, …).
    pub(crate) command: String,
    /// The `TransactionID` reported (the M-Pesa receipt when completed).
    pub(crate) receipt: String,
    pub(crate) completed: bool,
    /// The `ResultCode` it ended with, as text.
    pub(crate) result_code: String,
    pub(crate) debit: Party,
    pub(crate) credit: Party,
    pub(crate) amount_cents: Cents,
    /// The charge M-Pesa took for it from the paying organisation's Charges Paid account.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) charge_cents: Cents,
    /// The organisation that initiated (or received) it: Transaction Status and Reversal are
    /// only answered for this shortcode.
    pub(crate) org: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) originator_conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) conversation_id: Option<String>,
    pub(crate) initiated_ms: i64,
    pub(crate) finalised_ms: i64,
    /// For a reversal: the receipt it reversed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reverses: Option<String>,
}

fn is_zero(cents: &Cents) -> bool {
    *cents == 0
}

/// A transaction as held in memory.
pub(crate) struct Txn {
    pub(crate) record: TxnRecord,
    pub(crate) reversed: bool,
}

/// Opening balances, in cents, and whether customers must have the funds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Openings {
    pub(crate) customer: Cents,
    pub(crate) utility: Cents,
    pub(crate) working: Cents,
    /// When `false`, customers always "have" the funds (their balance may go below zero).
    pub(crate) enforce_customer_funds: bool,
}

struct OrgBalances {
    utility: Cents,
    working: Cents,
    charges: Cents,
}

/// All accounts and transactions.
pub(crate) struct Ledger {
    inner: Mutex<Accounts>,
}

/// The ledger's contents; held locked while a decision is made and applied.
pub(crate) struct Accounts {
    openings: Openings,
    customers: HashMap<u64, Cents>,
    orgs: HashMap<Box<str>, OrgBalances>,
    txns: Vec<Txn>,
    by_receipt: HashMap<Box<str>, usize>,
    /// `OriginatorConversationID`s and `ConversationID`s of transactions.
    by_conversation: HashMap<Box<str>, usize>,
    /// Every receipt-like identifier handed out, so none repeats.
    issued: HashSet<[u8; 10]>,
}

impl Ledger {
    /// A ledger with `orgs` (shortcodes) opened at `openings`.
    pub(crate) fn new<'a>(orgs: impl IntoIterator<Item = &'a str>, openings: Openings) -> Self {
        let orgs = orgs
            .into_iter()
            .map(|sc| {
                (
                    Box::from(sc),
                    OrgBalances {
                        utility: openings.utility,
                        working: openings.working,
                        charges: 0,
                    },
                )
            })
            .collect();
        Self {
            inner: Mutex::new(Accounts {
                openings,
                customers: HashMap::new(),
                orgs,
                txns: Vec::new(),
                by_receipt: HashMap::new(),
                by_conversation: HashMap::new(),
                issued: HashSet::new(),
            }),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Accounts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Accounts {
    /// Every account that holds money here (customers seen so far, and each organisation's Utility and
    /// Working accounts) with its balance.
    pub(crate) fn balances(&self) -> Vec<(Party, Cents)> {
        let customers = self
            .customers
            .iter()
            .map(|(msisdn, b)| (Party::Customer(*msisdn), *b));
        let orgs = self.orgs.iter().flat_map(|(sc, o)| {
            [
                (Party::Org(sc.clone(), OrgAccount::Utility), o.utility),
                (Party::Org(sc.clone(), OrgAccount::Working), o.working),
            ]
        });
        customers.chain(orgs).collect()
    }

    /// The balance a customer not seen yet holds.
    pub(crate) fn customer_opening(&self) -> Cents {
        self.openings.customer
    }

    /// How many transactions were recorded, and how many of them completed (moved money).
    pub(crate) fn counts(&self) -> (usize, usize) {
        let completed = self.txns.iter().filter(|t| t.record.completed).count();
        (self.txns.len(), completed)
    }

    /// Whether `shortcode` is a simulated organisation.
    pub(crate) fn is_org(&self, shortcode: &str) -> bool {
        self.orgs.contains_key(shortcode)
    }

    /// The balance of `party`; `None` for an unknown organisation.
    pub(crate) fn balance(&self, party: &Party) -> Option<Cents> {
        match party {
            Party::Customer(msisdn) => Some(
                self.customers
                    .get(msisdn)
                    .copied()
                    .unwrap_or(self.openings.customer),
            ),
            Party::Org(sc, account) => self.orgs.get(sc.as_ref()).map(|o| match account {
                OrgAccount::Utility => o.utility,
                OrgAccount::Working => o.working,
                OrgAccount::ChargesPaid => o.charges,
            }),
        }
    }

    /// Whether `party` holds at least `amount` (always, for a customer, unless customer funds
    /// are enforced).
    pub(crate) fn can_pay(&self, party: &Party, amount: Cents) -> bool {
        if matches!(party, Party::Customer(_)) && !self.openings.enforce_customer_funds {
            return true;
        }
        self.balance(party).is_some_and(|b| b >= amount)
    }

    fn add(&mut self, party: &Party, delta: Cents) {
        match party {
            Party::Customer(msisdn) => {
                let opening = self.openings.customer;
                let b = self.customers.entry(*msisdn).or_insert(opening);
                *b = b.saturating_add(delta);
            }
            Party::Org(sc, account) => {
                let openings = self.openings;
                let o = self.orgs.entry(sc.clone()).or_insert(OrgBalances {
                    utility: openings.utility,
                    working: openings.working,
                    charges: 0,
                });
                let b = match account {
                    OrgAccount::Utility => &mut o.utility,
                    OrgAccount::Working => &mut o.working,
                    OrgAccount::ChargesPaid => &mut o.charges,
                };
                *b = b.saturating_add(delta);
            }
        }
    }

    /// A fresh receipt-like identifier (10 uppercase alphanumerics), unique in this ledger.
    pub(crate) fn new_receipt(&mut self) -> [u8; 10] {
        loop {
            let r = ids::receipt();
            if self.issued.insert(r) {
                return r;
            }
        }
    }

    /// Remembers an identifier read back from the journal so it is not handed out again.
    pub(crate) fn mark_issued(&mut self, receipt: &str) {
        if let Some(r) = ids::parse_receipt(receipt) {
            self.issued.insert(r);
        }
    }

    /// Records `txn`: moves the money if it completed, marks what it reverses, and indexes it
    /// by receipt (completed only) and by its conversation identifiers.
    pub(crate) fn apply(&mut self, record: TxnRecord) {
        if record.completed {
            self.add(&record.debit, -record.amount_cents);
            self.add(&record.credit, record.amount_cents);
            if let (Some(org), true) = (record.debit.org(), record.charge_cents != 0) {
                let charges = Party::Org(org.into(), OrgAccount::ChargesPaid);
                self.add(&charges, -record.charge_cents);
            }
            if let Some(original) = &record.reverses {
                if let Some(&i) = self.by_receipt.get(original.as_str()) {
                    self.txns[i].reversed = true;
                }
            }
        }
        self.mark_issued(&record.receipt);
        let index = self.txns.len();
        if record.completed {
            self.by_receipt
                .insert(record.receipt.as_str().into(), index);
        }
        for id in [&record.originator_conversation_id, &record.conversation_id]
            .into_iter()
            .flatten()
        {
            self.by_conversation.insert(id.as_str().into(), index);
        }
        self.txns.push(Txn {
            record,
            reversed: false,
        });
    }

    /// Whether a transaction already uses `id` as a conversation identifier.
    pub(crate) fn has_conversation(&self, id: &str) -> bool {
        self.by_conversation.contains_key(id)
    }

    /// The completed transaction with this receipt.
    pub(crate) fn by_receipt(&self, receipt: &str) -> Option<&Txn> {
        self.by_receipt.get(receipt).map(|&i| &self.txns[i])
    }

    /// The transaction with this `OriginatorConversationID` or `ConversationID`.
    pub(crate) fn by_conversation(&self, id: &str) -> Option<&Txn> {
        self.by_conversation.get(id).map(|&i| &self.txns[i])
    }

    /// `Name|KES|current|available|reserved|uncleared` for an organisation account.
    pub(crate) fn account_line(&self, shortcode: &str, account: OrgAccount) -> String {
        let balance = self
            .balance(&Party::Org(shortcode.into(), account))
            .unwrap_or(0);
        balance_line(account.display_name(), balance)
    }
}

/// `Name|KES|current|available|reserved|uncleared`, with nothing reserved or uncleared.
pub(crate) fn balance_line(name: &str, balance: Cents) -> String {
    let b = kes(balance);
    format!("{name}|KES|{b}|{b}|0.00|0.00")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(receipt: &str, amount: Cents, completed: bool) -> TxnRecord {
        TxnRecord {
            command: "BusinessPayment".into(),
            receipt: receipt.into(),
            completed,
            result_code: if completed { "0" } else { "2001" }.into(),
            debit: Party::Org("600000".into(), OrgAccount::Utility),
            credit: Party::Customer(254708374149),
            amount_cents: amount,
            charge_cents: 0,
            org: "600000".into(),
            originator_conversation_id: Some(format!("o-{receipt}")),
            conversation_id: None,
            initiated_ms: 0,
            finalised_ms: 0,
            reverses: None,
        }
    }

    #[test]
    fn amounts_and_parties() {
        assert_eq!(kes(0), "0.00");
        assert_eq!(kes(123_456), "1234.56");
        assert_eq!(kes(-198_000), "-1980.00");
        assert_eq!(cents(10), 1000);
        for text in ["254708374149", "174379:utility", "600000:working"] {
            let p: Party = text.parse().expect("parses");
            assert_eq!(p.to_string(), text);
        }
        assert!("174379".parse::<Party>().is_err());
        assert!("174379:float".parse::<Party>().is_err());
        assert_eq!(
            Party::Customer(254708374149).public_name(),
            "254708374149 - John Doe"
        );
    }

    #[test]
    fn apply_moves_money_and_indexes() {
        let openings = Openings {
            customer: 100,
            utility: 1000,
            working: 0,
            enforce_customer_funds: true,
        };
        let ledger = Ledger::new(["600000"], openings);
        let mut a = ledger.lock();
        a.apply(txn("AAAAAAAAA1", 300, true));
        a.apply(txn("AAAAAAAAA2", 300, false));
        let org = Party::Org("600000".into(), OrgAccount::Utility);
        assert_eq!(a.balance(&org), Some(700));
        assert_eq!(a.balance(&Party::Customer(254708374149)), Some(400));
        assert_eq!(a.balance(&Party::Customer(254711111111)), Some(100));
        assert!(!a.can_pay(&Party::Customer(254711111111), 101));
        assert!(a.by_receipt("AAAAAAAAA1").is_some());
        assert!(a.by_receipt("AAAAAAAAA2").is_none());
        assert!(a.has_conversation("o-AAAAAAAAA2"));
        assert_eq!(
            a.account_line("600000", OrgAccount::Utility),
            "Utility Account|KES|7.00|7.00|0.00|0.00"
        );
        let mut reversal = txn("AAAAAAAAA3", 300, true);
        reversal.debit = Party::Customer(254708374149);
        reversal.credit = org.clone();
        reversal.reverses = Some("AAAAAAAAA1".into());
        a.apply(reversal);
        assert_eq!(a.balance(&org), Some(1000));
        assert!(a.by_receipt("AAAAAAAAA1").is_some_and(|t| t.reversed));
        // What `GET /__simulator/ledger` shows: every account seen, and the transactions recorded and completed.
        let mut balances: Vec<(String, Cents)> = a
            .balances()
            .into_iter()
            .map(|(party, cents)| (party.to_string(), cents))
            .collect();
        balances.sort();
        assert_eq!(
            balances,
            [
                ("254708374149".to_owned(), 100),
                ("600000:utility".to_owned(), 1000),
                ("600000:working".to_owned(), 0),
            ]
        );
        assert_eq!(a.customer_opening(), 100);
        assert_eq!(a.counts(), (3, 2));
    }
}
