//! The node's database: connection, migration, and the entities.
//!
//! SQLite (a file in the data dir) is the default; PostgreSQL when the URL says so. SQLite
//! allows one writer at a time and answers a second one with `SQLITE_BUSY`, so on SQLite every
//! write transaction passes through one in-process gate instead of retrying; PostgreSQL writers
//! run concurrently and rely on conditional updates and unique keys.
//!
//! Certification writes are a [`WriteBatch`] applied by [`Storage::apply`]. On SQLite the whole
//! batch, wrapped in `BEGIN IMMEDIATE … COMMIT`, goes as one multi-statement command to the
//! writer connection that the gate itself owns: the driver runs SQLite on a worker thread, and
//! every statement sent on its own, and every pool checkout, costs a round trip to it (about
//! 50–150 µs here), which measured as most of a write's time.

pub mod entities;

use std::sync::Arc;
use std::time::Duration;

use cadena_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::{self, SqliteConnection};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, FromQueryResult, QueryResult,
    RuntimeErr, Statement, TransactionTrait, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Mutex, MutexGuard};

/// A migrated database and the writer gate that suits its backend.
#[derive(Clone, Debug)]
pub struct Storage {
    db: DatabaseConnection,
    /// SQLite only: the one connection that writes, behind the gate that serialises writers.
    writer: Option<Arc<Mutex<SqliteConnection>>>,
}

/// Statements that must all apply or none. Each may carry a guard: the message of the conflict
/// to report when it changes no row (a concurrent writer got there first).
#[derive(Debug, Default)]
pub struct WriteBatch {
    statements: Vec<(Statement, Option<&'static str>)>,
}

impl WriteBatch {
    /// Adds a statement.
    pub fn push(&mut self, statement: Statement) {
        self.statements.push((statement, None));
    }

    /// Adds statements.
    pub fn extend(&mut self, statements: impl IntoIterator<Item = Statement>) {
        self.statements.extend(statements.into_iter().map(|s| (s, None)));
    }

    /// Adds a statement that must change at least one row.
    pub fn push_guarded(&mut self, statement: Statement, conflict: &'static str) {
        self.statements.push((statement, Some(conflict)));
    }
}

/// Why a batch did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A guarded statement changed nothing: the data moved under us.
    #[error("{0}")]
    Conflict(&'static str),
    /// The database refused or failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The right to write, held across a write's reads and its [`Storage::apply`] (on SQLite it
/// is the writer connection itself; on PostgreSQL it holds nothing).
#[derive(Debug)]
pub struct WriteGuard<'a>(Option<MutexGuard<'a, SqliteConnection>>);

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
        // sqlx pings a connection on every checkout by default: one more round trip per
        // statement. Ping only connections idle long enough to have gone stale.
        options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        let db = Database::connect(options).await?;
        let writer = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let connection = db.get_sqlite_connection_pool().acquire().await.map_err(sqlx_err)?.detach();
                Some(Arc::new(Mutex::new(connection)))
            }
            _ => None,
        };
        Ok(Storage { db, writer })
    }

    /// The backend in use.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Reads at most one row for a write, under its gate: on SQLite through the gate's own
    /// connection (no pool checkout, and it sees exactly what the batch will build on).
    pub async fn read_for_write<M: FromQueryResult>(
        &self,
        gate: &mut WriteGuard<'_>,
        select: Statement,
    ) -> Result<Option<M>, DbErr> {
        let Some(writer) = gate.0.as_deref_mut() else {
            return match self.db.query_one_raw(select).await? {
                Some(row) => Ok(Some(M::from_query_result(&row, "")?)),
                None => Ok(None),
            };
        };
        let values = select.values.unwrap_or_else(|| Values(Vec::new()));
        let row = sqlx::query_with(sqlx::AssertSqlSafe(select.sql), SqlxValues(values))
            .fetch_optional(&mut *writer)
            .await
            .map_err(sqlx_err)?;
        row.map(|row| M::from_query_result(&QueryResult::from(row), "")).transpose()
    }

    /// Applies a batch atomically, under the gate the caller holds across the reads the batch
    /// was planned from. On SQLite nothing can change between those reads and this call, so
    /// guards hold by construction; on PostgreSQL they are checked statement by statement.
    pub async fn apply(&self, gate: &mut WriteGuard<'_>, batch: WriteBatch) -> Result<(), ApplyError> {
        if let Some(writer) = gate.0.as_deref_mut() {
            let mut sql = String::from("BEGIN IMMEDIATE;");
            let mut values = Vec::new();
            for (statement, _) in batch.statements {
                sql.push_str(&statement.sql);
                sql.push(';');
                values.extend(statement.values.map(|v| v.0).unwrap_or_default());
            }
            sql.push_str("COMMIT;");
            let query = sqlx::query_with(sqlx::AssertSqlSafe(sql), SqlxValues(Values(values)));
            if let Err(error) = query.execute(&mut *writer).await {
                // The statement that failed left the transaction open (or SQLite already
                // rolled it back, and this ROLLBACK fails harmlessly).
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe("ROLLBACK")).execute(&mut *writer).await;
                return Err(sqlx_err(error).into());
            }
            return Ok(());
        }
        let txn = self.db.begin().await?;
        for (statement, guard) in batch.statements {
            let result = txn.execute_raw(statement).await?;
            if let Some(conflict) = guard
                && result.rows_affected() == 0
            {
                return Err(ApplyError::Conflict(conflict));
            }
        }
        txn.commit().await?;
        Ok(())
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

    /// The right to write if it is free now (always, on PostgreSQL, which has no gate).
    pub fn try_write_gate(&self) -> Option<WriteGuard<'_>> {
        match &self.writer {
            Some(writer) => writer.try_lock().ok().map(|guard| WriteGuard(Some(guard))),
            None => Some(WriteGuard(None)),
        }
    }

    /// Waits for the right to write (SQLite) and returns a guard to hold across the transaction.
    pub async fn write_gate(&self) -> WriteGuard<'_> {
        match &self.writer {
            Some(writer) => WriteGuard(Some(writer.lock().await)),
            None => WriteGuard(None),
        }
    }
}

fn sqlx_err(error: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    use super::*;

    fn insert(name: &str) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO officers (id, username, password_hash, roles, disabled, created_at, updated_at) \
             VALUES (?, ?, 'x', 'AUDITOR', false, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            [uuid::Uuid::new_v4().into(), name.into()],
        )
    }

    async fn usernames(storage: &Storage) -> Vec<String> {
        let rows = storage
            .db()
            .query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT username FROM officers ORDER BY username"))
            .await
            .unwrap();
        rows.iter().map(|r| r.try_get::<String>("", "username").unwrap()).collect()
    }

    #[tokio::test]
    async fn a_sqlite_batch_applies_whole_or_not_at_all_and_leaves_no_open_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.sqlite").display());
        let storage = Storage::connect_and_migrate(&url).await.unwrap();

        let mut failing = WriteBatch::default();
        failing.push(insert("ana"));
        failing.push(insert("ana")); // unique username: fails after the first insert ran
        let mut gate = storage.write_gate().await;
        assert!(storage.apply(&mut gate, failing).await.is_err());
        assert!(usernames(&storage).await.is_empty(), "the first insert was rolled back");

        let mut ok = WriteBatch::default();
        ok.push(insert("bea"));
        ok.push(insert("carla"));
        storage.apply(&mut gate, ok).await.expect("the writer connection is usable again");
        assert_eq!(usernames(&storage).await, ["bea", "carla"]);
    }
}
