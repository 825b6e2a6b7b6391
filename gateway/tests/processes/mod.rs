//! Real `cadena node` processes for the fault tests: configs on a real anvil, officers made
//! with `cadena officer`, start (optionally with a crash point), GraphQL calls that tell a dead
//! node from an answer, and SIGKILL from the outside.

#![allow(dead_code)] // each test binary uses its own part

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cadena_contracts::anvil::{Anvil, AnvilOptions};
use cadena_contracts::{ChainClient, ContractAddresses};
use serde_json::{Value, json};

/// Every officer's password.
pub const PASSWORD: &str = "a long enough password";

/// The `cadena` binary under test.
pub fn cadena() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cadena"))
}

/// A real anvil (blocks every `block_time`, or at once) with the registries deployed, and a
/// client signing as governance.
pub async fn chain(block_time: Option<Duration>) -> (Anvil, ChainClient, ContractAddresses) {
    let anvil = Anvil::spawn_with(AnvilOptions { block_time, ..Default::default() }).await.unwrap();
    let governance = ChainClient::connect(anvil.chain_config(), anvil.signer(0)).await.unwrap();
    let contracts = governance.deploy(anvil.address(0)).await.unwrap().addresses();
    (anvil, governance.with_contracts(contracts), contracts)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One node's files: its config, data and log.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    /// The country.
    pub country: String,
    /// `config.toml`.
    pub config: PathBuf,
    /// Its stderr, appended across restarts.
    pub log: PathBuf,
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its did:web (of its public URL).
    pub did: String,
}

impl NodeFiles {
    /// The GraphQL endpoint.
    pub fn graphql(&self) -> String {
        format!("{}/graphql", self.url)
    }
}

/// What a test adds to a node's config: top-level keys, and tables appended at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extra<'a> {
    /// Top-level keys (`database_url = ...`).
    pub top: &'a str,
    /// Tables (`[credentials]`, `[[webhooks]]`, ...).
    pub tables: &'a str,
    /// The node's public URL when it is not its own address (replicas behind one name).
    pub public_url: Option<&'a str>,
    /// The directory's name when it is not the country (replicas of one country).
    pub name: Option<&'a str>,
}

/// Writes the config of `country`'s node under `dir` (anchoring with `anchorer_key`, plus
/// `extra`) on a free port; the caller admits `did` on chain.
pub fn write_node_config(
    dir: &Path,
    country: &str,
    anvil: &Anvil,
    contracts: ContractAddresses,
    anchorer_key: &str,
    extra: Extra<'_>,
) -> NodeFiles {
    let port = free_port();
    let own = format!("http://127.0.0.1:{port}");
    let url = extra.public_url.unwrap_or(&own).to_owned();
    let did = cadena_credentials::did::did_web_for_url(&url).unwrap();
    let home = dir.join(extra.name.unwrap_or(country));
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join("node.toml");
    std::fs::write(
        &config,
        format!(
            r#"{top}
country = "{country}"
authority = "Customs of {country}"
listen = "127.0.0.1:{port}"
data_dir = "{data}"
public_url = "{url}"

[chain]
rpc_url = "{rpc}"
chain_id = {chain_id}
poll_interval_ms = 200

[chain.contracts]
authority_registry = "{authority}"
anchor_registry = "{anchor}"

[anchoring]
signer_key = "{anchorer_key}"
max_batch = 25
max_wait_ms = 300
{tables}
"#,
            top = extra.top,
            tables = extra.tables,
            data = home.join("data").display(),
            rpc = anvil.rpc_url(),
            chain_id = anvil.chain_id(),
            authority = contracts.authority_registry,
            anchor = contracts.anchor_registry,
        ),
    )
    .unwrap();
    NodeFiles { country: country.to_owned(), config, log: home.join("node.log"), url: own, did }
}

/// Creates officers `(username, ROLE)` with `cadena officer`.
pub async fn create_officers(files: &NodeFiles, officers: &[(&str, &str)]) {
    for (username, role) in officers {
        let mut officer = tokio::process::Command::new(cadena())
            .args(["officer", "--config"])
            .arg(&files.config)
            .args(["--username", username, "--roles", role])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::io::AsyncWriteExt::write_all(officer.stdin.as_mut().unwrap(), format!("{PASSWORD}\n").as_bytes())
            .await
            .unwrap();
        assert!(officer.wait().await.unwrap().success(), "cadena officer {username}");
    }
}

/// A running `cadena node`.
pub struct Running {
    /// The process.
    pub child: tokio::process::Child,
    /// Its GraphQL endpoint.
    pub graphql: String,
}

