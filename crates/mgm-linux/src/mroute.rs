//! The kernel's multicast routing sockets: `MRT_*` on a raw IGMP socket (IPv4) and `MRT6_*`
//! on a raw ICMPv6 socket (IPv6). The socket option structures are encoded here by hand, as
//! bytes, with the layouts of `<linux/mroute.h>` and `<linux/mroute6.h>` (checked with the C
//! compiler on the project's machines: `vifctl` 16 bytes, `mfcctl` 60, `mif6ctl` 12,
//! `mf6cctl` 92, `mrt6msg` 40); the counter ioctls' structures (`sioc_sg_req` 32,
//! `sioc_vif_req` 40, `sioc_sg_req6` 80, `sioc_mif_req6` 40) are `#[repr(C)]` types of the
//! crate's syscall layer. This file has no `unsafe` code.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use crate::sys::{self, Icmpv6Socket, IgmpSocket, SockOpt};
use mgm::Sg;

/// The kernel's limit on VIFs (`MAXVIFS`) and on IPv6 MIFs (`MAXMIFS`).
pub const MAXVIFS: usize = 32;

/// `MRT_INIT` (and `MRT6_INIT`).
pub const MRT_INIT: libc::c_int = 200;
/// `MRT_DONE`.
pub const MRT_DONE: libc::c_int = 201;
/// `MRT_ADD_VIF` (`MRT6_ADD_MIF`).
pub const MRT_ADD_VIF: libc::c_int = 202;
/// `MRT_DEL_VIF` (`MRT6_DEL_MIF`).
pub const MRT_DEL_VIF: libc::c_int = 203;
/// `MRT_ADD_MFC` (`MRT6_ADD_MFC`).
pub const MRT_ADD_MFC: libc::c_int = 204;
/// `MRT_DEL_MFC` (`MRT6_DEL_MFC`).
pub const MRT_DEL_MFC: libc::c_int = 205;
/// `MRT_VERSION`.
pub const MRT_VERSION: libc::c_int = 206;
/// `MRT_ASSERT`.
pub const MRT_ASSERT: libc::c_int = 207;
/// `SIOCGETVIFCNT` (`SIOCPROTOPRIVATE`).
pub const SIOCGETVIFCNT: libc::c_ulong = 0x89e0;
/// `SIOCGETSGCNT` (`SIOCPROTOPRIVATE + 1`), also `SIOCGETSGCNT_IN6`.
pub const SIOCGETSGCNT: libc::c_ulong = 0x89e1;
/// `SIOCGETMIFCNT_IN6` (`SIOCPROTOPRIVATE`).
pub const SIOCGETMIFCNT_IN6: libc::c_ulong = 0x89e0;

const VIFF_USE_IFINDEX: u8 = 0x8;

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

/// What one read from an IPv4 mroute socket gave.
///
/// ```
/// use mgm_igmp::encode_v2;
/// use mgm_linux::mroute::{parse_received4, Received4};
/// use std::net::Ipv4Addr;
/// // An IGMPv2 report as read from the socket: a 20-byte IP header (protocol 2), then IGMP.
/// let report = encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3));
/// let mut pkt = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 1, 2, 0, 0, 203, 0, 113, 2, 239, 1, 2, 3];
/// pkt.extend_from_slice(&report);
/// let (source, destination) = (Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(239, 1, 2, 3));
/// assert_eq!(
///     parse_received4(&pkt, Some(4)),
///     Received4::Igmp { ifindex: 4, source, destination, ttl: 1, router_alert: false, payload: report.clone() }
/// );
/// // The same with the Router Alert option (RFC 2113) in a 24-byte header.
/// let mut ra = vec![0x46, 0, 0, 32, 0, 0, 0, 0, 1, 2, 0, 0, 203, 0, 113, 2, 239, 1, 2, 3, 0x94, 4, 0, 0];
/// ra.extend_from_slice(&report);
/// assert!(matches!(parse_received4(&ra, Some(4)), Received4::Igmp { router_alert: true, ttl: 1, .. }));
/// assert_eq!(parse_received4(&pkt, None), Received4::Junk, "no IP_PKTINFO: arrival unknown");
/// assert_eq!(parse_received4(&pkt[..12], Some(4)), Received4::Junk, "too short");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received4 {
    /// A kernel upcall (IP protocol byte zero).
    Upcall(Upcall<Ipv4Addr>),
    /// A real IGMP packet heard on an interface.
    Igmp {
        /// Arrival interface (from `IP_PKTINFO`).
        ifindex: u32,
        /// IP source.
        source: Ipv4Addr,
        /// IP destination.
        destination: Ipv4Addr,
        /// IP time to live (1 for every IGMP message a host sends).
        ttl: u8,
        /// The IP header carried the Router Alert option (RFC 2113).
        router_alert: bool,
        /// The IGMP message (IP header stripped).
        payload: Vec<u8>,
    },
    /// Something too short or malformed; ignored.
    Junk,
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

