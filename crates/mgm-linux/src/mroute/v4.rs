//! IPv4: the layouts of `<linux/mroute.h>`, `struct igmpmsg` upcalls and the IGMP packets
//! the socket hears beside them.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{IpAddr, Ipv4Addr};

use super::{each_oif, upcall_kind, KernelCalls, Mroute, MrouteFamily, Upcall};
use crate::sys::{self, SockOpt};
use mgm::Sg;

const VIFF_USE_IFINDEX: u8 = 0x8;

// The sizes and offsets the encoders below use, checked against `#[repr(C)]` copies of the
// kernel's structures (`<linux/mroute.h>`).
const VIFCTL_LEN: usize = 16;
const VIFC_LCL_IFINDEX: usize = 8;
const MFCCTL_LEN: usize = 60;
const MFCC_PARENT: usize = 8;
const MFCC_TTLS: usize = 10;

#[allow(dead_code)] // never built: the structures are here for their layouts alone
const _: () = {
    #[repr(C)]
    struct Vifctl {
        vifc_vifi: u16,
        vifc_flags: u8,
        vifc_threshold: u8,
        vifc_rate_limit: u32,
        vifc_lcl_ifindex: i32, // the union with vifc_lcl_addr
        vifc_rmt_addr: libc::in_addr,
    }
    #[repr(C)]
    struct Mfcctl {
        mfcc_origin: libc::in_addr,
        mfcc_mcastgrp: libc::in_addr,
        mfcc_parent: u16,
        mfcc_ttls: [u8; super::MAXVIFS],
        mfcc_pkt_cnt: u32,
        mfcc_byte_cnt: u32,
        mfcc_wrong_if: u32,
        mfcc_expire: i32,
    }
    #[repr(C)]
    struct Igmpmsg {
        unused1: u32,
        unused2: u32,
        im_msgtype: u8,
        im_mbz: u8,
        im_vif: u8,
        im_vif_hi: u8,
        im_src: libc::in_addr,
        im_dst: libc::in_addr,
    }
    assert!(size_of::<Vifctl>() == VIFCTL_LEN);
    assert!(offset_of!(Vifctl, vifc_lcl_ifindex) == VIFC_LCL_IFINDEX);
    assert!(size_of::<Mfcctl>() == MFCCTL_LEN);
    assert!(offset_of!(Mfcctl, mfcc_parent) == MFCC_PARENT);
    assert!(offset_of!(Mfcctl, mfcc_ttls) == MFCC_TTLS);
    // parse_received4 reads the upcall at these offsets.
    assert!(size_of::<Igmpmsg>() == 20);
    assert!(offset_of!(Igmpmsg, im_msgtype) == 8 && offset_of!(Igmpmsg, im_mbz) == 9);
    assert!(offset_of!(Igmpmsg, im_vif) == 10 && offset_of!(Igmpmsg, im_vif_hi) == 11);
    assert!(offset_of!(Igmpmsg, im_src) == 12 && offset_of!(Igmpmsg, im_dst) == 16);
};

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

impl MrouteFamily for Ipv4Addr {
    const CALLS: KernelCalls = KernelCalls {
        family: "IPv4",
        init: "MRT_INIT",
        add_vif: "MRT_ADD_VIF",
        del_vif: "MRT_DEL_VIF",
        add_mfc: "MRT_ADD_MFC",
        del_mfc: "MRT_DEL_MFC",
        vif: "VIF",
    };
}

impl super::sealed::Sealed for Ipv4Addr {
    const IPV6: bool = false;
    fn add_vif_arg(vif: u16, ifindex: u32) -> io::Result<Vec<u8>> {
        Ok(vifctl(vif, ifindex)?.to_vec())
    }
    fn del_vif_arg(vif: u16, ifindex: u32) -> io::Result<Vec<u8>> {
        Ok(vifctl(vif, ifindex)?.to_vec())
    }
    fn mfc_arg(sg: Sg<Self>, parent: u16, oifs: &[u16]) -> Vec<u8> {
        mfcctl(sg, parent, oifs).to_vec()
    }
    fn membership_arg(group: Self, ifindex: u32) -> Vec<u8> {
        mreqn(group, ifindex).to_vec()
    }
    fn configure(sock: &Mroute<Self>) -> io::Result<()> {
        sys::setsockopt_int(&sock.fd, SockOpt::IP_PKTINFO, 1)?;
        // Router alert (RFC 2113) on every packet sent.
        sys::setsockopt_bytes(&sock.fd, SockOpt::IP_OPTIONS, &[0x94, 4, 0, 0])?;
        sys::setsockopt_int(&sock.fd, SockOpt::IP_MULTICAST_TTL, 1)?;
        sys::setsockopt_int(&sock.fd, SockOpt::IP_MULTICAST_LOOP, 0)
    }
}

