//! Memberships and the join/prune alert rules (spec 6.9, 6.10, 6.17; G-11, G-13, G-28, G-31).

use std::collections::hash_map::Entry;

use super::{Control, Outbox, SmallVec};
use crate::addr::{Family, IfKey, Selector, Sg};
use crate::protocol::Event;

/// Who holds one membership selector: one record per selector, so a membership change looks
/// its selector up once, and the short lists stay inline (most selectors are held by one
/// protocol on one interface).
#[derive(Clone, Debug)]
pub(crate) struct SelMembers<A> {
    /// (interface, protocol) pairs holding the membership, sorted.
    pairs: SmallVec<[(IfKey<A>, u32); 2]>,
    /// The protocols among them, sorted, each with the number of its interfaces.
    clients: SmallVec<[(u32, u32); 2]>,
}

impl<A: Family> SelMembers<A> {
    fn new() -> Self {
        SelMembers {
            pairs: SmallVec::new(),
            clients: SmallVec::new(),
        }
    }

    /// True when no protocol holds the selector anywhere.
    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// True when some protocol holds the selector on `k`.
    pub(crate) fn on(&self, k: IfKey<A>) -> bool {
        let i = self.pairs.partition_point(|(pk, _)| *pk < k);
        self.pairs.get(i).is_some_and(|(pk, _)| *pk == k)
    }

    /// The interfaces where some protocol holds the selector, in order, each once per
    /// protocol holding it there.
    pub(crate) fn interfaces(&self) -> impl Iterator<Item = IfKey<A>> + '_ {
        self.pairs.iter().map(|(k, _)| *k)
    }

    /// Up to two protocols other than `slot` holding the selector.
    fn others(&self, slot: u32) -> (Option<u32>, Option<u32>) {
        let mut others = self.clients.iter().map(|(s, _)| *s).filter(|s| *s != slot);
        (others.next(), others.next())
    }

    /// Adds (k, slot); `None` when it was there already, else whether `slot` has just become
    /// a holder of the selector.
    fn add(&mut self, k: IfKey<A>, slot: u32) -> Option<bool> {
        let i = self.pairs.binary_search(&(k, slot)).err()?;
        self.pairs.insert(i, (k, slot));
        Some(match self.clients.binary_search_by(|(s, _)| s.cmp(&slot)) {
            Ok(c) => {
                self.clients[c].1 += 1;
                false
            }
            Err(c) => {
                self.clients.insert(c, (slot, 1));
                true
            }
        })
    }

    /// Removes (k, slot); `None` when it was not there, else whether `slot` no longer holds
    /// the selector anywhere.
    fn remove(&mut self, k: IfKey<A>, slot: u32) -> Option<bool> {
        let i = self.pairs.binary_search(&(k, slot)).ok()?;
        self.pairs.remove(i);
        let c = self
            .clients
            .binary_search_by(|(s, _)| s.cmp(&slot))
            .expect("a holder is a client");
        self.clients[c].1 -= 1;
        let gone = self.clients[c].1 == 0;
        if gone {
            self.clients.remove(c);
        }
        Some(gone)
    }
}

impl<A: Family> Control<A> {
    /// `MGM_JOIN_STATE_FLAG` add: records (slot, k, sel) and applies every consequence.
    /// Returns false when the membership already existed (G-11: nothing happens).
    pub(crate) fn add_join(
        &mut self,
        slot: u32,
        k: IfKey<A>,
        sel: Selector<A>,
        out: &mut Outbox<A>,
    ) -> bool {
        // G-28: the local join to the interface's owner comes first.
        let local_to = if self.proto(slot).igmp {
            self.owner_of(k).filter(|o| *o != slot)
        } else {
            None
        };
        let members = self.members.entry(sel).or_insert_with(SelMembers::new);
        let Some(first_for_slot) = members.add(k, slot) else {
            return false;
        };
        let others = members.others(slot);
        if let Some(owner) = local_to {
            out.event(
                owner,
                Event::LocalJoin {
                    selector: sel,
                    interface: k,
                },
            );
        }
        self.by_iface.entry(k).or_default().insert((sel, slot));
        if first_for_slot {
            let event = Event::JoinAlert {
                selector: sel,
                member_update: true,
            };
            self.membership_alert(slot, sel, others, event, out);
        }
        for sg in self.matched(sel) {
            self.refresh_oif(sg, k, out);
        }
        true
    }

