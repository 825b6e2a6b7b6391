//! Keys of an issuer: signing keys (Ed25519 for `eddsa-rdfc-2022`, P-256 for `ecdsa-rdfc-2019`)
//! and an X25519 key-agreement key for encryption to the node, their Multikey encodings, and the
//! key file a node keeps in its data dir.
//!
//! Rotation appends a signing key and makes it current; older keys stay in the file and in the
//! DID document, so whatever they signed keeps verifying.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Which Data Integrity cryptosuite a key signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cryptosuite {
    /// `eddsa-rdfc-2022` (Ed25519).
    #[serde(rename = "eddsa-rdfc-2022")]
    EdDsaRdfc2022,
    /// `ecdsa-rdfc-2019` with P-256.
    #[serde(rename = "ecdsa-rdfc-2019")]
    EcdsaRdfc2019,
}

impl Cryptosuite {
    /// The `cryptosuite` value of a proof.
    pub fn as_str(self) -> &'static str {
        match self {
            Cryptosuite::EdDsaRdfc2022 => "eddsa-rdfc-2022",
            Cryptosuite::EcdsaRdfc2019 => "ecdsa-rdfc-2019",
        }
    }

    /// Parses a `cryptosuite` value.
    pub fn parse(value: &str) -> Option<Cryptosuite> {
        [Cryptosuite::EdDsaRdfc2022, Cryptosuite::EcdsaRdfc2019].into_iter().find(|c| c.as_str() == value)
    }
}

// Multicodec prefixes (unsigned varint) of the public keys a Multikey may hold.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const P256_PUB: [u8; 2] = [0x80, 0x24];
const X25519_PUB: [u8; 2] = [0xec, 0x01];

/// Why a key could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not multibase base58btc (`z…`).
    #[error("publicKeyMultibase must be base58btc multibase (starting with 'z')")]
    NotBase58Multibase,
    /// A key type cadena does not verify with.
    #[error("unsupported key type (multicodec prefix {0:02x?}); cadena verifies Ed25519 and P-256 keys")]
    UnsupportedKeyType(Vec<u8>),
    /// The bytes are not a valid key of their type.
    #[error("invalid {0} public key")]
    InvalidKey(&'static str),
    /// A JWK that is not an Ed25519 or P-256 public key.
    #[error("unsupported JWK: {0}")]
    UnsupportedJwk(String),
}

/// A public key that verifies proofs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// P-256.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// The suite this key verifies.
    pub fn cryptosuite(&self) -> Cryptosuite {
        match self {
            PublicKey::Ed25519(_) => Cryptosuite::EdDsaRdfc2022,
            PublicKey::P256(_) => Cryptosuite::EcdsaRdfc2019,
        }
    }

    /// `publicKeyMultibase` of a Multikey verification method.
    pub fn to_multibase(&self) -> String {
        let mut bytes = Vec::with_capacity(35);
        match self {
            PublicKey::Ed25519(key) => {
                bytes.extend_from_slice(&ED25519_PUB);
                bytes.extend_from_slice(key.as_bytes());
            }
            PublicKey::P256(key) => {
                bytes.extend_from_slice(&P256_PUB);
                bytes.extend_from_slice(key.to_encoded_point(true).as_bytes());
            }
        }
        multibase::encode(multibase::Base::Base58Btc, bytes)
    }

    /// Reads a `publicKeyMultibase`.
    pub fn from_multibase(text: &str) -> Result<PublicKey, KeyError> {
        if !text.starts_with('z') {
            return Err(KeyError::NotBase58Multibase);
        }
        let (_, bytes) = multibase::decode(text).map_err(|_| KeyError::NotBase58Multibase)?;
        match bytes.get(..2) {
            Some(prefix) if prefix == ED25519_PUB => {
                let key: [u8; 32] = bytes[2..].try_into().map_err(|_| KeyError::InvalidKey("Ed25519"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&key)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| KeyError::InvalidKey("Ed25519"))
            }
            Some(prefix) if prefix == P256_PUB => p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes[2..])
                .map(PublicKey::P256)
                .map_err(|_| KeyError::InvalidKey("P-256")),
            _ => Err(KeyError::UnsupportedKeyType(bytes.iter().take(2).copied().collect())),
        }
    }

    /// Reads a `publicKeyJwk` (`OKP`/`Ed25519` or `EC`/`P-256`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<PublicKey, KeyError> {
        let field = |name: &str| {
            jwk.get(name)
                .and_then(|v| v.as_str())
                .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                .ok_or_else(|| KeyError::UnsupportedJwk(format!("missing or malformed \"{name}\"")))
        };
        match (jwk.get("kty").and_then(|v| v.as_str()), jwk.get("crv").and_then(|v| v.as_str())) {
            (Some("OKP"), Some("Ed25519")) => {
                let key: [u8; 32] = field("x")?.try_into().map_err(|_| KeyError::InvalidKey("Ed25519"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&key)
                    .map(PublicKey::Ed25519)
                    .map_err(|_| KeyError::InvalidKey("Ed25519"))
            }
            (Some("EC"), Some("P-256")) => {
                let mut point = vec![0x04];
                point.extend(field("x")?);
                point.extend(field("y")?);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map(PublicKey::P256)
                    .map_err(|_| KeyError::InvalidKey("P-256"))
            }
            (kty, crv) => Err(KeyError::UnsupportedJwk(format!("kty {kty:?} crv {crv:?}"))),
        }
    }

    /// The public JWK.
    pub fn to_jwk(&self) -> serde_json::Value {
        match self {
            PublicKey::Ed25519(key) => {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key.as_bytes())})
            }
            PublicKey::P256(key) => {
                let point = key.to_encoded_point(false);
                serde_json::json!({
                    "kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(point.x().expect("uncompressed point")),
                    "y": URL_SAFE_NO_PAD.encode(point.y().expect("uncompressed point")),
                })
            }
        }
    }
}

