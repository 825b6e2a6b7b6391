//! Requests between partners outside the inbox: this node's signed GETs to a partner (its
//! feed, its state, its answer on an operator) and the authentication of a partner's own, and
//! the feed that serves a partner what it missed.

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};

use cadena_credentials::jose;

use super::{ChannelError, InboxError, PartnerService, jws_header};
use crate::errors::ServiceError;
use crate::storage::entities::{mra_partners, partner_inbox, partner_messages};

/// How far a partner's request token's `iat` may be from now.
const FEED_CLOCK_SKEW: i64 = 60;

impl PartnerService {
    /// A signed token authenticating this node to a partner's feed for `path`.
    fn feed_token(&self, audience: &str, path: &str) -> String {
        let (kid, key) = self.credentials.identity().signing_key();
        let mut jti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut jti);
        let claims = json!({
            "iss": self.credentials.identity().did(), "aud": audience, "path": path,
            "iat": Utc::now().timestamp(), "jti": hex::encode(jti),
        });
        jose::sign_jws(claims.to_string().as_bytes(), &key, &kid)
    }

    /// The messages for the partner authenticated by `token` after number `after`, sealed for
    /// it (at most 100). The token is a JWS by the partner over `{iss, aud, path, iat, jti}`.
    pub async fn feed(&self, token: &str, path: &str, after: i64) -> Result<Vec<String>, InboxError> {
        let partner = self.authenticate(token, path).await?;
        let rows = partner_messages::Entity::find()
            .filter(partner_messages::Column::Partner.eq(&partner.country))
            .filter(partner_messages::Column::Seq.gt(after))
            .order_by_asc(partner_messages::Column::Seq)
            .limit(100)
            .all(self.storage.db())
            .await
            .map_err(ServiceError::from)?;
        let mut sealed = Vec::new();
        for row in rows {
            // The feed stops where the queue waits (an unanchored grant): order is kept.
            let Some(message) = self.message(&row).await? else { break };
            sealed.push(self.seal(&partner, &message).await.map_err(|e| ServiceError::Internal(Box::new(e)))?);
        }
        Ok(sealed)
    }

    /// Pulls every active partner's feed after what was received.
    pub(super) async fn pull_all(&self) -> Result<(), ServiceError> {
        for partner in
            mra_partners::Entity::find().filter(mra_partners::Column::State.eq("ACTIVE")).all(self.storage.db()).await?
        {
            match self.pull(&partner).await {
                Ok(_) => {}
                // The partner follows the chain too and does not see the MRA active yet: next round.
                Err(ChannelError::Status { status: 403, .. }) => {
                    tracing::info!(partner = %partner.country, "the partner does not answer as an MRA partner yet; pulling later");
                }
                Err(error) => tracing::warn!(partner = %partner.country, %error, "pulling the partner's feed failed"),
            }
        }
        Ok(())
    }

    /// GETs `path` (percent-encoded, with its query) from `partner`'s node, authenticated by a
    /// token for that path; the URL (for messages) and the response, whatever its status.
    pub(super) async fn signed_get(
        &self,
        partner: &mra_partners::Model,
        path: &str,
    ) -> Result<(String, reqwest::Response), ChannelError> {
        let token = self.feed_token(&partner.did, path);
        let url = format!("{}{path}", Self::base_url(&partner.did)?);
        let response = self
            .http
            .get(&url)
            .header("authorization", format!("Cadena-Partner {token}"))
            .send()
            .await
            .map_err(|source| ChannelError::Transport { method: "GET", url: url.clone(), source })?;
        Ok((url, response))
    }

    /// The sealed messages `partner`'s feed has for this node after number `after` (one page).
    pub(super) async fn feed_page(
        &self,
        partner: &mra_partners::Model,
        after: i64,
    ) -> Result<Vec<String>, ChannelError> {
        let (url, response) = self.signed_get(partner, &format!("/partner/feed?after={after}")).await?;
        let body: Value = success_json(url.clone(), response).await?;
        body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| {
                m.as_str().map(str::to_owned).ok_or_else(|| ChannelError::Malformed {
                    url: url.clone(),
                    reason: "feed entries are JWE strings".into(),
                })
            })
            .collect()
    }

    /// Pulls and processes what `partner` has after the last message received from it.
    pub async fn pull(&self, partner: &mra_partners::Model) -> Result<usize, ChannelError> {
        let last = self.last_received(&partner.country).await?;
        let mut taken = 0;
        for jwe in self.feed_page(partner, last).await? {
            self.receive(&jwe).await.map_err(ChannelError::NotTaken)?;
            taken += 1;
        }
        if taken > 0 {
            tracing::info!(partner = %partner.country, taken, "pulled missed messages from the partner's feed");
        }
        Ok(taken)
    }

    /// The last number received from `partner` (0: none yet).
    pub(super) async fn last_received(&self, partner: &str) -> Result<i64, ServiceError> {
        Ok(partner_inbox::Entity::find()
            .select_only()
            .column_as(partner_inbox::Column::Seq.max(), "max")
            .filter(partner_inbox::Column::Partner.eq(partner))
            .into_tuple::<Option<i64>>()
            .one(self.storage.db())
            .await?
            .flatten()
            .unwrap_or(0))
    }

    /// Checks a partner request token (a JWS by the partner over `{iss, aud, path, iat, jti}`)
    /// and returns the partner.
    pub(super) async fn authenticate(&self, token: &str, path: &str) -> Result<mra_partners::Model, InboxError> {
        let header = jws_header(token)?;
        let kid = header["kid"].as_str().ok_or_else(|| InboxError::BadSignature("the token has no kid".into()))?;
        let did = cadena_credentials::did::did_of(kid).to_owned();
        let partner = self.active_partner_by_did(&did).await?.ok_or_else(|| InboxError::NotPartner(did.clone()))?;
        let key = self.signing_key_of(kid).await?;
        let (_, claims) = jose::verify_jws(token, |k| (k == kid).then(|| key.clone()))
            .map_err(|e| InboxError::BadSignature(e.to_string()))?;
        let claims: Value = serde_json::from_slice(&claims).map_err(|e| InboxError::Malformed(e.to_string()))?;
        let now = Utc::now().timestamp();
        let fresh = claims["iat"].as_i64().is_some_and(|iat| (now - iat).abs() <= FEED_CLOCK_SKEW);
        if claims["aud"] != self.credentials.identity().did()
            || claims["path"] != path
            || claims["iss"] != did
            || !fresh
        {
            return Err(InboxError::BadSignature("the token is for another node, path or time".into()));
        }
        let jti = claims["jti"].as_str().unwrap_or_default().to_owned();
        let mut seen = self.seen_feed_requests.lock().expect("lock");
        seen.retain(|_, at| now - *at <= 2 * FEED_CLOCK_SKEW);
        if seen.insert(jti, now).is_some() {
            return Err(InboxError::Replay { partner: partner.country.clone(), seq: 0 });
        }
        Ok(partner)
    }
}

/// The JSON body of a partner's successful answer to a GET; any other status is an error.
pub(super) async fn success_json<T: serde::de::DeserializeOwned>(
    url: String,
    response: reqwest::Response,
) -> Result<T, ChannelError> {
    let status = response.status();
    let body =
        response.bytes().await.map_err(|source| ChannelError::Transport { method: "GET", url: url.clone(), source })?;
    if !status.is_success() {
        let body = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        return Err(ChannelError::Status { method: "GET", url, status: status.as_u16(), body });
    }
    // Read as written: serde_json alone would take a private number key for the number.
    cadena_credentials::json::from_slice_as(&body).map_err(|e| ChannelError::Malformed { url, reason: e.to_string() })
}
