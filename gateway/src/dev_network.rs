//! `cadena dev`: a local network of one node per country on embedded defaults, each with its
//! own SQLite database under `DIR/<country>/`, seeded officers, a local chain with MRAs between
//! the first country and each other one, the federation gateway in front of the first
//! country's node, and `DIR/network.json` describing it all for people and tests.
//!
//! Passwords are generated once and kept in `network.json`; a restart on the same directory
//! reuses them, so a tester's saved credentials keep working.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use cadena_credentials::CountryCode;
use cadena_resolvers::auth::Role;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{NodeConfig, Secret, TrustedIssuer};
use crate::dev_chain::{ChainInfo, DevChain};
use crate::federated_gateway::{Gateway, GatewayConfig, GatewayLimits, SubgraphConfig};
use crate::node::Node;

/// How long `cadena dev` waits for its nodes and gateway to stop before it takes the chain
/// down regardless: SIGTERM ends it within 10 s.
const SERVERS_STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(8);

/// `network.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkFile {
    /// One entry per node.
    pub nodes: Vec<NetworkNode>,
    /// The local chain the nodes anchor on.
    pub chain: Option<ChainInfo>,
    /// The federation gateway.
    pub gateway: Option<NetworkGateway>,
}

/// The dev network's federation gateway.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkGateway {
    /// Base URL (GraphiQL at `/`).
    pub url: String,
    /// GraphQL endpoint (HTTP, SSE and `graphql-transport-ws`).
    pub graphql: String,
    /// The country whose node is its `node` subgraph; that node's tokens work here.
    pub fronts: String,
}

/// One node of the dev network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkNode {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Customs authority.
    pub authority: String,
    /// Base URL.
    pub url: String,
    /// GraphQL endpoint.
    pub graphql: String,
    /// The node's did:web DID (its credentials' issuer).
    pub did: String,
    /// Seeded officers.
    pub users: Vec<NetworkUser>,
}

/// A seeded officer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkUser {
    /// Login name.
    pub username: String,
    /// Password (dev only).
    pub password: String,
    /// Roles.
    pub roles: Vec<Role>,
}

/// Options of `cadena dev`.
#[derive(Clone, Debug)]
pub struct DevOptions {
    /// Where everything goes.
    pub data_dir: PathBuf,
    /// Countries, one node each.
    pub countries: Vec<CountryCode>,
    /// The chain listens on `port_base`, node i on `port_base + i + 1` and the gateway on
    /// `port_base + countries + 1` (0: any free ports).
    pub port_base: u16,
}

/// The name of a country's customs authority, for embedded defaults.
pub fn default_authority(country: CountryCode) -> String {
    match country.as_str() {
        "MX" => "Agencia Nacional de Aduanas de México (ANAM)".into(),
        "CO" => "Dirección de Impuestos y Aduanas Nacionales (DIAN)".into(),
        "CR" => "Servicio Nacional de Aduanas de Costa Rica".into(),
        "CL" => "Servicio Nacional de Aduanas de Chile".into(),
        "PE" => "Superintendencia Nacional de Aduanas y de Administración Tributaria (SUNAT)".into(),
        "EC" => "Servicio Nacional de Aduana del Ecuador (SENAE)".into(),
        "GT" => "Superintendencia de Administración Tributaria (SAT)".into(),
        "BO" => "Aduana Nacional de Bolivia".into(),
        _ => format!("Customs authority of {}", country.name()),
    }
}

const SEEDED_ROLES: [(&str, Role); 5] = [
    ("admin", Role::Admin),
    ("registrar", Role::Registrar),
    ("approver", Role::Approver),
    ("risk", Role::RiskOfficer),
    ("auditor", Role::Auditor),
];

fn random_password() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(20).map(char::from).collect()
}