/// The IPv4 multicast routing socket: a raw IGMP socket on which `MRT_INIT` succeeded. It
/// also carries the IGMP traffic of the router (reports in, queries out). Dropping it (or
/// [`MrouteSocket::done`]) makes the kernel remove every VIF and cache entry.
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
pub struct MrouteSocket {
    fd: IgmpSocket,
}

impl MrouteSocket {
    /// Opens the socket, `MRT_INIT`, `MRT_ASSERT` on, `IP_PKTINFO` on, router alert on sent
    /// packets, multicast TTL 1 and no loopback of its own packets.
    ///
    /// # Errors
    /// `EPERM` without `CAP_NET_RAW`/`CAP_NET_ADMIN`; `EADDRINUSE` when another daemon holds
    /// the table of this network namespace.
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
        let fd = IgmpSocket::open()?;
        sys::setsockopt_int(&fd, SockOpt::MRT_INIT, 1).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("MRT_INIT: {e} (another multicast router in this namespace?)"),
            )
        })?;
        sys::setsockopt_int(&fd, SockOpt::MRT_ASSERT, 1)?;
        sys::setsockopt_int(&fd, SockOpt::IP_PKTINFO, 1)?;
        // Router alert (RFC 2113) on every packet sent.
        sys::setsockopt_bytes(&fd, SockOpt::IP_OPTIONS, &[0x94, 4, 0, 0])?;
        sys::setsockopt_int(&fd, SockOpt::IP_MULTICAST_TTL, 1)?;
        sys::setsockopt_int(&fd, SockOpt::IP_MULTICAST_LOOP, 0)?;
        sys::set_nonblocking(&fd)?;
        Ok(MrouteSocket { fd })
    }

    /// `MRT_VERSION` (0x305 on current kernels).
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
        sys::getsockopt_int(&self.fd, SockOpt::MRT_VERSION)
    }

    /// `MRT_DONE`: the kernel removes every VIF and cache entry of the table.
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
        sys::setsockopt_int(&self.fd, SockOpt::MRT_DONE, 1)
    }

    /// Joins (or leaves) `group` on interface `ifindex` (`IP_ADD_MEMBERSHIP` with an
    /// `ip_mreqn`), e.g. 224.0.0.22 and 224.0.0.2 to hear IGMPv3 reports and v2 leaves.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_igmp::{ALL_ROUTERS, IGMPV3_ROUTERS};
    /// use mgm_linux::mroute::MrouteSocket;
    /// let sock = MrouteSocket::open()?;
    /// let eth0 = mgm_linux::net::interface_index("eth0")?;
    /// sock.membership(IGMPV3_ROUTERS, eth0, true)?; // hear IGMPv3 reports
    /// sock.membership(ALL_ROUTERS, eth0, true)?; // and IGMPv2 leaves
    /// sock.membership(ALL_ROUTERS, eth0, false)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn membership(&self, group: Ipv4Addr, ifindex: u32, join: bool) -> io::Result<()> {
        let opt = if join {
            SockOpt::IP_ADD_MEMBERSHIP
        } else {
            SockOpt::IP_DROP_MEMBERSHIP
        };
        sys::setsockopt_bytes(&self.fd, opt, &mreqn(group, ifindex))
    }

    /// Sends an IGMP message out of interface `ifindex` to `destination` (TTL 1, router alert).
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_igmp::IgmpAction;
    /// use mgm_linux::mroute::MrouteSocket;
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let sock = MrouteSocket::open()?;
    /// let eth0 = mgm_linux::net::interface_index("eth0")?;
    /// let mut router = IgmpRouter::new(IgmpConfig::default());
    /// for action in router.add_interface(eth0, Ipv4Addr::new(192, 0, 2, 1), Duration::ZERO) {
    ///     if let IgmpAction::Send { ifindex, destination, query } = action {
    ///         sock.send_igmp(ifindex, destination, &query.encode())?; // the startup general query
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_igmp(&self, ifindex: u32, destination: Ipv4Addr, msg: &[u8]) -> io::Result<()> {
        sys::setsockopt_bytes(
            &self.fd,
            SockOpt::IP_MULTICAST_IF,
            &mreqn(Ipv4Addr::UNSPECIFIED, ifindex),
        )?;
        sys::send_to_v4(&self.fd, msg, destination)?;
        Ok(())
    }

    /// Reads one message without waiting; `Ok(None)` when none is queued.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::{MrouteSocket, Received4};
    /// let sock = MrouteSocket::open()?;
    /// mgm_linux::net::poll_readable(&[std::os::fd::AsRawFd::as_raw_fd(&sock)], 1000)?;
    /// while let Some(msg) = sock.recv()? {
    ///     match msg {
    ///         Received4::Upcall(up) => println!("{:?} on VIF {}: {} -> {}", up.kind, up.vif, up.source, up.group),
    ///         Received4::Igmp { ifindex, source, payload, .. } => println!("IGMP from {source} on {ifindex}: {payload:?}"),
    ///         Received4::Junk => {}
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self) -> io::Result<Option<Received4>> {
        // The largest IPv4 datagram: a report is never cut, whatever the link's MTU.
        let mut buf = [0u8; RECV4_BUFFER];
        let Some(info) = sys::recv_with_info(&self.fd, &mut buf)? else {
            return Ok(None);
        };
        Ok(Some(parse_received4(&buf[..info.len], info.ifindex)))
    }
}

