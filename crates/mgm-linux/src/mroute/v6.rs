//! IPv6: the layouts of `<linux/mroute6.h>`, `struct mrt6msg` upcalls and the MLD messages
//! the socket hears beside them.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv6Addr};

use super::{each_oif, upcall_kind, KernelCalls, Mroute, MrouteFamily, Upcall};
use crate::sys::{self, SockOpt};
use mgm::Sg;

/// ff02::16, all MLDv2-capable routers: where MLDv2 reports go (RFC 3810, section 5.2.14).
pub const MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);
/// ff02::2, all routers on the link: where MLDv1 dones go (RFC 2710, section 4).
pub const MLD_ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// Bytes read per message from the IPv6 mroute socket: the largest IPv6 payload without a
/// jumbogram, so that a report on a jumbo-frame link is read whole.
pub const RECV6_BUFFER: usize = 65_535;

/// The ICMPv6 types of MLD: query (130), MLDv1 report (131) and done (132), MLDv2 report
/// (143). The socket's ICMPv6 filter passes these alone.
const MLD_TYPES: [u8; 4] = [130, 131, 132, 143];
/// The smallest MLD message: an MLDv2 report without records (RFC 3810, section 5.2).
const MLD_MIN_LEN: usize = 8;

// The byte offsets the encoders below write, checked against `#[repr(C)]` copies of the
// kernel's structures (`<linux/mroute6.h>`, `<linux/in6.h>`).
const MIF6CTL_LEN: usize = 12;
const MIF6C_FLAGS: usize = 2;
const MIF6C_THRESHOLD: usize = 3;
const MIF6C_PIFI: usize = 4;
const MF6CCTL_LEN: usize = 92;
const MF6CC_GROUP: usize = 28;
const MF6CC_PARENT: usize = 56;
const MF6CC_IFSET: usize = 60;
const SIN6_ADDR: usize = 8;
const MRT6MSG_LEN: usize = 40;
const IM6_MSGTYPE: usize = 1;
const IM6_MIF: usize = 2;
const IM6_SRC: usize = 8;
const IM6_DST: usize = 24;
const IPV6_MREQ_LEN: usize = 20;
const IPV6MR_INTERFACE: usize = 16;

#[allow(dead_code)] // never built: the structures are here for their layouts alone
const _: () = {
    #[repr(C)]
    struct Mif6ctl {
        mif6c_mifi: u16,
        mif6c_flags: u8,
        vifc_threshold: u8,
        mif6c_pifi: u16,
        vifc_rate_limit: u32,
    }
    #[repr(C)]
    struct Mf6cctl {
        mf6cc_origin: libc::sockaddr_in6,
        mf6cc_mcastgrp: libc::sockaddr_in6,
        mf6cc_parent: u16,
        mf6cc_ifset: [u32; 256 / 32], // struct if_set: IF_SETSIZE bits in 32-bit words
    }
    #[repr(C)]
    struct Mrt6msg {
        im6_mbz: u8,
        im6_msgtype: u8,
        im6_mif: u16,
        im6_pad: u32,
        im6_src: libc::in6_addr,
        im6_dst: libc::in6_addr,
    }
    assert!(size_of::<Mif6ctl>() == MIF6CTL_LEN);
    assert!(offset_of!(Mif6ctl, mif6c_flags) == MIF6C_FLAGS);
    assert!(offset_of!(Mif6ctl, vifc_threshold) == MIF6C_THRESHOLD);
    assert!(offset_of!(Mif6ctl, mif6c_pifi) == MIF6C_PIFI);
    assert!(size_of::<Mf6cctl>() == MF6CCTL_LEN);
    assert!(offset_of!(Mf6cctl, mf6cc_mcastgrp) == MF6CC_GROUP);
    assert!(offset_of!(Mf6cctl, mf6cc_parent) == MF6CC_PARENT);
    assert!(offset_of!(Mf6cctl, mf6cc_ifset) == MF6CC_IFSET);
    assert!(offset_of!(libc::sockaddr_in6, sin6_addr) == SIN6_ADDR);
    assert!(size_of::<Mrt6msg>() == MRT6MSG_LEN);
    assert!(offset_of!(Mrt6msg, im6_msgtype) == IM6_MSGTYPE);
    assert!(offset_of!(Mrt6msg, im6_mif) == IM6_MIF);
    assert!(offset_of!(Mrt6msg, im6_src) == IM6_SRC);
    assert!(offset_of!(Mrt6msg, im6_dst) == IM6_DST);
    assert!(size_of::<libc::ipv6_mreq>() == IPV6_MREQ_LEN);
    assert!(offset_of!(libc::ipv6_mreq, ipv6mr_interface) == IPV6MR_INTERFACE);
};

