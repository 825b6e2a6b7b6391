//! What verifiers ask of the chain: whether a credential's digest is anchored by its issuer's
//! authority (the anchor fragment of a verification), and whether an issuer is a registered
//! customs authority (trust in issuers).

use std::collections::HashMap;
use std::time::Duration;

use cadena_contracts::{ChainClient, ChainError};

use super::{AnchorProof, AnchoringService, ChainStatus, hex32};

/// The anchor fragment of a verification: the credential's digest is in a Merkle tree whose
/// root the chain holds, anchored by the authority whose registered DID is the issuer's, and
/// the chain's status events do not contradict the status lists.
///
/// The proof (root, index, siblings) comes from this node's storage for its own credentials,
/// and from the issuing node's `/anchors/{digest}` for others: it is public, and useless
/// without the credential.
#[derive(Debug)]
pub struct ChainAnchorCheck {
    own_did: String,
    anchoring: AnchoringService,
    http: crate::services::fetch::GuardedHttp,
}

impl ChainAnchorCheck {
    /// The check of the node with DID `own_did`, asking other nodes through `http` (the
    /// verifier only asks it about trusted issuers, at their own origin).
    pub fn new(
        own_did: String,
        anchoring: AnchoringService,
        http: crate::services::fetch::GuardedHttp,
    ) -> ChainAnchorCheck {
        ChainAnchorCheck { own_did, anchoring, http }
    }

    async fn proof(&self, issuer: &str, digest: &str) -> Result<Option<AnchorProof>, String> {
        if issuer == self.own_did {
            return self.anchoring.proof_of(digest).await.map_err(|e| e.to_string());
        }
        let document = cadena_credentials::did::did_web_document_url(issuer).map_err(|e| e.to_string())?;
        let base = document.strip_suffix("/.well-known/did.json").or_else(|| document.strip_suffix("/did.json"));
        let url = format!("{}/anchors/{digest}", base.unwrap_or(&document));
        let response = self.http.get(&url, "application/json").await.map_err(|e| format!("GET {url}: {e}"))?;
        match response.status {
            404 => Ok(None),
            200 => {
                cadena_credentials::json::from_slice_as(&response.body).map(Some).map_err(|e| format!("GET {url}: {e}"))
            }
            status => Err(format!("GET {url}: HTTP {status}")),
        }
    }
}

impl cadena_credentials::verification::AnchorCheck for ChainAnchorCheck {
    fn check<'a>(
        &'a self,
        digest: [u8; 32],
        issuer: &'a str,
        status: &'a cadena_credentials::verification::StatusReport,
    ) -> futures::future::BoxFuture<'a, cadena_credentials::verification::Check> {
        use cadena_credentials::verification::Check;
        Box::pin(async move {
            let digest = hex::encode(digest);
            let proof = match self.proof(issuer, &digest).await {
                Ok(Some(proof)) if !proof.root.is_empty() => proof,
                Ok(_) => return Check::skipped("anchor pending: its batch has not gone out yet"),
                Err(error) => return Check::error(format!("the anchor proof cannot be fetched: {error}")),
            };
            if !AnchoringService::verify_locally(&proof) {
                return Check::invalid("the Merkle proof does not lead from the credential's digest to its root");
            }
            let Ok(root) = hex32(&proof.root) else { return Check::invalid("the anchor root is not 32 bytes") };
            let chain = &self.anchoring.chain;
            let record = match chain.anchor_of(root).await {
                Ok(Some(record)) => record,
                // Not (or no longer) on the chain as it is now: a batch not yet sent, or one a
                // rollback of the chain took away, which the issuer sends again. The signature
                // already holds the issuer to the credential; the anchor is only late.
                Ok(None) => {
                    return Check::skipped(format!(
                        "anchor pending: root {} is not on the chain as it is now{}",
                        proof.root,
                        if proof.tx_hash.is_some() {
                            " (the chain rolled back; the issuer sends it again)"
                        } else {
                            ""
                        }
                    ));
                }
                Err(error) => return Check::error(format!("the chain cannot be asked: {error}")),
            };
            let country = String::from_utf8_lossy(&record.country).into_owned();
            match chain.authority(record.country).await {
                Ok(Some(authority)) if authority.did == issuer => {}
                Ok(Some(authority)) => {
                    return Check::invalid(format!(
                        "anchored by the authority of {country}, whose DID is {}, not the issuer {issuer}",
                        authority.did
                    ));
                }
                Ok(None) => return Check::invalid(format!("anchored by {country}, which is no registered authority")),
                Err(error) => return Check::error(format!("the chain cannot be asked: {error}")),
            }
            let head = match chain.block_number().await {
                Ok(head) => head,
                Err(error) => return Check::error(format!("the chain cannot be asked: {error}")),
            };
            let digest_hash = match hex32(&digest) {
                Ok(d) => d,
                Err(_) => return Check::error("digest encoding"),
            };
            let history = match chain.status_history(record.country, digest_hash, record.block_number, head).await {
                Ok(history) => history,
                Err(error) => return Check::error(format!("the chain cannot be asked: {error}")),
            };
            let latest = history.last().map(|e| e.status);
            // A withdrawal on chain that the list does not show would mean the list was rolled
            // back; the other way round is only the batch delay.
            if matches!(latest, Some(4..=6)) && status.revoked == Some(false) {
                return Check::invalid(format!(
                    "the chain records the credential as {} but its status list does not show it revoked",
                    ChainStatus::name(latest.unwrap_or(0))
                ));
            }
            let chain_status =
                latest.map_or("no status change".to_owned(), |s| format!("last status {}", ChainStatus::name(s)));
            Check::valid(format!(
                "anchored by {country} in block {} ({} confirmations), root {}, leaf {}; {chain_status}",
                record.block_number,
                head.saturating_sub(record.block_number) + 1,
                proof.root,
                proof.leaf_index
            ))
        })
    }
}

