//! Deterministic outcomes of simulated transactions, chosen by the customer's MSISDN.
//!
//! This table is part of the product: integrators drive every failure path on purpose by
//! sending an STK Push to one of these test numbers.
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
//! Every session stays pending (STK Query answers `500.001.1001 The transaction is being
//! processed`) until the configured callback delay has passed; then it is final.

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
    fn known_descriptions() {
        assert_eq!(
            known_desc(1032, "Request cancelled by user"),
            Some("Request cancelled by user")
        );
        assert_eq!(known_desc(1032, "something else"), None);
    }
}
