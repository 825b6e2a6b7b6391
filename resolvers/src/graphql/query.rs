//! Root `Query`: reads, each authorised by role.

use async_graphql::{Context, ID, Object, Result};
use uuid::Uuid;

use super::types::{
    Certification, CertificationConnection, CertificationEdge, CertificationFilterInput, CertificationHistory, Officer,
    Operator, PageInfo, history_objects,
};
use super::{principal, services};
use crate::errors::GqlResult;
use crate::errors::ServiceError;
use crate::services::{CertificationFilter, Listing};

/// Certification and officer queries, merged into `Query`.
#[derive(Debug, Default)]
pub struct CertificationQuery;

/// Parses an `ID` argument as a certification id, naming the argument when it is not one.
pub(crate) fn parse_id(field: &str, id: &ID) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| ServiceError::field(field, format!("\"{}\" is not a certification id", id.as_str())))
}

#[Object]
impl CertificationQuery {
    /// The officer behind the current token.
    async fn me(&self, ctx: &Context<'_>) -> Result<Officer> {
        let principal = principal(ctx).ok_or(ServiceError::Unauthenticated("log in first")).gql()?;
        let officers = services(ctx).officers.current(principal).await.gql()?;
        Ok(Officer(officers))
    }

    /// The country this node certifies for.
    async fn node_country(&self, ctx: &Context<'_>) -> String {
        services(ctx).certifications.country().as_str().to_owned()
    }

    /// Officer accounts (ADMIN).
    async fn officers(&self, ctx: &Context<'_>) -> Result<Vec<Officer>> {
        let list = services(ctx).officers.list(principal(ctx)).await.gql()?;
        Ok(list.into_iter().map(Officer).collect())
    }

    /// One certification version by id.
    async fn certification(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Certification>> {
        let id = parse_id("id", &id).gql()?;
        Ok(services(ctx).certifications.get(principal(ctx), id).await.gql()?.map(Certification))
    }

    /// Certifications, oldest first, `first` (default 50, at most 500) after the cursor `after`.
    async fn certifications(
        &self,
        ctx: &Context<'_>,
        filter: Option<CertificationFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<CertificationConnection> {
        let filter = filter.unwrap_or_default();
        let filter = CertificationFilter {
            country: filter.country,
            tin: filter.tin,
            status: filter.status.map(Into::into),
            role: filter.role.map(Into::into),
            ..Default::default()
        };
        let after = after
            .map(|cursor| {
                Uuid::parse_str(&cursor).map_err(|_| ServiceError::field("after", "is not a cursor from this query"))
            })
            .transpose()
            .gql()?;
        let page =
            services(ctx).certifications.list(principal(ctx), &filter, first, Listing::After(after)).await.gql()?;
        let edges: Vec<CertificationEdge> = page
            .items
            .into_iter()
            .map(|row| CertificationEdge { cursor: row.id.to_string(), node: Certification(row) })
            .collect();
        Ok(CertificationConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            edges,
        })
    }

    /// An operator and its certifications at this node; null when this node never certified it.
    async fn operator(&self, ctx: &Context<'_>, country: String, tin: String) -> Result<Option<Operator>> {
        let rows = services(ctx).certifications.by_operator(principal(ctx), &country, &tin).await.gql()?;
        Ok(rows.last().map(|newest| Operator {
            country: newest.issuing_country.clone(),
            tin: newest.tin.clone(),
            legal_name: Some(newest.operator_name.clone()),
        }))
    }

    /// The hash-chained history of a certification (all its versions), oldest first.
    async fn certification_history(&self, ctx: &Context<'_>, id: ID) -> Result<CertificationHistory> {
        let id = parse_id("id", &id).gql()?;
        let view = services(ctx).certifications.history(principal(ctx), id).await.gql()?;
        Ok(CertificationHistory {
            chain_intact: view.chain_break.is_none(),
            chain_break: view.chain_break,
            entries: history_objects(view.entries),
        })
    }

    /// Federation: resolves a `Certification` reference.
    #[graphql(entity)]
    async fn find_certification_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Certification>> {
        let id = parse_id("id", &id).gql()?;
        Ok(services(ctx).certifications.get(principal(ctx), id).await.gql()?.map(Certification))
    }

    /// Federation: resolves an `Operator` reference.
    #[graphql(entity)]
    async fn find_operator_by_country_and_tin(
        &self,
        ctx: &Context<'_>,
        country: String,
        tin: String,
    ) -> Result<Option<Operator>> {
        self.operator(ctx, country, tin).await
    }
}
