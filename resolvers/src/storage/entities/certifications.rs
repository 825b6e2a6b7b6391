use sea_orm::entity::prelude::*;

/// One version of an AEO certification issued by this node.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "certifications")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The id of the first version; shared by every version of the certificate.
    pub lineage_id: Uuid,
    pub version: i32,
    pub previous_version_id: Option<Uuid>,
    pub certificate_number: String,
    pub issuing_country: String,
    pub issuing_authority: String,
    pub operator_name: String,
    pub street: String,
    pub city: String,
    pub sub_entity: Option<String>,
    pub postcode: Option<String>,
    pub address_country: String,
    pub tin: String,
    pub tin_scheme: String,
    /// `[{"scheme": "EORI", "value": "..."}]`
    pub partner_identifiers: Json,
    pub certificate_type: String,
    /// `,IMPORTER,EXPORTER,`
    pub roles: String,
    pub authorisation_date: Date,
    pub valid_from: Date,
    pub valid_until: Option<Date>,
    pub last_validation_date: Option<Date>,
    /// The stored status; `EXPIRED` is never stored but computed from `valid_until`.
    pub status: String,
    pub submitted_by: String,
    pub approved_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub status_changed_at: DateTimeUtc,
    /// Sequence number of the lineage's newest history entry.
    pub history_seq: i64,
    /// Hash of the lineage's newest history entry.
    pub history_head: String,
    /// The operator's DID, when it has one: the credential's subject, who must present it.
    pub operator_did: Option<String>,
    /// The credential issued for this version when it was granted.
    pub credential_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
