//! The node's GraphQL subgraph (Apollo Federation v2): `Query`, `Mutation`, `Subscription`,
//! with `Certification @key(fields: "id")` and `Operator @key(fields: "country tin")`.
//!
//! Transport (HTTP, WebSocket, SSE) and authentication live in the gateway; resolvers find the
//! caller as [`RequestPrincipal`] in the request data and the services in [`NodeServices`].

mod credentials;
mod introspection;
mod limits;
mod mutation;
mod partners;
mod query;
mod scalars;
mod subscription;
mod types;
mod wallets;
mod watch;

use async_graphql::{Context, MergedObject, SDLExportOptions, Schema};

pub use credentials::{CredentialMutation, CredentialQuery};
pub use limits::{QueryLimits, QueryLimitsConfig};
pub use mutation::CertificationMutation;
pub use partners::{PartnerMutation, PartnerQuery};
pub use query::CertificationQuery;
pub use scalars::{Json, graphql_to_json, json_to_graphql};
pub use subscription::{LastCursor, ResumeAfter, Subscription};
pub use wallets::{WalletMutation, WalletQuery};
pub use watch::{WatchMutation, WatchQuery};

/// Root query type.
#[derive(MergedObject, Debug, Default)]
pub struct Query(CertificationQuery, CredentialQuery, PartnerQuery, WatchQuery, WalletQuery);

/// Root mutation type.
#[derive(MergedObject, Debug, Default)]
pub struct Mutation(CertificationMutation, CredentialMutation, PartnerMutation, WatchMutation, WalletMutation);

use crate::auth::Principal;
use crate::services::anchoring::AnchoringService;
use crate::services::outbox::Outbox;
use crate::services::partners::PartnerService;
use crate::services::wallets::issuance::WalletIssuance;
use crate::services::wallets::presentation::PresentationVerifier;
use crate::services::watch_lists::WatchLists;
use crate::services::webhooks::WebhookService;
use crate::services::{CertificationService, CredentialService, OfficerService};

/// The node's schema type.
pub type NodeSchema = Schema<Query, Mutation, Subscription>;

/// The services resolvers call.
#[derive(Clone, Debug)]
pub struct NodeServices {
    /// Officer accounts.
    pub officers: OfficerService,
    /// Certifications.
    pub certifications: CertificationService,
    /// Verifiable credentials.
    pub credentials: CredentialService,
    /// Anchoring on chain (None when the node has no chain).
    pub anchoring: Option<AnchoringService>,
    /// The MRA partner network (None when the node has no chain).
    pub partners: Option<PartnerService>,
    /// Webhook deliveries.
    pub webhooks: WebhookService,
    /// The outbox of deferred work (its loops, and the webhook delivery log).
    pub outbox: Outbox,
    /// What VERIFIER accounts follow, with the firms' consent.
    pub watch_lists: WatchLists,
    /// Credentials to firms' wallets (OpenID4VCI).
    pub wallets: WalletIssuance,
    /// Presentation requests of VERIFIER accounts (OpenID4VP).
    pub presentations: PresentationVerifier,
}

/// The authenticated caller of one request or subscription (None: anonymous).
#[derive(Clone, Debug, Default)]
pub struct RequestPrincipal(pub Option<Principal>);

/// The network address of the request's client, when known (anonymous verifications are
/// rate-limited per address).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

pub(crate) fn principal<'a>(ctx: &'a Context<'_>) -> Option<&'a Principal> {
    ctx.data_opt::<RequestPrincipal>().and_then(|p| p.0.as_ref())
}

pub(crate) fn services<'a>(ctx: &'a Context<'_>) -> &'a NodeServices {
    ctx.data_unchecked::<NodeServices>()
}

/// Builds the schema with its limits.
pub fn build_schema(services: Option<NodeServices>, limits: QueryLimitsConfig) -> NodeSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .enable_federation()
        .enable_subscription_in_federation()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(limits.max_depth * 4)
        .limit_directives(limits.max_directives)
        .extension(QueryLimits::new(limits))
        .extension(introspection::AnonymousIntrospection { allowed: limits.anonymous_introspection });
    if let Some(services) = services {
        builder = builder.data(services);
    }
    builder.finish()
}

/// The federation SDL of the subgraph, as committed in `schema/node.graphql`.
pub fn sdl() -> String {
    build_schema(None, QueryLimitsConfig::default()).sdl_with_options(SDLExportOptions::new().federation())
}
