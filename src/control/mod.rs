//! The control plane's state: protocols, interfaces, memberships, forwarding entries, routes.
//!
//! Everything here runs under the engine's control lock and never calls user code there:
//! decisions that need a protocol's answer are collected (in the [`Outbox`], or as the
//! candidates of a creation alert) and asked by their own `ask` methods, which the engine calls
//! after the lock is released. Every change that readers must see is published to the
//! [`ForwardStore`] before the lock is released, and every notification is sent in commit order
//! before it too. The fields are private to this module: the engine goes through the methods
//! of `registry.rs`, `ownership.rs`, `membership.rs`, `entries.rs`, `miss.rs` and `reads.rs`.

mod entries;
mod membership;
mod mfes;
mod miss;
mod ownership;
mod reads;
mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rustc_hash::FxHashMap as HashMap;

use crate::addr::{Family, IfKey, Selector, Sg};
use crate::engine::Config;
use crate::error::{Error, Result};
use crate::forward::ForwardStore;
use crate::handle::SlotAlloc;
use crate::mfe::{EnumKind, MfeChange};
use crate::protocol::{Event, Hooks, Outlet};
use crate::rib::{Rib, Route};

pub(crate) use entries::MfeRec;
pub(crate) use membership::SelMembers;
pub(crate) use mfes::Mfes;
pub(crate) use miss::{MissStart, WrongIfLimiter};
pub(crate) use smallvec::SmallVec;

/// selector -> who holds that membership, where.
pub(crate) type Members<A> = HashMap<Selector<A>, SelMembers<A>>;

/// The entries a selector matches: for (S,G) its one key, which may name no entry (the
/// caller's lookup of the record decides); a snapshot of the keys otherwise.
pub(crate) enum Matched<A> {
    One(Option<Sg<A>>),
    Many(std::vec::IntoIter<Sg<A>>),
}

impl<A> Iterator for Matched<A> {
    type Item = Sg<A>;

    fn next(&mut self) -> Option<Sg<A>> {
        match self {
            Matched::One(sg) => sg.take(),
            Matched::Many(it) => it.next(),
        }
    }
}

/// A registered protocol.
pub(crate) struct ProtocolRec<A: Family> {
    id: u32,
    component: u32,
    igmp: bool,
    seq: u64,
    hooks: Arc<dyn Hooks<A>>,
    tx: Outlet<Event<A>>,
    /// Interfaces it owns (as routing owner or as IGMP).
    owned: usize,
    /// Its open group enumerations (slots).
    enums: Vec<u32>,
}

/// Who is on an interface.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct IfaceRec {
    owner: Option<u32>,
    igmp: Option<u32>,
}

/// An open group enumeration: a snapshot taken at start, and how far it has been read.
pub(crate) struct EnumRec<A> {
    owner: u32,
    items: Vec<Selector<A>>,
    pos: usize,
}

/// A lifetime question for the owner of an entry's incoming interface, asked after the lock.
pub(crate) struct TimeoutAsk<A: Family> {
    sg: Sg<A>,
    iif: IfKey<A>,
    stamp: u64,
    proposed: Option<Duration>,
    hooks: Arc<dyn Hooks<A>>,
}

/// The owner's answer to a [`TimeoutAsk`], for [`Control::apply_timeout`].
pub(crate) struct TimeoutAnswer<A> {
    sg: Sg<A>,
    stamp: u64,
    timeout: Option<Duration>,
}

impl<A: Family> TimeoutAsk<A> {
    /// Asks the owner (user code: call it with the control lock released).
    pub(crate) fn ask(self) -> TimeoutAnswer<A> {
        TimeoutAnswer {
            sg: self.sg,
            stamp: self.stamp,
            timeout: self.hooks.mfe_timeout(self.sg, self.iif, self.proposed),
        }
    }
}

/// What one operation has to say, sent at commit.
pub(crate) struct Outbox<A: Family> {
    events: Vec<(u32, Event<A>)>,
    south: Vec<MfeChange<A>>,
    asks: Vec<TimeoutAsk<A>>,
}

impl<A: Family> Outbox<A> {
    pub(crate) fn new() -> Self {
        Outbox {
            events: Vec::new(),
            south: Vec::new(),
            asks: Vec::new(),
        }
    }
    pub(crate) fn event(&mut self, to: u32, event: Event<A>) {
        self.events.push((to, event));
    }
}

