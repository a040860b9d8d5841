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
        let first_for_slot = *ifaces_of_slot == 1;
        let n = clients.len();
        if first_for_slot {
            self.join_alerts(slot, sel, n, out);
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
        let n = clients.len();
        if n == 0 {
            self.clients.remove(&sel);
        }
        if gone_for_slot {
            self.prune_alerts(slot, sel, k, n, out);
        }
        for sg in self.matched(sel) {
            self.refresh_oif(sg, k, out);
        }
        true
    }

    /// Membership-driven join alerts (`member_update: true`) after `slot` became a client of
    /// `sel`, now held by `n` clients.
    fn join_alerts(&mut self, slot: u32, sel: Selector<A>, n: usize, out: &mut Outbox<A>) {
        let event = Event::JoinAlert {
            selector: sel,
            member_update: true,
        };
        match sel {
            Selector::Source { source, .. } if n == 1 => {
                if let Some(owner) = self.owner_toward(source).filter(|o| *o != slot) {
                    out.event(owner, event);
                }
            }
            Selector::Source { .. } => {}
            _ if n == 1 => {
                let others: Vec<u32> = self.registered().filter(|s| *s != slot).collect();
                for to in others {
                    out.event(to, event);
                }
            }
            _ if n == 2 => {
                let first = self.clients[&sel].keys().copied().find(|s| *s != slot);
                if let Some(to) = first {
                    out.event(to, event);
                }
            }
            _ => {}
        }
    }

    /// Membership-driven prune alerts (`member_delete: true`) after `slot` stopped being a
    /// client of `sel`, now held by `n` clients; `k` is the interface whose membership went.
    fn prune_alerts(
        &mut self,
        slot: u32,
        sel: Selector<A>,
        k: IfKey<A>,
        n: usize,
        out: &mut Outbox<A>,
    ) {
        let event = Event::PruneAlert {
            selector: sel,
            interface: k,
            member_delete: true,
        };
        match sel {
            Selector::Source { source, .. } if n == 0 => {
                if let Some(owner) = self.owner_toward(source).filter(|o| *o != slot) {
                    out.event(owner, event);
                }
            }
            Selector::Source { .. } => {}
            _ if n == 0 => {
                let others: Vec<u32> = self.registered().filter(|s| *s != slot).collect();
                for to in others {
                    out.event(to, event);
                }
            }
            _ if n == 1 => {
                if let Some(to) = self.clients[&sel].keys().next().copied() {
                    out.event(to, event);
                }
            }
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
