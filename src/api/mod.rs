//! The GSMA facade: axum routes, header handling and GSMA error responses. Handlers stay thin: they parse, call
//! the engine, and shape the answer.

pub mod account_status;
pub mod accounts;
pub mod batches;
pub mod bills;
pub mod capabilities;
pub mod docs;
pub mod error;
mod forward;
pub mod headers;
pub mod internal;
pub mod json;
pub mod limits;
pub mod mandates;
pub mod quotations;
pub mod statements;
pub mod supporting;
pub mod transactions;
pub mod unsupported;

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use axum::routing::{get, patch, post};
use axum::Router;
use mmapi_core::GsmaError;

use crate::auth::ClientRegistry;
use crate::engine::Engine;
use error::ApiError;

/// The mount points of the GSMA API: the gateway's own, and the GSMA sandbox's two, so that unmodified GSMA
/// SDKs work by changing only the host. All of them need the same client credentials.
pub const MOUNTS: [&str; 3] = [
    "/v1.2/mm",
    "/simulator/v1.2/passthrough/mm",
    "/2/oauth/simulator/v1.2/mm",
];

/// The GSMA routes, relative to a mount point. All but `/heartbeat` need an authenticated client.
pub fn gsma_routes(engine: Arc<Engine>, clients: Arc<ClientRegistry>) -> Router {
    account_and_transaction_routes(Router::new())
        .route(
            "/transactions/type/{transactionType}",
            post(transactions::create),
        )
        .route(
            "/transactions/{transactionReference}",
            get(transactions::get),
        )
        .route(
            "/transactions/{transactionReference}/reversals",
            post(transactions::reverse),
        )
        .route(
            "/accounts/{accountId}/balance",
            get(accounts::balance_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/accountname",
            get(accounts::account_name),
        )
        .route(
            "/accounts/{accountId}/transactions",
            get(accounts::transactions_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/transactions",
            get(accounts::transactions),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/balance",
            get(accounts::balance),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/debitmandates",
            post(mandates::create_by_identifier),
        )
        .route(
            "/accounts/{accountId}/debitmandates",
            post(mandates::create_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}",
            get(mandates::get_by_identifier).patch(mandates::cancel_by_identifier),
        )
        .route(
            "/accounts/{accountId}/debitmandates/{debitMandateReference}",
            get(mandates::get_by_id).patch(mandates::cancel_by_id),
        )
        .route("/billcompanies", get(bills::companies))
        .route(
            "/accounts/{identifierType}/{identifier}/billcompanies",
            get(bills::account_companies),
        )
        .route(
            "/accounts/{accountId}/billcompanies",
            get(bills::account_companies_by_id),
        )
        .route("/billcompanies/{serviceProvider}", get(bills::company))
        .route("/billers/bills", post(bills::issue))
        .route("/billers/bills/bulk", post(bills::issue_bulk))
        .route(
            "/billers/bills/{billReference}",
            axum::routing::delete(bills::cancel),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/bills",
            get(bills::bills),
        )
        .route("/accounts/{accountId}/bills", get(bills::bills_by_id))
        .route(
            "/accounts/{identifierType}/{identifier}/bills/payments",
            post(bills::pay_oldest_by_identifier).get(bills::customer_payments_by_identifier),
        )
        .route(
            "/accounts/{accountId}/bills/payments",
            post(bills::pay_oldest_by_id).get(bills::customer_payments_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments",
            post(bills::pay_by_identifier).get(bills::payments_by_identifier),
        )
        .route(
            "/accounts/{accountId}/bills/{billReference}/payments",
            post(bills::pay_by_id).get(bills::payments_by_id),
        )
        .route(
            "/bills/{billReference}/payments",
            post(bills::pay_by_reference).get(bills::payments_by_reference),
        )
        .route("/quotations", post(quotations::create))
        .route("/quotations/{quotationReference}", get(quotations::get))
        .route("/batchtransactions", post(batches::create))
        .route(
            "/batchtransactions/{batchId}",
            get(batches::get).patch(batches::update),
        )
        .route(
            "/batchtransactions/{batchId}/completions",
            get(batches::completions),
        )
        .route(
            "/batchtransactions/{batchId}/rejections",
            get(batches::rejections),
        )
        .route(
            "/requeststates/{serverCorrelationId}",
            get(supporting::request_state),
        )
        .route(
            "/responses/{clientCorrelationId}",
            get(supporting::response),
        )
        // Route layers run in the reverse order of their addition: authentication, then the rate limit, then
        // the content hash.
        .route_layer(axum::middleware::from_fn(limits::content_hash))
        .route_layer(axum::middleware::from_fn(limits::rate_limit))
        .route_layer(axum::middleware::from_fn_with_state(
            clients,
            crate::auth::middleware::require_client,
        ))
        .route("/heartbeat", get(supporting::heartbeat))
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(engine)
}

/// The rest of the GSMA 1.2 surface (issue 9, points 6 to 8): the deprecated `POST /transactions`, cancellation
/// by `PATCH /transactions/{transactionReference}`, statement entries, account status, the caller's own balance,
/// the capability table, and every operation no operator can carry ([`unsupported`]). Paths shared with the
/// routes added after these merge with them, one method each.
fn account_and_transaction_routes(router: Router<Arc<Engine>>) -> Router<Arc<Engine>> {
    let router = router
        .route(
            "/transactions",
            post(transactions::create_with_type_in_body),
        )
        .route(
            "/transactions/{transactionReference}",
            patch(transactions::update),
        )
        .route("/accounts/balance", get(account_status::own_balance))
        .route(
            "/accounts/{accountId}/status",
            get(account_status::status_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/status",
            get(account_status::status),
        )
        .route(
            "/accounts/{accountId}/accountname",
            get(account_status::account_name_by_id),
        )
        .route(
            "/accounts/{accountId}/statemententries",
            get(statements::statement_entries_by_id),
        )
        .route(
            "/accounts/{identifierType}/{identifier}/statemententries",
            get(statements::statement_entries),
        )
        .route(
            "/statemententries/{transactionReference}",
            get(statements::statement_entry),
        )
        .route("/capabilities", get(capabilities::capabilities));
    unsupported::routes(router)
}

/// Reads a single path parameter, turning a malformed one into a GSMA error.
pub fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(p)| p).map_err(|e| {
        GsmaError::format(
            "path",
            format!("Malformed path parameter: {}", e.body_text()),
        )
        .into()
    })
}
