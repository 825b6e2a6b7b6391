//! JOSE for the encrypted partner channel between customs nodes: compact JWS signed with the
//! node's key (EdDSA/Ed25519 or ES256/P-256), compact JWE encrypted to a partner's X25519
//! key-agreement key (`ECDH-ES` + `A256GCM`), and [`seal`]/[`open`], which nest the two (sign,
//! then encrypt) for one node-to-node message.
//!
//! Standards: RFC 7515 (JWS), RFC 7516 (JWE), RFC 7518 (ES256, ECDH-ES and its Concat KDF in
//! §4.6.2, A256GCM) and RFC 8037 (EdDSA and OKP keys: Ed25519, X25519).
//!
//! Only what the channel uses is accepted, everything else is refused with its own
//! [`JoseError`]: no `none`, no HMAC, no algorithm picked by the sender that the key was not made
//! for, no key taken from the message itself (`jwk`, `jku`, `x5c` are ignored: the key comes from
//! the caller's resolver, i.e. from the partner's DID document), no critical extensions, no
//! compression, no duplicate header members, and base64url without padding only.

use std::collections::HashSet;
use std::fmt;

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::RngCore as _;
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::keys::{PublicKey, SecretKey};

/// The `typ` of every JWS that [`sign_jws`] makes and [`verify_jws`] accepts. Explicit typing
/// (RFC 8725 §3.11) keeps a JWS that the same key signed for another purpose from being taken
/// for a partner message. It is the short form RFC 7515 §4.1.9 recommends for
/// `application/cadena-partner+jws`.
pub const PARTNER_JWS_TYPE: &str = "cadena-partner+jws";

/// The `cty` of a JWE whose plaintext is a compact JWS (the nested-JWT convention of RFC 7519
/// §5.2, with `JWS` because the payload is not a JWT claims set).
pub const NESTED_CONTENT_TYPE: &str = "JWS";

/// The only JWE key management algorithm accepted: direct ECDH-ES key agreement.
const JWE_ALG: &str = "ECDH-ES";
/// The only JWE content encryption accepted.
const JWE_ENC: &str = "A256GCM";
/// AES-GCM with the 96-bit IV and 128-bit tag RFC 7518 §5.3 requires.
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Ed25519 signatures and ES256's raw `r || s` are both 64 bytes.
const SIGNATURE_LEN: usize = 64;

/// Why a JWS or JWE was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseError {
    /// Not a compact serialisation: the wrong number of dot-separated parts.
    #[error("a compact {kind} has {expected} dot-separated parts; this one has {found}")]
    WrongPartCount {
        /// `JWS` or `JWE`.
        kind: &'static str,
        /// 3 for a JWS, 5 for a JWE.
        expected: usize,
        /// How many there are.
        found: usize,
    },
    /// A part (or a base64url header member) is not unpadded base64url.
    #[error("the {0} is not unpadded base64url")]
    InvalidBase64(&'static str),
    /// The protected header is not a JSON object, repeats a member, or has a member of the wrong
    /// JSON type.
    #[error("invalid protected header: {0}")]
    InvalidHeader(String),
    /// The header lists critical extensions (`crit`); cadena understands none, and RFC 7515
    /// §4.1.11 requires refusing them.
    #[error("the header marks extensions as critical ({0}); cadena understands none")]
    UnsupportedCritical(String),
    /// An `alg` other than the ones accepted (among them `none` and `HS256`).
    #[error("alg {found:?} is not accepted (only {accepted})")]
    UnsupportedAlgorithm {
        /// The header's `alg`, `(none)` when absent.
        found: String,
        /// What is accepted here.
        accepted: &'static str,
    },
    /// A JWE `enc` other than `A256GCM`.
    #[error("enc {0:?} is not accepted (only A256GCM)")]
    UnsupportedEncryption(String),
    /// A compressed JWE (`zip`).
    #[error("compressed JWE (zip {0}) is not accepted")]
    UnsupportedCompression(String),
    /// The JWS header has no `kid`, so its key cannot be looked up.
    #[error("the JWS header has no \"kid\", so its key cannot be found")]
    MissingKeyId,
    /// The resolver knows no key for the `kid`.
    #[error("no key is known for kid {0:?}")]
    UnknownKey(String),
    /// The `alg` does not belong to the type of the key the `kid` resolves to (alg confusion).
    #[error("alg {alg} cannot be checked with the {key} key of kid {kid:?}")]
    KeyTypeMismatch {
        /// The header's `alg`.
        alg: &'static str,
        /// The resolved key's type.
        key: &'static str,
        /// The header's `kid`.
        kid: String,
    },
    /// The JWS `typ` is not [`PARTNER_JWS_TYPE`].
    #[error("JWS typ {found:?} is not \"cadena-partner+jws\"")]
    UnexpectedType {
        /// The header's `typ`, if any.
        found: Option<String>,
    },
    /// The JWS signature does not verify with the resolved key.
    #[error("the JWS signature does not verify")]
    InvalidSignature,
    /// The JWE `epk` is missing or not an OKP/X25519 public key.
    #[error("the ephemeral public key (epk) is not an OKP/X25519 public key: {0}")]
    InvalidEphemeralKey(String),
    /// An X25519 public key of low order: the shared secret would be all zeros, a key anyone can
    /// compute.
    #[error("the {0} is an X25519 point of low order (the shared secret would be all zeros)")]
    LowOrderPublicKey(&'static str),
    /// A JWE with a non-empty encrypted key; with direct ECDH-ES the agreed key is the content key
    /// and RFC 7516 §5.1 requires this part to be empty.
    #[error("with ECDH-ES the JWE encrypted key must be empty; it has {0} bytes")]
    UnexpectedEncryptedKey(usize),
    /// A part of the wrong length (IV, tag, signature, epk).
    #[error("the {part} must be {expected} bytes; it is {found}")]
    InvalidLength {
        /// Which part.
        part: &'static str,
        /// Its required length.
        expected: usize,
        /// Its length.
        found: usize,
    },
    /// The AES-GCM tag does not match: the JWE was changed, or not encrypted to this key.
    #[error("decryption failed: the authentication tag does not match (tampered, or not encrypted to this key)")]
    DecryptionFailed,
    /// [`open`] got a JWE whose `cty` is not `JWS`: not a signed, nested message.
    #[error("the JWE content type is {found:?}, not \"JWS\": not a signed partner message")]
    NotNested {
        /// The JWE's `cty`, if any.
        found: Option<String>,
    },
    /// The signed message names another recipient (`aud`): it was forwarded by the node it was
    /// meant for, not sent to this one by its signer.
    #[error("the message was signed for {found:?}, not for this node ({expected:?})")]
    WrongAudience {
        /// The `kid` this node was opened with.
        expected: String,
        /// The inner JWS's `aud`, if any.
        found: Option<String>,
    },
}

/// A JWS signature algorithm cadena accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// `EdDSA` with Ed25519 (RFC 8037).
    EdDsa,
    /// `ES256`: ECDSA with P-256 and SHA-256, signature as raw `r || s` (RFC 7518 §3.4).
    Es256,
}

