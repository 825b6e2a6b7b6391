use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Officers {
    Table,
    Id,
    Username,
    PasswordHash,
    Roles,
    Disabled,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Officers::Table)
                    .col(ColumnDef::new(Officers::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Officers::Username).string_len(64).not_null().unique_key())
                    .col(ColumnDef::new(Officers::PasswordHash).string().not_null())
                    // Comma-separated role names; a handful per officer, read whole.
                    .col(ColumnDef::new(Officers::Roles).string().not_null())
                    .col(ColumnDef::new(Officers::Disabled).boolean().not_null().default(false))
                    .col(ColumnDef::new(Officers::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Officers::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Officers::Table).to_owned()).await
    }
}
