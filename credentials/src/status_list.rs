//! W3C Bitstring Status List v1.0: the bitstring behind a `BitstringStatusListCredential`, and
//! the status entries a credential carries.
//!
//! A list is at least 131,072 bits (16 KiB) so that a verifier fetching it learns nothing about
//! which credential it is checking (herd privacy); it travels GZIP-compressed, base64url-encoded
//! without padding and prefixed `u` (multibase), and compresses to a few hundred bytes while
//! mostly zeros. Bit 0 is the most significant bit of the first byte.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Bits in a list: the specification's minimum, 16 KiB.
pub const LIST_BITS: usize = 131_072;

/// The largest list cadena decodes: 16 MiB of bits once decompressed. A hostile list cannot make
/// a verifier inflate more than this (a GZIP bomb).
pub const MAX_DECODED_BYTES: usize = 16 * 1024 * 1024;

/// What a list records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusPurpose {
    /// Set bits are revoked (permanent).
    Revocation,
    /// Set bits are suspended (reversible).
    Suspension,
}

impl StatusPurpose {
    /// Both purposes, in the order a credential lists its entries.
    pub const ALL: [StatusPurpose; 2] = [StatusPurpose::Revocation, StatusPurpose::Suspension];

    /// The `statusPurpose` value.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusPurpose::Revocation => "revocation",
            StatusPurpose::Suspension => "suspension",
        }
    }

    /// Parses a `statusPurpose` value.
    pub fn parse(value: &str) -> Option<StatusPurpose> {
        Self::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Why an encoded list could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BitstringError {
    /// `encodedList` does not start with the multibase base64url prefix `u`.
    #[error("encodedList must start with the multibase prefix 'u' (base64url)")]
    NotMultibase,
    /// The base64url text is malformed.
    #[error("encodedList is not base64url: {0}")]
    Base64(String),
    /// The bytes are not GZIP, or decompress to more than [`MAX_DECODED_BYTES`].
    #[error("encodedList is not a GZIP stream of at most {MAX_DECODED_BYTES} bytes: {0}")]
    Gzip(String),
    /// The list is shorter than the specification's 16 KiB minimum.
    #[error("the list holds {0} bits; a status list holds at least {LIST_BITS}")]
    TooShort(usize),
    /// An index past the end of the list.
    #[error("status index {index} is outside the list of {len} bits")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// The list's length in bits.
        len: usize,
    },
}

/// A status bitstring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitstring {
    bytes: Vec<u8>,
}

impl Default for Bitstring {
    fn default() -> Self {
        Bitstring::new(LIST_BITS)
    }
}

impl Bitstring {
    /// All-zero list of `bits` bits (rounded up to whole bytes).
    pub fn new(bits: usize) -> Bitstring {
        Bitstring { bytes: vec![0; bits.div_ceil(8)] }
    }

    /// Length in bits.
    pub fn len(&self) -> usize {
        self.bytes.len() * 8
    }

    /// Whether the list has no bits at all.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The bit at `index`.
    pub fn get(&self, index: usize) -> Result<bool, BitstringError> {
        let byte = self.bytes.get(index / 8).ok_or(BitstringError::OutOfRange { index, len: self.len() })?;
        Ok(byte & (0x80 >> (index % 8)) != 0)
    }

    /// Sets or clears the bit at `index`.
    pub fn set(&mut self, index: usize, value: bool) -> Result<(), BitstringError> {
        let len = self.len();
        let byte = self.bytes.get_mut(index / 8).ok_or(BitstringError::OutOfRange { index, len })?;
        let mask = 0x80 >> (index % 8);
        if value {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
        Ok(())
    }

    /// `encodedList`: multibase base64url (no padding) of the GZIP-compressed bits.
    pub fn encode(&self) -> String {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        gzip.write_all(&self.bytes).expect("in-memory write");
        let compressed = gzip.finish().expect("in-memory write");
        format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
    }

    /// Reads an `encodedList`, refusing lists shorter than the minimum and decompression past
    /// [`MAX_DECODED_BYTES`].
    pub fn decode(encoded: &str) -> Result<Bitstring, BitstringError> {
        let text = encoded.strip_prefix('u').ok_or(BitstringError::NotMultibase)?;
        let compressed =
            URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|e| BitstringError::Base64(e.to_string()))?;
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(MAX_DECODED_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| BitstringError::Gzip(e.to_string()))?;
        if bytes.len() > MAX_DECODED_BYTES {
            return Err(BitstringError::Gzip("the stream inflates past the limit".into()));
        }
        let list = Bitstring { bytes };
        if list.len() < LIST_BITS {
            return Err(BitstringError::TooShort(list.len()));
        }
        Ok(list)
    }
}

/// Where one credential's status lives: a list and an index in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEntry {
    /// Revocation or suspension.
    pub purpose: StatusPurpose,
    /// URL of the `BitstringStatusListCredential`.
    pub list_url: String,
    /// Bit index in that list.
    pub index: usize,
}

