//! IETF Token Status List (draft-ietf-oauth-status-list): the status of SD-JWT VCs, two bits per
//! credential, in a JWT the issuer signs (`typ: statuslist+jwt`).
//!
//! cadena keeps one truth per certification, its revocation and suspension bits; a token list
//! is the same slots as the Bitstring Status Lists of the same number, read as one status each:
//! VALID (0), INVALID (1: revoked) or SUSPENDED (2). Packing and compression (DEFLATE in ZLIB)
//! are `ssi`'s; `lst` is base64url without padding, as the draft requires.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::json;
use ssi_status::token_status_list::{BitString, StatusSize};

use crate::jwt::{self, Jwt};
use crate::keys::{PublicKey, SecretKey};

/// The `typ` of a status list token.
pub const STATUS_LIST_TOKEN_TYPE: &str = "statuslist+jwt";

/// Largest list decoded (bytes once inflated): a hostile list cannot make a verifier inflate
/// more.
const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;

/// A credential's status in a token list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// 0x00.
    Valid,
    /// 0x01: revoked, for good.
    Invalid,
    /// 0x02: suspended, may be reinstated.
    Suspended,
    /// Any other value (reserved or application-specific): not a status cadena sets.
    Other(u8),
}

impl TokenStatus {
    /// The status of a slot whose bits are these.
    pub fn of(revoked: bool, suspended: bool) -> TokenStatus {
        match (revoked, suspended) {
            (true, _) => TokenStatus::Invalid,
            (false, true) => TokenStatus::Suspended,
            (false, false) => TokenStatus::Valid,
        }
    }

    fn value(self) -> u8 {
        match self {
            TokenStatus::Valid => 0,
            TokenStatus::Invalid => 1,
            TokenStatus::Suspended => 2,
            TokenStatus::Other(v) => v,
        }
    }

    fn from_value(value: u8) -> TokenStatus {
        match value {
            0 => TokenStatus::Valid,
            1 => TokenStatus::Invalid,
            2 => TokenStatus::Suspended,
            other => TokenStatus::Other(other),
        }
    }
}

/// Why a status list token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StatusListError {
    /// Not a JWT, or not signed by the key it must be.
    #[error("the status list token does not verify: {0}")]
    Jwt(String),
    /// A claim is missing or wrong.
    #[error("the status list token is malformed: {0}")]
    Malformed(String),
    /// The credential's index is beyond the list.
    #[error("index {0} is outside the status list")]
    OutOfRange(usize),
}

fn status_size() -> StatusSize {
    StatusSize::try_from(2u8).expect("2 bits is a status size")
}

/// The signed status list token at `uri`: `capacity` slots, those in `set` with their status,
/// the rest VALID; valid for `ttl` seconds.
pub fn status_list_token(
    uri: &str,
    capacity: usize,
    set: impl IntoIterator<Item = (usize, TokenStatus)>,
    key: &SecretKey,
    kid: &str,
    now: DateTime<Utc>,
    ttl: u64,
) -> Result<String, StatusListError> {
    let mut bits = BitString::new_zeroed(status_size(), capacity);
    for (index, status) in set {
        bits.set(index, status.value()).map_err(|_| StatusListError::OutOfRange(index))?;
    }
    let lst = URL_SAFE_NO_PAD.encode(bits.to_compressed_bytes(flate2::Compression::best()));
    let claims = json!({
        "sub": uri,
        "iat": now.timestamp(),
        "exp": now.timestamp() + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
        "ttl": ttl,
        "status_list": { "bits": 2, "lst": lst },
    });
    Ok(jwt::sign(json!({ "typ": STATUS_LIST_TOKEN_TYPE, "kid": kid }), &claims, key))
}

