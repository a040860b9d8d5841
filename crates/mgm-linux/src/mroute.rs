//! The kernel's multicast routing sockets: `MRT_*` on a raw IGMP socket (IPv4) and `MRT6_*`
//! on a raw ICMPv6 socket (IPv6), one type for both, [`Mroute`], generic over the engine's
//! address [`Family`].
//!
//! The two kernel routers take the same calls under the same option numbers; they differ in
//! the option level, in the layouts of their structures and in the group management protocol
//! the socket also carries (IGMP, MLD). What differs is [`MrouteFamily`]: the structures
//! are encoded there by hand, as bytes, with the layouts of `<linux/mroute.h>` and
//! `<linux/mroute6.h>` (checked with the C compiler on the project's machines: `vifctl` 16
//! bytes, `mfcctl` 60, `igmpmsg` 20, `mif6ctl` 12, `mf6cctl` 92, `mrt6msg` 40; the sizes and
//! every offset the encoders and parsers use are asserted at compile time against
//! `#[repr(C)]` copies of the structures); the counter ioctls' structures (`sioc_sg_req` 32,
//! `sioc_vif_req` 40, `sioc_sg_req6` 80, `sioc_mif_req6` 40) are `#[repr(C)]` types of the
//! crate's syscall layer, with compile-time size checks. This file and its two family files
//! have no `unsafe` code.
//!
//! # IPv4
//! [`MrouteSocket`] = `Mroute<Ipv4Addr>`: upcalls are `struct igmpmsg`, told from IGMP by the
//! IP protocol byte ([`parse_received4`]).
//!
//! # IPv6
//! [`Mroute6Socket`] = `Mroute<Ipv6Addr>`: upcalls are `struct mrt6msg`, told from ICMPv6 by
//! `im6_mbz`, which lies where an ICMPv6 message has its type, never 0
//! ([`parse_received6`]); the socket hears MLD messages with their arrival interface,
//! source, destination, hop limit and hop-by-hop options.

use std::io;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use crate::sys::{self, Mrt, RouterProto, RouterSocket};
use mgm::{Family, Sg};

mod v4;
mod v6;

pub use v4::{
    has_router_alert, ipv4_addrs_of, ipv4_subnets_of, parse_received4, Received4, RECV4_BUFFER,
};
pub use v6::{
    has_router_alert6, parse_received6, parse_upcall6, Arrival6, Received6, MLDV2_ROUTERS,
    MLD_ALL_ROUTERS, RECV6_BUFFER,
};

/// The kernel's limit on VIFs (`MAXVIFS`) and on IPv6 MIFs (`MAXMIFS`).
pub const MAXVIFS: usize = 32;

/// `MRT_INIT` (and `MRT6_INIT`).
pub const MRT_INIT: libc::c_int = 200;
/// `MRT_DONE` (`MRT6_DONE`).
pub const MRT_DONE: libc::c_int = 201;
/// `MRT_ADD_VIF` (`MRT6_ADD_MIF`).
pub const MRT_ADD_VIF: libc::c_int = 202;
/// `MRT_DEL_VIF` (`MRT6_DEL_MIF`).
pub const MRT_DEL_VIF: libc::c_int = 203;
/// `MRT_ADD_MFC` (`MRT6_ADD_MFC`).
pub const MRT_ADD_MFC: libc::c_int = 204;
/// `MRT_DEL_MFC` (`MRT6_DEL_MFC`).
pub const MRT_DEL_MFC: libc::c_int = 205;
/// `MRT_VERSION` (`MRT6_VERSION`).
pub const MRT_VERSION: libc::c_int = 206;
/// `MRT_ASSERT` (`MRT6_ASSERT`).
pub const MRT_ASSERT: libc::c_int = 207;
/// `SIOCGETVIFCNT` (`SIOCPROTOPRIVATE`).
pub const SIOCGETVIFCNT: libc::c_ulong = 0x89e0;
/// `SIOCGETSGCNT` (`SIOCPROTOPRIVATE + 1`), also `SIOCGETSGCNT_IN6`.
pub const SIOCGETSGCNT: libc::c_ulong = 0x89e1;
/// `SIOCGETMIFCNT_IN6` (`SIOCPROTOPRIVATE`).
pub const SIOCGETMIFCNT_IN6: libc::c_ulong = 0x89e0;

