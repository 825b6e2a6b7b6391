//! The certification lifecycle as a state machine.
//!
//! ```text
//!  submitted --approve--> granted <--suspend/reinstate--> suspended
//!      |                   |  \______________________________/ |
//!      |                   +--> revoked | annulled | amended <--+
//!      +--reject--> rejected
//! ```
//! `expired` is never stored: it is computed from `valid_until` ([`Status::effective`]), so no
//! daily job can forget to run (CADENA v1's lesson). A granted certification whose `valid_from`
//! lies ahead stays `granted` but is not yet in force: it confers no benefits until that day
//! ([`Status::confers_benefits`], by the same rule as a verifier's validity check). `amended` is the state of a version that a
//! newer approved version replaced; both versions are kept.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validity::{Phase, ValidityPeriod};

/// Where a certification stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Submitted by a registrar, waiting for an approver.
    Submitted,
    /// Refused by an approver before it was ever granted.
    Rejected,
    /// AEO status in force: partners grant benefits.
    Granted,
    /// Temporarily withdrawn; no benefits until reinstated.
    Suspended,
    /// Withdrawn for good.
    Revoked,
    /// Void from the start: the decision rested on wrong information.
    Annulled,
    /// Replaced by a newer version of the same certificate.
    Amended,
    /// Past its `valid_until`; computed, never stored.
    Expired,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Submitted,
        Status::Rejected,
        Status::Granted,
        Status::Suspended,
        Status::Revoked,
        Status::Annulled,
        Status::Amended,
        Status::Expired,
    ];

    /// The name stored in the database and shown in GraphQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "SUBMITTED",
            Status::Rejected => "REJECTED",
            Status::Granted => "GRANTED",
            Status::Suspended => "SUSPENDED",
            Status::Revoked => "REVOKED",
            Status::Annulled => "ANNULLED",
            Status::Amended => "AMENDED",
            Status::Expired => "EXPIRED",
        }
    }

    /// Parses a stored status name.
    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The status a reader sees at `now`: a granted or suspended certification whose validity
    /// ended is expired. Validity is inclusive of its last day.
    pub fn effective(self, validity: &ValidityPeriod, now: DateTime<Utc>) -> Status {
        match self {
            Status::Granted | Status::Suspended if validity.phase(now) == Phase::Ended => Status::Expired,
            status => status,
        }
    }

    /// Whether the operator enjoys AEO benefits at `now`: granted, and in force (its validity
    /// has begun and not ended). `self` is the stored or the effective status.
    pub fn confers_benefits(self, validity: &ValidityPeriod, now: DateTime<Utc>) -> bool {
        self == Status::Granted && validity.phase(now) == Phase::InForce
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of status that an officer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Transition {
    /// A registrar files a new certification (or a new version of one).
    Submit,
    /// An approver grants a submitted certification.
    Approve,
    /// An approver refuses a submitted certification.
    Reject,
    /// An approver suspends a granted certification.
    Suspend,
    /// An approver lifts a suspension.
    Reinstate,
    /// An approver withdraws a certification for good.
    Revoke,
    /// An approver voids a certification from the start.
    Annul,
    /// A newer version was approved and replaces this one.
    Supersede,
}

impl Transition {
    /// The name written into the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Submit => "SUBMIT",
            Transition::Approve => "APPROVE",
            Transition::Reject => "REJECT",
            Transition::Suspend => "SUSPEND",
            Transition::Reinstate => "REINSTATE",
            Transition::Revoke => "REVOKE",
            Transition::Annul => "ANNUL",
            Transition::Supersede => "SUPERSEDE",
        }
    }

    /// Parses a stored transition name.
    pub fn parse(value: &str) -> Option<Transition> {
        [
            Transition::Submit,
            Transition::Approve,
            Transition::Reject,
            Transition::Suspend,
            Transition::Reinstate,
            Transition::Revoke,
            Transition::Annul,
            Transition::Supersede,
        ]
        .into_iter()
        .find(|t| t.as_str() == value)
    }

    /// Whether the transition must carry a reason: every decision that takes benefits away or
    /// gives them back is justified in the record.
    pub fn requires_reason(self) -> bool {
        matches!(
            self,
            Transition::Reject | Transition::Suspend | Transition::Reinstate | Transition::Revoke | Transition::Annul
        )
    }

    /// The status reached by applying `self` to a certification in `from` (its *effective*
    /// status), or why that is not allowed.
    pub fn apply(self, from: Status) -> Result<Status, TransitionError> {
        use Status as S;
        use Transition as T;
        let to = match (self, from) {
            (T::Approve, S::Submitted) => S::Granted,
            (T::Reject, S::Submitted) => S::Rejected,
            (T::Suspend, S::Granted) => S::Suspended,
            (T::Reinstate, S::Suspended) => S::Granted,
            (T::Revoke, S::Granted | S::Suspended) => S::Revoked,
            (T::Annul, S::Granted | S::Suspended) => S::Annulled,
            (T::Supersede, S::Granted | S::Suspended) => S::Amended,
            _ => {
                return Err(TransitionError { transition: self, from });
            }
        };
        Ok(to)
    }
}

