//! The public engine: each MGM function a short transaction over the control plane.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::addr::{check_group, check_next_hop, check_source, Family, IfKey, Selector, Sg};
use crate::clock::{Clock, SystemClock};
use crate::control::{Control, MissStart, Outbox, TimeoutAsk, WrongIfLimiter};
use crate::error::{Error, HandleKind, Result};
use crate::forward::{ForwardStore, Reader};
use crate::handle::{EnumerationHandle, ProtocolHandle, Slots};
use crate::mfe::{
    EngineCounters, EnumKind, ExternalCounters, InterfaceInfo, MembershipInfo, Mfe, MfeChange,
    MfeStats, MissOutcome, Page, TimerRun,
};
use crate::protocol::{Batches, Event, EventReceiver, Hooks, RpfDecision, RpfQuery};
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
    /// Forwarding-worker slots: at most this many readers at once (clamped to 1..=4096).
    /// The tables start with a copy of their slots (which holds that worker's counts) for as
    /// many workers as the machine has cores (at least two) and add copies, one rebuild per
    /// shard, when a reader beyond that is created: memory follows the readers that exist, not
    /// this bound. Each worker's copy costs a slot line per slot (64 bytes for IPv4, 128 for
    /// IPv6, at a load of 0.75-0.875) and a wrong-interface word.
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
    /// Capacity of each protocol's event queue and each subscriber's change queue, in batches
    /// (one per engine operation; at least 1). A receiver that falls this far behind loses
    /// batches, counted and announced by a marker ([`Batches`] has the policy); the engine
    /// never waits for it.
    pub queue_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_workers: 256,
            max_mfes: 4 << 20,
            default_timeout: Some(Duration::from_secs(900)),
            refresh_on_traffic: false,
            wrong_if_interval: Some(Duration::from_secs(3)),
            max_protocols: 1024,
            max_enumerations: 4096,
            queue_capacity: 1 << 16,
        }
    }
}

