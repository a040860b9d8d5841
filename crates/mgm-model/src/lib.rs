//! A plain sequential reference model of the MGM semantics, written from
//! `shared/spec/engine.md` (sections 3-5 and 8), `mgm-behaviour.md` (sections 6 and 11) and the
//! crate docs' "Decisions" — not from `src/control/`. Ordered maps, no concurrency, every
//! derived fact (outgoing lists, alert recipients) recomputed from scratch when needed.
//!
//! [`harness`] drives the engine and this model with the same operations ([`ops::Op`]) and
//! compares every return value, every event and hook call each protocol receives, and the
//! whole table after each step. This crate is the one copy, shared by `tests/model_check.rs`
//! (proptest) and the cargo-fuzz targets in `fuzz/`; [`common`] holds the helpers the
//! integration tests share (addresses, recording hooks, the per-family test macro).
//!
//! What the model decides where the documents leave a choice to the engine (each one a
//! documented decision of the crate, restated here in the model's words):
//!
//! * Validation order: handle, then arguments, then "stopped", then state.
//! * Events of one operation, in order (G-28): local join/leave to the interface owner, then
//!   membership-driven (TRUE) alerts in registration order, then the FALSE alerts of every
//!   entry whose outgoing list turned empty / non-empty, in (group, source) order.
//! * Release by the routing owner (G-8 as engine.md decides it): disable IGMP; entries whose
//!   incoming interface it is are deleted (MfeDeleted to the releaser) in (group, source) order;
//!   the releaser's memberships there are deleted one by one in selector order as join-state
//!   deletes; the interface loses its owner and every forward-state/veto mark on other entries;
//!   outgoing lists are recomputed (IGMP memberships may keep the interface); enable IGMP.
//! * A routing protocol taking an interface where IGMP is present: disable, owner set, one
//!   local join per IGMP membership there (selector order), enable. Lists do not change.
//! * A route change deletes every entry whose source the changed prefix covers and whose best
//!   route's RPF fields (prefix, length, interface, upstream) differ from the ones it was built
//!   from (an entry built without a route differs from any route).
//! * Counters: packets, octets, negative and wrong-interface drops per entry from its
//!   creation; a per-OIF packet counter only while the interface stays on the list.
#![allow(clippy::type_complexity)]

pub mod common;
pub mod harness;
pub mod ops;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Addrs, Call};
use mgm::{
    CreationEntry, DeleteReason, EnumKind, Event, Family, HandleKind, IfKey, Mfe, MissOutcome,
    Route, RpfDecision, RpfQuery, Selector, Sg,
};

/// An error as the model predicts it: the variant and the facts that matter, without the
/// engine's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ME {
    InvalidHandle(HandleKind),
    InvalidGroup,
    InvalidSource,
    InvalidFlags,
    NotOwner,
    NotIifOwner,
    AlreadyRegistered,
    InterfaceTaken { owner: u32 },
    UnknownInterface,
    NoSuchMfe,
    NoSuchRoute,
    InvalidPrefix,
    MulticastRoute,
    StillOwnsInterfaces { count: usize },
    TableFull,
    OutOfRange,
    Stopped,
    Other(String),
}

impl ME {
    /// The engine's error, reduced to what the model predicts.
    pub fn of(e: &mgm::Error) -> ME {
        use mgm::Error as E;
        match e {
            E::InvalidHandle { kind, .. } => ME::InvalidHandle(*kind),
            E::InvalidGroup { .. } => ME::InvalidGroup,
            E::InvalidSource { .. } => ME::InvalidSource,
            E::InvalidFlags { .. } => ME::InvalidFlags,
            E::NotOwner { .. } => ME::NotOwner,
            E::NotIifOwner { .. } => ME::NotIifOwner,
            E::AlreadyRegistered { .. } => ME::AlreadyRegistered,
            E::InterfaceTaken { owner, .. } => ME::InterfaceTaken { owner: *owner },
            E::UnknownInterface { .. } => ME::UnknownInterface,
            E::NoSuchMfe { .. } => ME::NoSuchMfe,
            E::NoSuchRoute { .. } => ME::NoSuchRoute,
            E::InvalidPrefix { .. } => ME::InvalidPrefix,
            E::MulticastRoute { .. } => ME::MulticastRoute,
            E::StillOwnsInterfaces { count } => ME::StillOwnsInterfaces { count: *count },
            E::TableFull { .. } => ME::TableFull,
            E::OutOfRange { .. } => ME::OutOfRange,
            E::Stopped => ME::Stopped,
            other => ME::Other(format!("{other:?}")),
        }
    }
}

pub type MResult<T> = Result<T, ME>;

/// Engine settings the model needs.
#[derive(Clone, Copy, Debug)]
pub struct MConfig {
    pub max_mfes: usize,
    pub max_protocols: usize,
    pub max_enumerations: usize,
    pub default_timeout: Option<Duration>,
    pub refresh_on_traffic: bool,
    pub wrong_if_interval: Option<Duration>,
}