/// Starts the node of `files`, with the crash point `fault` if given, and waits until it
/// answers `/healthz` (or died: a crash point can be reached before the first request).
pub async fn start(files: &NodeFiles, fault: Option<&str>) -> Running {
    start_with_env(files, fault, &[]).await
}

/// [`start`] with environment variables of its own (OpenTelemetry's, the log format).
pub async fn start_with_env(files: &NodeFiles, fault: Option<&str>, env: &[(&str, &str)]) -> Running {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&files.log).unwrap();
    let mut command = tokio::process::Command::new(cadena());
    command
        .args(["node", "--config"])
        .arg(&files.config)
        .env("RUST_LOG", "info,sqlx=warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(point) = fault {
        command.env("FAULT_INJECTION_SIGKILL_AT", point);
    }
    let mut child = command.spawn().unwrap();
    let graphql = files.graphql();
    let health = format!("{}/healthz", files.url);
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client.get(&health).send().await.is_ok_and(|r| r.status().is_success())
            || child.try_wait().unwrap().is_some()
        {
            return Running { child, graphql };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = std::fs::read_to_string(&files.log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(30).collect();
    panic!("the node did not come up; its log ends:\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
}

/// SIGKILLs the node from the outside and waits until it is gone.
pub async fn kill(node: &mut Running) {
    if let Some(pid) = node.child.id() {
        std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), node.child.wait()).await;
}

/// Whether the node died by SIGKILL within `within`.
pub async fn wait_killed(node: &mut Running, within: Duration) -> bool {
    match tokio::time::timeout(within, node.child.wait()).await {
        Ok(Ok(status)) => status.signal() == Some(9),
        _ => false,
    }
}

/// A GraphQL call; an error when the node is not there.
pub async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, reqwest::Error> {
    let mut request = client.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await?.json().await
}

/// A session token, or None when the node is not there.
pub async fn token(client: &reqwest::Client, url: &str, username: &str) -> Option<String> {
    let login = gql(
        client,
        url,
        None,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": PASSWORD }),
    )
    .await
    .ok()?;
    Some(login["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login {username}: {login}")).to_owned())
}

/// The input of a certification of the MX operator GODE561231GR8.
pub fn certification_input(number: &str, certificate_type: &str) -> Value {
    json!({
        "certificateNumber": number, "issuingCountry": "MX", "issuingAuthority": "ANAM",
        "operatorName": format!("Operador {number}"), "address": { "street": "Calle 1", "city": "CDMX", "country": "MX" },
        "tin": "GODE561231GR8", "certificateType": certificate_type, "roles": ["EXPORTER"], "authorisationDate": "2026-02-01"
    })
}

/// A fresh database on the local PostgreSQL server (`CADENA_TEST_POSTGRES_URL`, default the
/// `test` database's server); its URL.
pub fn create_database() -> String {
    let admin =
        std::env::var("CADENA_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let name = format!("cadena_replicas_{}", uuid::Uuid::new_v4().simple());
    let created = std::process::Command::new("psql")
        .arg(&admin)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .expect("psql runs");
    assert!(created.success(), "CREATE DATABASE {name}");
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

/// The configs of `n` replicas of `country`'s node, as README's set-up says: one fresh
/// PostgreSQL database, one issuer key, one session secret, one public name (replica 1 listens
/// on it; the others on their own ports), Redis on 127.0.0.1:6379. Start replica 1 first: it
/// creates the tables and the key.
pub fn write_replica_configs(
    dir: &Path,
    country: &str,
    anvil: &Anvil,
    contracts: ContractAddresses,
    anchorer_key: &str,
    n: usize,
) -> Vec<NodeFiles> {
    let database = create_database();
    let public_url = format!("http://127.0.0.1:{}", free_port());
    let top = format!("database_url = \"{database}\"\nsession_secret = \"one secret for every replica, 32+ bytes\"");
    let tables = format!(
        "[credentials]\nkey_file = \"{}\"\nallow_private_addresses = true\n\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n",
        dir.join(format!("{country}-issuer-keys.json")).display()
    );
    (1..=n)
        .map(|i| {
            let name = format!("{country}-{i}");
            let extra = Extra { top: &top, tables: &tables, public_url: Some(&public_url), name: Some(&name) };
            let mut files = write_node_config(dir, country, anvil, contracts, anchorer_key, extra);
            if i == 1 {
                let config = std::fs::read_to_string(&files.config).unwrap();
                let own = files.url.trim_start_matches("http://").to_owned();
                let public = public_url.trim_start_matches("http://");
                std::fs::write(
                    &files.config,
                    config.replace(&format!("listen = \"{own}\""), &format!("listen = \"{public}\"")),
                )
                .unwrap();
                files.url = public_url.clone();
            }
            files
        })
        .collect()
}