struct Inner<A: Family> {
    clock: Arc<dyn Clock>,
    protos: Slots,
    enums: Slots,
    store: Arc<ForwardStore<A>>,
    control: Mutex<Control<A>>,
    stopped: AtomicBool,
    wrong_if: WrongIfLimiter<A>,
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

impl<A: Family> std::fmt::Debug for Mgm<A> {
    /// What the engine can tell without taking a lock: a `Debug` of an engine whose locks are
    /// held elsewhere still prints ([`Mgm::counters`] has the rest).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (notified, suppressed) = self.inner.wrong_if.counts();
        f.debug_struct("Mgm")
            .field("worker_slots", &self.inner.store.max_workers())
            .field("stopped", &self.inner.stopped.load(Ordering::Relaxed))
            .field("wrong_if_notified", &notified)
            .field("wrong_if_suppressed", &suppressed)
            .finish_non_exhaustive()
    }
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
            self.mgm.lock().miss_settle(self.sg);
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
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let store = Arc::new(ForwardStore::new(config.max_workers, cores.max(2)));
        let wrong_if_interval = config.wrong_if_interval.map(Control::<A>::now_ms);
        let control = Control::new(&config, store.clone(), proto_alloc, enum_alloc);
        Mgm {
            inner: Arc::new(Inner {
                clock,
                protos,
                enums,
                store,
                control: Mutex::new(control),
                stopped: AtomicBool::new(false),
                wrong_if: WrongIfLimiter::new(wrong_if_interval),
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
        let answers: Vec<_> = asks.into_iter().map(TimeoutAsk::ask).collect();
        let now = self.now_ms();
        let mut c = self.lock();
        for a in answers {
            c.apply_timeout(a, now);
        }
    }

    fn check(&self, h: ProtocolHandle) -> Result<u32> {
        self.inner.protos.check(h.raw())
    }

    /// `MgmRegisterMProtocol`: registers (protocol id, component id) with its decision hooks.
    /// Returns the handle and the receiver of the protocol's notifications. A protocol is IGMP
    /// when [`is_igmp`](crate::is_igmp) says so (G-3).
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
            let (raw, events) = c.register(protos, protocol, component, hooks)?;
            Ok((ProtocolHandle::from_raw(raw), events))
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
            c.deregister(&inner.protos, &inner.enums, slot)
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
        self.lock().protocol_on_interface(interface)
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
                let mut out = Outbox::new();
                match c.miss_start(sg, arrival, now, &mut out)? {
                    MissStart::Exists(mfe) => return Ok(MissOutcome::Exists(mfe)),
                    MissStart::Pending => return Ok(MissOutcome::Pending),
                    MissStart::Created(mfe) => {
                        let asks = c.flush(out);
                        drop(c);
                        self.answer(asks);
                        return Ok(MissOutcome::Created(mfe));
                    }
                    MissStart::Resolve {
                        route,
                        hooks,
                        version,
                    } => (route, hooks, version),
                }
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
            let vetoed = candidates.ask(sg, rpf.iif);
            let (snap, stamp, asks) = {
                let mut c = self.lock();
                guard.armed = false;
                let uninit = c.miss_settle(sg);
                self.running()?;
                if c.routes_changed_since(version) && attempts < 4 {
                    continue;
                }
                let mut out = Outbox::new();
                let now = self.now_ms();
                let (snap, stamp) = c.miss_finish(sg, rpf, route, &vetoed, uninit, now, &mut out);
                (snap, stamp, c.flush(out))
            };
            if asks.is_empty() {
                return Ok(MissOutcome::Created(snap));
            }
            self.answer(asks);
            // The owner's lifetime answer is part of the creation: report the entry as this
            // call left it (unless another call has since replaced it).
            let snap = self.lock().mfe_if_stamped(sg, stamp, now).unwrap_or(snap);
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
        let limiter = &self.inner.wrong_if;
        if !limiter.enabled() {
            return Ok(false);
        }
        let sg = Sg::new(source, group);
        let now = self.now_ms();
        if limiter.limited(sg, arrival, now) {
            limiter.suppress();
            return Ok(false);
        }
        let sent = self.commit(|c, out| {
            // Checked again under the lock, which serialises the stamps; a report that
            // reaches nobody does not use up the interval.
            if limiter.limited(sg, arrival, now) {
                return Ok(false);
            }
            let owner = c.wrong_interface_owner(sg, arrival);
            if let Some(o) = owner {
                limiter.stamp(sg, arrival, now);
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
            limiter.notified();
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
        self.inner.wrong_if.expire(now);
        self.commit(|c, out| Ok(c.run_timers(now, out)))
    }

    /// As [`Mgm::run_timers`], with at most `max` units of work, so that an event loop can
    /// give the timers a slice and come back: each entry whose lifetime ran out is a unit
    /// (deleted, or given a new lifetime when it carried traffic), and so is each
    /// wrong-interface stamp forgotten. The timers left are the latest due; they are taken
    /// first by the next call, and `more` in the answer says whether any is still due now.
    /// Nothing is lost between calls: a call after `more` was false finds nothing due until
    /// the clock moves on.
    ///
    /// **Progress:** takes the control lock once.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when `max` is 0; [`Error::Stopped`].
    ///
    /// ```
    /// use mgm::{Config, IfKey, ManualClock, Mgm};
    /// use std::{net::Ipv4Addr, sync::Arc, time::Duration};
    /// let clock = ManualClock::new();
    /// let mgm = Mgm::<Ipv4Addr>::with_clock(Config::default(), Arc::new(clock.clone()));
    /// for g in 1..=5 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// clock.advance(Duration::from_secs(900));
    /// let first = mgm.run_timers_some(3).unwrap();
    /// assert_eq!((first.expired, first.more), (3, true));
    /// let rest = mgm.run_timers_some(3).unwrap();
    /// assert_eq!((rest.expired, rest.more), (2, false));
    /// assert_eq!(mgm.counters().mfes, 0);
    /// ```
    pub fn run_timers_some(&self, max: usize) -> Result<TimerRun> {
        self.running()?;
        if max == 0 {
            return Err(Error::OutOfRange {
                what: "the timer budget",
                expected: "at least 1",
            });
        }
        let now = self.now_ms();
        let done = self.commit(|c, out| Ok(c.run_timers_some(now, max, out)))?;
        // The stamps have what the entries left of the budget (with none left, they are
        // only looked at: are some due?).
        let stamps_more = self.inner.wrong_if.expire_some(now, max - done.units);
        Ok(TimerRun {
            expired: done.expired,
            more: done.more || stamps_more,
        })
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
        let now = self.now_ms();
        self.lock().mfe(Sg::new(source, group), now)
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
        f: impl FnMut(&Control<A>, Sg<A>) -> T,
    ) -> Result<Page<T>> {
        self.running()?;
        if max == 0 {
            return Err(Error::OutOfRange {
                what: "the page size",
                expected: "at least 1",
            });
        }
        Ok(self.lock().page(after, max, f))
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
        let now = self.now_ms();
        self.lock().mfe_stats(Sg::new(source, group), now)
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
        self.walk(after, max, |c, sg| c.stats(sg, now))
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
        self.commit(|c, _| c.set_external_counters(sg, counters))
    }

    /// `MgmSetMfe`: changes an entry's upstream neighbour; only the routing owner of its
    /// incoming interface may (G-16).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::InvalidSource`], [`Error::InvalidGroup`];
    /// [`Error::InvalidNextHop`] for an upstream neighbour that is neither unspecified nor a
    /// unicast address; [`Error::NoSuchMfe`]; [`Error::NotIifOwner`].
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
        let hop = check_next_hop(upstream);
        self.commit_entry(h, source, group, hop, |c, slot, sg, _| {
            c.set_upstream(slot, sg, upstream)
        })
    }

    /// The shared part of the calls on one entry by a protocol: the handle, source and group
    /// checked, then `more` (the call's own check of its other arguments), then `f` run under
    /// the control lock with the protocol's slot and the (S,G).
    fn commit_entry(
        &self,
        h: ProtocolHandle,
        source: A,
        group: A,
        more: Result<()>,
        f: impl FnOnce(&mut Control<A>, u32, Sg<A>, &mut Outbox<A>) -> Result<()>,
    ) -> Result<()> {
        self.check(h)?;
        check_source(source)?;
        check_group(group)?;
        more?;
        let protos = &self.inner.protos;
        let sg = Sg::new(source, group);
        self.commit(|c, out| {
            let slot = protos.check(h.raw())?;
            f(c, slot, sg, out)
        })
    }

    /// Sets an entry's lifetime and restarts its countdown: `Some(d)` deletes it `d` from now
    /// (with [`Config::refresh_on_traffic`], `d` after the last look that saw no traffic),
    /// `None` (or zero) keeps it until its owner deletes it, its route changes or its incoming
    /// interface is released. Only the routing owner of its incoming interface may (as
    /// [`Mgm::set_mfe`]). A static route's entry is pinned so; the entries other callers
    /// create keep [`Config::default_timeout`] and the lifetime hook's answers (G-17).
    ///
    /// A pinned entry that is deleted, by [`Mgm::delete_mfe`], a route change or a release,
    /// comes back on the next miss with the default lifetime: pinning is a property of the
    /// entry, not of its (S,G).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::InvalidSource`], [`Error::InvalidGroup`];
    /// [`Error::NoSuchMfe`]; [`Error::NotIifOwner`].
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Route};
    /// use std::{net::Ipv4Addr, sync::Arc, time::Duration};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (sr, _) = mgm.register(mgm::protocol_id(1, 0x2d6, 1), 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(sr, IfKey::new(1)).unwrap();
    /// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// assert_eq!(mgm.mfe(s, g).unwrap().timeout, Some(Duration::from_secs(900)));
    /// mgm.set_mfe_timeout(sr, s, g, None).unwrap();
    /// let m = mgm.mfe(s, g).unwrap();
    /// assert_eq!((m.timeout, m.expiry), (None, None));
    /// ```
    pub fn set_mfe_timeout(
        &self,
        h: ProtocolHandle,
        source: A,
        group: A,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let now = self.now_ms();
        self.commit_entry(h, source, group, Ok(()), |c, slot, sg, _| {
            c.set_lifetime(slot, sg, timeout, now)
        })
    }

    /// Deletes an entry now, as its lifetime running out would (readers lose it at once; its
    /// owner hears [`Event::MfeDeleted`] with [`DeleteReason::Deleted`](crate::DeleteReason::Deleted)); the next packet
    /// of the (S,G) is a miss that builds it again. Only the routing owner of its incoming
    /// interface may (as [`Mgm::set_mfe`]).
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidHandle`]; [`Error::InvalidSource`], [`Error::InvalidGroup`];
    /// [`Error::NoSuchMfe`]; [`Error::NotIifOwner`].
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Route};
    /// use std::{net::Ipv4Addr, sync::Arc};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (sr, _) = mgm.register(mgm::protocol_id(1, 0x2d6, 1), 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(sr, IfKey::new(1)).unwrap();
    /// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// mgm.delete_mfe(sr, s, g).unwrap();
    /// assert!(mgm.mfe(s, g).is_err());
    /// ```
    pub fn delete_mfe(&self, h: ProtocolHandle, source: A, group: A) -> Result<()> {
        self.commit_entry(h, source, group, Ok(()), |c, slot, sg, out| {
            c.delete_owned(slot, sg, out)
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
            let raw = c.enumeration_start(&inner.enums, slot, kind)?;
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
            Ok(c.enumeration_next(slot, max))
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
            c.enumeration_end(enums, slot);
            Ok(())
        })
    }

    /// Adds or replaces a route in the engine's multicast RIB; entries whose RPF it changes are
    /// deleted and rebuilt on their next packet (spec 6.16).
    ///
    /// A route through an interface nobody owns is accepted: the RIB is the RTM multicast
    /// view, which does not follow ownership, and a protocol may take the interface later.
    /// Until one does, a miss from a source behind it skips the RPF hook and keeps the RIB's
    /// answer (G-24), and the entry's incoming interface is that interface.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::InvalidPrefix`]; [`Error::MulticastRoute`] for a prefix in multicast space
    /// (see [`Family::is_multicast_prefix`]); [`Error::InvalidNextHop`] for an upstream
    /// neighbour, or a link of the incoming interface, that is neither unspecified nor a
    /// unicast address.
    ///
    /// ```
    /// use mgm::{IfKey, Mgm, Route};
    /// use std::net::Ipv4Addr;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// assert!(mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 1), 24, IfKey::new(1))).is_err());
    /// assert!(mgm.add_route(Route::new(Ipv4Addr::new(239, 0, 0, 0), 8, IfKey::new(1))).is_err());
    /// // Nobody owns interface 7 yet: the route is taken all the same.
    /// mgm.add_route(Route::new(Ipv4Addr::new(203, 0, 113, 0), 24, IfKey::new(7))).unwrap();
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
        self.lock().routes()
    }

    /// A reader for one forwarding worker. Create it on the worker's own thread.
    ///
    /// **Progress:** takes the worker-slot mutex (not the control lock). A reader beyond the
    /// per-worker copies the tables have (one per core to begin with) makes the forwarding
    /// store rebuild each shard once, with more copies and the counts carried over: creating
    /// readers belongs to start-up, not to the packet path.
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
    /// subscribing to start from a full table. The queue holds [`Config::queue_capacity`]
    /// batches; a subscriber that falls behind gets [`MfeChange::Resync`] and walks again
    /// (see [`Batches`]).
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
    #[must_use = "the stream carries every change from now on; dropped, it follows nothing"]
    pub fn subscribe(&self) -> Batches<MfeChange<A>> {
        self.lock().subscribe()
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
        let t = self.lock().tally();
        let (wrong_if_notified, wrong_if_suppressed) = self.inner.wrong_if.counts();
        EngineCounters {
            mfes: t.mfes,
            pending: t.pending,
            published: self.inner.store.len(),
            worker_slots: self.inner.store.max_workers(),
            refused_misses: t.refused,
            created: t.created,
            deleted: t.deleted,
            wrong_if_notified,
            wrong_if_suppressed,
            dropped: t.dropped,
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
        self.lock().interfaces()
    }

    /// Every membership, by interface.
    ///
    /// ```
    /// use mgm::Mgm;
    /// use std::net::Ipv4Addr;
    /// assert!(Mgm::<Ipv4Addr>::default().memberships().is_empty());
    /// ```
    pub fn memberships(&self) -> Vec<MembershipInfo<A>> {
        self.lock().memberships()
    }

    /// A walk of the memberships: up to `max` of them after `after` (from the start when
    /// `None`), in (interface, selector, protocol) order, the order of [`Mgm::memberships`].
    /// As [`Mgm::mfes`], a key that no longer exists resumes at the next greater one, and
    /// `more` says whether any follow. A page costs a lookup and its own items, whatever the
    /// number of memberships, so an administrative dump of a large table can go a page at a
    /// time without holding the control lock for long.
    ///
    /// **Progress:** takes the control lock.
    ///
    /// # Errors
    /// [`Error::OutOfRange`] when `max` is 0.
    ///
    /// ```
    /// use mgm::{DefaultHooks, IfKey, Mgm, Selector, JOIN};
    /// use std::net::Ipv4Addr;
    /// use std::sync::Arc;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (h, _events) = mgm.register(mgm::protocol_id(1, 0x2d6, 9), 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.take_interface(h, IfKey::new(4)).unwrap();
    /// for g in 1..=3 {
    ///     mgm.add_membership(h, Selector::Group(Ipv4Addr::new(239, 0, 0, g)), IfKey::new(4), JOIN).unwrap();
    /// }
    /// let first = mgm.memberships_after(None, 2).unwrap();
    /// assert!(first.more);
    /// let rest = mgm.memberships_after(first.items.last().copied(), 2).unwrap();
    /// assert_eq!(rest.items[0].selector, Selector::Group(Ipv4Addr::new(239, 0, 0, 3)));
    /// assert!(!rest.more);
    /// ```
    pub fn memberships_after(
        &self,
        after: Option<MembershipInfo<A>>,
        max: usize,
    ) -> Result<Page<MembershipInfo<A>>> {
        self.running()?;
        if max == 0 {
            return Err(Error::OutOfRange {
                what: "the page size",
                expected: "at least 1",
            });
        }
        Ok(self.lock().membership_page(after, max))
    }
}