/// How a protocol's recording hooks answer (mirrors `common::TestHooks`' settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookAnswers<A> {
    pub veto: Vec<IfKey<A>>,
    pub rpf: Option<RpfDecision<A>>,
    pub timeout: Option<Option<Duration>>,
}

/// A registration (live or not).
pub struct MProto<A> {
    pub id: u32,
    pub component: u32,
    pub igmp: bool,
    pub live: bool,
    pub answers: HookAnswers<A>,
    /// Events the protocol should have received, not yet compared.
    pub events: Vec<Event<A>>,
    /// Hook calls it should have seen, not yet compared.
    pub calls: Vec<Call<A>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MIface {
    pub owner: Option<usize>,
    pub igmp: Option<usize>,
}

/// A forwarding entry.
#[derive(Clone, Debug)]
pub struct MMfe<A> {
    pub iif: IfKey<A>,
    pub upstream: A,
    pub route: Option<Route<A>>,
    pub created: u64,
    pub timeout: Option<u64>,
    pub deadline: Option<u64>,
    /// Forward-state marks: put on (true) or taken off (false) by FORWARD adds/deletes.
    pub forward: BTreeMap<IfKey<A>, bool>,
    /// Interfaces a creation alert disabled.
    pub vetoed: BTreeSet<IfKey<A>>,
    /// The outgoing list as of the last settle.
    pub oifs: Vec<IfKey<A>>,
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
    pub negative: u64,
    pub out: BTreeMap<IfKey<A>, u64>,
    /// Packets seen at the last refresh-on-traffic check.
    pub seen_packets: u64,
}

pub struct MEnum<A> {
    pub owner: usize,
    pub items: Vec<Selector<A>>,
    pub pos: usize,
    pub live: bool,
}

/// Per-entry statistics as the model predicts them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MStats<A> {
    pub mfe: Mfe<A>,
    pub in_packets: u64,
    pub in_octets: u64,
    pub different_if: u64,
    pub negative: u64,
    pub out: Vec<(IfKey<A>, u64)>,
}

/// What a lookup says, without borrows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MVerdict<A> {
    Forward(Vec<IfKey<A>>),
    WrongInterface(IfKey<A>),
    Negative,
    Miss,
}

pub struct Model<A: Family> {
    pub cfg: MConfig,
    pub now: u64,
    pub stopped: bool,
    pub protos: Vec<MProto<A>>,
    pub ifaces: BTreeMap<IfKey<A>, MIface>,
    /// (interface, selector, registration)
    pub members: BTreeSet<(IfKey<A>, Selector<A>, usize)>,
    pub mfes: BTreeMap<Sg<A>, MMfe<A>>,
    pub routes: Vec<Route<A>>,
    pub enums: Vec<MEnum<A>>,
    pub wrong_if_last: BTreeMap<(Sg<A>, IfKey<A>), u64>,
    pub refused: u64,
    pub created: u64,
    pub deleted: u64,
    pub notified: u64,
    pub suppressed: u64,
    pub misses: u64,
    /// Lifetime questions of the current operation: (entry, who is asked).
    asks: Vec<(Sg<A>, usize)>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// True when `addr` lies in `prefix/len`.
pub fn covers<A: Family>(prefix: A, len: u8, addr: A) -> bool {
    if len == 0 {
        return true;
    }
    let shift = A::BITS - u32::from(len);
    addr.to_bits() >> shift == prefix.to_bits() >> shift
}

/// A prefix no longer than the address with no host bits.
pub fn prefix_ok<A: Family>(prefix: A, len: u8) -> bool {
    let len = u32::from(len);
    if len > A::BITS {
        return false;
    }
    if len == 0 {
        return prefix.to_bits() == 0;
    }
    let host = A::BITS - len;
    host == 0 || prefix.to_bits() & ((1u128 << host) - 1) == 0
}

fn selects<A: Family>(sel: &Selector<A>, sg: Sg<A>) -> bool {
    match *sel {
        Selector::AllGroups => true,
        Selector::Group(g) => g == sg.group,
        Selector::Source { source, group } => source == sg.source && group == sg.group,
    }
}

fn check_sel<A: Family>(sel: &Selector<A>) -> MResult<()> {
    match *sel {
        Selector::AllGroups => Ok(()),
        Selector::Group(g) => group_ok(g),
        Selector::Source { source, group } => {
            group_ok(group)?;
            source_ok(source)
        }
    }
}

fn group_ok<A: Family>(g: A) -> MResult<()> {
    let ip: std::net::IpAddr = g.into();
    if ip.is_multicast() {
        Ok(())
    } else {
        Err(ME::InvalidGroup)
    }
}

/// True when every address of the prefix is multicast (at least the multicast bits, 4 for
/// IPv4 and 8 for IPv6, are fixed, and they say multicast), or, for IPv4, the prefix is
/// 224.0.0.0/3: multicast and the reserved class E, no source in it.
fn within_multicast<A: Family>(prefix: A, len: u8) -> bool {
    let ip: std::net::IpAddr = prefix.into();
    let (fixed, no_source_3) = match ip {
        std::net::IpAddr::V4(v4) => (4, len == 3 && v4.octets()[0] == 224),
        std::net::IpAddr::V6(_) => (8, false),
    };
    (len >= fixed && ip.is_multicast()) || no_source_3
}

fn source_ok<A: Family>(s: A) -> MResult<()> {
    let ip: std::net::IpAddr = s.into();
    // Multicast, unspecified, loopback, and IPv4's reserved 240.0.0.0/4 (broadcast included).
    let bad = ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_loopback()
        || matches!(ip, std::net::IpAddr::V4(v4) if v4.octets()[0] >= 240);
    if bad {
        Err(ME::InvalidSource)
    } else {
        Ok(())
    }
}

impl<A: Addrs> Model<A> {
    pub fn new(cfg: MConfig) -> Self {
        Model {
            cfg,
            now: 0,
            stopped: false,
            protos: Vec::new(),
            ifaces: BTreeMap::new(),
            members: BTreeSet::new(),
            mfes: BTreeMap::new(),
            routes: Vec::new(),
            enums: Vec::new(),
            wrong_if_last: BTreeMap::new(),
            refused: 0,
            created: 0,
            deleted: 0,
            notified: 0,
            suppressed: 0,
            misses: 0,
            asks: Vec::new(),
        }
    }

