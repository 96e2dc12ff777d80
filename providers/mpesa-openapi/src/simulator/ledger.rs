//! Simulated accounts and the transactions that move money between them.
//!
//! Accounts are keyed by market and MSISDN or shortcode; each opens at its configured
//! balance on first use. A transaction is recorded when accepted (so a status query finds it
//! while pending) and settled when the customer "answers": at once in synchronous markets,
//! after the result delay in asynchronous ones.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use super::markets::{scenario, Market, Scenario};

/// Opening balance of every organisation (shortcode) account.
pub(crate) const ORGANIZATION_OPENING_BALANCE: i64 = 1_000_000_000;

/// What a transaction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxnKind {
    /// Customer pays the service provider.
    C2b,
    /// Service provider pays the customer.
    B2c,
    /// Shortcode pays shortcode.
    B2b,
    /// Undoes (part of) the transaction at this index.
    Reversal(usize),
}

/// Where a transaction stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// Accepted, not yet settled (asynchronous markets).
    Pending,
    /// Money moved.
    Completed,
    /// Refused with this INS code.
    Failed(&'static str),
}

/// One recorded transaction.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    pub(crate) kind: TxnKind,
    pub(crate) market: &'static Market,
    /// The service provider that asked for it (for reversals: INS-35).
    pub(crate) service_provider: String,
    pub(crate) amount: Decimal,
    /// The account debited (MSISDN or shortcode).
    pub(crate) debit: String,
    /// The account credited.
    pub(crate) credit: String,
    /// The customer MSISDN whose scenario applies (C2B and B2C).
    pub(crate) customer: Option<String>,
    pub(crate) transaction_id: Option<String>,
    pub(crate) conversation_id: String,
    pub(crate) third_party_conversation_id: String,
    pub(crate) state: TxnState,
    /// Total reversed so far.
    pub(crate) reversed: Decimal,
}

/// A direct debit mandate.
#[derive(Debug, Clone)]
pub(crate) struct Mandate {
    pub(crate) market: &'static Market,
    pub(crate) service_provider: String,
    pub(crate) msisdn: String,
    /// `output_MsisdnToken`: stands for the MSISDN in later calls.
    pub(crate) token: String,
    pub(crate) third_party_reference: String,
    /// Numeric, issued in sequence.
    pub(crate) mandate_id: String,
    pub(crate) frequency: String,
    pub(crate) first_payment_date: String,
    pub(crate) start_range: String,
    pub(crate) end_range: String,
    pub(crate) expiry_date: String,
    /// `output_TransactionReference` of the creation.
    pub(crate) transaction_reference: String,
    pub(crate) active: bool,
}

/// Balances and transactions.
pub(crate) struct Ledger {
    customer_opening: Decimal,
    balances: HashMap<(&'static str, String), Decimal>,
    txns: Vec<Txn>,
    /// ThirdPartyConversationIDs already used (INS-10).
    used_tpcids: HashSet<String>,
    mandates: Vec<Mandate>,
    next_mandate_id: u64,
}

impl Ledger {
    pub(crate) fn new(customer_opening: Decimal) -> Self {
        Self {
            customer_opening,
            balances: HashMap::new(),
            txns: Vec::new(),
            used_tpcids: HashSet::new(),
            mandates: Vec::new(),
            next_mandate_id: 15045,
        }
    }

    /// Records `tpcid` as used; `false` if it already was.
    pub(crate) fn claim_tpcid(&mut self, tpcid: &str) -> bool {
        self.used_tpcids.insert(tpcid.to_owned())
    }

    fn opening(&self, account: &str) -> Decimal {
        if account.bytes().all(|b| b.is_ascii_digit()) && account.len() >= 11 {
            self.customer_opening
        } else {
            Decimal::from(ORGANIZATION_OPENING_BALANCE)
        }
    }

    /// The balance of an account (opening it if unseen).
    pub(crate) fn balance(&self, market: &Market, account: &str) -> Decimal {
        self.balances
            .get(&(market.context, account.to_owned()))
            .copied()
            .unwrap_or_else(|| self.opening(account))
    }

    fn add(&mut self, market: &'static Market, account: &str, delta: Decimal) {
        let new = self.balance(market, account) + delta;
        self.balances
            .insert((market.context, account.to_owned()), new);
    }

