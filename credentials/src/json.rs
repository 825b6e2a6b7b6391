//! JSON from outside the process, read as it was written.
//!
//! serde_json's `arbitrary_precision` (and `raw_value`) features are on for the whole build:
//! the DID crates under ssi turn them on, and Cargo features are additive. With them, a
//! `serde_json::Number` written through any serializer but serde_json's own becomes the map
//! `{"$serde_json::private::Number": "1"}`, and serde_json's `Value` reads such a map back as
//! the number `1` (`$serde_json::private::RawValue` likewise becomes the JSON its string holds).
//! A document that is not the one its issuer signed would come out of `serde_json::from_slice`
//! as the signed one, and pass verification. So every JSON text cadena takes in (request
//! bodies, GraphQL variables, partner messages, documents it fetches) goes through
//! [`from_slice`], which refuses those private keys wherever they appear, naming where.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What every serde_json private key starts with.
const PRIVATE_KEY_PREFIX: &str = "$serde_json::private::";

/// What is wrong with a serde_json private key, wherever it is found.
pub const PRIVATE_KEY_REASON: &str = "is serde_json's internal encoding of a number or raw JSON, not JSON data (a document serialised by the wrong serializer): send the document exactly as it was signed";

/// Why a JSON text was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON (or nested deeper than serde_json's 128 levels).
    #[error("{0}")]
    Syntax(String),
    /// JSON holding a serde_json private key: not data, but a serializer's internal encoding.
    #[error("{path}: {PRIVATE_KEY_REASON}")]
    PrivateKey {
        /// The key's path from the root (`credentialSubject.certificateVersion.$serde_json::private::Number`).
        path: String,
    },
    /// JSON, but not of the expected shape.
    #[error("{0}")]
    Shape(String),
}

/// Whether `key` is one of serde_json's private keys (see the module documentation).
pub fn is_private_key(key: &str) -> bool {
    key.starts_with(PRIVATE_KEY_PREFIX)
}

/// Parses `bytes` as JSON, refusing serde_json's private keys anywhere in it.
pub fn from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    // serde_json first: its syntax errors (with line and column) and its nesting limit, which
    // also bounds the recursion below.
    let value: Value = serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    // By then such a key is gone (the map became a number), so it is looked for in the text,
    // with an independent parser that keeps every key as written. A key can only be spelled
    // with its own letters or with `\u` escapes: text with neither cannot hold one.
    if contains(bytes, b"serde_json") || contains(bytes, b"\\u") {
        let (written, _) = <json_syntax::Value as json_syntax::Parse>::parse_slice(bytes)
            .map_err(|e| JsonError::Syntax(e.to_string()))?;
        let mut path = String::new();
        if private_key_in(&written, &mut path) {
            return Err(JsonError::PrivateKey { path });
        }
    }
    Ok(value)
}

/// [`from_slice`] of a string.
pub fn from_str(text: &str) -> Result<Value, JsonError> {
    from_slice(text.as_bytes())
}

/// [`from_slice`], then into `T`.
pub fn from_slice_as<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_value(from_slice(bytes)?).map_err(|e| JsonError::Shape(e.to_string()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `value` holds a private key; if so, `path` is left naming the first one.
fn private_key_in(value: &json_syntax::Value, path: &mut String) -> bool {
    let at = path.len();
    match value {
        json_syntax::Value::Object(object) => {
            for entry in object.iter() {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(entry.key.as_str());
                if is_private_key(entry.key.as_str()) || private_key_in(&entry.value, path) {
                    return true;
                }
                path.truncate(at);
            }
        }
        json_syntax::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                if private_key_in(item, path) {
                    return true;
                }
                path.truncate(at);
            }
        }
        _ => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn serde_json_turns_a_private_number_key_into_a_number_and_this_parser_refuses_it() {
        let corrupted = r#"{"credentialSubject": {"certificateVersion": {"$serde_json::private::Number": "1"}}}"#;
        // The premise: serde_json alone reads the corrupted document as the signed one.
        let lenient: Value = serde_json::from_str(corrupted).unwrap();
        assert_eq!(lenient, json!({"credentialSubject": {"certificateVersion": 1}}));
        match from_str(corrupted) {
            Err(JsonError::PrivateKey { path }) => {
                assert_eq!(path, "credentialSubject.certificateVersion.$serde_json::private::Number");
            }
            other => panic!("refused, not {other:?}"),
        }
    }

    #[test]
    fn escaped_raw_value_keys_and_keys_in_lists_are_refused_too() {
        let escaped = r#"[1, {"a": {"$\u0073erde_json::private::RawValue": "{\"x\": 1}"}}]"#;
        let lenient: Value = serde_json::from_str(escaped).unwrap();
        assert_eq!(lenient, json!([1, {"a": {"x": 1}}]), "serde_json reads the raw JSON inside");
        let Err(JsonError::PrivateKey { path, .. }) = from_str(escaped) else { panic!("refused") };
        assert_eq!(path, "[1].a.$serde_json::private::RawValue");
        let Err(JsonError::PrivateKey { path, .. }) = from_str(r#"{"$serde_json::private::Number": "1"}"#) else {
            panic!("refused at the root")
        };
        assert_eq!(path, "$serde_json::private::Number");
    }

    #[test]
    fn json_keeps_its_numbers_as_written_and_errors_say_where() {
        let text = r#"{"v": 1, "f": 1.50, "big": 123456789012345678901234567890, "e": 1e+2, "neg": -0, "s": "serde_json \u00e9"}"#;
        let value = from_str(text).unwrap();
        assert_eq!(
            value.to_string(),
            r#"{"big":123456789012345678901234567890,"e":1e+2,"f":1.50,"neg":-0,"s":"serde_json é","v":1}"#
        );
        assert!(value["v"].is_number());
        let Err(JsonError::Syntax(message)) = from_str("{\"a\": }") else { panic!("not JSON") };
        assert!(message.contains("line 1"), "{message}");
        let nested = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(from_str(&nested), Err(JsonError::Syntax(_))), "deeper than serde_json's limit");
    }
}