    fn running(&self) -> MResult<()> {
        if self.stopped {
            Err(ME::Stopped)
        } else {
            Ok(())
        }
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.protos.len()).filter(|p| self.protos[*p].live)
    }

    fn handle(&self, p: Option<usize>) -> MResult<usize> {
        p.filter(|p| self.protos[*p].live)
            .ok_or(ME::InvalidHandle(HandleKind::Protocol))
    }

    fn send(&mut self, to: usize, e: Event<A>) {
        self.protos[to].events.push(e);
    }

    pub fn ids(&self, p: usize) -> (u32, u32) {
        (self.protos[p].id, self.protos[p].component)
    }

    /// The routing owner of an interface (not IGMP).
    pub fn owner(&self, k: IfKey<A>) -> Option<usize> {
        self.ifaces.get(&k).and_then(|i| i.owner)
    }

    /// The most specific route covering `addr`.
    pub fn best_route(&self, addr: A) -> Option<Route<A>> {
        self.routes
            .iter()
            .filter(|r| covers(r.prefix, r.len, addr))
            .max_by_key(|r| r.len)
            .copied()
    }

    fn owner_toward(&self, source: A) -> Option<usize> {
        self.best_route(source).and_then(|r| self.owner(r.iif))
    }

    /// Distinct registrations holding `sel` on some interface.
    fn clients(&self, sel: Selector<A>) -> BTreeSet<usize> {
        self.members
            .iter()
            .filter(|(_, s, _)| *s == sel)
            .map(|(_, _, p)| *p)
            .collect()
    }

    fn has_member(&self, k: IfKey<A>, sg: Sg<A>) -> bool {
        self.members
            .iter()
            .any(|(m, sel, _)| *m == k && selects(sel, sg))
    }

    /// G-21: the outgoing list an entry should have now.
    fn wanted_oifs(&self, sg: Sg<A>, m: &MMfe<A>) -> Vec<IfKey<A>> {
        if m.route.is_none() {
            // G-24 as the crate decides it: built without a route, negative for life.
            return Vec::new();
        }
        let mut keys: BTreeSet<IfKey<A>> = self
            .members
            .iter()
            .filter(|(_, sel, _)| selects(sel, sg))
            .map(|(k, _, _)| *k)
            .collect();
        keys.extend(m.forward.keys().copied());
        keys.into_iter()
            .filter(|k| *k != m.iif)
            .filter(|k| match m.forward.get(k) {
                Some(f) => *f,
                None => !m.vetoed.contains(k) && self.has_member(*k, sg),
            })
            .collect()
    }

    /// Recomputes every outgoing list; the owner of the incoming interface hears each
    /// empty/non-empty transition (G-22), in (group, source) order.
    fn settle(&mut self) {
        let keys: Vec<Sg<A>> = self.mfes.keys().copied().collect();
        for sg in keys {
            let want = self.wanted_oifs(sg, &self.mfes[&sg]);
            let m = self.mfes.get_mut(&sg).unwrap();
            if want == m.oifs {
                continue;
            }
            let was_empty = m.oifs.is_empty();
            m.oifs = want;
            // An OIF's packet counter counts while it is on the list (engine docs of the
            // forwarding store: a returning OIF takes a fresh counter).
            let oifs = m.oifs.clone();
            m.out.retain(|k, _| oifs.contains(k));
            let now_empty = m.oifs.is_empty();
            if was_empty != now_empty {
                self.false_alert(sg, now_empty);
            }
        }
    }

