//! The operations of the GSMA 1.2 specification that no operator behind the gateway can carry today. Each is
//! routed (so a client never meets an unrouted 404 or a 405) and answers one GSMA error object that names why:
//! `400 {"errorCategory":"businessRule","errorCode":"genericError",…}` with `errorParameters`
//! `[{"key":"operationId","value":…},{"key":"reason","value":…}]`.
//!
//! Why `businessRule/genericError`: the 38 harmonised codes have none for "operation not offered".
//! `transactionTypeError` is the code for a transaction *type* a provider does not carry (the gateway uses it
//! for `inttransfer`, through the router); `identification` (404) would read as an unknown resource and
//! `serviceUnavailable` (503) as an outage a client should retry. A business rule of this gateway ("no M-Pesa
//! API offers this") is what it is, and the description and `reason` say which.
//!
//! The table [`UNSUPPORTED`] is the single source: the router mounts it, the capability table
//! ([`super::capabilities`]) lists it. When a later provider or feature serves one of these operations, remove
//! its row and route the real handler.

use std::sync::Arc;

use axum::routing::{on, MethodFilter};
use axum::Router;
use mmapi_core::error::{ErrorCategory, ErrorCode};
use mmapi_core::GsmaError;

use super::error::ApiError;
use crate::engine::Engine;

/// Why a group of operations is not offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// Account opening, account records and KYC changes: M-Pesa offers businesses none of them.
    NoAccountManagement,
    /// Account-to-account links.
    NoAccountLinks,
    /// Pre-authorised (one-time) codes.
    NoAuthorisationCodes,
    /// Deprecated in MMAPI 1.2 and not offered.
    Deprecated,
}

impl Reason {
    /// The `reason` value in `errorParameters` and the capability table.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoAccountManagement => "noAccountManagement",
            Reason::NoAccountLinks => "noAccountLinks",
            Reason::NoAuthorisationCodes => "noAuthorisationCodes",
            Reason::Deprecated => "deprecated",
        }
    }

    /// The error description a client reads (at most 256 characters).
    pub fn description(self) -> &'static str {
        match self {
            Reason::NoAccountManagement => {
                "Not offered: no M-Pesa API behind this gateway lets a business open accounts, read or change \
                 account records, or update KYC; do this with the operator"
            }
            Reason::NoAccountLinks => {
                "Not offered: no M-Pesa API behind this gateway links accounts"
            }
            Reason::NoAuthorisationCodes => {
                "Not offered: no M-Pesa API behind this gateway issues pre-authorised (one-time) codes"
            }
            Reason::Deprecated => {
                "Not offered: this operation is deprecated in MMAPI 1.2; use the resource's own PATCH"
            }
        }
    }
}

/// One operation of the GSMA 1.2 master that the gateway routes but cannot carry.
#[derive(Clone, Copy, Debug)]
pub struct Unsupported {
    /// `GET`, `POST` or `PATCH`.
    pub method: &'static str,
    /// The path as in the GSMA specification (relative to a mount point).
    pub path: &'static str,
    /// The GSMA `operationId`.
    pub operation_id: &'static str,
    /// Why it is not offered.
    pub reason: Reason,
}

const fn op(
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    reason: Reason,
) -> Unsupported {
    Unsupported {
        method,
        path,
        operation_id,
        reason,
    }
}

use Reason::*;

