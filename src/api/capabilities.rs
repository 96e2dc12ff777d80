//! `GET /capabilities` (an extension of the GSMA API): what this gateway can do, per provider and market, and
//! what each operation of the GSMA 1.2 specification answers. It is built from the facts the gateway routes
//! by: the router's markets (which provider serves a currency, and the transaction types it carries), the
//! operations the API routes to handlers ([`SUPPORTED`]) and those it answers "not offered"
//! ([`super::unsupported::UNSUPPORTED`]). The README prints it as a table ([`markdown`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use mmapi_core::model::TransactionType;
use mmapi_core::GsmaError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::GsmaJson;
use super::unsupported::UNSUPPORTED;
use crate::engine::Engine;

/// One operation the gateway serves, with where it works when not everywhere.
#[derive(Clone, Copy, Debug)]
pub struct Supported {
    /// `GET`, `POST` or `PATCH`.
    pub method: &'static str,
    /// The path as in the GSMA specification.
    pub path: &'static str,
    /// The GSMA `operationId`.
    pub operation_id: &'static str,
    /// Where or how it works, when that depends on the market.
    pub note: &'static str,
}

const fn served(
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    note: &'static str,
) -> Supported {
    Supported {
        method,
        path,
        operation_id,
        note,
    }
}

const TRANSACTION_NOTE: &str = "the transaction types each market carries (see markets)";
const LIST_NOTE: &str = "from the gateway's store: transactions through the gateway and payments reported into the account";
const ACCOUNT_LIST_NOTE: &str = "from the gateway's store: transactions through the gateway and payments reported into the account; an account of a GSMA-speaking operator that keeps statements: the operator's statement";
const BALANCE_NOTE: &str = "KES (Daraja): organisation accounts the gateway holds";
const STATUS_NOTE: &str = "KES (Daraja): organisation accounts the gateway holds, from the balance enquiry; elsewhere businessRule/genericError";
const NAME_NOTE: &str =
    "GHS (M-Pesa OpenAPI, queryBeneficiaryName); elsewhere identification/identifierError";
const MANDATE_NOTE: &str =
    "M-Pesa OpenAPI markets that offer direct debits; Kenya as an M-Pesa Ratiba standing order";
const BILL_NOTE: &str = "bills the client issued (POST /billers/bills, an extension)";
const BILL_OLDEST_NOTE: &str =
    "pays the customer's oldest open bill of the client, as by its reference; none open: at the customer's GSMA-speaking operator";
const BILL_PAY_NOTE: &str = "a billpay transaction to the bill's paybill and account reference (Daraja: STK Push; M-Pesa OpenAPI: c2bPayment)";
const CUSTOMER_BILL_NOTE: &str = "bills the client issued (POST /billers/bills, an extension); where it holds none for the customer, the bills the customer's GSMA-speaking operator presents";
const CUSTOMER_BILL_PAY_NOTE: &str = "a billpay transaction to the bill's paybill and account reference (Daraja: STK Push; M-Pesa OpenAPI: c2bPayment); a bill of the customer's GSMA-speaking operator is paid there";

/// The operations of the GSMA 1.2 master the gateway routes to handlers.
#[rustfmt::skip]
const BATCH_NOTE: &str = "bulk disbursements: each item a disbursement through its market's operator";