fn read_network(path: &Path) -> Option<NetworkFile> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// Writes the file atomically (temp file + rename), so a reader never sees half of it.
fn write_network(path: &Path, network: &NetworkFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(network)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Starts every node, seeds officers, writes `network.json`, and serves until `shutdown`.
pub async fn run(
    options: DevOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<NetworkFile> {
    std::fs::create_dir_all(&options.data_dir).with_context(|| format!("creating {}", options.data_dir.display()))?;
    let network_path = options.data_dir.join("network.json");
    let previous: HashMap<String, String> = read_network(&network_path)
        .map(|n| n.nodes.into_iter().flat_map(|node| node.users).map(|u| (u.username, u.password)).collect())
        .unwrap_or_default();

    let (stop_tx, stop_rx) = watch::channel(false);
    // Bind every listener first: each node's DID comes from its URL, and every node trusts the
    // others' DIDs as customs authorities.
    let mut listeners = Vec::new();
    for (i, country) in options.countries.iter().copied().enumerate() {
        let port = if options.port_base == 0 { 0 } else { options.port_base + 1 + i as u16 };
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address} for {country}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let did = cadena_credentials::did::did_web_for_url(&url)?;
        listeners.push((country, listener, url, did));
    }
    let authorities: Vec<(CountryCode, String)> = listeners.iter().map(|(c, _, _, did)| (*c, did.clone())).collect();
    let chain_port = (options.port_base != 0).then_some(options.port_base);
    let chain = DevChain::start(&options.data_dir, chain_port, &authorities).await.context("starting the dev chain")?;
    tracing::info!(rpc = %chain.anvil.rpc_url(), "dev chain up");
    let trusted: Vec<TrustedIssuer> = listeners
        .iter()
        .map(|(country, _, _, did)| TrustedIssuer { did: did.clone(), authority: default_authority(*country) })
        .collect();

    let mut nodes = Vec::new();
    let mut servers = Vec::new();
    for (i, (country, listener, url, did)) in listeners.into_iter().enumerate() {
        let code = country.as_str().to_lowercase();
        let mut config = NodeConfig::new(country, default_authority(country), options.data_dir.join(&code));
        config.listen = listener.local_addr()?;
        config.public_url = Some(url.clone());
        config.credentials.trusted_issuers = trusted.iter().filter(|t| t.did != did).cloned().collect();
        config.chain = Some(chain.node_config());
        config.anchoring.signer_key = Some(Secret::new(DevChain::anchorer_key(i)));
        config.anchoring.max_wait_ms = 2_000;
        // Every dev node is on 127.0.0.1, and GraphiQL and the gateway introspect.
        config.credentials.allow_private_addresses = true;
        config.limits.anonymous_introspection = true;
        let node = Node::start(config.clone()).await.with_context(|| format!("starting the {country} node"))?;

        let mut users = Vec::new();
        for (suffix, role) in SEEDED_ROLES {
            let username = format!("{code}-{suffix}");
            let password = previous.get(&username).cloned().unwrap_or_else(random_password);
            node.services
                .officers
                .ensure(&username, &password, &[role])
                .await
                .with_context(|| format!("seeding {username}"))?;
            users.push(NetworkUser { username, password, roles: vec![role] });
        }

        nodes.push(NetworkNode {
            country: country.as_str().to_owned(),
            authority: config.authority.clone(),
            graphql: format!("{url}/graphql"),
            url: url.clone(),
            did,
            users,
        });
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(node.serve(listener, async move {
            let _ = stop.wait_for(|s| *s).await;
        })));
        tracing::info!(%country, %url, "node listening");
    }

    // The gateway reads its subgraph's SDL from the node at start-up, so it starts once the
    // nodes serve.
    let hub = nodes.first().context("no nodes")?.clone();
    let port = if options.port_base == 0 { 0 } else { options.port_base + 1 + options.countries.len() as u16 };
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(address).await.with_context(|| format!("binding {address} for the gateway"))?;
    let gateway_config = GatewayConfig {
        listen: listener.local_addr()?,
        subgraphs: vec![SubgraphConfig { name: "node".into(), url: hub.graphql.clone(), sdl_file: None }],
        supergraph_file: None,
        trusted_documents: None,
        limits: GatewayLimits::default(),
        redis: None,
    };
    let gateway = Gateway::start(&gateway_config).await.context("starting the gateway")?;
    let gateway_url = format!("http://{}", gateway_config.listen);
    let mut stop = stop_rx.clone();
    let gateway_server = tokio::spawn(gateway.serve(listener, 1, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    tracing::info!(url = %gateway_url, fronts = %hub.country, "gateway listening");

    let network = NetworkFile {
        nodes,
        chain: Some(chain.info()),
        gateway: Some(NetworkGateway {
            graphql: format!("{gateway_url}/graphql"),
            url: gateway_url,
            fronts: hub.country,
        }),
    };
    write_network(&network_path, &network)?;
    tracing::info!(path = %network_path.display(), "dev network up; credentials in network.json");

    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    // Each server bounds its own stop (subscriptions closed, workers stopped); this bounds
    // them all, so the chain always goes down with the network, whatever hangs.
    let stopped = tokio::time::timeout(SERVERS_STOP_WITHIN, async {
        for server in servers {
            server.await??;
        }
        gateway_server.await?
    })
    .await;
    chain.stop().await?;
    match stopped {
        Ok(stopped) => stopped?,
        Err(_) => tracing::warn!("servers still stopping after {SERVERS_STOP_WITHIN:?}; left behind"),
    }
    tracing::info!("stopped");
    Ok(network)
}