    /// `MGM_JOIN_STATE_FLAG` delete: removes (slot, k, sel) and applies every consequence.
    /// Returns false when there was no such membership (G-11).
    pub(crate) fn delete_join(
        &mut self,
        slot: u32,
        k: IfKey<A>,
        sel: Selector<A>,
        out: &mut Outbox<A>,
    ) -> bool {
        // One lookup for the change and the removal of an emptied record.
        let Entry::Occupied(mut members) = self.members.entry(sel) else {
            return false;
        };
        let Some(gone_for_slot) = members.get_mut().remove(k, slot) else {
            return false;
        };
        let others = members.get().others(slot);
        if members.get().is_empty() {
            members.remove();
        }
        if self.proto(slot).igmp {
            if let Some(owner) = self.owner_of(k).filter(|o| *o != slot) {
                out.event(
                    owner,
                    Event::LocalLeave {
                        selector: sel,
                        interface: k,
                    },
                );
            }
        }
        // An emptied set stays (with its allocation) while the interface is known; it goes
        // with the interface's record.
        if let Some(s) = self.by_iface.get_mut(&k) {
            s.remove(&(sel, slot));
        }
        if gone_for_slot {
            let event = Event::PruneAlert {
                selector: sel,
                interface: k,
                member_delete: true,
            };
            self.membership_alert(slot, sel, others, event, out);
        }
        for sg in self.matched(sel) {
            self.refresh_oif(sg, k, out);
        }
        true
    }

    /// The membership-driven alert (`member_update` / `member_delete: true`) after `slot`
    /// became, or stopped being, a client of `sel`. Joins and prunes follow one rule of 6.17,
    /// decided by the other clients of `sel` (before a join, after a prune): none — (S,G): the
    /// owner of the interface toward S (G-31), wildcard: every other registered protocol;
    /// exactly one, for a wildcard — that one (G-30).
    /// `others` are up to two of those other clients.
    fn membership_alert(
        &self,
        slot: u32,
        sel: Selector<A>,
        others: (Option<u32>, Option<u32>),
        event: Event<A>,
        out: &mut Outbox<A>,
    ) {
        match (sel, others.0, others.1) {
            (Selector::Source { source, .. }, None, _) => {
                if let Some(owner) = self.owner_toward(source).filter(|o| *o != slot) {
                    out.event(owner, event);
                }
            }
            (Selector::Source { .. }, Some(_), _) => {}
            (_, None, _) => {
                for to in self.registered().filter(|s| *s != slot) {
                    out.event(to, event);
                }
            }
            (_, Some(only), None) => out.event(only, event),
            _ => {}
        }
    }

    /// `MGM_FORWARD_STATE_FLAG`: puts `k` on (`forward`) or takes it off the outgoing list of
    /// the one entry `sg`; no entry, no effect (G-12).
    pub(crate) fn set_forward(
        &mut self,
        sg: Sg<A>,
        k: IfKey<A>,
        forward: bool,
        out: &mut Outbox<A>,
    ) {
        let Some(rec) = self.mfes.get_mut(&sg) else {
            return;
        };
        rec.override_mut(k).forward = Some(forward);
        self.refresh_oif(sg, k, out);
    }

    /// Every membership `slot` holds on `k`.
    pub(crate) fn memberships_on(&self, slot: u32, k: IfKey<A>) -> Vec<Selector<A>> {
        self.by_iface
            .get(&k)
            .map(|s| {
                s.iter()
                    .filter(|(_, p)| *p == slot)
                    .map(|(sel, _)| *sel)
                    .collect()
            })
            .unwrap_or_default()
    }
}
