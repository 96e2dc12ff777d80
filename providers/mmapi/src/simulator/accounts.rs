//! Everything under `/accounts`: the account named by `{accountId}`, by `{identifierType}/{identifier}` or by
//! `type1@value1$type2@value2`, then what is asked of it — the account itself, its status, name and balance,
//! its identities' KYC, its transactions, and its authorisation codes, links and debit mandates. Also
//! `POST /accounts/individual` (a new account with KYC and identities) and `GET /accounts/balance`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use mmapi_core::model::{Kyc, Party, SubjectName};
use mmapi_core::{Currency, GsmaError};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::consents;
use super::ledger::{Account, AccountStatus, Limits};
use super::requests::{accepted, begin, complete_later};
use super::{answer, json_body, lock, page, AsyncHeaders, Sim, SimError};

/// The GSMA account identifier types (`identifierType`).
const IDENTIFIER_TYPES: [&str; 20] = [
    "accountid",
    "msisdn",
    "walletid",
    "linkref",
    "consumerno",
    "serviceprovider",
    "storeid",
    "accountcategory",
    "bankaccountno",
    "accountrank",
    "identityalias",
    "iban",
    "swiftbic",
    "sortcode",
    "organisationid",
    "bankname",
    "bankaccounttitle",
    "username",
    "emailaddress",
    "mandatereference",
];

