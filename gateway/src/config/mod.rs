//! Node configuration: a TOML file, then `CADENA_*` environment variables over it
//! (`CADENA_LIMITS__MAX_DEPTH=8` for nested keys), then `DATABASE_URL`. Only variables naming
//! a key of the configuration are read: others that share the prefix (`CADENA_ANVIL` for the
//! tests' chain, `CADENA_GATEWAY_*` for the gateway) are not this config's business.
//!
//! Secrets are [`Secret`]s: their `Debug` prints `***`, so logging a config never leaks one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cadena_credentials::CountryCode;
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod environment;

pub use environment::env_overrides;

/// A string that must never be logged.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Limits on requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Highest query complexity.
    pub max_complexity: usize,
    /// Most aliases in one document.
    pub max_aliases: usize,
    /// Whether anonymous callers may introspect the schema (`__schema`, `__type`) and read the
    /// subgraph's SDL (`_service { sdl }`). Off by default: a production node shows its schema
    /// to officers only; `cadena dev` turns it on for GraphiQL and the gateway.
    pub anonymous_introspection: bool,
    /// The most operators one VERIFIER account (an insurer, a bank) may follow.
    pub max_followed_per_verifier: u64,
    /// The most status changes one VERIFIER account is told a minute, over its subscriptions
    /// and its webhook each (0: unbounded); a burst beyond it is paced, not dropped.
    pub follower_events_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let q = cadena_resolvers::graphql::QueryLimitsConfig::default();
        Limits {
            max_body_bytes: 256 * 1024,
            max_depth: q.max_depth,
            max_complexity: q.max_complexity,
            max_aliases: q.max_aliases,
            anonymous_introspection: q.anonymous_introspection,
            max_followed_per_verifier: 10_000,
            follower_events_per_minute: 6_000,
        }
    }
}

/// Everything a node needs to start.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The country this node certifies for (ISO 3166-1 alpha-2).
    pub country: String,
    /// The customs authority's name.
    pub authority: String,
    /// Where to listen.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the node keeps its files (SQLite database, session key).
    pub data_dir: PathBuf,
    /// `postgres://...` or `sqlite://...`; default: a SQLite file in `data_dir`.
    #[serde(default)]
    pub database_url: Option<Secret>,
    /// HMAC key for session tokens (32+ bytes); default: generated once into `data_dir`.
    #[serde(default)]
    pub session_secret: Option<Secret>,
    /// Session lifetime in seconds.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
    /// The node's public base URL; its did:web and status list URLs derive from it.
    /// Default: `http://<listen>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Issuing and verifying credentials.
    #[serde(default)]
    pub credentials: CredentialsConfig,
    /// The chain credentials are anchored on (LACChain, or anvil locally); absent: no anchoring,
    /// and the anchor fragment of verifications is SKIPPED.
    #[serde(default)]
    pub chain: Option<cadena_contracts::ChainConfig>,
    /// How this node anchors (used when `[chain]` is set).
    #[serde(default)]
    pub anchoring: AnchoringConfig,
    /// Risk-management systems told of every certification event, and VERIFIER accounts'
    /// receivers of their recognition changes (`[[webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// Operators that VERIFIER accounts of regulated bodies follow by an ADMIN's configuration
    /// rather than the firm's consent (`[[following]]`, each with its mandate as the reason).
    #[serde(default)]
    pub following: Vec<cadena_resolvers::services::watch_lists::ConfiguredFollow>,
    /// What the replicas of this node share besides the database (`[redis]`); absent for a
    /// single process.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// The certification event log (`[events]`).
    #[serde(default)]
    pub events: EventsConfig,
    /// The officer console's branding (`[console]`).
    #[serde(default)]
    pub console: ConsoleConfig,
    /// Credential offers to firms' wallets and presentation requests (`[wallets]`).
    #[serde(default)]
    pub wallets: WalletsConfig,
}

/// `[wallets]`: lifetimes of what wallets redeem or answer (OpenID4VCI, OpenID4VP).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalletsConfig {
    /// Hours a credential offer can be redeemed (once).
    pub offer_ttl_hours: u64,
    /// Seconds an access token from the token endpoint lasts.
    pub token_ttl_secs: u64,
    /// Seconds a nonce from the nonce endpoint can be answered (once).
    pub nonce_ttl_secs: u64,
    /// Seconds a presentation request can be answered (once).
    pub request_ttl_secs: u64,
    /// Wrong transaction codes an offer takes before it is void.
    pub max_tx_code_attempts: u64,
}