/// The kernel's counters of one (S,G) cache entry (`SIOCGETSGCNT`).
///
/// ```
/// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
/// # use mgm::Sg;
/// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
/// # #[derive(Default)]
/// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
/// # impl Kernel<Ipv4Addr> for Table {
/// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
/// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
/// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
/// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
/// #         Ok(())
/// #     }
/// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
/// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
/// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
/// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
/// #     }
/// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
/// #         let n = u64::from(vif) + 1;
/// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
/// #     }
/// # }
/// use mgm_linux::Forwarder;
/// use mgm::{IfKey, Mgm};
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let mut f = Forwarder::new(mgm.clone(), Table::default()).unwrap();
/// f.add_interface(1).unwrap();
/// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
/// mgm.new_packet(IfKey::new(1), s, g).unwrap();
/// assert!(f.pump().is_empty()); // the entry is now in the kernel table
/// // This table reports 5 packets, 500 bytes and 1 wrong-VIF arrival for any entry it has.
/// assert_eq!(f.kernel_counters(Sg::new(s, g)), Some(KernelCounters { packets: 5, bytes: 500, wrong_if: 1 }));
/// assert_eq!(f.sync_counters(), 1);
/// let stats = mgm.mfe_stats(s, g).unwrap();
/// assert_eq!((stats.in_packets, stats.in_octets, stats.different_if), (5, 500, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// Packets forwarded (or dropped, for an entry without oifs) by the entry.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets that arrived on another VIF than the entry's parent.
    pub wrong_if: u64,
}

/// The kernel's counters of one VIF (`SIOCGETVIFCNT`).
///
/// ```
/// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
/// # use mgm::Sg;
/// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
/// # #[derive(Default)]
/// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
/// # impl Kernel<Ipv4Addr> for Table {
/// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
/// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
/// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
/// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
/// #         Ok(())
/// #     }
/// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
/// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
/// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
/// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
/// #     }
/// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
/// #         let n = u64::from(vif) + 1;
/// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
/// #     }
/// # }
/// use mgm_linux::Forwarder;
/// use mgm::Mgm;
/// let mut f = Forwarder::new(Mgm::<Ipv4Addr>::default(), Table::default()).unwrap();
/// assert_eq!(f.add_interface(7).unwrap(), 0);
/// assert_eq!(f.add_interface(9).unwrap(), 1);
/// // This table reports (vif + 1) packets in, twice that out; 100 and 200 bytes per packet.
/// let c = f.vif_counters(9).unwrap(); // the counters of VIF 1
/// assert_eq!(c, VifCounters { in_packets: 2, out_packets: 4, in_bytes: 200, out_bytes: 400 });
/// assert_eq!(f.vif_counters(8), None, "no VIF");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VifCounters {
    /// Packets received on the VIF.
    pub in_packets: u64,
    /// Packets sent on it.
    pub out_packets: u64,
    /// Bytes received.
    pub in_bytes: u64,
    /// Bytes sent.
    pub out_bytes: u64,
}

/// What kind of upcall the kernel sent.
///
/// ```
/// use mgm_linux::mroute::{parse_received4, Received4, UpcallKind};
/// let kind = |msgtype: u8| {
///     let mut up = [0u8; 20];
///     up[8] = msgtype; // im_msgtype; im_mbz (byte 9) is 0: an upcall
///     up[16..20].copy_from_slice(&[239, 1, 2, 3]);
///     match parse_received4(&up, None) {
///         Received4::Upcall(u) => u.kind,
///         other => panic!("{other:?}"),
///     }
/// };
/// assert_eq!(kind(1), UpcallKind::NoCache);
/// assert_eq!(kind(2), UpcallKind::WrongVif);
/// assert_eq!(kind(3), UpcallKind::Other(3)); // IGMPMSG_WHOLEPKT
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallKind {
    /// `IGMPMSG_NOCACHE` / `MRT6MSG_NOCACHE`: a packet matched no cache entry.
    NoCache,
    /// `IGMPMSG_WRONGVIF` / `MRT6MSG_WRONGMIF`: a packet arrived on another VIF than its entry's.
    WrongVif,
    /// Any other message type (whole-packet upcalls of PIM).
    Other(u8),
}

