use sea_orm::entity::prelude::*;
use sea_orm::{DbBackend, QueryTrait as _, Set, Statement};

/// How far an event indexer has read the chain.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chain_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The last block indexed.
    pub block: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The first block the indexer `name` has not read yet: 0 before its first run.
pub async fn next_block(db: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    Ok(Entity::find_by_id(name.to_owned()).one(db).await?.map_or(0, |c| c.block as u64 + 1))
}

/// The statement recording that the indexer `name` has read up to `block` (inclusive).
pub fn save(name: &str, block: u64, backend: DbBackend) -> Statement {
    Entity::insert(ActiveModel { name: Set(name.to_owned()), block: Set(block as i64) })
        .on_conflict(sea_orm::sea_query::OnConflict::column(Column::Name).update_column(Column::Block).to_owned())
        .build(backend)
}
