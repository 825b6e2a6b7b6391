//! When something is in force: the one rule that the node's status and `confersBenefits`,
//! recognition (local and at partners) and the verifier's validity fragment all apply, so they
//! can never disagree about the same certification at the same moment.
//!
//! A certification is in force from the first second of its `validFrom` day to the last second
//! of its `validUntil` day (UTC), the instants its credential states ([`crate::credential`]).
//! Before that it may be granted, but it is not yet in force; after it, it has ended.

use chrono::{DateTime, NaiveDate, SubsecRound as _, Utc};
use serde_json::Value;

use crate::credential::{end_of_day, start_of_day};

/// How far in the future a `validFrom` may lie and still count as reached. Nodes' clocks
/// differ, and a status list is signed (with `validFrom` = its signing second) while a
/// verification that started a moment earlier is under way; without slack a list signed in the
/// next second, or by a node whose clock runs a little ahead, would not be valid yet. Five
/// minutes is the customary bound (Kerberos, most JWT verifiers). `validUntil` gets none: an
/// expired certification must not confer benefits a moment longer. The node applies the same
/// slack to its own certifications, so its answer and any verifier's agree.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// Where a moment lies relative to a validity period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before `validFrom` (less [`CLOCK_SKEW`]).
    NotYet,
    /// Within the period.
    InForce,
    /// After `validUntil`.
    Ended,
}

/// A validity period; either end may be open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityPeriod {
    /// First instant of validity.
    pub from: Option<DateTime<Utc>>,
    /// Last instant of validity.
    pub until: Option<DateTime<Utc>>,
}

impl ValidityPeriod {
    /// The period of a certification valid from the start of `from` to the end of `until`.
    pub fn of_days(from: NaiveDate, until: Option<NaiveDate>) -> ValidityPeriod {
        ValidityPeriod { from: Some(start_of_day(from)), until: until.map(end_of_day) }
    }

    /// The period a credential states in `validFrom` and `validUntil`; an error names a
    /// value that is not an `xsd:dateTime`.
    pub fn of_credential(credential: &Value) -> Result<ValidityPeriod, String> {
        let parse = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
            match credential.get(name) {
                None => Ok(None),
                Some(value) => value
                    .as_str()
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| Some(d.with_timezone(&Utc)))
                    .ok_or_else(|| format!("{name} {value} is not an xsd:dateTime")),
            }
        };
        Ok(ValidityPeriod { from: parse("validFrom")?, until: parse("validUntil")? })
    }

    /// Where `now` lies. Credentials state their instants to the second, so `now` is compared
    /// at that precision too (the last second of `validUntil` is still in force throughout).
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        let now = now.trunc_subsecs(0);
        match (self.from, self.until) {
            (Some(from), _) if now + CLOCK_SKEW < from => Phase::NotYet,
            (_, Some(until)) if now > until => Phase::Ended,
            _ => Phase::InForce,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_certification_is_in_force_from_its_first_to_its_last_day_inclusive() {
        let period = ValidityPeriod::of_days(day("2026-03-01"), Some(day("2026-06-30")));
        let at = |y, m, d, h, min, s| Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap();
        assert_eq!(period.phase(at(2026, 2, 28, 12, 0, 0)), Phase::NotYet);
        // Within the clock skew of its first second: in force, as every verifier says.
        assert_eq!(period.phase(at(2026, 2, 28, 23, 56, 0)), Phase::InForce);
        assert_eq!(period.phase(at(2026, 3, 1, 0, 0, 0)), Phase::InForce);
        assert_eq!(period.phase(at(2026, 6, 30, 23, 59, 59) + chrono::Duration::milliseconds(900)), Phase::InForce);
        assert_eq!(period.phase(at(2026, 7, 1, 0, 0, 0)), Phase::Ended);
        let open = ValidityPeriod::of_days(day("2026-03-01"), None);
        assert_eq!(open.phase(at(2099, 1, 1, 0, 0, 0)), Phase::InForce);
    }
}
