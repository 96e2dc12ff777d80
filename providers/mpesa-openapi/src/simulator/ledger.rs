//! Simulated accounts and the transactions that move money between them.
//!
//! Accounts are keyed by market and MSISDN or shortcode; each opens at its configured
//! balance on first use. A transaction is recorded when accepted (so a status query finds it
//! while pending) and settled when the customer "answers": at once in synchronous markets,
//! after the result delay in asynchronous ones.

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;

use super::{
    journal::{Event, MandateRecord, Settlement, TxnRecord},
    markets::{scenario, Market, Scenario},
};

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
    /// The MSISDN token of a direct debit payment (its asynchronous result carries it).
    pub(crate) msisdn_token: Option<String>,
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

    /// The journal line of a mandate just created with the ThirdPartyConversationID `tpcid`.
    pub(crate) fn journal_mandate(mandate: &Mandate, tpcid: &str) -> Event {
        Event::Mandate(Box::new(MandateRecord {
            market: mandate.market.context.to_owned(),
            service_provider: mandate.service_provider.clone(),
            msisdn: mandate.msisdn.clone(),
            token: mandate.token.clone(),
            third_party_reference: mandate.third_party_reference.clone(),
            mandate_id: mandate.mandate_id.clone(),
            frequency: mandate.frequency.clone(),
            first_payment_date: mandate.first_payment_date.clone(),
            start_range: mandate.start_range.clone(),
            end_range: mandate.end_range.clone(),
            expiry_date: mandate.expiry_date.clone(),
            transaction_reference: mandate.transaction_reference.clone(),
            third_party_conversation_id: tpcid.to_owned(),
        }))
    }

    /// Restores a mandate read back from the journal, with its recorded ID (later IDs follow it).
    fn replay_mandate(&mut self, r: &MandateRecord) -> Result<(), &'static str> {
        let market = Market::by_context(&r.market).ok_or("unknown market")?;
        self.claim_tpcid(&r.third_party_conversation_id);
        if let Ok(id) = r.mandate_id.parse::<u64>() {
            self.next_mandate_id = self.next_mandate_id.max(id + 1);
        }
        self.mandates.push(Mandate {
            market,
            service_provider: r.service_provider.clone(),
            msisdn: r.msisdn.clone(),
            token: r.token.clone(),
            third_party_reference: r.third_party_reference.clone(),
            mandate_id: r.mandate_id.clone(),
            frequency: r.frequency.clone(),
            first_payment_date: r.first_payment_date.clone(),
            start_range: r.start_range.clone(),
            end_range: r.end_range.clone(),
            expiry_date: r.expiry_date.clone(),
            transaction_reference: r.transaction_reference.clone(),
            active: true,
        });
        Ok(())
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
        if code == "INS-0" {
            self.complete(index, transaction_id);
        } else {
            self.txns[index].state = TxnState::Failed(code);
        }
        code
    }

    /// Marks the transaction at `index` completed and moves its money.
    fn complete(&mut self, index: usize, transaction_id: String) {
        let txn = &mut self.txns[index];
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
    }

    /// The journal line of the transaction at `index`, as it stands now.
    pub(crate) fn journal_record(&self, index: usize) -> Event {
        let txn = &self.txns[index];
        let (kind, reverses) = match txn.kind {
            TxnKind::C2b => ("c2b", None),
            TxnKind::B2c => ("b2c", None),
            TxnKind::B2b => ("b2b", None),
            TxnKind::Reversal(original) => ("reversal", self.txns[original].transaction_id.clone()),
        };
        Event::Transaction(Box::new(TxnRecord {
            kind: kind.to_owned(),
            reverses,
            market: txn.market.context.to_owned(),
            service_provider: txn.service_provider.clone(),
            amount: txn.amount.to_string(),
            debit: txn.debit.clone(),
            credit: txn.credit.clone(),
            customer: txn.customer.clone(),
            transaction_id: txn.transaction_id.clone(),
            conversation_id: txn.conversation_id.clone(),
            third_party_conversation_id: txn.third_party_conversation_id.clone(),
            state: state_name(&txn.state).to_owned(),
            msisdn_token: txn.msisdn_token.clone(),
        }))
    }

    /// The journal line of the settlement of the transaction at `index`.
    pub(crate) fn journal_settlement(&self, index: usize) -> Event {
        let txn = &self.txns[index];
        Event::Settled(Settlement {
            third_party_conversation_id: txn.third_party_conversation_id.clone(),
            state: state_name(&txn.state).to_owned(),
            transaction_id: txn.transaction_id.clone(),
        })
    }

    /// Applies a journal event read back at start, with its recorded outcome (nothing is decided again). An
    /// event that does not fit (an unknown market, a settlement of an unknown transaction) is skipped with a
    /// warning.
    pub(crate) fn replay(&mut self, event: &Event) {
        match event {
            Event::Transaction(record) => {
                if let Err(why) = self.replay_transaction(record) {
                    tracing::warn!(
                        tpcid = %record.third_party_conversation_id,
                        why,
                        "OpenAPI simulator: skipped a journal transaction"
                    );
                }
            }
            Event::Settled(s) => {
                let index = self.txns.iter().rposition(|t| {
                    t.third_party_conversation_id == s.third_party_conversation_id
                        && t.state == TxnState::Pending
                });
                match (index, parse_state(&s.state)) {
                    (Some(index), Some(TxnState::Completed)) => {
                        let id = s.transaction_id.clone().unwrap_or_default();
                        self.complete(index, id);
                    }
                    (Some(index), Some(state)) => self.txns[index].state = state,
                    _ => tracing::warn!(
                        tpcid = %s.third_party_conversation_id,
                        "OpenAPI simulator: skipped a journal settlement"
                    ),
                }
            }
            Event::Repeat { .. } => {}
            Event::Mandate(record) => {
                if let Err(why) = self.replay_mandate(record) {
                    tracing::warn!(
                        mandate = %record.mandate_id,
                        why,
                        "OpenAPI simulator: skipped a journal mandate"
                    );
                }
            }
            Event::MandateCancelled {
                mandate_id,
                third_party_conversation_id,
            } => {
                self.claim_tpcid(third_party_conversation_id);
                match self
                    .mandates
                    .iter_mut()
                    .find(|m| &m.mandate_id == mandate_id)
                {
                    Some(m) => m.active = false,
                    None => tracing::warn!(
                        mandate = %mandate_id,
                        "OpenAPI simulator: skipped the cancellation of an unknown mandate"
                    ),
                }
            }
        }
    }

    fn replay_transaction(&mut self, r: &TxnRecord) -> Result<(), &'static str> {
        let market = Market::by_context(&r.market).ok_or("unknown market")?;
        let kind = match (r.kind.as_str(), &r.reverses) {
            ("c2b", _) => TxnKind::C2b,
            ("b2c", _) => TxnKind::B2c,
            ("b2b", _) => TxnKind::B2b,
            ("reversal", Some(original)) => TxnKind::Reversal(
                self.by_transaction_id(original)
                    .ok_or("the reversed transaction is unknown")?,
            ),
            _ => return Err("unknown kind"),
        };
        let state = parse_state(&r.state).ok_or("unknown state")?;
        let amount: Decimal = r.amount.parse().map_err(|_| "unreadable amount")?;
        self.claim_tpcid(&r.third_party_conversation_id);
        let index = self.record(Txn {
            kind,
            market,
            service_provider: r.service_provider.clone(),
            amount,
            debit: r.debit.clone(),
            credit: r.credit.clone(),
            customer: r.customer.clone(),
            transaction_id: None,
            conversation_id: r.conversation_id.clone(),
            third_party_conversation_id: r.third_party_conversation_id.clone(),
            state: TxnState::Pending,
            reversed: Decimal::ZERO,
            msisdn_token: r.msisdn_token.clone(),
        });
        match state {
            TxnState::Completed => {
                self.complete(index, r.transaction_id.clone().unwrap_or_default())
            }
            other => {
                self.txns[index].state = other;
                self.txns[index].transaction_id = r.transaction_id.clone();
            }
        }
        Ok(())
    }

    /// The transactions still pending (asynchronous markets), by index.
    pub(crate) fn pending_indexes(&self) -> Vec<usize> {
        self.txns
            .iter()
            .enumerate()
            .filter(|(_, t)| t.state == TxnState::Pending)
            .map(|(i, _)| i)
            .collect()
    }

    /// Every account touched so far, keyed `<market context>:<MSISDN or shortcode>`, with its balance.
    pub(crate) fn balances(&self) -> Vec<(String, Decimal)> {
        let mut all: Vec<(String, Decimal)> = self
            .balances
            .iter()
            .map(|((market, account), balance)| (format!("{market}:{account}"), *balance))
            .collect();
        all.sort();
        all
    }

    /// The opening balance of a customer account not seen yet.
    pub(crate) fn customer_opening(&self) -> Decimal {
        self.customer_opening
    }

    /// How many transactions were recorded, and how many of them completed.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let completed = self
            .txns
            .iter()
            .filter(|t| t.state == TxnState::Completed)
            .count();
        (self.txns.len(), completed)
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

