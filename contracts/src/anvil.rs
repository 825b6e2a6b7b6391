//! A local anvil (Foundry's dev chain) for tests and `cadena dev`.
//!
//! The binary comes from npm (`@foundry-rs/anvil`, pinned in `package.json`), so a machine with
//! node needs no Foundry install: [`anvil_binary`] runs `npm ci` in this crate's directory when
//! the binary is missing, once, under a file lock that parallel test processes share.
//!
//! Taking the chain down: [`Anvil::stop`] ends the process (SIGTERM, so anvil dumps its state to
//! the `--state` file on the way out) and [`Anvil::restart`] starts it again on the same port from
//! that file: same blocks, contracts, nonces and logs. While it is stopped nothing listens on the
//! port, so clients get "connection refused" at once. SIGSTOP would have been simpler but is not
//! the same thing: the kernel still accepts connections into the listen backlog, so clients hang
//! until their request timeout instead of seeing an unreachable node.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;

use crate::config::ChainConfig;
use crate::errors::AnvilError;

/// Where npm puts the real anvil binary (`node_modules/.bin/anvil` is a Node launcher around it).
const ANVIL_IN_NODE_MODULES: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// anvil's default chain id.
pub const ANVIL_CHAIN_ID: u64 = 31337;

/// Private keys of anvil's first 10 dev accounts (mnemonic "test test test test test test test
/// test test test test junk", path m/44'/60'/0'/0/i), each funded with 10,000 ETH. Public
/// knowledge: never use them on a real chain.
pub const DEV_PRIVATE_KEYS: [&str; 10] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

/// How long to wait for a started anvil to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERMed anvil gets to dump its state and exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Free-port attempts before giving up (another process may grab the port we picked).
const PORT_ATTEMPTS: usize = 5;

/// This crate's directory (`contracts/`): artifacts, scripts and `node_modules`.
pub fn contracts_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The anvil binary: `$CADENA_ANVIL`, else the npm package's binary under [`contracts_dir`],
/// installed with `npm ci` first if it is missing.
pub fn anvil_binary() -> Result<PathBuf, AnvilError> {
    if let Some(path) = std::env::var_os("CADENA_ANVIL") {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { Err(AnvilError::BinaryMissing(path)) };
    }
    ensure_npm_packages()?;
    Ok(contracts_dir().join(ANVIL_IN_NODE_MODULES))
}

/// Makes sure `npm ci` has run in [`contracts_dir`] (anvil, solc, the gas-model package for the
/// scripts). Blocking; safe to call from many threads and processes at once: the first one
/// installs under an exclusive file lock, the others wait on it and then find everything there.
pub fn ensure_npm_packages() -> Result<(), AnvilError> {
    npm_ci_once(contracts_dir(), ANVIL_IN_NODE_MODULES)
}

/// Runs `npm ci` in `dir` unless `marker` (a path under `dir`) and a complete install are
/// already there. Blocking; safe to call from many threads and processes at once: the first
/// one installs under an exclusive file lock, the others wait on it and then find everything.
pub fn npm_ci_once(dir: &Path, marker: &str) -> Result<(), AnvilError> {
    if npm_packages_present(dir, marker) {
        return Ok(());
    }
    // The lock lives outside the tree (npm ci deletes node_modules/, and the repo stays clean);
    // its name is derived from the directory so two checkouts do not serialise each other.
    let lock_path =
        std::env::temp_dir().join(format!("cadena-npm-ci-{:016x}.lock", fnv1a(dir.as_os_str().as_encoded_bytes())));
    let lock = File::options().create(true).truncate(false).write(true).open(&lock_path)?;
    lock.lock()?;
    if npm_packages_present(dir, marker) {
        return Ok(());
    }
    tracing::info!(dir = %dir.display(), "npm packages missing: running npm ci");
    let npm_error = |message: String| AnvilError::Npm { dir: dir.to_owned(), message };
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| npm_error(e.to_string()))?;
    if !status.success() {
        return Err(npm_error(status.to_string()));
    }
    if !npm_packages_present(dir, marker) {
        return Err(npm_error(format!("{marker} still missing after install")));
    }
    Ok(())
    // `lock` is released when dropped here.
}

