//! The append-only history of a certification, chained by SHA-256.
//!
//! Each entry commits to its own fields and to the hash of the entry before it, so editing,
//! removing or reordering any past entry breaks every hash after it. The preimage is the
//! entry's fields in a fixed order as compact JSON (`serde_json` keeps struct order), which is
//! easy to recompute in any language:
//!
//! ```text
//! hash = hex(sha256( prev_hash_hex || "\n" || json([lineage, seq, version, transition, from, to,
//!                                                    actor, actor_role, at, reason]) ))
//! ```
//! `at` is RFC 3339 in UTC with microseconds, the precision both SQLite and PostgreSQL keep.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::lifecycle::{Status, Transition};

/// The `prev_hash` of the first entry of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The certification lineage (the id of its first version); all versions share one chain.
    pub lineage: String,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Which version of the certification the transition applied to.
    pub version: i32,
    /// What happened.
    pub transition: Transition,
    /// Status before (None for a submission).
    pub from: Option<Status>,
    /// Status after.
    pub to: Status,
    /// Username of the officer who did it.
    pub actor: String,
    /// The role under which they acted.
    pub actor_role: String,
    /// When, truncated to microseconds.
    pub at: DateTime<Utc>,
    /// Why (required for decisions that change benefits).
    pub reason: Option<String>,
    /// Hash of the previous entry, or [`GENESIS_HASH`].
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

/// The fields of an entry before it is sealed into the chain.
#[derive(Clone, Debug)]
pub struct HistoryLink {
    /// See [`HistoryEntry::lineage`].
    pub lineage: String,
    /// See [`HistoryEntry::version`].
    pub version: i32,
    /// See [`HistoryEntry::transition`].
    pub transition: Transition,
    /// See [`HistoryEntry::from`].
    pub from: Option<Status>,
    /// See [`HistoryEntry::to`].
    pub to: Status,
    /// See [`HistoryEntry::actor`].
    pub actor: String,
    /// See [`HistoryEntry::actor_role`].
    pub actor_role: String,
    /// See [`HistoryEntry::at`].
    pub at: DateTime<Utc>,
    /// See [`HistoryEntry::reason`].
    pub reason: Option<String>,
}

impl HistoryLink {
    /// Seals the link after `previous` (None for the first entry of a chain).
    pub fn seal(self, previous: Option<(&str, i64)>) -> HistoryEntry {
        let (prev_hash, prev_seq) = previous.unwrap_or((GENESIS_HASH, 0));
        let at = truncate_to_micros(self.at);
        let mut entry = HistoryEntry {
            lineage: self.lineage,
            seq: prev_seq + 1,
            version: self.version,
            transition: self.transition,
            from: self.from,
            to: self.to,
            actor: self.actor,
            actor_role: self.actor_role,
            at,
            reason: self.reason,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

impl HistoryEntry {
    /// Recomputes this entry's hash from its fields and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        #[derive(Serialize)]
        struct Preimage<'a>(
            &'a str,
            i64,
            i32,
            &'a str,
            Option<&'a str>,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
        );
        let at = self.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let preimage = Preimage(
            &self.lineage,
            self.seq,
            self.version,
            self.transition.as_str(),
            self.from.map(Status::as_str),
            self.to.as_str(),
            &self.actor,
            &self.actor_role,
            &at,
            self.reason.as_deref(),
        );
        let json = serde_json::to_vec(&preimage).expect("a tuple of strings and integers serialises");
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(&json);
        hex::encode(hasher.finalize())
    }
}

/// Truncates a timestamp to the microsecond precision that databases keep, so a hash computed
/// before storing still matches after reading back.
pub fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

/// Where a chain stops being intact.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// An entry's stored hash is not the hash of its fields: it was edited.
    #[error("history entry {seq} was altered: its hash does not match its contents")]
    Altered {
        /// The entry's sequence number.
        seq: i64,
    },
    /// An entry does not point at the entry before it: one was removed, inserted or reordered.
    #[error("history entry {seq} does not follow the entry before it")]
    Unlinked {
        /// The entry's sequence number.
        seq: i64,
    },
}

/// Checks a whole chain, oldest first.
pub fn verify_chain(entries: &[HistoryEntry]) -> Result<(), ChainBreak> {
    let mut expected_prev = GENESIS_HASH;
    for (index, entry) in entries.iter().enumerate() {
        let expected_seq = i64::try_from(index).unwrap_or(i64::MAX).saturating_add(1);
        if entry.prev_hash != expected_prev || entry.seq != expected_seq {
            return Err(ChainBreak::Unlinked { seq: entry.seq });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainBreak::Altered { seq: entry.seq });
        }
        expected_prev = &entry.hash;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(transition: Transition, from: Option<Status>, to: Status) -> HistoryLink {
        HistoryLink {
            lineage: "cert-1".into(),
            version: 1,
            transition,
            from,
            to,
            actor: "ana".into(),
            actor_role: "APPROVER".into(),
            at: Utc::now(),
            reason: Some("audit finding".into()),
        }
    }

    fn chain() -> Vec<HistoryEntry> {
        let a = link(Transition::Submit, None, Status::Submitted).seal(None);
        let b = link(Transition::Approve, Some(Status::Submitted), Status::Granted).seal(Some((&a.hash, a.seq)));
        let c = link(Transition::Suspend, Some(Status::Granted), Status::Suspended).seal(Some((&b.hash, b.seq)));
        vec![a, b, c]
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify_chain(&chain()), Ok(()));
    }

    #[test]
    fn editing_a_field_is_detected() {
        let mut entries = chain();
        entries[1].reason = Some("something else".into());
        assert_eq!(verify_chain(&entries), Err(ChainBreak::Altered { seq: 2 }));
    }

    #[test]
    fn removing_an_entry_is_detected() {
        let mut entries = chain();
        entries.remove(1);
        assert_eq!(verify_chain(&entries), Err(ChainBreak::Unlinked { seq: 3 }));
    }

    #[test]
    fn rehashing_an_edited_entry_breaks_the_next_link() {
        let mut entries = chain();
        entries[0].actor = "mallory".into();
        entries[0].hash = entries[0].compute_hash();
        assert_eq!(verify_chain(&entries), Err(ChainBreak::Unlinked { seq: 2 }));
    }
}
