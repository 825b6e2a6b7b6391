//! Trusted documents: the operations of the applications a customs authority runs (its risk
//! system's, its partners' and its banks' known queries), listed in a file
//! (`trusted_documents`) as GraphQL Codegen's persisted-documents map (`{"<id>": "<document>"}`)
//! or Apollo's persisted query manifest (`{"operations": [{"body": "<document>", …}]}`). An
//! operation whose text is one of them (compared by SHA-256 of the text, whatever id it was
//! listed under) is exempt from the cost limit: its cost was accepted when it was reviewed.
//! Depth and alias limits still hold it, and every other operation is held to all three.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The documents the gateway trusts, by the SHA-256 of their text.
#[derive(Clone, Debug, Default)]
pub struct TrustedDocuments(HashSet<[u8; 32]>);

impl TrustedDocuments {
    /// Reads `file`.
    pub fn load(file: &Path) -> anyhow::Result<TrustedDocuments> {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("trusted_documents: reading {}", file.display()))?;
        TrustedDocuments::parse(&text).map_err(|e| anyhow::anyhow!("trusted_documents: {}: {e}", file.display()))
    }

    /// Reads a persisted-documents map or a persisted query manifest.
    pub fn parse(json: &str) -> Result<TrustedDocuments, String> {
        let value: Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let documents: Vec<&str> = match &value {
            Value::Object(manifest) if manifest.contains_key("operations") => manifest["operations"]
                .as_array()
                .ok_or("`operations` must be a list")?
                .iter()
                .enumerate()
                .map(|(i, operation)| {
                    operation["body"].as_str().ok_or(format!("`operations[{i}].body` must be a string"))
                })
                .collect::<Result<_, _>>()?,
            Value::Object(map) => map
                .iter()
                .map(|(id, document)| document.as_str().ok_or(format!("`{id}` must map to a document (a string)")))
                .collect::<Result<_, _>>()?,
            _ => return Err("must be an object: {\"<id>\": \"<document>\"} or {\"operations\": [...]}".into()),
        };
        Ok(TrustedDocuments(documents.into_iter().map(|d| Sha256::digest(d).into()).collect()))
    }

    /// Whether `query` is, to the byte, a trusted document.
    pub fn trusts(&self, query: &str) -> bool {
        !self.0.is_empty() && self.0.contains(&<[u8; 32]>::from(Sha256::digest(query)))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_are_read_and_only_the_exact_text_is_trusted() {
        let query = "query Operator($tin: String!) { operator(country: \"MX\", tin: $tin) { riskScore } }";
        let map = serde_json::json!({ "sha256:whatever": query }).to_string();
        let manifest = serde_json::json!({
            "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": "x", "name": "Operator", "type": "query", "body": query }],
        })
        .to_string();
        for file in [map, manifest] {
            let trusted = TrustedDocuments::parse(&file).unwrap();
            assert!(trusted.trusts(query));
            assert!(!trusted.trusts(&query.replace("riskScore", "riskScore legalName")), "one field more");
            assert!(!trusted.trusts(&format!("{query} ")), "one character more");
        }
        let refused = TrustedDocuments::parse(r#"{"operations": [{"id": "x"}]}"#).unwrap_err();
        assert!(refused.contains("operations[0].body"), "{refused}");
        assert!(TrustedDocuments::parse(r#"{"a": 1}"#).unwrap_err().contains("`a`"));
    }
}