/// Trust in issuers: the configured list, and every active customs authority in the chain's
/// authority registry (looked up by DID). The registry is read again after 30 seconds, or
/// after 2 seconds when asked about a DID it did not list: a newly admitted authority is
/// trusted within seconds, and a flood of unknown issuers costs one read per 2 seconds.
pub struct RegistryTrust {
    configured: HashMap<String, String>,
    chain: Option<ChainClient>,
    cache: tokio::sync::Mutex<Option<(tokio::time::Instant, HashMap<String, String>)>>,
}

impl std::fmt::Debug for RegistryTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryTrust").finish_non_exhaustive()
    }
}

impl RegistryTrust {
    /// Trust in `configured` (DID → authority name), and in the registry `chain` reads.
    pub fn new(configured: HashMap<String, String>, chain: Option<ChainClient>) -> RegistryTrust {
        RegistryTrust { configured, chain, cache: tokio::sync::Mutex::new(None) }
    }

    /// The registry's authority for `did`, if it lists one.
    async fn registered(&self, chain: &ChainClient, did: &str) -> Result<Option<String>, ChainError> {
        let mut cache = self.cache.lock().await;
        if let Some((at, map)) = cache.as_ref() {
            let fresh_for = if map.contains_key(did) { REGISTRY_TTL } else { REGISTRY_MISS_TTL };
            if at.elapsed() < fresh_for {
                return Ok(map.get(did).cloned());
            }
        }
        let mut map = HashMap::new();
        for country in chain.countries().await? {
            if let Some(authority) = chain.authority(country).await?
                && authority.active
            {
                map.insert(authority.did, format!("the customs authority of {}", String::from_utf8_lossy(&country)));
            }
        }
        let found = map.get(did).cloned();
        *cache = Some((tokio::time::Instant::now(), map));
        Ok(found)
    }
}

/// How long the authority registry's listing is reused.
const REGISTRY_TTL: Duration = Duration::from_secs(30);
/// How long a listing that lacks an asked-for DID is reused before reading the registry again.
const REGISTRY_MISS_TTL: Duration = Duration::from_secs(2);

impl cadena_credentials::verification::IssuerTrust for RegistryTrust {
    fn trusted<'a>(
        &'a self,
        issuer: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Option<String>, cadena_credentials::verification::ResolutionError>> {
        Box::pin(async move {
            if let Some(name) = self.configured.get(issuer) {
                return Ok(Some(name.clone()));
            }
            let Some(chain) = &self.chain else { return Ok(None) };
            let registered = self.registered(chain, issuer).await.map_err(|e| {
                cadena_credentials::verification::ResolutionError(format!("the authority registry: {e}"))
            })?;
            Ok(registered.map(|name| format!("{name} (authority registry)")))
        })
    }
}
