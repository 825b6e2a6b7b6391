//! The AEO certification as a W3C Verifiable Credential (VC Data Model 2.0), before signing.
//!
//! ```json
//! { "@context": ["https://www.w3.org/ns/credentials/v2", "https://w3id.org/cadena/aeo/v1"],
//!   "id": "urn:uuid:…", "type": ["VerifiableCredential", "AEOCertificationCredential"],
//!   "issuer": "did:web:…", "validFrom": "…T00:00:00Z", "validUntil": "…T23:59:59Z",
//!   "credentialSubject": { "id": "did:…" | "urn:cadena:operator:MX:…", "type": "AuthorizedEconomicOperator", … },
//!   "credentialStatus": [ revocation entry, suspension entry ] }
//! ```
//!
//! The subject's terms are defined by the AEO context this crate ships
//! (`contexts/aeo-v1.jsonld`, served by every node at its stable URL and loaded offline by
//! every verifier).

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use json_syntax::Print as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::aeo::{Address, CertificateType, PartnerIdentifier, SupplyChainRole};
use crate::country::CountryCode;
use crate::status_list::StatusEntry;

/// The VC Data Model 2.0 base context.
pub const VC_V2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";
/// The cadena AEO context.
pub const AEO_CONTEXT: &str = "https://w3id.org/cadena/aeo/v1";
/// The AEO context document itself.
pub const AEO_CONTEXT_DOCUMENT: &str = include_str!("../contexts/aeo-v1.jsonld");
/// The credential type of an AEO certification.
pub const AEO_CREDENTIAL_TYPE: &str = "AEOCertificationCredential";
/// The vocabulary the AEO context maps its terms into: RDF that uses it speaks of AEO
/// certifications, however its JSON spells the terms.
pub const AEO_VOCABULARY: &str = "https://w3id.org/cadena/aeo#";
/// The type the node gives every credential it signs through the VC API (an absolute URL, so
/// no context has to define it): such a credential is never an AEO certification, which only
/// the certification lifecycle issues.
pub const VC_API_CREDENTIAL_TYPE: &str = "https://w3id.org/cadena/vc-api#NodeIssuedCredential";

/// The `type` values of a credential (a string or a list of them).
pub fn types_of(credential: &Value) -> Vec<&str> {
    match credential.get("type") {
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(single)) => vec![single.as_str()],
        _ => Vec::new(),
    }
}

/// Whether `credential` presents itself as an AEO certification: typed
/// [`AEO_CREDENTIAL_TYPE`] under the AEO context, and not one of the VC API's credentials.
/// Whether it is a good one is the verifier's business.
pub fn claims_aeo_certification(credential: &Value) -> bool {
    let types = types_of(credential);
    let contexts = credential.get("@context").and_then(Value::as_array);
    types.contains(&AEO_CREDENTIAL_TYPE)
        && !types.contains(&VC_API_CREDENTIAL_TYPE)
        && contexts.is_some_and(|c| c.iter().any(|u| u == AEO_CONTEXT))
}

/// `xsd:dateTime` as VC 2.0 wants it: UTC, second precision, `Z`.
pub fn xsd_date_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The first instant of a day, as `validFrom`.
pub fn start_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The last second of a day, as `validUntil`: a certification valid until a date is valid
/// throughout it.
pub fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(23, 59, 59).expect("valid time").and_utc()
}

/// The credential subject: the AEO and its certification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AeoSubject {
    /// The operator's DID when it has one (a presentation must then be signed by it), else
    /// `urn:cadena:operator:<country>:<tin>`.
    pub id: String,
    /// Legal name.
    pub legal_name: String,
    /// Trader identification number.
    pub tin: String,
    /// Its scheme (`MX_RFC`, …).
    pub tin_scheme: String,
    /// WCO R143 MRA party identifier, when it fits.
    pub mra_party_identifier: Option<String>,
    /// Other identifiers.
    pub partner_identifiers: Vec<PartnerIdentifier>,
    /// Address.
    pub address: Address,
    /// Certificate number.
    pub certificate_number: String,
    /// Version of the certificate (amendments increase it).
    pub certificate_version: i32,
    /// Certificate type.
    pub certificate_type: CertificateType,
    /// Supply-chain roles.
    pub roles: Vec<SupplyChainRole>,
    /// Issuing country.
    pub issuing_country: CountryCode,
    /// Issuing customs authority.
    pub issuing_authority: String,
    /// Date of the decision.
    pub authorisation_date: NaiveDate,
    /// Last (re)validation.
    pub last_validation_date: Option<NaiveDate>,
}

