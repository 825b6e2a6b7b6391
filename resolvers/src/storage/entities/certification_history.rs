use sea_orm::entity::prelude::*;

/// One hash-chained entry of a certification lineage's history. Rows are only ever inserted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certification_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub lineage_id: Uuid,
    pub seq: i64,
    pub certification_id: Uuid,
    pub version: i32,
    pub transition: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub actor: String,
    pub actor_role: String,
    pub at: DateTimeUtc,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