/// Where a request under `/accounts/` points: the account's identifiers and the rest of the path.
fn split(rest: &str) -> Result<(Vec<Party>, Vec<String>), GsmaError> {
    let segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let Some(first) = segments.first() else {
        return Err(GsmaError::not_found("No account is named"));
    };
    if first.contains('@') {
        let parties = first
            .split('$')
            .map(|pair| {
                pair.split_once('@')
                    .map(|(k, v)| Party {
                        key: k.to_owned(),
                        value: v.to_owned(),
                    })
                    .ok_or_else(|| GsmaError::format("accountId", "type1@value1$type2@value2"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((parties, segments[1..].to_vec()));
    }
    if IDENTIFIER_TYPES.contains(&first.to_ascii_lowercase().as_str()) && segments.len() >= 2 {
        let party = Party {
            key: first.to_ascii_lowercase(),
            value: segments[1].clone(),
        };
        return Ok((vec![party], segments[2..].to_vec()));
    }
    let party = Party {
        key: "accountid".into(),
        value: first.clone(),
    };
    Ok((vec![party], segments[1..].to_vec()))
}

/// `/accounts` itself: nothing is served there.
pub(crate) async fn dispatch_root() -> SimError {
    SimError(GsmaError::not_found("No such resource"))
}

/// Every request under `/accounts/`.
pub(crate) async fn dispatch(
    State(sim): State<Arc<Sim>>,
    Path(rest): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, SimError> {
    if rest == "individual" && method == Method::POST {
        return Ok(create_individual(&sim, &headers, &body)?);
    }
    if rest == "balance" && method == Method::GET {
        // The caller's own account: the simulator has no caller identity, so it is the first seeded account.
        return Ok(balance(&sim, "2000")?);
    }
    let (identifiers, tail) = split(&rest)?;
    let account_path = format!("/accounts/{}", identifiers_path(&identifiers));
    let account_id = lock(&sim.ledger)
        .find_all(&identifiers)
        .map(|a| a.id.clone())
        .ok_or_else(|| GsmaError::not_found("No account has these identifiers"))?;
    let tail: Vec<&str> = tail.iter().map(String::as_str).collect();
    let async_headers = || AsyncHeaders::read(&headers);
    let response = match (method, tail.as_slice()) {
        (Method::GET, []) => account_view(&sim, &account_id),
        (Method::GET, ["status"]) => status(&sim, &account_id),
        (Method::GET, ["accountname"]) => account_name(&sim, &account_id),
        (Method::GET, ["balance"]) => balance(&sim, &account_id),
        (Method::GET, ["transactions"] | ["statemententries"]) => {
            let list = lock(&sim.transactions).of_account(&account_id);
            page(list, &query)
        }
        (Method::PATCH, []) => patch_account(&sim, &account_id, &body),
        (Method::GET, ["billcompanies"]) => Ok(super::bills::companies()),
        (Method::GET, ["bills"]) => super::bills::of_account(&sim, &account_id, &query),
        (Method::GET, ["bills", "payments"]) => {
            super::bills::payments_of_account(&sim, &account_id, &query)
        }
        (Method::POST, ["bills", "payments"]) => {
            super::bills::pay_on_account(&sim, account_id, &async_headers()?, &body)
        }
        (Method::GET, ["bills", reference, "payments"]) => {
            super::bills::payments(&sim, Some(&account_id), reference, &query)
        }
        (Method::POST, ["bills", reference, "payments"]) => {
            super::bills::pay(&sim, Some(account_id), reference, &async_headers()?, &body)
        }
        (Method::PATCH, ["identities", identity]) => {
            patch_identity(&sim, &account_id, identity, &body)
        }
        (Method::POST, ["authorisationcodes"]) => {
            consents::create_code(&sim, account_id, &account_path, &async_headers()?, &body)
        }
        (Method::GET, ["authorisationcodes"]) => consents::read_codes(
            &sim,
            &account_id,
            None,
            query.get("codeState").map(String::as_str),
        ),
        (Method::GET, ["authorisationcodes", code]) => {
            consents::read_codes(&sim, &account_id, Some(code), None)
        }
        (Method::PATCH, ["authorisationcodes", code]) => {
            consents::patch_code(&sim, &account_id, code, &body)
        }
        (Method::POST, ["links"]) => {
            consents::create_link(&sim, account_id, &account_path, &async_headers()?, &body)
        }
        (Method::GET, ["links", reference]) => consents::read_link(&sim, &account_id, reference),
        (Method::PATCH, ["links", reference]) => {
            consents::patch_link(&sim, &account_id, reference, &body)
        }
        (Method::POST, ["debitmandates"]) => {
            consents::create_mandate(&sim, account_id, &account_path, &async_headers()?, &body)
        }
        (Method::GET, ["debitmandates", reference]) => {
            consents::read_mandate(&sim, &account_id, reference)
        }
        (Method::PATCH, ["debitmandates", reference]) => {
            consents::patch_mandate(&sim, &account_id, reference, &body)
        }
        _ => Err(GsmaError::not_found("No such resource")),
    };
    Ok(response?)
}

fn identifiers_path(identifiers: &[Party]) -> String {
    match identifiers {
        [one] => format!("{}/{}", one.key, one.value),
        many => many
            .iter()
            .map(|p| format!("{}@{}", p.key, p.value))
            .collect::<Vec<_>>()
            .join("$"),
    }
}

fn with_account<T>(sim: &Sim, id: &str, f: impl FnOnce(&Account) -> T) -> Result<T, GsmaError> {
    lock(&sim.ledger)
        .get(id)
        .map(f)
        .ok_or_else(|| GsmaError::not_found("No such account"))
}

fn status_text(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Available => "available",
        AccountStatus::Unavailable => "unavailable",
    }
}

fn identities_view(account: &Account) -> Value {
    json!(account
        .identities
        .iter()
        .map(|(id, kyc)| json!({
            "identityId": id,
            "identityType": "individual",
            "identityKyc": kyc,
            "accountRelationship": "accountholder",
            "kycVerificationStatus": "verified",
        }))
        .collect::<Vec<_>>())
}

fn account_object(account: &Account) -> Value {
    json!({
        "accountIdentifiers": account.identifiers,
        "identity": identities_view(account),
        "accountType": "default",
        "accountStatus": status_text(account.status),
        "currentBalance": account.balance.normalize().to_string(),
        "currency": account.currency,
    })
}

fn account_view(sim: &Sim, id: &str) -> Result<Response, GsmaError> {
    with_account(sim, id, |a| answer(StatusCode::OK, account_object(a)))
}

fn status(sim: &Sim, id: &str) -> Result<Response, GsmaError> {
    with_account(sim, id, |a| {
        let mut body = json!({"accountStatus": status_text(a.status)});
        if let Some(sub) = &a.sub_status {
            body["subStatus"] = json!(sub);
        }
        answer(StatusCode::OK, body)
    })
}

fn account_name(sim: &Sim, id: &str) -> Result<Response, GsmaError> {
    with_account(sim, id, |a| answer(StatusCode::OK, json!({"name": a.name})))
}

fn balance(sim: &Sim, id: &str) -> Result<Response, GsmaError> {
    with_account(sim, id, |a| {
        let amount = a.balance.normalize().to_string();
        answer(
            StatusCode::OK,
            json!({
                "accountStatus": status_text(a.status),
                "currentBalance": amount,
                "availableBalance": amount,
                "reservedBalance": "0",
                "unclearedBalance": "0",
                "currency": a.currency,
            }),
        )
    })
}

/// `POST /accounts/individual`: a new account with its identifiers (none of them taken), its holder's KYC and
/// identities. Its currency is `customData` `currency` (default USD), its opening balance
/// `customData` `openingBalance` (default 0).
fn create_individual(
    sim: &Arc<Sim>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let headers = AsyncHeaders::read(headers)?;
    let request = json_body(body)?;
    let identifiers: Vec<Party> = match request.get("accountIdentifiers") {
        Some(v) => serde_json::from_value(v.clone())
            .ok()
            .filter(|p: &Vec<Party>| !p.is_empty() && p.len() <= 10)
            .ok_or_else(|| {
                GsmaError::format("accountIdentifiers", "an array of 1 to 10 {key, value}")
            })?,
        None => Vec::new(),
    };
    let identities = request
        .get("identity")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
        .ok_or_else(|| GsmaError::mandatory("identity"))?;
    let mut kycs = Vec::new();
    for (i, identity) in identities.iter().enumerate() {
        let kyc: Kyc = identity
            .get("identityKyc")
            .cloned()
            .ok_or_else(|| GsmaError::mandatory(&format!("identity[{i}].identityKyc")))
            .and_then(|k| {
                serde_json::from_value(k).map_err(|e| {
                    GsmaError::format(&format!("identity[{i}].identityKyc"), e.to_string())
                })
            })?;
        if identity
            .get("accountRelationship")
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(GsmaError::mandatory(&format!(
                "identity[{i}].accountRelationship"
            )));
        }
        kycs.push(((i + 1).to_string(), kyc));
    }
    let custom = |key: &str| {
        request["customData"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["key"] == key))
            .and_then(|i| i["value"].as_str().map(str::to_owned))
    };
    let currency = match custom("currency") {
        Some(code) => Currency::parse(&code)
            .map_err(|_| GsmaError::format("customData.currency", "not an ISO 4217 currency"))?,
        None => Currency::parse("USD").map_err(|_| GsmaError::internal())?,
    };
    let opening: Decimal = match custom("openingBalance") {
        Some(text) => mmapi_core::Amount::parse(&text)
            .map_err(|e| GsmaError::format("customData.openingBalance", e.0))?
            .value(),
        None => Decimal::ZERO,
    };
    let name = kycs
        .first()
        .and_then(|(_, k)| k.subject_name.clone())
        .unwrap_or_else(SubjectName::default);
    let account_id = {
        let mut ledger = lock(&sim.ledger);
        if ledger.taken(&identifiers) {
            return Err(mmapi_core::GsmaError::duplicate_request(
                "An account already has one of these identifiers",
            ));
        }
        ledger.open(Account {
            id: String::new(),
            identifiers,
            currency,
            balance: opening,
            status: AccountStatus::Available,
            sub_status: None,
            name,
            identities: kycs,
            limits: Limits::default(),
            declines: false,
            spent: HashMap::new(),
        })
    };
    let (id, state) = begin(
        sim,
        &headers,
        format!("/accounts/accountid/{account_id}"),
        &account_id,
    )?;
    complete_later(sim, id, move |sim| {
        lock(&sim.ledger)
            .get(&account_id)
            .map(account_object)
            .ok_or_else(GsmaError::internal)
    });
    Ok(accepted(state))
}

/// The operations of a PATCH body (1 to 10).
fn patch_operations(body: &[u8]) -> Result<Vec<mmapi_core::patch::GenericPatch>, GsmaError> {
    let operations: Vec<mmapi_core::patch::GenericPatch> =
        mmapi_core::parse::typed(json_body(body)?)?;
    if operations.is_empty() || operations.len() > 10 {
        return Err(GsmaError::format(
            "body",
            "A PATCH body is an array of 1 to 10 operations",
        ));
    }
    Ok(operations)
}

/// `PATCH /accounts/{…}`: `replace` of `/accountStatus` (`available`, `unavailable`) or `/subStatus`.
fn patch_account(sim: &Sim, account_id: &str, body: &[u8]) -> Result<Response, GsmaError> {
    let operations = patch_operations(body)?;
    let mut changes = Vec::new();
    for (i, op) in operations.iter().enumerate() {
        if op.op != "replace" {
            return Err(GsmaError::format(&format!("[{i}].op"), "use replace"));
        }
        let change =
            match (op.path.as_str(), op.value.as_str()) {
                ("/accountStatus", "available") => (Some(AccountStatus::Available), None),
                ("/accountStatus", "unavailable") => (Some(AccountStatus::Unavailable), None),
                ("/subStatus", sub) => (None, Some(sub.to_owned())),
                _ => return Err(GsmaError::format(
                    &format!("[{i}]"),
                    "only /accountStatus (available, unavailable) and /subStatus can be changed",
                )),
            };
        changes.push(change);
    }
    let mut ledger = lock(&sim.ledger);
    let account = ledger
        .get_mut(account_id)
        .ok_or_else(|| GsmaError::not_found("No such account"))?;
    for (status, sub_status) in changes {
        if let Some(status) = status {
            account.status = status;
        }
        if let Some(sub) = sub_status {
            account.sub_status = Some(sub);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH …/identities/{identityId}`: `replace` operations on the identity's KYC, e.g.
/// `[{"op":"replace","path":"/identityKyc/nationality","value":"GB"}]`; the account's name follows the first
/// identity's `subjectName`.
fn patch_identity(
    sim: &Sim,
    account_id: &str,
    identity: &str,
    body: &[u8],
) -> Result<Response, GsmaError> {
    let operations = patch_operations(body)?;
    let mut ledger = lock(&sim.ledger);
    let account = ledger
        .get_mut(account_id)
        .ok_or_else(|| GsmaError::not_found("No such account"))?;
    let index = account
        .identities
        .iter()
        .position(|(id, _)| id == identity)
        .ok_or_else(|| GsmaError::not_found("No such identity"))?;
    let mut kyc = serde_json::to_value(&account.identities[index].1).unwrap_or_else(|_| json!({}));
    for (i, op) in operations.iter().enumerate() {
        let Some(pointer) = op.path.strip_prefix("/identityKyc/") else {
            return Err(GsmaError::format(
                &format!("[{i}].path"),
                "only /identityKyc/… can be changed",
            ));
        };
        if op.op != "replace" && op.op != "add" {
            return Err(GsmaError::format(&format!("[{i}].op"), "use replace"));
        }
        set_pointer(&mut kyc, pointer, Value::String(op.value.clone()));
    }
    let updated: Kyc = serde_json::from_value(kyc).map_err(|e| {
        GsmaError::format("identityKyc", format!("the KYC would not be valid: {e}"))
    })?;
    if index == 0 {
        if let Some(name) = &updated.subject_name {
            account.name = name.clone();
        }
    }
    account.identities[index].1 = updated;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sets `value` at a `/`-separated path, creating objects on the way.
fn set_pointer(target: &mut Value, pointer: &str, value: Value) {
    let mut node = target;
    let parts: Vec<&str> = pointer.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = json!({});
        }
        let Some(map) = node.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        node = map.entry((*part).to_owned()).or_insert_with(|| json!({}));
    }
}