/// One upcall: kind, arrival VIF, source and group.
///
/// ```
/// use mgm_linux::mroute::{parse_received4, Received4, Upcall, UpcallKind};
/// use std::net::Ipv4Addr;
/// // struct igmpmsg: the kernel's upcall, laid over an IP header.
/// let mut msg = [0u8; 20];
/// msg[8] = 2; // IGMPMSG_WRONGVIF
/// msg[10] = 3; // im_vif (low byte)
/// msg[12..16].copy_from_slice(&[198, 51, 100, 2]);
/// msg[16..20].copy_from_slice(&[239, 1, 2, 3]);
/// let expected = Upcall { kind: UpcallKind::WrongVif, vif: 3, source: Ipv4Addr::new(198, 51, 100, 2), group: Ipv4Addr::new(239, 1, 2, 3) };
/// assert_eq!(parse_received4(&msg, None), Received4::Upcall(expected));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall<A> {
    /// The kind.
    pub kind: UpcallKind,
    /// The VIF the packet arrived on.
    pub vif: u16,
    /// The packet's source.
    pub source: A,
    /// The packet's destination group.
    pub group: A,
}

/// What the adapter needs from a kernel multicast routing table: implemented by the real
/// sockets and by test doubles.
///
/// ```
/// use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
/// use mgm_linux::{Forwarder, UpcallOutcome};
/// use mgm_linux::mroute::{Upcall, UpcallKind};
/// use mgm::{DefaultHooks, IfKey, Mgm, MissOutcome, Route, Selector, Sg, JOIN, MS_IP_IGMP};
/// use std::{collections::BTreeMap, io, net::Ipv4Addr, sync::Arc};
///
/// /// A kernel table in memory.
/// #[derive(Default)]
/// struct Table {
///     vifs: BTreeMap<u16, u32>,
///     mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)>,
/// }
/// impl Kernel<Ipv4Addr> for Table {
///     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
///         self.vifs.insert(vif, ifindex);
///         Ok(())
///     }
///     fn del_vif(&mut self, vif: u16, _ifindex: u32) -> io::Result<()> {
///         self.vifs.remove(&vif);
///         Ok(())
///     }
///     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
///         self.mfcs.insert(sg, (parent, oifs.to_vec()));
///         Ok(())
///     }
///     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> {
///         self.mfcs.remove(&sg);
///         Ok(())
///     }
///     fn sg_counters(&self, _sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
///         Err(io::ErrorKind::AddrNotAvailable.into())
///     }
///     fn vif_counters(&self, _vif: u16) -> io::Result<VifCounters> {
///         Ok(VifCounters::default())
///     }
/// }
///
/// let mgm = Mgm::<Ipv4Addr>::default();
/// let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
/// mgm.take_interface(igmp, IfKey::new(20)).unwrap();
/// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(10))).unwrap();
/// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
/// mgm.add_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN).unwrap();
///
/// let mut f = Forwarder::new(mgm.clone(), Table::default()).unwrap();
/// f.add_interface(10).unwrap(); // VIF 0
/// f.add_interface(20).unwrap(); // VIF 1
/// // The kernel misses on a packet arriving on VIF 0: the engine builds the entry.
/// let up = Upcall { kind: UpcallKind::NoCache, vif: 0, source: s, group: g };
/// assert!(matches!(f.handle_upcall(&up).unwrap(), UpcallOutcome::Miss(MissOutcome::Created(_))));
/// assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
/// assert_eq!(f.kernel().vifs, BTreeMap::from([(0, 10), (1, 20)]));
/// ```
pub trait Kernel<A> {
    /// Adds VIF `vif` for the interface `ifindex`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::Mgm;
    /// let mut f = Forwarder::new(Mgm::<Ipv4Addr>::default(), Table::default()).unwrap();
    /// assert_eq!(f.add_interface(7).unwrap(), 0);
    /// assert_eq!(f.add_interface(9).unwrap(), 1);
    /// assert_eq!(f.add_interface(7).unwrap(), 0, "once per interface");
    /// assert_eq!(f.kernel().vifs, BTreeMap::from([(0, 7), (1, 9)]));
    /// ```
    fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()>;
    /// Deletes VIF `vif`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::Mgm;
    /// let mut f = Forwarder::new(Mgm::<Ipv4Addr>::default(), Table::default()).unwrap();
    /// f.add_interface(7).unwrap();
    /// f.add_interface(9).unwrap();
    /// f.remove_interface(7).unwrap();
    /// assert_eq!(f.kernel().vifs, BTreeMap::from([(1, 9)]));
    /// ```
    fn del_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()>;
    /// Adds or replaces the cache entry of `sg` with incoming VIF `parent` and the given oifs.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::{DefaultHooks, IfKey, Mgm, Route, Selector, JOIN, MS_IP_IGMP};
    /// use std::sync::Arc;
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let (igmp, _events) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
    /// mgm.add_route(Route::new(Ipv4Addr::new(198, 51, 100, 0), 24, IfKey::new(10))).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// let mut f = Forwarder::new(mgm.clone(), Table::default()).unwrap();
    /// mgm.new_packet(IfKey::new(10), s, g).unwrap();
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![]), "negative: parent VIF 0, no oifs");
    /// // A member appears on interface 20: the entry is replaced with an oif.
    /// mgm.take_interface(igmp, IfKey::new(20)).unwrap();
    /// mgm.add_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN).unwrap();
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
    /// ```
    fn add_mfc(&mut self, sg: Sg<A>, parent: u16, oifs: &[u16]) -> io::Result<()>;
    /// Deletes the cache entry of `sg`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::{IfKey, Mgm};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table::default()).unwrap();
    /// mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9)).unwrap();
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.kernel().mfcs.len(), 1);
    /// assert!(f.shutdown().is_empty()); // deletes every entry, then every VIF
    /// assert!(f.kernel().mfcs.is_empty() && f.kernel().vifs.is_empty());
    /// ```
    fn del_mfc(&mut self, sg: Sg<A>) -> io::Result<()>;
    /// The entry's kernel counters.
    ///
    /// # Errors
    /// The OS error (`EADDRNOTAVAIL` when the kernel has no such entry).
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::{IfKey, Mgm};
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table::default()).unwrap();
    /// let (s, g) = (Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 9, 9, 9));
    /// // No such entry in the kernel: an error, which the forwarder shows as `None`.
    /// assert!(f.kernel().sg_counters(Sg::new(s, g)).is_err());
    /// assert_eq!(f.kernel_counters(Sg::new(s, g)), None);
    /// mgm.new_packet(IfKey::new(1), s, g).unwrap();
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.kernel_counters(Sg::new(s, g)).unwrap().packets, 5);
    /// ```
    fn sg_counters(&self, sg: Sg<A>) -> io::Result<KernelCounters>;
    /// A VIF's kernel counters.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```
    /// # use mgm_linux::mroute::{Kernel, KernelCounters, VifCounters};
    /// # use mgm::Sg;
    /// # use std::{collections::BTreeMap, io, net::Ipv4Addr};
    /// # #[derive(Default)]
    /// # struct Table { vifs: BTreeMap<u16, u32>, mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> }
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> { self.vifs.insert(vif, ifindex); Ok(()) }
    /// #     fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> { self.vifs.remove(&vif); Ok(()) }
    /// #     fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
    /// #         self.mfcs.insert(sg, (parent, oifs.to_vec()));
    /// #         Ok(())
    /// #     }
    /// #     fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> { self.mfcs.remove(&sg); Ok(()) }
    /// #     fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
    /// #         let found = self.mfcs.get(&sg).map(|_| KernelCounters { packets: 5, bytes: 500, wrong_if: 1 });
    /// #         found.ok_or_else(|| io::ErrorKind::AddrNotAvailable.into())
    /// #     }
    /// #     fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
    /// #         let n = u64::from(vif) + 1;
    /// #         Ok(VifCounters { in_packets: n, out_packets: 2 * n, in_bytes: 100 * n, out_bytes: 200 * n })
    /// #     }
    /// # }
    /// use mgm_linux::Forwarder;
    /// use mgm::Mgm;
    /// let mut f = Forwarder::new(Mgm::<Ipv4Addr>::default(), Table::default()).unwrap();
    /// f.add_interface(7).unwrap(); // VIF 0
    /// assert_eq!(f.kernel().vif_counters(0).unwrap().in_packets, 1);
    /// // The forwarder asks by ifindex, the kernel by VIF.
    /// assert_eq!(f.vif_counters(7).unwrap().in_packets, 1);
    /// ```
    fn vif_counters(&self, vif: u16) -> io::Result<VifCounters>;
}