/// The subject id of an operator without a DID.
pub fn operator_urn(country: CountryCode, tin: &str) -> String {
    format!("urn:cadena:operator:{}:{}", country.as_str(), tin)
}

/// Everything an AEO credential states, before the proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AeoCredential {
    /// `urn:uuid:…`
    pub id: String,
    /// The issuing node's DID.
    pub issuer: String,
    /// First day of validity.
    pub valid_from: NaiveDate,
    /// Last day of validity, if any.
    pub valid_until: Option<NaiveDate>,
    /// The subject.
    pub subject: AeoSubject,
    /// Revocation and suspension entries.
    pub status: Vec<StatusEntry>,
}

impl AeoCredential {
    /// The unsigned credential document.
    pub fn to_json(&self) -> Value {
        let s = &self.subject;
        let mut address = json!({
            "type": "PostalAddress",
            "streetAddress": s.address.street,
            "addressLocality": s.address.city,
            "addressCountry": s.address.country.as_str(),
        });
        if let Some(region) = &s.address.sub_entity {
            address["addressRegion"] = json!(region);
        }
        if let Some(postcode) = &s.address.postcode {
            address["postalCode"] = json!(postcode);
        }
        let mut subject = json!({
            "id": s.id,
            "type": "AuthorizedEconomicOperator",
            "legalName": s.legal_name,
            "traderIdentificationNumber": s.tin,
            "traderIdentificationScheme": s.tin_scheme,
            "address": address,
            "certificateNumber": s.certificate_number,
            "certificateVersion": s.certificate_version,
            "certificateType": s.certificate_type.as_str(),
            "supplyChainRoles": s.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "issuingCountry": s.issuing_country.as_str(),
            "issuingAuthority": s.issuing_authority,
            "authorisationDate": s.authorisation_date.to_string(),
        });
        if let Some(id) = &s.mra_party_identifier {
            subject["mraPartyIdentifier"] = json!(id);
        }
        if !s.partner_identifiers.is_empty() {
            subject["partnerIdentifiers"] = s
                .partner_identifiers
                .iter()
                .map(|p| json!({"type": "PartnerIdentifier", "identifierScheme": p.scheme, "identifierValue": p.value}))
                .collect();
        }
        if let Some(day) = s.last_validation_date {
            subject["lastValidationDate"] = json!(day.to_string());
        }
        let mut credential = json!({
            "@context": [VC_V2_CONTEXT, AEO_CONTEXT],
            "id": self.id,
            "type": ["VerifiableCredential", AEO_CREDENTIAL_TYPE],
            "issuer": self.issuer,
            "validFrom": xsd_date_time(start_of_day(self.valid_from)),
            "credentialSubject": subject,
            "credentialStatus": self.status.iter().map(StatusEntry::to_json).collect::<Vec<_>>(),
        });
        if let Some(until) = self.valid_until {
            credential["validUntil"] = json!(xsd_date_time(end_of_day(until)));
        }
        credential
    }
}

/// The digest cadena anchors for a signed credential: SHA-256 of its RFC 8785 (JCS) canonical
/// JSON, proof included. Any party holding the credential recomputes it without JSON-LD.
pub fn credential_digest(signed: &Value) -> [u8; 32] {
    let mut value = json_syntax::Value::from_serde_json(signed.clone());
    value.canonicalize();
    Sha256::digest(value.compact_print().to_string().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_key_order_and_whitespace_but_not_content() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": [1, 2.50, "x"], "c": {"é": true}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"c":{"é":true},"a":[1,2.5,"x"],"b":1}"#).unwrap();
        assert_eq!(credential_digest(&a), credential_digest(&b));
        let c: Value = serde_json::from_str(r#"{"c":{"é":true},"a":[2.5,1,"x"],"b":1}"#).unwrap();
        assert_ne!(credential_digest(&a), credential_digest(&c));
    }

    #[test]
    fn the_rfc8785_form_is_what_is_hashed() {
        // RFC 8785 section 3.2.3's example orders keys by UTF-16 code units.
        let value: Value =
            serde_json::from_str(r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "1": "One"}"#).unwrap();
        let mut canonical = json_syntax::Value::from_serde_json(value.clone());
        canonical.canonicalize();
        assert_eq!(
            canonical.compact_print().to_string(),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"€\":\"Euro Sign\"}"
        );
        assert_eq!(credential_digest(&value), <[u8; 32]>::from(Sha256::digest(canonical.compact_print().to_string())));
    }
}
