//! One customs node: its storage, services, schema, and HTTP router.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cadena_contracts::ChainClient;
use cadena_resolvers::auth::TokenKeys;
use cadena_resolvers::events::EventBus;
use cadena_resolvers::graphql::{NodeSchema, NodeServices, QueryLimitsConfig, build_schema};
use cadena_resolvers::services::anchoring::{AnchoringService, ChainAnchorCheck, Former};
use cadena_resolvers::services::fetch::GuardedHttp;
use cadena_resolvers::services::follower_deliveries::DeliveryWriter;
use cadena_resolvers::services::outbox::Outbox;
use cadena_resolvers::services::partners::{Dispatcher, PartnerService, Sender};
use cadena_resolvers::services::recognition_webhooks::RecognitionWebhooks;
use cadena_resolvers::services::wallets::issuance::WalletIssuance;
use cadena_resolvers::services::wallets::presentation::PresentationVerifier;
use cadena_resolvers::services::watch_lists::{FollowerLimits, WatchLists};
use cadena_resolvers::services::webhooks::{WebhookService, WebhookTarget};
use cadena_resolvers::services::{CertificationService, CredentialService, CredentialSettings, OfficerService};
use cadena_resolvers::storage::Storage;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::config::NodeConfig;
use crate::going_away::GoingAway;

/// A node ready to serve.
#[derive(Clone)]
pub struct Node {
    /// Its configuration.
    pub config: NodeConfig,
    /// Its database.
    pub storage: Storage,
    /// Its services.
    pub services: NodeServices,
    /// Its GraphQL schema.
    pub schema: NodeSchema,
    /// Announced when it stops: its subscriptions (SSE and WebSocket) end.
    pub going_away: GoingAway,
    /// The writer of what VERIFIER accounts' subscribers were told, run while serving.
    /// (Shared by the clones of a node: the first to serve runs it.)
    delivery_writer: Arc<std::sync::Mutex<Option<DeliveryWriter>>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Reads the session key from the data dir, creating it (owner-only) at first start.
fn load_or_create_session_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("session.key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return hex_decode(existing.trim()).with_context(|| format!("{} is not a hex key", path.display()));
    }
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    write_owner_only(&path, hex.as_bytes())?;
    Ok(key)
}

fn hex_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(s.len() >= 64 && s.len().is_multiple_of(2), "expected at least 64 hex digits");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).context("not hex")).collect()
}

