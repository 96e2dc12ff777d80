//! Safaricom's published charges for the Daraja APIs the gateway drives, in whole shillings.
//!
//! One table serves both sides: the simulator takes these charges from the paying organisation's Charges Paid
//! account, and the gateway quotes them (`POST /quotations`) and records them as a completed transaction's
//! `fees`, so a quote equals what M-Pesa later deducts. An operator with a negotiated tariff configures its own
//! bands (`[[tariffs]]` in the gateway's configuration).

/// One band: amounts up to and including `up_to` KES cost `charge` KES.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// The band's upper bound, inclusive, in whole KES.
    pub up_to: u64,
    /// The charge in whole KES.
    pub charge: u64,
}

/// B2C payments to registered M-Pesa customers, charged to the business: nothing up to KES 100, then KES 5
/// (to 1,500), 9 (to 5,000) and 11, as the M-Pesa Bulk Payment tariff form gives them up to KES 15,000. The
/// form's bands above that were not at hand: KES 11 to 20,000 and KES 13 up to the B2C maximum of 250,000 are
/// this gateway's assumption. An operator configures its contract's bands.
pub const B2C_REGISTERED_CUSTOMER: &[Band] = &[
    Band {
        up_to: 100,
        charge: 0,
    },
    Band {
        up_to: 1_500,
        charge: 5,
    },
    Band {
        up_to: 5_000,
        charge: 9,
    },
    Band {
        up_to: 20_000,
        charge: 11,
    },
    Band {
        up_to: 250_000,
        charge: 13,
    },
];

/// The charge on `amount` KES by `bands` (sorted by `up_to`); above the last band, the last band's charge.
pub fn charge(bands: &[Band], amount: u64) -> u64 {
    bands
        .iter()
        .find(|b| amount <= b.up_to)
        .or(bands.last())
        .map_or(0, |b| b.charge)
}

/// What M-Pesa charges the business for a B2C payment of `amount` KES.
pub fn b2c_charge(amount: u64) -> u64 {
    charge(B2C_REGISTERED_CUSTOMER, amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b2c_charges_by_band() {
        for (amount, expected) in [
            (10, 0),
            (100, 0),
            (101, 5),
            (1_000, 5),
            (1_500, 5),
            (1_501, 9),
            (5_000, 9),
            (5_001, 11),
            (20_000, 11),
            (20_001, 13),
            (250_000, 13),
            (300_000, 13),
        ] {
            assert_eq!(b2c_charge(amount), expected, "KES {amount}");
        }
        assert_eq!(charge(&[], 500), 0);
    }
}
