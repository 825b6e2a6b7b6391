//! OpenID4VCI 1.0 issuer, pre-authorised code flow: an officer offers a granted certification
//! to the firm's wallet (a link or QR code, and a transaction code the firm gets out of band);
//! the wallet exchanges the code for an access token, asks for a nonce, proves possession of
//! its key over that nonce, and receives the credential bound to that key, as a Data Integrity
//! credential (`ldp_vc`) or an SD-JWT VC (`dc+sd-jwt`), once per offer and format.
//!
//! Every copy shares the certification's status slot, so suspension, reinstatement and
//! revocation reach it through the Bitstring Status Lists (`ldp_vc`) or the Token Status List
//! over the same bits (`dc+sd-jwt`); its digest is anchored like the certification's own
//! credential, queued in the transaction that records it. Offers expire and are single use;
//! codes and tokens are stored hashed; every step is in the certification's wallet log.

use cadena_credentials::credential::{AEO_CONTEXT, AEO_CREDENTIAL_TYPE, VC_V2_CONTEXT, credential_digest};
use cadena_credentials::did::{did_key_for, did_key_public_key};
use cadena_credentials::jwt::Jwt;
use cadena_credentials::keys::PublicKey;
use cadena_credentials::lifecycle::Status;
use cadena_credentials::sd_jwt_vc::{self, AEO_VCT, TokenStatusReference};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait as _, QueryFilter, QueryOrder, QueryTrait, Set, Statement};
use serde_json::{Value, json};
use sha2::Digest as _;
use uuid::Uuid;

use super::{WalletError, WalletSettings};
use crate::auth::roles::authorize;
use crate::auth::{Operation, Principal};
use crate::errors::ServiceError;
use crate::services::certifications::effective_status;
use crate::services::credentials::CredentialService;
use crate::services::outbox;
use crate::services::secrets::{random_token, token_hash};
use crate::storage::entities::{
    certifications, credential_offers, credentials, wallet_credentials, wallet_events, wallet_nonces,
};
use crate::storage::{self, ApplyError, Storage, WriteBatch};

/// The credential configuration of the Data Integrity credential.
pub const LDP_VC: &str = "AEOCertification_ldp_vc";
/// The credential configuration of the SD-JWT VC.
pub const SD_JWT_VC: &str = "AEOCertification_dc+sd-jwt";
/// The pre-authorised code grant.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The `typ` of a key proof.
pub const PROOF_TYPE: &str = "openid4vci-proof+jwt";
/// How far a key proof's `iat` may be from now.
const PROOF_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// An offer as the officer hands it to the firm.
#[derive(Clone, Debug)]
pub struct CredentialOffer {
    /// The offer's id (in the wallet log).
    pub id: Uuid,
    /// `openid-credential-offer://?credential_offer_uri=…`: the link, or the QR code's content.
    pub link: String,
    /// The credential offer object itself.
    pub offer: Value,
    /// The transaction code to give the firm out of band (never in the link).
    pub tx_code: String,
    /// When the offer stops being redeemable.
    pub expires_at: DateTime<Utc>,
}

/// The token endpoint's form.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct TokenRequest {
    /// Must be [`PRE_AUTHORIZED_GRANT`].
    pub grant_type: Option<String>,
    /// The offer's code.
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: Option<String>,
    /// The transaction code.
    pub tx_code: Option<String>,
}

/// The OpenID4VCI issuer of one node.
#[derive(Clone, Debug)]
pub struct WalletIssuance {
    storage: Storage,
    credentials: CredentialService,
    settings: WalletSettings,
    authority: String,
}

impl WalletIssuance {
    /// The issuer of the node whose credentials are `credentials`, named `authority` to wallets.
    pub fn new(storage: Storage, credentials: CredentialService, authority: String, settings: WalletSettings) -> Self {
        WalletIssuance { storage, credentials, settings, authority }
    }

    /// The lifetimes in force.
    pub fn settings(&self) -> WalletSettings {
        self.settings
    }

    fn issuer_url(&self) -> &str {
        self.credentials.identity().base_url()
    }

