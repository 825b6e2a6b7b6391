//! sea-orm entities, one module per table created by `cadena-migrations`.

pub mod anchor_batch_entries;
pub mod anchor_batches;
pub mod certification_events;
pub mod certification_history;
pub mod certifications;
pub mod chain_checkpoints;
pub mod consent_log;
pub mod console_sessions;
pub mod credential_anchors;
pub mod credentials;
pub mod event_cursors;
pub mod follower_deliveries;
pub mod mra_partners;
pub mod officers;
pub mod outbox;
pub mod partner_certifications;
pub mod partner_events;
pub mod partner_inbox;
pub mod partner_messages;
pub mod presentation_challenges;
pub mod status_lists;
pub mod vc_api_issuances;
pub mod watch_list;
