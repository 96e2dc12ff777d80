//! Wallets and accounts: identifiers of every GSMA type, a currency, a balance that moves with each
//! transaction, an account status, KYC, and the limits that produce the GSMA limit errors.

use std::collections::HashMap;

use mmapi_core::model::{Kyc, Party, SubjectName};
use mmapi_core::{Currency, ErrorCategory, ErrorCode, GsmaError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Limits of an account, applied to what it pays.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Limits {
    pub min_per_transaction: Decimal,
    pub max_per_transaction: Decimal,
    /// Value paid per (UTC) day.
    pub daily_value: Decimal,
    /// Payments per (UTC) day.
    pub daily_volume: u32,
    /// The most the account may hold.
    pub max_balance: Decimal,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            min_per_transaction: Decimal::ONE,
            max_per_transaction: Decimal::from(1_000_000),
            daily_value: Decimal::from(5_000_000),
            daily_volume: 500,
            max_balance: Decimal::from(100_000_000),
        }
    }
}

/// `accountStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AccountStatus {
    Available,
    Unavailable,
}

/// One account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Account {
    /// The `accountid`.
    pub id: String,
    /// Its identifiers (`walletid`, `msisdn`, …), `accountid` included.
    pub identifiers: Vec<Party>,
    pub currency: Currency,
    pub balance: Decimal,
    pub status: AccountStatus,
    /// `subStatus`, if any.
    pub sub_status: Option<String>,
    pub name: SubjectName,
    /// The account holder's identity, by `identityId`.
    pub identities: Vec<(String, Kyc)>,
    pub limits: Limits,
    /// Whether its holder declines every payment asked of them.
    pub declines: bool,
    /// Day (days since the epoch) → (value paid, payments made).
    pub spent: HashMap<i64, (Decimal, u32)>,
}

impl Account {
    fn matches(&self, key: &str, value: &str) -> bool {
        self.identifiers.iter().any(|p| {
            p.key.eq_ignore_ascii_case(key) && normalise(key, &p.value) == normalise(key, value)
        })
    }
}

/// MSISDNs compare without `+`, spaces and dashes.
fn normalise(key: &str, value: &str) -> String {
    if key.eq_ignore_ascii_case("msisdn") {
        value.chars().filter(char::is_ascii_digit).collect()
    } else {
        value.to_owned()
    }
}

