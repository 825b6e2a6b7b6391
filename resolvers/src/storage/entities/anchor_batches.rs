use sea_orm::entity::prelude::*;

/// A batch with its on-chain sequence number: a Merkle root of digests, or status changes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "anchor_batches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub sequence: i64,
    /// `ANCHOR` or `STATUS`.
    pub kind: String,
    /// Hex Merkle root (ANCHOR batches).
    pub root: Option<String>,
    pub count: i32,
    /// `FORMED` or `CONFIRMED`.
    pub state: String,
    pub tx_hash: Option<String>,
    pub block_number: Option<i64>,
    pub gas_used: Option<i64>,
    pub formed_at: DateTimeUtc,
    pub confirmed_at: Option<DateTimeUtc>,
    /// The W3C `traceparent` of the outbox round that formed it, when traces are recorded.
    pub trace_context: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
