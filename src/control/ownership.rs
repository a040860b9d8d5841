//! Interface ownership and IGMP coexistence (spec 1.4, 6.6, 6.7, 6.8; G-7, G-8).

use super::{Control, IfaceRec, Outbox};
use crate::addr::{Family, IfKey, Sg};
use crate::error::{Error, Result};
use crate::protocol::{DeleteReason, Event};

impl<A: Family> Control<A> {
    /// Takes ownership of `k` for `slot` (or makes IGMP present on it).
    pub(crate) fn take(&mut self, slot: u32, k: IfKey<A>, out: &mut Outbox<A>) -> Result<()> {
        let rec = self.ifaces.get(&k).copied().unwrap_or_default();
        let taken = |by: u32| Error::InterfaceTaken {
            interface: k.id(),
            owner: self.proto(by).id,
        };
        if self.proto(slot).igmp {
            if let Some(by) = rec.igmp {
                return Err(taken(by));
            }
            self.ifaces.entry(k).or_default().igmp = Some(slot);
        } else {
            if let Some(by) = rec.owner {
                return Err(taken(by));
            }
            match rec.igmp {
                None => self.ifaces.entry(k).or_default().owner = Some(slot),
                Some(igmp) => self.take_igmp_interface(slot, igmp, k, out),
            }
        }
        self.proto_mut(slot).owned += 1;
        Ok(())
    }

    /// A routing protocol takes an interface where IGMP is present: disable, change, enable.
    /// IGMP's memberships stay (receivers see no blip); the new owner hears each of them as a
    /// local join, inside the bracket.
    fn take_igmp_interface(&mut self, slot: u32, igmp: u32, k: IfKey<A>, out: &mut Outbox<A>) {
        out.event(igmp, Event::DisableIgmp { interface: k });
        self.ifaces.entry(k).or_default().owner = Some(slot);
        for selector in self.memberships_on(igmp, k) {
            out.event(
                slot,
                Event::LocalJoin {
                    selector,
                    interface: k,
                },
            );
        }
        out.event(igmp, Event::EnableIgmp { interface: k });
    }

    /// Releases `k` for `slot`.
    pub(crate) fn release(&mut self, slot: u32, k: IfKey<A>, out: &mut Outbox<A>) -> Result<()> {
        let rec: IfaceRec = *self.ifaces.get(&k).ok_or(Error::NotOwner {
            interface: k.id(),
            reason: "the interface is not known: no protocol has taken it",
        })?;
        if rec.owner == Some(slot) {
            self.release_owned(slot, rec.igmp, k, out);
        } else if rec.igmp == Some(slot) {
            for sel in self.memberships_on(slot, k) {
                self.delete_join(slot, k, sel, out);
            }
            self.ifaces.entry(k).or_default().igmp = None;
        } else {
            return Err(Error::NotOwner {
                interface: k.id(),
                reason: "the caller does not own it",
            });
        }
        if self
            .ifaces
            .get(&k)
            .is_some_and(|r| r.owner.is_none() && r.igmp.is_none())
        {
            self.ifaces.remove(&k);
            if self.by_iface.get(&k).is_some_and(|s| s.is_empty()) {
                self.by_iface.remove(&k);
            }
        }
        self.proto_mut(slot).owned -= 1;
        Ok(())
    }

    /// G-8 as engine.md decides it: (b) the entries whose incoming interface is `k` go with one
    /// shard swap; (a) the owner's memberships on `k` go as join-state deletes; (c) `k` leaves
    /// every other entry's outgoing list, unless IGMP's memberships still justify it there.
    fn release_owned(&mut self, slot: u32, igmp: Option<u32>, k: IfKey<A>, out: &mut Outbox<A>) {
        if let Some(i) = igmp {
            out.event(i, Event::DisableIgmp { interface: k });
        }
        self.delete_shard(k, DeleteReason::InterfaceReleased, out);
        for sel in self.memberships_on(slot, k) {
            self.delete_join(slot, k, sel, out);
        }
        self.ifaces.entry(k).or_default().owner = None;
        // In (group, source) order: the refreshes below send events in this order.
        let keys: Vec<Sg<A>> = self.mfes.keys().collect();
        let touched: Vec<Sg<A>> = keys
            .into_iter()
            .filter(|sg| {
                let rec = self.mfes.get_mut(sg).expect("a listed key");
                let before = rec.overrides.len();
                rec.overrides.retain(|(o, _)| *o != k);
                before != rec.overrides.len() || rec.oifs.contains(&k)
            })
            .collect();
        for sg in touched {
            self.refresh_oif(sg, k, out);
        }
        if let Some(i) = igmp {
            out.event(i, Event::EnableIgmp { interface: k });
        }
    }
}
