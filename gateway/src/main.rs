//! `cadena`: a customs node, the local dev network, migrations and schema export.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context as _;
use cadena_credentials::CountryCode;
use cadena_credentials::keys::Cryptosuite;
use cadena_gateway::dev_network::{self, DevOptions};
use cadena_gateway::telemetry::{self, Service, Telemetry};
use cadena_gateway::{Node, NodeConfig};
use cadena_resolvers::auth::Role;
use cadena_resolvers::services::IssuerIdentity;
use cadena_resolvers::storage::Storage;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

/// mimalloc, as Hive Router's binary: the gateway's execution and the node's signing and
/// verification allocate many small values, which it serves faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "cadena", version, about = "AEO certifications shared between customs under MRAs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one customs node.
    Node {
        /// TOML configuration; `CADENA_*` variables and `DATABASE_URL` override it.
        #[arg(long)]
        config: PathBuf,
    },
    /// Runs a local network, one node per country, on embedded defaults.
    Dev {
        /// Where databases, keys and network.json go.
        #[arg(long, default_value = ".cadena-dev")]
        data_dir: PathBuf,
        /// Countries (ISO 3166-1 alpha-2), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "MX,CO,CR")]
        countries: Vec<String>,
        /// Node i listens on port-base + i + 1 (0: any free ports).
        #[arg(long, default_value_t = 8700)]
        port_base: u16,
    },
    /// Runs the federated GraphQL gateway over the configured subgraphs.
    Gateway {
        /// TOML configuration (`listen`, `[[subgraphs]]`, `[limits]`).
        #[arg(long)]
        config: PathBuf,
    },
    /// Applies database migrations and exits.
    Migrate {
        /// Node configuration (for its database URL).
        #[arg(long, conflicts_with = "database_url")]
        config: Option<PathBuf>,
        /// Or the database URL itself.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Schema export.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// The node's issuer keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Creates or updates an officer (the first admin of a node); reads the password from stdin.
    Officer {
        /// Node configuration.
        #[arg(long)]
        config: PathBuf,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Roles, comma-separated (ADMIN, REGISTRAR, APPROVER, RISK_OFFICER, AUDITOR).
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Adds a signing key and makes it current; older keys stay for verifying what they signed.
    Rotate {
        /// Node configuration (for its key file and public URL).
        #[arg(long)]
        config: PathBuf,
        /// Suite of the new key: eddsa-rdfc-2022 or ecdsa-rdfc-2019 (default: the configured one).
        #[arg(long)]
        cryptosuite: Option<String>,
    },
    /// Prints the node's DID document.
    Show {
        /// Node configuration.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum SchemaCommand {
    /// Prints the subgraph's federation SDL (as committed in schema/node.graphql).
    Print,
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Flushes the spans still queued when main returns.
    let _telemetry = match &cli.command {
        Command::Schema { .. } => Telemetry::default(),
        // Started with the node's config (its country and URL name its spans).
        Command::Node { .. } => Telemetry::default(),
        Command::Gateway { .. } => telemetry::init(Service::Gateway),
        _ => telemetry::init(Service::Tool),
    };
    match cli.command {
        Command::Node { config } => {
            let config = NodeConfig::load(&config)?;
            let _telemetry =
                telemetry::init(Service::Node { country: config.country.clone(), public_url: config.public_url() });
            tracing::info!(?config, "configuration");
            let listen = config.listen;
            let node = Node::start(config).await?;
            let listener = TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            tracing::info!(address = %listener.local_addr()?, "listening");
            node.serve(listener, shutdown_signal()).await?;
        }
        Command::Dev { data_dir, countries, port_base } => {
            let countries = countries
                .iter()
                .map(|c| CountryCode::parse(c).map_err(|e| anyhow::anyhow!("--countries: {e}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            anyhow::ensure!(!countries.is_empty(), "--countries: name at least one country");
            dev_network::run(DevOptions { data_dir, countries, port_base }, shutdown_signal()).await?;
        }
        Command::Gateway { config } => {
            let config = cadena_gateway::federated_gateway::GatewayConfig::load(&config)?;
            let gateway = cadena_gateway::federated_gateway::Gateway::start(&config).await?;
            let listener =
                TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
            tracing::info!(address = %listener.local_addr()?, "gateway listening");
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            gateway.serve(listener, threads, shutdown_signal()).await?;
        }
        Command::Migrate { config, database_url } => {
            let url = match (config, database_url) {
                (Some(path), _) => NodeConfig::load(&path)?.database_url(),
                (None, Some(url)) => url,
                (None, None) => anyhow::bail!("give --config or --database-url (or DATABASE_URL)"),
            };
            Storage::connect_and_migrate(&url).await.context("migrating")?;
            tracing::info!("migrations applied");
        }
        Command::Schema { command: SchemaCommand::Print } => {
            print!("{}", cadena_resolvers::graphql::sdl());
        }
        Command::Keys { command } => {
            let (config, suite) = match &command {
                KeysCommand::Rotate { config, cryptosuite } => (config, cryptosuite.clone()),
                KeysCommand::Show { config } => (config, None),
            };
            let config = NodeConfig::load(config)?;
            let suite = match suite {
                Some(name) => Cryptosuite::parse(&name).ok_or_else(|| {
                    anyhow::anyhow!("--cryptosuite: {name} is not eddsa-rdfc-2022 or ecdsa-rdfc-2019")
                })?,
                None => config.cryptosuite()?,
            };
            let identity = IssuerIdentity::load(&config.public_url(), config.key_file(), config.cryptosuite()?)
                .context("loading the issuer keys")?;
            if matches!(command, KeysCommand::Rotate { .. }) {
                let fragment = identity.rotate(suite).context("rotating the issuer key")?;
                tracing::info!(method = %format!("{}#{fragment}", identity.did()), "new signing key; restart the node to use it");
            }
            println!("{}", serde_json::to_string_pretty(&identity.did_document())?);
        }
        Command::Officer { config, username, roles } => {
            let roles = roles
                .iter()
                .map(|r| {
                    Role::parse(&r.trim().to_uppercase()).ok_or_else(|| anyhow::anyhow!("--roles: unknown role {r}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let node = Node::start(NodeConfig::load(&config)?).await?;
            node.services.officers.ensure(&username, password.trim_end_matches(['\r', '\n']), &roles).await?;
            tracing::info!(%username, "officer saved");
        }
    }
    Ok(())
}