/// Every operation of the GSMA 1.2 master that answers "not offered" (batches are routed by their own module).
#[rustfmt::skip]
pub const UNSUPPORTED: &[Unsupported] = &[
    // Accounts: creation, records, KYC.
    op("POST", "/accounts/{identityType}", "accountsPOST", NoAccountManagement),
    op("GET", "/accounts/{accountId}", "accountsAccountIdGET", NoAccountManagement),
    op("PATCH", "/accounts/{accountId}", "accountsAccountIdPATCH", NoAccountManagement),
    op("GET", "/accounts/{identifierType}/{identifier}", "accountsIdentifierTypeIdentifierGET", NoAccountManagement),
    op("PATCH", "/accounts/{identifierType}/{identifier}", "accountsIdentifierTypeIdentifierPATCH", NoAccountManagement),
    op("PATCH", "/accounts/{accountId}/identities/{identityId}", "accountIdentitiesAccountIdPATCH", NoAccountManagement),
    op("PATCH", "/accounts/{identifierType}/{identifier}/identities/{identityId}", "accountIdentitiesIdentifierTypeIdentifierPATCH", NoAccountManagement),
    // Bills.
    // Debit mandates: all served by `api::mandates` (PATCH cancels one).
    // Links.
    op("POST", "/accounts/{accountId}/links", "accountsAccountIdLinksPOST", NoAccountLinks),
    op("POST", "/accounts/{identifierType}/{identifier}/links", "accountsIdentifierTypeIdentifierLinksPOST", NoAccountLinks),
    op("GET", "/accounts/{accountId}/links/{linkReference}", "accountsAccountIdLinksLinkReferenceGET", NoAccountLinks),
    op("PATCH", "/accounts/{accountId}/links/{linkReference}", "accountsAccountIdLinksLinkReferencePATCH", NoAccountLinks),
    op("GET", "/accounts/{identifierType}/{identifier}/links/{linkReference}", "accountsIdentifierTypeIdentifierLinksLinkReferenceGET", NoAccountLinks),
    op("PATCH", "/accounts/{identifierType}/{identifier}/links/{linkReference}", "accountsIdentifierTypeIdentifierLinksLinkReferencePATCH", NoAccountLinks),
    // Authorisation codes.
    op("POST", "/accounts/{accountId}/authorisationcodes", "accountsAccountIdAuthorisationcodesPOST", NoAuthorisationCodes),
    op("GET", "/accounts/{accountId}/authorisationcodes", "accountsAccountIdAuthorisationcodesGET", NoAuthorisationCodes),
    op("POST", "/accounts/{identifierType}/{identifier}/authorisationcodes", "accountsIdentifierTypeIdentifierAuthorisationCodesPOST", NoAuthorisationCodes),
    op("GET", "/accounts/{identifierType}/{identifier}/authorisationcodes", "accountsIdentifierTypeIdentifierAuthorisationCodesGET", NoAuthorisationCodes),
    op("GET", "/accounts/{accountId}/authorisationcodes/{authorisationCode}", "accountsAccountIdAuthorisationCodeAuthorisationCodeGET", NoAuthorisationCodes),
    op("PATCH", "/accounts/{accountId}/authorisationcodes/{authorisationCode}", "accountsAccountIdAuthorisationCodesAuthorisationCodePATCH", NoAuthorisationCodes),
    op("GET", "/accounts/{identifierType}/{identifier}/authorisationcodes/{authorisationCode}", "accountsIdentifierTypeIdentifierAuthorisationCodesAuthorisationCodeGET", NoAuthorisationCodes),
    op("PATCH", "/accounts/{identifierType}/{identifier}/authorisationcodes/{authorisationCode}", "accountsIdentifierTypeIdentifierAuthorisationCodesAuthorisationCodePATCH", NoAuthorisationCodes),
    // Supporting.
    op("PATCH", "/requeststates/{serverCorrelationId}", "requeststatesServerCorrelationIdPATCH", Deprecated),
];

impl Unsupported {
    /// The error object this operation answers.
    pub fn error(&self) -> GsmaError {
        GsmaError::new(
            ErrorCategory::BusinessRule,
            ErrorCode::GenericError,
            self.reason.description(),
        )
        .with_param("operationId", self.operation_id)
        .with_param("reason", self.reason.as_str())
    }

    /// The path as the router knows it. `POST /accounts/{identityType}` shares its route with
    /// `GET /accounts/{accountId}`, and a route has one parameter name.
    pub fn route_path(&self) -> &'static str {
        if self.path == "/accounts/{identityType}" {
            "/accounts/{accountId}"
        } else {
            self.path
        }
    }

    fn method_filter(&self) -> MethodFilter {
        match self.method {
            "GET" => MethodFilter::GET,
            "POST" => MethodFilter::POST,
            _ => MethodFilter::PATCH,
        }
    }
}

