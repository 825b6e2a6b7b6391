use sea_orm::entity::prelude::*;

/// One entry of an anchor batch: a new credential's digest (ANCHOR) or a status change (STATUS),
/// in the order the batch holds them (by `id`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "anchor_batch_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `ANCHOR` or `STATUS`.
    pub kind: String,
    pub credential_id: String,
    /// Hex SHA-256 of the credential's canonical JSON.
    pub digest: String,
    /// The on-chain status code of a STATUS row.
    pub status_code: Option<i16>,
    /// The history entry this confirms.
    pub lineage_id: Option<Uuid>,
    pub history_seq: Option<i64>,
    /// The batch that took it.
    pub batch_sequence: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