/// How an IPv6 packet arrived, from `recvmsg`: its source (the sender's address) and the
/// control messages the socket asked for (`IPV6_PKTINFO`, `IPV6_HOPLIMIT`, `IPV6_HOPOPTS`).
/// `None` where the kernel said nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arrival6 {
    /// The arrival interface.
    pub ifindex: Option<u32>,
    /// The IPv6 source.
    pub source: Option<Ipv6Addr>,
    /// The IPv6 destination.
    pub destination: Option<Ipv6Addr>,
    /// The hop limit it arrived with.
    pub hop_limit: Option<u8>,
    /// Its hop-by-hop options header, whole (next header, length, options).
    pub hop_by_hop: Option<Vec<u8>>,
}

/// What one read from an IPv6 mroute socket gave.
///
/// ```
/// use mgm_linux::mroute::{parse_received6, Arrival6, Received6, MLDV2_ROUTERS};
/// use std::net::Ipv6Addr;
/// let host: Ipv6Addr = "fe80::2".parse().unwrap();
/// // An MLDv2 report with no records, as a host sends it: hop limit 1, router alert 0.
/// let report = [143, 0, 0, 0, 0, 0, 0, 0];
/// let arrival = Arrival6 {
///     ifindex: Some(4),
///     source: Some(host),
///     destination: Some(MLDV2_ROUTERS),
///     hop_limit: Some(1),
///     hop_by_hop: Some(vec![58, 0, 5, 2, 0, 0, 1, 0]),
/// };
/// let expected = Received6::Mld {
///     ifindex: 4,
///     source: host,
///     destination: MLDV2_ROUTERS,
///     hop_limit: 1,
///     router_alert: true,
///     payload: report.to_vec(),
/// };
/// assert_eq!(parse_received6(&report, &arrival), expected);
/// let unknown = Arrival6 { ifindex: None, ..arrival };
/// assert_eq!(parse_received6(&report, &unknown), Received6::Junk, "arrival unknown");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received6 {
    /// A kernel upcall (`im6_mbz` zero).
    Upcall(Upcall<Ipv6Addr>),
    /// An MLD message heard on an interface.
    Mld {
        /// Arrival interface (from `IPV6_PKTINFO`).
        ifindex: u32,
        /// IPv6 source (link-local for every MLD message a host sends).
        source: Ipv6Addr,
        /// IPv6 destination.
        destination: Ipv6Addr,
        /// Hop limit (1 for every MLD message).
        hop_limit: u8,
        /// The hop-by-hop options carried a router alert of value 0, MLD's (RFC 2711).
        router_alert: bool,
        /// The MLD message, from its ICMPv6 type on.
        payload: Vec<u8>,
    },
    /// Something too short, of another ICMPv6 type, or whose arrival is unknown; ignored.
    Junk,
}

/// Classifies a message read from the IPv6 mroute socket: an upcall when its first byte
/// (`im6_mbz`, where ICMPv6 has its type, and no ICMPv6 type is 0) is zero, else an MLD
/// message when it is one and `arrival` says where it came from.
///
/// ```
/// use mgm_linux::mroute::{parse_received6, Arrival6, Received6, UpcallKind};
/// let mut up = [0u8; 40];
/// up[1] = 2; // MRT6MSG_WRONGMIF
/// up[24] = 0xff; // group ff0e::
/// up[25] = 0x0e;
/// match parse_received6(&up, &Arrival6::default()) {
///     Received6::Upcall(u) => assert_eq!(u.kind, UpcallKind::WrongVif),
///     other => panic!("{other:?}"),
/// }
/// // An echo request is no business of the router.
/// assert_eq!(parse_received6(&[128, 0, 0, 0, 0, 0, 0, 0], &Arrival6::default()), Received6::Junk);
/// ```
pub fn parse_received6(pkt: &[u8], arrival: &Arrival6) -> Received6 {
    match pkt.first() {
        Some(0) => parse_upcall6(pkt).map_or(Received6::Junk, Received6::Upcall),
        Some(t) if MLD_TYPES.contains(t) && pkt.len() >= MLD_MIN_LEN => {
            let (Some(ifindex), Some(source), Some(destination), Some(hop_limit)) = (
                arrival.ifindex,
                arrival.source,
                arrival.destination,
                arrival.hop_limit,
            ) else {
                return Received6::Junk;
            };
            Received6::Mld {
                ifindex,
                source,
                destination,
                hop_limit,
                router_alert: arrival.hop_by_hop.as_deref().is_some_and(has_router_alert6),
                payload: pkt.to_vec(),
            }
        }
        _ => Received6::Junk,
    }
}

