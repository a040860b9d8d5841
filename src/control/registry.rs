//! The registry: protocols and their handles, group enumerations, the forwarders that follow
//! the table, and what the engine tells about itself (interfaces, memberships, tallies).

use std::sync::Arc;

use super::{Control, EnumRec, ProtocolRec};
use crate::addr::{Family, IfKey, Selector};
use crate::error::{Error, Result};
use crate::handle::Slots;
use crate::mfe::{EnumKind, InterfaceInfo, MembershipInfo, MfeChange, Page};
use crate::protocol::{is_igmp, Batches, Event, EventReceiver, Hooks, Outlet};

/// What the control plane counts about itself, for `Mgm::counters`.
pub(crate) struct Tally {
    pub(crate) mfes: usize,
    pub(crate) pending: usize,
    pub(crate) refused: u64,
    pub(crate) created: u64,
    pub(crate) deleted: u64,
    pub(crate) dropped: u64,
}

impl<A: Family> Control<A> {
    /// `MgmRegisterMProtocol`: a new protocol slot for (protocol, component), its handle
    /// opened in `protos`; returns the handle's raw value and the protocol's receiver.
    pub(crate) fn register(
        &mut self,
        protos: &Slots,
        protocol: u32,
        component: u32,
        hooks: Arc<dyn Hooks<A>>,
    ) -> Result<(u64, EventReceiver<A>)> {
        if self.by_id.contains_key(&(protocol, component)) {
            return Err(Error::AlreadyRegistered {
                protocol,
                component,
            });
        }
        let (slot, raw) = protos
            .open(&mut self.proto_alloc)
            .ok_or(Error::OutOfRange {
                what: "the number of registered protocols",
                expected: "within Config::max_protocols",
            })?;
        let (tx, rx) = Outlet::pair(self.limits.queue_capacity, |lost| Event::Overflow { lost });
        let seq = self.next_seq;
        self.next_seq += 1;
        self.protocols[slot as usize] = Some(ProtocolRec {
            id: protocol,
            component,
            igmp: is_igmp(protocol),
            seq,
            hooks,
            tx,
            owned: 0,
            enums: Vec::new(),
        });
        self.by_id.insert((protocol, component), slot);
        self.reg_order.insert(seq, slot);
        Ok((raw, rx))
    }

    /// `MgmDeRegisterMProtocol`: closes the protocol's slot and handle (in `protos`) and its
    /// open group enumerations (in `enums`). Refused while it owns interfaces.
    pub(crate) fn deregister(&mut self, protos: &Slots, enums: &Slots, slot: u32) -> Result<()> {
        let owned = self.proto(slot).owned;
        if owned > 0 {
            return Err(Error::StillOwnsInterfaces { count: owned });
        }
        let Some(rec) = self.protocols[slot as usize].take() else {
            unreachable!("a checked handle names a live slot");
        };
        for e in &rec.enums {
            self.enums[*e as usize] = None;
            enums.close(&mut self.enum_alloc, *e);
        }
        self.by_id.remove(&(rec.id, rec.component));
        self.reg_order.remove(&rec.seq);
        protos.close(&mut self.proto_alloc, slot);
        Ok(())
    }

    /// `MgmGetProtocolOnInterface`: the routing owner's ids, else IGMP's (G-9).
    pub(crate) fn protocol_on_interface(&self, interface: IfKey<A>) -> Result<(u32, u32)> {
        let rec = self.ifaces.get(&interface).ok_or(Error::UnknownInterface {
            interface: interface.id(),
        })?;
        match rec.owner.or(rec.igmp) {
            Some(slot) => Ok(self.ids(slot)),
            None => unreachable!("a known interface has someone on it"),
        }
    }

    /// `MgmGroupEnumerationStart`: a snapshot of the membership selectors (G-14), owned by
    /// protocol `slot`, its handle opened in `enums`; returns the handle's raw value.
    pub(crate) fn enumeration_start(
        &mut self,
        enums: &Slots,
        slot: u32,
        kind: EnumKind,
    ) -> Result<u64> {
        let items = self.enumeration_snapshot(kind);
        let (e, raw) = enums.open(&mut self.enum_alloc).ok_or(Error::OutOfRange {
            what: "the number of open group enumerations",
            expected: "within Config::max_enumerations",
        })?;
        self.enums[e as usize] = Some(EnumRec {
            owner: slot,
            items,
            pos: 0,
        });
        self.proto_mut(slot).enums.push(e);
        Ok(raw)
    }