impl Default for WalletsConfig {
    fn default() -> Self {
        let defaults = cadena_resolvers::services::wallets::WalletSettings::default();
        WalletsConfig {
            offer_ttl_hours: defaults.offer_ttl.as_secs() / 3600,
            token_ttl_secs: defaults.token_ttl.as_secs(),
            nonce_ttl_secs: defaults.nonce_ttl.as_secs(),
            request_ttl_secs: defaults.request_ttl.as_secs(),
            max_tx_code_attempts: defaults.max_tx_code_attempts,
        }
    }
}

impl WalletsConfig {
    /// The settings the services take.
    pub fn settings(&self) -> cadena_resolvers::services::wallets::WalletSettings {
        use std::time::Duration;
        cadena_resolvers::services::wallets::WalletSettings {
            offer_ttl: Duration::from_secs(self.offer_ttl_hours * 3600),
            token_ttl: Duration::from_secs(self.token_ttl_secs),
            nonce_ttl: Duration::from_secs(self.nonce_ttl_secs),
            request_ttl: Duration::from_secs(self.request_ttl_secs),
            max_tx_code_attempts: self.max_tx_code_attempts,
        }
    }
}

/// `[console]`: each customs administration's look of the officer console.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The header's colour, `#rrggbb`; its white text must keep WCAG AA contrast (4.5:1).
    pub brand_colour: Option<String>,
    /// The authority's logo (PNG, SVG or JPEG, at most 512 KiB), shown in the header.
    pub logo: Option<PathBuf>,
}

/// The smallest contrast WCAG AA asks of normal text.
const AA_CONTRAST: f64 = 4.5;
/// The largest logo the console serves.
const MAX_LOGO_BYTES: u64 = 512 * 1024;

impl ConsoleConfig {
    /// The logo's media type, from its extension.
    pub fn logo_type(&self) -> Option<&'static str> {
        let extension = self.logo.as_ref()?.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "png" => Some("image/png"),
            "svg" => Some("image/svg+xml"),
            "jpg" | "jpeg" => Some("image/jpeg"),
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(colour) = &self.brand_colour {
            let ratio = contrast_with_white(colour).ok_or_else(|| ConfigError::Invalid {
                field: "console.brand_colour",
                message: format!("{colour:?} is not a colour #rrggbb"),
            })?;
            if ratio < AA_CONTRAST {
                return Err(ConfigError::Invalid {
                    field: "console.brand_colour",
                    message: format!(
                        "{colour} gives the header's white text a contrast of {ratio:.2}:1; WCAG AA needs {AA_CONTRAST}:1 (choose a darker colour)"
                    ),
                });
            }
        }
        if let Some(logo) = &self.logo {
            if self.logo_type().is_none() {
                return Err(ConfigError::Invalid {
                    field: "console.logo",
                    message: "must be a .png, .svg or .jpg file".into(),
                });
            }
            let size = std::fs::metadata(logo)
                .map_err(|e| ConfigError::Invalid {
                    field: "console.logo",
                    message: format!("{}: {e}", logo.display()),
                })?
                .len();
            if size > MAX_LOGO_BYTES {
                return Err(ConfigError::Invalid {
                    field: "console.logo",
                    message: format!("{} has {size} bytes; at most {MAX_LOGO_BYTES}", logo.display()),
                });
            }
        }
        Ok(())
    }
}

/// The WCAG contrast ratio of white on `#rrggbb`, or None when it is not such a colour.
pub fn contrast_with_white(colour: &str) -> Option<f64> {
    let hex = colour.strip_prefix('#').filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))?;
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).ok()?) / 255.0;
        Some(if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) })
    };
    let luminance = 0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?;
    Some(1.05 / (luminance + 0.05))
}

/// `[events]`: how long subscribers can resume from the event log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Days an event stays in the log for `certificationEvents(after:)` and SSE
    /// `Last-Event-ID` to resume from; older ones are deleted (the newest is always kept). A
    /// cursor older than what is kept is refused, naming the oldest it can resume after.
    /// 0: kept for ever.
    pub retain_days: u32,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { retain_days: 90 }
    }
}

impl EventsConfig {
    /// The retention, if any.
    pub fn retention(&self) -> Option<std::time::Duration> {
        (self.retain_days > 0).then(|| std::time::Duration::from_secs(u64::from(self.retain_days) * 86_400))
    }
}

/// `[redis]`: the replicas of one node tell each other of commits through it (every replica's
/// subscribers then hear every event at once; without it they hear it within a poll), and share
/// the anonymous verification rate through it (without it each replica grants the rate).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db` (`CADENA_REDIS__URL`).
    pub url: Secret,
}

