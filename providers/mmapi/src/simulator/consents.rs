//! What an account holder consents to in advance: authorisation codes (redeemed by a payment's
//! `oneTimeCode`), account links (`linkref`, push/pull/both) and debit mandates (`mandatereference`). Each is
//! created asynchronously on an account, read, and changed by PATCH; the rules are enforced on the payments
//! that use them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use mmapi_core::model::{Party, TransactionType};
use mmapi_core::{Currency, ErrorCategory, ErrorCode, GsmaError, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::requests::{accepted, begin, complete_later};
use super::{answer, json_body, lock, new_reference, AsyncHeaders, Sim};

/// An authorisation code's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum CodeState {
    Active,
    Cancelled,
    /// Used by a payment: it reads `expired`, as it can never be used again.
    Redeemed,
}

#[derive(Serialize, Deserialize)]
struct AuthorisationCode {
    account_id: String,
    amount: Option<Decimal>,
    currency: Option<Currency>,
    /// `amountType`: `exact` (the default when an amount is given) or `maximum`.
    exact: bool,
    expires_at_ms: Option<i64>,
    state: CodeState,
    redemption_types: Option<Vec<String>>,
    /// The request as sent, echoed in the code's representation.
    request: Value,
}

#[derive(Serialize, Deserialize)]
struct Link {
    account_id: String,
    source: Vec<Party>,
    mode: String,
    active: bool,
    request: Value,
}

#[derive(Serialize, Deserialize)]
struct Mandate {
    account_id: String,
    payee: Option<Vec<Party>>,
    amount_limit: Option<Decimal>,
    currency: Option<Currency>,
    start: NaiveDate,
    end: Option<NaiveDate>,
    number_of_payments: Option<u32>,
    payments: u32,
    active: bool,
    request: Value,
}

/// A link or a mandate: made on an account, switched on and off by PATCH.
trait Owned {
    fn account_id(&self) -> &str;
    fn set_active(&mut self, active: bool);
}

impl Owned for Link {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn set_active(&mut self, active: bool) {
        self.active = active;
    }
}

impl Owned for Mandate {
    fn account_id(&self) -> &str {
        &self.account_id
    }
    fn set_active(&mut self, active: bool) {
        self.active = active;
    }
}

/// Answers the view of one of the account's links or mandates, or 404.
fn read_owned<T: Owned>(
    map: &HashMap<String, T>,
    account_id: &str,
    reference: &str,
    view: fn(&T, &str) -> Value,
    missing: &str,
) -> Result<Response, GsmaError> {
    map.get(reference)
        .filter(|o| o.account_id() == account_id)
        .map(|o| answer(StatusCode::OK, view(o, reference)))
        .ok_or_else(|| GsmaError::not_found(missing))
}

/// Completes the request that made a link or mandate with its view.
fn complete_with_view<T: Owned + 'static>(
    sim: &Arc<Sim>,
    id: String,
    reference: String,
    pick: fn(&Consents) -> &HashMap<String, T>,
    view: fn(&T, &str) -> Value,
) {
    complete_later(sim, id, move |sim| {
        let consents = lock(&sim.consents);
        let made = pick(&consents)
            .get(&reference)
            .ok_or_else(GsmaError::internal)?;
        Ok(view(made, &reference))
    });
}

/// Switches one of the account's links or mandates on or off, as a PATCH of `path` asks.
fn patch_owned<T: Owned>(
    map: &mut HashMap<String, T>,
    account_id: &str,
    reference: &str,
    (path, body): (&str, &[u8]),
    missing: &str,
) -> Result<Response, GsmaError> {
    let active = active_from_patch(body, path)?;
    let owned = map
        .get_mut(reference)
        .filter(|o| o.account_id() == account_id)
        .ok_or_else(|| GsmaError::not_found(missing))?;
    owned.set_active(active);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Codes, links and mandates, by reference.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Consents {
    codes: HashMap<String, AuthorisationCode>,
    links: HashMap<String, Link>,
    mandates: HashMap<String, Mandate>,
}

fn business(code: ErrorCode, description: impl Into<String>) -> GsmaError {
    GsmaError::new(ErrorCategory::BusinessRule, code, description)
}

fn declined(description: &str) -> GsmaError {
    GsmaError::new(
        ErrorCategory::Authorisation,
        ErrorCode::RequestDeclined,
        description,
    )
    .with_param("field", "oneTimeCode")
}

fn now_ms() -> i64 {
    Timestamp::now().millis()
}

fn amount_field(body: &Value, field: &str) -> Result<Option<Decimal>, GsmaError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => mmapi_core::Amount::parse(text)
            .map(|a| Some(a.value()))
            .map_err(|e| GsmaError::format(field, e.0)),
        Some(_) => Err(GsmaError::format(
            field,
            format!("{field} must be a string"),
        )),
    }
}