/// Writes a file readable by its owner only: keys must not be readable by other local users.
pub fn write_owner_only(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

impl Node {
    /// Opens (and migrates) the database and assembles the services.
    pub async fn start(config: NodeConfig) -> anyhow::Result<Node> {
        config.validate()?;
        let country = config.country_code()?;
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let storage =
            Storage::connect_and_migrate(&config.database_url()).await.context("opening and migrating the database")?;
        let secret = match &config.session_secret {
            Some(secret) => secret.expose().as_bytes().to_vec(),
            None => load_or_create_session_key(&config.data_dir)?,
        };
        let keys = TokenKeys::new(&secret, country.as_str(), Duration::from_secs(config.session_ttl_secs));
        let settings = CredentialSettings {
            base_url: config.public_url(),
            key_file: config.key_file(),
            cryptosuite: config.cryptosuite()?,
            trusted_issuers: config
                .credentials
                .trusted_issuers
                .iter()
                .map(|t| (t.did.clone(), t.authority.clone()))
                .collect(),
            status_list_ttl: Duration::from_secs(config.credentials.status_list_ttl_secs),
            challenge_ttl: Duration::from_secs(config.credentials.challenge_ttl_secs),
            anchoring: config.chain.is_some(),
            vc_api_issuance: config.credentials.vc_api_issuance,
            allow_private_addresses: config.credentials.allow_private_addresses,
            anonymous_verifications_per_minute: config.credentials.anonymous_verifications_per_minute,
        };
        // The chain may be down when the node starts: the client is built without asking it,
        // and the worker checks the chain id on its first successful round.
        let anchoring = match &config.chain {
            Some(chain) => {
                let signer = config.anchoring.signer_key()?.load().context("loading the anchorer key")?;
                let client = ChainClient::offline(chain.clone(), signer).context("configuring the chain client")?;
                let country_bytes = country.as_str().as_bytes().try_into().expect("two-letter code");
                Some(AnchoringService::new(storage.clone(), client, country_bytes, config.anchoring.settings()))
            }
            None => None,
        };
        let did = cadena_credentials::did::did_web_for_url(&settings.base_url)?;
        let outbound = GuardedHttp::new(config.credentials.allow_private_addresses);
        let anchor_check = anchoring.clone().map(|a| {
            Arc::new(ChainAnchorCheck::new(did, a, outbound)) as Arc<dyn cadena_credentials::verification::AnchorCheck>
        });
        let registry = anchoring.as_ref().map(|a| a.chain().clone());
        let credentials = CredentialService::with_trust(storage.clone(), settings, anchor_check, registry)
            .context("loading the issuer keys")?;
        // Replicas grant an anonymous client its verifications once between them; the node's DID
        // names the deployment (every replica has it, no other node does).
        if let (Some(redis), Some(rate)) = (&config.redis, credentials.anonymous_rate()) {
            let client = redis::Client::open(redis.url.expose()).context("[redis] url")?;
            rate.share(client, credentials.identity().did());
        }
        let webhooks = WebhookService::new(
            config
                .webhooks
                .iter()
                .map(|w| WebhookTarget {
                    url: w.url.clone(),
                    secret: w.secret.expose().to_owned(),
                    verifier: w.verifier.clone(),
                })
                .collect(),
        );
        let bus = EventBus::default();
        let certifications = CertificationService::new(storage.clone(), bus.clone(), country, credentials.clone())
            .with_webhooks(webhooks.clone());
        let partners = anchoring.as_ref().map(|anchoring| {
            PartnerService::new(
                storage.clone(),
                anchoring.chain().clone(),
                country,
                credentials.clone(),
                anchoring.clone(),
                bus.clone(),
                webhooks.clone(),
            )
        });
        let follower_limits = FollowerLimits {
            max_followed: config.limits.max_followed_per_verifier,
            events_per_minute: config.limits.follower_events_per_minute,
        };
        let (watch_lists, delivery_writer) = WatchLists::new(storage.clone(), credentials.clone(), follower_limits);
        watch_lists.configure(&config.following).await.context("[[following]]")?;
        if let (Some(redis), Some(rate)) = (&config.redis, watch_lists.rate()) {
            let client = redis::Client::open(redis.url.expose()).context("[redis] url")?;
            rate.share(client, &format!("{}:followers", credentials.identity().did()));
        }
        let wallet_settings = config.wallets.settings();
        let wallets =
            WalletIssuance::new(storage.clone(), credentials.clone(), config.authority.clone(), wallet_settings);
        let presentations =
            PresentationVerifier::new(storage.clone(), credentials.clone(), webhooks.clone(), wallet_settings);
        let services = NodeServices {
            officers: OfficerService::new(storage.clone(), keys),
            certifications,
            wallets,
            presentations,
            credentials,
            anchoring,
            partners,
            webhooks,
            outbox: Outbox::new(storage.clone(), bus.clone()),
            watch_lists,
        };
        if let Some(anchoring) = &services.anchoring {
            // Before serving: a node that never read the log for anchoring starts after every
            // event so far (what came before queued its anchoring in the outbox, or was not
            // anchored: the node had no chain).
            Former::new(anchoring.clone(), services.certifications.event_log())
                .cursor()
                .await
                .context("the anchoring former's cursor")?;
        }
        if let Some(partners) = &services.partners {
            // Before serving: a node that never dispatched starts after every event so far.
            Dispatcher::new(partners.clone(), services.certifications.event_log())
                .cursor()
                .await
                .context("the partner dispatcher's cursor")?;
        }
        let limits = QueryLimitsConfig {
            max_depth: config.limits.max_depth,
            max_complexity: config.limits.max_complexity,
            max_aliases: config.limits.max_aliases,
            anonymous_introspection: config.limits.anonymous_introspection,
            ..QueryLimitsConfig::default()
        };
        let schema = build_schema(Some(services.clone()), limits);
        tracing::info!(country = %country, authority = %config.authority, did = %services.credentials.identity().did(), "node ready");
        Ok(Node {
            config,
            storage,
            services,
            schema,
            going_away: GoingAway::default(),
            delivery_writer: Arc::new(std::sync::Mutex::new(Some(delivery_writer))),
        })
    }

    /// Serves on `listener` until `shutdown` completes, then ends its subscriptions (WebSockets
    /// close with `1001`), lets requests in flight finish and stops its workers, within seconds
    /// however busy it is. The caller binds the listener, so tests can bind port
    /// 0 and read the real port.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Where the log's reader starts publishing, read before any follower of the bus starts
        // (the partner dispatcher, subscriptions), so none of them can read past it.
        let log_from = self.services.certifications.event_log().newest().await.context("reading the event log")?;
        // The background workers live as long as the server: they stop when serving stops.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        // The outbox's loops, one per topic, each with its handler; and the loops that are not
        // outbox work (following the chain, following MRAs and partners' feeds).
        let outbox = self.services.outbox.clone();
        let mut workers = vec![tokio::spawn(outbox.clone().run(self.services.webhooks.clone(), until_stopped()))];
        if let Some(anchoring) = self.services.anchoring.clone() {
            let former = Former::new(anchoring.clone(), self.services.certifications.event_log());
            workers.push(tokio::spawn(former.run(until_stopped())));
            workers.push(tokio::spawn(anchoring.run(until_stopped())));
        }
        if let Some(partners) = self.services.partners.clone() {
            let dispatcher = Dispatcher::new(partners.clone(), self.services.certifications.event_log());
            workers.push(tokio::spawn(dispatcher.run(until_stopped())));
            workers.push(tokio::spawn(outbox.clone().run(Sender(partners.clone()), until_stopped())));
            workers.push(tokio::spawn(partners.run(until_stopped())));
        }
        let writer = self.delivery_writer.lock().expect("the writer's lock").take();
        if let Some(writer) = writer {
            workers.push(tokio::spawn(writer.run(until_stopped())));
        }
        // VERIFIER accounts' status-only webhooks, queued from the log.
        let followers = RecognitionWebhooks::new(
            self.storage.clone(),
            self.services.certifications.event_log(),
            self.services.watch_lists.clone(),
            self.services.webhooks.follower_webhooks(),
        );
        workers.push(tokio::spawn(followers.run(until_stopped())));
        // The log's reader: subscribers of this process hear every event, whichever replica
        // committed it.
        let retention = self.config.events.retention();
        workers.push(tokio::spawn(self.services.certifications.event_log().run(log_from, retention, until_stopped())));
        if let Some(redis) = &self.config.redis {
            workers.push(tokio::spawn(crate::replicas::relay_commits(
                redis.url.expose().to_owned(),
                self.config.country.clone(),
                self.services.certifications.bus().clone(),
                until_stopped(),
            )));
        }
        let going_away = self.going_away.clone();
        // With each client's address: anonymous verifications are rate-limited per address.
        let router = crate::http::router(self).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let serving = axum::serve(listener, router).with_graceful_shutdown(going_away.after(shutdown));
        let served = going_away.serve(serving).await;
        // A worker stops between rounds; one in the middle of a round against a partner that is
        // gone could take its timeouts. Its work is transactional and resumes at the next start.
        let _ = stop.send(true);
        let deadline = tokio::time::Instant::now() + WORKERS_STOP_WITHIN;
        for mut worker in workers {
            if tokio::time::timeout_at(deadline, &mut worker).await.is_err() {
                tracing::warn!("a background worker did not stop in time; abandoning its round");
                worker.abort();
            }
        }
        served?;
        Ok(())
    }
}

/// How long a stopping node gives its background workers.
const WORKERS_STOP_WITHIN: Duration = Duration::from_secs(3);