/// A webhook receiver.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where events are POSTed.
    pub url: String,
    /// The HMAC secret the receiver checks `Cadena-Signature` with.
    pub secret: Secret,
    /// A VERIFIER account (an insurer, a bank): the receiver then gets that account's
    /// recognition changes only (status only, for the operators it follows with consent);
    /// absent: a risk system, which gets every certification event.
    #[serde(default)]
    pub verifier: Option<String>,
}

/// `[anchoring]`: the anchorer's key and batching.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnchoringConfig {
    /// The anchorer's secp256k1 key as hex (`CADENA_ANCHORING__SIGNER_KEY`); or use a file.
    pub signer_key: Option<Secret>,
    /// A file holding the anchorer's key as hex.
    pub signer_key_file: Option<PathBuf>,
    /// Most credential digests per Merkle batch.
    pub max_batch: usize,
    /// Most status changes per status batch.
    pub max_status_batch: usize,
    /// A batch goes out once its oldest entry waited this long (milliseconds).
    pub max_wait_ms: u64,
    /// Confirmed batches this many blocks from the head are checked again now and then, and
    /// sent again if the chain lost them (a restored node, a reorg on a non-BFT chain). On
    /// LACChain's IBFT a block is final once added, so only a node restored from an older state
    /// loses blocks; keep this above the number of blocks such a restore can lose.
    pub recheck_depth_blocks: u64,
}

impl Default for AnchoringConfig {
    fn default() -> Self {
        let defaults = cadena_resolvers::services::anchoring::AnchoringSettings::default();
        AnchoringConfig {
            signer_key: None,
            signer_key_file: None,
            max_batch: defaults.max_batch,
            max_status_batch: defaults.max_status_batch,
            max_wait_ms: defaults.max_wait.as_millis() as u64,
            recheck_depth_blocks: defaults.recheck_depth,
        }
    }
}

impl AnchoringConfig {
    /// Where the anchorer's key comes from.
    pub fn signer_key(&self) -> Result<cadena_contracts::SignerKey, ConfigError> {
        match (&self.signer_key, &self.signer_key_file) {
            (Some(key), None) => Ok(cadena_contracts::SignerKey::Hex(key.expose().to_owned())),
            (None, Some(file)) => Ok(cadena_contracts::SignerKey::File(file.clone())),
            _ => Err(ConfigError::Invalid {
                field: "anchoring.signer_key",
                message: "with [chain], give exactly one of anchoring.signer_key or anchoring.signer_key_file".into(),
            }),
        }
    }

    /// The worker's settings.
    pub fn settings(&self) -> cadena_resolvers::services::anchoring::AnchoringSettings {
        cadena_resolvers::services::anchoring::AnchoringSettings {
            max_batch: self.max_batch,
            max_status_batch: self.max_status_batch,
            max_wait: std::time::Duration::from_millis(self.max_wait_ms),
            recheck_depth: self.recheck_depth_blocks,
            ..Default::default()
        }
    }
}

/// An issuer this node trusts (a customs authority it recognises).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// Its DID.
    pub did: String,
    /// Its name, as reports show it.
    pub authority: String,
}

/// `[credentials]`: how the node issues and verifies credentials.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CredentialsConfig {
    /// `eddsa-rdfc-2022` (default) or `ecdsa-rdfc-2019` (P-256), for a newly generated key.
    pub cryptosuite: String,
    /// The issuer key file; default `data_dir/issuer-keys.json` (created owner-only).
    pub key_file: Option<PathBuf>,
    /// Issuers trusted besides this node.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// How long verifiers may cache a status list, in seconds.
    pub status_list_ttl_secs: u64,
    /// How long a presentation challenge stays answerable, in seconds.
    pub challenge_ttl_secs: u64,
    /// Whether officers with the ISSUER role may sign credentials other than AEO certifications
    /// through `POST /credentials/issue`. Off by default: AEO certifications come only from the
    /// certification lifecycle, and a node that signs nothing else needs no such door.
    pub vc_api_issuance: bool,
    /// Whether verifications may fetch (DID documents, status lists, anchor proofs) from
    /// private, loopback and link-local addresses. Off by default: anyone may ask a node to
    /// verify, and a node must not be made to probe its own network. `cadena dev` and tests
    /// turn it on, since every node there is on 127.0.0.1.
    pub allow_private_addresses: bool,
    /// Verifications (credentials and presentations) an anonymous client may ask for per
    /// minute, per address; 0: no limit. Officers are not limited.
    pub anonymous_verifications_per_minute: u32,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        CredentialsConfig {
            cryptosuite: "eddsa-rdfc-2022".into(),
            key_file: None,
            trusted_issuers: Vec::new(),
            status_list_ttl_secs: 300,
            challenge_ttl_secs: 300,
            vc_api_issuance: false,
            allow_private_addresses: false,
            anonymous_verifications_per_minute: 60,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8700))
}

