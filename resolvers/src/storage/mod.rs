//! The node's database: connection, migration, and the entities.
//!
//! SQLite (a file in the data dir) is the default; PostgreSQL when the URL says so.
//!
//! Writes are a [`WriteBatch`], planned from committed reads and applied whole: each guarded
//! statement is checked right after it runs (by the writer on SQLite, by the database on
//! PostgreSQL: migration 10), so a write that another writer overtook since its reads fails
//! with [`ApplyError::Conflict`] and changes nothing. Writers that must read and write as one
//! step (amendments, workers) read under the gate instead.
//!
//! - SQLite allows one writer at a time, so every write passes through one in-process gate that
//!   owns the writer connection, driven directly on the gate holder's thread
//!   (`sqlite_connection.rs`); reads go through sqlx's pool. Writes that meet at the gate share
//!   one COMMIT (`group_commit.rs`). Checkpoints run beside the writer.
//! - PostgreSQL writers run concurrently; a batch is sent as one message, which the server runs
//!   as one implicit transaction: one round trip per write, its statements executed as
//!   statements prepared on the connection (`prepared.rs`).

pub mod entities;
mod group_commit;
mod prepared;
mod sqlite_connection;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cadena_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, FromQueryResult, RuntimeErr,
    Statement,
};
use tokio::sync::MutexGuard;

use group_commit::{Writer, WriterConnection};
use prepared::PreparedShapes;

/// How long an SQLite statement waits for another connection's lock before it fails: the
/// pool's connections and the writer's alike.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// What PostgreSQL reports when a guarded statement changed no row (migration 10).
const GUARD_FAILED: &str = "CDN01";

/// A migrated database and the writer gate that suits its backend.
#[derive(Clone, Debug)]
pub struct Storage {
    db: DatabaseConnection,
    /// SQLite only: the one connection that writes, behind the gate that serialises writers.
    writer: Option<Arc<Writer>>,
    /// PostgreSQL only: the statement shapes its connections prepare.
    prepared: Arc<PreparedShapes>,
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