/// Parses a `mrt6msg` upcall (40 bytes; the kernel may send more, which are ignored); `None`
/// for an ICMPv6 message (`im6_mbz` not zero) or fewer bytes.
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
/// assert_eq!(parse_upcall6(&msg[..39]), None, "cut short");
/// msg[0] = 130; // an ICMPv6 packet (MLD query), not an upcall
/// assert_eq!(parse_upcall6(&msg), None);
/// ```
pub fn parse_upcall6(pkt: &[u8]) -> Option<Upcall<Ipv6Addr>> {
    let msg = pkt.get(..MRT6MSG_LEN)?;
    if msg[0] != 0 {
        return None;
    }
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&msg[at..at + 16]);
        Ipv6Addr::from(a)
    };
    Some(Upcall {
        kind: upcall_kind(msg[IM6_MSGTYPE]),
        vif: u16::from_ne_bytes([msg[IM6_MIF], msg[IM6_MIF + 1]]),
        source: addr(IM6_SRC),
        group: addr(IM6_DST),
    })
}

/// True when the hop-by-hop options header `hbh` (next header, length in 8-byte units beyond
/// the first 8, then options) holds a router alert (type 5, length 2) of value 0, which
/// marks an MLD message (RFC 2711, RFC 2710 section 3). Options are walked by their lengths
/// within the header's own length; a length past the end ends the walk.
///
/// ```
/// use mgm_linux::mroute::has_router_alert6;
/// assert!(has_router_alert6(&[58, 0, 5, 2, 0, 0, 1, 0]), "router alert, then PadN");
/// assert!(has_router_alert6(&[58, 0, 0, 0, 5, 2, 0, 0]), "after two Pad1");
/// assert!(!has_router_alert6(&[58, 0, 5, 2, 0, 1, 1, 0]), "value 1: RSVP, not MLD");
/// assert!(!has_router_alert6(&[58, 0, 1, 4, 5, 2, 0, 0]), "inside a PadN");
/// assert!(!has_router_alert6(&[58, 0, 5, 2, 0]), "cut short");
/// assert!(!has_router_alert6(&[58, 0, 1, 9, 0, 0, 0, 0, 5, 2, 0, 0]), "past the header's 8 bytes");
/// ```
pub fn has_router_alert6(hbh: &[u8]) -> bool {
    let Some(&units) = hbh.get(1) else {
        return false;
    };
    let end = hbh.len().min((usize::from(units) + 1) * 8);
    let mut i = 2;
    while i < end {
        if hbh[i] == 0 {
            i += 1; // Pad1
            continue;
        }
        let Some(&len) = hbh.get(i + 1) else {
            return false;
        };
        let next = i + 2 + usize::from(len);
        if next > end {
            return false;
        }
        if hbh[i] == 5 && len == 2 && hbh[i + 2..next] == [0, 0] {
            return true;
        }
        i = next;
    }
    false
}

impl MrouteFamily for Ipv6Addr {
    const CALLS: KernelCalls = KernelCalls {
        family: "IPv6",
        init: "MRT6_INIT",
        add_vif: "MRT6_ADD_MIF",
        del_vif: "MRT6_DEL_MIF",
        add_mfc: "MRT6_ADD_MFC",
        del_mfc: "MRT6_DEL_MFC",
        vif: "MIF",
    };
}