fn default_session_ttl() -> u64 {
    8 * 3600
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or environment could not be read or has a wrong value; figment names the key.
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    /// A value is well-typed but not acceptable.
    #[error("configuration: {field}: {message}")]
    Invalid {
        /// The key at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl NodeConfig {
    /// A config with defaults for everything but the essentials.
    pub fn new(country: CountryCode, authority: impl Into<String>, data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            country: country.as_str().to_owned(),
            authority: authority.into(),
            listen: default_listen(),
            data_dir: data_dir.into(),
            database_url: None,
            session_secret: None,
            session_ttl_secs: default_session_ttl(),
            limits: Limits::default(),
            public_url: None,
            credentials: CredentialsConfig::default(),
            chain: None,
            anchoring: AnchoringConfig::default(),
            webhooks: Vec::new(),
            following: Vec::new(),
            redis: None,
            events: EventsConfig::default(),
            console: ConsoleConfig::default(),
            wallets: WalletsConfig::default(),
        }
    }

    /// Loads `file`, then the environment over it.
    pub fn load(file: &Path) -> Result<NodeConfig, ConfigError> {
        let mut figment = Figment::new().merge(Toml::file_exact(file)).merge(env_overrides::<NodeConfig>("CADENA_"));
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database_url", url));
        }
        let config: NodeConfig = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.country_code()?;
        if self.authority.trim().is_empty() {
            return Err(ConfigError::Invalid { field: "authority", message: "must name the customs authority".into() });
        }
        if let Some(secret) = &self.session_secret
            && secret.expose().len() < 32
        {
            return Err(ConfigError::Invalid { field: "session_secret", message: "must be at least 32 bytes".into() });
        }
        self.console.validate()?;
        if self.session_ttl_secs == 0 {
            return Err(ConfigError::Invalid { field: "session_ttl_secs", message: "must be positive".into() });
        }
        self.cryptosuite()?;
        cadena_credentials::did::did_web_for_url(&self.public_url()).map_err(|e| ConfigError::Invalid {
            field: "public_url",
            message: format!("{e}: give the node's base URL, e.g. https://aduanas.example"),
        })?;
        if let Some(chain) = &self.chain {
            if chain.contracts.is_none() {
                return Err(ConfigError::Invalid {
                    field: "chain.contracts",
                    message: "give the authority_registry and anchor_registry addresses".into(),
                });
            }
            self.anchoring.signer_key()?;
            if self.anchoring.max_batch == 0 || self.anchoring.max_status_batch == 0 {
                return Err(ConfigError::Invalid { field: "anchoring.max_batch", message: "must be positive".into() });
            }
        }
        for webhook in &self.webhooks {
            if !(webhook.url.starts_with("http://") || webhook.url.starts_with("https://"))
                || webhook.secret.expose().len() < 16
            {
                return Err(ConfigError::Invalid {
                    field: "webhooks",
                    message: format!("{}: give an http(s) URL and a secret of at least 16 characters", webhook.url),
                });
            }
        }
        if self.credentials.status_list_ttl_secs == 0 || self.credentials.challenge_ttl_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "credentials.status_list_ttl_secs",
                message: "TTLs must be positive".into(),
            });
        }
        Ok(())
    }

    /// The suite of a newly generated issuer key.
    pub fn cryptosuite(&self) -> Result<cadena_credentials::keys::Cryptosuite, ConfigError> {
        cadena_credentials::keys::Cryptosuite::parse(&self.credentials.cryptosuite).ok_or_else(|| {
            ConfigError::Invalid {
                field: "credentials.cryptosuite",
                message: format!("\"{}\" is not eddsa-rdfc-2022 or ecdsa-rdfc-2019", self.credentials.cryptosuite),
            }
        })
    }

    /// The node's public base URL.
    pub fn public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen)).trim_end_matches('/').to_owned()
    }

    /// The issuer key file.
    pub fn key_file(&self) -> PathBuf {
        self.credentials.key_file.clone().unwrap_or_else(|| self.data_dir.join("issuer-keys.json"))
    }

    /// The parsed country.
    pub fn country_code(&self) -> Result<CountryCode, ConfigError> {
        CountryCode::parse(&self.country).map_err(|e| ConfigError::Invalid { field: "country", message: e.to_string() })
    }

    /// The database URL to use.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("node.sqlite").display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brand_colour_must_keep_the_headers_text_legible() {
        // WCAG's own reference points: white on black is 21:1, on #767676 just over 4.5:1.
        assert!((contrast_with_white("#000000").unwrap() - 21.0).abs() < 0.01);
        assert!(contrast_with_white("#767676").unwrap() >= AA_CONTRAST);
        assert_eq!(contrast_with_white("blue"), None);
        let mut config = NodeConfig::new(CountryCode::parse("MX").unwrap(), "ANAM", "/tmp/x");
        config.console.brand_colour = Some("#0b3d6e".into());
        config.validate().unwrap();
        config.console.brand_colour = Some("#7fb3e6".into());
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("console.brand_colour") && refused.contains("4.5:1"), "{refused}");
        config.console.brand_colour = None;
        config.console.logo = Some("/nonexistent/logo.png".into());
        assert!(config.validate().unwrap_err().to_string().contains("console.logo"));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut config = NodeConfig::new(CountryCode::parse("MX").unwrap(), "ANAM", "/tmp/x");
        config.database_url = Some(Secret::new("postgres://u:hunter2@db/x"));
        config.session_secret = Some(Secret::new("s".repeat(40)));
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("ssss"), "{printed}");
    }

    #[test]
    fn a_file_and_the_environment_combine_and_bad_values_are_named() {
        let dir = std::env::temp_dir().join(format!("cadena-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("node.toml");
        std::fs::write(&file, "country = \"XX\"\nauthority = \"A\"\ndata_dir = \"/tmp\"\n").unwrap();
        let err = NodeConfig::load(&file).unwrap_err().to_string();
        assert!(err.contains("country") && err.contains("XX"), "{err}");
        std::fs::write(
            &file,
            "country = \"co\"\nauthority = \"DIAN\"\ndata_dir = \"/tmp\"\nlisten = \"127.0.0.1:9\"\n",
        )
        .unwrap();
        let config = NodeConfig::load(&file).unwrap();
        assert_eq!(config.country_code().unwrap().as_str(), "CO");
        std::fs::write(&file, "country = \"CO\"\nauthority = \"DIAN\"\ndata_dir = \"/tmp\"\ncolour = 1\n").unwrap();
        let err = NodeConfig::load(&file).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        // An insurer's receiver and a configured entry, written as the README shows them.
        let entries = "[[webhooks]]\nurl = \"https://risk.insurer.example/cadena\"\nsecret = \"sixteen characters\"\n\
            verifier = \"aseguradora\"\n[[following]]\nverifier = \"afianzadora\"\ncountry = \"MX\"\n\
            tin = \"GODE561231GR8\"\nuntil = \"2027-12-31\"\nreason = \"Ley Aduanera art. 144\"\n";
        std::fs::write(&file, format!("country = \"MX\"\nauthority = \"ANAM\"\ndata_dir = \"/tmp\"\n{entries}"))
            .unwrap();
        let config = NodeConfig::load(&file).unwrap();
        assert_eq!(config.webhooks[0].verifier.as_deref(), Some("aseguradora"));
        assert_eq!(config.following[0].until.to_string(), "2027-12-31");
    }

    #[test]
    #[expect(clippy::result_large_err, reason = "figment's Jail takes a closure returning figment's own error")]
    fn only_variables_naming_a_key_are_read() {
        let fields = environment::field_names::<NodeConfig>();
        assert!(
            fields.contains(&"limits") && fields.contains(&"following") && !fields.contains(&"anvil"),
            "{fields:?}"
        );
        // A variable of another tool that shares the prefix is not a config key; one naming a
        // key is read, nested keys included.
        figment::Jail::expect_with(|jail| {
            jail.create_file("node.toml", "country = \"MX\"\nauthority = \"ANAM\"\ndata_dir = \"/tmp\"\n")?;
            jail.set_env("CADENA_ANVIL", "/usr/local/bin/anvil");
            jail.set_env("CADENA_GATEWAY_LISTEN", "127.0.0.1:4000");
            jail.set_env("CADENA_LIMITS__MAX_DEPTH", "8");
            let config = NodeConfig::load(Path::new("node.toml")).expect("starts with CADENA_ANVIL set");
            assert_eq!(config.limits.max_depth, 8);
            Ok(())
        });
    }
}
