//! The public engine: each MGM function a short transaction over the control plane.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crossbeam::channel::unbounded;
use dashmap::DashMap;

use crate::addr::{check_group, check_source, Family, IfKey, Selector, Sg};
use crate::clock::{Clock, SystemClock};
use crate::control::{Control, Limits, Outbox, ProtocolRec, TimeoutAsk};
use crate::error::{Error, HandleKind, Result};
use crate::forward::{EntryCounters, ForwardStore, Reader};
use crate::handle::{EnumerationHandle, ProtocolHandle, Slots};
use crate::mfe::{
    EngineCounters, EnumKind, ExternalCounters, InterfaceInfo, MembershipInfo, Mfe, MfeChange,
    MfeStats, MissOutcome, OifStats, Page,
};
use crate::protocol::{
    is_igmp, Batches, CreationEntry, Event, EventReceiver, Hooks, RpfDecision, RpfQuery,
};
use crate::rib::Route;

/// Membership flags (`dwFlags` of the membership calls): [`JOIN`], [`FORWARD`], or both.
///
/// ```
/// use mgm::{MembershipFlags, FORWARD, JOIN};
/// assert_eq!(MembershipFlags::from_bits(3).unwrap(), JOIN | FORWARD);
/// assert!(MembershipFlags::from_bits(0).is_err());
/// assert!(MembershipFlags::from_bits(4).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MembershipFlags(u32);

/// `MGM_JOIN_STATE_FLAG`: change membership (join) state.
pub const JOIN: MembershipFlags = MembershipFlags(1);
/// `MGM_FORWARD_STATE_FLAG`: change the outgoing list of one (S,G) entry only.
pub const FORWARD: MembershipFlags = MembershipFlags(2);

impl MembershipFlags {
    /// Flags from MGM's bits.
    ///
    /// # Errors
    /// [`Error::InvalidFlags`] for 0 or unknown bits (G-12).
    pub fn from_bits(bits: u32) -> Result<Self> {
        match bits {
            0 => Err(Error::InvalidFlags {
                bits,
                reason: "no flag set; use JOIN, FORWARD or both",
            }),
            1..=3 => Ok(MembershipFlags(bits)),
            _ => Err(Error::InvalidFlags {
                bits,
                reason: "unknown bits (only 0x1 JOIN and 0x2 FORWARD exist)",
            }),
        }
    }
    /// MGM's bits.
    pub fn bits(self) -> u32 {
        self.0
    }
    /// True when every flag of `other` is set.
    pub fn contains(self, other: MembershipFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for MembershipFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        MembershipFlags(self.0 | rhs.0)
    }
}

/// How the engine is set up.
///
/// ```
/// use mgm::Config;
/// let c = Config { max_mfes: 1000, ..Config::default() };
/// assert_eq!(c.default_timeout, Some(std::time::Duration::from_secs(900)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Forwarding-worker slots: at most this many readers at once.
    pub max_workers: usize,
    /// At most this many forwarding entries; further misses are refused and counted.
    pub max_mfes: usize,
    /// Lifetime of a new entry (`None`: never ages). MGM's is 900 s.
    pub default_timeout: Option<Duration>,
    /// Idle policy: an entry that carried traffic during its lifetime starts a new one
    /// instead of being deleted (G-17; off by default, as in MGM).
    pub refresh_on_traffic: bool,
    /// Wrong-interface reports reach the protocol at most once per this interval per
    /// (entry, arrival interface); `None` turns them off (G-35).
    pub wrong_if_interval: Option<Duration>,
    /// At most this many registered protocols.
    pub max_protocols: usize,
    /// At most this many open group enumerations.
    pub max_enumerations: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_workers: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
            max_mfes: 4 << 20,
            default_timeout: Some(Duration::from_secs(900)),
            refresh_on_traffic: false,
            wrong_if_interval: Some(Duration::from_secs(3)),
            max_protocols: 1024,
            max_enumerations: 4096,
        }
    }
}

struct Inner<A: Family> {
    config: Config,
    clock: Arc<dyn Clock>,
    protos: Slots,
    enums: Slots,
    store: Arc<ForwardStore<A>>,
    control: Mutex<Control<A>>,
    stopped: AtomicBool,
    wrong_if_last: DashMap<(Sg<A>, IfKey<A>), u64>,
    wrong_if_notified: AtomicU64,
    wrong_if_suppressed: AtomicU64,
}

/// The multicast group manager: one per router and address family. Cheap to clone; every
/// clone is the same engine.
///
/// **Progress:** control-plane calls serialise on one internal lock that is never held while
/// protocol code runs; the packet path ([`Reader`]) takes no lock.
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, JOIN, MS_IP_IGMP};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (igmp, _igmp_events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
/// mgm.take_interface(igmp, IfKey::new(2)).unwrap();
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// mgm.add_membership(igmp, Selector::Group(g), IfKey::new(2), JOIN).unwrap();
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
/// let s = Ipv4Addr::new(198, 51, 100, 2);
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
/// assert_eq!(mgm.mfe(s, g).unwrap().oifs, vec![IfKey::new(2)]);
/// ```
pub struct Mgm<A: Family> {
    inner: Arc<Inner<A>>,
}

impl<A: Family> Clone for Mgm<A> {
    fn clone(&self) -> Self {
        Mgm {
            inner: self.inner.clone(),
        }
    }
}

impl<A: Family> Default for Mgm<A> {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

/// Drops the pending mark of a creation that did not finish (a hook panicked).
struct PendingGuard<'a, A: Family> {
    mgm: &'a Mgm<A>,
    sg: Sg<A>,
    armed: bool,
}

impl<A: Family> Drop for PendingGuard<'_, A> {
    fn drop(&mut self) {
        if self.armed {
            self.mgm.lock().pending.remove(&self.sg);
        }
    }
}