/// npm writes `node_modules/.package-lock.json` last, so with the marker it marks a whole install.
fn npm_packages_present(dir: &Path, marker: &str) -> bool {
    dir.join(marker).is_file() && dir.join("node_modules/.package-lock.json").is_file()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The private key of anvil dev account `index` (0..10) as a signer.
///
/// # Panics
/// When `index` is 10 or more.
pub fn dev_signer(index: usize) -> PrivateKeySigner {
    DEV_PRIVATE_KEYS[index].parse().expect("dev keys are valid")
}

/// How to start anvil.
#[derive(Debug, Clone, Default)]
pub struct AnvilOptions {
    /// Interval mining; `None` mines every transaction at once (fast tests).
    pub block_time: Option<Duration>,
    /// Chain id; `None` = 31337.
    pub chain_id: Option<u64>,
    /// EVM hardfork (`paris`, `london`, `berlin`, ...); `None` = anvil's latest.
    pub hardfork: Option<String>,
    /// Keep anvil's Ethereum-like fees (1 gwei base fee). By default the chain runs with base fee
    /// and gas price 0, like LACChain, which gas-model (gas price 0) transactions need.
    pub ethereum_fees: bool,
    /// Fixed port; `None` picks a free one.
    pub port: Option<u16>,
    /// State file loaded at start (if it exists) and written on [`Anvil::stop`]; `None` uses a
    /// temporary file, so the state lives as long as the [`Anvil`] value.
    pub state_path: Option<PathBuf>,
}

/// A running anvil on 127.0.0.1, killed when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Option<Child>,
    binary: PathBuf,
    options: AnvilOptions,
    port: u16,
    chain_id: u64,
    // Holds the log (and the state file unless options.state_path is set); removed on drop.
    dir: tempfile::TempDir,
}

impl Anvil {
    /// Starts anvil with the default [`AnvilOptions`] (instant mining, zero fees, chain 31337).
    pub async fn spawn() -> Result<Self, AnvilError> {
        Self::spawn_with(AnvilOptions::default()).await
    }