/// A signing key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub enum SecretKey {
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// P-256.
    P256(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({:?}, public {})", self.cryptosuite(), self.public().to_multibase())
    }
}

impl SecretKey {
    /// A fresh key for `suite`, from the operating system's RNG.
    pub fn generate(suite: Cryptosuite) -> SecretKey {
        let mut rng = rand_core::OsRng;
        match suite {
            Cryptosuite::EdDsaRdfc2022 => SecretKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            Cryptosuite::EcdsaRdfc2019 => SecretKey::P256(p256::ecdsa::SigningKey::random(&mut rng)),
        }
    }

    /// A key derived from 32 seed bytes (tests and fixtures: the same seed gives the same key).
    pub fn from_seed(suite: Cryptosuite, seed: [u8; 32]) -> SecretKey {
        match suite {
            Cryptosuite::EdDsaRdfc2022 => SecretKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
            Cryptosuite::EcdsaRdfc2019 => {
                SecretKey::P256(p256::ecdsa::SigningKey::from_slice(&seed).expect("a 32-byte scalar below the order"))
            }
        }
    }

    /// The suite this key signs with.
    pub fn cryptosuite(&self) -> Cryptosuite {
        self.public().cryptosuite()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        match self {
            SecretKey::Ed25519(key) => PublicKey::Ed25519(key.verifying_key()),
            SecretKey::P256(key) => PublicKey::P256(*key.verifying_key()),
        }
    }

    /// The private JWK (for the key file; never logged).
    pub(crate) fn to_private_jwk(&self) -> serde_json::Value {
        let mut jwk = self.public().to_jwk();
        let d = match self {
            SecretKey::Ed25519(key) => URL_SAFE_NO_PAD.encode(key.to_bytes()),
            SecretKey::P256(key) => URL_SAFE_NO_PAD.encode(key.to_bytes()),
        };
        jwk["d"] = serde_json::Value::String(d);
        jwk
    }

    fn from_private_jwk(jwk: &serde_json::Value) -> Result<SecretKey, KeyError> {
        let d: [u8; 32] = jwk
            .get("d")
            .and_then(|v| v.as_str())
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| KeyError::UnsupportedJwk("missing or malformed private \"d\"".into()))?;
        let key = match PublicKey::from_jwk(jwk)? {
            PublicKey::Ed25519(_) => SecretKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d)),
            PublicKey::P256(_) => {
                SecretKey::P256(p256::ecdsa::SigningKey::from_slice(&d).map_err(|_| KeyError::InvalidKey("P-256"))?)
            }
        };
        if key.public() != PublicKey::from_jwk(jwk)? {
            return Err(KeyError::UnsupportedJwk("the private key does not match its public part".into()));
        }
        Ok(key)
    }

    /// Signs `message` (the proof's hash data) and returns the raw signature: 64 bytes for both
    /// suites (P-256 in IEEE P1363 `r || s` form, hashing the message with SHA-256).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        match self {
            SecretKey::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            SecretKey::P256(key) => {
                let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, message);
                signature.to_bytes().to_vec()
            }
        }
    }
}

impl PublicKey {
    /// Checks a raw signature made by [`SecretKey::sign`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .map(|s| key.verify_strict(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .map(|s| p256::ecdsa::signature::Verifier::verify(key, message, &s).is_ok())
                .unwrap_or(false),
        }
    }
}