    /// `/.well-known/openid-credential-issuer` (OpenID4VCI 1.0 §12.2).
    pub fn issuer_metadata(&self) -> Value {
        let base = self.issuer_url();
        let proofs = json!({ "jwt": { "proof_signing_alg_values_supported": ["EdDSA", "ES256"] } });
        let display = |en: &str, es: &str| json!([{ "name": en, "locale": "en" }, { "name": es, "locale": "es" }]);
        let claims: Vec<Value> = [
            ("traderIdentificationNumber", "Trader ID", "Identificación del operador"),
            ("legalName", "Legal name", "Razón social"),
            ("certificateType", "Certificate type", "Tipo de certificado"),
            ("certificateNumber", "Certificate number", "Número de certificado"),
            ("address", "Address", "Domicilio"),
            ("issuingCountry", "Issuing country", "País emisor"),
        ]
        .into_iter()
        .map(|(name, en, es)| json!({ "path": [name], "display": display(en, es) }))
        .collect();
        json!({
            "credential_issuer": base,
            "credential_endpoint": format!("{base}/openid4vci/credential"),
            "nonce_endpoint": format!("{base}/openid4vci/nonce"),
            "display": [{ "name": self.authority }],
            "credential_configurations_supported": {
                LDP_VC: {
                    "format": "ldp_vc",
                    "credential_definition": {
                        "@context": [VC_V2_CONTEXT, AEO_CONTEXT],
                        "type": ["VerifiableCredential", AEO_CREDENTIAL_TYPE],
                    },
                    "cryptographic_binding_methods_supported": ["did:key"],
                    "credential_signing_alg_values_supported": ["eddsa-rdfc-2022", "ecdsa-rdfc-2019"],
                    "proof_types_supported": proofs,
                    "credential_metadata": { "display": display("AEO certification", "Certificación OEA") },
                },
                SD_JWT_VC: {
                    "format": "dc+sd-jwt",
                    "vct": AEO_VCT,
                    "cryptographic_binding_methods_supported": ["jwk", "did:key"],
                    "credential_signing_alg_values_supported": ["EdDSA", "ES256"],
                    "proof_types_supported": proofs,
                    "credential_metadata": {
                        "display": display("AEO certification", "Certificación OEA"),
                        "claims": claims,
                    },
                },
            },
        })
    }

    /// `/.well-known/oauth-authorization-server` (RFC 8414): the node is its own authorisation
    /// server, for the pre-authorised code grant only, without client authentication.
    pub fn authorization_server_metadata(&self) -> Value {
        let base = self.issuer_url();
        json!({
            "issuer": base,
            "token_endpoint": format!("{base}/openid4vci/token"),
            "grant_types_supported": [PRE_AUTHORIZED_GRANT],
            "pre-authorized_grant_anonymous_access_supported": true,
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        })
    }

    /// Offers certification `id` (granted and in force) to the firm's wallet (REGISTRAR or
    /// APPROVER).
    #[tracing::instrument(skip(self, principal))]
    pub async fn offer(&self, principal: Option<&Principal>, id: Uuid) -> Result<CredentialOffer, ServiceError> {
        let (officer, _) = authorize(principal, Operation::OfferToWallet)?;
        let db = self.storage.db();
        let row = certifications::Entity::find_by_id(id)
            .one(db)
            .await?
            .filter(|row| !crate::services::certifications::is_partner_record(row))
            .ok_or_else(|| ServiceError::NotFound(format!("certification {id}")))?;
        let status = effective_status(&row, Utc::now());
        if status != Status::Granted {
            return Err(ServiceError::field(
                "certificationId",
                format!("is {}; only a GRANTED certification in force can go to a wallet", status.as_str()),
            ));
        }
        let code = random_token();
        let tx_code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let now = Utc::now();
        let expires_at = now + self.settings.offer_ttl;
        let offer_id = Uuid::now_v7();
        let mut batch = WriteBatch::default();
        let backend = self.storage.backend();
        batch.push(
            credential_offers::Entity::insert(credential_offers::ActiveModel {
                id: Set(offer_id),
                certification_id: Set(id),
                code_hash: Set(token_hash(&code)),
                tx_code_hash: Set(token_hash(&tx_code)),
                offered_by: Set(officer.username.clone()),
                created_at: Set(now),
                expires_at: Set(expires_at),
                redeemed_at: Set(None),
                token_hash: Set(None),
                token_expires_at: Set(None),
            })
            .build(backend),
        );
        batch.push(self.event(
            id,
            Some(offer_id),
            "OFFERED",
            Some(format!("by {}, until {expires_at}", officer.username)),
        ));
        self.storage.apply_alone(batch).await?;
        let offer = self.offer_object(&code);
        // By reference: the QR code carries a short URL, not the whole offer. The URL holds the
        // code, as the offer itself would; the endpoint answers only while the code is
        // redeemable.
        let uri = format!("{}/openid4vci/offers/{code}", self.issuer_url());
        let link = format!(
            "openid-credential-offer://?credential_offer_uri={}",
            form_urlencoded::byte_serialize(uri.as_bytes()).collect::<String>()
        );
        Ok(CredentialOffer { id: offer_id, link, offer, tx_code, expires_at })
    }