/// Classifies a message read from the IPv4 mroute socket: an upcall when the IP protocol byte
/// is zero, else an IGMP packet.
///
/// ```
/// use mgm_linux::mroute::{parse_received4, Received4, UpcallKind};
/// let mut up = [0u8; 28];
/// up[8] = 1; // IGMPMSG_NOCACHE
/// up[10] = 0; // vif 0
/// up[12..16].copy_from_slice(&[198, 51, 100, 2]);
/// up[16..20].copy_from_slice(&[239, 1, 2, 3]);
/// match parse_received4(&up, None) {
///     Received4::Upcall(u) => assert_eq!((u.kind, u.vif, u.group.octets()), (UpcallKind::NoCache, 0, [239, 1, 2, 3])),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn parse_received4(pkt: &[u8], ifindex: Option<u32>) -> Received4 {
    if pkt.len() < 20 {
        return Received4::Junk;
    }
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    if pkt[9] == 0 {
        let kind = match pkt[8] {
            1 => UpcallKind::NoCache,
            2 => UpcallKind::WrongVif,
            k => UpcallKind::Other(k),
        };
        return Received4::Upcall(Upcall {
            kind,
            vif: u16::from(pkt[10]) | (u16::from(pkt[11]) << 8),
            source: src,
            group: dst,
        });
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let (Some(ifindex), true) = (ifindex, ihl >= 20 && pkt.len() >= ihl) else {
        return Received4::Junk;
    };
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let end = if total >= ihl && total <= pkt.len() {
        total
    } else {
        pkt.len()
    };
    Received4::Igmp {
        ifindex,
        source: src,
        destination: dst,
        ttl: pkt[8],
        router_alert: has_router_alert(&pkt[20..ihl]),
        payload: pkt[ihl..end].to_vec(),
    }
}