    /// Whether it holds no statement.
    pub fn is_empty(&self) -> bool {
        self.statements.is_empty()
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
pub struct WriteGuard<'a>(Option<MutexGuard<'a, WriterConnection>>);

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
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true)
                .create_if_missing(true)
                // Checkpoints run beside the writer (`checkpoint_beside_writer`), not inside
                // the commit that happens to cross the WAL's threshold: that commit, and every
                // write queued behind it, would wait for the copy and its fsync.
                .pragma("wal_autocheckpoint", "0")
        });
        // sqlx pings a connection on every checkout by default: one more round trip per
        // statement. Ping only connections idle long enough to have gone stale.
        options.test_before_acquire_if_idle_for(Duration::from_secs(30));
        without_tls_on_loopback(&mut options, url);
        let db = Database::connect(options).await?;
        let writer = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                // The pool has opened (and created) the file by now: it connects one at start.
                let connection = sqlite_connection::open(pool.connect_options().get_filename())?;
                tokio::spawn(checkpoint_beside_writer(pool.clone()));
                Some(Arc::new(Writer::new(connection)))
            }
            _ => None,
        };
        Ok(Storage { db, writer, prepared: Arc::default() })
    }

    /// The backend in use.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Reads at most one row for a write, under its gate: on SQLite the open group is
    /// committed first, so the read sees exactly what the batch will build on (no other write
    /// can come in while the gate is held).
    pub async fn read_for_write<M: FromQueryResult>(
        &self,
        gate: &mut WriteGuard<'_>,
        select: Statement,
    ) -> Result<Option<M>, DbErr> {
        self.settle(gate);
        self.read_one(select).await
    }

    /// Reads at most one row through the pool. Unlike sea-orm's `one()`, which binds `LIMIT ?`,
    /// the statement is sent as built: SQLite re-prepares a statement whose LIMIT is a bound
    /// parameter on every execution, which measured as a tenth of a grant's CPU time.
    pub async fn read_one<M: FromQueryResult>(&self, select: Statement) -> Result<Option<M>, DbErr> {
        match self.db.query_one_raw(select).await? {
            Some(row) => Ok(Some(M::from_query_result(&row, "")?)),
            None => Ok(None),
        }
    }

    /// Applies a batch atomically and commits it. Each guarded statement is checked by the
    /// database right after it runs (migration 10): a write planned from reads that another
    /// writer has since overtaken fails whole with [`ApplyError::Conflict`].
    pub async fn apply(&self, gate: &mut WriteGuard<'_>, batch: WriteBatch) -> Result<(), ApplyError> {
        if let (Some(writer), Some(connection)) = (&self.writer, gate.0.as_deref_mut()) {
            return writer.apply(connection, batch, true).map(|_| ());
        }
        self.apply_on_server(batch).await
    }

    /// Takes the write gate for `batch` alone and applies it (a write with no reads to guard).
    pub async fn apply_alone(&self, batch: WriteBatch) -> Result<(), ApplyError> {
        let mut gate = self.write_gate().await;
        self.apply(&mut gate, batch).await
    }

    /// Applies a batch like [`Storage::apply`], giving up the gate, and returns once the batch
    /// is committed. On SQLite, when other writers are waiting for the gate, the batch joins
    /// a group transaction that the group's last writer (or the first member back at the
    /// gate) commits for all: one commit for many writes, and no write returns before its
    /// commit. A write that fails rolls back alone (a savepoint per write).
    pub async fn apply_grouped(&self, gate: WriteGuard<'_>, batch: WriteBatch) -> Result<(), ApplyError> {
        let (Some(writer), WriteGuard(Some(mut connection))) = (&self.writer, gate) else {
            return self.apply_on_server(batch).await;
        };
        let commit_now = writer.waiting.load(Ordering::Acquire) == 0;
        let Some(group) = writer.apply(&mut connection, batch, commit_now)? else {
            return Ok(());
        };
        // Listen before giving the gate up, so the group's end cannot pass unseen.
        let mut ended = writer.ended.subscribe();
        drop(connection);
        loop {
            if let Some(outcome) = ended.borrow_and_update().outcome(group) {
                return outcome.map_err(ApplyError::Db);
            }
            tokio::select! {
                biased;
                changed = ended.changed() => {
                    changed.map_err(|_| DbErr::Custom("the database writer is gone".into()))?;
                }
                mut connection = writer.connection.lock() => {
                    // Back at the gate (not counted among the writers waiting: this task has
                    // nothing more to write) with the group still open: its last writer gave
                    // the gate up without committing, so commit it here.
                    writer.settle(&mut connection);
                }
            }
        }
    }

    /// PostgreSQL: the whole batch as one message, which the server runs as one implicit
    /// transaction (rolled back whole at the first error): one round trip per write instead of
    /// one per statement, so the event log's lock is held for one round trip, not several.
    /// Each statement is executed as a statement prepared on the connection (`prepared.rs`),
    /// its values written into the message by sea-query's escaping (the simple query protocol
    /// carries no parameters); a guard is checked by the database (`cadena_require_rows`,
    /// migration 10), which reports the guard's position.
    async fn apply_on_server(&self, batch: WriteBatch) -> Result<(), ApplyError> {
        let mut guards = Vec::new();
        let statements: Vec<(Statement, Option<usize>)> = batch
            .statements
            .into_iter()
            .map(|(statement, guard)| {
                let position = guard.map(|conflict| {
                    guards.push(conflict);
                    guards.len() - 1
                });
                (statement, position)
            })
            .collect();
        let mut connection = self.db.get_postgres_connection_pool().acquire().await.map_err(sqlx_err)?;
        // Each retry follows a statement newly prepared on this connection (or refused, and
        // sent as text from then on), so the batch's statements bound the retries.
        for _ in 0..=statements.len() {
            let message = self.prepared.message(&statements);
            let error = match sqlx::raw_sql(sqlx::AssertSqlSafe(message)).execute(&mut *connection).await {
                Ok(_) => return Ok(()),
                Err(sqlx::Error::Database(error)) => error,
                Err(error) => return Err(sqlx_err(error).into()),
            };
            match error.code().as_deref() {
                Some(GUARD_FAILED) => {
                    return Err(guard_conflict(&guards, error.message().parse().unwrap_or(usize::MAX)));
                }
                Some(prepared::UNDEFINED_PREPARED_STATEMENT) => {
                    let Some((name, prepare)) = self.prepared.prepare_named_in(error.message()) else {
                        return Err(sqlx_err(sqlx::Error::Database(error)).into());
                    };
                    if let Err(refused) = sqlx::raw_sql(sqlx::AssertSqlSafe(prepare)).execute(&mut *connection).await {
                        tracing::debug!(%name, error = %refused, "statement sent as text: the server cannot prepare it");
                        self.prepared.unprepare(&name);
                    }
                }
                _ => return Err(sqlx_err(sqlx::Error::Database(error)).into()),
            }
        }
        Err(DbErr::Custom("the batch's statements could not be prepared".into()).into())
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

    /// Waits for the right to write inside the open group, for a write that ends with
    /// [`Storage::apply_grouped`].
    pub async fn group_gate(&self) -> WriteGuard<'_> {
        match &self.writer {
            Some(writer) => WriteGuard(Some(writer.lock().await)),
            None => WriteGuard(None),
        }
    }

    /// Waits for the right to write (SQLite) and returns a guard to hold across the
    /// transaction. Any group left open is committed first, so what the holder does (through
    /// the gate or the pool) starts from committed data and no open transaction blocks it.
    pub async fn write_gate(&self) -> WriteGuard<'_> {
        match &self.writer {
            Some(writer) => {
                let mut connection = writer.lock().await;
                writer.settle(&mut connection);
                WriteGuard(Some(connection))
            }
            None => WriteGuard(None),
        }
    }

    /// Commits the open group under `gate`, if any (SQLite), so the holder's next statement
    /// runs on its own.
    pub fn settle(&self, gate: &mut WriteGuard<'_>) {
        if let (Some(writer), Some(connection)) = (&self.writer, gate.0.as_deref_mut()) {
            writer.settle(connection);
        }
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL back into the database file every [`CHECKPOINT_EVERY`] from a pooled
/// connection, while the writer goes on (a PASSIVE checkpoint neither waits for nor blocks
/// writers or readers), until the pool closes. SQLite's own automatic checkpoint is off: it
/// runs inside the commit that crosses 1,000 WAL pages, on the one writer everything queues
/// behind. Readers never see less for it: a page is read from the WAL until it is copied.
async fn checkpoint_beside_writer(pool: sqlx::SqlitePool) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::raw_sql(sqlx::AssertSqlSafe("PRAGMA wal_checkpoint(PASSIVE)")).execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "WAL checkpoint failed; retried at the next tick");
        }
    }
}

