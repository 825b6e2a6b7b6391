//! SQLite's `cadena_guard` view goes: its writer now runs a write's statements one by one on its
//! own connection and checks each guarded statement's changed rows itself, right after it runs,
//! so no statement of a write needs the database to check a guard. PostgreSQL's
//! `cadena_require_rows` stays: there a write is still one message, checked by the server.
//!
//! `down` puts the view and its trigger back as migration 10 made them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            let connection = manager.get_connection();
            connection.execute_unprepared("DROP TRIGGER IF EXISTS cadena_guard_check").await?;
            connection.execute_unprepared("DROP VIEW IF EXISTS cadena_guard").await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            let connection = manager.get_connection();
            for statement in super::m20261204_000010_row_guard::SQLITE_UP {
                connection.execute_unprepared(statement).await?;
            }
        }
        Ok(())
    }
}
