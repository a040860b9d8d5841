//! Protocols as the engine sees them: identifiers, decision hooks, events and their channels.

use std::time::Duration;

use crossbeam::channel::{Receiver, RecvError, RecvTimeoutError, TryRecvError};

use crate::addr::{Family, IfKey, Selector, Sg};
use crate::rib::Route;

/// `PROTO_TYPE_MCAST`: the protocol-id type of multicast protocols.
pub const PROTO_TYPE_MCAST: u32 = 1;
/// `PROTO_IP_IGMP`: the protocol number of IGMP (and of MLD on an IPv6 engine).
pub const PROTO_IP_IGMP: u32 = 10;
/// `MS_IP_IGMP`: Microsoft's IGMP, `0x4137000A`.
pub const MS_IP_IGMP: u32 = 0x4137_000A;

/// `PROTOCOL_ID(type, vendor, proto)` of `routprot.h`.
///
/// ```
/// assert_eq!(mgm::protocol_id(1, 0x137, 10), mgm::MS_IP_IGMP);
/// ```
pub fn protocol_id(kind: u32, vendor: u32, proto: u32) -> u32 {
    ((kind & 3) << 30) | ((vendor & 0x3fff) << 16) | (proto & 0xffff)
}

/// True when a protocol id names IGMP, of any vendor (G-3): type multicast, protocol 10.
///
/// ```
/// assert!(mgm::is_igmp(mgm::MS_IP_IGMP));
/// assert!(mgm::is_igmp(mgm::protocol_id(1, 0x2a, 10)));
/// assert!(!mgm::is_igmp(mgm::protocol_id(1, 0x137, 0x21)));
/// ```
pub fn is_igmp(protocol: u32) -> bool {
    protocol >> 30 == PROTO_TYPE_MCAST && protocol & 0xffff == PROTO_IP_IGMP
}

/// What the RPF hook is asked when a forwarding entry is being created (spec 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfQuery<A> {
    /// The entry being created.
    pub sg: Sg<A>,
    /// Where the packet that missed arrived.
    pub arrival: IfKey<A>,
    /// The incoming interface from the RIB: the interface toward the source.
    pub iif: IfKey<A>,
    /// The upstream neighbour from the RIB.
    pub upstream: A,
    /// The route used.
    pub route: Route<A>,
}

/// The RPF hook's answer: the incoming interface and upstream neighbour the entry will have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfDecision<A> {
    /// The incoming interface.
    pub iif: IfKey<A>,
    /// The upstream neighbour.
    pub upstream: A,
}

/// One interface of a creation alert (`MGM_IF_ENTRY`): the protocol may clear `enabled` to keep
/// the new entry from forwarding there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreationEntry<A> {
    /// The outgoing interface, owned by the protocol being asked.
    pub interface: IfKey<A>,
    /// IGMP is present on the interface (why it is there, often).
    pub igmp: bool,
    /// Forward on it; true unless the protocol says otherwise.
    pub enabled: bool,
}

/// Decision hooks: the synchronous questions the engine asks a protocol (spec 5.1-5.3).
///
/// Every method has a default that accepts: the RIB's RPF answer, every interface enabled, the
/// proposed lifetime. A protocol overrides what it needs (G-2). The engine holds no lock while a
/// hook runs, so a hook may call back into the engine.
///
/// ```
/// use mgm::{CreationEntry, Hooks, IfKey, Sg};
/// use std::net::Ipv4Addr;
/// /// A protocol that never forwards onto interface 9.
/// struct NotOnNine;
/// impl Hooks<Ipv4Addr> for NotOnNine {
///     fn creation_alert(&self, _sg: Sg<Ipv4Addr>, _iif: IfKey<Ipv4Addr>, oifs: &mut [CreationEntry<Ipv4Addr>]) {
///         for e in oifs.iter_mut().filter(|e| e.interface.index == 9) {
///             e.enabled = false;
///         }
///     }
/// }
/// ```
pub trait Hooks<A: Family>: Send + Sync {
    /// Confirms or changes the incoming interface of a new entry; asked of the owner of the
    /// interface toward the source.
    fn rpf(&self, query: &RpfQuery<A>) -> RpfDecision<A> {
        RpfDecision {
            iif: query.iif,
            upstream: query.upstream,
        }
    }

    /// Vetoes forwarding of a new entry onto some of this protocol's interfaces.
    fn creation_alert(&self, sg: Sg<A>, iif: IfKey<A>, oifs: &mut [CreationEntry<A>]) {
        let _ = (sg, iif, oifs);
    }

    /// Chooses how long an entry whose outgoing list just became empty lives; asked of the
    /// owner of its incoming interface with the `member_delete: false` prune alert. `None`
    /// means the entry never ages.
    fn mfe_timeout(
        &self,
        sg: Sg<A>,
        iif: IfKey<A>,
        proposed: Option<Duration>,
    ) -> Option<Duration> {
        let _ = (sg, iif);
        proposed
    }
}

