//! Officer roles and the operations each allows.
//!
//! The table in [`Operation::allowed_roles`] is the whole policy; every resolver asks
//! [`Principal::authorize`] before it touches storage. Separation of duties is deliberate:
//! an ADMIN manages accounts but reads no certification, a REGISTRAR files but cannot approve.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::errors::ServiceError;

/// A role an officer can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[graphql(name = "OfficerRole")]
pub enum Role {
    /// Manages officer accounts.
    Admin,
    /// Submits and amends certifications.
    Registrar,
    /// Approves, rejects, suspends, reinstates, revokes and annuls.
    Approver,
    /// Reads certifications and their history for risk management.
    RiskOfficer,
    /// Reads certifications and their history for audit.
    Auditor,
    /// An insurer's or bank's account: sees whether an operator is recognised (status and
    /// validity), never its address or other identifiers.
    Verifier,
    /// Signs credentials other than AEO certifications through the VC API, where the node's
    /// configuration enables it (`credentials.vc_api_issuance`, off by default). Deliberately
    /// not APPROVER: one approver alone must never mint anything that is signed as this node.
    Issuer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 7] =
        [Role::Admin, Role::Registrar, Role::Approver, Role::RiskOfficer, Role::Auditor, Role::Verifier, Role::Issuer];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Registrar => "REGISTRAR",
            Role::Approver => "APPROVER",
            Role::RiskOfficer => "RISK_OFFICER",
            Role::Auditor => "AUDITOR",
            Role::Verifier => "VERIFIER",
            Role::Issuer => "ISSUER",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// The roles of one officer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSet(Vec<Role>);

impl RoleSet {
    /// A sorted, de-duplicated set.
    pub fn new(roles: impl IntoIterator<Item = Role>) -> RoleSet {
        let mut roles: Vec<Role> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        RoleSet(roles)
    }

    /// Parses the stored comma-separated form, ignoring unknown names (a role removed from the
    /// code grants nothing).
    pub fn from_stored(value: &str) -> RoleSet {
        RoleSet::new(value.split(',').filter_map(Role::parse))
    }

    /// The stored comma-separated form.
    pub fn to_stored(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Whether the set holds `role`.
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// The roles, sorted.
    pub fn as_slice(&self) -> &[Role] {
        &self.0
    }
}

impl fmt::Display for RoleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.to_stored())
    }
}

/// Everything an officer can ask the node to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Operation {
    ManageOfficers,
    SubmitCertification,
    AmendCertification,
    ApproveCertification,
    RejectCertification,
    SuspendCertification,
    ReinstateCertification,
    RevokeCertification,
    AnnulCertification,
    ReadCertifications,
    ReadHistory,
    SubscribeEvents,
    IssueCredential,
    ReadRecognition,
    ReadMras,
    ManageMras,
    ReadWebhookLog,
    ReadPartnerMessages,
    ReadIssuanceLog,
    FollowOperators,
    ReadConsentLog,
    OfferToWallet,
    RequestPresentation,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 23] = [
        Operation::ManageOfficers,
        Operation::SubmitCertification,
        Operation::AmendCertification,
        Operation::ApproveCertification,
        Operation::RejectCertification,
        Operation::SuspendCertification,
        Operation::ReinstateCertification,
        Operation::RevokeCertification,
        Operation::AnnulCertification,
        Operation::ReadCertifications,
        Operation::ReadHistory,
        Operation::SubscribeEvents,
        Operation::IssueCredential,
        Operation::ReadRecognition,
        Operation::ReadMras,
        Operation::ManageMras,
        Operation::ReadWebhookLog,
        Operation::ReadPartnerMessages,
        Operation::ReadIssuanceLog,
        Operation::FollowOperators,
        Operation::ReadConsentLog,
        Operation::OfferToWallet,
        Operation::RequestPresentation,
    ];

    /// The policy: which roles allow this operation. The first listed is the one recorded in
    /// the history when an officer holds several.
    pub fn allowed_roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Operation::ManageOfficers | Operation::ManageMras => &[Admin],
            Operation::ReadRecognition => &[Verifier, RiskOfficer, Auditor, Approver, Registrar],
            Operation::ReadMras => &[Admin, RiskOfficer, Auditor, Approver, Registrar],
            Operation::ReadWebhookLog | Operation::ReadPartnerMessages => &[Admin, RiskOfficer, Auditor],
            Operation::IssueCredential => &[Issuer],
            Operation::ReadIssuanceLog | Operation::ReadConsentLog => &[Auditor],
            Operation::FollowOperators | Operation::RequestPresentation => &[Verifier],
            Operation::OfferToWallet => &[Registrar, Approver],
            Operation::SubmitCertification | Operation::AmendCertification => &[Registrar],
            Operation::ApproveCertification
            | Operation::RejectCertification
            | Operation::SuspendCertification
            | Operation::ReinstateCertification
            | Operation::RevokeCertification
            | Operation::AnnulCertification => &[Approver],
            Operation::ReadCertifications | Operation::ReadHistory | Operation::SubscribeEvents => {
                &[RiskOfficer, Auditor, Approver, Registrar]
            }
        }
    }

    /// A name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ManageOfficers => "managing officers",
            Operation::SubmitCertification => "submitting a certification",
            Operation::AmendCertification => "amending a certification",
            Operation::ApproveCertification => "approving a certification",
            Operation::RejectCertification => "rejecting a certification",
            Operation::SuspendCertification => "suspending a certification",
            Operation::ReinstateCertification => "reinstating a certification",
            Operation::RevokeCertification => "revoking a certification",
            Operation::AnnulCertification => "annulling a certification",
            Operation::ReadCertifications => "reading certifications",
            Operation::ReadHistory => "reading certification history",
            Operation::SubscribeEvents => "subscribing to certification events",
            Operation::IssueCredential => "issuing a credential",
            Operation::ReadRecognition => "reading an operator's recognition",
            Operation::ReadMras => "reading MRAs",
            Operation::ManageMras => "managing MRAs",
            Operation::ReadWebhookLog => "reading the webhook delivery log",
            Operation::ReadPartnerMessages => "reading the log of messages with MRA partners",
            Operation::ReadIssuanceLog => "reading the log of credentials issued through the VC API",
            Operation::FollowOperators => "following operators' status (with their consent)",
            Operation::ReadConsentLog => "reading the log of firms' consents",
            Operation::OfferToWallet => "offering a certification to the firm's wallet",
            Operation::RequestPresentation => "asking a wallet for a presentation",
        }
    }
}

/// An authenticated officer, as the services see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Officer id.
    pub officer_id: Uuid,
    /// Username (recorded in the history).
    pub username: String,
    /// Current roles, read from storage at authentication, not from the token.
    pub roles: RoleSet,
}

impl Principal {
    /// The role under which this officer may perform `operation`, or why not.
    pub fn authorize(&self, operation: Operation) -> Result<Role, ServiceError> {
        operation.allowed_roles().iter().copied().find(|role| self.roles.contains(*role)).ok_or_else(|| {
            ServiceError::Forbidden {
                operation: operation.as_str(),
                required: RoleSet::new(operation.allowed_roles().iter().copied()).to_string(),
                held: self.roles.to_string(),
            }
        })
    }
}

/// Authorizes an optional principal: no principal is "authentication required".
pub fn authorize(principal: Option<&Principal>, operation: Operation) -> Result<(&Principal, Role), ServiceError> {
    let principal = principal
        .ok_or(ServiceError::Unauthenticated("send `Authorization: Bearer <token>` from the login mutation"))?;
    let role = principal.authorize(operation)?;
    Ok((principal, role))
}
