use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Expr;
use sea_orm::{DbBackend, QueryTrait as _, Set, Statement};

/// How far a reader of the event log has read.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_cursors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The last event handled.
    pub cursor: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The statement recording that the reader `name` has handled every event up to `cursor`.
pub fn save(name: &str, cursor: u64, backend: DbBackend) -> Statement {
    Entity::insert(ActiveModel { name: Set(name.to_owned()), cursor: Set(cursor as i64) })
        .on_conflict(sea_orm::sea_query::OnConflict::column(Column::Name).update_column(Column::Cursor).to_owned())
        .build(backend)
}

/// The statement moving the reader `name`'s cursor from `from` to `to`, to add guarded: it
/// changes nothing when another reader moved the cursor first (a lease lost mid-read), and the
/// whole write then fails instead of handling the same events twice.
pub fn advance(name: &str, from: u64, to: u64, backend: DbBackend) -> Statement {
    Entity::update_many()
        .col_expr(Column::Cursor, Expr::value(to as i64))
        .filter(Column::Name.eq(name))
        .filter(Column::Cursor.eq(from as i64))
        .build(backend)
}