    /// `MgmGroupEnumerationGetNext`: the next at most `max` selectors of open enumeration `e`.
    pub(crate) fn enumeration_next(&mut self, e: u32, max: usize) -> Page<Selector<A>> {
        let Some(rec) = self.enums[e as usize].as_mut() else {
            unreachable!("a checked handle names a live enumeration");
        };
        let end = rec.pos.saturating_add(max).min(rec.items.len());
        let items = rec.items[rec.pos..end].to_vec();
        rec.pos = end;
        Page {
            items,
            more: end < rec.items.len(),
        }
    }

    /// `MgmGroupEnumerationEnd`: closes open enumeration `e` and its handle (in `enums`).
    pub(crate) fn enumeration_end(&mut self, enums: &Slots, e: u32) {
        let Some(rec) = self.enums[e as usize].take() else {
            unreachable!("a checked handle names a live enumeration");
        };
        self.proto_mut(rec.owner).enums.retain(|x| *x != e);
        enums.close(&mut self.enum_alloc, e);
    }

    /// A new follower of the table: every committed change from now on, in commit order.
    pub(crate) fn subscribe(&mut self) -> Batches<MfeChange<A>> {
        let (tx, rx) = Outlet::pair(self.limits.queue_capacity, |lost| MfeChange::Resync {
            lost,
        });
        self.subscribers.push(tx);
        rx
    }

    /// Every interface someone is on, with who.
    pub(crate) fn interfaces(&self) -> Vec<InterfaceInfo<A>> {
        self.ifaces
            .iter()
            .map(|(k, r)| InterfaceInfo {
                interface: *k,
                owner: r.owner.map(|s| self.ids(s)),
                igmp: r.igmp.map(|s| self.ids(s)),
            })
            .collect()
    }

    /// Every membership, by (interface, selector, protocol).
    pub(crate) fn memberships(&self) -> Vec<MembershipInfo<A>> {
        self.membership_page(None, usize::MAX).items
    }

    /// Up to `max` memberships after `after` in (interface, selector, protocol) order. The
    /// interfaces and their selectors are kept in that order; the few protocols holding one
    /// selector on one interface are put in id order here. So a page costs a lookup and its
    /// own items, whatever the table's size.
    pub(crate) fn membership_page(
        &self,
        after: Option<MembershipInfo<A>>,
        max: usize,
    ) -> Page<MembershipInfo<A>> {
        use std::ops::Bound::{Included, Unbounded};
        let key = |m: &MembershipInfo<A>| (m.interface, m.selector, m.protocol);
        let from = after.map_or(Unbounded, |a| Included(a.interface));
        let mut items = Vec::new();
        // One selector's members on one interface, put in protocol order.
        let mut same: Vec<MembershipInfo<A>> = Vec::new();
        for (k, set) in self.by_iface.range((from, Unbounded)) {
            let start = match after {
                Some(a) if a.interface == *k => Included((a.selector, 0)),
                _ => Unbounded,
            };
            let mut it = set.range((start, Unbounded)).peekable();
            while let Some(&(sel, slot)) = it.next() {
                same.clear();
                same.push(self.membership_info(*k, sel, slot));
                while let Some(&&(s, slot)) = it.peek() {
                    if s != sel {
                        break;
                    }
                    same.push(self.membership_info(*k, s, slot));
                    it.next();
                }
                same.sort_unstable_by_key(|m| m.protocol);
                for m in same.drain(..) {
                    if after.is_some_and(|a| key(&m) <= key(&a)) {
                        continue;
                    }
                    if items.len() == max {
                        return Page { items, more: true };
                    }
                    items.push(m);
                }
            }
        }
        Page { items, more: false }
    }

    fn membership_info(
        &self,
        interface: IfKey<A>,
        selector: Selector<A>,
        slot: u32,
    ) -> MembershipInfo<A> {
        MembershipInfo {
            protocol: self.ids(slot),
            selector,
            interface,
        }
    }

    /// The control plane's counts.
    pub(crate) fn tally(&self) -> Tally {
        Tally {
            mfes: self.mfes.len(),
            pending: self.pending.len(),
            refused: self.refused,
            created: self.created,
            deleted: self.deleted,
            dropped: self.dropped,
        }
    }
}