/// An X25519 key-agreement key (the node's inbox encryption key).
#[derive(Clone)]
pub struct AgreementKey(x25519_dalek::StaticSecret);

impl std::fmt::Debug for AgreementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AgreementKey(public {})", self.public_multibase())
    }
}

impl AgreementKey {
    /// A fresh key.
    pub fn generate() -> AgreementKey {
        AgreementKey(x25519_dalek::StaticSecret::random_from_rng(rand_core::OsRng))
    }

    /// The public key.
    pub fn public(&self) -> x25519_dalek::PublicKey {
        x25519_dalek::PublicKey::from(&self.0)
    }

    /// The secret, for Diffie-Hellman.
    pub fn secret(&self) -> &x25519_dalek::StaticSecret {
        &self.0
    }

    /// `publicKeyMultibase` of the Multikey.
    pub fn public_multibase(&self) -> String {
        x25519_multibase(&self.public())
    }
}

/// `publicKeyMultibase` of an X25519 public key.
pub fn x25519_multibase(key: &x25519_dalek::PublicKey) -> String {
    let mut bytes = X25519_PUB.to_vec();
    bytes.extend_from_slice(key.as_bytes());
    multibase::encode(multibase::Base::Base58Btc, bytes)
}

/// Reads an X25519 `publicKeyMultibase`.
pub fn x25519_from_multibase(text: &str) -> Result<x25519_dalek::PublicKey, KeyError> {
    if !text.starts_with('z') {
        return Err(KeyError::NotBase58Multibase);
    }
    let (_, bytes) = multibase::decode(text).map_err(|_| KeyError::NotBase58Multibase)?;
    if bytes.get(..2) != Some(&X25519_PUB[..]) {
        return Err(KeyError::UnsupportedKeyType(bytes.iter().take(2).copied().collect()));
    }
    let key: [u8; 32] = bytes[2..].try_into().map_err(|_| KeyError::InvalidKey("X25519"))?;
    Ok(x25519_dalek::PublicKey::from(key))
}

/// One signing key of an issuer, with its fragment in the DID document (`key-1`, …).
#[derive(Clone, Debug)]
pub struct IssuerKey {
    /// Fragment of the verification method id.
    pub fragment: String,
    /// The key.
    pub key: SecretKey,
}

/// An issuer's keys: signing keys in order of creation (the last signs) and the agreement key.
#[derive(Clone, Debug)]
pub struct IssuerKeys {
    signing: Vec<IssuerKey>,
    agreement: AgreementKey,
}

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing it failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
    /// Its content is not a cadena key file.
    #[error("key file {path} is malformed: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    signing: Vec<KeyFileEntry>,
    agreement: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct KeyFileEntry {
    fragment: String,
    jwk: serde_json::Value,
}

impl IssuerKeys {
    /// A new key set with one signing key for `suite`.
    pub fn generate(suite: Cryptosuite) -> IssuerKeys {
        IssuerKeys {
            signing: vec![IssuerKey { fragment: "key-1".into(), key: SecretKey::generate(suite) }],
            agreement: AgreementKey::generate(),
        }
    }

    /// The key that signs new credentials.
    pub fn current(&self) -> &IssuerKey {
        self.signing.last().expect("an issuer always has a signing key")
    }

    /// Every signing key, oldest first.
    pub fn signing_keys(&self) -> &[IssuerKey] {
        &self.signing
    }

    /// The key-agreement key.
    pub fn agreement(&self) -> &AgreementKey {
        &self.agreement
    }

    /// Adds a new signing key for `suite` and makes it current; returns its fragment.
    pub fn rotate(&mut self, suite: Cryptosuite) -> &IssuerKey {
        let fragment = format!("key-{}", self.signing.len() + 1);
        self.signing.push(IssuerKey { fragment, key: SecretKey::generate(suite) });
        self.current()
    }

    /// Serialises the keys (private material included) for the key file.
    pub fn to_file_json(&self) -> String {
        let file = KeyFile {
            signing: self
                .signing
                .iter()
                .map(|k| KeyFileEntry { fragment: k.fragment.clone(), jwk: k.key.to_private_jwk() })
                .collect(),
            agreement: serde_json::json!({
                "kty": "OKP", "crv": "X25519",
                "x": URL_SAFE_NO_PAD.encode(self.agreement.public().as_bytes()),
                "d": URL_SAFE_NO_PAD.encode(self.agreement.0.to_bytes()),
            }),
        };
        serde_json::to_string_pretty(&file).expect("serialisable")
    }

