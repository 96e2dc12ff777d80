//! Deterministic outcomes of simulated transactions.
//!
//! These tables are part of the product: integrators drive every failure path on purpose with
//! these test numbers. Money really moves between simulated accounts (see
//! [`DarajaSimulator::balance_of`](super::DarajaSimulator::balance_of)), so balances decide
//! too: an organisation account without the funds pays nothing (`1 The balance is
//! insufficient for the transaction.`). Customers' balances are enforced only with
//! [`SimulatorConfig::enforce_customer_funds`](super::SimulatorConfig::enforce_customer_funds)
//! (off by default, so one sandbox customer can pay without end); `254700000002` never has the
//! funds either way.
//!
//! ## STK Push, by `PhoneNumber`
//!
//! | PhoneNumber    | ResultCode | ResultDesc                                         | Callback |
//! |----------------|-----------:|----------------------------------------------------|----------|
//! | `254700000001` | 1032       | Request cancelled by user                          | yes      |
//! | `254700000002` | 1          | The balance is insufficient for the transaction.   | yes      |
//! | `254700000003` | 1037       | DS timeout user cannot be reached                  | yes      |
//! | `254700000004` | 2001       | The initiator information is invalid.              | yes      |
//! | `254700000005` | 1037       | DS timeout user cannot be reached                  | **never** (lost callback; STK Query still answers) |
//! | any other      | 0          | The service request is processed successfully.     | yes      |
//!
//! A success debits the customer and credits the `BusinessShortCode`'s Utility account when the
//! push is accepted; with customer funds enforced, a balance below `Amount` gets `1` instead. Every session
//! stays pending (STK Query answers `500.001.1001 The transaction is being processed`) until
//! the configured callback delay has passed; then it is final.
//!
//! ## Results of the initiator APIs (B2C, B2B, Transaction Status, Account Balance, Reversal)
//!
//! The request is acknowledged synchronously once its fields are valid; the outcome comes in
//! the `Result` posted to `ResultURL` after the callback delay. Checks, in this order:
//!
//! | Check | ResultCode | ResultDesc |
//! |---|---:|---|
//! | `InitiatorName`/`Initiator` and `SecurityCredential` (decrypted with the simulator key) match the configured initiator | 2001 | The initiator information is invalid. |
//! | `PartyA` (Reversal: `ReceiverParty`) is a simulated organisation | 21 | The initiator is not allowed to initiate this request |
//! | then the API's own rules below | | |
//!
//! **B2C** (`PartyB` is the customer; the shortcode's Utility account pays):
//!
//! | Condition | ResultCode | ResultDesc | Result sent |
//! |---|---:|---|---|
//! | `PartyB` `254700000005` | 0 | success, money moves | **never** (lost result: settle it with Transaction Status) |
//! | `PartyB` `254700000006` | 2040 | Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service. | yes |
//! | `PartyB` `254700000007` | `SFC_IC0003` | The operator does not exist. | yes |
//! | `Amount` 77777 ([`B2C_INSUFFICIENT_FUNDS_AMOUNT`]) | 1 | The balance is insufficient for the transaction. | yes |
//! | `Amount` below [`B2C_MIN_AMOUNT`] / above [`B2C_MAX_AMOUNT`] | 2 / 3 | Declined due to limit rule… | yes |
//! | Utility account below `Amount` | 1 | The balance is insufficient for the transaction. | yes |
//! | customer balance would pass [`CUSTOMER_MAX_BALANCE`] | 8 | Declined due to limit rule: would exceed the maximum balance. | yes |
//! | otherwise (`254700000002` included: it receives money) | 0 | The service request is processed successfully. | yes |
//!
//! **B2B** (`BusinessPayBill`/`BusinessBuyGoods`: Working → receiver's Working;
//! `BusinessPayToBulk`: Working → receiver's Utility): `PartyB` not a simulated organisation →
//! `SFC_IC0003`; Working account below `Amount` → `1`; otherwise `0`. A success is sent with
//! string `"ResultType"`/`"ResultCode"` and a `ReferenceItem` array, a failure with numbers, a
//! single `BOCompletedTime` parameter and a single `ReferenceItem`, as in Daraja's samples.
//!
//! **Transaction Status** (by `TransactionID`, else `OriginalConversationID` or
//! `OriginatorConversationID`, matching either the original's `OriginatorConversationID` or
//! `ConversationID`): a transaction of `PartyA` → `0` with `TransactionStatus` `Completed`
//! (money moved) or `Failed` (it ended with a non-zero code; a simulator choice, Daraja's
//! wording is undocumented; a failed one has no receipt, so only its conversation IDs find
//! it); unknown, or another organisation's → `SFC_IC0003`.
//!
//! **Account Balance** → `0` with the `AccountBalance` string of `PartyA`'s accounts.
//!
//! **Reversal** (the original must be a completed transaction involving `ReceiverParty`):
//!
//! | Condition | ResultCode | ResultDesc |
//! |---|---:|---|
//! | unknown `TransactionID`, another organisation's, or `Amount` ≠ the original amount (partial reversals are not simulated) | `R000002` | The OriginalTransactionID is invalid. |
//! | already reversed | `R000001` | The transaction has already been reversed |
//! | the party to debit back lacks the funds (a customer: only with funds enforced) | 1 | The balance is insufficient for the transaction. |
//! | otherwise: the original's money moves back | 0 | The service request is processed successfully. |
//!
//! ## C2B simulate, by `Msisdn` and by the merchant's validation answer
//!
//! | Condition | What happens |
//! |---|---|
//! | `Msisdn` `254700000002`, or (funds enforced) a balance below `Amount` | nothing is sent, no money moves (the customer is declined by M-Pesa) |
//! | no URLs registered for the shortcode | the payment completes; nothing is sent |
//! | validation on ([`SimulatorConfig::c2b_external_validation`](super::SimulatorConfig::c2b_external_validation)), answer `{"ResultCode":"0"…}` (or `0`) | money moves, then the confirmation (with the answer's `ThirdPartyTransID`) |
//! | validation answer with any other `ResultCode` (e.g. `C2B00012`) | rejected: no confirmation, no money moves |
//! | validation URL unreachable, non-2xx, unparseable or slower than the timeout | the registered `ResponseType`: `Completed` proceeds, `Cancelled` stops |
//! | validation off | money moves, then the confirmation |
//!
//! Queue timeouts (`QueueTimeOutURL`) are not simulated: the URL is validated, never called.