fn party(key: &str, value: &str) -> Party {
    Party {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

fn name(first: &str, last: &str) -> SubjectName {
    SubjectName {
        title: None,
        first_name: Some(first.to_owned()),
        middle_name: None,
        last_name: Some(last.to_owned()),
        full_name: Some(format!("{first} {last}")),
        native_name: None,
    }
}

/// One row of the seeded test data: `accountid`, `walletid`, MSISDN, currency, opening balance, holder.
pub(crate) struct Seed {
    pub account_id: &'static str,
    pub wallet_id: &'static str,
    pub msisdn: &'static str,
    pub currency: &'static str,
    pub balance: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub status: AccountStatus,
    /// A `businessshortcode` (a biller's or merchant's paybill), if it has one.
    pub shortcode: Option<&'static str>,
    /// Whether its holder declines every payment asked of them (`authorisation/requestDeclined`).
    pub declines: bool,
    /// Daily limits below the default: at most this value and this many payments a (UTC) day.
    pub daily_limits: Option<(u32, u32)>,
}

/// The paybill of the simulator's bill company (the sandbox's "Sandbox Utilities (MMAPI simulator)").
pub const UTILITY_SHORTCODE: &str = "888888";

/// Identifier types that name something at the payee, not an account: left out when accounts are matched.
const REFERENCES: [&str; 1] = ["consumerno"];

/// The accounts every simulator starts with (the README's test data table).
pub(crate) const SEEDS: [Seed; 12] = [
    seed(
        "2000",
        "1",
        "+447700900001",
        "USD",
        "100000",
        "Alice",
        "Adams",
    ),
    seed("2001", "2", "+447700900002", "USD", "50000", "Bob", "Brown"),
    seed(
        "2002",
        "3",
        "+250788000003",
        "RWF",
        "10000000",
        "Claire",
        "Uwase",
    ),
    seed(
        "2003",
        "4",
        "+250788000004",
        "RWF",
        "5000000",
        "Didier",
        "Habimana",
    ),
    seed(
        "2004",
        "5",
        "+447700900005",
        "GBP",
        "80000",
        "Emma",
        "Evans",
    ),
    seed(
        "2005",
        "6",
        "+447700900006",
        "GBP",
        "20000",
        "Frank",
        "Fisher",
    ),
    // A merchant in each currency? One: a USD shop.
    seed(
        "2999",
        "1000",
        "+447700900999",
        "USD",
        "0",
        "Corner",
        "Shop",
    ),
    // Little money: payments fail with insufficientFunds.
    seed("2006", "7", "+447700900007", "USD", "5", "Grace", "Green"),
    Seed {
        status: AccountStatus::Unavailable,
        ..seed("2007", "8", "+447700900008", "USD", "1000", "Henry", "Hill")
    },
    // Declines whatever it is asked to approve.
    Seed {
        declines: true,
        ..seed("2008", "9", "+447700900009", "USD", "1000", "Ivan", "Irwin")
    },
    // Low daily limits: 100 a day in at most 3 payments (dailyValueLimitExceeded, dailyVolumeLimitExceeded).
    Seed {
        daily_limits: Some((100, 3)),
        ..seed(
            "2009",
            "10",
            "+447700900010",
            "USD",
            "10000",
            "Jane",
            "Jones",
        )
    },
    // A biller: bills are paid into its paybill.
    Seed {
        shortcode: Some(UTILITY_SHORTCODE),
        ..seed(
            "2998",
            "999",
            "+447700900998",
            "USD",
            "0",
            "Sandbox",
            "Utilities",
        )
    },
];

const fn seed(
    account_id: &'static str,
    wallet_id: &'static str,
    msisdn: &'static str,
    currency: &'static str,
    balance: &'static str,
    first_name: &'static str,
    last_name: &'static str,
) -> Seed {
    Seed {
        account_id,
        wallet_id,
        msisdn,
        currency,
        balance,
        first_name,
        last_name,
        status: AccountStatus::Available,
        shortcode: None,
        declines: false,
        daily_limits: None,
    }
}

/// Every account.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Ledger {
    accounts: Vec<Account>,
    next_id: u64,
}

/// What a payment would break, as a GSMA error.
fn limit_error(code: ErrorCode, description: &str) -> GsmaError {
    GsmaError::new(ErrorCategory::BusinessRule, code, description)
}

impl Ledger {
    /// A ledger with the seeded accounts.
    pub(crate) fn seeded() -> Self {
        let mut ledger = Self {
            accounts: Vec::new(),
            next_id: 3000,
        };
        for s in &SEEDS {
            let (Ok(currency), Ok(balance)) = (Currency::parse(s.currency), s.balance.parse())
            else {
                continue;
            };
            let mut identifiers = vec![
                party("accountid", s.account_id),
                party("walletid", s.wallet_id),
                party("msisdn", s.msisdn),
            ];
            identifiers.extend(s.shortcode.map(|code| party("businessshortcode", code)));
            ledger.accounts.push(Account {
                id: s.account_id.to_owned(),
                identifiers,
                currency,
                balance,
                status: s.status,
                sub_status: None,
                name: name(s.first_name, s.last_name),
                identities: vec![(
                    "1".to_owned(),
                    Kyc {
                        subject_name: Some(name(s.first_name, s.last_name)),
                        ..Kyc::default()
                    },
                )],
                limits: match s.daily_limits {
                    Some((value, volume)) => Limits {
                        daily_value: Decimal::from(value),
                        daily_volume: volume,
                        ..Limits::default()
                    },
                    None => Limits::default(),
                },
                declines: s.declines,
                spent: HashMap::new(),
            });
        }
        ledger
    }

    /// The account one identifier names.
    pub(crate) fn find(&self, key: &str, value: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.matches(key, value))
    }

    /// The account that all of `parties` name (those the ledger knows: `linkref` and `mandatereference` are
    /// resolved by the caller first).
    pub(crate) fn find_all(&self, parties: &[Party]) -> Option<&Account> {
        let is_account = |p: &&Party| !REFERENCES.iter().any(|r| p.key.eq_ignore_ascii_case(r));
        let first = parties.iter().find(is_account)?;
        let account = self.find(&first.key, &first.value)?;
        parties
            .iter()
            .filter(is_account)
            .all(|p| account.matches(&p.key, &p.value))
            .then_some(account)
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut Account> {
        self.accounts.iter_mut().find(|a| a.id == id)
    }

    /// Opens an account; answers its `accountid`.
    pub(crate) fn open(&mut self, mut account: Account) -> String {
        self.next_id += 1;
        account.id = self.next_id.to_string();
        account
            .identifiers
            .retain(|p| !p.key.eq_ignore_ascii_case("accountid"));
        account
            .identifiers
            .insert(0, party("accountid", &account.id));
        let id = account.id.clone();
        self.accounts.push(account);
        id
    }

    /// Whether an identifier is taken by another account.
    pub(crate) fn taken(&self, parties: &[Party]) -> bool {
        parties
            .iter()
            .any(|p| self.find(&p.key, &p.value).is_some())
    }

    /// Checks that `amount` can move from `payer` to `payee` on `day` (days since the epoch): both available,
    /// the payer's limits and funds, the payee's maximum balance.
    pub(crate) fn check(
        &self,
        payer: &str,
        payee: &str,
        amount: Decimal,
        day: i64,
    ) -> Result<(), GsmaError> {
        let (Some(from), Some(to)) = (self.get(payer), self.get(payee)) else {
            return Err(GsmaError::not_found("No such account"));
        };
        if from.id == to.id {
            return Err(limit_error(
                ErrorCode::SamePartiesError,
                "The debit and credit parties are the same account",
            ));
        }
        for account in [from, to] {
            if account.status != AccountStatus::Available {
                return Err(limit_error(
                    ErrorCode::IncorrectState,
                    "An account of the transaction is not available",
                ));
            }
        }
        let limits = &from.limits;
        if amount < limits.min_per_transaction {
            return Err(limit_error(
                ErrorCode::LessThanTransactionMinValue,
                "The amount is below the payer's minimum per transaction",
            ));
        }
        if amount > limits.max_per_transaction {
            return Err(limit_error(
                ErrorCode::GreaterThanTransactionMaxValue,
                "The amount is above the payer's maximum per transaction",
            ));
        }
        let (value, volume) = from.spent.get(&day).copied().unwrap_or_default();
        if volume + 1 > limits.daily_volume {
            return Err(limit_error(
                ErrorCode::DailyVolumeLimitExceeded,
                "The payer has made as many payments today as allowed",
            ));
        }
        if value + amount > limits.daily_value {
            return Err(limit_error(
                ErrorCode::DailyValueLimitExceeded,
                "The payment would exceed the payer's daily value limit",
            ));
        }
        if from.balance < amount {
            return Err(limit_error(
                ErrorCode::InsufficientFunds,
                "The payer has not enough funds",
            ));
        }
        if to.balance + amount > to.limits.max_balance {
            return Err(limit_error(
                ErrorCode::MaxBalanceExceeded,
                "The payment would take the payee above its maximum balance",
            ));
        }
        Ok(())
    }

    /// Moves money after [`Ledger::check`]: `debit` leaves the payer, `credit` (in the payee's currency) reaches
    /// the payee.
    pub(crate) fn transfer(
        &mut self,
        payer: &str,
        payee: &str,
        debit: Decimal,
        credit: Decimal,
        day: i64,
    ) {
        if let Some(from) = self.get_mut(payer) {
            from.balance -= debit;
            let spent = from.spent.entry(day).or_default();
            spent.0 += debit;
            spent.1 += 1;
        }
        if let Some(to) = self.get_mut(payee) {
            to.balance += credit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_find_accounts_and_limits_refuse_payments() {
        let mut ledger = Ledger::seeded();
        let alice = ledger.find("walletid", "1").expect("walletid 1").id.clone();
        assert_eq!(
            ledger.find("msisdn", "447700900001").map(|a| a.id.as_str()),
            Some("2000")
        );
        assert_eq!(
            ledger.find("accountid", "2000").map(|a| a.id.as_str()),
            Some("2000")
        );
        assert!(ledger
            .find_all(&[party("walletid", "1"), party("msisdn", "+447700900001")])
            .is_some());
        assert!(ledger
            .find_all(&[party("walletid", "1"), party("msisdn", "+447700900002")])
            .is_none());
        let bill = [
            party("businessshortcode", UTILITY_SHORTCODE),
            party("consumerno", "ACC-1"),
        ];
        assert_eq!(ledger.find_all(&bill).map(|a| a.id.as_str()), Some("2998"));
        assert!(ledger.find_all(&[party("consumerno", "ACC-1")]).is_none());
        let code = |r: Result<(), GsmaError>| r.err().map(|e| e.error_code);
        assert_eq!(
            code(ledger.check(&alice, "2001", Decimal::from(10), 0)),
            None
        );
        assert_eq!(
            code(ledger.check(&alice, &alice, Decimal::from(10), 0)),
            Some(ErrorCode::SamePartiesError)
        );
        assert_eq!(
            code(ledger.check("2006", "2001", Decimal::from(10), 0)),
            Some(ErrorCode::InsufficientFunds)
        );
        assert_eq!(
            code(ledger.check(&alice, "2007", Decimal::from(10), 0)),
            Some(ErrorCode::IncorrectState)
        );
        assert_eq!(
            code(ledger.check(&alice, "2001", Decimal::new(5, 1), 0)),
            Some(ErrorCode::LessThanTransactionMinValue)
        );
        ledger.transfer(&alice, "2001", Decimal::from(10), Decimal::from(10), 0);
        assert_eq!(
            ledger.get(&alice).map(|a| a.balance),
            Some(Decimal::from(99_990))
        );
        assert_eq!(
            ledger.get("2001").map(|a| a.balance),
            Some(Decimal::from(50_010))
        );
        if let Some(a) = ledger.get_mut(&alice) {
            a.limits.daily_volume = 1;
        }
        assert_eq!(
            code(ledger.check(&alice, "2001", Decimal::from(10), 0)),
            Some(ErrorCode::DailyVolumeLimitExceeded)
        );
        assert_eq!(
            code(ledger.check(&alice, "2001", Decimal::from(10), 1)),
            None
        );
    }
}
