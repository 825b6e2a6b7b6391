//! Writes that meet share commits (SQLite's one writer groups them; PostgreSQL sends them in
//! one message): each is still applied whole or not at all, a refused one undoes only itself,
//! and a write is committed when its writer is told so.

use cadena_resolvers::storage::{ApplyError, Storage, WriteBatch, is_unique_violation};
use cadena_tests::{Backend, EmptyDatabase};
use chrono::Utc;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ConnectionTrait, Statement};

on_both_backends!(writes_that_meet_commit_together_and_a_refused_one_undoes_only_itself);

fn insert(storage: &Storage, name: &str) -> Statement {
    let now = Utc::now();
    let mut query = Query::insert();
    query
        .into_table(Alias::new("officers"))
        .columns(["id", "username", "password_hash", "roles", "disabled", "created_at", "updated_at"].map(Alias::new))
        .values_panic([
            uuid::Uuid::new_v4().into(),
            name.into(),
            "x".into(),
            "AUDITOR".into(),
            false.into(),
            now.into(),
            now.into(),
        ]);
    storage.backend().build(&query)
}

fn disable(storage: &Storage, name: &str) -> Statement {
    let mut query = Query::update();
    query
        .table(Alias::new("officers"))
        .value(Alias::new("disabled"), true)
        .and_where(Expr::col(Alias::new("username")).eq(name))
        .and_where(Expr::col(Alias::new("disabled")).eq(false));
    storage.backend().build(&query)
}

async fn usernames(storage: &Storage) -> Vec<String> {
    let select = Statement::from_string(storage.backend(), "SELECT username FROM officers ORDER BY username");
    let rows = storage.db().query_all_raw(select).await.unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "username").unwrap()).collect()
}

/// 48 writers at once, one whose guard finds its row already changed and one inserting a
/// username that is taken: those two fail whole (their first insert undone too) with their
/// own errors, and every other write is committed, and readable by another connection, by
/// the time its writer hears so.
async fn writes_that_meet_commit_together_and_a_refused_one_undoes_only_itself(backend: Backend) {
    let database = EmptyDatabase::create(backend).await;
    let storage = Storage::connect_and_migrate(&database.url).await.unwrap();
    let mut first = WriteBatch::default();
    first.push(insert(&storage, "taken"));
    first.push(disable(&storage, "taken"));
    storage.apply_alone(first).await.unwrap();

    let writers = (0..48).map(|i| {
        let storage = storage.clone();
        tokio::spawn(async move {
            let mut batch = WriteBatch::default();
            batch.push(insert(&storage, &format!("w{i:02}")));
            match i {
                // "taken" is disabled already: this guard changes no row.
                7 => batch.push_guarded(disable(&storage, "taken"), "already disabled"),
                // Usernames are unique.
                30 => batch.push(insert(&storage, "taken")),
                _ => {}
            }
            let gate = storage.group_gate().await;
            let outcome = storage.apply_grouped(gate, batch).await;
            let seen = usernames(&storage).await.contains(&format!("w{i:02}"));
            (i, outcome, seen)
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        let (i, outcome, seen) = writer.await.unwrap();
        match i {
            7 => assert!(matches!(outcome, Err(ApplyError::Conflict("already disabled"))), "{outcome:?}"),
            30 => assert!(matches!(&outcome, Err(ApplyError::Db(e)) if is_unique_violation(e)), "{outcome:?}"),
            _ => assert!(outcome.is_ok(), "writer {i}: {outcome:?}"),
        }
        assert_eq!(seen, outcome.is_ok(), "writer {i}: its insert is there exactly when it was told so");
    }
    assert_eq!(usernames(&storage).await.len(), 47, "46 writers and the first row");
    // Nothing is left open: a plain write through the pool is not blocked.
    storage.db().execute_unprepared("UPDATE officers SET roles = 'ADMIN' WHERE username = 'w00'").await.unwrap();
}
