//! Counting the notifications a protocol receives, by kind.

use mgm::{DeleteReason, Event};

/// Events received by one protocol, per kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// `JoinAlert { member_update: true }`.
    pub join_member: u64,
    /// `JoinAlert { member_update: false }`.
    pub join_mfe: u64,
    /// `PruneAlert { member_delete: true }`.
    pub prune_member: u64,
    /// `PruneAlert { member_delete: false }`.
    pub prune_mfe: u64,
    /// `LocalJoin`.
    pub local_join: u64,
    /// `LocalLeave`.
    pub local_leave: u64,
    /// `WrongInterface`.
    pub wrong_if: u64,
    /// `DisableIgmp`.
    pub disable_igmp: u64,
    /// `EnableIgmp`.
    pub enable_igmp: u64,
    /// `MfeDeleted` because it expired.
    pub deleted_expired: u64,
    /// `MfeDeleted` because its incoming interface was released.
    pub deleted_released: u64,
    /// `MfeDeleted` because its route changed.
    pub deleted_route: u64,
    /// A kind of event (or deletion reason) newer than this tally.
    pub other: u64,
    /// Events the engine dropped from the protocol's full queue, as its `Overflow` markers
    /// said (not in [`Tally::total`]: they were never received).
    pub lost: u64,
}

impl Tally {
    /// Counts one event.
    pub fn count<A>(&mut self, e: &Event<A>) {
        let n = match e {
            Event::Overflow { lost } => {
                self.lost = self.lost.saturating_add(*lost);
                return;
            }
            Event::JoinAlert {
                member_update: true,
                ..
            } => &mut self.join_member,
            Event::JoinAlert { .. } => &mut self.join_mfe,
            Event::PruneAlert {
                member_delete: true,
                ..
            } => &mut self.prune_member,
            Event::PruneAlert { .. } => &mut self.prune_mfe,
            Event::LocalJoin { .. } => &mut self.local_join,
            Event::LocalLeave { .. } => &mut self.local_leave,
            Event::WrongInterface { .. } => &mut self.wrong_if,
            Event::DisableIgmp { .. } => &mut self.disable_igmp,
            Event::EnableIgmp { .. } => &mut self.enable_igmp,
            Event::MfeDeleted { reason, .. } => match reason {
                DeleteReason::Expired => &mut self.deleted_expired,
                DeleteReason::InterfaceReleased => &mut self.deleted_released,
                DeleteReason::RouteChanged => &mut self.deleted_route,
                _ => &mut self.other,
            },
            _ => &mut self.other,
        };
        *n += 1;
    }

    /// (label, count) for every kind, in a fixed order.
    pub fn rows(&self) -> [(&'static str, u64); 13] {
        [
            ("JoinAlert (member_update: true)", self.join_member),
            ("JoinAlert (member_update: false)", self.join_mfe),
            ("PruneAlert (member_delete: true)", self.prune_member),
            ("PruneAlert (member_delete: false)", self.prune_mfe),
            ("LocalJoin", self.local_join),
            ("LocalLeave", self.local_leave),
            ("WrongInterface", self.wrong_if),
            ("DisableIgmp", self.disable_igmp),
            ("EnableIgmp", self.enable_igmp),
            ("MfeDeleted (expired)", self.deleted_expired),
            ("MfeDeleted (interface released)", self.deleted_released),
            ("MfeDeleted (route changed)", self.deleted_route),
            ("other", self.other),
        ]
    }

    /// Every event counted.
    pub fn total(&self) -> u64 {
        self.rows().iter().map(|(_, n)| n).sum()
    }
}