/// The final result of a simulated STK Push session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StkOutcome {
    /// `ResultCode` (a number in the callback, a string in STK Query).
    pub result_code: i32,
    /// `ResultDesc`, exactly as Daraja words it.
    pub result_desc: &'static str,
    /// Whether the result callback is ever sent to `CallBackURL`.
    pub sends_callback: bool,
}

/// The customer entered the PIN and the payment went through.
pub const STK_SUCCESS: StkOutcome = StkOutcome {
    result_code: 0,
    result_desc: "The service request is processed successfully.",
    sends_callback: true,
};

/// Test MSISDNs with a fixed, non-successful outcome (see the module table).
pub const STK_OUTCOMES_BY_PHONE: &[(&str, StkOutcome)] = &[
    (
        "254700000001",
        StkOutcome {
            result_code: 1032,
            result_desc: "Request cancelled by user",
            sends_callback: true,
        },
    ),
    (
        "254700000002",
        StkOutcome {
            result_code: 1,
            result_desc: "The balance is insufficient for the transaction.",
            sends_callback: true,
        },
    ),
    (
        "254700000003",
        StkOutcome {
            result_code: 1037,
            result_desc: "DS timeout user cannot be reached",
            sends_callback: true,
        },
    ),
    (
        "254700000004",
        StkOutcome {
            result_code: 2001,
            result_desc: "The initiator information is invalid.",
            sends_callback: true,
        },
    ),
    (
        "254700000005",
        StkOutcome {
            result_code: 1037,
            result_desc: "DS timeout user cannot be reached",
            sends_callback: false,
        },
    ),
];

/// The outcome of an STK Push to `phone` (a validated `2547…`/`2541…` MSISDN).
pub fn stk_outcome(phone: &str) -> StkOutcome {
    STK_OUTCOMES_BY_PHONE
        .iter()
        .find(|(number, _)| *number == phone)
        .map_or(STK_SUCCESS, |(_, outcome)| *outcome)
}