/// Bytes read per message from the IPv4 mroute socket: the largest IPv4 datagram (its total
/// length is 16 bits), so that a report on a jumbo-frame link is read whole.
pub const RECV4_BUFFER: usize = 65_535;

/// True when the IPv4 options `opts` hold a Router Alert (type 148, length 4). Options are
/// walked by their lengths; a length that is absurd (below 2 or past the end) ends the walk.
///
/// ```
/// use mgm_linux::mroute::has_router_alert;
/// assert!(has_router_alert(&[0x94, 4, 0, 0]));
/// assert!(has_router_alert(&[1, 1, 0x94, 4, 0, 0, 0, 0]), "after NOPs");
/// assert!(has_router_alert(&[0x83, 3, 4, 0x94, 4, 0, 0, 0]), "after a loose source route");
/// assert!(!has_router_alert(&[0, 0x94, 4, 0, 0]), "after the end of the list");
/// assert!(!has_router_alert(&[0x83, 0, 0x94, 4, 0, 0]), "a zero length ends the walk");
/// assert!(!has_router_alert(&[0x94, 4, 0]), "cut short");
/// ```
pub fn has_router_alert(opts: &[u8]) -> bool {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            0 => return false,
            1 => i += 1,
            kind => {
                let Some(&len) = opts.get(i + 1) else {
                    return false;
                };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    return false;
                }
                if kind == 0x94 && len == 4 {
                    return true;
                }
                i += len;
            }
        }
    }
    false
}

fn mreqn(group: Ipv4Addr, ifindex: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&group.octets());
    b[8..12].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

/// The 16-byte `vifctl` for a VIF bound to an ifindex.
fn vifctl(vif: u16, ifindex: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&vif.to_ne_bytes());
    b[2] = VIFF_USE_IFINDEX;
    b[3] = 1; // threshold; forwarding itself follows the entry's ttls (TTL > 1)
    b[8..12].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

/// The 60-byte `mfcctl`.
fn mfcctl(sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> [u8; 60] {
    let mut b = [0u8; 60];
    b[0..4].copy_from_slice(&sg.source.octets());
    b[4..8].copy_from_slice(&sg.group.octets());
    b[8..10].copy_from_slice(&parent.to_ne_bytes());
    for &o in oifs {
        if usize::from(o) < MAXVIFS && o != parent {
            b[10 + usize::from(o)] = 1;
        }
    }
    b
}

impl Kernel<Ipv4Addr> for MrouteSocket {
    fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT_ADD_VIF, &vifctl(vif, ifindex))
    }
    fn del_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT_DEL_VIF, &vifctl(vif, ifindex))
    }
    fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT_ADD_MFC, &mfcctl(sg, parent, oifs))
    }
    fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT_DEL_MFC, &mfcctl(sg, 0, &[]))
    }
    fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
        self.fd.sg_counters(sg.source, sg.group) // SIOCGETSGCNT
    }
    fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
        self.fd.vif_counters(vif) // SIOCGETVIFCNT
    }
}

