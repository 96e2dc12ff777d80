//! The OpenAPI markets, their MSISDN numbering, and the sandbox test MSISDNs that choose an
//! outcome.

/// One market: its URL context, `input_Country`, `input_Currency` and MSISDN numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Market {
    /// The URL context, e.g. `vodacomTZN`.
    pub(crate) context: &'static str,
    /// `input_Country`, e.g. `TZN`.
    pub(crate) country: &'static str,
    /// `input_Currency`, e.g. `TZS`.
    pub(crate) currency: &'static str,
    /// International dialling code.
    pub(crate) dial_code: &'static str,
    /// Digits after the dialling code.
    pub(crate) national_digits: usize,
}

/// The five markets of the OpenAPI (§B.1).
pub(crate) const MARKETS: [Market; 5] = [
    Market {
        context: "vodacomTZN",
        country: "TZN",
        currency: "TZS",
        dial_code: "255",
        national_digits: 9,
    },
    Market {
        context: "vodafoneGHA",
        country: "GHA",
        currency: "GHS",
        dial_code: "233",
        national_digits: 9,
    },
    Market {
        context: "vodacomLES",
        country: "LES",
        currency: "LSL",
        dial_code: "266",
        national_digits: 8,
    },
    Market {
        context: "vodacomDRC",
        country: "DRC",
        currency: "USD",
        dial_code: "243",
        national_digits: 9,
    },
    Market {
        context: "vodacomMOZ",
        country: "MOZ",
        currency: "MZN",
        dial_code: "258",
        national_digits: 9,
    },
];

impl Market {
    /// The market of a URL context (exact, as the paths are case-sensitive).
    pub(crate) fn by_context(context: &str) -> Option<&'static Market> {
        MARKETS.iter().find(|m| m.context == context)
    }

    /// The market of a URL context or a country code, case-insensitively (for
    /// [`super::OpenApiSimulator::balance_of`]).
    pub(crate) fn lookup(name: &str) -> Option<&'static Market> {
        MARKETS
            .iter()
            .find(|m| m.context.eq_ignore_ascii_case(name) || m.country.eq_ignore_ascii_case(name))
    }

    /// Whether `msisdn` is a customer of this market: a test MSISDN (`00000000000N`) or the
    /// dialling code followed by the national number.
    pub(crate) fn accepts_msisdn(&self, msisdn: &str) -> bool {
        if !msisdn.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        is_test_msisdn(msisdn)
            || (msisdn.len() == self.dial_code.len() + self.national_digits
                && msisdn.starts_with(self.dial_code))
    }
}

/// A sandbox test MSISDN: 12 digits, `00000000000` then one digit.
pub(crate) fn is_test_msisdn(msisdn: &str) -> bool {
    msisdn.len() == 12
        && msisdn.starts_with("00000000000")
        && msisdn.bytes().all(|b| b.is_ascii_digit())
}

/// What a scenario MSISDN makes the operator answer instead of moving money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// Move the money (if the balance allows).
    Success,
    /// Fail with this INS code.
    Fail(&'static str),
}

/// The scenario of a customer MSISDN (§B.7). Numbers outside the table succeed.
pub(crate) fn scenario(msisdn: &str) -> Scenario {
    match msisdn {
        "000000000002" | "000000000003" => Scenario::Fail("INS-9"),
        "000000000004" | "000000000006" => Scenario::Fail("INS-6"),
        "000000000005" => Scenario::Fail("INS-1"),
        "000000000007" => Scenario::Fail("INS-15"),
        "000000000008" => Scenario::Fail("INS-2006"),
        "000000000009" => Scenario::Fail("INS-16"),
        _ => Scenario::Success,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdns_per_market() {
        let tz = Market::by_context("vodacomTZN").unwrap();
        assert!(tz.accepts_msisdn("255744553111"));
        assert!(tz.accepts_msisdn("000000000001"));
        assert!(!tz.accepts_msisdn("233244553111"));
        assert!(!tz.accepts_msisdn("25574455311"));
        let ls = Market::lookup("les").unwrap();
        assert!(ls.accepts_msisdn("26658001234"));
        assert_eq!(scenario("000000000008"), Scenario::Fail("INS-2006"));
        assert_eq!(scenario("255744553111"), Scenario::Success);
    }
}
