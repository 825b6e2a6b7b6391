use sea_orm::entity::prelude::*;

/// A partner's certification as this node received and verified it; read-only here.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_certifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub credential_id: String,
    /// The issuing partner's country.
    pub partner: String,
    pub certification_id: Uuid,
    pub lineage_id: Uuid,
    pub version: i32,
    pub issuing_country: String,
    pub tin: String,
    pub operator_name: String,
    pub certificate_type: String,
    /// As the partner's last event says.
    pub status: String,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    /// The signed credential (JSON).
    #[sea_orm(column_type = "Text")]
    pub credential: String,
    /// Its verification report on arrival (JSON).
    #[sea_orm(column_type = "Text")]
    pub verification: String,
    /// The partner's message number that last changed it.
    pub last_seq: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