/// Maps a result description read back from the journal to the static string of a known
/// outcome, so restored sessions do not allocate for it.
pub(crate) fn known_desc(result_code: i32, result_desc: &str) -> Option<&'static str> {
    std::iter::once(&STK_SUCCESS)
        .chain(STK_OUTCOMES_BY_PHONE.iter().map(|(_, o)| o))
        .find(|o| o.result_code == result_code && o.result_desc == result_desc)
        .map(|o| o.result_desc)
}

/// A `ResultCode` as Daraja sends it: a number, or an alphanumeric code such as `R000001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultCode {
    /// A numeric code, sent as a JSON number (or a string where Daraja's sample has one).
    Number(i32),
    /// An alphanumeric code, always sent as a JSON string.
    Text(&'static str),
}

impl ResultCode {
    /// Whether this is success (`0`).
    pub fn is_success(self) -> bool {
        self == ResultCode::Number(0)
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResultCode::Number(n) => write!(f, "{n}"),
            ResultCode::Text(t) => f.write_str(t),
        }
    }
}

/// The outcome of an initiator-API request (B2C, B2B, status, balance, reversal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultOutcome {
    /// `ResultCode`.
    pub result_code: ResultCode,
    /// `ResultDesc`, as Daraja words it.
    pub result_desc: &'static str,
    /// Whether the `Result` is ever posted to `ResultURL`.
    pub sends_result: bool,
}

const fn outcome(code: ResultCode, desc: &'static str) -> ResultOutcome {
    ResultOutcome {
        result_code: code,
        result_desc: desc,
        sends_result: true,
    }
}

/// `0`: success.
pub const PROCESSED: ResultOutcome = outcome(
    ResultCode::Number(0),
    "The service request is processed successfully.",
);
/// `1`: the paying account lacks the funds.
pub const INSUFFICIENT_BALANCE: ResultOutcome = outcome(
    ResultCode::Number(1),
    "The balance is insufficient for the transaction.",
);
/// `2`: below the minimum amount.
pub const BELOW_MINIMUM: ResultOutcome =
    outcome(ResultCode::Number(2), "Declined due to limit rule");
/// `3`: above the maximum amount.
pub const ABOVE_MAXIMUM: ResultOutcome = outcome(
    ResultCode::Number(3),
    "Declined due to limit rule: greater than the maximum transaction amount.",
);
/// `8`: the customer's balance would pass the maximum.
pub const MAX_BALANCE: ResultOutcome = outcome(
    ResultCode::Number(8),
    "Declined due to limit rule: would exceed the maximum balance.",
);
/// `21`: the initiator may not act for `PartyA` (an unknown shortcode here).
pub const INITIATOR_NOT_ALLOWED: ResultOutcome = outcome(
    ResultCode::Number(21),
    "The initiator is not allowed to initiate this request",
);
/// `2001`: wrong initiator name or `SecurityCredential`.
pub const INITIATOR_INVALID: ResultOutcome = outcome(
    ResultCode::Number(2001),
    "The initiator information is invalid.",
);
/// `2040`: the recipient is not a registered customer.
pub const UNREGISTERED_CUSTOMER: ResultOutcome = outcome(
    ResultCode::Number(2040),
    "Credit Party customer type (Unregistered or Registered Customer) can't be supported by the service.",
);
/// `SFC_IC0003`: no such party (or, for Transaction Status, no such transaction).
pub const OPERATOR_DOES_NOT_EXIST: ResultOutcome = outcome(
    ResultCode::Text("SFC_IC0003"),
    "The operator does not exist.",
);
/// `R000001`: the transaction was already reversed.
pub const ALREADY_REVERSED: ResultOutcome = outcome(
    ResultCode::Text("R000001"),
    "The transaction has already been reversed",
);
/// `R000002`: the transaction to reverse does not exist (here: or does not match).
pub const INVALID_ORIGINAL: ResultOutcome = outcome(
    ResultCode::Text("R000002"),
    "The OriginalTransactionID is invalid.",
);

