//! ISO 4217 currency codes (validated with `iso_currency`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use iso_currency::IntoEnumIterator;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// An ISO 4217 alphabetic currency code such as `KES` or `TZS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(pub iso_currency::Currency);

/// Why a string is not an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an ISO 4217 currency code")]
pub struct CurrencyError(pub String);

impl Currency {
    /// Kenyan shilling.
    pub const KES: Currency = Currency(iso_currency::Currency::KES);

    /// Parses a three-letter upper-case code.
    pub fn parse(code: &str) -> Result<Self, CurrencyError> {
        iso_currency::Currency::from_code(code)
            .map(Currency)
            .ok_or_else(|| CurrencyError(code.to_owned()))
    }

    /// The three-letter code.
    pub fn code(&self) -> &'static str {
        self.0.code()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <Cow<'de, str>>::deserialize(deserializer)?;
        Currency::parse(&code).map_err(de::Error::custom)
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        let mut codes: Vec<&'static str> =
            iso_currency::Currency::iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes))
            .description(Some("ISO 4217 currency code."))
            .examples(["KES"])
            .into()
    }
}

impl utoipa::ToSchema for Currency {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("currency")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_codes_only() {
        assert_eq!(Currency::parse("KES").unwrap(), Currency::KES);
        assert_eq!(Currency::parse("TZS").unwrap().code(), "TZS");
        for bad in ["XXY", "kes", "KE", "KESS", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}