fn currency_field(body: &Value, field: &str) -> Result<Option<Currency>, GsmaError> {
    match body.get(field).and_then(Value::as_str) {
        None => Ok(None),
        Some(code) => Currency::parse(code)
            .map(Some)
            .map_err(|_| GsmaError::format(field, format!("'{code}' is not an ISO 4217 currency"))),
    }
}

fn parties(value: Option<&Value>, field: &str) -> Result<Option<Vec<Party>>, GsmaError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value::<Vec<Party>>(v.clone())
            .ok()
            .filter(|p| !p.is_empty() && p.len() <= 10)
            .map(Some)
            .ok_or_else(|| {
                GsmaError::format(
                    field,
                    format!("{field} is an array of 1 to 10 {{key, value}}"),
                )
            }),
    }
}

impl Consents {
    /// Whether a link of this reference exists.
    pub(crate) fn has_link(&self, reference: &str) -> bool {
        self.links.contains_key(reference)
    }

    /// Whether a mandate of this reference exists.
    pub(crate) fn has_mandate(&self, reference: &str) -> bool {
        self.mandates.contains_key(reference)
    }

    fn code_view(&self, code: &str) -> Option<Value> {
        let c = self.codes.get(code)?;
        let state = match c.state {
            CodeState::Cancelled => "cancelled",
            CodeState::Redeemed => "expired",
            CodeState::Active if c.expires_at_ms.is_some_and(|t| t <= now_ms()) => "expired",
            CodeState::Active => "active",
        };
        let mut view = c.request.clone();
        view["authorisationCode"] = json!(code);
        view["codeState"] = json!(state);
        Some(view)
    }

    /// Checks that `code` lets `account_id` pay `amount` in `currency` by a `transaction_type` payment.
    pub(crate) fn check_code(
        &self,
        code: &str,
        account_id: &str,
        amount: Decimal,
        currency: Currency,
        transaction_type: &str,
    ) -> Result<(), GsmaError> {
        let Some(c) = self.codes.get(code).filter(|c| c.account_id == account_id) else {
            return Err(declined("The payer has no such authorisation code"));
        };
        match c.state {
            CodeState::Cancelled => return Err(declined("The authorisation code was cancelled")),
            CodeState::Redeemed => return Err(declined("The authorisation code was already used")),
            CodeState::Active => {}
        }
        if c.expires_at_ms.is_some_and(|t| t <= now_ms()) {
            return Err(declined("The authorisation code has expired"));
        }
        if c.currency.is_some_and(|cur| cur != currency) {
            return Err(declined("The authorisation code is for another currency"));
        }
        if let Some(limit) = c.amount {
            let fits = if c.exact {
                amount == limit
            } else {
                amount <= limit
            };
            if !fits {
                return Err(declined(
                    "The amount is not what the authorisation code allows",
                ));
            }
        }
        if c.redemption_types
            .as_ref()
            .is_some_and(|types| !types.iter().any(|t| t == transaction_type))
        {
            return Err(declined(
                "The authorisation code does not allow this transaction type",
            ));
        }
        Ok(())
    }

    /// Marks a code used (after [`Consents::check_code`], when the payment completes).
    pub(crate) fn redeem_code(&mut self, code: &str) {
        if let Some(c) = self.codes.get_mut(code) {
            c.state = CodeState::Redeemed;
        }
    }