/// Hooks that accept every default.
///
/// ```
/// use mgm::{DefaultHooks, Mgm};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (_h, _events) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultHooks;

impl<A: Family> Hooks<A> for DefaultHooks {}

/// Why a forwarding entry was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeleteReason {
    /// Its lifetime ran out.
    Expired,
    /// Its incoming interface was released.
    InterfaceReleased,
    /// The route it was built from changed.
    RouteChanged,
}

/// A notification to a protocol (spec 5.3-5.9), delivered in batches on its channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<A> {
    /// Receivers appeared: start bringing this traffic in. `member_update` is true for a
    /// membership add, false when an entry's outgoing list became non-empty.
    JoinAlert {
        /// What to bring in.
        selector: Selector<A>,
        /// True: a membership was added; false: an entry was created or updated.
        member_update: bool,
    },
    /// Receivers went away: stop bringing this traffic in. For `member_delete: false` the
    /// interface is the entry's incoming interface and the lifetime is asked through
    /// [`Hooks::mfe_timeout`].
    PruneAlert {
        /// What to stop.
        selector: Selector<A>,
        /// The interface on which to stop receiving.
        interface: IfKey<A>,
        /// True: a membership was deleted; false: an entry's outgoing list became empty.
        member_delete: bool,
    },
    /// IGMP added a membership on an interface this protocol owns.
    LocalJoin {
        /// The membership.
        selector: Selector<A>,
        /// The interface.
        interface: IfKey<A>,
    },
    /// IGMP deleted a membership on an interface this protocol owns.
    LocalLeave {
        /// The membership.
        selector: Selector<A>,
        /// The interface.
        interface: IfKey<A>,
    },
    /// Traffic of an entry arrived on this protocol's interface, not on the entry's incoming
    /// interface (rate-limited per entry and interface).
    WrongInterface {
        /// The source.
        source: A,
        /// The group.
        group: A,
        /// Where it arrived.
        interface: IfKey<A>,
    },
    /// (IGMP only) an ownership change on the interface starts: add and delete nothing there.
    DisableIgmp {
        /// The interface.
        interface: IfKey<A>,
    },
    /// (IGMP only) the ownership change is done: replay the memberships on the interface.
    EnableIgmp {
        /// The interface.
        interface: IfKey<A>,
    },
    /// A forwarding entry whose incoming interface this protocol owns was deleted.
    MfeDeleted {
        /// The entry.
        sg: Sg<A>,
        /// Its incoming interface.
        iif: IfKey<A>,
        /// Why.
        reason: DeleteReason,
    },
}

/// The receiving end of a batched channel: one batch per engine operation, in commit order.
///
/// The channel is unbounded on purpose: the engine never blocks on a protocol that stops
/// draining, and never drops another protocol's events; the cost of a stalled receiver is its
/// own queue's memory.
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Selector, JOIN};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (a, _) = mgm.register(0x4000_0021, 1, Arc::new(DefaultHooks)).unwrap();
/// let (_b, b_events) = mgm.register(0x4000_0022, 1, Arc::new(DefaultHooks)).unwrap();
/// mgm.take_interface(a, IfKey::new(1)).unwrap();
/// mgm.add_membership(a, Selector::Group(Ipv4Addr::new(239, 1, 1, 1)), IfKey::new(1), JOIN).unwrap();
/// assert_eq!(b_events.drain().len(), 1, "b hears the first (*,G) join");
/// ```
#[derive(Debug)]
pub struct Batches<T> {
    rx: Receiver<Vec<T>>,
}

/// A protocol's notifications.
pub type EventReceiver<A> = Batches<Event<A>>;

impl<T> Batches<T> {
    pub(crate) fn new(rx: Receiver<Vec<T>>) -> Self {
        Batches { rx }
    }

    /// Waits for the next batch.
    ///
    /// # Errors
    /// [`RecvError`] once the sender is gone (the protocol deregistered, or the engine was dropped)
    /// and the queue is empty.
    pub fn recv_batch(&self) -> Result<Vec<T>, RecvError> {
        self.rx.recv()
    }

    /// Waits at most `timeout` for the next batch.
    ///
    /// # Errors
    /// [`RecvTimeoutError`] on time-out or disconnection.
    pub fn recv_batch_timeout(&self, timeout: Duration) -> Result<Vec<T>, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// The next batch if one is queued.
    ///
    /// # Errors
    /// [`TryRecvError`] when none is queued or the sender is gone.
    pub fn try_recv_batch(&self) -> Result<Vec<T>, TryRecvError> {
        self.rx.try_recv()
    }

    /// Every queued item, batches flattened in order, without waiting.
    pub fn drain(&self) -> Vec<T> {
        self.rx.try_iter().flatten().collect()
    }

    /// The underlying crossbeam receiver, for `select!`.
    pub fn receiver(&self) -> &Receiver<Vec<T>> {
        &self.rx
    }
}