pub(crate) mod sealed {
    use super::Mroute;
    use mgm::Sg;
    use std::io;

    /// What differs between the families, inside the crate: the layouts of the kernel's
    /// structures, and the options of the group management protocol on the socket.
    pub trait Sealed: Sized {
        /// True for IPv6: the socket is a raw ICMPv6 socket, its options at `IPPROTO_IPV6`.
        const IPV6: bool;
        /// The `MRT_ADD_VIF` / `MRT6_ADD_MIF` argument for `vif` on `ifindex`.
        fn add_vif_arg(vif: u16, ifindex: u32) -> io::Result<Vec<u8>>;
        /// The `MRT_DEL_VIF` / `MRT6_DEL_MIF` argument.
        fn del_vif_arg(vif: u16, ifindex: u32) -> io::Result<Vec<u8>>;
        /// The `MRT_ADD_MFC` / `MRT6_ADD_MFC` argument (and, with no oifs, the delete's).
        fn mfc_arg(sg: Sg<Self>, parent: u16, oifs: &[u16]) -> Vec<u8>;
        /// The membership request (`ip_mreqn`, `ipv6_mreq`) of `group` on `ifindex`.
        fn membership_arg(group: Self, ifindex: u32) -> Vec<u8>;
        /// Sets the options the group management protocol needs on a fresh socket.
        ///
        /// # Errors
        /// The OS error.
        fn configure(sock: &Mroute<Self>) -> io::Result<()>
        where
            Self: super::MrouteFamily;
    }
}

