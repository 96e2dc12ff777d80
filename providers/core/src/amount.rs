//! GSMA amounts: decimal strings checked against the spec's pattern and held as exact decimals.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The amount pattern of GSMA MMAPI 1.2 (`components/schemas/amount`).
pub const AMOUNT_PATTERN: &str = r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$";
/// The longest amount string the spec allows.
pub const AMOUNT_MAX_LENGTH: usize = 23;

static AMOUNT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(AMOUNT_PATTERN).expect("the GSMA amount pattern is a valid regex"));

/// A money amount as GSMA spells it: `"100"`, `"12.50"`, `"0.0001"`. The original text is kept (clients get back
/// what they sent) beside its exact decimal value; there is no floating point anywhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    text: String,
    value: Decimal,
}

/// Why a string is not a GSMA amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a GSMA amount: up to 18 integer digits without leading zeros, an optional '.' and 1 to 4 decimals, no sign")]
pub struct AmountError(pub String);

impl Amount {
    /// Parses and validates an amount string.
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        if text.len() > AMOUNT_MAX_LENGTH || !AMOUNT_RE.is_match(text) {
            return Err(AmountError(text.to_owned()));
        }
        let value = Decimal::from_str(text).map_err(|_| AmountError(text.to_owned()))?;
        Ok(Self {
            text: text.to_owned(),
            value,
        })
    }

    /// Builds an amount from an exact decimal (negative values and more than 4 decimals are refused).
    pub fn from_decimal(value: Decimal) -> Result<Self, AmountError> {
        Self::parse(&value.normalize().to_string())
    }

    /// The amount as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact value.
    pub fn value(&self) -> Decimal {
        self.value
    }

    /// Whether the amount has no fractional part (`"100"`, `"100.00"`).
    pub fn is_whole(&self) -> bool {
        self.value.fract().is_zero()
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AmountVisitor;
        impl de::Visitor<'_> for AmountVisitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GSMA amount string such as \"100\" or \"12.50\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
                Amount::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(AmountVisitor)
    }
}

impl utoipa::PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(AMOUNT_MAX_LENGTH))
            .pattern(Some(AMOUNT_PATTERN))
            .description(Some(
                "A decimal amount as a string: no sign, no leading zeros, up to 4 decimals.",
            ))
            .examples(["15.21"])
            .into()
    }
}

impl utoipa::ToSchema for Amount {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("amount")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_the_spec_accepts() {
        for ok in [
            "5",
            "5.0",
            "5.00",
            "5.5555",
            "0",
            "0.00",
            "0.5",
            "123456789012345678",
            "999999999999999999.9999",
        ] {
            assert!(Amount::parse(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn refuses_what_the_spec_refuses() {
        for bad in [
            "5.",
            "5.55555",
            "1234567890123456789",
            "-5.5",
            ".5",
            "00.5",
            "00.00",
            "0000001.32",
            "12.345.6",
            "",
            " 5",
            "5e3",
            "1,000",
        ] {
            assert!(Amount::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn keeps_text_and_exact_value() {
        let a = Amount::parse("100.50").unwrap();
        assert_eq!(a.as_str(), "100.50");
        assert_eq!(a.value(), Decimal::new(10050, 2));
        assert!(!a.is_whole());
        assert!(Amount::parse("100.00").unwrap().is_whole());
    }

    #[test]
    fn json_numbers_are_refused() {
        assert!(serde_json::from_str::<Amount>("100").is_err());
        assert_eq!(
            serde_json::from_str::<Amount>("\"100\"").unwrap().as_str(),
            "100"
        );
    }
}