/// `pending`, `completed` or the INS code.
fn state_name(state: &TxnState) -> &'static str {
    match state {
        TxnState::Pending => "pending",
        TxnState::Completed => "completed",
        TxnState::Failed(code) => code,
    }
}

/// The INS codes a transaction can fail with (a journal's strings mapped back to them).
const FAILURE_CODES: [&str; 8] = [
    "INS-1", "INS-5", "INS-6", "INS-9", "INS-15", "INS-16", "INS-18", "INS-2006",
];

fn parse_state(s: &str) -> Option<TxnState> {
    match s {
        "pending" => Some(TxnState::Pending),
        "completed" => Some(TxnState::Completed),
        code if code.starts_with("INS-") => Some(TxnState::Failed(
            FAILURE_CODES
                .iter()
                .copied()
                .find(|c| *c == code)
                .unwrap_or("INS-1"),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> &'static Market {
        Market::by_context("vodacomTZN").unwrap_or_else(|| panic!("vodacomTZN"))
    }

    fn txn(tpcid: &str, customer: &str, amount: i64) -> Txn {
        Txn {
            kind: TxnKind::C2b,
            market: tz(),
            service_provider: "000000".into(),
            amount: Decimal::from(amount),
            debit: customer.into(),
            credit: "000000".into(),
            customer: Some(customer.into()),
            transaction_id: None,
            conversation_id: format!("conv-{tpcid}"),
            third_party_conversation_id: tpcid.into(),
            state: TxnState::Pending,
            reversed: Decimal::ZERO,
            msisdn_token: None,
        }
    }

    #[test]
    fn replaying_the_journal_rebuilds_transactions_and_balances() {
        let opening = Decimal::from(1_000);
        let mut live = Ledger::new(opening);
        let mut journal = Vec::new();
        // A completed payment, a failed one, a partial reversal and a pending one settled later.
        for (tpcid, customer, amount) in [
            ("paid", "255744553111", 300),
            ("declined", "000000000004", 50),
        ] {
            live.claim_tpcid(tpcid);
            let i = live.record(txn(tpcid, customer, amount));
            live.settle(i, format!("ID{tpcid}"));
            journal.push(live.journal_record(i));
        }
        let original = live.by_transaction_id("IDpaid").unwrap_or(0);
        let i = live.record(Txn {
            kind: TxnKind::Reversal(original),
            amount: Decimal::from(100),
            debit: "000000".into(),
            credit: "255744553111".into(),
            ..txn("rev", "255744553111", 0)
        });
        live.settle(i, "IDrev".into());
        journal.push(live.journal_record(i));
        let i = live.record(txn("later", "255744553111", 20));
        journal.push(live.journal_record(i));
        live.settle(i, "IDlater".into());
        journal.push(live.journal_settlement(i));

        let mut replayed = Ledger::new(opening);
        for event in &journal {
            replayed.replay(event);
        }
        let customer = "255744553111";
        assert_eq!(replayed.balance(tz(), customer), Decimal::from(780));
        assert_eq!(
            replayed.balance(tz(), "000000"),
            live.balance(tz(), "000000")
        );
        assert_eq!(replayed.balances(), live.balances());
        assert_eq!(replayed.counts(), (4, 3));
        let paid = replayed.find("paid").cloned();
        assert_eq!(
            paid.map(|t| (t.state, t.reversed)),
            Some((TxnState::Completed, Decimal::from(100)))
        );
        assert_eq!(
            replayed.find("declined").map(|t| t.state.clone()),
            Some(TxnState::Failed("INS-6"))
        );
        assert_eq!(
            replayed.find("IDlater").map(|t| t.state.clone()),
            Some(TxnState::Completed)
        );
        assert!(!replayed.claim_tpcid("paid"), "a used id stays used");
        assert!(replayed.pending_indexes().is_empty());
    }
}