    /// The account a `linkref` reaches, when the link lets money move that way: `pull` (the linked account
    /// pays) or `push` (it is paid), with `counterparty` among the link's source account's identifiers.
    pub(crate) fn through_link(
        &self,
        link_reference: &str,
        pull: bool,
        counterparty: &str,
        account_of: impl Fn(&[Party]) -> Option<String>,
    ) -> Result<String, GsmaError> {
        let link = self
            .links
            .get(link_reference)
            .ok_or_else(|| GsmaError::not_found("No account link has this linkref"))?;
        let violation = |why: &str| business(ErrorCode::LinkViolation, why);
        if !link.active {
            return Err(violation("The account link is not active"));
        }
        let allowed = match link.mode.as_str() {
            "both" => true,
            "pull" => pull,
            _ => !pull,
        };
        if !allowed {
            return Err(violation(if pull {
                "The account link does not allow pulling money from the linked account"
            } else {
                "The account link does not allow pushing money to the linked account"
            }));
        }
        if account_of(&link.source).as_deref() != Some(counterparty) {
            return Err(violation("Only the link's source account may use it"));
        }
        Ok(link.account_id.clone())
    }

    /// The payer a `mandatereference` names, when the mandate covers this payment.
    pub(crate) fn under_mandate(
        &self,
        reference: &str,
        amount: Decimal,
        currency: Currency,
        payee_id: &str,
        account_of: impl Fn(&[Party]) -> Option<String>,
    ) -> Result<String, GsmaError> {
        let m = self
            .mandates
            .get(reference)
            .ok_or_else(|| GsmaError::not_found("No debit mandate has this reference"))?;
        let refuse = |why: &str| business(ErrorCode::NoMandateAuthority, why);
        let today = chrono::Utc::now().date_naive();
        if !m.active {
            return Err(refuse("The debit mandate is not active"));
        }
        if today < m.start || m.end.is_some_and(|end| today > end) {
            return Err(refuse("The payment is outside the debit mandate's dates"));
        }
        if m.amount_limit.is_some_and(|limit| amount > limit) {
            return Err(refuse("The amount is above the debit mandate's limit"));
        }
        if m.currency.is_some_and(|c| c != currency) {
            return Err(refuse(
                "The payment is in another currency than the debit mandate",
            ));
        }
        if m.number_of_payments.is_some_and(|n| m.payments >= n) {
            return Err(refuse("The debit mandate's payments are all taken"));
        }
        if let Some(payee) = &m.payee {
            if account_of(payee).as_deref() != Some(payee_id) {
                return Err(refuse("The debit mandate is for another payee"));
            }
        }
        Ok(m.account_id.clone())
    }

    /// Counts a payment taken under a mandate.
    pub(crate) fn count_mandate_payment(&mut self, reference: &str) {
        if let Some(m) = self.mandates.get_mut(reference) {
            m.payments += 1;
        }
    }
}

/// `POST …/authorisationcodes`
pub(crate) fn create_code(
    sim: &Arc<Sim>,
    account_id: String,
    account_path: &str,
    headers: &AsyncHeaders,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let request = json_body(body)?;
    let amount = amount_field(&request, "amount")?;
    let currency = currency_field(&request, "currency")?;
    if amount.is_some() && currency.is_none() {
        return Err(GsmaError::mandatory("currency"));
    }
    let exact = match request.get("amountType").and_then(Value::as_str) {
        None | Some("exact") => true,
        Some("maximum") => false,
        Some(other) => {
            return Err(GsmaError::format(
                "amountType",
                format!("'{other}' is not exact or maximum"),
            ))
        }
    };
    let lifetime = match request.get("codeLifetime") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().filter(|s| *s >= 1).ok_or_else(|| {
            GsmaError::format(
                "codeLifetime",
                "codeLifetime is a whole number of seconds, at least 1",
            )
        })?),
    };
    let redemption_types = match request.get("redemptionTransactionTypes") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            serde_json::from_value::<Vec<Value>>(v.clone())
                .ok()
                .map(|types| {
                    types
                        .iter()
                        .filter_map(|t| {
                            t.get("transactionType").or(Some(t)).and_then(Value::as_str)
                        })
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .ok_or_else(|| {
                    GsmaError::format(
                        "redemptionTransactionTypes",
                        "an array of transaction types",
                    )
                })?,
        ),
    };
    let code = format!("{:06}", rand::random::<u32>() % 1_000_000) + &new_reference()[..6];
    let (id, state) = begin(
        sim,
        headers,
        format!("{account_path}/authorisationcodes/{code}"),
        &code,
    )?;
    lock(&sim.consents).codes.insert(
        code.clone(),
        AuthorisationCode {
            account_id,
            amount,
            currency,
            exact,
            expires_at_ms: lifetime.map(|s| now_ms() + s * 1000),
            state: CodeState::Active,
            redemption_types,
            request,
        },
    );
    complete_later(sim, id, move |sim| {
        lock(&sim.consents)
            .code_view(&code)
            .ok_or_else(GsmaError::internal)
    });
    Ok(accepted(state))
}

