//! Protocols as the engine sees them: identifiers, decision hooks, events and their channels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{
    bounded, Receiver, RecvError, RecvTimeoutError, Sender, TryRecvError, TrySendError,
};

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
    /// The owner of its incoming interface deleted it ([`crate::Mgm::delete_mfe`]).
    Deleted,
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
    /// The protocol's queue was full ([`crate::Config::queue_capacity`] batches) and the
    /// engine dropped `lost` events meant for it, in whole batches. It comes after every event
    /// older than the loss (and, rarely, after a newer batch the engine queued while the
    /// receiver was making it); nothing was lost after it until the next marker. Re-read what the protocol mirrors of the engine
    /// ([`crate::Mgm::interfaces`], [`crate::Mgm::memberships`], [`crate::Mgm::mfes`], the group
    /// enumerations). No bracket of [`Event::DisableIgmp`] / [`Event::EnableIgmp`] is open
    /// across it: a bracket is one operation's batch, dropped or delivered whole.
    Overflow {
        /// How many events were dropped.
        lost: u64,
    },
}

/// What the two ends of one queue share: the events dropped and not yet announced by a
/// marker, and the events dropped in all.
#[derive(Debug, Default)]
struct Lost {
    unannounced: AtomicU64,
    total: AtomicU64,
}

/// The engine's end of one bounded queue (a protocol's events, a subscriber's changes).
///
/// Only the control plane sends, under its lock, so there is one sender at a time; it never
/// waits: a batch that does not fit is dropped and counted, and the next batch that fits is
/// preceded by the overflow marker. The receiving end announces the loss itself when it finds
/// the queue drained first (see [`Batches`]).
pub(crate) struct Outlet<T> {
    tx: Sender<Vec<T>>,
    lost: Arc<Lost>,
    marker: fn(u64) -> T,
}

/// The receiving end of an [`Outlet`] is gone.
pub(crate) struct Gone;

impl<T> Outlet<T> {
    /// A queue of at most `capacity` batches (at least 1), and its receiving end; `marker`
    /// makes the overflow marker from the number of events lost.
    pub(crate) fn pair(capacity: usize, marker: fn(u64) -> T) -> (Outlet<T>, Batches<T>) {
        let (tx, rx) = bounded(capacity.max(1));
        let lost = Arc::new(Lost::default());
        let batches = Batches {
            rx,
            lost: lost.clone(),
            marker,
        };
        (Outlet { tx, lost, marker }, batches)
    }

    /// Queues `batch` without waiting; returns how many events were dropped (0 or the
    /// batch's length).
    ///
    /// # Errors
    /// [`Gone`] when the receiving end was dropped.
    pub(crate) fn send(&self, batch: Vec<T>) -> Result<u64, Gone> {
        let unannounced = self.lost.unannounced.swap(0, Ordering::AcqRel);
        if unannounced > 0 {
            match self.tx.try_send(vec![(self.marker)(unannounced)]) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Ok(self.lose(batch.len() as u64, unannounced));
                }
                Err(TrySendError::Disconnected(_)) => return Err(Gone),
            }
        }
        match self.tx.try_send(batch) {
            Ok(()) => Ok(0),
            Err(TrySendError::Full(b)) => Ok(self.lose(b.len() as u64, 0)),
            Err(TrySendError::Disconnected(_)) => Err(Gone),
        }
    }

    /// Counts `n` dropped events, to be announced with `carried` still unannounced.
    fn lose(&self, n: u64, carried: u64) -> u64 {
        self.lost
            .unannounced
            .fetch_add(n.saturating_add(carried), Ordering::AcqRel);
        self.lost.total.fetch_add(n, Ordering::Relaxed);
        n
    }
}