    /// The credential offer object of pre-authorised code `code`.
    fn offer_object(&self, code: &str) -> Value {
        json!({
            "credential_issuer": self.issuer_url(),
            "credential_configuration_ids": [LDP_VC, SD_JWT_VC],
            "grants": { PRE_AUTHORIZED_GRANT: {
                "pre-authorized_code": code,
                "tx_code": { "input_mode": "numeric", "length": 6, "description": "The code your customs authority gave you with this offer" },
            } },
        })
    }

    /// `GET /openid4vci/offers/{code}`: the offer a `credential_offer_uri` names, while its code
    /// can still be redeemed (unknown, expired and redeemed codes are all "not found").
    pub async fn offer_by_reference(&self, code: &str) -> Result<Value, WalletError> {
        let offer = credential_offers::Entity::find()
            .filter(credential_offers::Column::CodeHash.eq(token_hash(code)))
            .one(self.storage.db())
            .await?
            .filter(|offer| offer.redeemed_at.is_none() && offer.expires_at > Utc::now());
        match offer {
            Some(_) => Ok(self.offer_object(code)),
            None => Err(WalletError {
                status: 404,
                error: "invalid_request",
                description:
                    "no offer to redeem here: it was redeemed, it expired, or it never existed; ask for a new one"
                        .into(),
            }),
        }
    }