    fn false_alert(&mut self, sg: Sg<A>, empty: bool) {
        let iif = self.mfes[&sg].iif;
        let Some(o) = self.owner(iif) else { return };
        let selector = Selector::sg(sg);
        if empty {
            self.send(
                o,
                Event::PruneAlert {
                    selector,
                    interface: iif,
                    member_delete: false,
                },
            );
            self.asks.push((sg, o));
        } else {
            self.send(
                o,
                Event::JoinAlert {
                    selector,
                    member_update: false,
                },
            );
        }
    }

    /// After an operation: each owner asked about an entry that turned negative answers with
    /// its lifetime, which replaces the old one and restarts the countdown (G-17).
    fn answer_asks(&mut self) {
        for (sg, o) in std::mem::take(&mut self.asks) {
            let Some(m) = self.mfes.get(&sg) else {
                continue;
            };
            let proposed = m.timeout.map(Duration::from_millis);
            let iif = m.iif;
            self.protos[o]
                .calls
                .push(Call::Timeout { sg, iif, proposed });
            let t = self.protos[o].answers.timeout.unwrap_or(proposed);
            let t = t.filter(|d| !d.is_zero()).map(ms);
            let now = self.now;
            let m = self.mfes.get_mut(&sg).unwrap();
            m.timeout = t;
            m.deadline = t.map(|t| now.saturating_add(t));
        }
    }

    fn delete_entry(&mut self, sg: Sg<A>, reason: DeleteReason) {
        let Some(m) = self.mfes.remove(&sg) else {
            return;
        };
        self.deleted += 1;
        if let Some(o) = self.owner(m.iif) {
            self.send(
                o,
                Event::MfeDeleted {
                    sg,
                    iif: m.iif,
                    reason,
                },
            );
        }
    }

    pub fn snapshot(&self, sg: Sg<A>) -> Mfe<A> {
        let m = &self.mfes[&sg];
        Mfe {
            source: sg.source,
            group: sg.group,
            upstream: m.upstream,
            iif: m.iif,
            iif_protocol: self.owner(m.iif).map(|o| self.ids(o)),
            route: m.route,
            up_time: Duration::from_millis(self.now.saturating_sub(m.created)),
            expiry: m
                .deadline
                .map(|d| Duration::from_millis(d.saturating_sub(self.now))),
            timeout: m.timeout.map(Duration::from_millis),
            oifs: m.oifs.clone(),
        }
    }

    pub fn stats(&self, sg: Sg<A>) -> MStats<A> {
        let m = &self.mfes[&sg];
        MStats {
            mfe: self.snapshot(sg),
            in_packets: m.packets,
            in_octets: m.bytes,
            different_if: m.wrong_if,
            negative: m.negative,
            out: m
                .oifs
                .iter()
                .map(|k| (*k, m.out.get(k).copied().unwrap_or(0)))
                .collect(),
        }
    }

    // ---- registration ----

    pub fn register(&mut self, id: u32, component: u32, answers: HookAnswers<A>) -> MResult<usize> {
        self.running()?;
        if self
            .live()
            .any(|p| self.protos[p].id == id && self.protos[p].component == component)
        {
            return Err(ME::AlreadyRegistered);
        }
        if self.live().count() >= self.cfg.max_protocols {
            return Err(ME::OutOfRange);
        }
        self.protos.push(MProto {
            id,
            component,
            igmp: id >> 30 == 1 && id & 0xffff == 10,
            live: true,
            answers,
            events: Vec::new(),
            calls: Vec::new(),
        });
        Ok(self.protos.len() - 1)
    }

    fn owned(&self, p: usize) -> usize {
        self.ifaces
            .values()
            .filter(|i| i.owner == Some(p) || i.igmp == Some(p))
            .count()
    }

    pub fn deregister(&mut self, p: Option<usize>) -> MResult<()> {
        let p = self.handle(p)?;
        self.running()?;
        let count = self.owned(p);
        if count > 0 {
            return Err(ME::StillOwnsInterfaces { count });
        }
        self.protos[p].live = false;
        for e in self.enums.iter_mut().filter(|e| e.owner == p) {
            e.live = false;
        }
        Ok(())
    }

    // ---- ownership ----

