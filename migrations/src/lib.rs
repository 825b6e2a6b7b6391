//! Database migrations of a cadena node, the same for SQLite and PostgreSQL.
//!
//! The node runs them at start-up and `cadena migrate` runs them on demand; tests migrate every
//! fresh database with this same migrator, so the schema under test is the schema in use.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_officers;
mod m20261125_000002_certifications;
mod m20261126_000003_credentials;
mod m20261127_000004_anchoring;
mod m20261128_000005_partners;
mod m20261203_000006_vc_api_issuance;
mod m20261203_000007_partner_refusals;
mod m20261203_000008_certification_events;
mod m20261203_000009_worker_leases;
mod m20261204_000010_row_guard;
mod m20261205_000011_event_sequencing;
mod m20261206_000012_one_outbox;
mod m20261207_000013_console_sessions;
mod m20261208_000014_watch_lists;
mod m20261209_000015_follower_deliveries;
mod m20261210_000016_wallets;
mod m20261211_000017_trace_context;
mod m20261212_000018_lighter_issuance_writes;
mod m20261213_000019_partner_dispatch_from_log;
mod m20261214_000020_sqlite_guards_in_writer;

/// The ordered list of migrations.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_officers::Migration),
            Box::new(m20261125_000002_certifications::Migration),
            Box::new(m20261126_000003_credentials::Migration),
            Box::new(m20261127_000004_anchoring::Migration),
            Box::new(m20261128_000005_partners::Migration),
            Box::new(m20261203_000006_vc_api_issuance::Migration),
            Box::new(m20261203_000007_partner_refusals::Migration),
            Box::new(m20261203_000008_certification_events::Migration),
            Box::new(m20261203_000009_worker_leases::Migration),
            Box::new(m20261204_000010_row_guard::Migration),
            Box::new(m20261205_000011_event_sequencing::Migration),
            Box::new(m20261206_000012_one_outbox::Migration),
            Box::new(m20261207_000013_console_sessions::Migration),
            Box::new(m20261208_000014_watch_lists::Migration),
            Box::new(m20261209_000015_follower_deliveries::Migration),
            Box::new(m20261210_000016_wallets::Migration),
            Box::new(m20261211_000017_trace_context::Migration),
            Box::new(m20261212_000018_lighter_issuance_writes::Migration),
            Box::new(m20261213_000019_partner_dispatch_from_log::Migration),
            Box::new(m20261214_000020_sqlite_guards_in_writer::Migration),
        ]
    }
}