/// Smallest B2C `Amount` (KES); below it the result is [`BELOW_MINIMUM`].
pub const B2C_MIN_AMOUNT: u64 = 10;
/// Largest B2C `Amount` (KES); above it the result is [`ABOVE_MAXIMUM`].
pub const B2C_MAX_AMOUNT: u64 = 250_000;
/// A B2C of this `Amount` always fails with [`INSUFFICIENT_BALANCE`].
pub const B2C_INSUFFICIENT_FUNDS_AMOUNT: u64 = 77_777;
/// A customer's M-Pesa balance may not exceed this (KES); see [`MAX_BALANCE`].
pub const CUSTOMER_MAX_BALANCE: u64 = 500_000;
/// C2B simulate: smallest and largest `Amount` (KES).
pub const C2B_AMOUNT_RANGE: std::ops::RangeInclusive<u64> = 1..=250_000;

/// B2C recipients (`PartyB`) with a fixed outcome (see the module table).
pub const B2C_OUTCOMES_BY_PARTY_B: &[(&str, ResultOutcome)] = &[
    (
        "254700000005",
        ResultOutcome {
            sends_result: false,
            ..PROCESSED
        },
    ),
    ("254700000006", UNREGISTERED_CUSTOMER),
    ("254700000007", OPERATOR_DOES_NOT_EXIST),
];

/// The fixed outcome of a B2C to `party_b` of `amount`, if the tables give one; `None` means
/// the balances and limits decide.
pub fn b2c_fixed_outcome(party_b: &str, amount: u64) -> Option<ResultOutcome> {
    if let Some((_, o)) = B2C_OUTCOMES_BY_PARTY_B.iter().find(|(n, _)| *n == party_b) {
        return Some(*o);
    }
    if amount == B2C_INSUFFICIENT_FUNDS_AMOUNT {
        return Some(INSUFFICIENT_BALANCE);
    }
    if amount < B2C_MIN_AMOUNT {
        return Some(BELOW_MINIMUM);
    }
    if amount > B2C_MAX_AMOUNT {
        return Some(ABOVE_MAXIMUM);
    }
    None
}

/// Customers who never have the funds to pay (STK Push and C2B).
pub const INSUFFICIENT_FUNDS_MSISDN: &str = "254700000002";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lookup() {
        assert_eq!(stk_outcome("254708374149"), STK_SUCCESS);
        assert_eq!(stk_outcome("254700000001").result_code, 1032);
        assert_eq!(stk_outcome("254700000002").result_code, 1);
        assert_eq!(stk_outcome("254700000003").result_code, 1037);
        assert_eq!(stk_outcome("254700000004").result_code, 2001);
        let lost = stk_outcome("254700000005");
        assert_eq!(lost.result_code, 1037);
        assert!(!lost.sends_callback);
    }

    #[test]
    fn b2c_table() {
        assert_eq!(b2c_fixed_outcome("254708374149", 100), None);
        assert_eq!(b2c_fixed_outcome("254700000002", 100), None);
        let lost = b2c_fixed_outcome("254700000005", 100).expect("fixed");
        assert!(lost.result_code.is_success() && !lost.sends_result);
        assert_eq!(
            b2c_fixed_outcome("254700000006", 100).map(|o| o.result_code),
            Some(ResultCode::Number(2040))
        );
        assert_eq!(
            b2c_fixed_outcome("254700000007", 100).map(|o| o.result_code.to_string()),
            Some("SFC_IC0003".to_owned())
        );
        assert_eq!(
            b2c_fixed_outcome("254708374149", 77_777),
            Some(INSUFFICIENT_BALANCE)
        );
        assert_eq!(b2c_fixed_outcome("254708374149", 9), Some(BELOW_MINIMUM));
        assert_eq!(b2c_fixed_outcome("254708374149", 10), None);
        assert_eq!(b2c_fixed_outcome("254708374149", 250_000), None);
        assert_eq!(
            b2c_fixed_outcome("254708374149", 250_001),
            Some(ABOVE_MAXIMUM)
        );
    }

    #[test]
    fn known_descriptions() {
        assert_eq!(
            known_desc(1032, "Request cancelled by user"),
            Some("Request cancelled by user")
        );
        assert_eq!(known_desc(1032, "something else"), None);
    }
}