    pub fn take(&mut self, p: Option<usize>, k: IfKey<A>) -> MResult<()> {
        let p = self.handle(p)?;
        self.running()?;
        let rec = self.ifaces.get(&k).copied().unwrap_or_default();
        if self.protos[p].igmp {
            if let Some(by) = rec.igmp {
                return Err(ME::InterfaceTaken {
                    owner: self.protos[by].id,
                });
            }
            self.ifaces.entry(k).or_default().igmp = Some(p);
            return Ok(());
        }
        if let Some(by) = rec.owner {
            return Err(ME::InterfaceTaken {
                owner: self.protos[by].id,
            });
        }
        match rec.igmp {
            None => self.ifaces.entry(k).or_default().owner = Some(p),
            Some(i) => {
                self.send(i, Event::DisableIgmp { interface: k });
                self.ifaces.entry(k).or_default().owner = Some(p);
                let igmp_sels: Vec<Selector<A>> = self
                    .members
                    .iter()
                    .filter(|(m, _, q)| *m == k && *q == i)
                    .map(|(_, s, _)| *s)
                    .collect();
                for selector in igmp_sels {
                    self.send(
                        p,
                        Event::LocalJoin {
                            selector,
                            interface: k,
                        },
                    );
                }
                self.send(i, Event::EnableIgmp { interface: k });
            }
        }
        Ok(())
    }

    pub fn release(&mut self, p: Option<usize>, k: IfKey<A>) -> MResult<()> {
        let p = self.handle(p)?;
        self.running()?;
        let Some(rec) = self.ifaces.get(&k).copied() else {
            return Err(ME::NotOwner);
        };
        if rec.owner == Some(p) {
            if let Some(i) = rec.igmp {
                self.send(i, Event::DisableIgmp { interface: k });
            }
            let gone: Vec<Sg<A>> = self
                .mfes
                .iter()
                .filter(|(_, m)| m.iif == k)
                .map(|(sg, _)| *sg)
                .collect();
            for sg in gone {
                self.delete_entry(sg, DeleteReason::InterfaceReleased);
            }
            for sel in self.sels_of(p, k) {
                self.leave(p, k, sel);
            }
            self.ifaces.get_mut(&k).unwrap().owner = None;
            for m in self.mfes.values_mut() {
                m.forward.remove(&k);
                m.vetoed.remove(&k);
            }
            self.settle();
            if let Some(i) = rec.igmp {
                self.send(i, Event::EnableIgmp { interface: k });
            }
        } else if rec.igmp == Some(p) {
            for sel in self.sels_of(p, k) {
                self.leave(p, k, sel);
            }
            self.ifaces.get_mut(&k).unwrap().igmp = None;
        } else {
            return Err(ME::NotOwner);
        }
        if self.ifaces[&k] == MIface::default() {
            self.ifaces.remove(&k);
        }
        self.answer_asks();
        Ok(())
    }

    fn sels_of(&self, p: usize, k: IfKey<A>) -> Vec<Selector<A>> {
        self.members
            .iter()
            .filter(|(m, _, q)| *m == k && *q == p)
            .map(|(_, s, _)| *s)
            .collect()
    }

    pub fn protocol_on(&self, k: IfKey<A>) -> MResult<(u32, u32)> {
        self.running()?;
        let rec = self.ifaces.get(&k).ok_or(ME::UnknownInterface)?;
        Ok(self.ids(rec.owner.or(rec.igmp).unwrap()))
    }

    // ---- memberships ----

    fn membership_checks(
        &self,
        p: Option<usize>,
        sel: Selector<A>,
        join: bool,
        forward: bool,
        k: IfKey<A>,
    ) -> MResult<usize> {
        let p = self.handle(p)?;
        check_sel(&sel)?;
        if forward && !join && !matches!(sel, Selector::Source { .. }) {
            return Err(ME::InvalidFlags);
        }
        self.running()?;
        let rec = self.ifaces.get(&k).ok_or(ME::UnknownInterface)?;
        if rec.owner != Some(p) && rec.igmp != Some(p) {
            return Err(ME::NotOwner);
        }
        Ok(p)
    }

    pub fn add(
        &mut self,
        p: Option<usize>,
        sel: Selector<A>,
        k: IfKey<A>,
        join: bool,
        forward: bool,
    ) -> MResult<()> {
        let p = self.membership_checks(p, sel, join, forward, k)?;
        if join {
            self.join(p, k, sel);
        }
        if let (true, Selector::Source { source, group }) = (forward, sel) {
            self.mark_forward(Sg::new(source, group), k, true);
        }
        self.answer_asks();
        Ok(())
    }

    pub fn delete(
        &mut self,
        p: Option<usize>,
        sel: Selector<A>,
        k: IfKey<A>,
        join: bool,
        forward: bool,
    ) -> MResult<()> {
        let p = self.membership_checks(p, sel, join, forward, k)?;
        if join {
            self.leave(p, k, sel);
        }
        if let (true, Selector::Source { source, group }) = (forward, sel) {
            self.mark_forward(Sg::new(source, group), k, false);
        }
        self.answer_asks();
        Ok(())
    }

    fn mark_forward(&mut self, sg: Sg<A>, k: IfKey<A>, on: bool) {
        if let Some(m) = self.mfes.get_mut(&sg) {
            m.forward.insert(k, on);
            self.settle();
        }
    }

