use sea_orm::entity::prelude::*;

/// Where a credential's digest sits in its anchored Merkle tree.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credential_anchors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub credential_id: String,
    pub batch_sequence: i64,
    pub leaf_index: i32,
    /// JSON array of hex sibling hashes, leaf to root.
    #[sea_orm(column_type = "Text")]
    pub proof: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
