//! What the engine reports about forwarding entries: records, statistics, pages, changes.

use std::time::Duration;

use crate::addr::{IfKey, Selector, Sg};
use crate::error::win32;
use crate::protocol::DeleteReason;
use crate::rib::Route;

/// One multicast forwarding entry (`MIB_IPMCAST_MFE`).
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Route};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
/// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
/// let mfe = mgm.mfe(s, g).unwrap();
/// assert_eq!(mfe.iif, IfKey::new(1));
/// assert!(mfe.oifs.is_empty(), "nobody joined: a negative entry");
/// assert_eq!(mfe.timeout, Some(std::time::Duration::from_secs(900)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mfe<A> {
    /// The source.
    pub source: A,
    /// The group.
    pub group: A,
    /// The upstream neighbour toward the source.
    pub upstream: A,
    /// The incoming interface.
    pub iif: IfKey<A>,
    /// (protocol id, component id) of the routing protocol owning the incoming interface.
    pub iif_protocol: Option<(u32, u32)>,
    /// The RIB route the RPF decision used; `None` for an entry created without a route.
    pub route: Option<Route<A>>,
    /// Time since creation.
    pub up_time: Duration,
    /// Time left before deletion; `None` when the entry does not age.
    pub expiry: Option<Duration>,
    /// The lifetime; `None` when the entry does not age.
    pub timeout: Option<Duration>,
    /// The outgoing interfaces, in key order. Empty: a negative entry (matching packets are
    /// dropped).
    pub oifs: Vec<IfKey<A>>,
}

impl<A: Copy> Mfe<A> {
    /// The entry's key.
    pub fn sg(&self) -> Sg<A> {
        Sg::new(self.source, self.group)
    }
}

/// Packets sent on one outgoing interface (`MIB_IPMCAST_OIF_STATS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OifStats<A> {
    /// The outgoing interface.
    pub interface: IfKey<A>,
    /// Packets sent on it.
    pub out_packets: u64,
}

/// An entry with its counters (`MIB_IPMCAST_MFE_STATS_EX`), summed over forwarding workers.
///
/// ```
/// use mgm::{DefaultHooks, IfKey, Mgm, Route};
/// use std::{net::Ipv4Addr, sync::Arc};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
/// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
/// let mut reader = mgm.reader().unwrap();
/// reader.lookup(IfKey::new(1), s, g, 100);
/// let stats = mgm.mfe_stats(s, g).unwrap();
/// assert_eq!((stats.in_packets, stats.in_octets, stats.negative), (1, 100, 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfeStats<A> {
    /// The entry.
    pub mfe: Mfe<A>,
    /// Packets that matched the entry on its incoming interface (`ulInPkts`).
    pub in_packets: u64,
    /// Octets of those packets (`ulInOctets`).
    pub in_octets: u64,
    /// Matching packets that arrived on another interface (`ulPktsDifferentIf`).
    pub different_if: u64,
    /// Matching packets dropped because the entry is negative (`ulNegativeMfe`).
    pub negative: u64,
    /// The part of `in_packets`, `in_octets` and `different_if` an external forwarder
    /// reported ([`crate::Mgm::set_external_counters`]).
    pub external: ExternalCounters,
    /// Misses reported while the entry was being created (`ulUninitMfe`).
    pub uninit: u64,
    /// Copies sent over all outgoing interfaces (`ulTotalOutPackets`).
    pub total_out_packets: u64,
    /// Per outgoing interface.
    pub oifs: Vec<OifStats<A>>,
}

/// Counters of one entry kept by a forwarder outside the process (a kernel table), as it last
/// reported them: cumulative values, added to the readers' own in [`MfeStats`].
///
/// ```
/// let c = mgm::ExternalCounters { packets: 10, bytes: 1000, wrong_if: 1 };
/// assert_eq!(c, mgm::ExternalCounters { packets: 10, ..c });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExternalCounters {
    /// Packets that matched the entry.
    pub packets: u64,
    /// Their octets.
    pub bytes: u64,
    /// Matching packets that arrived on another interface.
    pub wrong_if: u64,
}