    /// Spec 6.9 B with G-11, G-13, G-30, G-31.
    fn join(&mut self, p: usize, k: IfKey<A>, sel: Selector<A>) {
        if self.members.contains(&(k, sel, p)) {
            return;
        }
        if self.protos[p].igmp {
            if let Some(o) = self.owner(k) {
                self.send(
                    o,
                    Event::LocalJoin {
                        selector: sel,
                        interface: k,
                    },
                );
            }
        }
        let before = self.clients(sel);
        self.members.insert((k, sel, p));
        if !before.contains(&p) {
            let alert = Event::JoinAlert {
                selector: sel,
                member_update: true,
            };
            // `p` joins the holders `before`.
            self.alert_holders(p, sel, &before, alert);
        }
        self.settle();
    }

    /// The alert of spec 6.17 when protocol `p` becomes or stops being a holder of `sel`;
    /// `others` are the holders other than `p` (before a join, after a leave). An (S,G) alert
    /// goes to the owner toward S when no one else holds it; a wildcard one to every other
    /// protocol when no one else holds it, or to the one other holder.
    fn alert_holders(
        &mut self,
        p: usize,
        sel: Selector<A>,
        others: &BTreeSet<usize>,
        alert: Event<A>,
    ) {
        match sel {
            Selector::Source { source, .. } => {
                if others.is_empty() {
                    if let Some(o) = self.owner_toward(source).filter(|o| *o != p) {
                        self.send(o, alert);
                    }
                }
            }
            _ => match others.len() {
                0 => {
                    let rest: Vec<usize> = self.live().filter(|q| *q != p).collect();
                    for q in rest {
                        self.send(q, alert);
                    }
                }
                1 => {
                    let only = *others.iter().next().unwrap();
                    self.send(only, alert);
                }
                _ => {}
            },
        }
    }

    /// Spec 6.10 B with G-11, G-13, G-23, G-31.
    fn leave(&mut self, p: usize, k: IfKey<A>, sel: Selector<A>) {
        if !self.members.remove(&(k, sel, p)) {
            return;
        }
        if self.protos[p].igmp {
            if let Some(o) = self.owner(k) {
                self.send(
                    o,
                    Event::LocalLeave {
                        selector: sel,
                        interface: k,
                    },
                );
            }
        }
        let after = self.clients(sel);
        if !after.contains(&p) {
            let alert = Event::PruneAlert {
                selector: sel,
                interface: k,
                member_delete: true,
            };
            // `p` leaves the holders `after`.
            self.alert_holders(p, sel, &after, alert);
        }
        self.settle();
    }

    // ---- entries ----

    /// Spec 6.11 with G-19 (sequential: never pending), G-24, G-36.
    pub fn new_packet(&mut self, arrival: IfKey<A>, s: A, g: A) -> MResult<MissOutcome<A>> {
        source_ok(s)?;
        group_ok(g)?;
        self.running()?;
        let sg = Sg::new(s, g);
        if self.mfes.contains_key(&sg) {
            return Ok(MissOutcome::Exists(self.snapshot(sg)));
        }
        if self.mfes.len() >= self.cfg.max_mfes {
            self.refused += 1;
            return Err(ME::TableFull);
        }
        let (iif, upstream, route, vetoed) = match self.best_route(s) {
            None => (arrival, A::UNSPECIFIED, None, BTreeSet::new()),
            Some(route) => {
                let mut decision = RpfDecision {
                    iif: route.iif,
                    upstream: route.upstream,
                };
                if let Some(o) = self.owner(route.iif) {
                    let q = RpfQuery {
                        sg,
                        arrival,
                        iif: route.iif,
                        upstream: route.upstream,
                        route,
                    };
                    self.protos[o].calls.push(Call::Rpf(q));
                    if let Some(d) = self.protos[o].answers.rpf {
                        decision = d;
                    }
                }
                // Candidates: every interface with a matching membership but the incoming
                // one; each asked of its routing owner, else of its IGMP; protocols in
                // registration order, interfaces in key order.
                let cands: BTreeSet<IfKey<A>> = self
                    .members
                    .iter()
                    .filter(|(k, sel, _)| *k != decision.iif && selects(sel, sg))
                    .map(|(k, _, _)| *k)
                    .collect();
                let mut by: BTreeMap<usize, Vec<CreationEntry<A>>> = BTreeMap::new();
                for k in cands {
                    let rec = self.ifaces.get(&k).copied().unwrap_or_default();
                    if let Some(asked) = rec.owner.or(rec.igmp) {
                        by.entry(asked).or_default().push(CreationEntry {
                            interface: k,
                            igmp: rec.igmp.is_some(),
                            enabled: true,
                        });
                    }
                }
                let mut vetoed = BTreeSet::new();
                for (asked, entries) in by {
                    let veto = self.protos[asked].answers.veto.clone();
                    self.protos[asked].calls.push(Call::Creation {
                        sg,
                        iif: decision.iif,
                        entries: entries.clone(),
                    });
                    vetoed.extend(
                        entries
                            .iter()
                            .map(|e| e.interface)
                            .filter(|k| veto.contains(k)),
                    );
                }
                (decision.iif, decision.upstream, Some(route), vetoed)
            }
        };
        let timeout = self.cfg.default_timeout.filter(|d| !d.is_zero()).map(ms);
        let mut m = MMfe {
            iif,
            upstream,
            route,
            created: self.now,
            timeout,
            deadline: timeout.map(|t| self.now + t),
            forward: BTreeMap::new(),
            vetoed,
            oifs: Vec::new(),
            packets: 0,
            bytes: 0,
            wrong_if: 0,
            negative: 0,
            out: BTreeMap::new(),
            seen_packets: 0,
        };
        m.oifs = self.wanted_oifs(sg, &m);
        let empty = m.oifs.is_empty();
        self.mfes.insert(sg, m);
        self.created += 1;
        if route.is_some() {
            self.false_alert(sg, empty);
        }
        self.answer_asks();
        Ok(MissOutcome::Created(self.snapshot(sg)))
    }