/// The engine's configuration, as the control plane uses it.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_mfes: usize,
    default_timeout: Option<Duration>,
    refresh_on_traffic: bool,
    queue_capacity: usize,
}

/// All control-plane state.
pub(crate) struct Control<A: Family> {
    limits: Limits,
    store: Arc<ForwardStore<A>>,
    protocols: Vec<Option<ProtocolRec<A>>>,
    by_id: HashMap<(u32, u32), u32>,
    proto_alloc: SlotAlloc,
    /// Registration order: sequence number -> slot.
    reg_order: BTreeMap<u64, u32>,
    next_seq: u64,
    ifaces: BTreeMap<IfKey<A>, IfaceRec>,
    /// selector -> the (interface, protocol) pairs holding that membership, and the
    /// protocols among them.
    members: Members<A>,
    /// interface -> (selector, protocol slot) memberships on it, in key order for the
    /// membership walk (an emptied set stays until the interface's record goes).
    by_iface: BTreeMap<IfKey<A>, BTreeSet<(Selector<A>, u32)>>,
    /// Forwarding entries, with their keys in (group, source) order.
    mfes: Mfes<A>,
    by_iif: HashMap<IfKey<A>, BTreeSet<Sg<A>>>,
    timers: BTreeSet<(u64, Sg<A>)>,
    /// Entries being created, with the misses counted meanwhile.
    pending: HashMap<Sg<A>, u64>,
    rib: Rib<A>,
    enums: Vec<Option<EnumRec<A>>>,
    enum_alloc: SlotAlloc,
    subscribers: Vec<Outlet<MfeChange<A>>>,
    next_stamp: u64,
    refused: u64,
    created: u64,
    deleted: u64,
    /// Events and changes dropped from full queues.
    dropped: u64,
}

impl<A: Family> Control<A> {
    /// An empty control plane for `config`, publishing to `store`, with the handle slot
    /// allocators of its protocols and enumerations.
    pub(crate) fn new(
        config: &Config,
        store: Arc<ForwardStore<A>>,
        proto_alloc: SlotAlloc,
        enum_alloc: SlotAlloc,
    ) -> Self {
        let (protocol_slots, enum_slots) = (config.max_protocols, config.max_enumerations);
        Control {
            limits: Limits {
                max_mfes: config.max_mfes,
                default_timeout: config.default_timeout,
                refresh_on_traffic: config.refresh_on_traffic,
                queue_capacity: config.queue_capacity,
            },
            store,
            protocols: (0..protocol_slots).map(|_| None).collect(),
            by_id: HashMap::default(),
            proto_alloc,
            reg_order: BTreeMap::new(),
            next_seq: 0,
            ifaces: BTreeMap::new(),
            members: HashMap::default(),
            by_iface: BTreeMap::new(),
            mfes: Mfes::new(),
            by_iif: HashMap::default(),
            timers: BTreeSet::new(),
            pending: HashMap::default(),
            rib: Rib::new(),
            enums: (0..enum_slots).map(|_| None).collect(),
            enum_alloc,
            subscribers: Vec::new(),
            next_stamp: 1,
            refused: 0,
            created: 0,
            deleted: 0,
            dropped: 0,
        }
    }

    /// The record of a live protocol slot.
    pub(crate) fn proto(&self, slot: u32) -> &ProtocolRec<A> {
        self.protocols[slot as usize]
            .as_ref()
            .expect("a checked handle names a live slot")
    }

    pub(crate) fn proto_mut(&mut self, slot: u32) -> &mut ProtocolRec<A> {
        self.protocols[slot as usize]
            .as_mut()
            .expect("a checked handle names a live slot")
    }

