//! # mgm — a multicast group manager
//!
//! `mgm` is the one place where the multicast routing protocols of a router meet, as the
//! *Multicast Group Manager* (MGM) is in Windows' routing service. Protocols (PIM, DVMRP,
//! IGMP/MLD, proxies) register, take ownership of interfaces and report where receivers are;
//! the engine keeps the multicast forwarding entries (MFEs: source, group, incoming interface,
//! outgoing interfaces, counters), tells each protocol what it must know (join, prune, local
//! join and leave, wrong interface, IGMP disable and enable), and answers the packet path, per
//! packet, from several forwarding workers, without locks.
//!
//! Contents: [the two planes](#the-two-planes) · [MGM function → Rust
//! item](#mgm-function--rust-item) · [Consistency](#consistency) · [Progress](#progress) ·
//! [Decisions](#decisions) · [Example](#example)
//!
//! ## The two planes
//!
//! * **Control plane** — [`Mgm`]: registration, ownership, memberships, the RIB used for RPF,
//!   entry creation on a cache miss, lifetimes, walks and enumerations. Every call is one short
//!   transaction under one internal lock. Notifications ([`Event`]) are sent batched per
//!   operation on each protocol's channel ([`EventReceiver`]) in commit order; decisions that
//!   need an answer are [`Hooks`] methods, called with no lock held.
//! * **Data plane** — [`Reader`]: one per forwarding worker. [`Reader::lookup`] gives the
//!   [`Verdict`] for (arrival interface, source, group): forward to these outgoing interfaces,
//!   wrong interface, negative (drop), or miss. Entries live in shards keyed by incoming
//!   interface; the directory of shards is published through `arc-swap`, so releasing an
//!   interface drops its whole shard with one pointer swap.
//! * **Southbound** — [`Mgm::subscribe`] streams [`MfeChange`]s in order, for a forwarder
//!   outside the process (a kernel table, an ASIC).
//!
//! ## MGM function → Rust item
//!
//! | MGM | Rust |
//! |---|---|
//! | `MgmRegisterMProtocol` | [`Mgm::register`] (hooks: [`Hooks`]; events: [`EventReceiver`]) |
//! | `MgmDeRegisterMProtocol` | [`Mgm::deregister`] |
//! | `MgmTakeInterfaceOwnership` | [`Mgm::take_interface`] |
//! | `MgmReleaseInterfaceOwnership` | [`Mgm::release_interface`] |
//! | `MgmGetProtocolOnInterface` | [`Mgm::protocol_on_interface`] |
//! | `MgmAddGroupMembershipEntry` | [`Mgm::add_membership`] with [`JOIN`] / [`FORWARD`] |
//! | `MgmDeleteGroupMembershipEntry` | [`Mgm::delete_membership`] |
//! | `MgmGetMfe` | [`Mgm::mfe`] |
//! | `MgmGetFirstMfe` / `MgmGetNextMfe` | [`Mgm::mfes`] (`after: None` / `Some(last)`) |
//! | `MgmGetMfeStats` | [`Mgm::mfe_stats`] |
//! | `MgmGetFirstMfeStats` / `MgmGetNextMfeStats` | [`Mgm::mfe_stats_page`] |
//! | `MgmGroupEnumerationStart` / `GetNext` / `End` | [`Mgm::group_enumeration_start`] / [`Mgm::group_enumeration_next`] / [`Mgm::group_enumeration_end`] |
//! | `MgmSetMfe` | [`Mgm::set_mfe`] |
//! | `MgmNewPacketReceived` (internal in Windows) | [`Mgm::new_packet`] |
//! | (none: an entry's lifetime and its deletion by the owner of its incoming interface) | [`Mgm::set_mfe_timeout`], [`Mgm::delete_mfe`] |
//! | `pfnRpfCallback` | [`Hooks::rpf`] |
//! | `pfnCreationAlertCallback` | [`Hooks::creation_alert`] |
//! | `pfnPruneAlertCallback` (and its `pdwTimeout`) | [`Event::PruneAlert`] (and [`Hooks::mfe_timeout`]) |
//! | `pfnJoinAlertCallback` | [`Event::JoinAlert`] |
//! | `pfnWrongIfCallback` | [`Event::WrongInterface`], fed by [`Mgm::report_wrong_interface`] |
//! | `pfnLocalJoinCallback` / `pfnLocalLeaveCallback` | [`Event::LocalJoin`] / [`Event::LocalLeave`] |
//! | `pfnDisableIgmpCallback` / `pfnEnableIgmpCallback` | [`Event::DisableIgmp`] / [`Event::EnableIgmp`] |
//! | RTM multicast view (RPF routes) | [`Mgm::add_route`], [`Mgm::remove_route`], [`Route`] |
//! | Win32 error codes | [`Error::win32_code`], [`Page::win32_status`] |
//!
//! ## Consistency
//!
//! * Control-plane calls are linearizable: each takes effect at one point while it holds the
//!   control lock, and its notifications are queued, in that order, before the lock is
//!   released. A protocol therefore sees the batches of two operations in the order they
//!   committed.
//! * A reader sees each entry either wholly before or wholly after a change (each entry is
//!   published under a per-entry sequence lock; a reader that overlaps a change reads it
//!   again). When a call returns, every reader's next lookup sees its effect.
//! * A release changes several things (the shard of the interface, the outgoing lists of other
//!   entries); readers may see the outgoing lists change a moment before the shard goes, never
//!   an entry half-changed, and all of it once the call returns.
//! * Entry creation on a miss asks hooks with the lock released, so other calls run meanwhile;
//!   the candidate interfaces are recomputed when the entry is installed, and a RIB change in
//!   between restarts the creation.
//! * Walks ([`Mgm::mfes`]) read the table as of each call; group enumerations read a snapshot
//!   taken at their start.
//! * Packet and byte counters are per worker and summed when read; a per-OIF count is the
//!   entry's packets since the OIF joined its list, so a packet being looked up while the list
//!   changes may be counted on the list before or after the change. When a shard's table is
//!   rebuilt (it grows or shrinks), a packet whose lookup was under way across the swap may be
//!   lost from the counts (at most one per worker, or one burst, per rebuild).
//!
//! ## Progress
//!
//! | call | progress |
//! |---|---|
//! | [`Reader::lookup`], [`Reader::lookup_burst`] | no lock, no allocation, no shared write but the worker's own counters; a lookup that meets an entry mid-rewrite waits for the writer's few stores to that entry (a writer descheduled right then holds up the readers of that one entry) |
//! | handle check (first step of every handle-taking call) | one atomic load and compare; a stale handle fails there |
//! | [`Mgm::report_wrong_interface`] | rate limit checked on a sharded map, then the control lock when passed on |
//! | every other [`Mgm`] method | blocks on the control lock, which is never held while protocol code runs |
//! | [`Hooks`] | run on the caller's thread, no engine lock held: they may call the engine |
//!
//! Event and southbound queues are bounded ([`Config::queue_capacity`] batches each) and the
//! engine never waits on them: a receiver that stops draining loses batches, never blocks the
//! engine, and costs another receiver nothing. A loss is never silent: it is counted
//! ([`Batches::lost`], [`EngineCounters::dropped`]) and the receiver's stream carries a marker
//! ([`Event::Overflow`], [`MfeChange::Resync`]) after everything older than the loss;
//! on it the receiver re-reads the state it mirrors through the walks and enumerations
//! ([`Batches`] has the details).
//!
//! ## Decisions
//!
//! Where MGM's documentation leaves a gap, the engine decides as follows (numbers refer to the
//! behaviour notes' gap list):
//!
//! * A client is IGMP iff its protocol id has type multicast and protocol 10 ([`is_igmp`]);
//!   at most one IGMP instance per interface (G-3).
//! * Hooks are a trait with accepting defaults (G-2).
//! * A routing protocol taking an interface where IGMP is present: IGMP's memberships stay,
//!   the new owner hears each as [`Event::LocalJoin`], all between [`Event::DisableIgmp`] and
//!   [`Event::EnableIgmp`]; IGMP's replay after enable changes nothing (G-11).
//! * Release by the routing owner (G-8): entries whose incoming interface it is go with one
//!   shard swap; its memberships there are deleted with their prune alerts; the interface
//!   leaves other entries' outgoing lists without deleting them, unless IGMP memberships on it
//!   still select them.
//! * Membership add and delete require the caller to own the interface or be the IGMP present
//!   there (G-10); both are idempotent (G-11); flags follow G-12.
//! * `(*,*)` memberships are counted like a group of their own (G-13); (S,G) alerts go to the
//!   owner of the interface toward S on the first add and last delete only (G-31).
//! * `member_update/member_delete: false` alerts go to the owner of the entry's incoming
//!   interface when its outgoing list turns non-empty or empty (G-22).
//! * A miss with no route installs a negative entry on the arrival interface (G-24);
//!   concurrent misses create once (G-19); [`Config::max_mfes`] bounds a miss storm.
//! * Lifetime 900 s by default, set by the owner's [`Hooks::mfe_timeout`]; optional refresh on
//!   traffic; `None` never ages (G-17).
//! * Wrong-interface notifications are on, rate-limited to one per 3 s per (entry, arrival
//!   interface) (G-35).
//! * A RIB change deletes the entries it re-routes; they are rebuilt on their next packet
//!   (spec 6.16).
//! * Sources are unicast addresses that can arrive on an interface: not multicast,
//!   unspecified, loopback, nor (IPv4) class E with the limited broadcast; every call that
//!   takes a source refuses the others with [`Error::InvalidSource`]. Next hops (routes'
//!   upstream neighbours and links, [`Mgm::set_mfe`]) are unspecified or such an address
//!   ([`Error::InvalidNextHop`]). A route to multicast space is refused
//!   ([`Error::MulticastRoute`], [`Family::is_multicast_prefix`]); a route through an
//!   interface nobody owns is accepted (the RIB does not follow ownership; G-24 covers the
//!   miss).
//! * Counters that add up outside input (an external forwarder's figures) saturate at
//!   `u64::MAX`.
//! * Administrative scope boundaries (G-25) are not implemented.
//!
//! ## Example
//!
//! ```
//! use mgm::{DefaultHooks, Event, IfKey, Mgm, Route, Selector, Verdict, JOIN, MS_IP_IGMP};
//! use std::{net::Ipv4Addr, sync::Arc};
//!
//! let mgm = Mgm::<Ipv4Addr>::default();
//! let pim_id = mgm::protocol_id(1, 0x137, 0x21);
//! let (pim, pim_events) = mgm.register(pim_id, 1, Arc::new(DefaultHooks)).unwrap();
//! let (igmp, _) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
//! let (up, down) = (IfKey::new(1), IfKey::new(2));
//! mgm.take_interface(pim, up).unwrap();
//! mgm.take_interface(pim, down).unwrap();
//! mgm.take_interface(igmp, down).unwrap();
//! mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, up)).unwrap();
//!
//! // A host on `down` joins the group: PIM hears it as a local join.
//! let g = Ipv4Addr::new(239, 1, 2, 3);
//! mgm.add_membership(igmp, Selector::Group(g), down, JOIN).unwrap();
//! assert!(pim_events.drain().contains(&Event::LocalJoin { selector: Selector::Group(g), interface: down }));
//!
//! // The source's first packet misses; the engine builds the entry.
//! let s = Ipv4Addr::new(198, 51, 100, 2);
//! let mut reader = mgm.reader().unwrap();
//! assert!(matches!(reader.lookup(up, s, g, 1200), Verdict::Miss));
//! mgm.new_packet(up, s, g).unwrap();
//! match reader.lookup(up, s, g, 1200) {
//!     Verdict::Forward(oifs) => assert_eq!(oifs.to_vec(), vec![down]),
//!     other => panic!("{other:?}"),
//! }
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod addr;
mod clock;
mod control;
pub mod docs;
mod engine;
mod error;
mod forward;
mod handle;
mod mfe;
mod protocol;
mod rib;

pub use addr::{Family, IfKey, InterfaceId, Selector, Sg};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Config, MembershipFlags, Mgm, FORWARD, JOIN};
pub use error::{win32, Error, HandleKind, Result};
pub use forward::{EntryCounters, Oifs, PacketKey, Reader, Verdict, MAX_BURST};
pub use handle::{EnumerationHandle, ProtocolHandle};
pub use mfe::{
    EngineCounters, EnumKind, ExternalCounters, InterfaceInfo, MembershipInfo, Mfe, MfeChange,
    MfeStats, MissOutcome, OifStats, Page, TimerRun,
};
pub use protocol::{
    is_igmp, protocol_id, Batches, CreationEntry, DefaultHooks, DeleteReason, Event, EventReceiver,
    Hooks, RpfDecision, RpfQuery, MS_IP_IGMP, PROTO_IP_IGMP, PROTO_TYPE_MCAST,
};
pub use rib::Route;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