impl Mroute<Ipv4Addr> {
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
    /// for action in router.add_interface(eth0, Ipv4Addr::new(192, 0, 2, 1), Duration::ZERO).expect("a unicast address") {
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
        sys::send_to(&self.fd, msg, destination.into(), 0)?;
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
        return Received4::Upcall(Upcall {
            kind: upcall_kind(pkt[8]),
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

/// The `ip_mreqn` of a membership on (or of sending from) an interface by ifindex.
fn mreqn(group: Ipv4Addr, ifindex: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&group.octets());
    b[8..12].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

/// The 16-byte `vifctl` for a VIF bound to an ifindex. Its interface field,
/// `vifc_lcl_ifindex`, is an `int`: a larger ifindex is an error, not another interface.
fn vifctl(vif: u16, ifindex: u32) -> io::Result<[u8; VIFCTL_LEN]> {
    let ifindex = i32::try_from(ifindex).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("ifindex {ifindex} does not fit vifctl's int vifc_lcl_ifindex"),
        )
    })?;
    let mut b = [0u8; VIFCTL_LEN];
    b[0..2].copy_from_slice(&vif.to_ne_bytes());
    b[2] = VIFF_USE_IFINDEX;
    b[3] = 1; // threshold; forwarding itself follows the entry's ttls (TTL > 1)
    b[VIFC_LCL_IFINDEX..VIFC_LCL_IFINDEX + 4].copy_from_slice(&ifindex.to_ne_bytes());
    Ok(b)
}

/// The 60-byte `mfcctl`.
fn mfcctl(sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> [u8; MFCCTL_LEN] {
    let mut b = [0u8; MFCCTL_LEN];
    b[0..4].copy_from_slice(&sg.source.octets());
    b[4..8].copy_from_slice(&sg.group.octets());
    b[MFCC_PARENT..MFCC_PARENT + 2].copy_from_slice(&parent.to_ne_bytes());
    // mfcc_ttls: 1 forwards packets whose TTL is above 1; 0 is not an oif.
    each_oif(parent, oifs, |o| b[MFCC_TTLS + usize::from(o)] = 1);
    b
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
    use crate::mroute::UpcallKind;

    #[test]
    fn layouts_match_the_kernel_headers() {
        let sg = Sg::new(Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        let m = mfcctl(sg, 0, &[1, 3]);
        assert_eq!(&m[0..8], &[198, 51, 100, 2, 239, 1, 2, 3]);
        assert_eq!((m[10], m[11], m[12], m[13]), (0, 1, 0, 1));
        let v = vifctl(5, 7).unwrap();
        assert_eq!(u16::from_ne_bytes([v[0], v[1]]), 5);
        assert_eq!((v[2], v[3]), (VIFF_USE_IFINDEX, 1));
        assert_eq!(i32::from_ne_bytes(v[8..12].try_into().unwrap()), 7);
        // 2^31 + 7 would be a negative int: refused.
        let err = vifctl(5, (1 << 31) + 7).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // VIF 32 is past MAXVIFS, and the parent is never its own oif.
        assert_eq!(mfcctl(sg, 1, &[1, 32])[10..42], [0; 32]);
        let r = mreqn(Ipv4Addr::new(224, 0, 0, 22), 7);
        assert_eq!(&r[0..4], &[224, 0, 0, 22]);
        assert_eq!(&r[4..8], &[0; 4], "no local address: the ifindex decides");
        assert_eq!(i32::from_ne_bytes(r[8..12].try_into().unwrap()), 7);
    }

    #[test]
    fn malformed_ipv4_messages_are_junk_and_upcalls_keep_their_vif() {
        // Shorter than an IP header: junk, whatever it holds.
        for n in 0..20 {
            assert_eq!(parse_received4(&[0u8; 20][..n], Some(1)), Received4::Junk);
        }
        // A header length below 20 or past the end, on an IGMP packet: junk.
        let mut p = vec![
            0x44, 0, 0, 28, 0, 0, 0, 0, 1, 2, 0, 0, 203, 0, 113, 2, 224, 0, 0, 22,
        ];
        p.extend_from_slice(&[0x22, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_received4(&p, Some(1)), Received4::Junk, "IHL 4");
        p[0] = 0x4f;
        assert_eq!(
            parse_received4(&p, Some(1)),
            Received4::Junk,
            "IHL 15 > 28 bytes"
        );
        // A total length past the bytes read: the payload stops at the bytes.
        p[0] = 0x45;
        p[2..4].copy_from_slice(&9000u16.to_be_bytes());
        match parse_received4(&p, Some(1)) {
            Received4::Igmp { payload, .. } => assert_eq!(payload.len(), 8),
            other => panic!("{other:?}"),
        }
        // An upcall: the VIF is 16 bits, im_vif_hi the high byte; the type any byte.
        let mut up = [0u8; 20];
        (up[8], up[10], up[11]) = (9, 0x34, 0x12);
        match parse_received4(&up, None) {
            Received4::Upcall(u) => assert_eq!((u.kind, u.vif), (UpcallKind::Other(9), 0x1234)),
            other => panic!("{other:?}"),
        }
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