impl AsRawFd for MrouteSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The IPv6 multicast routing socket: a raw ICMPv6 socket on which `MRT6_INIT` succeeded.
/// MIFs, cache entries, counters and upcalls work as for IPv4; MLD is not implemented.
///
/// ```no_run
/// // no_run: MRT6_INIT needs CAP_NET_ADMIN and takes the namespace's IPv6 multicast routing table.
/// use mgm_linux::mroute::{Kernel, Mroute6Socket};
/// use mgm::Sg;
/// use std::net::Ipv6Addr;
/// let mut sock = Mroute6Socket::open()?;
/// sock.add_vif(0, 2)?; // MRT6_ADD_MIF
/// sock.add_vif(1, 3)?;
/// let sg = Sg::new("2001:db8::2".parse::<Ipv6Addr>().unwrap(), "ff0e::1".parse::<Ipv6Addr>().unwrap());
/// sock.add_mfc(sg, 0, &[1])?; // MRT6_ADD_MFC
/// assert_eq!(sock.sg_counters(sg)?.packets, 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Mroute6Socket {
    fd: Icmpv6Socket,
}

impl Mroute6Socket {
    /// Opens the socket and sends `MRT6_INIT`.
    ///
    /// # Errors
    /// As [`MrouteSocket::open`].
    ///
    /// ```no_run
    /// // no_run: needs CAP_NET_RAW and CAP_NET_ADMIN, and takes the namespace's IPv6 mroute table.
    /// use mgm_linux::mroute::Mroute6Socket;
    /// let sock = Mroute6Socket::open()?;
    /// sock.done()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open() -> io::Result<Self> {
        let fd = Icmpv6Socket::open()?;
        sys::setsockopt_int(&fd, SockOpt::MRT6_INIT, 1).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("MRT6_INIT: {e} (another multicast router in this namespace?)"),
            )
        })?;
        sys::set_nonblocking(&fd)?;
        Ok(Mroute6Socket { fd })
    }

    /// `MRT6_DONE`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::{Kernel, Mroute6Socket};
    /// let mut sock = Mroute6Socket::open()?;
    /// sock.add_vif(0, 2)?;
    /// sock.done()?; // the kernel forgets MIF 0 and every cache entry
    /// assert!(sock.vif_counters(0).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn done(&self) -> io::Result<()> {
        sys::setsockopt_int(&self.fd, SockOpt::MRT6_DONE, 1)
    }

    /// Reads one upcall without waiting; `Ok(None)` when none is queued; ICMPv6 packets
    /// (never of type 0) are skipped as `Ok(Some(None))`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::{Mroute6Socket, UpcallKind};
    /// let sock = Mroute6Socket::open()?;
    /// match sock.recv_upcall()? {
    ///     None => println!("nothing queued"),
    ///     Some(None) => println!("an ICMPv6 packet, skipped"),
    ///     Some(Some(up)) => assert!(matches!(up.kind, UpcallKind::NoCache | UpcallKind::WrongVif | UpcallKind::Other(_))),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_upcall(&self) -> io::Result<Option<Option<Upcall<Ipv6Addr>>>> {
        let mut buf = [0u8; 2048];
        let Some(info) = sys::recv_with_info(&self.fd, &mut buf)? else {
            return Ok(None);
        };
        Ok(Some(parse_upcall6(&buf[..info.len])))
    }
}

