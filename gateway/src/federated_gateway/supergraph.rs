//! The supergraph in force: composed by the gateway from its subgraphs (the default), or read
//! from a file composed by any composer (`supergraph_file`: Apollo's `rover`, Hive, cadena's
//! own) and taken again whenever the file's content changes. A new supergraph is built beside
//! the one in force (engine, limits measured on its API schema, its own cache of admitted
//! operations) and then takes its place in one step: requests already running finish on the
//! old one, later ones get the new one, none is refused for the swap. A file that does not
//! build (half written, not a supergraph) is logged, and the one in force stays. The trusted
//! documents are read again with each supergraph.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use lru::LruCache;

use super::trusted_documents::TrustedDocuments;
use super::{ADMITTED_OPERATIONS, AdmittedOperations, GatewayConfig};
use crate::federation::{Engine, EngineOptions, GraphQLRequest};
use crate::operation_limits::{Admission, Limits, OperationLimits, Refusal};

/// How often the file is read for a change.
const POLL: Duration = Duration::from_millis(500);

/// What one supergraph gives the gateway.
pub(super) struct Planned {
    /// Plans and runs operations.
    pub engine: Engine,
    /// Depth, aliases and cost, measured on the supergraph's API schema.
    limits: OperationLimits,
    /// The documents exempt from the cost limit (read again with each supergraph).
    trusted: TrustedDocuments,
    /// Operations (text, name) that passed the limits, with their kind: clients repeat a few
    /// operations with new variables, and each is measured once (again each time only when a
    /// variable sets a page size).
    pub admitted: Mutex<AdmittedOperations>,
}

impl Planned {
    /// The engine and limits of `supergraph`, reaching the subgraphs the config names at their
    /// configured URLs (others at the URLs the supergraph records).
    pub fn build(supergraph: &str, config: &GatewayConfig) -> anyhow::Result<Planned> {
        let options = EngineOptions {
            subgraph_urls: config.subgraphs.iter().map(|s| (s.name.clone(), s.url.clone())).collect(),
            request_timeout: Duration::from_millis(config.limits.subgraph_timeout_ms),
            ..EngineOptions::default()
        };
        let engine = Engine::with_options(supergraph, options).context("building the federation engine")?;
        let limits = &config.limits;
        let limits = OperationLimits::new(
            &engine.api_schema_sdl(),
            Limits {
                max_depth: limits.max_depth,
                max_aliases: limits.max_aliases,
                max_cost: limits.max_cost,
                assumed_list_size: limits.assumed_list_size,
            },
        )
        .map_err(|e| anyhow::anyhow!("operation limits: {e}"))?;
        let trusted = match &config.trusted_documents {
            Some(file) => TrustedDocuments::load(file)?,
            None => TrustedDocuments::default(),
        };
        let capacity = std::num::NonZeroUsize::new(ADMITTED_OPERATIONS).expect("a positive capacity");
        Ok(Planned { engine, limits, trusted, admitted: Mutex::new(LruCache::new(capacity)) })
    }

    /// Refuses an operation over the limits, before anything runs (a trusted document's cost
    /// is not limited).
    pub fn check_limits(&self, request: &GraphQLRequest) -> Result<Admission, Refusal> {
        let (query, name, variables) = (&request.query, request.operation_name.as_deref(), &request.variables);
        if self.trusted.trusts(query) {
            return self.limits.check_trusted(query, name, variables);
        }
        self.limits.check(query, name, variables)
    }
}

/// The supergraph in force, shared by every request.
#[derive(Clone)]
pub(super) struct InForce(Arc<RwLock<Arc<Planned>>>);

impl InForce {
    pub fn new(planned: Planned) -> InForce {
        InForce(Arc::new(RwLock::new(Arc::new(planned))))
    }

    /// The supergraph for one request: it keeps it to the end, whatever is loaded meanwhile.
    pub fn get(&self) -> Arc<Planned> {
        self.0.read().expect("supergraph lock").clone()
    }

    fn replace(&self, planned: Planned) {
        *self.0.write().expect("supergraph lock") = Arc::new(planned);
    }
}

/// Reads `file` until `shutdown`; each new content that builds takes force. `loaded` is the
/// content in force at start.
pub(super) async fn watch(
    file: PathBuf,
    config: GatewayConfig,
    in_force: InForce,
    loaded: String,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut seen = loaded;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(POLL) => {}
        }
        let Ok(content) = tokio::fs::read_to_string(&file).await else { continue };
        if content == seen {
            continue;
        }
        seen.clone_from(&content);
        // Building plans nothing yet, but parses and checks the whole supergraph: off the
        // request workers.
        let built = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Planned::build(&content, &config)).await
        };
        match built {
            Ok(Ok(planned)) => {
                in_force.replace(planned);
                tracing::info!(file = %file.display(), "supergraph reloaded");
            }
            Ok(Err(error)) => {
                tracing::warn!(file = %file.display(), error = format!("{error:#}"), "supergraph file not taken; the one in force stays")
            }
            Err(panicked) => tracing::error!(%panicked, "building the supergraph failed"),
        }
    }
}