impl super::sealed::Sealed for Ipv6Addr {
    const IPV6: bool = true;
    fn add_vif_arg(mif: u16, ifindex: u32) -> io::Result<Vec<u8>> {
        Ok(mif6ctl(mif, ifindex)?.to_vec())
    }
    fn del_vif_arg(mif: u16, _ifindex: u32) -> io::Result<Vec<u8>> {
        // MRT6_DEL_MIF takes a bare mifi_t.
        Ok(mif.to_ne_bytes().to_vec())
    }
    fn mfc_arg(sg: Sg<Self>, parent: u16, oifs: &[u16]) -> Vec<u8> {
        mf6cctl(sg, parent, oifs).to_vec()
    }
    fn membership_arg(group: Self, ifindex: u32) -> Vec<u8> {
        ipv6_mreq(group, ifindex).to_vec()
    }
    fn configure(sock: &Mroute<Self>) -> io::Result<()> {
        let fd = &sock.fd;
        for opt in [
            SockOpt::IPV6_RECVPKTINFO,
            SockOpt::IPV6_RECVHOPLIMIT,
            SockOpt::IPV6_RECVHOPOPTS,
        ] {
            sys::setsockopt_int(fd, opt, 1)?;
        }
        // A hop-by-hop header with a router alert of value 0 (MLD) and a PadN to 8 bytes, on
        // every packet sent; the kernel fills in the next header.
        sys::setsockopt_bytes(fd, SockOpt::IPV6_HOPOPTS, &[0, 0, 5, 2, 0, 0, 1, 0])?;
        sys::setsockopt_int(fd, SockOpt::IPV6_MULTICAST_HOPS, 1)?;
        sys::setsockopt_int(fd, SockOpt::IPV6_MULTICAST_LOOP, 0)?;
        sys::setsockopt_bytes(fd, SockOpt::ICMP6_FILTER, &mld_only_filter())
    }
}

/// The `struct icmp6_filter` that blocks every ICMPv6 type but MLD's (a set bit blocks).
/// Upcalls are queued to the socket directly, past the filter.
fn mld_only_filter() -> [u8; 32] {
    let mut words = [u32::MAX; 8];
    for t in MLD_TYPES {
        words[usize::from(t / 32)] &= !(1 << (t % 32));
    }
    let mut b = [0u8; 32];
    for (chunk, w) in b.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    b
}

impl Mroute<Ipv6Addr> {
    /// Sends an MLD message out of interface `ifindex` to `destination`: hop limit 1, the
    /// router alert, the interface's link-local address as the source (the kernel picks
    /// it for a link-scope destination), the ICMPv6 checksum filled in by the kernel.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::Mroute6Socket;
    /// use std::net::Ipv6Addr;
    /// let sock = Mroute6Socket::open()?;
    /// let eth0 = mgm_linux::net::interface_index("eth0")?;
    /// // An MLDv2 general query: type 130, maximum response code 10000 (10 s), group ::,
    /// // QRV 2, QQIC 125, no sources.
    /// let mut query = vec![130, 0, 0, 0, 0x27, 0x10, 0, 0];
    /// query.extend_from_slice(&[0; 16]);
    /// query.extend_from_slice(&[2, 125, 0, 0]);
    /// sock.send_mld(eth0, "ff02::1".parse::<Ipv6Addr>().unwrap(), &query)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_mld(&self, ifindex: u32, destination: Ipv6Addr, msg: &[u8]) -> io::Result<()> {
        let index = libc::c_int::try_from(ifindex).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ifindex {ifindex} does not fit IPV6_MULTICAST_IF's int"),
            )
        })?;
        sys::setsockopt_int(&self.fd, SockOpt::IPV6_MULTICAST_IF, index)?;
        // The scope, for a link-local destination; the kernel ignores it for the others.
        sys::send_to(&self.fd, msg, destination.into(), ifindex)?;
        Ok(())
    }

    /// Reads one message without waiting; `Ok(None)` when none is queued.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// ```no_run
    /// // no_run: opening the socket needs CAP_NET_RAW and CAP_NET_ADMIN.
    /// use mgm_linux::mroute::{Mroute6Socket, Received6};
    /// let sock = Mroute6Socket::open()?;
    /// mgm_linux::net::poll_readable(&[std::os::fd::AsRawFd::as_raw_fd(&sock)], 1000)?;
    /// while let Some(msg) = sock.recv()? {
    ///     match msg {
    ///         Received6::Upcall(up) => println!("{:?} on MIF {}: {} -> {}", up.kind, up.vif, up.source, up.group),
    ///         Received6::Mld { ifindex, source, payload, .. } => println!("MLD from {source} on {ifindex}: {payload:?}"),
    ///         Received6::Junk => {}
    ///     }
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self) -> io::Result<Option<Received6>> {
        let mut buf = vec![0u8; RECV6_BUFFER];
        let Some(info) = sys::recv_with_info(&self.fd, &mut buf)? else {
            return Ok(None);
        };
        let arrival = Arrival6 {
            ifindex: info.ifindex,
            source: match info.from {
                Some(IpAddr::V6(a)) => Some(a),
                _ => None,
            },
            destination: info.destination,
            hop_limit: info.hop_limit,
            hop_by_hop: info.hop_by_hop,
        };
        Ok(Some(parse_received6(&buf[..info.len], &arrival)))
    }
}