impl StatusEntry {
    /// The `BitstringStatusListEntry` object of a credential's `credentialStatus`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": format!("{}#{}", self.list_url, self.index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": self.purpose.as_str(),
            "statusListIndex": self.index.to_string(),
            "statusListCredential": self.list_url,
        })
    }

    /// Reads a `BitstringStatusListEntry` object; `field` names it in errors
    /// (`credentialStatus[0]`). Entries of other types are `Ok(None)`: not ours to judge.
    pub fn from_json(value: &serde_json::Value, field: &str) -> Result<Option<StatusEntry>, String> {
        if value.get("type").and_then(|t| t.as_str()) != Some("BitstringStatusListEntry") {
            return Ok(None);
        }
        let text = |name: &str| {
            value.get(name).and_then(|v| v.as_str()).ok_or_else(|| format!("{field}.{name} is required (a string)"))
        };
        let purpose = text("statusPurpose")?;
        let purpose = StatusPurpose::parse(purpose)
            .ok_or_else(|| format!("{field}.statusPurpose \"{purpose}\" is not revocation or suspension"))?;
        let index = text("statusListIndex")?;
        // The specification makes the index a decimal string; "42abc" is not 42.
        let index = index
            .parse::<usize>()
            .ok()
            .filter(|_| index.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{field}.statusListIndex \"{index}\" is not a non-negative integer"))?;
        let list_url = text("statusListCredential")?.to_owned();
        Ok(Some(StatusEntry { purpose, list_url, index }))
    }
}

/// The unsigned `BitstringStatusListCredential` (VC 2.0) for a list, to be signed by its issuer.
/// `ttl_ms` tells verifiers how long they may cache it.
pub fn status_list_credential(
    list_url: &str,
    issuer: &str,
    purpose: StatusPurpose,
    bits: &Bitstring,
    valid_from: chrono::DateTime<chrono::Utc>,
    ttl_ms: u64,
) -> serde_json::Value {
    serde_json::json!({
        "@context": [crate::credential::VC_V2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": crate::credential::xsd_date_time(valid_from),
        "credentialSubject": {
            "id": format!("{list_url}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose.as_str(),
            "encodedList": bits.encode(),
            "ttl": ttl_ms,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_through_the_encoding() {
        let mut list = Bitstring::default();
        list.set(0, true).unwrap();
        list.set(42, true).unwrap();
        list.set(LIST_BITS - 1, true).unwrap();
        let encoded = list.encode();
        assert!(encoded.starts_with('u'));
        assert!(encoded.len() < 400, "a sparse 16 KiB list compresses well: {}", encoded.len());
        let decoded = Bitstring::decode(&encoded).unwrap();
        assert_eq!(decoded, list);
        assert!(decoded.get(42).unwrap());
        assert!(!decoded.get(43).unwrap());
        assert_eq!(decoded.get(LIST_BITS), Err(BitstringError::OutOfRange { index: LIST_BITS, len: LIST_BITS }));
    }

    #[test]
    fn bit_zero_is_the_most_significant_bit_of_the_first_byte() {
        let mut list = Bitstring::new(LIST_BITS);
        list.set(0, true).unwrap();
        list.set(9, true).unwrap();
        assert_eq!(&list.bytes[..2], &[0b1000_0000, 0b0100_0000]);
    }

    #[test]
    fn malformed_short_and_bomb_lists_are_refused() {
        assert_eq!(Bitstring::decode("H4sI"), Err(BitstringError::NotMultibase));
        assert!(matches!(Bitstring::decode("u!!!"), Err(BitstringError::Base64(_))));
        assert!(matches!(Bitstring::decode("uAAAA"), Err(BitstringError::Gzip(_))));
        assert_eq!(Bitstring::decode(&Bitstring::new(8).encode()), Err(BitstringError::TooShort(8)));
        // 64 MiB of zeros compress to ~64 KiB: decoding must stop at the limit, not inflate it.
        let bomb = Bitstring::new(64 * 1024 * 1024 * 8).encode();
        assert!(matches!(Bitstring::decode(&bomb), Err(BitstringError::Gzip(_))));
    }

    #[test]
    fn entries_parse_strictly() {
        let entry =
            StatusEntry { purpose: StatusPurpose::Suspension, list_url: "https://x/status-lists/s-1".into(), index: 7 };
        let json = entry.to_json();
        assert_eq!(StatusEntry::from_json(&json, "credentialStatus[1]").unwrap(), Some(entry));
        let mut bad = json.clone();
        bad["statusListIndex"] = "42abc".into();
        assert_eq!(
            StatusEntry::from_json(&bad, "credentialStatus[1]").unwrap_err(),
            "credentialStatus[1].statusListIndex \"42abc\" is not a non-negative integer"
        );
        let other = serde_json::json!({"type": "SomethingElse"});
        assert_eq!(StatusEntry::from_json(&other, "credentialStatus[0]").unwrap(), None);
    }
}
