use sea_orm::entity::prelude::*;

/// One consent or withdrawal, kept for auditors.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consent_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub verifier: String,
    pub country: String,
    pub tin: String,
    /// CONSENTED or WITHDRAWN (by the firm), CONFIGURED or UNCONFIGURED (by an ADMIN).
    pub action: String,
    pub until: Option<Date>,
    pub credential_id: Option<String>,
    pub holder: Option<String>,
    /// Why an ADMIN configured the entry (a regulated body's mandate).
    pub reason: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
