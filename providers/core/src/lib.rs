//! The harmonised model of mmapi-gateway: GSMA Mobile Money API 1.2 objects (validated, with the spec's
//! names), and the [`Provider`](provider::Provider) trait every operator backend implements.
//!
//! This crate depends on no other crate of the workspace. Nothing in it knows an operator's wire format.

pub mod amount;
pub mod currency;
pub mod error;
pub mod mandate;
pub mod model;
pub mod parse;
pub mod patch;
pub mod provider;
pub mod quotation;
pub mod secret;
pub mod simulator_faults;
pub mod simulator_submissions;
pub mod time;

pub use amount::Amount;
pub use currency::Currency;
pub use error::{ErrorCategory, ErrorCode, GsmaError};
pub use secret::Secret;
pub use time::Timestamp;
