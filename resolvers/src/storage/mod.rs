//! The node's database: connection, migration, and the entities.
//!
//! SQLite (a file in the data dir) is the default; PostgreSQL when the URL says so. SQLite
//! allows one writer at a time and answers a second one with `SQLITE_BUSY`, so on SQLite every
//! write transaction passes through one in-process gate instead of retrying; PostgreSQL writers
//! run concurrently and rely on conditional updates and unique keys.

pub mod entities;

use std::sync::Arc;
use std::time::Duration;

use cadena_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr};
use tokio::sync::{Mutex, MutexGuard};

/// A migrated database and the writer gate that suits its backend.
#[derive(Clone, Debug)]
pub struct Storage {
    db: DatabaseConnection,
    write_gate: Option<Arc<Mutex<()>>>,
}

/// Held for the duration of a write transaction (a no-op on PostgreSQL).
#[derive(Debug)]
pub struct WriteGuard<'a>(#[allow(dead_code)] Option<MutexGuard<'a, ()>>);

impl Storage {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) without migrating.
    pub async fn connect(url: &str) -> Result<Storage, DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false).acquire_timeout(Duration::from_secs(10)).max_connections(16).min_connections(1);
        options.map_sqlx_sqlite_opts(|o| {
            // WAL lets readers run beside the writer; NORMAL sync is durable across process
            // crashes (only an OS crash can lose the last transactions), which is SQLite's
            // recommended pairing with WAL.
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
        let db = Database::connect(options).await?;
        let write_gate = match db.get_database_backend() {
            DbBackend::Sqlite => Some(Arc::new(Mutex::new(()))),
            _ => None,
        };
        Ok(Storage { db, write_gate })
    }

    /// Connects and brings the schema up to date.
    pub async fn connect_and_migrate(url: &str) -> Result<Storage, DbErr> {
        let storage = Storage::connect(url).await?;
        storage.migrate().await?;
        Ok(storage)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    /// The connection pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Waits for the right to write (SQLite) and returns a guard to hold across the transaction.
    pub async fn write_gate(&self) -> WriteGuard<'_> {
        match &self.write_gate {
            Some(gate) => WriteGuard(Some(gate.lock().await)),
            None => WriteGuard(None),
        }
    }
}