/// Parses a `mrt6msg` upcall; `None` for an ICMPv6 packet.
///
/// ```
/// use mgm_linux::mroute::{parse_upcall6, UpcallKind};
/// use std::net::Ipv6Addr;
/// let (s, g): (Ipv6Addr, Ipv6Addr) = ("2001:db8::2".parse().unwrap(), "ff0e::1".parse().unwrap());
/// // struct mrt6msg: im6_mbz 0, im6_msgtype, im6_mif (host order), pad, source, group.
/// let mut msg = [0u8; 40];
/// msg[1] = 1; // MRT6MSG_NOCACHE
/// msg[2..4].copy_from_slice(&5u16.to_ne_bytes());
/// msg[8..24].copy_from_slice(&s.octets());
/// msg[24..40].copy_from_slice(&g.octets());
/// let up = parse_upcall6(&msg).unwrap();
/// assert_eq!((up.kind, up.vif, up.source, up.group), (UpcallKind::NoCache, 5, s, g));
/// msg[0] = 130; // an ICMPv6 packet (MLD query), not an upcall
/// assert_eq!(parse_upcall6(&msg), None);
/// ```
pub fn parse_upcall6(pkt: &[u8]) -> Option<Upcall<Ipv6Addr>> {
    if pkt.len() < 40 || pkt[0] != 0 {
        return None;
    }
    let kind = match pkt[1] {
        1 => UpcallKind::NoCache,
        2 => UpcallKind::WrongVif,
        k => UpcallKind::Other(k),
    };
    let mut s = [0u8; 16];
    let mut g = [0u8; 16];
    s.copy_from_slice(&pkt[8..24]);
    g.copy_from_slice(&pkt[24..40]);
    Some(Upcall {
        kind,
        vif: u16::from_ne_bytes([pkt[2], pkt[3]]),
        source: Ipv6Addr::from(s),
        group: Ipv6Addr::from(g),
    })
}

fn sockaddr_in6(b: &mut [u8], addr: Ipv6Addr) {
    b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    b[8..24].copy_from_slice(&addr.octets());
}

/// The 12-byte `mif6ctl`. Its interface field, `mif6c_pifi`, is 16 bits: a larger ifindex
/// is an error, not another interface.
fn mif6ctl(mif: u16, ifindex: u32) -> io::Result<[u8; 12]> {
    let pifi = u16::try_from(ifindex).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ifindex {ifindex} does not fit mif6ctl's 16-bit mif6c_pifi"),
        )
    })?;
    let mut b = [0u8; 12];
    b[0..2].copy_from_slice(&mif.to_ne_bytes());
    b[3] = 1;
    b[4..6].copy_from_slice(&pifi.to_ne_bytes());
    Ok(b)
}

fn mf6cctl(sg: Sg<Ipv6Addr>, parent: u16, oifs: &[u16]) -> [u8; 92] {
    let mut b = [0u8; 92];
    sockaddr_in6(&mut b[0..28], sg.source);
    sockaddr_in6(&mut b[28..56], sg.group);
    b[56..58].copy_from_slice(&parent.to_ne_bytes());
    for &o in oifs {
        if usize::from(o) < MAXVIFS && o != parent {
            let word = 60 + usize::from(o / 32) * 4;
            let mut w = u32::from_ne_bytes(b[word..word + 4].try_into().expect("4 bytes"));
            w |= 1 << (o % 32);
            b[word..word + 4].copy_from_slice(&w.to_ne_bytes());
        }
    }
    b
}

impl Kernel<Ipv6Addr> for Mroute6Socket {
    fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT6_ADD_MIF, &mif6ctl(vif, ifindex)?)
    }
    fn del_vif(&mut self, vif: u16, _ifindex: u32) -> io::Result<()> {
        // MRT6_DEL_MIF takes a bare mifi_t.
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT6_DEL_MIF, &vif.to_ne_bytes())
    }
    fn add_mfc(&mut self, sg: Sg<Ipv6Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT6_ADD_MFC, &mf6cctl(sg, parent, oifs))
    }
    fn del_mfc(&mut self, sg: Sg<Ipv6Addr>) -> io::Result<()> {
        sys::setsockopt_bytes(&self.fd, SockOpt::MRT6_DEL_MFC, &mf6cctl(sg, 0, &[]))
    }
    fn sg_counters(&self, sg: Sg<Ipv6Addr>) -> io::Result<KernelCounters> {
        self.fd.sg_counters(sg.source, sg.group) // SIOCGETSGCNT_IN6
    }
    fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
        self.fd.mif_counters(vif) // SIOCGETMIFCNT_IN6
    }
}