impl JwsAlgorithm {
    /// The `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::EdDsa => "EdDSA",
            JwsAlgorithm::Es256 => "ES256",
        }
    }

    /// The algorithm a key signs with: its type decides, never the message.
    fn of(key: &PublicKey) -> JwsAlgorithm {
        match key {
            PublicKey::Ed25519(_) => JwsAlgorithm::EdDsa,
            PublicKey::P256(_) => JwsAlgorithm::Es256,
        }
    }
}

/// The protected header of a verified JWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwsHeader {
    /// `alg`.
    pub alg: JwsAlgorithm,
    /// `kid`: the signer's key (a DID URL in the partner channel).
    pub kid: String,
    /// `aud`: the recipient's `kid` when the JWS was made by [`seal`], which binds the signature to
    /// one recipient.
    pub aud: Option<String>,
}

/// The protected header of a decrypted JWE (`alg` `ECDH-ES` and `enc` `A256GCM`: nothing else
/// decrypts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JweHeader {
    /// `kid`: the recipient's key-agreement key, as the sender named it.
    pub kid: Option<String>,
    /// `cty`: `JWS` when the plaintext is a nested, signed message.
    pub cty: Option<String>,
    /// `epk`: the sender's ephemeral X25519 key.
    pub epk: x25519_dalek::PublicKey,
    /// `apu` (PartyUInfo of the Concat KDF), decoded; empty when absent.
    pub apu: Vec<u8>,
    /// `apv` (PartyVInfo of the Concat KDF), decoded; empty when absent.
    pub apv: Vec<u8>,
}

/// A message [`open`]ed: who signed it, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The `kid` of the key the inner JWS verified with.
    pub sender_kid: String,
    /// The signed payload.
    pub payload: Vec<u8>,
}

// ------------------------------------------------------------------------------------------ JWS

#[derive(Serialize)]
struct JwsHeaderOut<'a> {
    alg: &'static str,
    kid: &'a str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Signs `payload` as a compact JWS with protected header
/// `{"alg":"EdDSA"|"ES256","kid":kid,"typ":"cadena-partner+jws"}`; the key's type picks `alg`.
pub fn sign_jws(payload: &[u8], key: &SecretKey, kid: &str) -> String {
    sign_jws_for(payload, key, kid, None)
}

fn sign_jws_for(payload: &[u8], key: &SecretKey, kid: &str, aud: Option<&str>) -> String {
    let header = JwsHeaderOut { alg: JwsAlgorithm::of(&key.public()).as_str(), kid, typ: PARTNER_JWS_TYPE, aud };
    sign_compact(&serde_json::to_vec(&header).expect("a header serialises"), payload, key)
}

/// The JWS over exactly these header bytes (RFC 7515 §5.1).
pub(crate) fn sign_compact(header_json: &[u8], payload: &[u8], key: &SecretKey) -> String {
    let mut jws = URL_SAFE_NO_PAD.encode(header_json);
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut jws);
    // `SecretKey::sign` gives the raw 64 bytes JOSE wants for both algorithms (ES256: `r || s`
    // over the SHA-256 of the signing input, not DER).
    let signature = key.sign(jws.as_bytes());
    jws.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut jws);
    jws
}

/// A JWS taken apart and checked for shape, before any key is involved.
pub(crate) struct ParsedJws<'a> {
    pub(crate) params: Map<String, Value>,
    pub(crate) alg: JwsAlgorithm,
    pub(crate) signing_input: &'a str,
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

pub(crate) fn parse_jws(jws: &str) -> Result<ParsedJws<'_>, JoseError> {
    let [header, payload, signature] = split_compact::<3>(jws, "JWS")?;
    let params = parse_header(&decode(header, "protected header")?)?;
    let alg = match string_param(&params, "alg")? {
        Some("EdDSA") => JwsAlgorithm::EdDsa,
        Some("ES256") => JwsAlgorithm::Es256,
        other => {
            return Err(JoseError::UnsupportedAlgorithm {
                found: other.unwrap_or("(none)").to_owned(),
                accepted: "EdDSA, ES256",
            });
        }
    };
    let payload_bytes = decode(payload, "payload")?;
    let signature = decode(signature, "signature")?;
    if signature.len() != SIGNATURE_LEN {
        return Err(JoseError::InvalidLength { part: "signature", expected: SIGNATURE_LEN, found: signature.len() });
    }
    let signing_input = &jws[..header.len() + 1 + payload.len()];
    Ok(ParsedJws { params, alg, signing_input, payload: payload_bytes, signature })
}

/// Checks the signature with `key`, refusing a key of another type than `alg` names.
pub(crate) fn check_signature(jws: &ParsedJws<'_>, key: &PublicKey, kid: &str) -> Result<(), JoseError> {
    if JwsAlgorithm::of(key) != jws.alg {
        let key = match key {
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::P256(_) => "P-256",
        };
        return Err(JoseError::KeyTypeMismatch { alg: jws.alg.as_str(), key, kid: kid.to_owned() });
    }
    // Ed25519 is checked with `verify_strict` (no malleable or small-order signatures).
    if key.verify(jws.signing_input.as_bytes(), &jws.signature) { Ok(()) } else { Err(JoseError::InvalidSignature) }
}