impl<A: Family> Mgm<A> {
    /// An engine with the system clock.
    pub fn new(config: Config) -> Self {
        Self::with_clock(config, Arc::new(SystemClock::new()))
    }

    /// An engine with the given clock (a [`crate::ManualClock`] in tests).
    ///
    /// ```
    /// use mgm::{Config, ManualClock, Mgm};
    /// use std::{net::Ipv6Addr, sync::Arc};
    /// let clock = ManualClock::new();
    /// let mgm = Mgm::<Ipv6Addr>::with_clock(Config::default(), Arc::new(clock.clone()));
    /// assert_eq!(mgm.run_timers().unwrap(), 0);
    /// ```
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Self {
        let (protos, proto_alloc) = Slots::new(HandleKind::Protocol, config.max_protocols);
        let (enums, enum_alloc) = Slots::new(HandleKind::Enumeration, config.max_enumerations);
        let store = Arc::new(ForwardStore::new(config.max_workers.max(1)));
        let limits = Limits {
            max_mfes: config.max_mfes,
            default_timeout: config.default_timeout,
            refresh_on_traffic: config.refresh_on_traffic,
        };
        let control = Control::new(
            limits,
            store.clone(),
            proto_alloc,
            enum_alloc,
            config.max_protocols,
            config.max_enumerations,
        );
        Mgm {
            inner: Arc::new(Inner {
                config,
                clock,
                protos,
                enums,
                store,
                control: Mutex::new(control),
                stopped: AtomicBool::new(false),
                wrong_if_last: DashMap::new(),
                wrong_if_notified: AtomicU64::new(0),
                wrong_if_suppressed: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Control<A>> {
        // No user code runs under this lock, so a poisoned lock only means a bug of ours
        // panicked; the state is still the last committed one.
        self.inner
            .control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        Control::<A>::now_ms(self.inner.clock.now())
    }

    fn running(&self) -> Result<()> {
        if self.inner.stopped.load(Ordering::Acquire) {
            Err(Error::Stopped)
        } else {
            Ok(())
        }
    }

    /// Runs `f` under the control lock; on success sends its events in commit order, then asks
    /// the lifetime questions with the lock released. `f` must fail before changing anything.
    fn commit<R>(&self, f: impl FnOnce(&mut Control<A>, &mut Outbox<A>) -> Result<R>) -> Result<R> {
        self.running()?;
        let (r, asks) = {
            let mut c = self.lock();
            let mut out = Outbox::new();
            let r = f(&mut c, &mut out)?;
            (r, c.flush(out))
        };
        self.answer(asks);
        Ok(r)
    }

    /// Asks each owner how long its newly negative entries live, then applies the answers.
    fn answer(&self, asks: Vec<TimeoutAsk<A>>) {
        if asks.is_empty() {
            return;
        }
        let answers: Vec<_> = asks
            .into_iter()
            .map(|a| (a.sg, a.stamp, a.hooks.mfe_timeout(a.sg, a.iif, a.proposed)))
            .collect();
        let now = self.now_ms();
        let mut c = self.lock();
        for (sg, stamp, t) in answers {
            c.set_timeout(sg, stamp, t, now);
        }
    }

    fn check(&self, h: ProtocolHandle) -> Result<u32> {
        self.inner.protos.check(h.raw())
    }

    /// `MgmRegisterMProtocol`: registers (protocol id, component id) with its decision hooks.
    /// Returns the handle and the receiver of the protocol's notifications. A protocol is IGMP
    /// when [`is_igmp`] says so (G-3).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::AlreadyRegistered`] for a duplicate pair; [`Error::OutOfRange`] when the
    /// configured number of protocols is reached; [`Error::Stopped`].
    ///
    /// ```
    /// use mgm::{DefaultHooks, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// assert_eq!(mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap_err().win32_code(), 183);
    /// ```
    pub fn register(
        &self,
        protocol: u32,
        component: u32,
        hooks: Arc<dyn Hooks<A>>,
    ) -> Result<(ProtocolHandle, EventReceiver<A>)> {
        let protos = &self.inner.protos;
        self.commit(|c, _| {
            if c.by_id.contains_key(&(protocol, component)) {
                return Err(Error::AlreadyRegistered {
                    protocol,
                    component,
                });
            }
            let (slot, raw) = protos.open(&mut c.proto_alloc).ok_or(Error::OutOfRange {
                what: "the number of registered protocols",
                expected: "within Config::max_protocols",
            })?;
            let (tx, rx) = unbounded();
            let seq = c.next_seq;
            c.next_seq += 1;
            c.protocols[slot as usize] = Some(ProtocolRec {
                id: protocol,
                component,
                igmp: is_igmp(protocol),
                seq,
                hooks,
                tx,
                owned: 0,
                enums: Vec::new(),
            });
            c.by_id.insert((protocol, component), slot);
            c.reg_order.insert(seq, slot);
            Ok((ProtocolHandle::from_raw(raw), Batches::new(rx)))
        })
    }

    /// `MgmDeRegisterMProtocol`: kills the handle and closes the protocol's group
    /// enumerations; its event channel then disconnects.
    ///
    /// **Progress:** a stale handle is refused without a lock; otherwise takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::StillOwnsInterfaces`] while it owns interfaces.
    ///
    /// ```
    /// use mgm::{DefaultHooks, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (h, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.deregister(h).unwrap();
    /// assert_eq!(mgm.deregister(h).unwrap_err().win32_code(), 87);
    /// ```
    pub fn deregister(&self, h: ProtocolHandle) -> Result<()> {
        self.check(h)?;
        let inner = &*self.inner;
        self.commit(|c, _| {
            let slot = inner.protos.check(h.raw())?;
            let owned = c.proto(slot).owned;
            if owned > 0 {
                return Err(Error::StillOwnsInterfaces { count: owned });
            }
            let rec = c.protocols[slot as usize].take().expect("live slot");
            for e in &rec.enums {
                c.enums[*e as usize] = None;
                inner.enums.close(&mut c.enum_alloc, *e);
            }
            c.by_id.remove(&(rec.id, rec.component));
            c.reg_order.remove(&rec.seq);
            inner.protos.close(&mut c.proto_alloc, slot);
            Ok(())
        })
    }

    /// `MgmTakeInterfaceOwnership`: the protocol becomes the interface's owner, or, for IGMP,
    /// present on it beside at most one routing protocol. A routing protocol taking an
    /// interface where IGMP is present brackets the change with IGMP's disable and enable
    /// events, and hears IGMP's memberships there as local joins.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::InterfaceTaken`] when another routing protocol (or
    /// IGMP instance) is there, or the caller already is (G-7).
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// let (dvmrp, _) = mgm.register(0x4000_0022, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// assert_eq!(mgm.take_interface(dvmrp, IfKey::new(1)).unwrap_err().win32_code(), 183);
    /// ```
    pub fn take_interface(&self, h: ProtocolHandle, interface: IfKey<A>) -> Result<()> {
        self.check(h)?;
        let protos = &self.inner.protos;
        self.commit(|c, out| {
            let slot = protos.check(h.raw())?;
            c.take(slot, interface, out)
        })
    }

    /// `MgmReleaseInterfaceOwnership`: gives the interface up. For the routing owner: inside
    /// the IGMP bracket, every entry whose incoming interface it is goes (one shard swap), the
    /// owner's memberships there are deleted with their alerts, and the interface leaves every
    /// other entry's outgoing list unless IGMP's memberships keep it there (G-8). For IGMP:
    /// its memberships there are deleted, with local leaves to the owner.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::NotOwner`] when the interface is unknown or not the
    /// caller's (MGM's `ERROR_INVALID_PARAMETER` in both cases).
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// mgm.release_interface(pim, IfKey::new(1)).unwrap();
    /// assert!(mgm.protocol_on_interface(IfKey::new(1)).is_err());
    /// ```
    pub fn release_interface(&self, h: ProtocolHandle, interface: IfKey<A>) -> Result<()> {
        self.check(h)?;
        let protos = &self.inner.protos;
        self.commit(|c, out| {
            let slot = protos.check(h.raw())?;
            c.release(slot, interface, out)
        })
    }

    /// `MgmGetProtocolOnInterface`: (protocol id, component id) of the routing owner, else of
    /// IGMP (G-9).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::UnknownInterface`] when nobody is on it.
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, MS_IP_IGMP};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (igmp, _) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(igmp, IfKey::new(1)).unwrap();
    /// assert_eq!(mgm.protocol_on_interface(IfKey::new(1)).unwrap(), (MS_IP_IGMP, 1));
    /// ```
    pub fn protocol_on_interface(&self, interface: IfKey<A>) -> Result<(u32, u32)> {
        self.running()?;
        let c = self.lock();
        let rec = c.ifaces.get(&interface).ok_or(Error::UnknownInterface {
            interface: interface.id(),
        })?;
        let slot = rec
            .owner
            .or(rec.igmp)
            .expect("a known interface has someone on it");
        Ok(c.ids(slot))
    }

    fn membership_args(
        &self,
        h: ProtocolHandle,
        selector: Selector<A>,
        flags: MembershipFlags,
    ) -> Result<()> {
        self.check(h)?;
        selector.validate()?;
        if flags == FORWARD && selector.is_wildcard() {
            return Err(Error::InvalidFlags {
                bits: flags.bits(),
                reason: "FORWARD alone needs an (S,G) selector",
            });
        }
        Ok(())
    }

    /// `MgmAddGroupMembershipEntry`: with [`JOIN`], records the membership, adds the interface
    /// to every matching entry and raises the join alerts of spec 6.9 (and a local join to the
    /// owner when IGMP adds); with [`FORWARD`], puts the interface on the one (S,G) entry. A
    /// membership that already exists changes nothing (G-11).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`], [`Error::InvalidGroup`], [`Error::InvalidSource`],
    /// [`Error::InvalidFlags`]; [`Error::UnknownInterface`]; [`Error::NotOwner`] when the
    /// caller neither owns the interface nor is the IGMP there (G-10).
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Selector, FORWARD, JOIN};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// let g = Selector::Group(Ipv4Addr::new(239, 1, 1, 1));
    /// mgm.add_membership(pim, g, IfKey::new(1), JOIN).unwrap();
    /// assert_eq!(mgm.add_membership(pim, g, IfKey::new(1), FORWARD).unwrap_err().win32_code(), 87);
    /// ```
    pub fn add_membership(
        &self,
        h: ProtocolHandle,
        selector: Selector<A>,
        interface: IfKey<A>,
        flags: MembershipFlags,
    ) -> Result<()> {
        self.membership(h, selector, interface, flags, true)
    }

    /// `MgmDeleteGroupMembershipEntry`: with [`JOIN`], removes the membership, takes the
    /// interface off the entries it alone justified and raises the prune alerts of spec 6.10
    /// (and a local leave to the owner when IGMP deletes); with [`FORWARD`], takes the
    /// interface off the one (S,G) entry. Deleting what does not exist changes nothing.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// As [`Mgm::add_membership`].
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Selector, JOIN};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// let g = Selector::Group(Ipv4Addr::new(239, 1, 1, 1));
    /// mgm.delete_membership(pim, g, IfKey::new(1), JOIN).unwrap();
    /// assert_eq!(mgm.delete_membership(pim, g, IfKey::new(2), JOIN).unwrap_err().win32_code(), 1168);
    /// ```
    pub fn delete_membership(
        &self,
        h: ProtocolHandle,
        selector: Selector<A>,
        interface: IfKey<A>,
        flags: MembershipFlags,
    ) -> Result<()> {
        self.membership(h, selector, interface, flags, false)
    }

    /// The membership add (`join: true`) or delete, after its arguments are checked: the
    /// JOIN part, then the FORWARD part for an (S,G) selector (G-12).
    fn membership(
        &self,
        h: ProtocolHandle,
        selector: Selector<A>,
        interface: IfKey<A>,
        flags: MembershipFlags,
        join: bool,
    ) -> Result<()> {
        self.membership_args(h, selector, flags)?;
        let protos = &self.inner.protos;
        self.commit(|c, out| {
            let slot = protos.check(h.raw())?;
            c.check_member_rights(slot, interface)?;
            if flags.contains(JOIN) {
                if join {
                    c.add_join(slot, interface, selector, out);
                } else {
                    c.delete_join(slot, interface, selector, out);
                }
            }
            if let (true, Selector::Source { source, group }) = (flags.contains(FORWARD), selector)
            {
                c.set_forward(Sg::new(source, group), interface, join, out);
            }
            Ok(())
        })
    }

    /// `MgmNewPacketReceived`: a forwarder reports a miss for (source, group) arriving on
    /// `arrival`. Runs spec 6.11: RPF through the RIB and the owner's [`Hooks::rpf`], candidate
    /// interfaces from memberships, one [`Hooks::creation_alert`] per owning protocol, then
    /// installs the entry. No route: a negative entry with `arrival` as incoming interface
    /// (G-24). Concurrent misses for one (S,G) create it once (G-19).
    ///
    /// **Progress:** takes the control lock three times, never while a hook runs.
    ///
    /// # Errors
    /// [`Error::InvalidSource`], [`Error::InvalidGroup`]; [`Error::TableFull`] when
    /// [`Config::max_mfes`] entries exist; [`Error::Stopped`].
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, MissOutcome};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// // No route to the source: a negative entry, so the next packets are dropped cheaply.
    /// assert!(matches!(mgm.new_packet(IfKey::new(4), s, g).unwrap(), MissOutcome::Created(_)));
    /// assert!(matches!(mgm.new_packet(IfKey::new(4), s, g).unwrap(), MissOutcome::Exists(_)));
    /// ```
    pub fn new_packet(&self, arrival: IfKey<A>, source: A, group: A) -> Result<MissOutcome<A>> {
        check_source(source)?;
        check_group(group)?;
        self.running()?;
        let sg = Sg::new(source, group);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let now = self.now_ms();
            let (route, rpf_hooks, version) = {
                let mut c = self.lock();
                if c.mfes.contains_key(&sg) {
                    return Ok(MissOutcome::Exists(c.snapshot(sg, Some(now))));
                }
                if let Some(n) = c.pending.get_mut(&sg) {
                    *n += 1;
                    return Ok(MissOutcome::Pending);
                }
                if c.mfes.len() + c.pending.len() >= c.limits.max_mfes {
                    c.refused += 1;
                    return Err(Error::TableFull {
                        limit: c.limits.max_mfes,
                    });
                }
                let Some(route) = c.rib.lookup(source).copied() else {
                    let mut out = Outbox::new();
                    c.install_mfe(sg, arrival, A::UNSPECIFIED, None, &[], 0, now, &mut out);
                    let snap = c.snapshot(sg, Some(now));
                    let asks = c.flush(out);
                    drop(c);
                    self.answer(asks);
                    return Ok(MissOutcome::Created(snap));
                };
                c.pending.insert(sg, 0);
                let hooks = c.owner_of(route.iif).map(|o| c.proto(o).hooks.clone());
                (route, hooks, c.rib.version)
            };
            let mut guard = PendingGuard {
                mgm: self,
                sg,
                armed: true,
            };
            let query = RpfQuery {
                sg,
                arrival,
                iif: route.iif,
                upstream: route.upstream,
                route,
            };
            let rpf = match rpf_hooks {
                Some(h) => h.rpf(&query),
                None => RpfDecision {
                    iif: route.iif,
                    upstream: route.upstream,
                },
            };
            let candidates = self.lock().candidates(sg, rpf.iif);
            let mut vetoed = Vec::new();
            for (_, hooks, ifs) in candidates.by_protocol {
                let mut entries: Vec<CreationEntry<A>> = ifs
                    .iter()
                    .map(|(k, igmp)| CreationEntry {
                        interface: *k,
                        igmp: *igmp,
                        enabled: true,
                    })
                    .collect();
                hooks.creation_alert(sg, rpf.iif, &mut entries);
                vetoed.extend(entries.iter().filter(|e| !e.enabled).map(|e| e.interface));
            }
            let (snap, stamp, asks) = {
                let mut c = self.lock();
                guard.armed = false;
                let uninit = c.pending.remove(&sg).unwrap_or(0);
                self.running()?;
                if c.rib.version != version && attempts < 4 {
                    continue;
                }
                let mut out = Outbox::new();
                let now = self.now_ms();
                let stamp = c.install_mfe(
                    sg,
                    rpf.iif,
                    rpf.upstream,
                    Some(route),
                    &vetoed,
                    uninit,
                    now,
                    &mut out,
                );
                (c.snapshot(sg, Some(now)), stamp, c.flush(out))
            };
            if asks.is_empty() {
                return Ok(MissOutcome::Created(snap));
            }
            self.answer(asks);
            // The owner's lifetime answer is part of the creation: report the entry as this
            // call left it (unless another call has since replaced it).
            let c = self.lock();
            let snap = match c.mfes.get(&sg) {
                Some(rec) if rec.stamp == stamp => c.snapshot(sg, Some(now)),
                _ => snap,
            };
            return Ok(MissOutcome::Created(snap));
        }
    }

    /// A forwarder reports a packet of an entry that arrived on another interface than the
    /// entry's incoming one. The routing owner of `arrival` hears it as
    /// [`Event::WrongInterface`], at most once per [`Config::wrong_if_interval`] per (entry,
    /// interface). Returns whether it was passed on.
    ///
    /// **Progress:** the rate limit is checked without the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidSource`], [`Error::InvalidGroup`], [`Error::Stopped`].
    ///
    /// ```
    /// use mgm::{IfKey, Mgm};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// assert!(!mgm.report_wrong_interface(IfKey::new(1), s, g).unwrap(), "no entry: nothing to say");
    /// ```
    pub fn report_wrong_interface(&self, arrival: IfKey<A>, source: A, group: A) -> Result<bool> {
        check_source(source)?;
        check_group(group)?;
        self.running()?;
        let Some(interval) = self.inner.config.wrong_if_interval else {
            return Ok(false);
        };
        let sg = Sg::new(source, group);
        let now = self.now_ms();
        let interval = Control::<A>::now_ms(interval);
        let last = &self.inner.wrong_if_last;
        let limited = |now: u64| {
            last.get(&(sg, arrival))
                .is_some_and(|t| now.saturating_sub(*t) < interval)
        };
        if limited(now) {
            self.inner
                .wrong_if_suppressed
                .fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let sent = self.commit(|c, out| {
            // Checked again under the lock, which serialises the stamps; a report that
            // reaches nobody does not use up the interval.
            if limited(now) {
                return Ok(false);
            }
            let owner = c
                .mfes
                .get(&sg)
                .filter(|rec| rec.iif != arrival)
                .and_then(|_| c.owner_of(arrival));
            if let Some(o) = owner {
                last.insert((sg, arrival), now);
                out.event(
                    o,
                    Event::WrongInterface {
                        source,
                        group,
                        interface: arrival,
                    },
                );
            }
            Ok(owner.is_some())
        })?;
        if sent {
            self.inner.wrong_if_notified.fetch_add(1, Ordering::Relaxed);
        }
        Ok(sent)
    }

    /// Deletes the entries whose lifetime has run out (driven by the engine's clock); returns
    /// how many. Call it periodically (the simulator and daemon do, once a second).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::Stopped`].
    ///
    /// ```
    /// use mgm::{Config, IfKey, ManualClock, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc, time::Duration};
    /// let clock = ManualClock::new();
    /// let mgm = Mgm::<Ipv4Addr>::with_clock(Config::default(), Arc::new(clock.clone()));
    /// mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9)).unwrap();
    /// clock.advance(Duration::from_secs(899));
    /// assert_eq!(mgm.run_timers().unwrap(), 0);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(mgm.run_timers().unwrap(), 1);
    /// ```
    pub fn run_timers(&self) -> Result<usize> {
        let now = self.now_ms();
        if let Some(i) = self.inner.config.wrong_if_interval {
            let i = Control::<A>::now_ms(i);
            self.inner
                .wrong_if_last
                .retain(|_, last| now.saturating_sub(*last) < i);
        }
        self.commit(|c, out| Ok(c.run_timers(now, out)))
    }

    /// `MgmGetMfe`: one forwarding entry.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::NoSuchMfe`]; [`Error::InvalidSource`], [`Error::InvalidGroup`].
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// let e = Mgm::<Ipv4Addr>::default().mfe(Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// assert_eq!(e.unwrap_err().win32_code(), 1168);
    /// ```
    pub fn mfe(&self, source: A, group: A) -> Result<Mfe<A>> {
        check_source(source)?;
        check_group(group)?;
        self.running()?;
        let sg = Sg::new(source, group);
        let c = self.lock();
        if !c.mfes.contains_key(&sg) {
            return Err(no_such(sg));
        }
        Ok(c.snapshot(sg, Some(self.now_ms())))
    }

    /// `MgmGetFirstMfe` / `MgmGetNextMfe`: up to `max` entries in (group, source) order after
    /// the key `after` (from the start when `None`). A key that no longer exists resumes at the
    /// next greater one (G-34).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when `max` is 0.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// for g in 1..=3 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// let first = mgm.mfes(None, 2).unwrap();
    /// assert!(first.more);
    /// let rest = mgm.mfes(Some(first.items[1].sg()), 2).unwrap();
    /// assert_eq!((rest.items.len(), rest.more), (1, false));
    /// ```
    pub fn mfes(&self, after: Option<Sg<A>>, max: usize) -> Result<Page<Mfe<A>>> {
        let now = self.now_ms();
        self.walk(after, max, |c, sg| c.snapshot(sg, Some(now)))
    }

    fn walk<T>(
        &self,
        after: Option<Sg<A>>,
        max: usize,
        mut f: impl FnMut(&Control<A>, Sg<A>) -> T,
    ) -> Result<Page<T>> {
        self.running()?;
        if max == 0 {
            return Err(Error::OutOfRange {
                what: "the page size",
                expected: "at least 1",
            });
        }
        let c = self.lock();
        let mut keys = c.mfes.keys_after(after);
        let items: Vec<T> = keys.by_ref().take(max).map(|sg| f(&c, sg)).collect();
        let more = keys.next().is_some();
        Ok(Page { items, more })
    }

    fn stats_of(&self, c: &Control<A>, sg: Sg<A>, now: u64) -> MfeStats<A> {
        let mfe = c.snapshot(sg, Some(now));
        let counters = self
            .inner
            .store
            .counters(sg, mfe.iif)
            .unwrap_or(EntryCounters {
                packets: 0,
                bytes: 0,
                wrong_if: 0,
                negative: 0,
                oifs: Vec::new(),
            });
        let oifs: Vec<OifStats<A>> = mfe
            .oifs
            .iter()
            .map(|k| OifStats {
                interface: *k,
                out_packets: counters
                    .oifs
                    .iter()
                    .find(|(o, _)| o == k)
                    .map_or(0, |(_, n)| *n),
            })
            .collect();
        let rec = &c.mfes[&sg];
        let ext = rec.external;
        MfeStats {
            in_packets: counters.packets + ext.packets,
            in_octets: counters.bytes + ext.bytes,
            different_if: counters.wrong_if + ext.wrong_if,
            negative: counters.negative,
            external: ext,
            uninit: rec.uninit,
            total_out_packets: oifs.iter().map(|o| o.out_packets).sum(),
            oifs,
            mfe,
        }
    }

    /// `MgmGetMfeStats`: one entry with its counters.
    ///
    /// **Progress:** takes the control lock; counters are summed from the workers' slots.
    ///
    /// # Errors
    /// As [`Mgm::mfe`].
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().mfe_stats(Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9)).is_err());
    /// ```
    pub fn mfe_stats(&self, source: A, group: A) -> Result<MfeStats<A>> {
        check_source(source)?;
        check_group(group)?;
        self.running()?;
        let sg = Sg::new(source, group);
        let c = self.lock();
        if !c.mfes.contains_key(&sg) {
            return Err(no_such(sg));
        }
        Ok(self.stats_of(&c, sg, self.now_ms()))
    }

    /// `MgmGetFirstMfeStats` / `MgmGetNextMfeStats`: as [`Mgm::mfes`], with counters.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when `max` is 0.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().mfe_stats_page(None, 8).unwrap().items.is_empty());
    /// ```
    pub fn mfe_stats_page(&self, after: Option<Sg<A>>, max: usize) -> Result<Page<MfeStats<A>>> {
        let now = self.now_ms();
        self.walk(after, max, |c, sg| self.stats_of(c, sg, now))
    }

    /// Records the counters an external forwarder (the Linux kernel's table, an ASIC) keeps
    /// for an entry: cumulative values, replacing the last report. [`Mgm::mfe_stats`] adds
    /// them to the readers' own counts.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::NoSuchMfe`]; [`Error::InvalidSource`], [`Error::InvalidGroup`].
    ///
    /// ```
    /// use mgm::{ExternalCounters, IfKey, Mgm};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// mgm.set_external_counters(s, g, ExternalCounters { packets: 50, bytes: 2440, wrong_if: 0 }).unwrap();
    /// assert_eq!(mgm.mfe_stats(s, g).unwrap().in_packets, 50);
    /// ```
    pub fn set_external_counters(
        &self,
        source: A,
        group: A,
        counters: ExternalCounters,
    ) -> Result<()> {
        check_source(source)?;
        check_group(group)?;
        let sg = Sg::new(source, group);
        self.commit(|c, _| {
            c.mfes.get_mut(&sg).ok_or_else(|| no_such(sg))?.external = counters;
            Ok(())
        })
    }

    /// `MgmSetMfe`: changes an entry's upstream neighbour; only the routing owner of its
    /// incoming interface may (G-16).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::NoSuchMfe`]; [`Error::NotIifOwner`].
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Route};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// mgm.set_mfe(pim, s, g, Ipv4Addr::new(198, 51, 100, 254)).unwrap();
    /// assert_eq!(mgm.mfe(s, g).unwrap().upstream, Ipv4Addr::new(198, 51, 100, 254));
    /// ```
    pub fn set_mfe(&self, h: ProtocolHandle, source: A, group: A, upstream: A) -> Result<()> {
        self.check(h)?;
        check_source(source)?;
        check_group(group)?;
        let protos = &self.inner.protos;
        let sg = Sg::new(source, group);
        self.commit(|c, _| {
            let slot = protos.check(h.raw())?;
            let iif = c.mfes.get(&sg).ok_or_else(|| no_such(sg))?.iif;
            if c.owner_of(iif) != Some(slot) {
                return Err(Error::NotIifOwner {
                    source: source.into(),
                    group: group.into(),
                });
            }
            c.mfes.get_mut(&sg).expect("checked").upstream = upstream;
            Ok(())
        })
    }

    /// `MgmGroupEnumerationStart`: opens an enumeration of the joined groups, from a snapshot
    /// taken now (G-14).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::OutOfRange`] when too many are open.
    ///
    /// ```
    /// use mgm::{DefaultHooks, EnumKind, IfKey, Mgm, Selector, JOIN};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (pim, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(pim, IfKey::new(1)).unwrap();
    /// let g = Selector::Group(Ipv4Addr::new(239, 1, 1, 1));
    /// mgm.add_membership(pim, g, IfKey::new(1), JOIN).unwrap();
    /// let e = mgm.group_enumeration_start(pim, EnumKind::AllSources).unwrap();
    /// let page = mgm.group_enumeration_next(e, 10).unwrap();
    /// assert_eq!((page.items, page.more), (vec![g], false));
    /// mgm.group_enumeration_end(e).unwrap();
    /// assert!(mgm.group_enumeration_next(e, 10).is_err());
    /// ```
    pub fn group_enumeration_start(
        &self,
        h: ProtocolHandle,
        kind: EnumKind,
    ) -> Result<EnumerationHandle> {
        self.check(h)?;
        let inner = &*self.inner;
        self.commit(|c, _| {
            let slot = inner.protos.check(h.raw())?;
            let items = c.enumeration_snapshot(kind);
            let (e, raw) = inner
                .enums
                .open(&mut c.enum_alloc)
                .ok_or(Error::OutOfRange {
                    what: "the number of open group enumerations",
                    expected: "within Config::max_enumerations",
                })?;
            c.enums[e as usize] = Some(crate::control::EnumRec {
                owner: slot,
                items,
                pos: 0,
            });
            c.proto_mut(slot).enums.push(e);
            Ok(EnumerationHandle::from_raw(raw))
        })
    }

    /// `MgmGroupEnumerationGetNext`: the next `max` records; `more` is false at the end.
    ///
    /// **Progress:** a dead handle is refused without a lock; otherwise takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::OutOfRange`] when `max` is 0.
    ///
    /// ```
    /// use mgm::{EnumerationHandle, Mgm};
    /// use std::net::Ipv4Addr;
    /// let forged = EnumerationHandle::from_raw(42);
    /// assert_eq!(Mgm::<Ipv4Addr>::default().group_enumeration_next(forged, 1).unwrap_err().win32_code(), 87);
    /// ```
    pub fn group_enumeration_next(
        &self,
        e: EnumerationHandle,
        max: usize,
    ) -> Result<Page<Selector<A>>> {
        self.inner.enums.check(e.raw())?;
        if max == 0 {
            return Err(Error::OutOfRange {
                what: "the page size",
                expected: "at least 1",
            });
        }
        let enums = &self.inner.enums;
        self.commit(|c, _| {
            let slot = enums.check(e.raw())?;
            let rec = c.enums[slot as usize].as_mut().expect("live enumeration");
            let end = (rec.pos + max).min(rec.items.len());
            let items = rec.items[rec.pos..end].to_vec();
            rec.pos = end;
            Ok(Page {
                items,
                more: end < rec.items.len(),
            })
        })
    }

    /// `MgmGroupEnumerationEnd`: closes the enumeration; its handle dies.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`].
    ///
    /// ```
    /// use mgm::{EnumerationHandle, Mgm};
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().group_enumeration_end(EnumerationHandle::from_raw(1)).is_err());
    /// ```
    pub fn group_enumeration_end(&self, e: EnumerationHandle) -> Result<()> {
        self.inner.enums.check(e.raw())?;
        let enums = &self.inner.enums;
        self.commit(|c, _| {
            let slot = enums.check(e.raw())?;
            let rec = c.enums[slot as usize].take().expect("live enumeration");
            c.proto_mut(rec.owner).enums.retain(|x| *x != slot);
            enums.close(&mut c.enum_alloc, slot);
            Ok(())
        })
    }

    /// Adds or replaces a route in the engine's multicast RIB; entries whose RPF it changes are
    /// deleted and rebuilt on their next packet (spec 6.16).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`].
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, Route};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// assert!(mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 1), 24, IfKey::new(1))).is_err());
    /// ```
    pub fn add_route(&self, route: Route<A>) -> Result<()> {
        self.commit(|c, out| c.add_route(route, out))
    }

    /// Removes a route; entries that used it are deleted.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`], [`Error::NoSuchRoute`].
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// let e = Mgm::<Ipv4Addr>::default().remove_route(Ipv4Addr::new(198, 51, 100, 0), 24);
    /// assert_eq!(e.unwrap_err().win32_code(), 1168);
    /// ```
    pub fn remove_route(&self, prefix: A, len: u8) -> Result<()> {
        self.commit(|c, out| c.remove_route(prefix, len, out))
    }

    /// Every route of the RIB, longest prefixes first.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().routes().is_empty());
    /// ```
    pub fn routes(&self) -> Vec<Route<A>> {
        self.lock().rib.routes().copied().collect()
    }

    /// A reader for one forwarding worker. Create it on the worker's own thread.
    ///
    /// **Progress:** takes no lock.
    ///
    /// # Errors
    /// [`Error::TooManyReaders`] when [`Config::max_workers`] readers exist.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, Verdict};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut reader = mgm.reader().unwrap();
    /// let v = reader.lookup(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9), 64);
    /// assert!(matches!(v, Verdict::Miss));
    /// ```
    pub fn reader(&self) -> Result<Reader<A>> {
        self.inner.store.reader()
    }

    /// Subscribes to the ordered stream of forwarding-table changes, for a forwarder outside
    /// the process. Changes made before the call are not replayed: walk [`Mgm::mfes`] after
    /// subscribing to start from a full table.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, MfeChange};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let changes = mgm.subscribe();
    /// mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9)).unwrap();
    /// assert!(matches!(changes.drain()[0], MfeChange::Installed(_)));
    /// ```
    pub fn subscribe(&self) -> Batches<MfeChange<A>> {
        let (tx, rx) = unbounded();
        self.lock().subscribers.push(tx);
        Batches::new(rx)
    }

    /// Stops the engine: every later call fails with [`Error::Stopped`] and no protocol hears
    /// anything more (G-33). Readers keep answering from the last table.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// mgm.stop();
    /// assert_eq!(mgm.routes().len(), 0);
    /// assert!(mgm.run_timers().is_err());
    /// ```
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
    }

    /// Engine-wide counters.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert_eq!(Mgm::<Ipv4Addr>::default().counters().mfes, 0);
    /// ```
    pub fn counters(&self) -> EngineCounters {
        let c = self.lock();
        EngineCounters {
            mfes: c.mfes.len(),
            pending: c.pending.len(),
            published: self.inner.store.len(),
            worker_slots: self.inner.store.max_workers(),
            refused_misses: c.refused,
            created: c.created,
            deleted: c.deleted,
            wrong_if_notified: self.inner.wrong_if_notified.load(Ordering::Relaxed),
            wrong_if_suppressed: self.inner.wrong_if_suppressed.load(Ordering::Relaxed),
        }
    }

    /// Every known interface with its owner and IGMP presence.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().interfaces().is_empty());
    /// ```
    pub fn interfaces(&self) -> Vec<InterfaceInfo<A>> {
        let c = self.lock();
        c.ifaces
            .iter()
            .map(|(k, r)| InterfaceInfo {
                interface: *k,
                owner: r.owner.map(|s| c.ids(s)),
                igmp: r.igmp.map(|s| c.ids(s)),
            })
            .collect()
    }

    /// Every membership, by interface.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().memberships().is_empty());
    /// ```
    pub fn memberships(&self) -> Vec<MembershipInfo<A>> {
        let c = self.lock();
        let mut v: Vec<MembershipInfo<A>> = c
            .by_iface
            .iter()
            .flat_map(|(k, set)| {
                set.iter().map(|(slot, sel)| MembershipInfo {
                    protocol: c.ids(*slot),
                    selector: *sel,
                    interface: *k,
                })
            })
            .collect();
        v.sort_by_key(|m| (m.interface, m.selector, m.protocol));
        v
    }
}

fn no_such<A: Family>(sg: Sg<A>) -> Error {
    Error::NoSuchMfe {
        source: sg.source.into(),
        group: sg.group.into(),
    }
}
