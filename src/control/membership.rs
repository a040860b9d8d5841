//! Memberships and the join/prune alert rules (spec 6.9, 6.10, 6.17; G-11, G-13, G-28, G-31).

use super::{Control, Outbox};
use crate::addr::{Family, IfKey, Selector, Sg};
use crate::protocol::Event;

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
        if self
            .members
            .get(&(k, sel))
            .is_some_and(|m| m.contains(&slot))
        {
            return false;
        }
        // G-28: the local join to the interface's owner comes first.
        if self.proto(slot).igmp {
            if let Some(owner) = self.owner_of(k).filter(|o| *o != slot) {
                out.event(
                    owner,
                    Event::LocalJoin {
                        selector: sel,
                        interface: k,
                    },
                );
            }
        }
        self.members.entry((k, sel)).or_default().insert(slot);
        self.by_iface.entry(k).or_default().insert((slot, sel));
        *self
            .sel_ifaces
            .entry(sel)
            .or_default()
            .entry(k)
            .or_default() += 1;
        let clients = self.clients.entry(sel).or_default();
        let ifaces_of_slot = clients.entry(slot).or_default();
        *ifaces_of_slot += 1;
        if *ifaces_of_slot == 1 {
            let event = Event::JoinAlert {
                selector: sel,
                member_update: true,
            };
            self.membership_alert(slot, sel, event, out);
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
        let Some(set) = self.members.get_mut(&(k, sel)) else {
            return false;
        };
        if !set.remove(&slot) {
            return false;
        }
        if set.is_empty() {
            self.members.remove(&(k, sel));
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
        if let Some(s) = self.by_iface.get_mut(&k) {
            s.remove(&(slot, sel));
            if s.is_empty() {
                self.by_iface.remove(&k);
            }
        }
        decrement(self.sel_ifaces.get_mut(&sel), k);
        if self.sel_ifaces.get(&sel).is_some_and(|m| m.is_empty()) {
            self.sel_ifaces.remove(&sel);
        }
        let clients = self.clients.get_mut(&sel).expect("a member is a client");
        decrement(Some(&mut *clients), slot);
        let gone_for_slot = !clients.contains_key(&slot);
        if clients.is_empty() {
            self.clients.remove(&sel);
        }
        if gone_for_slot {
            let event = Event::PruneAlert {
                selector: sel,
                interface: k,
                member_delete: true,
            };
            self.membership_alert(slot, sel, event, out);
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
    fn membership_alert(
        &mut self,
        slot: u32,
        sel: Selector<A>,
        event: Event<A>,
        out: &mut Outbox<A>,
    ) {
        let mut others = self
            .clients
            .get(&sel)
            .into_iter()
            .flat_map(|c| c.keys().copied())
            .filter(|s| *s != slot);
        let (first, second) = (others.next(), others.next());
        match (sel, first, second) {
            (Selector::Source { source, .. }, None, _) => {
                if let Some(owner) = self.owner_toward(source).filter(|o| *o != slot) {
                    out.event(owner, event);
                }
            }
            (Selector::Source { .. }, Some(_), _) => {}
            (_, None, _) => {
                let all: Vec<u32> = self.registered().filter(|s| *s != slot).collect();
                for to in all {
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
                    .filter(|(p, _)| *p == slot)
                    .map(|(_, sel)| *sel)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn decrement<K: Ord>(map: Option<&mut std::collections::BTreeMap<K, u32>>, key: K) {
    if let Some(m) = map {
        if let Some(c) = m.get_mut(&key) {
            *c -= 1;
            if *c == 0 {
                m.remove(&key);
            }
        }
    }
}
