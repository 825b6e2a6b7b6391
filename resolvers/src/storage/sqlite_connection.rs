//! SQLite's writer connection, driven directly (rusqlite) on the thread of the task that holds
//! the write gate, so that what it writes reads back through sqlx's pool exactly as if sqlx
//! had written it.
//!
//! Why not sqlx here: sqlx runs each SQLite connection on a worker thread of its own and sends
//! every statement's result back over a channel. A write was 6–10 statements (savepoint, the
//! batch, a guard per guarded statement, release, commit), so each woke the waiting task several
//! times, and those handoffs, not SQLite's work, were the writer's serial path (`node_storage`
//! bench under `perf`: ~19 context switches per submit+approve, 29% of the machine idle while
//! writers queued; ~10 and 14% since). Here a write is plain function calls, its statements
//! prepared once and kept (rusqlite's statement cache).
//!
//! Blocking the task's thread is deliberate and short: a write is ~20 µs of SQLite work (the
//! same `perf`), and its COMMIT does not fsync (WAL with `synchronous = NORMAL`; checkpoints,
//! which do, run on a pooled connection beside the writer). Every other writer waits for the
//! gate anyway.
//!
//! Values are encoded as sqlx-sqlite 0.9 encodes them for sea-query (`sea-query-sqlx`):
//! UUIDs as 16-byte blobs, timestamps as RFC 3339 text, JSON as text, booleans as integers. The
//! unit tests write every kind both ways and compare what SQLite stored.

use std::borrow::Cow;
use std::path::Path;

use chrono::SecondsFormat;
use rusqlite::types::{ToSql, ToSqlOutput, Value as SqliteValue, ValueRef};
use sea_orm::sea_query::{OptionEnum, Value};
use sea_orm::sqlx;
use sea_orm::sqlx::error::{DatabaseError, ErrorKind};
use sea_orm::{DbErr, RuntimeErr};

/// Prepared statements kept on the writer: a write's shapes (a few dozen across the node).
const STATEMENT_CACHE: usize = 128;

/// Opens the writer on the database file the pool opened, with the pool's settings (`mod.rs`,
/// `Storage::connect`): WAL, `synchronous = NORMAL`, foreign keys, no automatic checkpoint.
pub(super) fn open(path: &Path) -> Result<rusqlite::Connection, DbErr> {
    let connection = rusqlite::Connection::open(path).map_err(db_err)?;
    connection.busy_timeout(super::BUSY_TIMEOUT).map_err(db_err)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0;",
        )
        .map_err(db_err)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// Runs `sql` with `values` bound in order, to the end (rows it returns are stepped past), and
/// returns the rows it changed.
pub(super) fn execute(connection: &rusqlite::Connection, sql: &str, values: &[Value]) -> rusqlite::Result<u64> {
    let mut statement = connection.prepare_cached(sql)?;
    for (i, value) in values.iter().enumerate() {
        statement.raw_bind_parameter(i + 1, Encoded(value))?;
    }
    let mut rows = statement.raw_query();
    while rows.next()?.is_some() {}
    drop(rows);
    Ok(connection.changes())
}

/// A sea-query value, bound as sqlx-sqlite would bind it.
struct Encoded<'a>(&'a Value);

impl ToSql for Encoded<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        fn text(text: String) -> ToSqlOutput<'static> {
            ToSqlOutput::Owned(SqliteValue::Text(text))
        }
        fn integer(value: Option<i64>) -> ToSqlOutput<'static> {
            ToSqlOutput::Owned(value.map_or(SqliteValue::Null, SqliteValue::Integer))
        }
        let null = ToSqlOutput::Owned(SqliteValue::Null);
        Ok(match self.0 {
            Value::Bool(v) => integer(v.map(i64::from)),
            Value::TinyInt(v) => integer(v.map(i64::from)),
            Value::SmallInt(v) => integer(v.map(i64::from)),
            Value::Int(v) => integer(v.map(i64::from)),
            Value::BigInt(v) => integer(*v),
            Value::TinyUnsigned(v) => integer(v.map(i64::from)),
            Value::SmallUnsigned(v) => integer(v.map(i64::from)),
            Value::Unsigned(v) => integer(v.map(i64::from)),
            Value::BigUnsigned(v) => match v {
                Some(v) => integer(Some(i64::try_from(*v).map_err(|e| unsupported(format!("{v}: {e}")))?)),
                None => null,
            },
            Value::Float(v) => ToSqlOutput::Owned(v.map_or(SqliteValue::Null, |v| SqliteValue::Real(f64::from(v)))),
            Value::Double(v) => ToSqlOutput::Owned(v.map_or(SqliteValue::Null, SqliteValue::Real)),
            Value::String(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::Enum(OptionEnum::Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.value.as_bytes())),
            Value::Char(Some(v)) => text(v.to_string()),
            Value::Bytes(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
            Value::Json(Some(v)) => text(serde_json::to_string(v).map_err(|e| unsupported(e.to_string()))?),
            Value::ChronoDate(Some(v)) => text(v.format("%F").to_string()),
            Value::ChronoTime(Some(v)) => text(v.format("%T%.f").to_string()),
            Value::ChronoDateTime(Some(v)) => text(v.format("%F %T%.f").to_string()),
            Value::ChronoDateTimeUtc(Some(v)) => text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
            Value::ChronoDateTimeLocal(Some(v)) => text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
            Value::ChronoDateTimeWithTimeZone(Some(v)) => text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
            Value::Uuid(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Blob(v.as_bytes())),
            Value::String(None)
            | Value::Enum(OptionEnum::None(_))
            | Value::Char(None)
            | Value::Bytes(None)
            | Value::Json(None)
            | Value::ChronoDate(None)
            | Value::ChronoTime(None)
            | Value::ChronoDateTime(None)
            | Value::ChronoDateTimeUtc(None)
            | Value::ChronoDateTimeLocal(None)
            | Value::ChronoDateTimeWithTimeZone(None)
            | Value::Uuid(None) => null,
            #[allow(unreachable_patterns)] // kinds that other features of sea-query add
            other => return Err(unsupported(format!("{other:?}"))),
        })
    }
}