/// Verifies a compact JWS made by [`sign_jws`] (or any signer using the same header) and returns
/// its header and payload. `resolve_key` maps the header's `kid` to the signer's public key, and
/// must answer only for keys the caller trusts (a partner's DID document).
pub fn verify_jws(
    jws: &str,
    resolve_key: impl Fn(&str) -> Option<PublicKey>,
) -> Result<(JwsHeader, Vec<u8>), JoseError> {
    let parsed = parse_jws(jws)?;
    let kid = string_param(&parsed.params, "kid")?.ok_or(JoseError::MissingKeyId)?;
    let typ = string_param(&parsed.params, "typ")?;
    if typ != Some(PARTNER_JWS_TYPE) {
        return Err(JoseError::UnexpectedType { found: typ.map(str::to_owned) });
    }
    let aud = string_param(&parsed.params, "aud")?.map(str::to_owned);
    let key = resolve_key(kid).ok_or_else(|| JoseError::UnknownKey(kid.to_owned()))?;
    check_signature(&parsed, &key, kid)?;
    let header = JwsHeader { alg: parsed.alg, kid: kid.to_owned(), aud };
    Ok((header, parsed.payload))
}

// ------------------------------------------------------------------------------------------ JWE

#[derive(Serialize)]
struct JweHeaderOut<'a> {
    alg: &'static str,
    enc: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cty: Option<&'a str>,
    epk: EpkOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    apu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    apv: Option<String>,
}

#[derive(Serialize)]
struct EpkOut {
    kty: &'static str,
    crv: &'static str,
    x: String,
}

/// What a JWE carries besides its plaintext.
#[derive(Default)]
struct JweOptions<'a> {
    cty: Option<&'a str>,
    apu: &'a [u8],
    apv: &'a [u8],
}

/// Encrypts `plaintext` to `recipient` as a compact JWE with protected header
/// `{"alg":"ECDH-ES","enc":"A256GCM","kid":recipient_kid,"epk":{"kty":"OKP","crv":"X25519","x":…}}`:
/// a fresh ephemeral X25519 key per message, the content key from the Concat KDF, a random IV.
/// Fails only for a low-order `recipient` key, which would encrypt under a key anyone knows.
pub fn encrypt_jwe(
    plaintext: &[u8],
    recipient: &x25519_dalek::PublicKey,
    recipient_kid: &str,
) -> Result<String, JoseError> {
    encrypt_jwe_with(plaintext, recipient, recipient_kid, &JweOptions::default())
}

fn encrypt_jwe_with(
    plaintext: &[u8],
    recipient: &x25519_dalek::PublicKey,
    recipient_kid: &str,
    options: &JweOptions<'_>,
) -> Result<String, JoseError> {
    let ephemeral = x25519_dalek::EphemeralSecret::random_from_rng(rand_core::OsRng);
    let epk = x25519_dalek::PublicKey::from(&ephemeral);
    let shared = ephemeral.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err(JoseError::LowOrderPublicKey("recipient key"));
    }
    let non_empty = |bytes: &[u8]| (!bytes.is_empty()).then(|| URL_SAFE_NO_PAD.encode(bytes));
    let header = JweHeaderOut {
        alg: JWE_ALG,
        enc: JWE_ENC,
        kid: recipient_kid,
        cty: options.cty,
        epk: EpkOut { kty: "OKP", crv: "X25519", x: URL_SAFE_NO_PAD.encode(epk.as_bytes()) },
        apu: non_empty(options.apu),
        apv: non_empty(options.apv),
    };
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("a header serialises"));
    let cek = concat_kdf(shared.as_bytes(), JWE_ENC, options.apu, options.apv, 256);
    let mut iv = [0u8; IV_LEN];
    rand_core::OsRng.fill_bytes(&mut iv);
    let mut ciphertext = plaintext.to_vec();
    let tag = Aes256Gcm::new_from_slice(&cek)
        .expect("the KDF gives a 256-bit key")
        // The AAD is the ASCII of the encoded protected header (RFC 7516 §5.1 step 14), so the
        // header, epk included, cannot be changed without failing the tag.
        .encrypt_in_place_detached(&Nonce::from(iv), header.as_bytes(), &mut ciphertext)
        .expect("AES-GCM encrypts anything shorter than 64 GiB");
    let encode = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    // The empty second part: direct key agreement has no encrypted key.
    Ok(format!("{header}..{}.{}.{}", encode(&iv), encode(&ciphertext), encode(&tag)))
}

/// Decrypts a compact JWE made with `ECDH-ES` (X25519 `epk`) and `A256GCM` with the recipient's
/// key-agreement secret, and returns its header and plaintext. Any other `alg`/`enc`, an `epk`
/// that is not an X25519 key or is of low order, parts of the wrong length and any change to the
/// JWE are refused, each with its own [`JoseError`].
pub fn decrypt_jwe(jwe: &str, recipient: &x25519_dalek::StaticSecret) -> Result<(JweHeader, Vec<u8>), JoseError> {
    let [header_b64, encrypted_key, iv, ciphertext, tag] = split_compact::<5>(jwe, "JWE")?;
    let params = parse_header(&decode(header_b64, "protected header")?)?;
    match string_param(&params, "alg")? {
        Some(JWE_ALG) => {}
        other => {
            return Err(JoseError::UnsupportedAlgorithm {
                found: other.unwrap_or("(none)").to_owned(),
                accepted: JWE_ALG,
            });
        }
    }
    match string_param(&params, "enc")? {
        Some(JWE_ENC) => {}
        other => return Err(JoseError::UnsupportedEncryption(other.unwrap_or("(none)").to_owned())),
    }
    if let Some(zip) = params.get("zip") {
        return Err(JoseError::UnsupportedCompression(zip.to_string()));
    }
    let epk = parse_epk(params.get("epk"))?;
    let apu = match string_param(&params, "apu")? {
        Some(text) => decode(text, "apu")?,
        None => Vec::new(),
    };
    let apv = match string_param(&params, "apv")? {
        Some(text) => decode(text, "apv")?,
        None => Vec::new(),
    };
    let header = JweHeader {
        kid: string_param(&params, "kid")?.map(str::to_owned),
        cty: string_param(&params, "cty")?.map(str::to_owned),
        epk,
        apu,
        apv,
    };

    let encrypted_key = decode(encrypted_key, "encrypted key")?;
    if !encrypted_key.is_empty() {
        return Err(JoseError::UnexpectedEncryptedKey(encrypted_key.len()));
    }
    let iv: [u8; IV_LEN] = decode_exact(iv, "initialization vector")?;
    let tag: [u8; TAG_LEN] = decode_exact(tag, "authentication tag")?;
    let mut plaintext = decode(ciphertext, "ciphertext")?;

    let shared = recipient.diffie_hellman(&header.epk);
    // A low-order epk forces the all-zero secret whatever our key is: refused, rather than
    // "decrypting" something anyone could have made for any recipient.
    if !shared.was_contributory() {
        return Err(JoseError::LowOrderPublicKey("ephemeral key (epk)"));
    }
    let cek = concat_kdf(shared.as_bytes(), JWE_ENC, &header.apu, &header.apv, 256);
    Aes256Gcm::new_from_slice(&cek)
        .expect("the KDF gives a 256-bit key")
        .decrypt_in_place_detached(&Nonce::from(iv), header_b64.as_bytes(), &mut plaintext, &Tag::from(tag))
        .map_err(|_| JoseError::DecryptionFailed)?;
    Ok((header, plaintext))
}