    /// Parses a key file's content; `path` names it in errors.
    pub fn from_file_json(text: &str, path: &str) -> Result<IssuerKeys, KeyFileError> {
        let malformed = |message: String| KeyFileError::Malformed { path: path.to_owned(), message };
        let file: KeyFile = serde_json::from_str(text).map_err(|e| malformed(e.to_string()))?;
        let mut signing = Vec::new();
        for (i, entry) in file.signing.iter().enumerate() {
            let key = SecretKey::from_private_jwk(&entry.jwk).map_err(|e| malformed(format!("signing[{i}]: {e}")))?;
            signing.push(IssuerKey { fragment: entry.fragment.clone(), key });
        }
        if signing.is_empty() {
            return Err(malformed("no signing key".into()));
        }
        let d: [u8; 32] = file
            .agreement
            .get("d")
            .and_then(|v| v.as_str())
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| malformed("agreement: missing or malformed \"d\"".into()))?;
        Ok(IssuerKeys { signing, agreement: AgreementKey(x25519_dalek::StaticSecret::from(d)) })
    }

    /// Loads the key file at `path`, or creates it with a fresh key set for `suite`, readable by
    /// its owner only.
    pub fn load_or_create(path: &Path, suite: Cryptosuite) -> Result<IssuerKeys, KeyFileError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => IssuerKeys::from_file_json(&text, &name),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let keys = IssuerKeys::generate(suite);
                keys.save_new(path)?;
                Ok(keys)
            }
            Err(source) => Err(KeyFileError::Io { path: name, source }),
        }
    }

    /// Writes the key file atomically with owner-only permissions (a rotation replaces it).
    pub fn save(&self, path: &Path) -> Result<(), KeyFileError> {
        let tmp = path.with_extension("tmp");
        let _ = std::fs::remove_file(&tmp);
        let io = |source| KeyFileError::Io { path: path.display().to_string(), source };
        write_owner_only(&tmp, self.to_file_json().as_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn save_new(&self, path: &Path) -> Result<(), KeyFileError> {
        write_owner_only(path, self.to_file_json().as_bytes())
            .map_err(|source| KeyFileError::Io { path: path.display().to_string(), source })
    }
}

/// Creates `path` (it must not exist) readable and writable by its owner only.
fn write_owner_only(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multikeys_round_trip_and_match_known_prefixes() {
        for suite in [Cryptosuite::EdDsaRdfc2022, Cryptosuite::EcdsaRdfc2019] {
            let key = SecretKey::generate(suite).public();
            let text = key.to_multibase();
            // did:key conventions: z6Mk… for Ed25519, zDn… for P-256.
            let prefix = if suite == Cryptosuite::EdDsaRdfc2022 { "z6Mk" } else { "zDn" };
            assert!(text.starts_with(prefix), "{text}");
            assert_eq!(PublicKey::from_multibase(&text).unwrap(), key);
            assert_eq!(PublicKey::from_jwk(&key.to_jwk()).unwrap(), key);
        }
        let agreement = AgreementKey::generate();
        assert!(agreement.public_multibase().starts_with("z6LS"), "{}", agreement.public_multibase());
        assert_eq!(x25519_from_multibase(&agreement.public_multibase()).unwrap(), agreement.public());
        assert!(matches!(
            PublicKey::from_multibase(&agreement.public_multibase()),
            Err(KeyError::UnsupportedKeyType(_))
        ));
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        for suite in [Cryptosuite::EdDsaRdfc2022, Cryptosuite::EcdsaRdfc2019] {
            let key = SecretKey::generate(suite);
            let signature = key.sign(b"hash data");
            assert_eq!(signature.len(), 64);
            assert!(key.public().verify(b"hash data", &signature));
            assert!(!key.public().verify(b"hash datA", &signature));
        }
    }

    #[test]
    fn the_key_file_is_owner_only_and_keeps_rotated_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("issuer-keys.json");
        let mut keys = IssuerKeys::load_or_create(&path, Cryptosuite::EdDsaRdfc2022).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let first = keys.current().key.public();
        keys.rotate(Cryptosuite::EcdsaRdfc2019);
        keys.save(&path).unwrap();
        let reloaded = IssuerKeys::load_or_create(&path, Cryptosuite::EdDsaRdfc2022).unwrap();
        assert_eq!(reloaded.signing_keys().len(), 2);
        assert_eq!(reloaded.signing_keys()[0].key.public(), first);
        assert_eq!(reloaded.current().fragment, "key-2");
        assert_eq!(reloaded.current().key.cryptosuite(), Cryptosuite::EcdsaRdfc2019);
        assert_eq!(reloaded.agreement().public(), keys.agreement().public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(format!("{keys:?}").contains("public z"), "Debug shows public keys only");
        assert!(!format!("{keys:?}").contains("\"d\""));
    }
}