    /// The token endpoint: the offer's code and transaction code for an access token, once.
    #[tracing::instrument(skip_all)]
    pub async fn token(&self, request: TokenRequest) -> Result<Value, WalletError> {
        if request.grant_type.as_deref() != Some(PRE_AUTHORIZED_GRANT) {
            return Err(WalletError::bad(
                "unsupported_grant_type",
                format!("grant_type must be {PRE_AUTHORIZED_GRANT}"),
            ));
        }
        let code = request
            .pre_authorized_code
            .ok_or_else(|| WalletError::bad("invalid_request", "pre-authorized_code is required"))?;
        let db = self.storage.db();
        let offer = credential_offers::Entity::find()
            .filter(credential_offers::Column::CodeHash.eq(token_hash(&code)))
            .one(db)
            .await?
            .ok_or_else(|| WalletError::bad("invalid_grant", "pre-authorized_code: no such offer"))?;
        let now = Utc::now();
        if offer.redeemed_at.is_some() {
            self.refuse(&offer, "the pre-authorized code was used again").await?;
            return Err(WalletError::bad("invalid_grant", "pre-authorized_code: this offer was already redeemed"));
        }
        if offer.expires_at <= now {
            return Err(WalletError::bad("invalid_grant", "pre-authorized_code: this offer has expired"));
        }
        let wrong_codes = wallet_events::Entity::find()
            .filter(wallet_events::Column::OfferId.eq(offer.id))
            .filter(wallet_events::Column::Event.eq("REFUSED"))
            .filter(wallet_events::Column::Detail.eq(WRONG_TX_CODE))
            .count(db)
            .await?;
        if wrong_codes >= self.settings.max_tx_code_attempts {
            return Err(WalletError::bad("invalid_grant", "tx_code: too many wrong codes; ask for a new offer"));
        }
        let Some(tx_code) = request.tx_code else {
            return Err(WalletError::bad("invalid_request", "tx_code is required for this offer"));
        };
        if token_hash(&tx_code) != offer.tx_code_hash {
            self.refuse(&offer, WRONG_TX_CODE).await?;
            return Err(WalletError::bad("invalid_grant", "tx_code: the transaction code is wrong"));
        }
        let token = random_token();
        let token_expires_at = now + self.settings.token_ttl;
        let redeem = credential_offers::Entity::update_many()
            .col_expr(credential_offers::Column::RedeemedAt, Expr::value(now))
            .col_expr(credential_offers::Column::TokenHash, Expr::value(token_hash(&token)))
            .col_expr(credential_offers::Column::TokenExpiresAt, Expr::value(token_expires_at))
            .filter(credential_offers::Column::Id.eq(offer.id))
            .filter(credential_offers::Column::RedeemedAt.is_null())
            .build(self.storage.backend());
        let mut batch = WriteBatch::default();
        batch.push_guarded(redeem, "this offer was already redeemed");
        batch.push(self.event(offer.certification_id, Some(offer.id), "TOKEN_ISSUED", None));
        match self.storage.apply_alone(batch).await {
            Ok(()) => {}
            Err(ApplyError::Conflict(why)) => return Err(WalletError::bad("invalid_grant", why)),
            Err(ApplyError::Db(e)) => return Err(e.into()),
        }
        Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.settings.token_ttl.as_secs(),
        }))
    }

    /// The nonce endpoint: a fresh nonce for one key proof.
    pub async fn nonce(&self) -> Result<Value, WalletError> {
        let nonce = random_token();
        let now = Utc::now();
        let db = self.storage.db();
        // Spent or expired nonces are kept only long enough to tell a replay apart.
        wallet_nonces::Entity::delete_many()
            .filter(wallet_nonces::Column::ExpiresAt.lt(now - chrono::Duration::days(1)))
            .exec(db)
            .await?;
        wallet_nonces::Entity::insert(wallet_nonces::ActiveModel {
            nonce: Set(nonce.clone()),
            expires_at: Set(now + self.settings.nonce_ttl),
            used_at: Set(None),
        })
        .exec(db)
        .await?;
        Ok(json!({ "c_nonce": nonce }))
    }

    /// The credential endpoint: the credential of the token's offer in the configuration asked
    /// for, bound to the key the proof shows possession of.
    #[tracing::instrument(skip_all)]
    pub async fn credential(&self, access_token: Option<&str>, request: &Value) -> Result<Value, WalletError> {
        let unauthorised = |why: &str| WalletError { status: 401, error: "invalid_token", description: why.to_owned() };
        let token = access_token.ok_or_else(|| unauthorised("send Authorization: Bearer <access_token>"))?;
        let now = Utc::now();
        let offer = credential_offers::Entity::find()
            .filter(credential_offers::Column::TokenHash.eq(token_hash(token)))
            .one(self.storage.db())
            .await?
            .filter(|offer| offer.token_expires_at.is_some_and(|at| at > now))
            .ok_or_else(|| unauthorised("the access token is unknown or expired"))?;
        let configuration = request
            .get("credential_configuration_id")
            .and_then(Value::as_str)
            .ok_or_else(|| WalletError::bad("invalid_credential_request", "credential_configuration_id is required"))?;
        if configuration != LDP_VC && configuration != SD_JWT_VC {
            return Err(WalletError::bad(
                "unknown_credential_configuration",
                format!("credential_configuration_id {configuration:?}: this issuer offers {LDP_VC} and {SD_JWT_VC}"),
            ));
        }
        let holder = match self.holder_key(request, configuration, now).await {
            Ok(holder) => holder,
            Err(error) => {
                self.refuse(&offer, &error.description).await?;
                return Err(error);
            }
        };
        let row = certifications::Entity::find_by_id(offer.certification_id)
            .one(self.storage.db())
            .await?
            .ok_or_else(|| WalletError::bad("credential_request_denied", "the certification is gone"))?;
        let status = effective_status(&row, now);
        if status != Status::Granted {
            self.refuse(&offer, &format!("the certification is {}", status.as_str())).await?;
            return Err(WalletError::bad(
                "credential_request_denied",
                format!("the certification is {}; nothing is issued", status.as_str()),
            ));
        }
        let (holder_did, _) = did_key_for(&holder);
        let (credential, id, digest) = self.issue(&row, configuration, &holder, &holder_did, now).await?;
        let mut batch = WriteBatch::default();
        batch.push(
            wallet_credentials::Entity::insert(wallet_credentials::ActiveModel {
                id: Set(id.clone()),
                offer_id: Set(offer.id),
                certification_id: Set(row.id),
                configuration: Set(configuration.to_owned()),
                holder: Set(holder_did.clone()),
                digest: Set(digest.clone()),
                issued_at: Set(now),
            })
            .build(self.storage.backend()),
        );
        batch.push(self.event(
            row.id,
            Some(offer.id),
            "CREDENTIAL_ISSUED",
            Some(format!("{configuration} to {holder_did}")),
        ));
        if let Some(work) = self.credentials.anchoring_work(&id, &digest) {
            batch.push(outbox::enqueue(self.storage.backend(), work));
        }
        match self.storage.apply_alone(batch).await {
            Ok(()) => {}
            Err(ApplyError::Db(e)) if storage::is_unique_violation(&e) => {
                return Err(WalletError::bad(
                    "credential_request_denied",
                    format!("{configuration} was already issued for this offer; ask for a new offer"),
                ));
            }
            Err(ApplyError::Db(e)) => return Err(e.into()),
            Err(ApplyError::Conflict(why)) => return Err(WalletError::bad("credential_request_denied", why)),
        }
        Ok(json!({ "credentials": [{ "credential": credential }] }))
    }

    /// The holder's key from the request's one key proof (OpenID4VCI 1.0 §8.2.1.1 and
    /// Appendix F.1), its nonce spent.
    async fn holder_key(
        &self,
        request: &Value,
        configuration: &str,
        now: DateTime<Utc>,
    ) -> Result<PublicKey, WalletError> {
        let invalid = |why: String| WalletError::bad("invalid_proof", why);
        let proofs = match (request.get("proofs"), request.get("proof")) {
            (Some(proofs), None) => proofs.get("jwt").and_then(Value::as_array).cloned().unwrap_or_default(),
            // The single `proof` of the drafts before 1.0.
            (None, Some(proof)) if proof.get("proof_type").and_then(Value::as_str) == Some("jwt") => {
                proof.get("jwt").cloned().into_iter().collect()
            }
            _ => return Err(invalid("proofs: exactly one of proofs.jwt is required".into())),
        };
        let [proof] = proofs.as_slice() else {
            return Err(invalid(format!("proofs.jwt: exactly one proof is accepted, not {}", proofs.len())));
        };
        let jwt = Jwt::parse(proof.as_str().unwrap_or_default()).map_err(|e| invalid(format!("proofs.jwt[0]: {e}")))?;
        if jwt.header_str("typ") != Some(PROOF_TYPE) {
            return Err(invalid(format!("proofs.jwt[0]: typ must be {PROOF_TYPE}")));
        }
        let key = match (jwt.header_str("kid"), jwt.header.get("jwk")) {
            (Some(kid), None) if kid.starts_with("did:key:") => {
                did_key_public_key(kid).map_err(|e| invalid(format!("proofs.jwt[0] kid: {e}")))?
            }
            (None, Some(jwk)) if configuration == SD_JWT_VC => {
                if jwk.get("d").is_some() {
                    return Err(invalid("proofs.jwt[0] jwk: a private key was sent".into()));
                }
                PublicKey::from_jwk(jwk).map_err(|e| invalid(format!("proofs.jwt[0] jwk: {e}")))?
            }
            (None, Some(_)) => return Err(invalid(format!("proofs.jwt[0]: {configuration} binds to a did:key (kid)"))),
            _ => return Err(invalid("proofs.jwt[0]: exactly one of kid (a did:key) or jwk is required".into())),
        };
        jwt.verify_with(&key).map_err(|e| invalid(format!("proofs.jwt[0]: {e}")))?;
        if jwt.claim_str("aud") != Some(self.issuer_url()) {
            return Err(invalid(format!("proofs.jwt[0] aud must be {}", self.issuer_url())));
        }
        match jwt.claim_time("iat") {
            Some(iat) if (iat - now).abs() <= PROOF_WINDOW => {}
            _ => return Err(invalid("proofs.jwt[0] iat must be within 5 minutes of now".into())),
        }
        let nonce = jwt
            .claim_str("nonce")
            .ok_or_else(|| WalletError::bad("invalid_nonce", "proofs.jwt[0] has no nonce; ask the nonce endpoint"))?;
        let spent = wallet_nonces::Entity::update_many()
            .col_expr(wallet_nonces::Column::UsedAt, Expr::value(now))
            .filter(wallet_nonces::Column::Nonce.eq(nonce))
            .filter(wallet_nonces::Column::UsedAt.is_null())
            .filter(wallet_nonces::Column::ExpiresAt.gt(now))
            .exec(self.storage.db())
            .await?;
        if spent.rows_affected != 1 {
            return Err(WalletError::bad(
                "invalid_nonce",
                "proofs.jwt[0] nonce is unknown, expired or already used; ask the nonce endpoint",
            ));
        }
        Ok(key)
    }

    /// Signs the credential of `row` in `configuration` for the holder; its id and digest.
    async fn issue(
        &self,
        row: &certifications::Model,
        configuration: &str,
        holder: &PublicKey,
        holder_did: &str,
        now: DateTime<Utc>,
    ) -> Result<(Value, String, String), WalletError> {
        let no_credential = || WalletError::bad("credential_request_denied", "the certification has no credential yet");
        let credential_id = row.credential_id.clone().ok_or_else(no_credential)?;
        let current =
            credentials::Entity::find_by_id(credential_id).one(self.storage.db()).await?.ok_or_else(no_credential)?;
        let slot = (current.status_list, current.status_index);
        let (id, unsigned) = self.credentials.unsigned_for(row, slot, Some(holder_did))?;
        let identity = self.credentials.identity();
        if configuration == LDP_VC {
            let signed = identity.sign(self.credentials.integrity(), &unsigned).map_err(ServiceError::internal)?;
            let digest = hex::encode(credential_digest(&signed));
            return Ok((signed, id, digest));
        }
        let (kid, key) = identity.signing_key();
        let status = TokenStatusReference { uri: identity.token_status_list_url(slot.0), index: slot.1 as usize };
        let issued = sd_jwt_vc::issue(&unsigned, holder, &status, &key, &kid, now).map_err(ServiceError::internal)?;
        let jwt = issued.split('~').next().unwrap_or_default();
        let digest = hex::encode(<[u8; 32]>::from(sha2::Sha256::digest(jwt.as_bytes())));
        Ok((Value::String(issued), id, digest))
    }

    /// The wallet log of certification `id`, oldest first (officers who read histories).
    pub async fn log(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
    ) -> Result<Vec<wallet_events::Model>, ServiceError> {
        authorize(principal, Operation::ReadHistory)?;
        Ok(wallet_events::Entity::find()
            .filter(wallet_events::Column::CertificationId.eq(id))
            .order_by_asc(wallet_events::Column::Id)
            .all(self.storage.db())
            .await?)
    }

    async fn refuse(&self, offer: &credential_offers::Model, why: &str) -> Result<(), WalletError> {
        let mut batch = WriteBatch::default();
        batch.push(self.event(offer.certification_id, Some(offer.id), "REFUSED", Some(why.to_owned())));
        self.storage.apply_alone(batch).await.map_err(|e| WalletError::from(ServiceError::from(e)))
    }

    fn event(&self, certification: Uuid, offer: Option<Uuid>, event: &str, detail: Option<String>) -> Statement {
        wallet_events::Entity::insert(wallet_events::ActiveModel {
            certification_id: Set(certification),
            offer_id: Set(offer),
            event: Set(event.to_owned()),
            detail: Set(detail),
            at: Set(Utc::now()),
            ..Default::default()
        })
        .build(self.storage.backend())
    }
}

/// The detail of a refusal for a wrong transaction code (counted against the offer).
const WRONG_TX_CODE: &str = "wrong transaction code";
