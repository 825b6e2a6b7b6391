//! The node's services: every read and write of officers and certifications goes through here,
//! authorised, validated, and (for writes) in one database transaction.

pub mod anchoring;
pub mod certifications;
pub mod console_sessions;
pub mod credentials;
pub mod fetch;
pub mod follower_deliveries;
pub mod lease;
pub mod officers;
pub mod outbox;
pub mod partners;
pub mod recognition_webhooks;
pub mod retry;
pub mod secrets;
pub mod wallets;
pub mod watch_lists;
pub mod webhooks;

pub use certifications::{CertificationFilter, CertificationPage, CertificationService, HistoryView, Listing};
pub use credentials::{Challenge, CredentialService, CredentialSettings, IssuerIdentity};
pub use officers::{LoginOutcome, OfficerService};