fn unsupported(what: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(format!("the SQLite writer cannot store the value {what}").into())
}

/// An error of the writer, as the rest of the node sees database errors: a driver error whose
/// database error carries SQLite's extended code and message (so `kind()` tells a unique
/// violation, as sqlx's own does); any other failure as a custom error.
pub(super) fn db_err(error: rusqlite::Error) -> DbErr {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            let error = sqlx::Error::Database(Box::new(WriterError { code: failure.extended_code, message }));
            DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(error)))
        }
        other => DbErr::Custom(format!("SQLite writer: {other}")),
    }
}

/// What SQLite reported to the writer.
#[derive(Debug, thiserror::Error)]
#[error("(code: {code}) {message}")]
struct WriterError {
    /// SQLite's extended result code.
    code: i32,
    message: String,
}

impl DatabaseError for WriterError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.code.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

    use super::*;

    /// Every kind of value the node writes, stored once by sqlx and once by the writer: SQLite
    /// holds the same type and bytes for each, so reads through sqlx cannot tell who wrote.
    #[tokio::test]
    async fn the_writer_stores_each_value_exactly_as_sqlx_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let pool = Database::connect(format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        pool.execute_unprepared("CREATE TABLE v (who TEXT, n INTEGER, x)").await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 10, 41, 20).unwrap() + chrono::Duration::microseconds(123_456);
        let values: Vec<Value> = vec![
            true.into(),
            7_i8.into(),
            (-300_i16).into(),
            42_i32.into(),
            i64::MAX.into(),
            250_u8.into(),
            u32::MAX.into(),
            1.5_f32.into(),
            0.1_f64.into(),
            "it's ünïcode".into(),
            'ñ'.into(),
            vec![0_u8, 159, 146, 150].into(),
            serde_json::json!({"b": [1, 2.5, null], "a": "x"}).into(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap().into(),
            at.naive_utc().into(),
            at.naive_utc().time().into(),
            at.into(),
            at.fixed_offset().into(),
            uuid::Uuid::now_v7().into(),
            Option::<String>::None.into(),
            Option::<uuid::Uuid>::None.into(),
            Option::<chrono::DateTime<Utc>>::None.into(),
        ];
        let writer = open(&path).unwrap();
        for (n, value) in values.iter().enumerate() {
            let insert = "INSERT INTO v (who, n, x) VALUES (?, ?, ?)";
            pool.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                insert,
                ["sqlx".into(), (n as i64).into(), value.clone()],
            ))
            .await
            .unwrap();
            let changed = execute(&writer, insert, &["writer".into(), (n as i64).into(), value.clone()]).unwrap();
            assert_eq!(changed, 1);
        }
        let rows = pool
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT a.n, typeof(a.x) AS ta, quote(a.x) AS qa, typeof(b.x) AS tb, quote(b.x) AS qb \
                 FROM v a JOIN v b ON a.n = b.n AND a.who = 'sqlx' AND b.who = 'writer' ORDER BY a.n",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), values.len());
        for row in rows {
            let n: i64 = row.try_get("", "n").unwrap();
            let sqlx: (String, String) = (row.try_get("", "ta").unwrap(), row.try_get("", "qa").unwrap());
            let writer: (String, String) = (row.try_get("", "tb").unwrap(), row.try_get("", "qb").unwrap());
            assert_eq!(writer, sqlx, "value {n}: {:?}", values[n as usize]);
        }
    }

    #[test]
    fn a_unique_violation_is_told_as_one() {
        let writer = rusqlite::Connection::open_in_memory().unwrap();
        writer.execute_batch("CREATE TABLE u (k TEXT PRIMARY KEY, o TEXT UNIQUE)").unwrap();
        execute(&writer, "INSERT INTO u VALUES (?, ?)", &["a".into(), "x".into()]).unwrap();
        for (k, o) in [("a", "y"), ("b", "x")] {
            let error = db_err(execute(&writer, "INSERT INTO u VALUES (?, ?)", &[k.into(), o.into()]).unwrap_err());
            assert!(super::super::is_unique_violation(&error), "{error}");
            assert!(error.to_string().contains("UNIQUE constraint failed"), "{error}");
        }
        let error = db_err(execute(&writer, "INSERT INTO nowhere VALUES (1)", &[]).unwrap_err());
        assert!(!super::super::is_unique_violation(&error), "{error}");
        assert!(error.to_string().contains("no such table: nowhere"), "{error}");
    }
}
