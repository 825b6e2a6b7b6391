//! `cadena_guard`: fails a write (and so its transaction) when a guarded statement changed no
//! row. A node plans each write from committed reads and sends its statements as one message
//! (one round trip), so a guard cannot be checked by the client between statements; the
//! database checks it right after the statement, and the error (`CDN01` and the guard's
//! position in the write) tells the node which guard failed.
//!
//! - PostgreSQL: the function `cadena_require_rows(changed, guard)`, raising SQLSTATE `CDN01`.
//! - SQLite: the view `cadena_guard(changed, guard)`, whose INSTEAD OF INSERT trigger raises
//!   `CDN01 <guard>` when `changed` is 0: `INSERT INTO cadena_guard VALUES (changes(), 2)`.
//!   (Migration 20 drops it: SQLite's writer now checks each guard itself.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = "CREATE OR REPLACE FUNCTION cadena_require_rows(changed bigint, guard integer) \
    RETURNS void LANGUAGE plpgsql AS $$ BEGIN \
      IF changed = 0 THEN RAISE EXCEPTION USING ERRCODE = 'CDN01', MESSAGE = guard::text; END IF; \
    END $$";

pub(crate) const SQLITE_UP: [&str; 2] = [
    "CREATE VIEW cadena_guard (changed, guard) AS SELECT 0, 0 WHERE 0",
    "CREATE TRIGGER cadena_guard_check INSTEAD OF INSERT ON cadena_guard WHEN NEW.changed = 0 \
     BEGIN SELECT RAISE(ABORT, 'CDN01 ' || NEW.guard); END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection.execute_unprepared(POSTGRES_UP).await?;
            }
            _ => {
                for statement in SQLITE_UP {
                    connection.execute_unprepared(statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                connection.execute_unprepared("DROP FUNCTION IF EXISTS cadena_require_rows(bigint, integer)").await?;
            }
            _ => {
                connection.execute_unprepared("DROP TRIGGER IF EXISTS cadena_guard_check").await?;
                connection.execute_unprepared("DROP VIEW IF EXISTS cadena_guard").await?;
            }
        }
        Ok(())
    }
}