/// An address family of the kernel's multicast forwarding plane: the engine's [`Family`]
/// ([`Ipv4Addr`], [`Ipv6Addr`]) with what the kernel's router of that family takes. Sealed:
/// implemented for the two families only.
///
/// ```
/// use mgm_linux::mroute::MrouteFamily;
/// use std::net::{Ipv4Addr, Ipv6Addr};
/// assert_eq!(Ipv4Addr::CALLS.add_vif, "MRT_ADD_VIF");
/// assert_eq!(Ipv6Addr::CALLS.add_vif, "MRT6_ADD_MIF");
/// ```
pub trait MrouteFamily: Family + sealed::Sealed {
    /// The kernel's names of the family's calls, as error messages give them.
    const CALLS: KernelCalls;
}

/// The kernel's names of one family's calls and of its interfaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelCalls {
    /// "IPv4" or "IPv6".
    pub family: &'static str,
    /// `MRT_INIT` / `MRT6_INIT`.
    pub init: &'static str,
    /// `MRT_ADD_VIF` / `MRT6_ADD_MIF`.
    pub add_vif: &'static str,
    /// `MRT_DEL_VIF` / `MRT6_DEL_MIF`.
    pub del_vif: &'static str,
    /// `MRT_ADD_MFC` / `MRT6_ADD_MFC`.
    pub add_mfc: &'static str,
    /// `MRT_DEL_MFC` / `MRT6_DEL_MFC`.
    pub del_mfc: &'static str,
    /// What the kernel calls a forwarding interface: "VIF" or "MIF".
    pub vif: &'static str,
}

/// A multicast routing socket of family `A`: a raw IGMP ([`MrouteSocket`]) or ICMPv6
/// ([`Mroute6Socket`]) socket on which `MRT_INIT` / `MRT6_INIT` succeeded, with asserts
/// (wrong-interface upcalls) on. It also carries the group management traffic of the router
/// (reports in, queries out), with the options that protocol needs. Dropping it (or
/// [`Mroute::done`]) makes the kernel remove every VIF/MIF and cache entry.
///
/// ```no_run
/// // no_run: MRT_INIT needs CAP_NET_ADMIN and takes the namespace's multicast routing table.
/// use mgm_linux::mroute::MrouteSocket;
/// use mgm_linux::Forwarder;
/// use mgm::Mgm;
/// use std::net::Ipv4Addr;
/// let mut f = Forwarder::new(Mgm::<Ipv4Addr>::default(), MrouteSocket::open()?)?;
/// let eth0 = mgm_linux::net::interface_index("eth0")?;
/// assert_eq!(f.add_interface(eth0)?, 0); // MRT_ADD_VIF
/// f.shutdown(); // MRT_DEL_MFC, MRT_DEL_VIF; dropping the socket is MRT_DONE
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Mroute<A> {
    fd: RouterSocket,
    family: PhantomData<A>,
}