    /// Live protocols in registration order.
    pub(crate) fn registered(&self) -> impl Iterator<Item = u32> + '_ {
        self.reg_order.values().copied()
    }

    /// The routing owner of an interface, if any.
    pub(crate) fn owner_of(&self, k: IfKey<A>) -> Option<u32> {
        self.ifaces.get(&k).and_then(|i| i.owner)
    }

    /// (protocol id, component id) of a slot.
    pub(crate) fn ids(&self, slot: u32) -> (u32, u32) {
        let p = self.proto(slot);
        (p.id, p.component)
    }

    /// The routing owner of the interface toward `source`, from the RIB.
    pub(crate) fn owner_toward(&self, source: A) -> Option<u32> {
        self.rib.lookup(source).and_then(|r| self.owner_of(r.iif))
    }

    /// Sends what an operation produced: one batch per protocol, then one to each subscriber.
    pub(crate) fn flush(&mut self, out: Outbox<A>) -> Vec<TimeoutAsk<A>> {
        let mut batches: Vec<(u32, Vec<Event<A>>)> = Vec::new();
        for (to, ev) in out.events {
            match batches.iter_mut().find(|(s, _)| *s == to) {
                Some((_, v)) => v.push(ev),
                None => batches.push((to, vec![ev])),
            }
        }
        let mut dropped = 0u64;
        for (to, batch) in batches {
            if let Some(p) = self.protocols[to as usize].as_ref() {
                // A receiver that was dropped just loses its own events.
                dropped = dropped.saturating_add(p.tx.send(batch).unwrap_or(0));
            }
        }
        if !out.south.is_empty() {
            self.subscribers
                .retain(|tx| match tx.send(out.south.clone()) {
                    Ok(n) => {
                        dropped = dropped.saturating_add(n);
                        true
                    }
                    Err(_) => false,
                });
        }
        self.dropped = self.dropped.saturating_add(dropped);
        out.asks
    }

    /// Entries matched by a selector, in (group, source) order. An (S,G) selector gives its
    /// one key without looking it up: every caller looks the record up next and skips a key
    /// with no entry, so a second lookup of the same key is saved.
    pub(crate) fn matched(&self, sel: Selector<A>) -> Matched<A> {
        match sel {
            Selector::Source { source, group } => Matched::One(Some(Sg::new(source, group))),
            Selector::Group(group) => {
                Matched::Many(self.mfes.group(group).collect::<Vec<_>>().into_iter())
            }
            Selector::AllGroups => Matched::Many(self.mfes.keys().collect::<Vec<_>>().into_iter()),
        }
    }

    /// Snapshot of the membership selectors for a group enumeration (G-14).
    pub(crate) fn enumeration_snapshot(&self, kind: EnumKind) -> Vec<Selector<A>> {
        let mut set: BTreeSet<Selector<A>> = BTreeSet::new();
        for sel in self.members.keys() {
            set.insert(match (kind, *sel) {
                (EnumKind::AnySource, Selector::Source { group, .. }) => Selector::Group(group),
                (_, s) => s,
            });
        }
        set.into_iter().collect()
    }

    /// Adds or replaces a RIB route, deleting the entries whose RPF it changes (spec 6.16).
    pub(crate) fn add_route(&mut self, route: Route<A>, out: &mut Outbox<A>) -> Result<()> {
        self.rib.add(route)?;
        self.revisit_routes(&route, out);
        Ok(())
    }

    /// Removes a RIB route, deleting the entries that used it.
    pub(crate) fn remove_route(&mut self, prefix: A, len: u8, out: &mut Outbox<A>) -> Result<()> {
        let old = self.rib.remove(prefix, len)?;
        self.revisit_routes(&old, out);
        Ok(())
    }

    /// Deletes every entry whose source the changed prefix covers and whose best route is no
    /// longer the one it was built from.
    fn revisit_routes(&mut self, changed: &Route<A>, out: &mut Outbox<A>) {
        let stale: Vec<Sg<A>> = self
            .mfes
            .iter()
            .filter(|(sg, rec)| {
                changed.contains(sg.source)
                    && self
                        .rib
                        .lookup(sg.source)
                        .map(|r| (r.prefix, r.len, r.iif, r.upstream))
                        != rec.route.map(|r| (r.prefix, r.len, r.iif, r.upstream))
            })
            .map(|(sg, _)| sg)
            .collect();
        for sg in stale {
            self.delete_mfe(sg, crate::protocol::DeleteReason::RouteChanged, out, true);
        }
    }

    /// The caller may change memberships on `k`: it is the routing owner, or it is the IGMP
    /// present there (G-10).
    pub(crate) fn check_member_rights(&self, slot: u32, k: IfKey<A>) -> Result<()> {
        let rec = self
            .ifaces
            .get(&k)
            .ok_or(Error::UnknownInterface { interface: k.id() })?;
        if rec.owner == Some(slot) || rec.igmp == Some(slot) {
            Ok(())
        } else {
            Err(Error::NotOwner {
                interface: k.id(),
                reason: "the caller neither owns it nor is the IGMP present on it",
            })
        }
    }
}
