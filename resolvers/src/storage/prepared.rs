//! PostgreSQL: a write batch's statements as server-side prepared statements, still sent as
//! one message.
//!
//! A batch goes to the server as one simple-protocol message (one round trip, one implicit
//! transaction). Sent as text, each statement was parsed, analysed and planned again on
//! every write: a third of the server's CPU per grant (`node_storage` bench, `perf`). Here
//! each statement shape is `PREPARE`d once per connection and the message says `EXECUTE
//! name(values)`, so the server plans it once per connection (`plan_cache_mode`'s generic
//! plan), and the message stays one round trip.
//!
//! Which connection holds which statement is not tracked: a message naming one that this
//! connection has not prepared fails whole with `26000` (nothing of it applied), the statement
//! is prepared on that connection, and the message is sent again. A shape the server cannot
//! prepare (a parameter whose type it cannot infer) is sent as text from then on, as are shapes
//! beyond [`MAX_SHAPES`], so that no input can make connections hold unbounded statements.
//! (A pooler that hands a session's statements to another client, such as PgBouncer in
//! transaction mode, would break this; cadena connects to PostgreSQL directly.)

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use sea_orm::Statement;
use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};

/// Statement shapes prepared at most, process-wide (each connection prepares those it runs).
const MAX_SHAPES: usize = 128;

/// What the server reports for an `EXECUTE` of a statement this session never prepared.
pub(super) const UNDEFINED_PREPARED_STATEMENT: &str = "26000";

/// The statement shapes this process prepares, by name and by text.
#[derive(Debug, Default)]
pub(super) struct PreparedShapes {
    shapes: Mutex<Shapes>,
}

#[derive(Debug, Default)]
struct Shapes {
    /// Text → its name, or `None` when it is sent as text.
    by_text: HashMap<String, Option<String>>,
    /// Name → text, for preparing it on a connection that lacks it.
    by_name: HashMap<String, String>,
}

impl PreparedShapes {
    /// The message running `statements` (each with its guard's position, if guarded) in order:
    /// `EXECUTE`s of the prepared shapes, the rest as text.
    pub(super) fn message(&self, statements: &[(Statement, Option<usize>)]) -> String {
        let mut sql = String::new();
        for (statement, guard) in statements {
            let text = match guard {
                Some(position) => Cow::Owned(format!(
                    "WITH changed AS ({} RETURNING 1) SELECT cadena_require_rows(count(*), {position}) FROM changed",
                    statement.sql
                )),
                None => Cow::Borrowed(statement.sql.as_str()),
            };
            let values = statement.values.as_ref().map(|v| v.0.as_slice()).unwrap_or_default();
            match self.name_of(&text) {
                Some(name) => {
                    sql.push_str("EXECUTE ");
                    sql.push_str(&name);
                    for (i, value) in values.iter().enumerate() {
                        sql.push_str(if i == 0 { "(" } else { ", " });
                        let _ = PostgresQueryBuilder.write_value(&mut sql, value);
                    }
                    if !values.is_empty() {
                        sql.push(')');
                    }
                }
                None => {
                    let inline = Statement { sql: text.into_owned(), ..statement.clone() };
                    let _ = write!(sql, "{inline}");
                }
            }
            sql.push(';');
        }
        sql
    }

    /// The `PREPARE` of the statement named in the server's `26000` message, if it is ours.
    pub(super) fn prepare_named_in(&self, message: &str) -> Option<(String, String)> {
        let name = message.split('"').nth(1)?;
        let shapes = self.shapes.lock().expect("lock");
        let text = shapes.by_name.get(name)?;
        Some((name.to_owned(), format!("PREPARE {name} AS {text}")))
    }

    /// Sends the shape `name` as text from now on: the server could not prepare it.
    pub(super) fn unprepare(&self, name: &str) {
        let mut shapes = self.shapes.lock().expect("lock");
        if let Some(text) = shapes.by_name.remove(name) {
            shapes.by_text.insert(text, None);
        }
    }

    /// The name `text` is prepared under, or `None` when it is sent as text.
    fn name_of(&self, text: &str) -> Option<String> {
        let mut shapes = self.shapes.lock().expect("lock");
        if let Some(known) = shapes.by_text.get(text) {
            return known.clone();
        }
        if shapes.by_name.len() >= MAX_SHAPES {
            return None;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        text.hash(&mut hasher);
        let name = format!("cadena_{:016x}", hasher.finish());
        // Two texts, one hash: the newcomer goes as text.
        let name = (!shapes.by_name.contains_key(&name)).then_some(name);
        if let Some(name) = &name {
            shapes.by_name.insert(name.clone(), text.to_owned());
        }
        shapes.by_text.insert(text.to_owned(), name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

    fn update(id: i64, status: &str) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE t SET status = $1 WHERE id = $2",
            [status.into(), id.into()],
        )
    }

    #[test]
    fn a_shape_is_executed_by_name_with_its_values_as_literals_and_a_refused_one_goes_as_text() {
        let shapes = PreparedShapes::default();
        let message = shapes.message(&[(update(7, "it's"), None), (update(8, "b"), Some(0))]);
        let names: Vec<&str> = message.split("EXECUTE ").skip(1).map(|s| &s[..23]).collect();
        assert_eq!(names.len(), 2, "{message}");
        assert_ne!(names[0], names[1], "a guarded shape is a shape of its own");
        assert!(message.contains("('it''s', 7);") || message.contains("(E'it\\'s', 7);"), "{message}");

        let (name, prepare) =
            shapes.prepare_named_in(&format!("prepared statement \"{}\" does not exist", names[1])).unwrap();
        assert!(prepare.starts_with(&format!("PREPARE {name} AS WITH changed AS (UPDATE t SET")), "{prepare}");
        shapes.unprepare(&name);
        let again = shapes.message(&[(update(8, "b"), Some(0))]);
        assert!(again.starts_with("WITH changed AS (UPDATE t SET status = 'b' WHERE id = 8 RETURNING 1)"), "{again}");
        assert!(shapes.prepare_named_in("prepared statement \"someone_else\" does not exist").is_none());
    }
}