    /// Records an accepted transaction; returns its index.
    pub(crate) fn record(&mut self, txn: Txn) -> usize {
        self.txns.push(txn);
        self.txns.len() - 1
    }

    pub(crate) fn get(&self, index: usize) -> &Txn {
        &self.txns[index]
    }

    /// The transaction with this Mobile Money transaction id.
    pub(crate) fn by_transaction_id(&self, id: &str) -> Option<usize> {
        self.txns
            .iter()
            .position(|t| t.transaction_id.as_deref() == Some(id))
    }

    /// The transaction found by a `input_QueryReference`: its transaction id, ThirdPartyConversationID
    /// or ConversationID.
    pub(crate) fn find(&self, reference: &str) -> Option<&Txn> {
        self.txns.iter().find(|t| {
            t.transaction_id.as_deref() == Some(reference)
                || t.third_party_conversation_id == reference
                || t.conversation_id == reference
        })
    }

    /// Records a mandate, giving it the next mandate id; returns it.
    pub(crate) fn add_mandate(&mut self, mut mandate: Mandate) -> Mandate {
        mandate.mandate_id = self.next_mandate_id.to_string();
        self.next_mandate_id += 1;
        self.mandates.push(mandate.clone());
        mandate
    }

    /// The MSISDN a token stands for.
    pub(crate) fn token_owner(&self, token: &str) -> Option<String> {
        self.mandates
            .iter()
            .find(|m| m.token == token)
            .map(|m| m.msisdn.clone())
    }

    /// The active mandate of a customer with a service provider under `reference`, checked
    /// against an optional mandate id (`INS-51` unknown id, `INS-52` id of another reference).
    /// `Ok(None)` when there is none.
    pub(crate) fn find_mandate(
        &mut self,
        market: &Market,
        service_provider: &str,
        msisdn: &str,
        reference: &str,
        mandate_id: Option<&str>,
    ) -> Result<Option<&mut Mandate>, &'static str> {
        if let Some(id) = mandate_id {
            let Some(by_id) = self.mandates.iter().find(|m| m.mandate_id == id) else {
                return Err("INS-51");
            };
            if by_id.third_party_reference != reference {
                return Err("INS-52");
            }
        }
        Ok(self.mandates.iter_mut().find(|m| {
            m.active
                && m.market == market
                && m.service_provider == service_provider
                && m.msisdn == msisdn
                && m.third_party_reference == reference
                && mandate_id.is_none_or(|id| m.mandate_id == id)
        }))
    }

    /// Settles a pending transaction: applies its scenario, checks funds and moves money.
    /// Returns the INS code.
    pub(crate) fn settle(&mut self, index: usize, transaction_id: String) -> &'static str {
        let txn = self.txns[index].clone();
        if txn.state != TxnState::Pending {
            return match txn.state {
                TxnState::Failed(code) => code,
                _ => "INS-0",
            };
        }
        let code = self.decide(&txn);
        let txn = &mut self.txns[index];
        if code == "INS-0" {
            txn.state = TxnState::Completed;
            txn.transaction_id = Some(transaction_id);
            let (market, amount, debit, credit) = (
                txn.market,
                txn.amount,
                txn.debit.clone(),
                txn.credit.clone(),
            );
            let kind = txn.kind.clone();
            self.add(market, &debit, -amount);
            self.add(market, &credit, amount);
            if let TxnKind::Reversal(original) = kind {
                self.txns[original].reversed += amount;
            }
        } else {
            txn.state = TxnState::Failed(code);
        }
        code
    }

    fn decide(&self, txn: &Txn) -> &'static str {
        if let Some(Scenario::Fail(code)) = txn.customer.as_deref().map(scenario) {
            return code;
        }
        if let TxnKind::Reversal(original) = txn.kind {
            let original = &self.txns[original];
            if original.state != TxnState::Completed {
                return "INS-18";
            }
            if original.reversed >= original.amount {
                return "INS-6";
            }
            if txn.amount > original.amount - original.reversed {
                return "INS-15";
            }
        }
        if self.balance(txn.market, &txn.debit) < txn.amount {
            return "INS-2006";
        }
        "INS-0"
    }
}