/// Writes a `sockaddr_in6` of `addr` (no port, flow or scope) at the start of `b`.
fn sockaddr_in6(b: &mut [u8], addr: Ipv6Addr) {
    b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
    b[SIN6_ADDR..SIN6_ADDR + 16].copy_from_slice(&addr.octets());
}

/// The 12-byte `mif6ctl`. Its interface field, `mif6c_pifi`, is 16 bits: a larger ifindex
/// is an error, not another interface.
fn mif6ctl(mif: u16, ifindex: u32) -> io::Result<[u8; MIF6CTL_LEN]> {
    let pifi = u16::try_from(ifindex).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ifindex {ifindex} does not fit mif6ctl's 16-bit mif6c_pifi"),
        )
    })?;
    let mut b = [0u8; MIF6CTL_LEN];
    b[0..2].copy_from_slice(&mif.to_ne_bytes());
    b[MIF6C_FLAGS] = 0; // no MIFF_REGISTER: a real interface
    b[MIF6C_THRESHOLD] = 1;
    b[MIF6C_PIFI..MIF6C_PIFI + 2].copy_from_slice(&pifi.to_ne_bytes());
    Ok(b)
}

/// The 92-byte `mf6cctl`; its `if_set` has one bit per oif, in 32-bit words of host order.
fn mf6cctl(sg: Sg<Ipv6Addr>, parent: u16, oifs: &[u16]) -> [u8; MF6CCTL_LEN] {
    let mut b = [0u8; MF6CCTL_LEN];
    sockaddr_in6(&mut b[..MF6CC_GROUP], sg.source);
    sockaddr_in6(&mut b[MF6CC_GROUP..MF6CC_PARENT], sg.group);
    b[MF6CC_PARENT..MF6CC_PARENT + 2].copy_from_slice(&parent.to_ne_bytes());
    each_oif(parent, oifs, |o| {
        let at = MF6CC_IFSET + usize::from(o / 32) * 4;
        let mut word = [0u8; 4];
        word.copy_from_slice(&b[at..at + 4]);
        let w = u32::from_ne_bytes(word) | 1 << (o % 32);
        b[at..at + 4].copy_from_slice(&w.to_ne_bytes());
    });
    b
}