pub const SUPPORTED: &[Supported] = &[
    served("POST", "/transactions", "transactionsPOST", "deprecated form: the type in the body; as POST /transactions/type/{transactionType}"),
    served("POST", "/transactions/type/{transactionType}", "transactionstypetransactionTypePUT", TRANSACTION_NOTE),
    served("GET", "/transactions/{transactionReference}", "transactionsTransactionReferenceGET", ""),
    served("PATCH", "/transactions/{transactionReference}", "transactionsTransactionReferencePATCH", "cancels a transaction not yet sent to the operator"),
    served("POST", "/transactions/{transactionReference}/reversals", "transactionsTransactionReferenceReversalsPOST", "markets that carry reversal (and adjustment for refunds)"),
    served("GET", "/accounts/{accountId}/status", "accountsAccountIdStatusGET", STATUS_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/status", "accountsIdentifierTypeIdentifierStatusGET", STATUS_NOTE),
    served("GET", "/accounts/{accountId}/accountname", "accountsAccountIdAccountnameGET", NAME_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/accountname", "accountsIdentifierTypeIdentifierAccountnameGET", NAME_NOTE),
    served("GET", "/accounts/{accountId}/balance", "accountsAccountIdBalanceGET", BALANCE_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/balance", "accountsIdentifierTypeIdentifierBalanceGET", BALANCE_NOTE),
    served("GET", "/accounts/balance", "accountsBalanceGET", "the one account granted to the client; KES (Daraja)"),
    served("GET", "/accounts/{accountId}/transactions", "accountsAccountIdTransactionsGET", ACCOUNT_LIST_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/transactions", "accountsIdentifierTypeIdentifierTransactionsGET", ACCOUNT_LIST_NOTE),
    served("GET", "/accounts/{accountId}/statemententries", "accountsAccountIdStatemententriesGET", ACCOUNT_LIST_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/statemententries", "accountsIdentifierTypeIdentifierStatemententriesGET", ACCOUNT_LIST_NOTE),
    served("GET", "/statemententries/{transactionReference}", "statemententriesTransactionReferenceGET", LIST_NOTE),
    served("POST", "/accounts/{accountId}/debitmandates", "accountsAccountIdDebitmandatesPOST", MANDATE_NOTE),
    served("POST", "/accounts/{identifierType}/{identifier}/debitmandates", "accountsIdentifierTypeIdentifierDebitmandatesPOST", MANDATE_NOTE),
    served("GET", "/accounts/{accountId}/debitmandates/{debitMandateReference}", "accountsAccountIdDebitmandatesDebitMandateReferenceGET", MANDATE_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}", "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferenceGET", MANDATE_NOTE),
    served("PATCH", "/accounts/{accountId}/debitmandates/{debitMandateReference}", "accountsAccountIdDebitmandatesDebitMandateReferencePATCH", "cancels a mandate (mandateStatus inactive); M-Pesa OpenAPI markets that offer direct debits (Ratiba offers no cancel API)"),
    served("PATCH", "/accounts/{identifierType}/{identifier}/debitmandates/{debitMandateReference}", "accountsIdentifierTypeIdentifierDebitmandatesDebitMandateReferencePATCH", "cancels a mandate (mandateStatus inactive); M-Pesa OpenAPI markets that offer direct debits (Ratiba offers no cancel API)"),
    served("POST", "/batchtransactions", "batchtransactionsPOST", BATCH_NOTE),
    served("GET", "/batchtransactions/{batchId}", "batchtransactionsBatchIdGET", BATCH_NOTE),
    served("PATCH", "/batchtransactions/{batchId}", "batchtransactionsBatchIdPATCH", "approves a batch posted as created (maker/checker)"),
    served("GET", "/batchtransactions/{batchId}/rejections", "batchtransactionsBatchIdRejectionsGET", BATCH_NOTE),
    served("GET", "/batchtransactions/{batchId}/completions", "batchtransactionsBatchIdCompletionsGET", BATCH_NOTE),
    served("GET", "/billcompanies", "billCompaniesGET", "the configured paybills ([[bills.companies]])"),
    served("GET", "/billcompanies/{serviceProvider}", "billCompaniesServiceProviderGET", "the configured paybills ([[bills.companies]])"),
    served("GET", "/accounts/{accountId}/billcompanies", "accountsAccountIdBillCompaniesGET", "every configured paybill"),
    served("GET", "/accounts/{identifierType}/{identifier}/billcompanies", "accountsIdentifierTypeIdentifierBillCompaniesGET", "every configured paybill"),
    served("GET", "/accounts/{accountId}/bills", "accountsAccountIdBillsGET", CUSTOMER_BILL_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/bills", "accountsIdentifierTypeIdentifierBillsGET", CUSTOMER_BILL_NOTE),
    served("POST", "/accounts/{accountId}/bills/{billReference}/payments", "accountsAccountIdBillsBillReferencePaymentsPOST", CUSTOMER_BILL_PAY_NOTE),
    served("GET", "/accounts/{accountId}/bills/{billReference}/payments", "accountsAccountIdBillsBillReferencePaymentsGET", CUSTOMER_BILL_NOTE),
    served("POST", "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments", "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsPOST", CUSTOMER_BILL_PAY_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/bills/{billReference}/payments", "accountsIdentifierTypeIdentifierBillsBillReferencePaymentsGET", CUSTOMER_BILL_NOTE),
    served("POST", "/bills/{billReference}/payments", "billsBillReferencePaymentsPOST", BILL_PAY_NOTE),
    served("GET", "/bills/{billReference}/payments", "abillsBillReferencePaymentsGET", BILL_NOTE),
    served("POST", "/accounts/{accountId}/bills/payments", "accountsAccountIdBillsBillPaymentsPOST", BILL_OLDEST_NOTE),
    served("GET", "/accounts/{accountId}/bills/payments", "accountsAccountIdBillsBillPaymentsGET", CUSTOMER_BILL_NOTE),
    served("POST", "/accounts/{identifierType}/{identifier}/bills/payments", "accountsIdentifierTypeIdentifierBillsBillPaymentsPOST", BILL_OLDEST_NOTE),
    served("GET", "/accounts/{identifierType}/{identifier}/bills/payments", "accountsIdentifierTypeIdentifierBillsBillPaymentsGET", CUSTOMER_BILL_NOTE),
    served("POST", "/quotations", "quotationsPOST", "the operator's fees for a transaction"),
    served("GET", "/quotations/{quotationReference}", "quotationsQuotationReferenceGET", "the operator's fees for a transaction"),
    served("GET", "/heartbeat", "heartbeatGET", ""),
    served("GET", "/requeststates/{serverCorrelationId}", "requeststatesServerCorrelationIdGET", ""),
    served("GET", "/responses/{clientCorrelationId}", "responsesClientCorrelationIdGET", ""),
];

/// What the gateway can do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityTable {
    /// One entry per market (currency), with the provider that serves it.
    pub markets: Vec<MarketCapabilities>,
    /// Every operation of the GSMA 1.2 specification this table knows, in the specification's order of tags.
    pub operations: Vec<OperationCapability>,
}

/// A market: the currency, the provider that serves it and the transaction types it carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarketCapabilities {
    /// ISO 4217 code.
    pub currency: String,
    /// The provider's name (`daraja`, `mpesa-openapi`).
    pub provider: String,
    /// The harmonised transaction types it carries.
    pub transaction_types: Vec<String>,
    /// The harmonised transaction types it does not carry (answered `businessRule/transactionTypeError`).
    pub unsupported_transaction_types: Vec<String>,
    /// When not empty, the market serves only accounts named by these identifier types (e.g. `walletid`),
    /// before the currency's own provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifier_types: Vec<String>,
}

/// One operation of the GSMA 1.2 specification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationCapability {
    pub method: String,
    pub path: String,
    pub operation_id: String,
    /// `supported`, or `notOffered` (answered with a GSMA error object that names `reason`).
    pub status: String,
    /// Why it is not offered (`noAccountManagement`, …), for `notOffered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where it works, or what it answers instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The table for this gateway's router.
pub fn table(router: &crate::routing::Router) -> CapabilityTable {
    let all_types = TransactionType::ALL;
    let by_currency = router
        .markets()
        .into_iter()
        .map(|(currency, provider)| (currency, provider, Vec::new()));
    let markets = by_currency
        .chain(router.identifier_markets())
        .map(|(currency, provider, identifier_types)| {
            let capabilities = provider.capabilities();
            let (carried, not_carried): (Vec<TransactionType>, Vec<TransactionType>) =
                all_types.iter().partition(|t| capabilities.supports(**t));
            MarketCapabilities {
                currency,
                provider: provider.name().to_owned(),
                transaction_types: carried.iter().map(|t| t.as_str().to_owned()).collect(),
                unsupported_transaction_types: not_carried
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                identifier_types,
            }
        })
        .collect();
    let mut operations: Vec<OperationCapability> = SUPPORTED
        .iter()
        .map(|s| OperationCapability {
            method: s.method.to_owned(),
            path: s.path.to_owned(),
            operation_id: s.operation_id.to_owned(),
            status: "supported".into(),
            reason: None,
            note: (!s.note.is_empty()).then(|| s.note.to_owned()),
        })
        .collect();
    operations.extend(UNSUPPORTED.iter().map(|u| OperationCapability {
        method: u.method.to_owned(),
        path: u.path.to_owned(),
        operation_id: u.operation_id.to_owned(),
        status: "notOffered".into(),
        reason: Some(u.reason.as_str().to_owned()),
        note: None,
    }));
    CapabilityTable {
        markets,
        operations,
    }
}

/// The capability table: per market (currency) the provider and the transaction types it carries, and per
/// operation of the GSMA 1.2 specification whether it is supported (with where) or not offered (with why).
/// An extension of the GSMA API.
#[utoipa::path(
    get,
    path = "/capabilities",
    operation_id = "capabilitiesGET",
    tag = "Capabilities",
    responses(
        (status = 200, description = "The capability table", body = CapabilityTable,
         headers(("X-Date" = String, description = "When the response was sent"))),
        (status = 401, description = "Not authorised", body = GsmaError),
    )
)]
pub async fn capabilities(State(engine): State<Arc<Engine>>) -> GsmaJson<CapabilityTable> {
    GsmaJson(StatusCode::OK, table(engine.router()))
}

/// The table as Markdown, as the README prints it.
pub fn markdown(table: &CapabilityTable) -> String {
    let mut out = String::new();
    out.push_str(
        "| Currency | Provider | Transaction types carried | Not carried |\n|---|---|---|---|\n",
    );
    for m in &table.markets {
        let provider = if m.identifier_types.is_empty() {
            m.provider.clone()
        } else {
            format!(
                "{} (accounts by {})",
                m.provider,
                m.identifier_types.join(", ")
            )
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            m.currency,
            provider,
            m.transaction_types.join(", "),
            m.unsupported_transaction_types.join(", ")
        ));
    }
    out.push_str("\n| Method | Path | Status | Reason or note |\n|---|---|---|---|\n");
    for o in &table.operations {
        let detail = o.reason.as_deref().or(o.note.as_deref()).unwrap_or("");
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            o.method, o.path, o.status, detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_operation_is_both_supported_and_not_offered() {
        for s in SUPPORTED {
            assert!(
                super::super::unsupported::by_operation_id(s.operation_id).is_none(),
                "{}",
                s.operation_id
            );
        }
    }
}