/// The status at `index` in the token `text` fetched from `uri`, which `key` must have signed
/// and which must be for `uri` and unexpired at `now`.
pub fn status_in_token(
    text: &str,
    uri: &str,
    index: usize,
    key: &PublicKey,
    now: DateTime<Utc>,
) -> Result<TokenStatus, StatusListError> {
    let token = Jwt::parse(text).map_err(|e| StatusListError::Jwt(e.to_string()))?;
    if token.header_str("typ") != Some(STATUS_LIST_TOKEN_TYPE) {
        return Err(StatusListError::Malformed(format!(
            "typ {:?} is not {STATUS_LIST_TOKEN_TYPE:?}",
            token.header_str("typ")
        )));
    }
    token.verify_with(key).map_err(|e| StatusListError::Jwt(e.to_string()))?;
    if token.claim_str("sub") != Some(uri) {
        return Err(StatusListError::Malformed(format!("it is the list {:?}, not {uri}", token.claim_str("sub"))));
    }
    if token.claim_time("exp").is_some_and(|exp| exp <= now) {
        return Err(StatusListError::Malformed("it has expired".into()));
    }
    let list = token.claims.get("status_list").ok_or_else(|| StatusListError::Malformed("no status_list".into()))?;
    let bits = list.get("bits").and_then(|b| b.as_u64()).and_then(|b| u8::try_from(b).ok());
    let size = bits
        .and_then(|b| StatusSize::try_from(b).ok())
        .ok_or_else(|| StatusListError::Malformed("status_list.bits is not 1, 2, 4 or 8".into()))?;
    let lst = list
        .get("lst")
        .and_then(|l| l.as_str())
        .ok_or_else(|| StatusListError::Malformed("no status_list.lst".into()))?;
    // The draft says unpadded; a padded list from an older issuer is read too.
    let compressed = URL_SAFE_NO_PAD
        .decode(lst)
        .or_else(|_| URL_SAFE.decode(lst))
        .map_err(|_| StatusListError::Malformed("status_list.lst is not base64url".into()))?;
    let bits = BitString::from_compressed_bytes(size, &compressed, Some(MAX_DECODED_BYTES))
        .map_err(|e| StatusListError::Malformed(format!("status_list.lst does not inflate: {e}")))?;
    bits.get(index).map(TokenStatus::from_value).ok_or(StatusListError::OutOfRange(index))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Cryptosuite;

    #[test]
    fn a_token_list_reads_back_each_status_and_refuses_another_key_or_list() {
        let key = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
        let now = Utc::now();
        let uri = "https://mx.example/status-lists/token-1";
        let set = [(3, TokenStatus::Invalid), (4, TokenStatus::Suspended)];
        let token = status_list_token(uri, 131_072, set, &key, "did:web:mx.example#key-1", now, 300).unwrap();
        for (index, status) in [(0, TokenStatus::Valid), (3, TokenStatus::Invalid), (4, TokenStatus::Suspended)] {
            assert_eq!(status_in_token(&token, uri, index, &key.public(), now).unwrap(), status);
        }
        assert_eq!(
            status_in_token(&token, uri, 131_072, &key.public(), now),
            Err(StatusListError::OutOfRange(131_072))
        );
        let other = SecretKey::generate(Cryptosuite::EdDsaRdfc2022);
        assert!(matches!(status_in_token(&token, uri, 0, &other.public(), now), Err(StatusListError::Jwt(_))));
        assert!(matches!(
            status_in_token(&token, "https://x/2", 0, &key.public(), now),
            Err(StatusListError::Malformed(_))
        ));
        let later = now + chrono::Duration::seconds(301);
        assert!(matches!(status_in_token(&token, uri, 0, &key.public(), later), Err(StatusListError::Malformed(_))));
    }

    #[test]
    fn the_draft_bit_order_puts_index_0_in_the_low_bits_of_the_first_byte() {
        // draft-ietf-oauth-status-list §4.1's 2-bit example: statuses 1,2,0,3 in the first byte
        // are 0b11001001 (0xC9).
        let mut bits = BitString::new_zeroed(status_size(), 4);
        for (i, v) in [1u8, 2, 0, 3].into_iter().enumerate() {
            bits.set(i, v).unwrap();
        }
        assert_eq!(bits.as_bytes(), &[0xC9]);
    }
}