    pub fn report_wrong_interface(&mut self, arrival: IfKey<A>, s: A, g: A) -> MResult<bool> {
        source_ok(s)?;
        group_ok(g)?;
        self.running()?;
        let Some(interval) = self.cfg.wrong_if_interval.map(ms) else {
            return Ok(false);
        };
        let sg = Sg::new(s, g);
        if let Some(last) = self.wrong_if_last.get(&(sg, arrival)) {
            if self.now.saturating_sub(*last) < interval {
                self.suppressed += 1;
                return Ok(false);
            }
        }
        let to = self
            .mfes
            .get(&sg)
            .filter(|m| m.iif != arrival)
            .and_then(|_| self.owner(arrival));
        let Some(o) = to else { return Ok(false) };
        self.wrong_if_last.insert((sg, arrival), self.now);
        self.send(
            o,
            Event::WrongInterface {
                source: s,
                group: g,
                interface: arrival,
            },
        );
        self.notified += 1;
        Ok(true)
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += ms(by);
    }

    pub fn run_timers(&mut self) -> MResult<usize> {
        self.running()?;
        let now = self.now;
        let mut due: Vec<(u64, Sg<A>)> = self
            .mfes
            .iter()
            .filter_map(|(sg, m)| m.deadline.filter(|d| *d <= now).map(|d| (d, *sg)))
            .collect();
        due.sort();
        let mut n = 0;
        for (_, sg) in due {
            let m = self.mfes.get_mut(&sg).unwrap();
            if self.cfg.refresh_on_traffic && m.packets > m.seen_packets {
                m.seen_packets = m.packets;
                m.deadline = m.timeout.map(|t| now.saturating_add(t));
                continue;
            }
            self.delete_entry(sg, DeleteReason::Expired);
            n += 1;
        }
        Ok(n)
    }

    pub fn mfe(&self, s: A, g: A) -> MResult<Mfe<A>> {
        source_ok(s)?;
        group_ok(g)?;
        self.running()?;
        let sg = Sg::new(s, g);
        if !self.mfes.contains_key(&sg) {
            return Err(ME::NoSuchMfe);
        }
        Ok(self.snapshot(sg))
    }

    pub fn mfe_stats(&self, s: A, g: A) -> MResult<MStats<A>> {
        self.mfe(s, g)?;
        Ok(self.stats(Sg::new(s, g)))
    }

    /// The keys of a walk page after `after`, and whether more follow.
    pub fn walk(&self, after: Option<Sg<A>>, max: usize) -> MResult<(Vec<Sg<A>>, bool)> {
        self.running()?;
        if max == 0 {
            return Err(ME::OutOfRange);
        }
        let keys: Vec<Sg<A>> = self
            .mfes
            .keys()
            .filter(|k| match after {
                Some(a) => **k > a,
                None => true,
            })
            .copied()
            .collect();
        let more = keys.len() > max;
        Ok((keys.into_iter().take(max).collect(), more))
    }

    pub fn set_mfe(&mut self, p: Option<usize>, s: A, g: A, upstream: A) -> MResult<()> {
        let p = self.handle(p)?;
        source_ok(s)?;
        group_ok(g)?;
        self.running()?;
        let sg = Sg::new(s, g);
        let iif = self.mfes.get(&sg).ok_or(ME::NoSuchMfe)?.iif;
        if self.owner(iif) != Some(p) {
            return Err(ME::NotIifOwner);
        }
        self.mfes.get_mut(&sg).unwrap().upstream = upstream;
        Ok(())
    }

    // ---- enumerations (G-14, G-26) ----

