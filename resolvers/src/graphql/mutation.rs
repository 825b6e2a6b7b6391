//! Root `Mutation`: login, officer administration, and the certification lifecycle.

use async_graphql::{Context, ID, Object, Result};

use super::query::parse_id;
use super::types::{Certification, CertificationInput, LoginPayload, Officer, OfficerInput};
use super::{principal, services};
use crate::auth::Role;
use crate::errors::GqlResult;

/// Login, officer and certification mutations, merged into `Mutation`.
#[derive(Debug, Default)]
pub struct CertificationMutation;

#[Object]
impl CertificationMutation {
    /// Opens a session; send the token as `Authorization: Bearer <token>`.
    async fn login(&self, ctx: &Context<'_>, username: String, password: String) -> Result<LoginPayload> {
        let outcome = services(ctx).officers.login(&username, &password).await.gql()?;
        Ok(LoginPayload { token: outcome.token, expires_at: outcome.expires_at, officer: Officer(outcome.officer) })
    }

    /// Creates an officer account (ADMIN).
    async fn create_officer(&self, ctx: &Context<'_>, input: OfficerInput) -> Result<Officer> {
        let officer = services(ctx)
            .officers
            .create(principal(ctx), &input.username, &input.password, &input.roles)
            .await
            .gql()?;
        Ok(Officer(officer))
    }

    /// Replaces an officer's roles (ADMIN).
    async fn set_officer_roles(&self, ctx: &Context<'_>, username: String, roles: Vec<Role>) -> Result<Officer> {
        Ok(Officer(services(ctx).officers.set_roles(principal(ctx), &username, &roles).await.gql()?))
    }

    /// Disables an officer account; its sessions stop at once (ADMIN).
    async fn disable_officer(&self, ctx: &Context<'_>, username: String) -> Result<Officer> {
        Ok(Officer(services(ctx).officers.set_disabled(principal(ctx), &username, true).await.gql()?))
    }

    /// Re-enables an officer account (ADMIN).
    async fn enable_officer(&self, ctx: &Context<'_>, username: String) -> Result<Officer> {
        Ok(Officer(services(ctx).officers.set_disabled(principal(ctx), &username, false).await.gql()?))
    }

    /// Sets a new password for an officer (ADMIN).
    async fn reset_officer_password(&self, ctx: &Context<'_>, username: String, password: String) -> Result<Officer> {
        Ok(Officer(services(ctx).officers.reset_password(principal(ctx), &username, &password).await.gql()?))
    }

    /// Files a new certification, SUBMITTED until an approver decides (REGISTRAR).
    async fn submit_certification(&self, ctx: &Context<'_>, input: CertificationInput) -> Result<Certification> {
        let draft = input.into();
        Ok(Certification(services(ctx).certifications.submit(principal(ctx), &draft).await.gql()?))
    }

    /// Files a new version of a granted or suspended certification; approving it replaces
    /// the current version, which becomes AMENDED (REGISTRAR).
    async fn amend_certification(&self, ctx: &Context<'_>, id: ID, input: CertificationInput) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        let draft = input.into();
        Ok(Certification(services(ctx).certifications.amend(principal(ctx), id, &draft).await.gql()?))
    }

    /// Grants a submitted certification (APPROVER other than its submitter).
    async fn approve_certification(&self, ctx: &Context<'_>, id: ID) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.approve(principal(ctx), id).await.gql()?))
    }

    /// Refuses a submitted certification (APPROVER).
    async fn reject_certification(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.reject(principal(ctx), id, Some(&reason)).await.gql()?))
    }

    /// Suspends a granted certification: no benefits until reinstated (APPROVER).
    async fn suspend_certification(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.suspend(principal(ctx), id, Some(&reason)).await.gql()?))
    }

    /// Lifts a suspension (APPROVER).
    async fn reinstate_certification(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.reinstate(principal(ctx), id, Some(&reason)).await.gql()?))
    }

    /// Withdraws a certification for good (APPROVER).
    async fn revoke_certification(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.revoke(principal(ctx), id, Some(&reason)).await.gql()?))
    }

    /// Voids a certification from the start: the decision rested on wrong information (APPROVER).
    async fn annul_certification(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<Certification> {
        let id = parse_id("id", &id).gql()?;
        Ok(Certification(services(ctx).certifications.annul(principal(ctx), id, Some(&reason)).await.gql()?))
    }
}