/// The IPv4 multicast routing socket.
pub type MrouteSocket = Mroute<Ipv4Addr>;
/// The IPv6 multicast routing socket.
pub type Mroute6Socket = Mroute<Ipv6Addr>;

impl<A: MrouteFamily> Mroute<A> {
    /// True when the running kernel routes multicast in this family: it was built with
    /// `CONFIG_IP_MROUTE` (`CONFIG_IPV6_MROUTE`), which every network namespace then shows as
    /// `/proc/net/ip_mr_vif` (`ip6_mr_vif`). Without it [`Mroute::open`] fails with
    /// `ENOPROTOOPT`, and nothing can be forwarded in this family.
    ///
    /// ```
    /// use mgm_linux::{Mroute6Socket, MrouteSocket};
    /// // Kernels differ; the answer only says which.
    /// println!("IPv4 {}, IPv6 {}", MrouteSocket::in_kernel(), Mroute6Socket::in_kernel());
    /// ```
    pub fn in_kernel() -> bool {
        let file = if A::IPV6 { "ip6_mr_vif" } else { "ip_mr_vif" };
        std::path::Path::new("/proc/net").join(file).exists()
    }

    /// Opens the socket: `MRT_INIT` (`MRT6_INIT`), `MRT_ASSERT` on, then the options of the
    /// group management protocol: for IPv4 `IP_PKTINFO`, the router alert on sent packets,
    /// multicast TTL 1 and no loopback of its own packets; for IPv6 the same with
    /// `IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`, `IPV6_RECVHOPOPTS`, a hop-by-hop router
    /// alert (RFC 2711) on sent packets, and an ICMPv6 filter that lets only MLD through.
    ///
    /// # Errors
    /// `EPERM` without `CAP_NET_RAW`/`CAP_NET_ADMIN`; `EADDRINUSE` when another daemon holds
    /// the table of this network namespace; `ENOPROTOOPT` on a kernel built without multicast
    /// routing in this family (see [`Mroute::in_kernel`]). Errors other than `EADDRINUSE` are
    /// the OS error itself, so the caller can tell them apart by their number.
    ///
    /// ```no_run
    /// // no_run: needs CAP_NET_RAW and CAP_NET_ADMIN, and takes the namespace's mroute table.
    /// use mgm_linux::mroute::MrouteSocket;
    /// match MrouteSocket::open() {
    ///     Ok(sock) => assert_eq!(sock.version()?, 0x305),
    ///     Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => eprintln!("not root: {e}"),
    ///     Err(e) => return Err(e), // EADDRINUSE: another multicast router runs here
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open() -> io::Result<Self> {
        let proto = if A::IPV6 {
            RouterProto::Icmpv6
        } else {
            RouterProto::Igmp
        };
        let fd = RouterSocket::open(proto)?;
        sys::setsockopt_int(&fd, fd.mrt(Mrt::Init), 1).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                io::Error::new(
                    e.kind(),
                    format!(
                        "{}: {e} (another multicast router in this namespace?)",
                        A::CALLS.init
                    ),
                )
            } else {
                e
            }
        })?;
        sys::setsockopt_int(&fd, fd.mrt(Mrt::Assert), 1)?;
        sys::set_nonblocking(&fd)?;
        let sock = Mroute {
            fd,
            family: PhantomData,
        };
        A::configure(&sock)?;
        Ok(sock)
    }

    /// `MRT_VERSION` / `MRT6_VERSION` (0x305 for IPv4 on current kernels).
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::MrouteSocket;
    /// let sock = MrouteSocket::open()?;
    /// assert_eq!(sock.version()?, 0x305);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn version(&self) -> io::Result<i32> {
        sys::getsockopt_int(&self.fd, self.fd.mrt(Mrt::Version))
    }

    /// `MRT_DONE` / `MRT6_DONE`: the kernel removes every VIF/MIF and cache entry of the
    /// table.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::{Kernel, MrouteSocket};
    /// use mgm::Sg;
    /// use std::net::Ipv4Addr;
    /// let mut sock = MrouteSocket::open()?;
    /// sock.add_vif(0, 2)?;
    /// sock.add_vif(1, 3)?;
    /// let sg = Sg::new(Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// sock.add_mfc(sg, 0, &[1])?;
    /// assert!(sock.sg_counters(sg).is_ok());
    /// sock.done()?; // the kernel forgets every VIF and cache entry
    /// assert!(sock.sg_counters(sg).is_err()); // EADDRNOTAVAIL
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn done(&self) -> io::Result<()> {
        sys::setsockopt_int(&self.fd, self.fd.mrt(Mrt::Done), 1)
    }

    /// Joins (or leaves) `group` on interface `ifindex` (`IP_ADD_MEMBERSHIP` with an
    /// `ip_mreqn`, `IPV6_ADD_MEMBERSHIP` with an `ipv6_mreq`): 224.0.0.22 and 224.0.0.2 to
    /// hear IGMPv3 reports and v2 leaves, ff02::16 and ff02::2 for MLDv2 reports and MLDv1
    /// dones. A socket holds at most `igmp_max_memberships` (20) IPv4 memberships;
    /// [`GroupMemberships`](crate::GroupMemberships) has no such limit.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_igmp::{ALL_ROUTERS, IGMPV3_ROUTERS};
    /// use mgm_linux::mroute::{Mroute6Socket, MrouteSocket, MLDV2_ROUTERS};
    /// let sock = MrouteSocket::open()?;
    /// let eth0 = mgm_linux::net::interface_index("eth0")?;
    /// sock.membership(IGMPV3_ROUTERS, eth0, true)?; // hear IGMPv3 reports
    /// sock.membership(ALL_ROUTERS, eth0, true)?; // and IGMPv2 leaves
    /// sock.membership(ALL_ROUTERS, eth0, false)?;
    /// Mroute6Socket::open()?.membership(MLDV2_ROUTERS, eth0, true)?; // MLDv2 reports
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn membership(&self, group: A, ifindex: u32, join: bool) -> io::Result<()> {
        let opt = sys::SockOpt::membership(A::IPV6, join);
        sys::setsockopt_bytes(&self.fd, opt, &A::membership_arg(group, ifindex))
    }
}

