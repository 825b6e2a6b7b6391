//! The AEO domain of cadena, free of storage and transport.
//!
//! - [`country`]: ISO 3166-1 alpha-2 country codes.
//! - [`tin`]: trader identification numbers, parsed with each country's check-digit algorithm.
//! - [`aeo`]: the WCO-aligned AEO data set of a certification, validated on construction.
//! - [`lifecycle`]: the certification state machine (granted, suspended, revoked, ...).
//! - [`history`]: the append-only, hash-chained record of every transition.
//! - [`credential`]: the AEO certification as a W3C Verifiable Credential 2.0, and its digest.
//! - [`conformance`]: the VC Data Model 2.0 MUSTs a credential is checked against before signing.
//! - [`keys`], [`did`]: issuer keys, Multikeys, did:web documents and did:key.
//! - [`status_list`]: Bitstring Status Lists (revocation, suspension).
//! - [`integrity`]: Data Integrity proofs (eddsa-rdfc-2022, ecdsa-rdfc-2019), with ssi's JSON-LD.
//! - [`sd_jwt_vc`]: the AEO certification as an SD-JWT VC for wallets (ssi's SD-JWT), and the
//!   IETF Token Status List that carries its status.
//! - [`jwt`]: the JWTs wallets and relying parties exchange (proofs, key binding, status lists).
//! - [`merkle`]: OpenZeppelin-compatible Merkle trees of credential digests, for anchoring.
//! - [`validity`]: when a certification or credential is in force (one rule for all).
//! - [`verification`]: the verification report of a credential or presentation.
//! - [`json`]: JSON from outside read as written, refusing serde_json's private keys (a
//!   number serialised by the wrong serializer must not pass for the signed document).
//! - [`jose`]: compact JWS (EdDSA, ES256) and JWE (ECDH-ES with X25519, A256GCM) for the
//!   encrypted partner channel; [`jose::seal`] signs, then encrypts.

pub mod aeo;
pub mod conformance;
pub mod country;
pub mod credential;
pub mod did;
pub mod fixtures;
pub mod history;
pub mod integrity;
pub mod jose;
pub mod json;
pub mod jwt;
pub mod keys;
pub mod lifecycle;
pub mod merkle;
pub mod sd_jwt_vc;
pub mod status_list;
pub mod tin;
pub mod validity;
pub mod verification;

pub use aeo::{
    Address, AddressDraft, AeoDataSet, AeoDataSetDraft, CertificateType, FieldError, PartnerIdentifier, SupplyChainRole,
};
pub use country::CountryCode;
pub use history::{HistoryEntry, HistoryLink, verify_chain};
pub use lifecycle::{Status, Transition, TransitionError};
pub use tin::{Tin, TinError};