/// Adds a route for every row of [`UNSUPPORTED`]. Account management, links and authorisation codes are forwarded
/// to a GSMA-speaking operator that holds the account ([`super::forward`]); otherwise, and for the other rows,
/// each answers its error object. Rows that share a path with each other or with real routes merge with them
/// (one method each).
pub fn routes(mut router: Router<Arc<Engine>>) -> Router<Arc<Engine>> {
    for entry in UNSUPPORTED {
        let forwardable = matches!(
            entry.reason,
            Reason::NoAccountManagement | Reason::NoAccountLinks | Reason::NoAuthorisationCodes
        );
        router = if forwardable {
            router.route(
                entry.route_path(),
                on(
                    entry.method_filter(),
                    move |state, caller, method, uri, headers, body| {
                        super::forward::forward_or_refuse(
                            entry, state, caller, method, uri, headers, body,
                        )
                    },
                ),
            )
        } else {
            router.route(
                entry.route_path(),
                on(entry.method_filter(), move || async move {
                    ApiError::from(entry.error())
                }),
            )
        };
    }
    router
}

impl Reason {
    /// The GSMA tag its operations are filed under in the OpenAPI document.
    fn tag(self) -> &'static str {
        match self {
            Reason::NoAccountManagement => "Accounts",
            Reason::NoAccountLinks => "Links",
            Reason::NoAuthorisationCodes => "Authorisation Codes",
            Reason::Deprecated => "Supporting",
        }
    }
}

/// Adds every row of [`UNSUPPORTED`] to the OpenAPI document: its path, parameters, the 400 it answers and why.
pub struct NotOffered;

impl utoipa::Modify for NotOffered {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
        use utoipa::openapi::{Content, Deprecated, Ref, Required, ResponseBuilder, Schema, Type};
        for entry in UNSUPPORTED {
            let method = match entry.method {
                "GET" => HttpMethod::Get,
                "POST" => HttpMethod::Post,
                _ => HttpMethod::Patch,
            };
            let parameters = entry
                .path
                .split('/')
                .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
                .map(|name| {
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        .schema(Some(Schema::Object(utoipa::openapi::Object::with_type(
                            Type::String,
                        ))))
                        .build()
                });
            let error = ResponseBuilder::new()
                .description(format!(
                    "Not offered (businessRule/genericError, reason {}): {}",
                    entry.reason.as_str(),
                    entry.reason.description()
                ))
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("errorObject"))),
                )
                .build();
            let operation = OperationBuilder::new()
                .tag(entry.reason.tag())
                .operation_id(Some(entry.operation_id))
                .summary(Some("Not offered by this gateway"))
                .description(Some(entry.reason.description()))
                .parameters(Some(parameters))
                .deprecated((entry.reason == Reason::Deprecated).then_some(Deprecated::True))
                .response("400", error)
                .build();
            openapi
                .paths
                .add_path_operation(entry.path, vec![method], operation);
        }
        let tags = openapi.tags.get_or_insert_with(Vec::new);
        for (name, description) in [
            (
                "Bills",
                "Bills a customer owes and their payments, by API or from the phone",
            ),
            (
                "Links",
                "Account links: not offered (no M-Pesa API carries them)",
            ),
            (
                "Authorisation Codes",
                "Pre-authorised codes: not offered (no M-Pesa API carries them)",
            ),
        ] {
            if !tags.iter().any(|t| t.name == name) {
                let mut tag = utoipa::openapi::tag::Tag::new(name);
                tag.description = Some(description.to_owned());
                tags.push(tag);
            }
        }
    }
}

/// The row of an operation, by its GSMA `operationId`.
pub fn by_operation_id(operation_id: &str) -> Option<&'static Unsupported> {
    UNSUPPORTED.iter().find(|u| u.operation_id == operation_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_the_error_object() {
        for entry in UNSUPPORTED {
            assert!(entry.reason.description().len() <= 256, "{entry:?}");
            let error = entry.error();
            assert_eq!(error.http_status(), 400);
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<&str> = UNSUPPORTED.iter().map(|u| u.operation_id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
