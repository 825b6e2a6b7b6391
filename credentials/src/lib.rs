//! The AEO domain of cadena, free of storage and transport.
//!
//! - [`country`]: ISO 3166-1 alpha-2 country codes.
//! - [`tin`]: trader identification numbers, parsed with each country's check-digit algorithm.
//! - [`aeo`]: the WCO-aligned AEO data set of a certification, validated on construction.
//! - [`lifecycle`]: the certification state machine (granted, suspended, revoked, ...).
//! - [`history`]: the append-only, hash-chained record of every transition.
//!
//! Verifiable credentials, DIDs, status lists and Merkle proofs join this crate in later work.

pub mod aeo;
pub mod country;
pub mod history;
pub mod lifecycle;
pub mod tin;

pub use aeo::{
    Address, AddressDraft, AeoDataSet, AeoDataSetDraft, CertificateType, FieldError, PartnerIdentifier, SupplyChainRole,
};
pub use country::CountryCode;
pub use history::{HistoryEntry, HistoryLink, verify_chain};
pub use lifecycle::{Status, Transition, TransitionError};
pub use tin::{Tin, TinError};