impl AsRawFd for Mroute6Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The IPv4 addresses of an interface, from `getifaddrs`.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::mroute::ipv4_addrs_of;
/// assert!(ipv4_addrs_of("lo")?.iter().all(|a| a.is_loopback()));
/// assert!(ipv4_addrs_of("no-such-if0")?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ipv4_addrs_of(name: &str) -> io::Result<Vec<Ipv4Addr>> {
    Ok(ipv4_subnets_of(name)?.into_iter().map(|(a, _)| a).collect())
}

/// The IPv4 addresses of an interface with their prefix lengths, from `getifaddrs`: the
/// subnets of its link.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::mroute::ipv4_subnets_of;
/// use std::net::Ipv4Addr;
/// assert!(ipv4_subnets_of("lo")?.contains(&(Ipv4Addr::LOCALHOST, 8)));
/// assert!(ipv4_subnets_of("no-such-if0")?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ipv4_subnets_of(name: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    Ok(sys::interface_addrs()?
        .into_iter()
        .filter(|(n, _, _)| n == name)
        .filter_map(|(_, a, mask)| match (a, mask) {
            // A netmask's length is its count of leading ones; without one, the address alone.
            (IpAddr::V4(v4), Some(IpAddr::V4(m))) => Some((v4, u32::from(m).leading_ones() as u8)),
            (IpAddr::V4(v4), _) => Some((v4, 32)),
            (IpAddr::V6(_), _) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel_headers() {
        let sg = Sg::new(Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        let m = mfcctl(sg, 0, &[1, 3]);
        assert_eq!(&m[0..8], &[198, 51, 100, 2, 239, 1, 2, 3]);
        assert_eq!((m[10], m[11], m[12], m[13]), (0, 1, 0, 1));
        let v = vifctl(5, 7);
        assert_eq!(v[2], VIFF_USE_IFINDEX);
        assert_eq!(i32::from_ne_bytes(v[8..12].try_into().unwrap()), 7);
        let sg6 = Sg::new(
            "2001:db8::2".parse::<Ipv6Addr>().unwrap(),
            "ff0e::1".parse::<Ipv6Addr>().unwrap(),
        );
        let mif = mif6ctl(3, 7).unwrap();
        assert_eq!((u16::from_ne_bytes([mif[0], mif[1]]), mif[3]), (3, 1));
        assert_eq!(u16::from_ne_bytes([mif[4], mif[5]]), 7);
        // 65536 + 7 would be ifindex 7 once cut to 16 bits: refused instead.
        let err = mif6ctl(3, 65536 + 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let m6 = mf6cctl(sg6, 1, &[0, 2, 1]);
        assert_eq!(u32::from_ne_bytes(m6[60..64].try_into().unwrap()), 0b101);
        assert_eq!(u16::from_ne_bytes([m6[56], m6[57]]), 1);
    }

    #[test]
    fn igmp_packets_are_told_from_upcalls() {
        let mut p = vec![0x46, 0, 0, 32, 0, 0, 0, 0, 1, 2, 0, 0];
        p.extend_from_slice(&[203, 0, 113, 2, 224, 0, 0, 22, 0x94, 4, 0, 0]);
        p.extend_from_slice(&[0x22, 0, 0, 0, 0, 0, 0, 0]);
        match parse_received4(&p, Some(3)) {
            Received4::Igmp {
                ifindex,
                payload,
                ttl,
                router_alert,
                ..
            } => assert_eq!(
                (ifindex, payload[0], payload.len(), ttl, router_alert),
                (3, 0x22, 8, 1, true)
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse_received4(&p, None), Received4::Junk);
        // TTL 64, no option.
        let mut q = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 2, 0, 0];
        q.extend_from_slice(&[203, 0, 113, 2, 224, 0, 0, 22]);
        q.extend_from_slice(&[0x22, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            parse_received4(&q, Some(3)),
            Received4::Igmp {
                ttl: 64,
                router_alert: false,
                ..
            }
        ));
    }
}
