//! Group commit on SQLite's one writer connection.
//!
//! Each write runs inside a savepoint of a transaction that stays open while other writers
//! wait for the gate; the group ends with one COMMIT, taken by the last writer of a burst or
//! by the first member that comes back to the gate. A commit writes every page the group
//! touched to the WAL once (the same index and table pages are shared by consecutive
//! writes), instead of once per write. A write that fails rolls back to its savepoint and the
//! group goes on; if SQLite rolls the whole transaction back (disk full, I/O error), every
//! member of the group is told its write failed. No member returns before its group's
//! COMMIT: what a client is told was written, was.
//!
//! The connection is driven directly on the gate holder's thread (`sqlite_connection.rs`
//! says why), so a guarded statement's changed rows are checked right after it runs, before
//! the next one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use sea_orm::{DbErr, Values};
use tokio::sync::{Mutex, MutexGuard, watch};

use super::sqlite_connection::{db_err, execute};
use super::{ApplyError, WriteBatch};

/// The most writes one group holds before it commits even though writers wait: bounds how
/// long the first member waits, and the WAL one commit writes.
const MAX_GROUP: usize = 64;

/// How many failed groups are remembered for members that have not looked yet.
const FAILURES_KEPT: usize = 64;

/// The writer connection, its gate, and how its groups ended.
#[derive(Debug)]
pub(crate) struct Writer {
    /// The gate: whoever holds it writes.
    pub(crate) connection: Mutex<WriterConnection>,
    /// Tasks waiting for the gate to write: while there are some, a write leaves its group open
    /// for them. Members waiting only for their group's commit are not counted.
    pub(crate) waiting: AtomicUsize,
    /// The groups that ended, for their members to learn how.
    pub(crate) ended: watch::Sender<Ended>,
}

/// The connection and the group transaction open on it.
#[derive(Debug)]
pub struct WriterConnection {
    connection: rusqlite::Connection,
    group: Option<Group>,
    next_group: u64,
}

#[derive(Debug)]
struct Group {
    id: u64,
    writes: usize,
}

/// Which groups have ended, and which of them failed.
#[derive(Debug, Default)]
pub(crate) struct Ended {
    /// Every group up to this one has ended (groups end in the order they opened).
    through: u64,
    failures: VecDeque<(u64, String)>,
}

impl Ended {
    /// How group `id` ended, once it has.
    pub(crate) fn outcome(&self, id: u64) -> Option<Result<(), DbErr>> {
        if id > self.through {
            return None;
        }
        match self.failures.iter().find(|(failed, _)| *failed == id) {
            Some((_, error)) => Some(Err(DbErr::Custom(format!("the transaction of this write failed: {error}")))),
            None => Some(Ok(())),
        }
    }
}

/// Counts a task waiting for the gate for as long as it waits, even if the wait is abandoned.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Writer {
    pub(crate) fn new(connection: rusqlite::Connection) -> Writer {
        Writer {
            connection: Mutex::new(WriterConnection { connection, group: None, next_group: 1 }),
            waiting: AtomicUsize::new(0),
            ended: watch::Sender::new(Ended::default()),
        }
    }

    /// Waits for the gate, counted among the waiting.
    pub(crate) async fn lock(&self) -> MutexGuard<'_, WriterConnection> {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        self.connection.lock().await
    }

    /// Runs `batch` in its own savepoint of the open group (opening one if none is), then
    /// commits the group if `commit_now` or the group is full. Returns the group when it is
    /// left open: the batch is applied but not yet committed.
    pub(crate) fn apply(
        &self,
        writer: &mut WriterConnection,
        batch: WriteBatch,
        commit_now: bool,
    ) -> Result<Option<u64>, ApplyError> {
        let opens = writer.group.is_none();
        let writes = writer.group.as_ref().map_or(0, |g| g.writes) + 1;
        let commit = commit_now || writes >= MAX_GROUP;
        if opens {
            execute(&writer.connection, "BEGIN IMMEDIATE", &[]).map_err(db_err)?;
            writer.group = Some(Group { id: writer.next_group, writes: 0 });
            writer.next_group += 1;
        }
        match run_in_savepoint(&writer.connection, batch, commit) {
            Ok(()) if commit => {
                self.end(writer, Ok(()));
                Ok(None)
            }
            Ok(()) => {
                let group = writer.group.as_mut().expect("a group is open");
                group.writes = writes;
                Ok(Some(group.id))
            }
            Err(failed) => {
                let undone = execute(&writer.connection, "ROLLBACK TO cadena_write", &[])
                    .and_then(|_| execute(&writer.connection, "RELEASE cadena_write", &[]));
                if undone.is_err() {
                    // No savepoint to go back to: SQLite rolled the whole transaction back
                    // (or never began it), and the group's other writes with it.
                    let _ = execute(&writer.connection, "ROLLBACK", &[]);
                    self.end(writer, Err(failed.to_string()));
                } else if commit || writes == 1 {
                    // This write is undone; the others of the group stand and are committed
                    // now, or, when it was the group's first, the empty group is closed
                    // rather than left holding the write lock for no one.
                    self.settle(writer);
                }
                Err(failed)
            }
        }
    }

    /// Commits the open group, if any, and tells its members.
    pub(crate) fn settle(&self, writer: &mut WriterConnection) {
        if writer.group.is_none() {
            return;
        }
        let outcome = match execute(&writer.connection, "COMMIT", &[]) {
            Ok(_) => Ok(()),
            Err(error) => {
                let _ = execute(&writer.connection, "ROLLBACK", &[]);
                Err(db_err(error).to_string())
            }
        };
        self.end(writer, outcome);
    }

    /// Closes the open group with `outcome` and tells its members.
    fn end(&self, writer: &mut WriterConnection, outcome: Result<(), String>) {
        let Some(group) = writer.group.take() else { return };
        self.ended.send_modify(|ended| {
            ended.through = group.id;
            if let Err(error) = outcome {
                if ended.failures.len() == FAILURES_KEPT {
                    ended.failures.pop_front();
                }
                ended.failures.push_back((group.id, error));
            }
        });
    }
}

/// Runs `batch` in the savepoint `cadena_write`, checking each guard right after its statement,
/// and releases it (then commits, if `commit`). On an error the savepoint is left for the
/// caller to roll back to.
fn run_in_savepoint(connection: &rusqlite::Connection, batch: WriteBatch, commit: bool) -> Result<(), ApplyError> {
    execute(connection, "SAVEPOINT cadena_write", &[]).map_err(db_err)?;
    for (statement, guard) in batch.statements {
        let values = statement.values.unwrap_or_else(|| Values(Vec::new()));
        let changed = execute(connection, &statement.sql, &values.0).map_err(db_err)?;
        if let Some(conflict) = guard
            && changed == 0
        {
            return Err(ApplyError::Conflict(conflict));
        }
    }
    execute(connection, "RELEASE cadena_write", &[]).map_err(db_err)?;
    if commit {
        execute(connection, "COMMIT", &[]).map_err(db_err)?;
    }
    Ok(())
}