/// The 20-byte `ipv6_mreq` of a membership of `group` on `ifindex`.
fn ipv6_mreq(group: Ipv6Addr, ifindex: u32) -> [u8; IPV6_MREQ_LEN] {
    let mut b = [0u8; IPV6_MREQ_LEN];
    b[..16].copy_from_slice(&group.octets());
    b[IPV6MR_INTERFACE..].copy_from_slice(&ifindex.to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mroute::{UpcallKind, MAXVIFS};

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn layouts_match_the_kernel_headers() {
        let mif = mif6ctl(3, 7).unwrap();
        assert_eq!((u16::from_ne_bytes([mif[0], mif[1]]), mif[3]), (3, 1));
        assert_eq!(u16::from_ne_bytes([mif[4], mif[5]]), 7);
        // 65536 + 7 would be ifindex 7 once cut to 16 bits: refused instead.
        let err = mif6ctl(3, 65536 + 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let sg = Sg::new(v6("2001:db8::2"), v6("ff0e::1"));
        let m = mf6cctl(sg, 1, &[0, 2, 1, 31, MAXVIFS as u16]);
        assert_eq!(u16::from_ne_bytes([m[0], m[1]]), libc::AF_INET6 as u16);
        assert_eq!(m[8..24], sg.source.octets());
        assert_eq!(u16::from_ne_bytes([m[28], m[29]]), libc::AF_INET6 as u16);
        assert_eq!(m[36..52], sg.group.octets());
        assert_eq!(u16::from_ne_bytes([m[56], m[57]]), 1);
        // MIFs 0, 2 and 31; not the parent, nothing at or past MAXMIFS.
        let word0 = u32::from_ne_bytes(m[60..64].try_into().unwrap());
        assert_eq!(word0, 1 | 1 << 2 | 1 << 31);
        assert_eq!(m[64..92], [0; 28]);
        let r = ipv6_mreq(MLDV2_ROUTERS, 9);
        assert_eq!(r[..16], MLDV2_ROUTERS.octets());
        assert_eq!(u32::from_ne_bytes(r[16..20].try_into().unwrap()), 9);
    }

    #[test]
    fn the_filter_passes_mld_alone() {
        let f = mld_only_filter();
        let blocks = |t: u8| {
            let at = usize::from(t / 32) * 4;
            u32::from_ne_bytes(f[at..at + 4].try_into().unwrap()) & (1 << (t % 32)) != 0
        };
        let passed: Vec<u8> = (0..=255).filter(|&t| !blocks(t)).collect();
        assert_eq!(passed, MLD_TYPES);
    }

    fn upcall(kind: u8, mif: u16) -> Vec<u8> {
        let mut m = vec![0u8; 40];
        m[1] = kind;
        m[2..4].copy_from_slice(&mif.to_ne_bytes());
        m[8..24].copy_from_slice(&v6("2001:db8:1::2").octets());
        m[24..40].copy_from_slice(&v6("ff3e::8000:1").octets());
        m
    }

    #[test]
    fn malformed_upcalls_are_refused_and_trailing_bytes_ignored() {
        let whole = upcall(1, 3);
        for n in 0..40 {
            assert_eq!(parse_upcall6(&whole[..n]), None, "{n} bytes");
            let r = parse_received6(&whole[..n], &Arrival6::default());
            assert_eq!(r, Received6::Junk, "{n} bytes");
        }
        let up = parse_upcall6(&whole).unwrap();
        assert_eq!((up.kind, up.vif), (UpcallKind::NoCache, 3));
        assert_eq!(
            (up.source, up.group),
            (v6("2001:db8:1::2"), v6("ff3e::8000:1"))
        );
        // The kernel sends 80 bytes, the copied IPv6 header after the message: ignored.
        let mut long = whole.clone();
        long.extend_from_slice(&[0x60; 40]);
        assert_eq!(parse_upcall6(&long), Some(up));
        let wrong = parse_upcall6(&upcall(2, MAXVIFS as u16 + 1)).unwrap();
        assert_eq!((wrong.kind, wrong.vif), (UpcallKind::WrongVif, 33));
        assert_eq!(
            parse_upcall6(&upcall(3, 0)).unwrap().kind,
            UpcallKind::Other(3)
        );
        // im6_mbz not zero: an ICMPv6 message, whatever follows.
        let mut not = whole;
        not[0] = 1;
        assert_eq!(parse_upcall6(&not), None);
    }

    #[test]
    fn mld_needs_its_type_its_length_and_a_known_arrival() {
        let full = Arrival6 {
            ifindex: Some(2),
            source: Some(v6("fe80::2")),
            destination: Some(v6("ff02::16")),
            hop_limit: Some(1),
            hop_by_hop: None,
        };
        let report = [143u8, 0, 0, 0, 0, 0, 0, 0];
        match parse_received6(&report, &full) {
            Received6::Mld { router_alert, .. } => assert!(!router_alert, "no hop-by-hop"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_received6(&report[..7], &full),
            Received6::Junk,
            "short"
        );
        assert_eq!(parse_received6(&[], &full), Received6::Junk, "empty");
        for t in [1, 128, 129, 133, 135, 136, 255] {
            let mut m = report;
            m[0] = t;
            assert_eq!(parse_received6(&m, &full), Received6::Junk, "type {t}");
        }
        let partial = [
            Arrival6 {
                ifindex: None,
                ..full.clone()
            },
            Arrival6 {
                source: None,
                ..full.clone()
            },
            Arrival6 {
                destination: None,
                ..full.clone()
            },
            Arrival6 {
                hop_limit: None,
                ..full.clone()
            },
        ];
        for a in &partial {
            assert_eq!(parse_received6(&report, a), Received6::Junk, "{a:?}");
        }
    }

    #[test]
    fn router_alert_walk_survives_any_header() {
        assert!(!has_router_alert6(&[]));
        assert!(!has_router_alert6(&[58]));
        assert!(!has_router_alert6(&[58, 0, 5]), "length missing");
        assert!(
            !has_router_alert6(&[58, 0, 5, 200, 0, 0, 0, 0]),
            "length past the end"
        );
        // A header claiming 2040 bytes but cut to 8: walked within the bytes there are.
        assert!(has_router_alert6(&[58, 255, 5, 2, 0, 0, 1, 0]));
        // Jumbo payload option first, then the alert, in a 16-byte header.
        let two = [58, 1, 0xc2, 4, 0, 0, 0, 0, 5, 2, 0, 0, 1, 2, 0, 0];
        assert!(has_router_alert6(&two));
    }
}
