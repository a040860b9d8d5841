//! The "real router": the Linux kernel's multicast forwarding plane as the engine's
//! southbound forwarder, and an IGMP router client of the engine (Linux only, cargo feature
//! `linux`, on by default).
//!
//! * [`mroute`] — the mroute sockets (`MRT_INIT`, `MRT_ADD_VIF`, `MRT_ADD_MFC`, upcalls,
//!   `SIOCGETSGCNT`), IPv4 and IPv6 (`MRT6_*`).
//! * [`Forwarder`] — follows [`crate::Mgm::subscribe`] into the kernel table, maps interfaces
//!   to VIFs by ifindex (at most [`mroute::MAXVIFS`]), turns `IGMPMSG_NOCACHE` into
//!   [`crate::Mgm::new_packet`] and `IGMPMSG_WRONGVIF` into
//!   [`crate::Mgm::report_wrong_interface`], and reads the kernel's counters per (S,G).
//! * [`igmp`] — the IGMP router side as a pure state machine (packets and time in, actions
//!   out), and [`IgmpClient`], which registers it with the engine as [`crate::MS_IP_IGMP`].
//! * [`sys`] — the only `unsafe` code of the crate: thin system-call wrappers.
//!
//! The daemon `mgmd` (feature `daemon`) puts them together; `kernel-mroute.md` in the
//! project's shared specs records what was checked about the kernel.

mod client;
mod forwarder;
pub mod igmp;
pub mod mroute;
pub mod sys;

pub use client::IgmpClient;
pub use forwarder::{
    ForwardedStats, Forwarder, ForwarderCounters, KernelEntry, LinuxError, UpcallOutcome, VifTable,
};
pub use igmp::{IgmpAction, IgmpConfig, IgmpRouter};
pub use mroute::{Kernel, KernelCounters, Mroute6Socket, MrouteSocket, Upcall, UpcallKind};