impl std::fmt::Display for Transition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transition that the lifecycle does not allow from the current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a certification that is {}", verb(self.transition), self.from.as_str().to_lowercase())]
pub struct TransitionError {
    /// What was asked.
    pub transition: Transition,
    /// The certification's effective status when it was asked.
    pub from: Status,
}

fn verb(t: Transition) -> &'static str {
    match t {
        Transition::Submit => "submit",
        Transition::Approve => "approve",
        Transition::Reject => "reject",
        Transition::Suspend => "suspend",
        Transition::Reinstate => "reinstate",
        Transition::Revoke => "revoke",
        Transition::Annul => "annul",
        Transition::Supersede => "amend",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> chrono::NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_granted_suspended_loop_and_its_exits() {
        let s = Transition::Approve.apply(Status::Submitted).unwrap();
        assert_eq!(s, Status::Granted);
        let s = Transition::Suspend.apply(s).unwrap();
        assert_eq!(s, Status::Suspended);
        let s = Transition::Reinstate.apply(s).unwrap();
        assert_eq!(s, Status::Granted);
        assert_eq!(Transition::Revoke.apply(s).unwrap(), Status::Revoked);
        assert_eq!(Transition::Annul.apply(Status::Suspended).unwrap(), Status::Annulled);
    }

    #[test]
    fn only_the_listed_transitions_are_legal() {
        let legal = [
            (Transition::Approve, Status::Submitted),
            (Transition::Reject, Status::Submitted),
            (Transition::Suspend, Status::Granted),
            (Transition::Reinstate, Status::Suspended),
            (Transition::Revoke, Status::Granted),
            (Transition::Revoke, Status::Suspended),
            (Transition::Annul, Status::Granted),
            (Transition::Annul, Status::Suspended),
            (Transition::Supersede, Status::Granted),
            (Transition::Supersede, Status::Suspended),
        ];
        for t in [
            Transition::Submit,
            Transition::Approve,
            Transition::Reject,
            Transition::Suspend,
            Transition::Reinstate,
            Transition::Revoke,
            Transition::Annul,
            Transition::Supersede,
        ] {
            for from in Status::ALL {
                let allowed = legal.contains(&(t, from));
                assert_eq!(t.apply(from).is_ok(), allowed, "{t} from {from}");
            }
        }
    }

    #[test]
    fn illegal_transition_says_what_and_from_where() {
        let err = Transition::Reinstate.apply(Status::Revoked).unwrap_err();
        assert_eq!(err.to_string(), "cannot reinstate a certification that is revoked");
    }

    #[test]
    fn expiry_is_computed_inclusive_of_the_last_day() {
        let period = ValidityPeriod::of_days(day("2026-01-01"), Some(day("2026-06-30")));
        let noon = |d: &str| crate::credential::start_of_day(day(d)) + chrono::Duration::hours(12);
        assert_eq!(Status::Granted.effective(&period, noon("2026-06-30")), Status::Granted);
        assert_eq!(Status::Granted.effective(&period, noon("2026-07-01")), Status::Expired);
        assert_eq!(Status::Suspended.effective(&period, noon("2026-07-01")), Status::Expired);
        assert_eq!(Status::Revoked.effective(&period, noon("2026-07-01")), Status::Revoked);
        let open = ValidityPeriod::of_days(day("2026-01-01"), None);
        assert_eq!(Status::Granted.effective(&open, noon("2099-01-01")), Status::Granted);
        assert_eq!(
            Transition::Suspend.apply(Status::Granted.effective(&period, noon("2027-01-01"))),
            Err(TransitionError { transition: Transition::Suspend, from: Status::Expired })
        );
    }

    #[test]
    fn a_granted_certification_confers_benefits_only_while_in_force() {
        let period = ValidityPeriod::of_days(day("2099-01-01"), Some(day("2099-12-31")));
        let now = crate::credential::start_of_day(day("2026-06-01"));
        // Granted ahead of its validity: granted, not expired, but no benefits yet.
        assert_eq!(Status::Granted.effective(&period, now), Status::Granted);
        assert!(!Status::Granted.confers_benefits(&period, now));
        assert!(Status::Granted.confers_benefits(&period, crate::credential::start_of_day(day("2099-06-01"))));
        assert!(!Status::Suspended.confers_benefits(&period, crate::credential::start_of_day(day("2099-06-01"))));
        assert!(!Status::Granted.confers_benefits(&period, crate::credential::start_of_day(day("2100-01-01"))));
    }
}