fn parse_epk(epk: Option<&Value>) -> Result<x25519_dalek::PublicKey, JoseError> {
    let epk = epk
        .and_then(Value::as_object)
        .ok_or_else(|| JoseError::InvalidEphemeralKey("missing or not an object".into()))?;
    let member = |name: &str| epk.get(name).and_then(Value::as_str);
    if member("kty") != Some("OKP") || member("crv") != Some("X25519") {
        return Err(JoseError::InvalidEphemeralKey(format!(
            "kty {:?} crv {:?}",
            epk.get("kty").unwrap_or(&Value::Null),
            epk.get("crv").unwrap_or(&Value::Null)
        )));
    }
    // A sender that publishes its ephemeral secret has made the message readable by anyone.
    if epk.contains_key("d") {
        return Err(JoseError::InvalidEphemeralKey("it contains a private key (\"d\")".into()));
    }
    let x = member("x").ok_or_else(|| JoseError::InvalidEphemeralKey("no \"x\"".into()))?;
    let x: [u8; 32] = decode_exact(x, "ephemeral key (epk.x)")?;
    Ok(x25519_dalek::PublicKey::from(x))
}

/// The Concat KDF of RFC 7518 §4.6.2 (NIST SP 800-56A §5.8.1 with SHA-256): `key_bits` of
/// `SHA-256(counter || Z || OtherInfo)` for counter = 1, 2, …, where OtherInfo is AlgorithmID,
/// PartyUInfo and PartyVInfo, each as a 32-bit big-endian length and its bytes, then SuppPubInfo
/// (`key_bits` as 32-bit big-endian) and an empty SuppPrivInfo. For direct ECDH-ES the
/// AlgorithmID is the `enc` value.
fn concat_kdf(z: &[u8], algorithm_id: &str, apu: &[u8], apv: &[u8], key_bits: u32) -> Zeroizing<Vec<u8>> {
    let key_len = key_bits as usize / 8;
    let mut key = Zeroizing::new(Vec::with_capacity(key_len + 32));
    let mut counter: u32 = 1;
    while key.len() < key_len {
        let mut hash = Sha256::new();
        hash.update(counter.to_be_bytes());
        hash.update(z);
        for field in [algorithm_id.as_bytes(), apu, apv] {
            let len = u32::try_from(field.len()).expect("a header member shorter than 4 GiB");
            hash.update(len.to_be_bytes());
            hash.update(field);
        }
        hash.update(key_bits.to_be_bytes());
        key.extend_from_slice(&hash.finalize());
        counter += 1;
    }
    key.truncate(key_len);
    key
}

// -------------------------------------------------------------------------------- the channel

/// Seals a partner message: signs `payload` with the sender's key as a JWS whose protected header
/// also names the recipient (`aud` = `recipient_kid`), then encrypts that JWS to the recipient
/// (JWE with `cty: "JWS"`), the nested-JWT order. Naming the recipient under the signature keeps
/// a recipient from re-encrypting the signed message to a third node as if the signer had sent it
/// there (surreptitious forwarding). Fails only for a low-order recipient key.
pub fn seal(
    payload: &[u8],
    sender: &SecretKey,
    sender_kid: &str,
    recipient: &x25519_dalek::PublicKey,
    recipient_kid: &str,
) -> Result<String, JoseError> {
    let jws = sign_jws_for(payload, sender, sender_kid, Some(recipient_kid));
    encrypt_jwe_with(
        jws.as_bytes(),
        recipient,
        recipient_kid,
        &JweOptions { cty: Some(NESTED_CONTENT_TYPE), ..JweOptions::default() },
    )
}

/// Opens a message made by [`seal`]: decrypts it with this node's key-agreement secret, checks
/// that it is a nested JWS, verifies the signature with the key `resolve_sender_key` gives for its
/// `kid`, and checks that it was signed for this node (`aud` = `recipient_kid`, this node's own
/// key-agreement `kid`). Replay protection (ids, timestamps) belongs to the payload.
pub fn open(
    jwe: &str,
    recipient: &x25519_dalek::StaticSecret,
    recipient_kid: &str,
    resolve_sender_key: impl Fn(&str) -> Option<PublicKey>,
) -> Result<Opened, JoseError> {
    let (header, plaintext) = decrypt_jwe(jwe, recipient)?;
    // Media type names compare case-insensitively (RFC 7516 §4.1.12 via RFC 2045).
    if !header.cty.as_deref().is_some_and(|cty| cty.eq_ignore_ascii_case(NESTED_CONTENT_TYPE)) {
        return Err(JoseError::NotNested { found: header.cty });
    }
    let jws = std::str::from_utf8(&plaintext).map_err(|_| JoseError::InvalidBase64("nested JWS"))?;
    let (inner, payload) = verify_jws(jws, resolve_sender_key)?;
    if inner.aud.as_deref() != Some(recipient_kid) {
        return Err(JoseError::WrongAudience { expected: recipient_kid.to_owned(), found: inner.aud });
    }
    Ok(Opened { sender_kid: inner.kid, payload })
}

// ------------------------------------------------------------------------------------ helpers

fn split_compact<'a, const N: usize>(text: &'a str, kind: &'static str) -> Result<[&'a str; N], JoseError> {
    let parts: Vec<&str> = text.split('.').collect();
    let found = parts.len();
    parts.try_into().map_err(|_| JoseError::WrongPartCount { kind, expected: N, found })
}

/// Strict base64url: the URL-safe alphabet, no padding, no whitespace, no stray trailing bits,
/// so each value has one encoding.
fn decode(text: &str, part: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| JoseError::InvalidBase64(part))
}

fn decode_exact<const N: usize>(text: &str, part: &'static str) -> Result<[u8; N], JoseError> {
    let bytes = decode(text, part)?;
    let found = bytes.len();
    bytes.try_into().map_err(|_| JoseError::InvalidLength { part, expected: N, found })
}