/// PostgreSQL on this host (a loopback address, or `localhost`) is reached without TLS unless
/// the URL's `sslmode` (or `PGSSLMODE`) asks for it; a server elsewhere keeps sqlx's default
/// (`prefer`: TLS whenever the server offers it).
///
/// Why: loopback traffic never leaves the kernel, so encrypting it protects against no one
/// who could not read the node's memory anyway, while it costs both ends on every round trip:
/// 12% of issuance throughput on PostgreSQL (`node_storage` bench, 2 cores), and 20% of the
/// server's one-row commit rate. A local proxy that encrypts onwards (a cloud SQL proxy, a
/// sidecar) is reached the same way. An operator who wants TLS anyway writes `sslmode=require`
/// or `verify-full`, which is always honoured.
pub fn without_tls_on_loopback(options: &mut ConnectOptions, url: &str) {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let chosen = std::env::var_os("PGSSLMODE").is_some()
        || form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "sslmode" || key == "ssl-mode");
    if chosen {
        return;
    }
    options.map_sqlx_postgres_opts(|postgres| {
        let host = postgres.get_host().trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
        if loopback { postgres.ssl_mode(sqlx::postgres::PgSslMode::Disable) } else { postgres }
    });
}

/// The conflict of a batch's guard that failed, at the `position` the database reported.
fn guard_conflict(guards: &[&'static str], position: usize) -> ApplyError {
    ApplyError::Conflict(guards.get(position).copied().unwrap_or("the data changed under this write"))
}

/// Whether `error` is a unique (or primary) key refusing a duplicate, on either backend and
/// either SQLite driver (sea-orm's `sql_err` knows only sqlx's own error types).
pub fn is_unique_violation(error: &DbErr) -> bool {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            matches!(&**error, sqlx::Error::Database(error) if error.is_unique_violation())
        }
        _ => false,
    }
}

/// A driver error as sea-orm's, for code that talks to sqlx directly.
pub(crate) fn sqlx_err(error: sqlx::Error) -> DbErr {
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