/// The receiving end of a batched channel: one batch per engine operation, in commit order.
///
/// **Overflow policy.** The queue is bounded: it holds at most
/// [`Config::queue_capacity`](crate::Config::queue_capacity) batches. The engine never waits
/// for a receiver: when the queue is full it drops the batch (whole), counts its items in
/// [`Batches::lost`] and in [`crate::EngineCounters::dropped`], and the receiver's next item
/// after everything queued before the loss is an explicit marker ([`Event::Overflow`],
/// [`crate::MfeChange::Resync`]) carrying how many items were dropped since the previous
/// marker. The marker is sent with the next batch that fits, or made by this end when it finds
/// the queue drained, whichever comes first, so a receiver that catches up sees it without
/// waiting for the engine's next operation. On the marker the receiver must re-read the
/// state it mirrors (walks and enumerations give it all); what it receives after the marker
/// is complete until the next marker. One protocol's full queue costs nothing to another's.
///
/// Read it from one thread: the marker's place in the stream relies on one receiver.
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
///
/// A receiver that does not keep up:
///
/// ```
/// use mgm::{Config, Event, IfKey, Mgm, MfeChange};
/// use std::net::Ipv4Addr;
/// let mgm = Mgm::<Ipv4Addr>::new(Config { queue_capacity: 2, ..Config::default() });
/// let changes = mgm.subscribe();
/// for g in 1..=5 {
///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
/// }
/// let got = changes.drain();
/// assert_eq!(got.len(), 3, "two installs, then the marker");
/// assert_eq!(got[2], MfeChange::Resync { lost: 3 });
/// assert_eq!(changes.lost(), 3);
/// // Resync: the walk has all five entries.
/// assert_eq!(mgm.mfes(None, 10).unwrap().items.len(), 5);
/// ```
#[derive(Debug)]
pub struct Batches<T> {
    rx: Receiver<Vec<T>>,
    lost: Arc<Lost>,
    marker: fn(u64) -> T,
}

/// A protocol's notifications.
pub type EventReceiver<A> = Batches<Event<A>>;

impl<T> Batches<T> {
    /// The marker of the items lost since the last one, when there are some and the queue
    /// is drained. When the queue is not drained (the engine queued more meanwhile, every
    /// batch of it older than the loss, or newer ones after its own marker), the count is
    /// left for the engine or a later call: a marker never overtakes an item older than the
    /// loss it announces.
    fn marker_if_drained(&self) -> Option<Vec<T>> {
        if !self.rx.is_empty() || self.lost.unannounced.load(Ordering::Acquire) == 0 {
            return None;
        }
        let n = self.lost.unannounced.swap(0, Ordering::AcqRel);
        if n == 0 {
            return None;
        }
        if self.rx.is_empty() {
            Some(vec![(self.marker)(n)])
        } else {
            self.lost.unannounced.fetch_add(n, Ordering::AcqRel);
            None
        }
    }

    /// Waits for the next batch.
    ///
    /// # Errors
    /// [`RecvError`] once the sender is gone (the protocol deregistered, or the engine was dropped)
    /// and the queue is empty.
    pub fn recv_batch(&self) -> Result<Vec<T>, RecvError> {
        match self.try_recv_batch() {
            Ok(b) => Ok(b),
            Err(TryRecvError::Empty) => self.rx.recv(),
            Err(TryRecvError::Disconnected) => Err(RecvError),
        }
    }

    /// Waits at most `timeout` for the next batch.
    ///
    /// # Errors
    /// [`RecvTimeoutError`] on time-out or disconnection.
    pub fn recv_batch_timeout(&self, timeout: Duration) -> Result<Vec<T>, RecvTimeoutError> {
        // A time-out too long for a deadline (`Duration::MAX`) waits without one.
        let deadline = Instant::now().checked_add(timeout);
        match self.try_recv_batch() {
            Ok(b) => Ok(b),
            Err(TryRecvError::Empty) => match deadline {
                Some(d) => self.rx.recv_deadline(d),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            },
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// The next batch if one is queued (or the overflow marker, when the queue is drained
    /// after a loss).
    ///
    /// # Errors
    /// [`TryRecvError`] when none is queued or the sender is gone.
    pub fn try_recv_batch(&self) -> Result<Vec<T>, TryRecvError> {
        match self.rx.try_recv() {
            Ok(b) => Ok(b),
            Err(e) => self.marker_if_drained().ok_or(e),
        }
    }

    /// Every queued item, batches flattened in order, without waiting; the overflow marker
    /// included where it falls.
    pub fn drain(&self) -> Vec<T> {
        let mut items = Vec::new();
        while let Ok(b) = self.try_recv_batch() {
            items.extend(b);
        }
        items
    }

    /// Items the engine dropped from this queue because it was full, in all (each loss is
    /// announced by a marker in the stream).
    pub fn lost(&self) -> u64 {
        self.lost.total.load(Ordering::Relaxed)
    }

    /// The underlying crossbeam receiver, for `select!`. When it is ready, read with
    /// [`Batches::try_recv_batch`]: reading the raw receiver skips the marker this end makes
    /// for a loss it finds drained (the engine still sends it with its next batch).
    pub fn receiver(&self) -> &Receiver<Vec<T>> {
        &self.rx
    }
}
