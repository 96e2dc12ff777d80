//! Configuration of the Daraja adapter.

use std::time::Duration;

use mmapi_core::Secret;
use serde::Deserialize;

/// How the adapter reaches Daraja, and which merchant accounts it collects for.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DarajaConfig {
    /// The operator's host, e.g. `https://sandbox.safaricom.co.ke` or `https://api.safaricom.co.ke`.
    pub base_url: String,
    /// The app's consumer key.
    pub consumer_key: Secret,
    /// The app's consumer secret.
    pub consumer_secret: Secret,
    /// Paybills and tills with their Lipa na M-Pesa Online passkeys.
    #[serde(default)]
    pub shortcodes: Vec<ShortcodeConfig>,
    /// Timeout of one HTTP call to Daraja, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long to wait for an STK result callback before asking STK Query, in seconds.
    #[serde(default = "default_stk_result_deadline_secs")]
    pub stk_result_deadline_secs: u64,
    /// An STK prompt lives about a minute; Daraja posts a result (success, cancelled, timed out) for every push it
    /// took. A push whose acknowledgement was lost (the gateway stopped mid-call) and whose result has not come
    /// this many seconds later cannot be settled by STK Query: it goes to manual review (Daraja most likely never
    /// took it, but its result may have been lost).
    #[serde(default = "default_stk_unacknowledged_expiry_secs")]
    pub stk_unacknowledged_expiry_secs: u64,
    /// The API operator (initiator) of B2C, B2B, reversals, status and balance enquiries.
    #[serde(default)]
    pub initiator_name: Option<String>,
    /// The initiator's password; it is sent only as the RSA-encrypted `SecurityCredential`.
    #[serde(default)]
    pub initiator_password: Option<Secret>,
    /// Daraja's certificate, whose public key encrypts the initiator password: PEM text, or the path of a PEM
    /// file.
    #[serde(default)]
    pub certificate: Option<String>,
    /// The shortcode that pays disbursements and refunds (B2C `PartyA`) and sends business transfers when the
    /// request names no debit account.
    #[serde(default)]
    pub disbursement_shortcode: Option<String>,
    /// How long to wait for a B2C, B2B or reversal result before asking the Transaction Status API, in seconds.
    #[serde(default = "default_result_deadline_secs")]
    pub result_deadline_secs: u64,
    /// How long a balance enquiry waits for Daraja's asynchronous answer, in seconds.
    #[serde(default = "default_balance_timeout_secs")]
    pub balance_timeout_secs: u64,
    /// Shortcodes that receive customer payments (C2B): their URLs are registered at start-up.
    #[serde(default)]
    pub c2b: Vec<C2bConfig>,
    /// Bill Manager: the paybill that sends invoices, opted in at start-up (`[providers.daraja.bill_manager]`).
    #[serde(default)]
    pub bill_manager: Option<BillManagerConfig>,
    /// How long a debit mandate (an M-Pesa Ratiba standing order) waits for the customer's approval, in seconds.
    #[serde(default = "default_ratiba_approval_timeout_secs")]
    pub ratiba_approval_timeout_secs: u64,
}

/// The paybill opted in to Bill Manager: bills issued for it are sent to customers as invoices, and its payments
/// are pushed to the gateway.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillManagerConfig {
    /// The paybill.
    pub shortcode: String,
    /// The biller's e-mail address, shown on invoices.
    pub email: String,
    /// The biller's official phone number, shown on invoices.
    pub official_contact: String,
    /// Whether Safaricom reminds customers of unpaid invoices.
    #[serde(default)]
    pub send_reminders: bool,
}

/// A shortcode that receives payments customers make from their phones (C2B).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2bConfig {
    /// The paybill or till.
    pub shortcode: String,
    /// What Daraja does when the validation URL does not answer: `Completed` or `Cancelled`.
    #[serde(default = "default_response_type")]
    pub response_type: String,
    /// When set, a payment whose account number (`BillRefNumber`) is not in this list is refused
    /// (`C2B00012`). Compared without regard to case.
    #[serde(default)]
    pub account_references: Option<Vec<String>>,
    /// Where each confirmed payment is pushed (PUT of the GSMA transaction, retried like client callbacks).
    #[serde(default)]
    pub notification_url: Option<String>,
    /// A till (payments become `merchantpay`) rather than a paybill (`billpay`, the default).
    #[serde(default)]
    pub till: bool,
    /// The organisation's nominated MSISDN for Pull Transactions. When set, the shortcode is registered for
    /// Pull Transactions at start-up and the gateway fills in from it the payments whose confirmation never
    /// came.
    #[serde(default)]
    pub pull_nominated_number: Option<String>,
}

fn default_response_type() -> String {
    "Completed".into()
}

/// A merchant account (paybill, or till with its head-office store number) able to receive STK Push payments.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShortcodeConfig {
    /// The paybill or till number.
    pub shortcode: String,
    /// The Lipa na M-Pesa Online passkey of the `BusinessShortCode` used for it.
    pub passkey: Secret,
    /// For a till: the store or head-office number that is sent as `BusinessShortCode` (defaults to the till).
    #[serde(default)]
    pub store_number: Option<String>,
}

fn default_request_timeout_ms() -> u64 {
    15_000
}

fn default_stk_result_deadline_secs() -> u64 {
    120
}

fn default_stk_unacknowledged_expiry_secs() -> u64 {
    600
}

fn default_result_deadline_secs() -> u64 {
    60
}

fn default_balance_timeout_secs() -> u64 {
    10
}

fn default_ratiba_approval_timeout_secs() -> u64 {
    180
}

impl DarajaConfig {
    /// Timeout of one HTTP call.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Whether the initiator (name, password and certificate) is configured, as B2C, B2B, reversals, status
    /// and balance enquiries need.
    pub fn has_initiator(&self) -> bool {
        self.initiator_name.is_some()
            && self.initiator_password.is_some()
            && self.certificate.is_some()
    }

    /// The C2B configuration of a shortcode.
    pub fn c2b(&self, shortcode: &str) -> Option<&C2bConfig> {
        self.c2b.iter().find(|c| c.shortcode == shortcode)
    }

    /// The configured account for a paybill or till number.
    pub fn shortcode(&self, number: &str) -> Option<&ShortcodeConfig> {
        self.shortcodes.iter().find(|s| s.shortcode == number)
    }
}