    /// Starts anvil and waits until it answers `eth_chainId`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn spawn_with(options: AnvilOptions) -> Result<Self, AnvilError> {
        let binary = tokio::task::spawn_blocking(anvil_binary).await.map_err(std::io::Error::other)??;
        let dir = tempfile::Builder::new().prefix("cadena-anvil-").tempdir()?;
        let mut anvil =
            Self { child: None, binary, chain_id: options.chain_id.unwrap_or(ANVIL_CHAIN_ID), options, port: 0, dir };
        let attempts = if anvil.options.port.is_some() { 1 } else { PORT_ATTEMPTS };
        let mut last = None;
        for _ in 0..attempts {
            // anvil has no `--port 0`: take a free port from the kernel and hand it over. Another
            // process may grab it in between; then anvil exits with "address in use" and we retry.
            let port = match anvil.options.port {
                Some(port) => port,
                None => TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
            };
            match anvil.start(port).await {
                Ok(()) => return Ok(anvil),
                Err(e @ AnvilError::PortInUse(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(AnvilError::PortInUse(0)))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port anvil listens on (kept across [`Anvil::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The chain id it serves.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Whether the process is running (started and not stopped).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Private keys of the 10 funded dev accounts.
    pub fn dev_private_keys(&self) -> &'static [&'static str; 10] {
        &DEV_PRIVATE_KEYS
    }

    /// Dev account `index` (0..10) as a signer. Panics when `index` is 10 or more.
    pub fn signer(&self, index: usize) -> PrivateKeySigner {
        dev_signer(index)
    }

    /// Address of dev account `index` (0..10).
    pub fn address(&self, index: usize) -> Address {
        dev_signer(index).address()
    }

    /// A [`ChainConfig`] for this chain with short intervals for tests (50 ms polls, 2 s request
    /// timeout, 30 s transaction timeout), Standard mode, no contracts.
    pub fn chain_config(&self) -> ChainConfig {
        let mut config = ChainConfig::new(self.rpc_url(), self.chain_id);
        config.poll_interval = Duration::from_millis(50);
        config.request_timeout = Duration::from_secs(2);
        config.tx_timeout = Duration::from_secs(30);
        config
    }

    /// Takes the chain down: SIGTERM (anvil writes its state file), SIGKILL if it has not exited
    /// within 15 s. Afterwards nothing listens on the port. A no-op when already stopped.
    #[tracing::instrument(level = "debug", skip(self), fields(port = self.port))]
    pub async fn stop(&mut self) -> Result<(), AnvilError> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        if child.try_wait()?.is_some() {
            return Ok(());
        }
        // std can only SIGKILL, which skips the state dump; `kill` is POSIX and everywhere.
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if matches!(sent, Ok(s) if s.success()) {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline {
                if child.try_wait()?.is_some() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tracing::warn!(port = self.port, "anvil ignored SIGTERM; killing it (state not saved)");
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Starts a stopped anvil again on the same port from its saved state (blocks, contracts,
    /// nonces, logs). Retries for a few seconds if the port is not free yet.
    #[tracing::instrument(level = "debug", skip(self), fields(port = self.port))]
    pub async fn restart(&mut self) -> Result<(), AnvilError> {
        self.stop().await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.start(self.port).await {
                Err(AnvilError::PortInUse(_)) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    fn state_path(&self) -> PathBuf {
        self.options.state_path.clone().unwrap_or_else(|| self.dir.path().join("state.json"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("anvil.log")
    }

    /// Starts the process on `port` and waits until it answers with the expected chain id.
    async fn start(&mut self, port: u16) -> Result<(), AnvilError> {
        let log = File::options().create(true).append(true).open(self.log_path())?;
        let log_start = log.metadata()?.len();
        let mut command = Command::new(&self.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &self.chain_id.to_string()])
            // --state: load the file if it exists, dump to it on SIGTERM (see `stop`).
            .arg("--state")
            .arg(self.state_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if !self.options.ethereum_fees {
            command.args(["--base-fee", "0", "--gas-price", "0"]);
        }
        if let Some(block_time) = self.options.block_time {
            command.args(["--block-time", &block_time.as_secs_f64().to_string()]);
        }
        if let Some(hardfork) = &self.options.hardfork {
            command.args(["--hardfork", hardfork]);
        }
        let mut child = command.spawn()?;
        self.port = port;

        let url = self.rpc_url().parse().expect("a valid URL");
        let provider = crate::client::http_provider(url, Duration::from_secs(1));
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                let log = self.log_tail(log_start);
                return Err(if log.contains("in use") {
                    AnvilError::PortInUse(port)
                } else {
                    AnvilError::Exited { status, log }
                });
            }
            // Our own "Listening on" line first: if the port went to another anvil in the
            // meantime, that one would answer eth_chainId while ours is failing to bind.
            if self.log_tail(log_start).contains(&format!("Listening on 127.0.0.1:{port}"))
                && let Ok(id) = provider.get_chain_id().await
                && id == self.chain_id
            {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AnvilError::NotReady { port, waited: started.elapsed(), log: self.log_tail(log_start) });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::debug!(port, pid = child.id(), "anvil ready");
        self.child = Some(child);
        Ok(())
    }

    /// The last 2 KiB this start wrote to the log, for error messages.
    fn log_tail(&self, from: u64) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(from.max(len.saturating_sub(2048))));
            let _ = f.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