    pub fn enum_start(&mut self, p: Option<usize>, kind: EnumKind) -> MResult<usize> {
        let p = self.handle(p)?;
        self.running()?;
        if self.enums.iter().filter(|e| e.live).count() >= self.cfg.max_enumerations {
            return Err(ME::OutOfRange);
        }
        let items: BTreeSet<Selector<A>> = self
            .members
            .iter()
            .map(|(_, sel, _)| match (kind, *sel) {
                (EnumKind::AnySource, Selector::Source { group, .. }) => Selector::Group(group),
                (_, s) => s,
            })
            .collect();
        self.enums.push(MEnum {
            owner: p,
            items: items.into_iter().collect(),
            pos: 0,
            live: true,
        });
        Ok(self.enums.len() - 1)
    }

    fn enum_handle(&self, e: Option<usize>) -> MResult<usize> {
        e.filter(|e| self.enums[*e].live)
            .ok_or(ME::InvalidHandle(HandleKind::Enumeration))
    }

    pub fn enum_next(&mut self, e: Option<usize>, max: usize) -> MResult<(Vec<Selector<A>>, bool)> {
        let e = self.enum_handle(e)?;
        if max == 0 {
            return Err(ME::OutOfRange);
        }
        self.running()?;
        let en = &mut self.enums[e];
        let end = (en.pos + max).min(en.items.len());
        let items = en.items[en.pos..end].to_vec();
        en.pos = end;
        Ok((items, end < en.items.len()))
    }

    pub fn enum_end(&mut self, e: Option<usize>) -> MResult<()> {
        let e = self.enum_handle(e)?;
        self.running()?;
        self.enums[e].live = false;
        Ok(())
    }

    // ---- routes (spec 6.16) ----

    pub fn add_route(&mut self, r: Route<A>) -> MResult<()> {
        self.running()?;
        if !prefix_ok(r.prefix, r.len) {
            return Err(ME::InvalidPrefix);
        }
        if within_multicast(r.prefix, r.len) {
            return Err(ME::MulticastRoute);
        }
        self.routes
            .retain(|x| !(x.prefix == r.prefix && x.len == r.len));
        self.routes.push(r);
        self.reroute(r.prefix, r.len);
        Ok(())
    }

    pub fn remove_route(&mut self, prefix: A, len: u8) -> MResult<()> {
        self.running()?;
        if !prefix_ok(prefix, len) {
            return Err(ME::InvalidPrefix);
        }
        let before = self.routes.len();
        self.routes
            .retain(|x| !(x.prefix == prefix && x.len == len));
        if self.routes.len() == before {
            return Err(ME::NoSuchRoute);
        }
        self.reroute(prefix, len);
        Ok(())
    }

    fn reroute(&mut self, prefix: A, len: u8) {
        let rpf = |r: Option<Route<A>>| r.map(|r| (r.prefix, r.len, r.iif, r.upstream));
        let stale: Vec<Sg<A>> = self
            .mfes
            .iter()
            .filter(|(sg, m)| {
                covers(prefix, len, sg.source) && rpf(self.best_route(sg.source)) != rpf(m.route)
            })
            .map(|(sg, _)| *sg)
            .collect();
        for sg in stale {
            self.delete_entry(sg, DeleteReason::RouteChanged);
        }
    }

    // ---- the packet path ----

    pub fn lookup(&mut self, arrival: IfKey<A>, s: A, g: A, bytes: u32) -> MVerdict<A> {
        let Some(m) = self.mfes.get_mut(&Sg::new(s, g)) else {
            self.misses += 1;
            return MVerdict::Miss;
        };
        if m.iif != arrival {
            m.wrong_if += 1;
            return MVerdict::WrongInterface(m.iif);
        }
        m.packets += 1;
        m.bytes += u64::from(bytes);
        if m.oifs.is_empty() {
            m.negative += 1;
            return MVerdict::Negative;
        }
        for k in &m.oifs {
            *m.out.entry(*k).or_default() += 1;
        }
        MVerdict::Forward(m.oifs.clone())
    }

    /// (interface, owner ids, IGMP ids) of every known interface, in key order.
    pub fn interfaces(&self) -> Vec<(IfKey<A>, Option<(u32, u32)>, Option<(u32, u32)>)> {
        self.ifaces
            .iter()
            .map(|(k, r)| {
                (
                    *k,
                    r.owner.map(|o| self.ids(o)),
                    r.igmp.map(|o| self.ids(o)),
                )
            })
            .collect()
    }

    /// (interface, selector, protocol ids) of every membership, sorted.
    pub fn memberships(&self) -> Vec<(IfKey<A>, Selector<A>, (u32, u32))> {
        let mut v: Vec<_> = self
            .members
            .iter()
            .map(|(k, s, p)| (*k, *s, self.ids(*p)))
            .collect();
        v.sort();
        v
    }
}