/// `GET …/authorisationcodes[/{code}]` (the list filtered by `codeState` when given).
pub(crate) fn read_codes(
    sim: &Sim,
    account_id: &str,
    code: Option<&str>,
    code_state: Option<&str>,
) -> Result<Response, GsmaError> {
    let consents = lock(&sim.consents);
    if let Some(code) = code {
        let view = consents
            .codes
            .get(code)
            .filter(|c| c.account_id == account_id)
            .and_then(|_| consents.code_view(code))
            .ok_or_else(|| GsmaError::not_found("No such authorisation code"))?;
        return Ok(answer(StatusCode::OK, view));
    }
    let list: Vec<Value> = consents
        .codes
        .iter()
        .filter(|(_, c)| c.account_id == account_id)
        .filter_map(|(code, _)| consents.code_view(code))
        .filter(|v| code_state.is_none_or(|s| v["codeState"] == s))
        .collect();
    Ok(answer(StatusCode::OK, json!(list)))
}

/// `PATCH …/authorisationcodes/{code}`: `/codeState` → `cancelled`.
pub(crate) fn patch_code(
    sim: &Sim,
    account_id: &str,
    code: &str,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let value = mmapi_core::patch::single_replace(body, "/codeState")?;
    if value != "cancelled" {
        return Err(GsmaError::format(
            "codeState",
            "a code can only be cancelled",
        ));
    }
    let mut consents = lock(&sim.consents);
    let c = consents
        .codes
        .get_mut(code)
        .filter(|c| c.account_id == account_id)
        .ok_or_else(|| GsmaError::not_found("No such authorisation code"))?;
    if c.state != CodeState::Active {
        return Err(business(
            ErrorCode::IncorrectState,
            "The code is no longer active",
        ));
    }
    c.state = CodeState::Cancelled;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The value a PATCH body sets `path` to: `active` (true) or `inactive` (false).
fn active_from_patch(body: &[u8], path: &str) -> Result<bool, GsmaError> {
    let value = mmapi_core::patch::single_replace(body, path)?;
    match value.as_str() {
        "active" => Ok(true),
        "inactive" => Ok(false),
        other => Err(GsmaError::format(
            path.trim_start_matches('/'),
            format!("'{other}' is not active or inactive"),
        )),
    }
}

/// `POST …/links`
pub(crate) fn create_link(
    sim: &Arc<Sim>,
    account_id: String,
    account_path: &str,
    headers: &AsyncHeaders,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let request = json_body(body)?;
    let source = parties(
        request.get("sourceAccountIdentifiers"),
        "sourceAccountIdentifiers",
    )?
    .ok_or_else(|| GsmaError::mandatory("sourceAccountIdentifiers"))?;
    let mode = match request.get("mode").and_then(Value::as_str) {
        Some(m @ ("push" | "pull" | "both")) => m.to_owned(),
        Some(other) => {
            return Err(GsmaError::format(
                "mode",
                format!("'{other}' is not push, pull or both"),
            ))
        }
        None => return Err(GsmaError::mandatory("mode")),
    };
    let active = match request.get("status").and_then(Value::as_str) {
        Some("active") => true,
        Some("inactive") => false,
        Some(other) => {
            return Err(GsmaError::format(
                "status",
                format!("'{other}' is not active or inactive"),
            ))
        }
        None => return Err(GsmaError::mandatory("status")),
    };
    if lock(&sim.ledger).find_all(&source).is_none() {
        return Err(GsmaError::not_found(
            "No account has the sourceAccountIdentifiers",
        ));
    }
    let reference = new_reference();
    let (id, state) = begin(
        sim,
        headers,
        format!("{account_path}/links/{reference}"),
        &reference,
    )?;
    lock(&sim.consents).links.insert(
        reference.clone(),
        Link {
            account_id,
            source,
            mode,
            active,
            request,
        },
    );
    complete_with_view(sim, id, reference, |c| &c.links, link_view);
    Ok(accepted(state))
}

fn link_view(link: &Link, reference: &str) -> Value {
    let mut view = link.request.clone();
    view["linkReference"] = json!(reference);
    view["mode"] = json!(link.mode);
    view["status"] = json!(if link.active { "active" } else { "inactive" });
    view
}

/// `GET …/links/{linkReference}`
pub(crate) fn read_link(
    sim: &Sim,
    account_id: &str,
    reference: &str,
) -> Result<Response, GsmaError> {
    let consents = lock(&sim.consents);
    read_owned(
        &consents.links,
        account_id,
        reference,
        link_view,
        "No such account link",
    )
}

/// `PATCH …/links/{linkReference}`: `/status` → `active` or `inactive`.
pub(crate) fn patch_link(
    sim: &Sim,
    account_id: &str,
    reference: &str,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let mut consents = lock(&sim.consents);
    let change = ("/status", body);
    patch_owned(
        &mut consents.links,
        account_id,
        reference,
        change,
        "No such account link",
    )
}

/// `POST …/debitmandates`
pub(crate) fn create_mandate(
    sim: &Arc<Sim>,
    account_id: String,
    account_path: &str,
    headers: &AsyncHeaders,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let parsed = mmapi_core::mandate::debit_mandate_request(body)?;
    let request = json_body(body)?;
    if let Some(payee) = &parsed.payee {
        if lock(&sim.ledger).find_all(payee).is_none() {
            return Err(GsmaError::not_found(
                "No account has the payee's identifiers",
            ));
        }
    }
    let reference = new_reference();
    let (id, state) = begin(
        sim,
        headers,
        format!("{account_path}/debitmandates/{reference}"),
        &reference,
    )?;
    lock(&sim.consents).mandates.insert(
        reference.clone(),
        Mandate {
            account_id,
            payee: parsed.payee.clone(),
            amount_limit: parsed.amount_limit.as_ref().map(mmapi_core::Amount::value),
            currency: parsed.currency,
            start: parsed.start_date,
            end: parsed.end_date,
            number_of_payments: parsed
                .number_of_payments
                .and_then(|n| u32::try_from(n).ok()),
            payments: 0,
            active: !matches!(
                parsed.mandate_status,
                Some(mmapi_core::mandate::MandateStatus::Inactive)
            ),
            request,
        },
    );
    complete_with_view(sim, id, reference, |c| &c.mandates, mandate_view);
    Ok(accepted(state))
}

fn mandate_view(mandate: &Mandate, reference: &str) -> Value {
    let mut view = mandate.request.clone();
    view["mandateReference"] = json!(reference);
    view["mandateStatus"] = json!(if mandate.active { "active" } else { "inactive" });
    view
}

/// `GET …/debitmandates/{reference}`
pub(crate) fn read_mandate(
    sim: &Sim,
    account_id: &str,
    reference: &str,
) -> Result<Response, GsmaError> {
    let consents = lock(&sim.consents);
    read_owned(
        &consents.mandates,
        account_id,
        reference,
        mandate_view,
        "No such debit mandate",
    )
}

/// `PATCH …/debitmandates/{reference}`: `/mandateStatus` → `active` or `inactive`.
pub(crate) fn patch_mandate(
    sim: &Sim,
    account_id: &str,
    reference: &str,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let mut consents = lock(&sim.consents);
    let change = ("/mandateStatus", body);
    patch_owned(
        &mut consents.mandates,
        account_id,
        reference,
        change,
        "No such debit mandate",
    )
}

/// Whether a transaction type may redeem codes by default (`merchantpay`, `withdrawal`).
pub(crate) fn redeems_codes(transaction_type: TransactionType) -> bool {
    matches!(
        transaction_type,
        TransactionType::Merchantpay | TransactionType::Withdrawal
    )
}
