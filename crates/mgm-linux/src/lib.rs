//! The "real router": the Linux kernel's multicast forwarding plane as the engine's
//! southbound forwarder.
//!
//! * [`mroute`] — the mroute socket [`Mroute`], one type for IPv4 (`MRT_*` on a raw IGMP
//!   socket) and IPv6 (`MRT6_*` on a raw ICMPv6 socket): `MRT_INIT`, VIFs and MIFs, cache
//!   entries, upcalls, `SIOCGETSGCNT` and `SIOCGETSGCNT_IN6`; the IGMP and MLD messages it
//!   also carries.
//! * [`Forwarder`] — follows [`mgm::Mgm::subscribe`] into the kernel table, maps interfaces
//!   to VIFs or MIFs by ifindex (at most [`mroute::MAXVIFS`]), turns `NOCACHE` upcalls into
//!   [`mgm::Mgm::new_packet`] and `WRONGVIF`/`WRONGMIF` into
//!   [`mgm::Mgm::report_wrong_interface`], and reads the kernel's counters per (S,G); the
//!   same code for both families, which differ only in [`MrouteFamily`].
//! * [`GroupMemberships`] — the router groups joined on each interface (224.0.0.22 and
//!   224.0.0.2; ff02::16 and ff02::2).
//! * [`link`] — the host's interfaces and addresses followed live through rtnetlink
//!   (`netlink-packet-route`), as typed events: up, down, added, removed, renamed, addresses.
//! * [`net`] — interface names and indexes, and waiting for descriptors to be readable: what
//!   the daemon needs of the host besides the forwarder.
//!
//! The system calls are in a private module, `sys`: the only `unsafe` code of the crate (the
//! crate denies `unsafe_code`, `sys` alone allows it), behind safe functions whose types carry
//! what the kernel needs (which socket an ioctl goes to, which options are set). `mroute.rs`
//! encodes the kernel's socket option structures as bytes, in safe code.
//!
//! The IGMP router is the `mgm-igmp` crate (codec and state machine) with `mgm-igmp-client`
//! (its registration with the engine); the daemon `mgmd` puts them all together.
//! `kernel-mroute.md` in the project's shared specs records what was checked about the kernel.
//!
//! ```
//! use mgm_igmp::{self as igmp, IgmpConfig};
//! use mgm_igmp_client::IgmpClient;
//! use mgm::{IfKey, Mgm, Route, Verdict};
//! use std::{net::Ipv4Addr, time::Duration};
//! let mgm = Mgm::<Ipv4Addr>::default();
//! mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(1))).unwrap();
//! // The IGMP router on interface 5 hears a host join 239.1.2.3 ...
//! let mut igmp_router = IgmpClient::register(mgm.clone(), IgmpConfig::default()).unwrap();
//! igmp_router.add_interface(5, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
//! let (host, g) = (Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(239, 1, 2, 3));
//! igmp_router.receive(5, host, &igmp::encode_v2(0x16, g), Duration::from_secs(1));
//! // ... so a source's first packet, arriving on interface 1, builds an entry toward 5.
//! let s = Ipv4Addr::new(198, 51, 100, 2);
//! mgm.new_packet(IfKey::new(1), s, g).unwrap();
//! let mut reader = mgm.reader().unwrap();
//! match reader.lookup(IfKey::new(1), s, g, 1000) {
//!     Verdict::Forward(oifs) => assert_eq!(oifs.to_vec(), [IfKey::new(5)]),
//!     other => panic!("{other:?}"),
//! }
//! ```

mod forwarder;
pub mod link;
pub mod membership;
pub mod mroute;
mod sys;

/// What the daemon needs of the host besides the forwarder: interface names and indexes, and
/// waiting for descriptors to be readable.
pub mod net {
    pub use crate::sys::{
        interface_index, interface_name, poll_readable, set_multicast_hops_v6, thread_cpu_time,
    };
}

pub use forwarder::{
    ForwardedStats, Forwarder, ForwarderCounters, KernelEntry, LinuxError, UpcallOutcome, VifTable,
};
pub use membership::GroupMemberships;
pub use mroute::{
    Kernel, KernelCounters, Mroute, Mroute6Socket, MrouteFamily, MrouteSocket, Upcall, UpcallKind,
};
