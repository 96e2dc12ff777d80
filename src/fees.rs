//! Fees: the operators' tariffs, the quotes computed from them, and how long a quote holds (`[quotations]`).
//!
//! A tariff is a table of bands per provider, currency and transaction type. The defaults are the operators'
//! published charges that the simulators also take (Daraja B2C: [`mmapi_daraja::tariff`]), so in sandbox mode a
//! quote equals what the operator deducts. A deployment with a negotiated tariff lists its own tables; a
//! transaction no table covers is quoted with no fee.

use mmapi_core::model::{Fee, TransactionType};
use mmapi_core::Amount;
use rust_decimal::Decimal;
use serde::Deserialize;

/// `[quotations]`: quote lifetime and tariffs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotationSettings {
    /// How long a quote can be cited after it was made, in seconds (`quoteExpiryTime`).
    pub lifetime_secs: u64,
    /// The fee tables (`[[quotations.tariffs]]`); they replace the built-in ones when any is given.
    pub tariffs: Vec<Tariff>,
}

impl Default for QuotationSettings {
    fn default() -> Self {
        Self {
            lifetime_secs: 600,
            tariffs: default_tariffs(),
        }
    }
}

/// One fee table: what `provider` charges in `currency` for `transaction_types`, by amount band.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// The provider's name (`daraja`, `mpesa-openapi`).
    pub provider: String,
    /// The ISO 4217 code.
    pub currency: String,
    /// The GSMA transaction types it applies to.
    pub transaction_types: Vec<TransactionType>,
    /// The GSMA `feeType` the fee is reported with.
    #[serde(default = "default_fee_type")]
    pub fee_type: String,
    /// The bands, by ascending `up_to`.
    pub bands: Vec<Band>,
}

/// Amounts up to and including `up_to` cost `fee` (decimal strings, in the tariff's currency).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub up_to: Decimal,
    pub fee: Decimal,
}

fn default_fee_type() -> String {
    "transaction fee".into()
}

/// Safaricom's B2C charges, for every GSMA type the gateway sends as B2C (disbursement, refund, cash-in).
fn default_tariffs() -> Vec<Tariff> {
    vec![Tariff {
        provider: mmapi_daraja::NAME.into(),
        currency: "KES".into(),
        transaction_types: vec![
            TransactionType::Disbursement,
            TransactionType::Adjustment,
            TransactionType::Deposit,
        ],
        fee_type: default_fee_type(),
        bands: mmapi_daraja::tariff::B2C_REGISTERED_CUSTOMER
            .iter()
            .map(|b| Band {
                up_to: Decimal::from(b.up_to),
                fee: Decimal::from(b.charge),
            })
            .collect(),
    }]
}

impl QuotationSettings {
    /// Checks the tables: known currencies, bands in ascending order, no negative fee.
    pub fn validate(&self) -> Result<(), String> {
        for t in &self.tariffs {
            if t.currency.parse::<mmapi_core::Currency>().is_err() {
                return Err(format!(
                    "[[quotations.tariffs]]: '{}' is not an ISO 4217 currency",
                    t.currency
                ));
            }
            if t.bands.is_empty() || t.bands.windows(2).any(|w| w[0].up_to >= w[1].up_to) {
                return Err(format!(
                    "[[quotations.tariffs]] {} {}: bands must be given by ascending up_to",
                    t.provider, t.currency
                ));
            }
            if t.bands.iter().any(|b| b.fee.is_sign_negative()) {
                return Err(format!(
                    "[[quotations.tariffs]] {} {}: a fee cannot be negative",
                    t.provider, t.currency
                ));
            }
        }
        Ok(())
    }

    /// The fee `provider` charges for a `transaction_type` of `amount` in `currency`; `None` when no table
    /// covers it. Above the last band, the last band's fee.
    pub fn fee(
        &self,
        provider: &str,
        currency: &str,
        transaction_type: TransactionType,
        amount: &Amount,
    ) -> Option<Fee> {
        let tariff = self.tariffs.iter().find(|t| {
            t.provider == provider
                && t.currency.eq_ignore_ascii_case(currency)
                && t.transaction_types.contains(&transaction_type)
        })?;
        let value = amount.value();
        let band = tariff
            .bands
            .iter()
            .find(|b| value <= b.up_to)
            .or(tariff.bands.last())?;
        let fee_amount = Amount::parse(&band.fee.normalize().to_string()).ok()?;
        let fee_currency = currency.parse().ok()?;
        Some(Fee {
            fee_type: tariff.fee_type.clone(),
            fee_amount,
            fee_currency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fee(settings: &QuotationSettings, t: TransactionType, amount: &str) -> Option<String> {
        settings
            .fee("daraja", "KES", t, &Amount::parse(amount).unwrap())
            .map(|f| f.fee_amount.to_string())
    }

    #[test]
    fn the_default_tariff_is_safaricoms_b2c_table() {
        let s = QuotationSettings::default();
        s.validate().unwrap();
        assert_eq!(
            fee(&s, TransactionType::Disbursement, "100").as_deref(),
            Some("0")
        );
        assert_eq!(
            fee(&s, TransactionType::Disbursement, "1000").as_deref(),
            Some("5")
        );
        assert_eq!(
            fee(&s, TransactionType::Deposit, "1500.01").as_deref(),
            Some("9")
        );
        assert_eq!(
            fee(&s, TransactionType::Adjustment, "250000").as_deref(),
            Some("13")
        );
        // Customer payments are charged to the merchant by its own tariff: no table, no fee.
        assert_eq!(fee(&s, TransactionType::Merchantpay, "1000"), None);
        assert!(s
            .fee(
                "mpesa-openapi",
                "TZS",
                TransactionType::Disbursement,
                &Amount::parse("1000").unwrap()
            )
            .is_none());
    }

    #[test]
    fn configured_tables_are_checked() {
        let mut s = QuotationSettings::default();
        s.tariffs[0].bands.reverse();
        assert!(s.validate().is_err());
        let mut s = QuotationSettings::default();
        s.tariffs[0].currency = "XXQ".into();
        assert!(s.validate().is_err());
    }
}
