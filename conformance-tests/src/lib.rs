//! mmapi-conformance: a GSMA Mobile Money API 1.2 conformance suite and its runner.
//!
//! The suite is data: scenarios (`scenarios/<use-case>/*.yaml`, [`scenario`]) run with the test data and
//! capabilities of a profile (`profiles/*.yaml`, [`profile`]). Every response and callback body is validated
//! against JSON Schemas generated from the GSMA YAML (`schemas/`, [`schemagen`], [`catalogue`]). Schemas,
//! scenarios and profiles are embedded in the binary ([`embedded`]).

#![warn(missing_docs)]

pub mod callback;
pub mod catalogue;
pub mod checks;
pub mod cli;
pub mod embedded;
pub mod expect;
pub mod glob;
pub mod junit;
pub mod profile;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod schemagen;
pub mod template;

use std::net::SocketAddr;
use std::sync::Arc;

use callback::CallbackListener;
use catalogue::{Catalogue, CatalogueError};
use runner::{CaseResult, RunConfig, RunError, Runner};
use scenario::Scenario;

/// Why a suite could not run at all (as opposed to cases failing).
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The embedded schemas are broken.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// The callback listener could not listen.
    #[error("callback listener on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The runner could not be set up.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Where the suite is in its run.
pub enum Progress<'a> {
    /// Case `index` (from 0) of `total` starts.
    Started {
        /// Its position.
        index: usize,
        /// How many cases there are.
        total: usize,
        /// The scenario.
        scenario: &'a Scenario,
    },
    /// A case finished.
    Finished(&'a CaseResult),
}

/// Runs `scenarios` one after the other against the server of `config`, with a callback listener on
/// `callback_listen` whose URLs name `callback_host` (or the listening IP). Reports progress to `observe`.
pub async fn run_suite(
    config: RunConfig,
    scenarios: &[Scenario],
    callback_listen: SocketAddr,
    callback_host: Option<&str>,
    mut observe: impl FnMut(Progress<'_>),
) -> Result<Vec<CaseResult>, SuiteError> {
    let catalogue = Arc::new(Catalogue::embedded()?);
    let listener = CallbackListener::start(callback_listen, callback_host)
        .await
        .map_err(|e| SuiteError::Listen(callback_listen, e))?;
    let runner = Runner::new(config, catalogue, listener)?;
    let mut results = Vec::with_capacity(scenarios.len());
    for (index, scenario) in scenarios.iter().enumerate() {
        observe(Progress::Started {
            index,
            total: scenarios.len(),
            scenario,
        });
        let result = runner.run(scenario).await;
        observe(Progress::Finished(&result));
        results.push(result);
    }
    Ok(results)
}