/// Parses a protected header: a JSON object without repeated members and without `crit`.
fn parse_header(json: &[u8]) -> Result<Map<String, Value>, JoseError> {
    // RFC 7515 §4 lets a parser reject repeated member names or take the last one; refusing them
    // means no other parser can read a different `alg` or `kid` out of the same bytes.
    serde_json::from_slice::<NoDuplicateMembers>(json).map_err(|e| JoseError::InvalidHeader(e.to_string()))?;
    let Value::Object(params) = serde_json::from_slice(json).map_err(|e| JoseError::InvalidHeader(e.to_string()))?
    else {
        return Err(JoseError::InvalidHeader("not a JSON object".into()));
    };
    if let Some(crit) = params.get("crit") {
        return Err(JoseError::UnsupportedCritical(crit.to_string()));
    }
    Ok(params)
}

fn string_param<'a>(params: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JoseError> {
    match params.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(JoseError::InvalidHeader(format!("\"{name}\" must be a string"))),
    }
}

/// Accepts any JSON document whose objects, at every depth, have no repeated member names.
struct NoDuplicateMembers;

impl<'de> Deserialize<'de> for NoDuplicateMembers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateMembersVisitor)
    }
}

struct NoDuplicateMembersVisitor;

impl<'de> Visitor<'de> for NoDuplicateMembersVisitor {
    type Value = NoDuplicateMembers;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(NoDuplicateMembers)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateMembers>()?.is_some() {}
        Ok(NoDuplicateMembers)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<String>()? {
            if !seen.insert(name.clone()) {
                return Err(de::Error::custom(format!("member {name:?} appears twice")));
            }
            map.next_value::<NoDuplicateMembers>()?;
        }
        Ok(NoDuplicateMembers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Cryptosuite;

    const SENDER_KID: &str = "did:web:customs.example:br#key-1";
    const RECIPIENT_KID: &str = "did:web:customs.example:mx#key-agreement-1";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ed25519(seed: u8) -> SecretKey {
        SecretKey::from_seed(Cryptosuite::EdDsaRdfc2022, [seed; 32])
    }

    fn p256(seed: u8) -> SecretKey {
        SecretKey::from_seed(Cryptosuite::EcdsaRdfc2019, [seed; 32])
    }

    fn x25519(seed: u8) -> x25519_dalek::StaticSecret {
        x25519_dalek::StaticSecret::from([seed; 32])
    }

    /// A resolver that knows exactly one kid.
    fn only(kid: &'static str, key: PublicKey) -> impl Fn(&str) -> Option<PublicKey> {
        move |asked: &str| (asked == kid).then(|| key.clone())
    }

    /// Replaces part `index` of a compact serialisation.
    fn with_part(compact: &str, index: usize, part: &str) -> String {
        let mut parts: Vec<&str> = compact.split('.').collect();
        parts[index] = part;
        parts.join(".")
    }

    /// Flips one bit of the decoded part `index` and re-encodes it.
    fn flip_bit(compact: &str, index: usize) -> String {
        let mut bytes = URL_SAFE_NO_PAD.decode(compact.split('.').nth(index).unwrap()).unwrap();
        bytes[0] ^= 0x01;
        with_part(compact, index, &b64(&bytes))
    }

    /// Rewrites the protected header (part 0) through `edit`.
    fn with_header(compact: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
        let json = URL_SAFE_NO_PAD.decode(compact.split('.').next().unwrap()).unwrap();
        let mut header: Map<String, Value> = serde_json::from_slice(&json).unwrap();
        edit(&mut header);
        with_part(compact, 0, &b64(&serde_json::to_vec(&header).unwrap()))
    }

    // ---------------------------------------------------------------------- published vectors

    /// RFC 8037 A.4 (signing) and A.5 (validation): the published compact JWS, byte for byte.
    #[test]
    fn rfc8037_ed25519_jws_matches_the_published_vector() {
        let d: [u8; 32] =
            URL_SAFE_NO_PAD.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap().try_into().unwrap();
        let key = SecretKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d));
        let public = PublicKey::from_jwk(&serde_json::json!({
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
        }))
        .unwrap();
        assert_eq!(key.public(), public, "A.1: d and x are one key pair");
        let expected = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
        assert_eq!(sign_compact(br#"{"alg":"EdDSA"}"#, b"Example of Ed25519 signing", &key), expected);

        let parsed = parse_jws(expected).unwrap();
        assert_eq!(parsed.alg, JwsAlgorithm::EdDsa);
        assert_eq!(parsed.payload, b"Example of Ed25519 signing");
        assert_eq!(check_signature(&parsed, &public, "rfc"), Ok(()));
        let altered = flip_bit(expected, 1);
        assert_eq!(check_signature(&parse_jws(&altered).unwrap(), &public, "rfc"), Err(JoseError::InvalidSignature));
        // The vector has neither kid nor typ, so the channel's verifier refuses it.
        assert_eq!(verify_jws(expected, |_| Some(public.clone())).unwrap_err(), JoseError::MissingKeyId);
    }

    /// RFC 7518 Appendix C: the Concat KDF step, from the published shared secret Z.
    #[test]
    fn concat_kdf_matches_rfc7518_appendix_c() {
        let z = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128,
            106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let key = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 128);
        assert_eq!(b64(&key), "VqqN6vgjbSBcIijNcacQGg");
        // Longer than one SHA-256 round; keydatalen is hashed in, so it is not an extension.
        let long = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 384);
        assert_eq!(long.len(), 48);
        assert_ne!(long[..16], key[..], "keydatalen is part of the hashed input");
    }

    /// RFC 8037 A.6: X25519 key agreement from the published keys (those of RFC 7748 §6.1).
    #[test]
    fn x25519_agreement_matches_rfc8037_a6() {
        let ephemeral: [u8; 32] = hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
            .unwrap()
            .try_into()
            .unwrap();
        let ephemeral = x25519_dalek::StaticSecret::from(ephemeral);
        assert_eq!(
            b64(x25519_dalek::PublicKey::from(&ephemeral).as_bytes()),
            "hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"
        );
        let recipient: [u8; 32] =
            URL_SAFE_NO_PAD.decode("3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08").unwrap().try_into().unwrap();
        let z = ephemeral.diffie_hellman(&x25519_dalek::PublicKey::from(recipient));
        assert_eq!(hex::encode(z.as_bytes()), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    }

    // ------------------------------------------------------------------------------------ JWS

    #[test]
    fn jws_round_trips_with_both_key_types() {
        for (key, alg) in [(ed25519(1), JwsAlgorithm::EdDsa), (p256(2), JwsAlgorithm::Es256)] {
            let jws = sign_jws(b"{\"event\":\"granted\"}", &key, SENDER_KID);
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header, serde_json::json!({"alg": alg.as_str(), "kid": SENDER_KID, "typ": PARTNER_JWS_TYPE}));
            let (header, payload) = verify_jws(&jws, only(SENDER_KID, key.public())).unwrap();
            assert_eq!(header, JwsHeader { alg, kid: SENDER_KID.into(), aud: None });
            assert_eq!(payload, b"{\"event\":\"granted\"}");
        }
    }

    #[test]
    fn jws_tampering_is_refused() {
        let key = ed25519(1);
        let jws = sign_jws(b"payload", &key, SENDER_KID);
        let resolve = only(SENDER_KID, key.public());
        // Each part changed, still well-formed.
        assert_eq!(
            verify_jws(&with_header(&jws, |h| drop(h.insert("x".into(), 1.into()))), &resolve),
            Err(JoseError::InvalidSignature)
        );
        assert_eq!(verify_jws(&flip_bit(&jws, 1), &resolve), Err(JoseError::InvalidSignature));
        assert_eq!(verify_jws(&flip_bit(&jws, 2), &resolve), Err(JoseError::InvalidSignature));
        // Malformed.
        assert_eq!(
            verify_jws(&with_part(&jws, 2, "AAAA"), &resolve),
            Err(JoseError::InvalidLength { part: "signature", expected: 64, found: 3 })
        );
        assert_eq!(verify_jws(&with_part(&jws, 1, "cGF5bG9hZA=="), &resolve), Err(JoseError::InvalidBase64("payload")));
        assert_eq!(verify_jws(&with_part(&jws, 1, "cGF5b+9hZA"), &resolve), Err(JoseError::InvalidBase64("payload")));
        assert_eq!(verify_jws(&format!("{jws}\n"), &resolve), Err(JoseError::InvalidBase64("signature")));
        assert_eq!(
            verify_jws(&format!("{jws}.x"), &resolve),
            Err(JoseError::WrongPartCount { kind: "JWS", expected: 3, found: 4 })
        );
        assert!(matches!(verify_jws(&with_part(&jws, 0, &b64(b"[1]")), &resolve), Err(JoseError::InvalidHeader(_))));
    }

    #[test]
    fn jws_with_another_alg_or_header_is_refused() {
        let key = ed25519(1);
        let resolve = only(SENDER_KID, key.public());
        let payload = b64(b"payload");
        let header = |json: &str| b64(json.as_bytes());
        let typ = PARTNER_JWS_TYPE;
        // alg none: the empty signature the RFC prescribes for it.
        let none = format!("{}.{payload}.", header(&format!(r#"{{"alg":"none","kid":"{SENDER_KID}","typ":"{typ}"}}"#)));
        assert_eq!(
            verify_jws(&none, &resolve),
            Err(JoseError::UnsupportedAlgorithm { found: "none".into(), accepted: "EdDSA, ES256" })
        );
        // HS256 keyed with the public key's bytes: the classic confusion attack.
        let hs256 = header(&format!(r#"{{"alg":"HS256","kid":"{SENDER_KID}","typ":"{typ}"}}"#));
        let forged = format!("{hs256}.{payload}.{}", b64(&[7; 32]));
        assert_eq!(
            verify_jws(&forged, &resolve),
            Err(JoseError::UnsupportedAlgorithm { found: "HS256".into(), accepted: "EdDSA, ES256" })
        );
        let no_alg = format!("{}.{payload}.{}", header(r#"{"kid":"k"}"#), b64(&[0; 64]));
        assert_eq!(
            verify_jws(&no_alg, &resolve),
            Err(JoseError::UnsupportedAlgorithm { found: "(none)".into(), accepted: "EdDSA, ES256" })
        );
        // A repeated alg: parsers disagree on which one counts, so neither does.
        let twice = format!(r#"{{"alg":"none","alg":"EdDSA","kid":"{SENDER_KID}","typ":"{typ}"}}"#);
        let jws = format!("{}.{payload}.{}", header(&twice), b64(&[0; 64]));
        assert!(matches!(verify_jws(&jws, &resolve), Err(JoseError::InvalidHeader(m)) if m.contains("twice")));
        // crit, typ, kid.
        let jws = sign_jws(b"payload", &key, SENDER_KID);
        let crit = with_header(&jws, |h| drop(h.insert("crit".into(), serde_json::json!(["b64"]))));
        assert_eq!(verify_jws(&crit, &resolve), Err(JoseError::UnsupportedCritical(r#"["b64"]"#.into())));
        let typ = with_header(&jws, |h| drop(h.insert("typ".into(), "JWT".into())));
        assert_eq!(verify_jws(&typ, &resolve), Err(JoseError::UnexpectedType { found: Some("JWT".into()) }));
        let no_kid = with_header(&jws, |h| drop(h.remove("kid")));
        assert_eq!(verify_jws(&no_kid, &resolve), Err(JoseError::MissingKeyId));
        assert_eq!(
            verify_jws(&sign_jws(b"payload", &key, "did:web:unknown#key-1"), &resolve),
            Err(JoseError::UnknownKey("did:web:unknown#key-1".into()))
        );
    }

    #[test]
    fn jws_alg_must_match_the_resolved_key_type() {
        // A P-256 signer's JWS relabelled EdDSA, and an Ed25519 kid that resolves to a P-256 key.
        let p256_key = p256(2);
        let jws = sign_jws(b"payload", &p256_key, SENDER_KID);
        let relabelled = with_header(&jws, |h| drop(h.insert("alg".into(), "EdDSA".into())));
        assert_eq!(
            verify_jws(&relabelled, only(SENDER_KID, p256_key.public())),
            Err(JoseError::KeyTypeMismatch { alg: "EdDSA", key: "P-256", kid: SENDER_KID.into() })
        );
        let jws = sign_jws(b"payload", &ed25519(1), SENDER_KID);
        assert_eq!(
            verify_jws(&jws, only(SENDER_KID, p256_key.public())),
            Err(JoseError::KeyTypeMismatch { alg: "EdDSA", key: "P-256", kid: SENDER_KID.into() })
        );
        // Same type, other key.
        assert_eq!(verify_jws(&jws, only(SENDER_KID, ed25519(9).public())), Err(JoseError::InvalidSignature));
    }

    // ------------------------------------------------------------------------------------ JWE

    #[test]
    fn jwe_round_trips_with_a_fresh_ephemeral_key_and_iv() {
        let recipient = x25519(3);
        let public = x25519_dalek::PublicKey::from(&recipient);
        let jwe = encrypt_jwe(b"hello partner", &public, RECIPIENT_KID).unwrap();
        let parts: Vec<&str> = jwe.split('.').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[1], "", "direct key agreement: no encrypted key");
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 12);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[4]).unwrap().len(), 16);
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ECDH-ES");
        assert_eq!(header["enc"], "A256GCM");
        assert_eq!(header["kid"], RECIPIENT_KID);
        assert_eq!(header["epk"]["kty"], "OKP");
        assert_eq!(header["epk"]["crv"], "X25519");
        assert!(header.get("cty").is_none() && header.get("apu").is_none());

        let (decrypted_header, plaintext) = decrypt_jwe(&jwe, &recipient).unwrap();
        assert_eq!(plaintext, b"hello partner");
        assert_eq!(decrypted_header.kid.as_deref(), Some(RECIPIENT_KID));
        assert_eq!(decrypted_header.cty, None);
        assert!(decrypted_header.apu.is_empty() && decrypted_header.apv.is_empty());

        let again = encrypt_jwe(b"hello partner", &public, RECIPIENT_KID).unwrap();
        let again: Vec<&str> = again.split('.').collect();
        assert_ne!(again[0], parts[0], "a new ephemeral key per message");
        assert_ne!(again[2], parts[2], "a new IV per message");
        assert_eq!(decrypt_jwe(&encrypt_jwe(b"", &public, "k").unwrap(), &recipient).unwrap().1, b"");
    }

    #[test]
    fn jwe_apu_and_apv_enter_the_kdf() {
        let recipient = x25519(3);
        let public = x25519_dalek::PublicKey::from(&recipient);
        let options = JweOptions { cty: None, apu: b"Alice", apv: b"Bob" };
        let jwe = encrypt_jwe_with(b"m", &public, RECIPIENT_KID, &options).unwrap();
        let (header, plaintext) = decrypt_jwe(&jwe, &recipient).unwrap();
        assert_eq!(
            (header.apu.as_slice(), header.apv.as_slice(), plaintext.as_slice()),
            (&b"Alice"[..], &b"Bob"[..], &b"m"[..])
        );
        assert_eq!(
            decrypt_jwe(&with_header(&jwe, |h| drop(h.insert("apu".into(), "QWxpY2U=".into()))), &recipient),
            Err(JoseError::InvalidBase64("apu"))
        );
    }

    #[test]
    fn jwe_tampering_of_each_part_is_refused() {
        let recipient = x25519(3);
        let public = x25519_dalek::PublicKey::from(&recipient);
        let jwe = encrypt_jwe(b"hello partner", &public, RECIPIENT_KID).unwrap();
        let decrypt = |jwe: &str| decrypt_jwe(jwe, &recipient).map(|(_, plaintext)| plaintext);

        // Header: any change alters the AAD.
        let header = with_header(&jwe, |h| drop(h.insert("kid".into(), "did:web:other#k".into())));
        assert_eq!(decrypt(&header), Err(JoseError::DecryptionFailed));
        // epk: another valid key gives another content key; a low-order one is refused first.
        let other = x25519_dalek::PublicKey::from(&x25519(4));
        let epk = with_header(&jwe, |h| {
            drop(h.insert("epk".into(), serde_json::json!({"kty": "OKP", "crv": "X25519", "x": b64(other.as_bytes())})))
        });
        assert_eq!(decrypt(&epk), Err(JoseError::DecryptionFailed));
        for low_order in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let epk = with_header(&jwe, |h| {
                drop(h.insert("epk".into(), serde_json::json!({"kty": "OKP", "crv": "X25519", "x": b64(&low_order)})))
            });
            assert_eq!(decrypt(&epk), Err(JoseError::LowOrderPublicKey("ephemeral key (epk)")));
        }
        // IV, ciphertext, tag: one bit each.
        assert_eq!(decrypt(&flip_bit(&jwe, 2)), Err(JoseError::DecryptionFailed));
        assert_eq!(decrypt(&flip_bit(&jwe, 3)), Err(JoseError::DecryptionFailed));
        assert_eq!(decrypt(&flip_bit(&jwe, 4)), Err(JoseError::DecryptionFailed));
        // Lengths and encoding.
        assert_eq!(
            decrypt(&with_part(&jwe, 2, &b64(&[0; 16]))),
            Err(JoseError::InvalidLength { part: "initialization vector", expected: 12, found: 16 })
        );
        assert_eq!(
            decrypt(&with_part(&jwe, 4, &b64(&[0; 12]))),
            Err(JoseError::InvalidLength { part: "authentication tag", expected: 16, found: 12 })
        );
        assert_eq!(decrypt(&with_part(&jwe, 1, &b64(&[0; 40]))), Err(JoseError::UnexpectedEncryptedKey(40)));
        assert_eq!(decrypt(&with_part(&jwe, 3, "a/b")), Err(JoseError::InvalidBase64("ciphertext")));
        assert_eq!(
            decrypt(jwe.rsplit_once('.').unwrap().0),
            Err(JoseError::WrongPartCount { kind: "JWE", expected: 5, found: 4 })
        );
        // Wrong recipient.
        assert_eq!(decrypt_jwe(&jwe, &x25519(4)).map(|_| ()), Err(JoseError::DecryptionFailed));
    }

    #[test]
    fn jwe_with_another_alg_enc_or_epk_is_refused() {
        let recipient = x25519(3);
        let public = x25519_dalek::PublicKey::from(&recipient);
        let jwe = encrypt_jwe(b"m", &public, RECIPIENT_KID).unwrap();
        let decrypt = |jwe: &str| decrypt_jwe(jwe, &recipient).map(|_| ());
        let set = |name: &str, value: Value| with_header(&jwe, |h| drop(h.insert(name.into(), value)));

        for alg in ["ECDH-ES+A256KW", "dir", "RSA-OAEP-256", "none"] {
            assert_eq!(
                decrypt(&set("alg", alg.into())),
                Err(JoseError::UnsupportedAlgorithm { found: alg.into(), accepted: "ECDH-ES" })
            );
        }
        assert_eq!(decrypt(&set("enc", "A128GCM".into())), Err(JoseError::UnsupportedEncryption("A128GCM".into())));
        assert_eq!(
            decrypt(&set("enc", "A256CBC-HS512".into())),
            Err(JoseError::UnsupportedEncryption("A256CBC-HS512".into()))
        );
        assert_eq!(decrypt(&set("zip", "DEF".into())), Err(JoseError::UnsupportedCompression("\"DEF\"".into())));
        assert!(matches!(decrypt(&set("crit", serde_json::json!(["exp"]))), Err(JoseError::UnsupportedCritical(_))));

        let x = b64(&[9; 32]);
        for (epk, why) in [
            (serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": x}), "kty"),
            (serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}), "crv"),
            (serde_json::json!({"kty": "OKP", "crv": "X25519"}), "no \"x\""),
            (serde_json::json!({"kty": "OKP", "crv": "X25519", "x": x, "d": x}), "private key"),
            (serde_json::json!("not an object"), "not an object"),
        ] {
            let result = decrypt(&set("epk", epk));
            assert!(matches!(&result, Err(JoseError::InvalidEphemeralKey(m)) if m.contains(why)), "{why}: {result:?}");
        }
        assert!(matches!(
            decrypt(&with_header(&jwe, |h| drop(h.remove("epk")))),
            Err(JoseError::InvalidEphemeralKey(_))
        ));
        assert_eq!(
            decrypt(&set("epk", serde_json::json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9; 31])}))),
            Err(JoseError::InvalidLength { part: "ephemeral key (epk.x)", expected: 32, found: 31 })
        );
    }

    #[test]
    fn encrypting_to_a_low_order_key_is_refused() {
        let zero = x25519_dalek::PublicKey::from([0u8; 32]);
        assert_eq!(encrypt_jwe(b"m", &zero, "k"), Err(JoseError::LowOrderPublicKey("recipient key")));
        assert_eq!(seal(b"m", &ed25519(1), SENDER_KID, &zero, "k"), Err(JoseError::LowOrderPublicKey("recipient key")));
    }

    // -------------------------------------------------------------------------------- channel

    #[test]
    fn seal_and_open_round_trip_with_both_sender_key_types() {
        let recipient = x25519(3);
        let public = x25519_dalek::PublicKey::from(&recipient);
        for sender in [ed25519(1), p256(2)] {
            let jwe = seal(b"{\"certification\":\"BR-AEO-1\"}", &sender, SENDER_KID, &public, RECIPIENT_KID).unwrap();
            let (header, inner) = decrypt_jwe(&jwe, &recipient).unwrap();
            assert_eq!(header.cty.as_deref(), Some("JWS"));
            assert_eq!(header.kid.as_deref(), Some(RECIPIENT_KID));
            let inner = String::from_utf8(inner).unwrap();
            let (inner_header, _) = verify_jws(&inner, only(SENDER_KID, sender.public())).unwrap();
            assert_eq!(inner_header.aud.as_deref(), Some(RECIPIENT_KID));

            let opened = open(&jwe, &recipient, RECIPIENT_KID, only(SENDER_KID, sender.public())).unwrap();
            assert_eq!(
                opened,
                Opened { sender_kid: SENDER_KID.into(), payload: b"{\"certification\":\"BR-AEO-1\"}".to_vec() }
            );
        }
    }

    #[test]
    fn open_refuses_what_seal_did_not_make_for_this_node() {
        let sender = ed25519(1);
        let resolve = only(SENDER_KID, sender.public());
        let bob = x25519(3);
        let bob_public = x25519_dalek::PublicKey::from(&bob);
        let carol = x25519(4);
        let carol_public = x25519_dalek::PublicKey::from(&carol);
        let carol_kid = "did:web:customs.example:cl#key-agreement-1";
        let jwe = seal(b"m", &sender, SENDER_KID, &bob_public, RECIPIENT_KID).unwrap();

        // Not this node's key.
        assert_eq!(open(&jwe, &carol, carol_kid, &resolve), Err(JoseError::DecryptionFailed));
        // Bob forwards the signed message to Carol as if the sender had sent it to her.
        let (_, inner) = decrypt_jwe(&jwe, &bob).unwrap();
        let forwarded = seal_raw(&inner, &carol_public, carol_kid, Some("JWS"));
        assert_eq!(
            open(&forwarded, &carol, carol_kid, &resolve),
            Err(JoseError::WrongAudience { expected: carol_kid.into(), found: Some(RECIPIENT_KID.into()) })
        );
        // A plain JWS without `aud`, and a JWE that does not say it nests one.
        let unbound = seal_raw(sign_jws(b"m", &sender, SENDER_KID).as_bytes(), &bob_public, RECIPIENT_KID, Some("JWS"));
        assert_eq!(
            open(&unbound, &bob, RECIPIENT_KID, &resolve),
            Err(JoseError::WrongAudience { expected: RECIPIENT_KID.into(), found: None })
        );
        assert_eq!(
            open(&seal_raw(&inner, &bob_public, RECIPIENT_KID, None), &bob, RECIPIENT_KID, &resolve),
            Err(JoseError::NotNested { found: None })
        );
        assert_eq!(
            open(&seal_raw(&inner, &bob_public, RECIPIENT_KID, Some("jws")), &bob, RECIPIENT_KID, &resolve)
                .map(|o| o.payload),
            Ok(b"m".to_vec()),
            "media types compare case-insensitively"
        );
        // Unknown signer, and a signature by another key under the sender's kid.
        assert_eq!(open(&jwe, &bob, RECIPIENT_KID, |_| None), Err(JoseError::UnknownKey(SENDER_KID.into())));
        let forged = seal(b"m", &ed25519(9), SENDER_KID, &bob_public, RECIPIENT_KID).unwrap();
        assert_eq!(open(&forged, &bob, RECIPIENT_KID, &resolve), Err(JoseError::InvalidSignature));
        // A nested part that is not a JWS.
        assert_eq!(
            open(&seal_raw(&[0xff, 0xfe], &bob_public, RECIPIENT_KID, Some("JWS")), &bob, RECIPIENT_KID, &resolve),
            Err(JoseError::InvalidBase64("nested JWS"))
        );
    }

    fn seal_raw(plaintext: &[u8], recipient: &x25519_dalek::PublicKey, kid: &str, cty: Option<&str>) -> String {
        encrypt_jwe_with(plaintext, recipient, kid, &JweOptions { cty, ..JweOptions::default() }).unwrap()
    }
}