impl<A: MrouteFamily> Kernel<A> for Mroute<A> {
    fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
        let arg = A::add_vif_arg(vif, ifindex)?;
        sys::setsockopt_bytes(&self.fd, self.fd.mrt(Mrt::AddVif), &arg)
    }
    fn del_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
        let arg = A::del_vif_arg(vif, ifindex)?;
        sys::setsockopt_bytes(&self.fd, self.fd.mrt(Mrt::DelVif), &arg)
    }
    fn add_mfc(&mut self, sg: Sg<A>, parent: u16, oifs: &[u16]) -> io::Result<()> {
        let arg = A::mfc_arg(sg, parent, oifs);
        sys::setsockopt_bytes(&self.fd, self.fd.mrt(Mrt::AddMfc), &arg)
    }
    fn del_mfc(&mut self, sg: Sg<A>) -> io::Result<()> {
        let arg = A::mfc_arg(sg, 0, &[]);
        sys::setsockopt_bytes(&self.fd, self.fd.mrt(Mrt::DelMfc), &arg)
    }
    fn sg_counters(&self, sg: Sg<A>) -> io::Result<KernelCounters> {
        // SIOCGETSGCNT, SIOCGETSGCNT_IN6
        self.fd.sg_counters(sg.source.into(), sg.group.into())
    }
    fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
        self.fd.vif_counters(vif) // SIOCGETVIFCNT, SIOCGETMIFCNT_IN6
    }
}

impl<A> AsRawFd for Mroute<A> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The upcall kind of a message type byte (`im_msgtype`, `im6_msgtype`): the two families
/// number NOCACHE 1 and WRONGVIF/WRONGMIF 2 alike.
fn upcall_kind(msgtype: u8) -> UpcallKind {
    match msgtype {
        1 => UpcallKind::NoCache,
        2 => UpcallKind::WrongVif,
        k => UpcallKind::Other(k),
    }
}

/// Sets the bit of every oif but `parent` below [`MAXVIFS`]: `set(byte, bit)` once per VIF.
fn each_oif(parent: u16, oifs: &[u16], mut set: impl FnMut(u16)) {
    for &o in oifs {
        if usize::from(o) < MAXVIFS && o != parent {
            set(o);
        }
    }
}