/// What one bounded timer run ([`Mgm::run_timers_some`](crate::Mgm::run_timers_some)) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerRun {
    /// The entries deleted because their lifetime ran out.
    pub expired: usize,
    /// True when timers are still due: the budget ran out first, call again.
    pub more: bool,
}

/// A page of a walk or an enumeration, and whether more remain (G-15).
///
/// ```
/// use mgm::Mgm;
/// use std::net::Ipv4Addr;
/// let page = Mgm::<Ipv4Addr>::default().mfes(None, 10).unwrap();
/// assert!(page.items.is_empty() && !page.more);
/// assert_eq!(page.win32_status(), 259); // ERROR_NO_MORE_ITEMS
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// True when more items follow.
    pub more: bool,
}

impl<T> Page<T> {
    /// `ERROR_MORE_DATA` when more remain, `ERROR_NO_MORE_ITEMS` at the end.
    pub fn win32_status(&self) -> u32 {
        if self.more {
            win32::MORE_DATA
        } else {
            win32::NO_MORE_ITEMS
        }
    }
}

/// What a group enumeration lists (`MGM_ENUM_TYPES`, G-14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumKind {
    /// One record per group with any membership, source wildcard; `(*,*)` memberships give one
    /// [`Selector::AllGroups`] record.
    AnySource,
    /// One record per distinct membership selector: `(S,G)`, `(*,G)` and `(*,*)`.
    AllSources,
}

/// A change of the forwarding table, for forwarders outside the process (southbound).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MfeChange<A> {
    /// A new entry, with its full state.
    Installed(Mfe<A>),
    /// An entry's outgoing list changed; the full new state.
    OifsChanged(Mfe<A>),
    /// An entry was deleted.
    Deleted {
        /// The entry.
        sg: Sg<A>,
        /// Its incoming interface.
        iif: IfKey<A>,
        /// Why.
        reason: DeleteReason,
    },
    /// The subscriber's queue was full ([`crate::Config::queue_capacity`] batches) and the
    /// engine dropped `lost` changes, in whole batches. It comes after every change older than
    /// the loss (and, rarely, after a newer batch the engine queued while the receiver was
    /// making it); nothing was lost after it until the next marker. The
    /// forwarder must make its table match the engine's again: walk [`crate::Mgm::mfes`],
    /// install or update every entry, delete what the walk does not have. The changes after
    /// the marker may repeat what the walk already showed; each carries the full new state, so
    /// applying them in order leaves the table right.
    Resync {
        /// How many changes were dropped.
        lost: u64,
    },
}

/// What a reported cache miss led to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissOutcome<A> {
    /// The entry was created by this call.
    Created(Mfe<A>),
    /// The entry already existed (another miss created it first).
    Exists(Mfe<A>),
    /// Another call is creating the entry right now; this miss was counted (`ulUninitMfe`).
    Pending,
}

/// A membership as the engine records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembershipInfo<A> {
    /// (protocol id, component id) of the member.
    pub protocol: (u32, u32),
    /// What it receives.
    pub selector: Selector<A>,
    /// Where.
    pub interface: IfKey<A>,
}

/// An interface as the engine records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterfaceInfo<A> {
    /// The interface.
    pub interface: IfKey<A>,
    /// (protocol id, component id) of the routing owner.
    pub owner: Option<(u32, u32)>,
    /// (protocol id, component id) of IGMP, when present.
    pub igmp: Option<(u32, u32)>,
}

/// Engine-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Forwarding entries installed now.
    pub mfes: usize,
    /// Entries being created now.
    pub pending: usize,
    /// Entries readers can find now (equal to `mfes` whenever no call is in progress).
    pub published: usize,
    /// Forwarding-worker slots (readers) the engine allows at once.
    pub worker_slots: usize,
    /// Misses refused because the table was full.
    pub refused_misses: u64,
    /// Entries created since start.
    pub created: u64,
    /// Entries deleted since start.
    pub deleted: u64,
    /// Wrong-interface reports passed to a protocol.
    pub wrong_if_notified: u64,
    /// Wrong-interface reports suppressed by the rate limit.
    pub wrong_if_suppressed: u64,
    /// Events and southbound changes dropped since start because their receiver's queue was
    /// full (each loss announced to that receiver by a marker, [`crate::Batches`]).
    pub dropped: u64,
}
