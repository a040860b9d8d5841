//! The crate's syscall layer: raw sockets, socket options, `recvmsg` with packet info, the
//! multicast routing counter ioctls, `poll`, interface names and addresses.
//!
//! This module is private, and it is the only module of the crate with `unsafe` code: the
//! crate denies `unsafe_code` (see its `Cargo.toml`) and only this file allows it. Every safe
//! function here is sound with any argument; the two `unsafe fn`s (`ioctl_in_out`, and the
//! reader inside `control_info`) are private, and each call says why their contract
//! holds. Where the kernel's contract depends on what a descriptor is or on how a buffer is
//! laid out, the types carry it:
//!
//! * the counter ioctls are methods of [`RouterSocket`], which only this module opens and
//!   which knows its protocol, and each passes its argument as a `#[repr(C)]` copy of the
//!   kernel's structure of that protocol;
//! * socket options are a closed set, [`SockOpt`], set or read only on an [`InetSocket`];
//! * descriptors are borrowed ([`AsFd`]); only [`poll_readable`] takes descriptor numbers,
//!   which `poll` just reports on.
//!
//! The items the daemon needs are `pub` and re-exported as [`crate::net`]; the rest is
//! `pub(crate)`.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::mem::{offset_of, size_of, zeroed, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::mroute::{self, KernelCounters, VifCounters};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `socket(domain, SOCK_RAW | SOCK_CLOEXEC, protocol)`.
fn raw_socket(domain: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes integers only and touches no memory of ours.
    let fd = check(unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: socket(2) just returned `fd`: it is open and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ioctl(fd, request, arg)` for a request that reads its argument and writes it back.
///
/// # Safety
/// On `fd`, `request` must read and write at most `size_of::<T>()` bytes at its argument, and
/// what it writes must be a valid `T`.
unsafe fn ioctl_in_out<T>(
    fd: BorrowedFd<'_>,
    request: libc::c_ulong,
    arg: &mut T,
) -> io::Result<()> {
    // SAFETY: `arg` is a live, aligned `T` that we hold exclusively for the call; the caller
    // guarantees that the request stays within it and leaves a valid `T`.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, std::ptr::from_mut(arg)) })?;
    Ok(())
}

// The arguments of the counter ioctls, as <linux/mroute.h> and <linux/mroute6.h> declare
// them. Every field is an integer (or an array of them), so any bytes are a valid value.

/// `struct sioc_sg_req`.
#[repr(C)]
struct SiocSgReq {
    src: libc::in_addr,
    grp: libc::in_addr,
    pktcnt: libc::c_ulong,
    bytecnt: libc::c_ulong,
    wrong_if: libc::c_ulong,
}

/// `struct sioc_vif_req`.
#[repr(C)]
struct SiocVifReq {
    vifi: u16, // vifi_t
    icount: libc::c_ulong,
    ocount: libc::c_ulong,
    ibytes: libc::c_ulong,
    obytes: libc::c_ulong,
}

/// `struct sioc_sg_req6`.
#[repr(C)]
struct SiocSgReq6 {
    src: libc::sockaddr_in6,
    grp: libc::sockaddr_in6,
    pktcnt: libc::c_ulong,
    bytecnt: libc::c_ulong,
    wrong_if: libc::c_ulong,
}

/// `struct sioc_mif_req6`.
#[repr(C)]
struct SiocMifReq6 {
    mifi: u16, // mifi_t
    icount: libc::c_ulong,
    ocount: libc::c_ulong,
    ibytes: libc::c_ulong,
    obytes: libc::c_ulong,
}

// Sizes and offsets printed by the C compiler from the kernel headers on x86_64.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<SiocSgReq>() == 32);
    assert!(size_of::<SiocVifReq>() == 40 && offset_of!(SiocVifReq, icount) == 8);
    assert!(size_of::<SiocSgReq6>() == 80 && offset_of!(SiocSgReq6, pktcnt) == 56);
    assert!(size_of::<SiocMifReq6>() == 40 && offset_of!(SiocMifReq6, icount) == 8);
};

/// A kernel counter, an `unsigned long`: 64 bits here, 32 on 32-bit targets.
#[allow(clippy::useless_conversion)] // the identity where `c_ulong` is `u64`
fn counter(v: libc::c_ulong) -> u64 {
    u64::from(v)
}

fn in_addr(a: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from(a).to_be(),
    }
}

fn sockaddr_in6(a: Ipv6Addr, scope_id: u32) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: a.octets(),
        },
        sin6_scope_id: scope_id,
    }
}

/// The protocol of a multicast router's raw socket, which decides the address family, the
/// multicast router the kernel hands its calls to, and the level of its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RouterProto {
    /// `socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)`: the IPv4 router (`ipmr`).
    Igmp,
    /// `socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)`: the IPv6 router (`ip6mr`).
    Icmpv6,
}

/// A raw IGMP or ICMPv6 socket; only [`RouterSocket::open`] makes one, and it records which.
///
/// The type is what makes its counter methods safe. `SIOCGETSGCNT`, `SIOCGETVIFCNT` and
/// their IPv6 twins are `SIOCPROTOPRIVATE` numbers: what they do, and how much memory the
/// kernel writes, belongs to the protocol of the descriptor. On a raw IPv4 socket the kernel
/// hands them to the multicast router (`raw_ioctl` calls `ipmr_ioctl`), which copies one
/// `sioc_sg_req` or `sioc_vif_req` in and out; on a raw IPv6 socket `rawv6_ioctl` calls
/// `ip6mr_ioctl`, which copies one `sioc_sg_req6` or `sioc_mif_req6`. The recorded protocol
/// picks the structure.
#[derive(Debug)]
pub(crate) struct RouterSocket {
    fd: OwnedFd,
    proto: RouterProto,
}

impl RouterSocket {
    /// Opens the socket.
    ///
    /// # Errors
    /// The OS error (`EPERM` without `CAP_NET_RAW`; `EAFNOSUPPORT` without IPv6).
    pub(crate) fn open(proto: RouterProto) -> io::Result<Self> {
        let fd = match proto {
            RouterProto::Igmp => raw_socket(libc::AF_INET, libc::IPPROTO_IGMP)?,
            RouterProto::Icmpv6 => raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?,
        };
        Ok(RouterSocket { fd, proto })
    }

    /// The multicast routing option `call` at this socket's level (`IPPROTO_IP` or
    /// `IPPROTO_IPV6`: the numbers are the same).
    pub(crate) fn mrt(&self, call: Mrt) -> SockOpt {
        let name = match call {
            Mrt::Init => mroute::MRT_INIT,
            Mrt::Done => mroute::MRT_DONE,
            Mrt::AddVif => mroute::MRT_ADD_VIF,
            Mrt::DelVif => mroute::MRT_DEL_VIF,
            Mrt::AddMfc => mroute::MRT_ADD_MFC,
            Mrt::DelMfc => mroute::MRT_DEL_MFC,
            Mrt::Version => mroute::MRT_VERSION,
            Mrt::Assert => mroute::MRT_ASSERT,
        };
        match self.proto {
            RouterProto::Igmp => SockOpt::ip(name),
            RouterProto::Icmpv6 => SockOpt::ipv6(name),
        }
    }

    /// The counters of the kernel's cache entry (`source`, `group`) (`SIOCGETSGCNT`, or
    /// `SIOCGETSGCNT_IN6`, the same number).
    ///
    /// # Errors
    /// The OS error: `EADDRNOTAVAIL` when the table has no such entry; `InvalidInput` for
    /// addresses of the other family than the socket's.
    pub(crate) fn sg_counters(&self, source: IpAddr, group: IpAddr) -> io::Result<KernelCounters> {
        let (packets, bytes, wrong_if) = match (self.proto, source, group) {
            (RouterProto::Igmp, IpAddr::V4(s), IpAddr::V4(g)) => {
                let mut req = SiocSgReq {
                    src: in_addr(s),
                    grp: in_addr(g),
                    pktcnt: 0,
                    bytecnt: 0,
                    wrong_if: 0,
                };
                // SAFETY: `self` is a raw IPv4 socket, on which SIOCGETSGCNT reads and writes
                // one `struct sioc_sg_req`, laid out as `SiocSgReq`, whose fields take any
                // bytes.
                unsafe { ioctl_in_out(self.fd.as_fd(), mroute::SIOCGETSGCNT, &mut req) }?;
                (req.pktcnt, req.bytecnt, req.wrong_if)
            }
            (RouterProto::Icmpv6, IpAddr::V6(s), IpAddr::V6(g)) => {
                let mut req = SiocSgReq6 {
                    src: sockaddr_in6(s, 0),
                    grp: sockaddr_in6(g, 0),
                    pktcnt: 0,
                    bytecnt: 0,
                    wrong_if: 0,
                };
                // SAFETY: `self` is a raw IPv6 socket, on which SIOCGETSGCNT_IN6 reads and
                // writes one `struct sioc_sg_req6`, laid out as `SiocSgReq6`, whose fields
                // take any bytes.
                unsafe { ioctl_in_out(self.fd.as_fd(), mroute::SIOCGETSGCNT, &mut req) }?;
                (req.pktcnt, req.bytecnt, req.wrong_if)
            }
            _ => return Err(self.other_family(source, group)),
        };
        Ok(KernelCounters {
            packets: counter(packets),
            bytes: counter(bytes),
            wrong_if: counter(wrong_if),
        })
    }

    fn other_family(&self, source: IpAddr, group: IpAddr) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "({source},{group}) is not of the family of this {:?} socket",
                self.proto
            ),
        )
    }

    /// The kernel's counters of VIF (or MIF) `vif` (`SIOCGETVIFCNT`, `SIOCGETMIFCNT_IN6`).
    ///
    /// # Errors
    /// The OS error: `EADDRNOTAVAIL` for a VIF not in use, `EINVAL` for one past the last.
    pub(crate) fn vif_counters(&self, vif: u16) -> io::Result<VifCounters> {
        let (icount, ocount, ibytes, obytes) = match self.proto {
            RouterProto::Igmp => {
                let mut req = SiocVifReq {
                    vifi: vif,
                    icount: 0,
                    ocount: 0,
                    ibytes: 0,
                    obytes: 0,
                };
                // SAFETY: `self` is a raw IPv4 socket, on which SIOCGETVIFCNT reads and writes
                // one `struct sioc_vif_req`, laid out as `SiocVifReq`, whose fields take any
                // bytes.
                unsafe { ioctl_in_out(self.fd.as_fd(), mroute::SIOCGETVIFCNT, &mut req) }?;
                (req.icount, req.ocount, req.ibytes, req.obytes)
            }
            RouterProto::Icmpv6 => {
                let mut req = SiocMifReq6 {
                    mifi: vif,
                    icount: 0,
                    ocount: 0,
                    ibytes: 0,
                    obytes: 0,
                };
                // SAFETY: `self` is a raw IPv6 socket, on which SIOCGETMIFCNT_IN6 reads and
                // writes one `struct sioc_mif_req6`, laid out as `SiocMifReq6`, whose fields
                // take any bytes.
                unsafe { ioctl_in_out(self.fd.as_fd(), mroute::SIOCGETMIFCNT_IN6, &mut req) }?;
                (req.icount, req.ocount, req.ibytes, req.obytes)
            }
        };
        Ok(VifCounters {
            in_packets: counter(icount),
            out_packets: counter(ocount),
            in_bytes: counter(ibytes),
            out_bytes: counter(obytes),
        })
    }
}

/// The multicast routing calls made with `setsockopt`/`getsockopt` on a [`RouterSocket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mrt {
    /// `MRT_INIT` / `MRT6_INIT`: `int` 1.
    Init,
    /// `MRT_DONE` / `MRT6_DONE`: the value is not read.
    Done,
    /// `MRT_ADD_VIF` (`struct vifctl`) / `MRT6_ADD_MIF` (`struct mif6ctl`).
    AddVif,
    /// `MRT_DEL_VIF` (`struct vifctl`) / `MRT6_DEL_MIF` (a `mifi_t`).
    DelVif,
    /// `MRT_ADD_MFC` (`struct mfcctl`) / `MRT6_ADD_MFC` (`struct mf6cctl`).
    AddMfc,
    /// `MRT_DEL_MFC` / `MRT6_DEL_MFC`: as the add.
    DelMfc,
    /// `MRT_VERSION` / `MRT6_VERSION` (get): `int`.
    Version,
    /// `MRT_ASSERT` / `MRT6_ASSERT`: `int`.
    Assert,
}

impl AsFd for RouterSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for RouterSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A socket of the IPv4 or IPv6 family, on which the options of [`SockOpt`] are the ones it
/// describes.
///
/// # Safety
/// `as_fd` must always return an `AF_INET` or `AF_INET6` socket.
pub(crate) unsafe trait InetSocket: AsFd {}

// SAFETY: only `RouterSocket::open` makes one, with socket(AF_INET or AF_INET6, ...).
unsafe impl InetSocket for RouterSocket {}
// SAFETY: std opens every `UdpSocket` with socket(AF_INET or AF_INET6, SOCK_DGRAM, 0).
unsafe impl InetSocket for std::net::UdpSocket {}

/// A socket option of the closed set this crate uses, as (level, name) of an IPv4 or IPv6
/// socket.
///
/// Each one's value is plain data: an `int`, IP option bytes, or a structure of integers and
/// addresses (`vifctl`, `mfcctl`, `ip_mreqn`, `mif6ctl`, `mifi_t`, `mf6cctl`), which the
/// kernel copies in (set) or out (get) within the length given. None holds a pointer the
/// kernel would follow (as netfilter's `IPT_SO_SET_REPLACE` does, writing old counters through
/// one), so setting one with any bytes touches no memory of ours but those bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SockOpt {
    level: libc::c_int,
    name: libc::c_int,
}

impl SockOpt {
    const fn ip(name: libc::c_int) -> Self {
        SockOpt {
            level: libc::IPPROTO_IP,
            name,
        }
    }
    const fn ipv6(name: libc::c_int) -> Self {
        SockOpt {
            level: libc::IPPROTO_IPV6,
            name,
        }
    }

    /// `IP_PKTINFO`: `int`.
    pub(crate) const IP_PKTINFO: Self = Self::ip(libc::IP_PKTINFO);
    /// `IP_OPTIONS`: the IP option bytes.
    pub(crate) const IP_OPTIONS: Self = Self::ip(libc::IP_OPTIONS);
    /// `IP_MULTICAST_IF`: `struct ip_mreqn`.
    pub(crate) const IP_MULTICAST_IF: Self = Self::ip(libc::IP_MULTICAST_IF);
    /// `IP_MULTICAST_TTL`: `int`.
    pub(crate) const IP_MULTICAST_TTL: Self = Self::ip(libc::IP_MULTICAST_TTL);
    /// `IP_MULTICAST_LOOP`: `int`.
    pub(crate) const IP_MULTICAST_LOOP: Self = Self::ip(libc::IP_MULTICAST_LOOP);
    /// `IP_ADD_MEMBERSHIP`: `struct ip_mreqn`.
    pub(crate) const IP_ADD_MEMBERSHIP: Self = Self::ip(libc::IP_ADD_MEMBERSHIP);
    /// `IP_DROP_MEMBERSHIP`: `struct ip_mreqn`.
    pub(crate) const IP_DROP_MEMBERSHIP: Self = Self::ip(libc::IP_DROP_MEMBERSHIP);
    /// `IPV6_RECVPKTINFO`: `int`; `IPV6_PKTINFO` messages then carry the arrival interface
    /// and the destination.
    pub(crate) const IPV6_RECVPKTINFO: Self = Self::ipv6(libc::IPV6_RECVPKTINFO);
    /// `IPV6_RECVHOPLIMIT`: `int`; `IPV6_HOPLIMIT` messages then carry the hop limit.
    pub(crate) const IPV6_RECVHOPLIMIT: Self = Self::ipv6(libc::IPV6_RECVHOPLIMIT);
    /// `IPV6_RECVHOPOPTS`: `int`; `IPV6_HOPOPTS` messages then carry the hop-by-hop header.
    pub(crate) const IPV6_RECVHOPOPTS: Self = Self::ipv6(libc::IPV6_RECVHOPOPTS);
    /// `IPV6_HOPOPTS`: the hop-by-hop options header put on every packet sent, as bytes.
    pub(crate) const IPV6_HOPOPTS: Self = Self::ipv6(libc::IPV6_HOPOPTS);
    /// `IPV6_MULTICAST_IF`: `int` ifindex.
    pub(crate) const IPV6_MULTICAST_IF: Self = Self::ipv6(libc::IPV6_MULTICAST_IF);
    /// `IPV6_MULTICAST_HOPS`: `int`.
    pub(crate) const IPV6_MULTICAST_HOPS: Self = Self::ipv6(libc::IPV6_MULTICAST_HOPS);
    /// `IPV6_MULTICAST_LOOP`: `int`.
    pub(crate) const IPV6_MULTICAST_LOOP: Self = Self::ipv6(libc::IPV6_MULTICAST_LOOP);
    /// `IPV6_ADD_MEMBERSHIP`: `struct ipv6_mreq`.
    pub(crate) const IPV6_ADD_MEMBERSHIP: Self = Self::ipv6(libc::IPV6_ADD_MEMBERSHIP);
    /// `IPV6_DROP_MEMBERSHIP`: `struct ipv6_mreq`.
    pub(crate) const IPV6_DROP_MEMBERSHIP: Self = Self::ipv6(libc::IPV6_DROP_MEMBERSHIP);
    /// `IP_ADD_MEMBERSHIP` / `IP_DROP_MEMBERSHIP` (`struct ip_mreqn`), or for IPv6
    /// `IPV6_ADD_MEMBERSHIP` / `IPV6_DROP_MEMBERSHIP` (`struct ipv6_mreq`).
    pub(crate) const fn membership(ipv6: bool, join: bool) -> Self {
        match (ipv6, join) {
            (false, true) => Self::IP_ADD_MEMBERSHIP,
            (false, false) => Self::IP_DROP_MEMBERSHIP,
            (true, true) => Self::IPV6_ADD_MEMBERSHIP,
            (true, false) => Self::IPV6_DROP_MEMBERSHIP,
        }
    }
    /// `ICMP6_FILTER` (level `IPPROTO_ICMPV6`): `struct icmp6_filter`, eight words of bits,
    /// a set bit blocking that ICMPv6 type.
    pub(crate) const ICMP6_FILTER: Self = SockOpt {
        level: libc::IPPROTO_ICMPV6,
        name: 1,
    };
    /// `SO_TYPE` (get): `int`.
    #[cfg(test)]
    const SO_TYPE: Self = SockOpt {
        level: libc::SOL_SOCKET,
        name: libc::SO_TYPE,
    };
    /// `SO_PROTOCOL` (get): `int`.
    #[cfg(test)]
    const SO_PROTOCOL: Self = SockOpt {
        level: libc::SOL_SOCKET,
        name: libc::SO_PROTOCOL,
    };
}

/// `setsockopt(fd, level, name, value)` with the value given as bytes.
///
/// # Errors
/// The OS error.
pub(crate) fn setsockopt_bytes(fd: &impl InetSocket, opt: SockOpt, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pointer and length describe `value`, live for the call; setsockopt(2) only
    // reads them, and `opt`, an option of an IPv4/IPv6 socket from `SockOpt`, holds no pointer
    // the kernel would follow.
    check(unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
            opt.level,
            opt.name,
            value.as_ptr().cast(),
            len,
        )
    })?;
    Ok(())
}

/// `setsockopt` with an `int` value.
///
/// # Errors
/// The OS error.
pub(crate) fn setsockopt_int(
    fd: &impl InetSocket,
    opt: SockOpt,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_bytes(fd, opt, &value.to_ne_bytes())
}

/// `getsockopt` of an `int` value.
///
/// # Errors
/// The OS error.
pub(crate) fn getsockopt_int(fd: &impl InetSocket, opt: SockOpt) -> io::Result<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live and valid for writes of the sizes given; getsockopt(2)
    // writes at most `len` bytes at `v` (any bytes are a valid `int`), and the options of
    // `SockOpt` hold no pointer the kernel would follow.
    check(unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            opt.level,
            opt.name,
            std::ptr::from_mut(&mut v).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// Puts a descriptor in non-blocking mode.
///
/// # Errors
/// The OS error.
pub(crate) fn set_nonblocking(fd: &impl AsFd) -> io::Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    // SAFETY: fcntl(2) with F_GETFL takes no pointer; `fd` is borrowed for the call.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: fcntl(2) with F_SETFL takes an `int`, no pointer; `fd` is borrowed for the call.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// What `recvmsg` returned besides the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecvInfo {
    /// Bytes received (at most the buffer's length).
    pub(crate) len: usize,
    /// The sender's address.
    pub(crate) from: Option<IpAddr>,
    /// The arrival interface from `IP_PKTINFO` / `IPV6_PKTINFO`, when enabled and present.
    pub(crate) ifindex: Option<u32>,
    /// The destination from `IPV6_PKTINFO`, when enabled and present.
    pub(crate) destination: Option<Ipv6Addr>,
    /// The hop limit from `IPV6_HOPLIMIT`, when enabled and present (0..=255).
    pub(crate) hop_limit: Option<u8>,
    /// The hop-by-hop options header from `IPV6_HOPOPTS`, when enabled and the packet had
    /// one.
    pub(crate) hop_by_hop: Option<Vec<u8>>,
}

/// One `recvmsg` that does not wait; `Ok(None)` when nothing is queued.
///
/// # Errors
/// The OS error other than `EAGAIN`.
pub(crate) fn recv_with_info(fd: &impl AsFd, buf: &mut [u8]) -> io::Result<Option<RecvInfo>> {
    let mut from = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    // 8-byte aligned, as control message headers want; room for packet info, the hop limit
    // and a hop-by-hop header of up to 2 KiB.
    let mut cbuf = [0u64; 320];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is integers and pointers (and, on musl, padding integers): all zeros is a
    // valid, empty value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = from.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer (`from`, `iov` and through
    // it `buf`, `cbuf`) of the length given beside it; recvmsg(2) writes only within those.
    let n = unsafe { libc::recvmsg(fd.as_fd().as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(e);
    }
    // Without MSG_TRUNC in the flags, recvmsg returns at most the bytes it copied.
    let len = (n as usize).min(buf.len());
    let control = control_info(&cbuf, msg.msg_controllen as usize);
    // SAFETY: `from` was zeroed, and a zeroed sockaddr_storage (integers only) is valid; the
    // kernel may have written a sockaddr over its start, which leaves integers too.
    let sa = unsafe { from.assume_init() };
    Ok(Some(RecvInfo {
        len,
        from: sockaddr_ip(&sa),
        ifindex: control.ifindex,
        destination: control.destination,
        hop_limit: control.hop_limit,
        hop_by_hop: control.hop_by_hop,
    }))
}

/// What the control messages of one `recvmsg` said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ControlInfo {
    ifindex: Option<u32>,
    destination: Option<Ipv6Addr>,
    hop_limit: Option<u8>,
    hop_by_hop: Option<Vec<u8>>,
}

/// The `IP_PKTINFO`, `IPV6_PKTINFO`, `IPV6_HOPLIMIT` and `IPV6_HOPOPTS` control messages
/// among the first `len` bytes of `control`, where recvmsg wrote its control messages. Safe
/// with any bytes: headers and payloads are read only within those `len` bytes (at most the
/// buffer), and a header's length, however absurd, only ends the walk. (libc's `CMSG_NXTHDR`
/// is not used: it overflows on such a length.)
#[allow(clippy::unnecessary_cast)] // cmsg_len: a size_t, a socklen_t on musl
fn control_info(control: &[u64], len: usize) -> ControlInfo {
    // The kernel's CMSG_ALIGN: to the size of a `long`.
    let align = |n: usize| {
        n.checked_add(size_of::<usize>() - 1)
            .map(|n| n & !(size_of::<usize>() - 1))
    };
    let hdr = size_of::<libc::cmsghdr>();
    let mut info = ControlInfo::default();
    let Some(data_at) = align(hdr) else {
        return info; // CMSG_DATA's offset in a message
    };
    let len = len.min(std::mem::size_of_val(control));
    let base = control.as_ptr().cast::<u8>();
    /// The bytes at `at` read as a `T`, when they all lie before `end`.
    ///
    /// # Safety
    /// `base` must point to at least `end` initialized bytes, and any bytes must be a valid
    /// `T`.
    unsafe fn read<T>(base: *const u8, end: usize, at: usize) -> Option<T> {
        let last = at.checked_add(size_of::<T>())?;
        // SAFETY: `at..last` lies within the `end` initialized bytes at `base`; the read is
        // unaligned, and the caller vouches that any bytes are a valid `T`.
        (last <= end).then(|| unsafe { base.add(at).cast::<T>().read_unaligned() })
    }
    let mut at = 0usize;
    // SAFETY: `base` points to the `len <= size_of_val(control)` bytes of `control`, all
    // initialized; cmsghdr is integers only (and, on musl, padding integers).
    while let Some(h) = unsafe { read::<libc::cmsghdr>(base, len, at) } {
        let claimed = h.cmsg_len as usize;
        if claimed < hdr {
            break;
        }
        // The end of this message, cut to the bytes written (`at + hdr <= len` here).
        let end = at + claimed.min(len - at);
        let data = at + data_at;
        match (h.cmsg_level, h.cmsg_type) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                // SAFETY: `end <= len` bytes at `base`, as above; in_pktinfo is integers only.
                let p = unsafe { read::<libc::in_pktinfo>(base, end, data) };
                if let Some(i) = p.and_then(|p| u32::try_from(p.ipi_ifindex).ok()) {
                    info.ifindex = Some(i);
                }
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                // SAFETY: as above; in6_pktinfo is an integer and an address of bytes.
                if let Some(p) = unsafe { read::<libc::in6_pktinfo>(base, end, data) } {
                    info.ifindex = Some(p.ipi6_ifindex);
                    info.destination = Some(Ipv6Addr::from(p.ipi6_addr.s6_addr));
                }
            }
            (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                // SAFETY: as above; any bytes are a valid `int`.
                let h = unsafe { read::<libc::c_int>(base, end, data) };
                if let Some(h) = h.and_then(|h| u8::try_from(h).ok()) {
                    info.hop_limit = Some(h);
                }
            }
            (libc::IPPROTO_IPV6, libc::IPV6_HOPOPTS) => {
                // The payload is the whole header: every byte of the message after CMSG_DATA.
                let bytes = (data..end)
                    // SAFETY: as above; each index lies before `end`, and any byte is a `u8`.
                    .map_while(|i| unsafe { read::<u8>(base, end, i) })
                    .collect();
                info.hop_by_hop = Some(bytes);
            }
            _ => {}
        }
        match align(claimed).and_then(|step| at.checked_add(step)) {
            Some(next) => at = next,
            None => break,
        }
    }
    info
}

fn sockaddr_ip(sa: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(sa.ss_family) {
        libc::AF_INET => {
            // SAFETY: sockaddr_storage is larger and more aligned than sockaddr_in, and all
            // of it is initialized integers: reading it as a sockaddr_in is valid.
            let sin = unsafe { &*std::ptr::from_ref(sa).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { &*std::ptr::from_ref(sa).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// `sendto` an IPv4 or IPv6 destination (port 0, as raw sockets want), with, for IPv6, the
/// scope of a link-local destination (its interface; 0 for none; the kernel ignores it for
/// the other destinations).
///
/// # Errors
/// The OS error.
pub(crate) fn send_to(fd: &impl AsFd, buf: &[u8], dst: IpAddr, scope_id: u32) -> io::Result<usize> {
    // SAFETY: sockaddr_in is integers only: all zeros is a valid value; fields are set below.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    let sin6;
    let (sa, len): (*const libc::sockaddr, usize) = match dst {
        IpAddr::V4(a) => {
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr = in_addr(a);
            (
                std::ptr::from_ref(&sin).cast(),
                size_of::<libc::sockaddr_in>(),
            )
        }
        IpAddr::V6(a) => {
            sin6 = sockaddr_in6(a, scope_id);
            (
                std::ptr::from_ref(&sin6).cast(),
                size_of::<libc::sockaddr_in6>(),
            )
        }
    };
    // SAFETY: `buf` and the address `sa` points to (`sin` or `sin6`, both live until the end
    // of the function) are given with their exact lengths; sendto(2) only reads them.
    let n = unsafe {
        libc::sendto(
            fd.as_fd().as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            sa,
            len as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Sets the hop limit of the multicast packets an IPv6 UDP socket sends
/// (`IPV6_MULTICAST_HOPS`; the default, 1, keeps them on the link): the IPv6 twin of
/// [`std::net::UdpSocket::set_multicast_ttl_v4`], which std lacks.
///
/// # Errors
/// The OS error: `ENOPROTOOPT` on an IPv4 socket.
///
/// ```
/// use std::net::UdpSocket;
/// let Ok(sock) = UdpSocket::bind("[::1]:0") else { return Ok(()) }; // a host without IPv6
/// mgm_linux::net::set_multicast_hops_v6(&sock, 8)?;
/// let v4 = UdpSocket::bind("127.0.0.1:0")?;
/// assert!(mgm_linux::net::set_multicast_hops_v6(&v4, 8).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn set_multicast_hops_v6(sock: &std::net::UdpSocket, hops: u8) -> io::Result<()> {
    setsockopt_int(sock, SockOpt::IPV6_MULTICAST_HOPS, libc::c_int::from(hops))
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (-1: forever). Returns, per
/// descriptor, whether it is readable (or hung up, or in error). `EINTR` counts as a time-out.
/// As with `poll(2)`, a negative number is ignored (never readable).
///
/// `poll` only reports on the descriptors, so any numbers may be given.
///
/// # Errors
/// The OS error other than `EINTR`; `EBADF` when a number is not an open descriptor.
///
/// ```
/// use mgm_linux::net::poll_readable;
/// use std::{net::UdpSocket, os::fd::AsRawFd};
/// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
/// b.send_to(b"x", a.local_addr()?)?;
/// assert_eq!(poll_readable(&[a.as_raw_fd(), b.as_raw_fd()], 1000)?, [true, false]);
/// assert_eq!(poll_readable(&[b.as_raw_fd()], 0)?, [false], "timed out");
/// assert_eq!(poll_readable(&[b.as_raw_fd(), -1], 0)?, [false, false], "-1 is ignored");
/// let not_open = poll_readable(&[a.as_raw_fd(), i32::MAX], 1000).unwrap_err();
/// assert_eq!(not_open.raw_os_error(), Some(libc::EBADF));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let nfds = libc::nfds_t::try_from(p.len())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `p` is a live array of `nfds` pollfd structures; poll(2) writes only their
    // `revents`.
    let rc = unsafe { libc::poll(p.as_mut_ptr(), nfds, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    if p.iter().any(|x| x.revents & libc::POLLNVAL != 0) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// The CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`); `None` where the
/// clock is missing. Set beside a wall clock, it tells a thread's work from the time the
/// scheduler kept it waiting.
///
/// ```
/// let a = mgm_linux::net::thread_cpu_time().unwrap();
/// let mut x = 0u64;
/// for i in 0..1_000_000u64 {
///     x = std::hint::black_box(x.wrapping_add(i));
/// }
/// assert!(mgm_linux::net::thread_cpu_time().unwrap() > a);
/// ```
pub fn thread_cpu_time() -> Option<std::time::Duration> {
    // SAFETY: timespec is two integers: all zeros is a valid value.
    let mut t: libc::timespec = unsafe { zeroed() };
    // SAFETY: `t` is a live timespec, the one thing clock_gettime(2) writes.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u32::try_from(t.tv_nsec).ok()?;
    Some(std::time::Duration::new(secs, nanos))
}

/// The index of the interface named `name` (`if_nametoindex`).
///
/// # Errors
/// `NotFound` when there is no such interface; `InvalidInput` when the name holds a NUL.
///
/// ```
/// use mgm_linux::net::{interface_index, interface_name};
/// use std::io::ErrorKind;
/// let lo = interface_index("lo")?;
/// assert_eq!(interface_name(lo).as_deref(), Some("lo"));
/// assert_eq!(interface_index("no-such-if0").unwrap_err().kind(), ErrorKind::NotFound);
/// assert_eq!(interface_index("lo\0").unwrap_err().kind(), ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interface_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string, live for the call; if_nametoindex only reads it.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {name:?}"),
        ))
    } else {
        Ok(i)
    }
}

/// The name of the interface with index `index`, if it exists (`if_indextoname`).
///
/// ```
/// use mgm_linux::net::{interface_index, interface_name};
/// assert_eq!(interface_name(interface_index("lo")?).as_deref(), Some("lo"));
/// assert_eq!(interface_name(0), None, "ifindex 0 is never an interface");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name, within its IF_NAMESIZE bytes.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// Every IPv4 and IPv6 address of every interface: (interface name, address, netmask).
///
/// # Errors
/// The OS error of `getifaddrs`.
pub(crate) fn interface_addrs() -> io::Result<Vec<(String, IpAddr, Option<IpAddr>)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head, which is freed below with freeifaddrs.
    check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned, valid until freeifaddrs.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr, whose first field is its family.
        let fam = libc::c_int::from(unsafe { (*ifa.ifa_addr).sa_family });
        let len = match fam {
            libc::AF_INET => size_of::<libc::sockaddr_in>(),
            libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
            _ => continue,
        };
        // SAFETY: sockaddr_storage is integers only: all zeros is a valid value.
        let mut st: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: for these two families getifaddrs stores a whole sockaddr_in / sockaddr_in6
        // (`len` bytes) at ifa_addr; `st` is larger, and a separate local.
        unsafe {
            std::ptr::copy_nonoverlapping(
                ifa.ifa_addr.cast::<u8>(),
                std::ptr::from_mut(&mut st).cast::<u8>(),
                len,
            );
        }
        // SAFETY: all zeros is a valid sockaddr_storage, as above.
        let mut mask: libc::sockaddr_storage = unsafe { zeroed() };
        if !ifa.ifa_netmask.is_null() {
            // SAFETY: getifaddrs stores the netmask as a sockaddr of the address's family
            // (`len` bytes) at a non-null ifa_netmask; `mask` is larger, and a separate local.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    ifa.ifa_netmask.cast::<u8>(),
                    std::ptr::from_mut(&mut mask).cast::<u8>(),
                    len,
                );
            }
        }
        if let Some(ip) = sockaddr_ip(&st) {
            // SAFETY: a non-null ifa_name is a NUL-terminated string, valid until freeifaddrs.
            let name = unsafe { CStr::from_ptr(ifa.ifa_name) };
            out.push((name.to_string_lossy().into_owned(), ip, sockaddr_ip(&mask)));
        }
    }
    // SAFETY: `head` came from getifaddrs, is freed once, and nothing borrowed from the list
    // outlives this point (names were copied into `out`).
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};

    /// One of std's sockets, bound to 127.0.0.1 by `udp` or `tcp`: an IPv4 socket.
    struct Loopback<S>(S);

    impl<S: AsFd> AsFd for Loopback<S> {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.0.as_fd()
        }
    }

    // SAFETY: only `udp` and `tcp` below make a `Loopback`, binding 127.0.0.1: AF_INET.
    unsafe impl<S: AsFd> InetSocket for Loopback<S> {}

    fn udp() -> Loopback<UdpSocket> {
        Loopback(UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket on 127.0.0.1"))
    }

    fn tcp() -> Loopback<TcpListener> {
        Loopback(TcpListener::bind("127.0.0.1:0").expect("bind a TCP listener on 127.0.0.1"))
    }

    /// A raw IGMP socket, or `None` where opening one is not permitted (no `CAP_NET_RAW`),
    /// the one error accepted.
    fn igmp_socket() -> Option<RouterSocket> {
        match RouterSocket::open(RouterProto::Igmp) {
            Ok(s) => Some(s),
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
                eprintln!("raw IGMP socket not permitted here ({e}): its checks are skipped");
                None
            }
        }
    }

    #[test]
    fn igmp_socket_is_a_raw_igmp_socket() {
        let Some(sock) = igmp_socket() else { return };
        assert_eq!(
            getsockopt_int(&sock, SockOpt::SO_TYPE).unwrap(),
            libc::SOCK_RAW
        );
        assert_eq!(
            getsockopt_int(&sock, SockOpt::SO_PROTOCOL).unwrap(),
            libc::IPPROTO_IGMP
        );
    }

    /// A raw ICMPv6 socket, or `None` where opening one is not permitted (no `CAP_NET_RAW`)
    /// or the kernel has no IPv6, the errors accepted.
    fn icmpv6_socket() -> Option<RouterSocket> {
        match RouterSocket::open(RouterProto::Icmpv6) {
            Ok(s) => Some(s),
            Err(e) => {
                let accepted = e.kind() == io::ErrorKind::PermissionDenied
                    || e.raw_os_error() == Some(libc::EAFNOSUPPORT);
                assert!(accepted, "{e}");
                eprintln!("raw ICMPv6 socket not available here ({e}): its checks are skipped");
                None
            }
        }
    }

    #[test]
    fn icmpv6_socket_is_a_raw_icmpv6_socket() {
        let Some(sock) = icmpv6_socket() else { return };
        assert_eq!(
            getsockopt_int(&sock, SockOpt::SO_TYPE).unwrap(),
            libc::SOCK_RAW
        );
        assert_eq!(
            getsockopt_int(&sock, SockOpt::SO_PROTOCOL).unwrap(),
            libc::IPPROTO_ICMPV6
        );
    }

    #[test]
    fn setsockopt_bytes_sets_an_int_given_as_bytes() {
        let sock = udp();
        setsockopt_bytes(&sock, SockOpt::IP_MULTICAST_TTL, &7i32.to_ne_bytes()).unwrap();
        assert_eq!(getsockopt_int(&sock, SockOpt::IP_MULTICAST_TTL).unwrap(), 7);
        assert_eq!(sock.0.multicast_ttl_v4().unwrap(), 7);
    }

    #[test]
    fn setsockopt_int_sets_an_int() {
        let sock = udp();
        assert_eq!(
            getsockopt_int(&sock, SockOpt::IP_MULTICAST_LOOP).unwrap(),
            1
        );
        setsockopt_int(&sock, SockOpt::IP_MULTICAST_LOOP, 0).unwrap();
        assert!(!sock.0.multicast_loop_v4().unwrap());
    }

    #[test]
    fn getsockopt_int_reads_an_int() {
        assert_eq!(
            getsockopt_int(&udp(), SockOpt::SO_TYPE).unwrap(),
            libc::SOCK_DGRAM
        );
        assert_eq!(
            getsockopt_int(&tcp(), SockOpt::SO_TYPE).unwrap(),
            libc::SOCK_STREAM
        );
    }

    #[test]
    fn set_nonblocking_makes_reads_return_at_once() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_nonblocking(&sock).unwrap();
        let err = sock.recv(&mut [0u8; 8]).unwrap_err(); // nothing queued: no wait
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn recv_info_without_pktinfo_has_no_interface() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(b"ping", sock.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 64];
        let info = recv_with_info(&sock, &mut buf).unwrap().unwrap();
        // IP_PKTINFO is off on this socket: no arrival interface.
        let expected = RecvInfo {
            len: 4,
            from: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ..RecvInfo::default()
        };
        assert_eq!(info, expected);
    }

    #[test]
    fn recv_with_info_gives_bytes_sender_and_interface() {
        let sock = udp();
        setsockopt_int(&sock, SockOpt::IP_PKTINFO, 1).unwrap();
        sock.0
            .send_to(b"hello", sock.0.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 64];
        let info = recv_with_info(&sock, &mut buf)
            .unwrap()
            .expect("a datagram is queued");
        assert_eq!(&buf[..info.len], b"hello");
        assert_eq!(info.from, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(info.ifindex, Some(interface_index("lo").unwrap()));
        assert_eq!(
            recv_with_info(&sock, &mut buf).unwrap(),
            None,
            "nothing more: no wait"
        );
    }

    #[test]
    fn recv_with_info_cuts_a_datagram_to_the_buffer() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(b"a longer datagram", sock.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 4];
        let info = recv_with_info(&sock, &mut buf).unwrap().unwrap();
        assert_eq!((info.len, &buf), (4, b"a lo"));
    }

    #[cfg(target_env = "gnu")] // where cmsg_len is a size_t
    #[test]
    fn pktinfo_is_read_only_within_the_control_bytes() {
        let hdr = size_of::<libc::cmsghdr>();
        let whole = hdr + size_of::<libc::in_pktinfo>();
        // One IP_PKTINFO message for ifindex 7 whose header claims `claimed` bytes.
        let control = |claimed: usize| -> [u64; 8] {
            let mut b = [0u8; 64];
            let at = |field: usize, bytes: &[u8], b: &mut [u8; 64]| {
                b[field..field + bytes.len()].copy_from_slice(bytes);
            };
            at(
                offset_of!(libc::cmsghdr, cmsg_len),
                &claimed.to_ne_bytes(),
                &mut b,
            );
            let level = offset_of!(libc::cmsghdr, cmsg_level);
            at(level, &libc::IPPROTO_IP.to_ne_bytes(), &mut b);
            let kind = offset_of!(libc::cmsghdr, cmsg_type);
            at(kind, &libc::IP_PKTINFO.to_ne_bytes(), &mut b);
            let ifindex = hdr + offset_of!(libc::in_pktinfo, ipi_ifindex);
            at(ifindex, &7i32.to_ne_bytes(), &mut b);
            let mut words = [0u64; 8];
            for (w, c) in words.iter_mut().zip(b.chunks_exact(8)) {
                *w = u64::from_ne_bytes(c.try_into().unwrap());
            }
            words
        };
        assert_eq!(control_info(&control(whole), whole).ifindex, Some(7));
        assert_eq!(
            control_info(&control(whole), 1000).ifindex,
            Some(7),
            "cut to the buffer"
        );
        assert_eq!(
            control_info(&control(whole), whole - 1).ifindex,
            None,
            "payload cut off"
        );
        assert_eq!(
            control_info(&control(whole), hdr - 1).ifindex,
            None,
            "header cut off"
        );
        assert_eq!(
            control_info(&control(whole - 1), 64).ifindex,
            None,
            "claims too little"
        );
        // An absurd length: the payload is whole within the bytes; the walk then stops.
        assert_eq!(control_info(&control(usize::MAX), 64).ifindex, Some(7));
        assert_eq!(
            control_info(&control(0), 64).ifindex,
            None,
            "claims nothing"
        );
        assert_eq!(control_info(&[], 0).ifindex, None);
    }

    #[test]
    fn send_to_sends_an_igmp_message() {
        let Some(sock) = igmp_socket() else { return };
        setsockopt_int(&sock, SockOpt::IP_PKTINFO, 1).unwrap();
        let leave = mgm_igmp::encode_v2(0x17, Ipv4Addr::new(239, 1, 2, 3));
        // To 127.0.0.1, so that it stays on this host and comes back to the raw socket.
        assert_eq!(
            send_to(&sock, &leave, Ipv4Addr::LOCALHOST.into(), 0).unwrap(),
            leave.len()
        );
        let mut buf = [0u8; 128];
        // The socket hears every IGMP packet of the host: look for ours among them.
        let found = (0..16).find_map(|_| {
            if !poll_readable(&[sock.as_raw_fd()], 1000).unwrap()[0] {
                return None;
            }
            let info = recv_with_info(&sock, &mut buf).unwrap()?;
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            let payload = buf[..info.len].get(ihl..)?;
            (info.from == Some(IpAddr::V4(Ipv4Addr::LOCALHOST)) && payload == leave).then_some(info)
        });
        let info = found.expect("the leave came back through loopback");
        assert_eq!(info.ifindex, Some(interface_index("lo").unwrap()));
    }

    /// One control message, `level`/`kind` with `payload`, padded to CMSG_ALIGN.
    #[cfg(target_env = "gnu")] // where cmsg_len is a size_t
    fn cmsg(level: libc::c_int, kind: libc::c_int, payload: &[u8]) -> Vec<u8> {
        let hdr = size_of::<libc::cmsghdr>();
        let mut b = vec![0u8; hdr];
        let at = offset_of!(libc::cmsghdr, cmsg_len);
        b[at..at + 8].copy_from_slice(&(hdr + payload.len()).to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_level);
        b[at..at + 4].copy_from_slice(&level.to_ne_bytes());
        let at = offset_of!(libc::cmsghdr, cmsg_type);
        b[at..at + 4].copy_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(payload);
        b.resize(b.len().next_multiple_of(8), 0);
        b
    }

    #[cfg(target_env = "gnu")]
    fn words(bytes: &[u8]) -> Vec<u64> {
        bytes
            .chunks(8)
            .map(|c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                u64::from_ne_bytes(w)
            })
            .collect()
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn ipv6_control_messages_are_read_within_their_bytes() {
        let dst: Ipv6Addr = "ff02::16".parse().unwrap();
        let mut pktinfo = dst.octets().to_vec();
        pktinfo.extend_from_slice(&3u32.to_ne_bytes());
        let hbh = [58, 0, 5, 2, 0, 0, 1, 0];
        let mut all = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo);
        all.extend(cmsg(
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPLIMIT,
            &1i32.to_ne_bytes(),
        ));
        all.extend(cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPOPTS, &hbh));
        let info = control_info(&words(&all), all.len());
        let expected = ControlInfo {
            ifindex: Some(3),
            destination: Some(dst),
            hop_limit: Some(1),
            hop_by_hop: Some(hbh.to_vec()),
        };
        assert_eq!(info, expected);
        // The hop-by-hop header cut by the bytes written: what there is of it.
        let cut = control_info(&words(&all), all.len() - 3);
        assert_eq!(cut.hop_by_hop.as_deref(), Some(&hbh[..5]));
        // A hop limit that is no hop limit is left out.
        for bad in [-1i32, 256] {
            let m = cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &bad.to_ne_bytes());
            assert_eq!(control_info(&words(&m), m.len()).hop_limit, None, "{bad}");
        }
        // Packet info cut short: no interface, no destination.
        let m = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &pktinfo[..19]);
        assert_eq!(control_info(&words(&m), m.len()), ControlInfo::default());
    }

    #[test]
    fn send_to_and_recv_with_info_carry_ipv6_hop_by_hop_options() {
        let Some(sock) = icmpv6_socket() else { return };
        for opt in [
            SockOpt::IPV6_RECVPKTINFO,
            SockOpt::IPV6_RECVHOPLIMIT,
            SockOpt::IPV6_RECVHOPOPTS,
        ] {
            setsockopt_int(&sock, opt, 1).unwrap();
        }
        let hbh = [0, 0, 5, 2, 0, 0, 1, 0]; // router alert 0, PadN
        setsockopt_bytes(&sock, SockOpt::IPV6_HOPOPTS, &hbh).unwrap();
        // An MLDv2 report with no records and a marker in its reserved bytes, to ::1.
        let msg = [143, 0, 0, 0, 0x6d, 0x67, 0, 0];
        let n = send_to(&sock, &msg, Ipv6Addr::LOCALHOST.into(), 0).unwrap();
        assert_eq!(n, msg.len());
        let mut buf = [0u8; 256];
        // The socket hears every ICMPv6 message of the host: look for ours among them.
        let found = (0..16).find_map(|_| {
            if !poll_readable(&[sock.as_raw_fd()], 1000).unwrap()[0] {
                return None;
            }
            let info = recv_with_info(&sock, &mut buf).unwrap()?;
            // The kernel filled in the checksum (bytes 2 and 3).
            let ours = info.len == msg.len() && buf[..2] == msg[..2] && buf[4..8] == msg[4..];
            ours.then_some(info)
        });
        let info = found.expect("the report came back through loopback");
        assert_eq!(info.from, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(info.ifindex, Some(interface_index("lo").unwrap()));
        assert_eq!(info.destination, Some(Ipv6Addr::LOCALHOST));
        assert!(info.hop_limit.is_some_and(|h| h > 0), "{info:?}");
        // The next header, filled in by the kernel, is ICMPv6.
        assert_eq!(info.hop_by_hop, Some(vec![58, 0, 5, 2, 0, 0, 1, 0]));
    }

    /// False, with a note on stderr, where the kernel was built without multicast routing in
    /// `family` (`CONFIG_IP_MROUTE`, `CONFIG_IPV6_MROUTE`): no check of the kernel's tables
    /// can run there, and none can be made to (the feature is the kernel's build, not a
    /// package).
    fn kernel_routes(family: &str, routes: bool) -> bool {
        if !routes {
            eprintln!(
                "SKIPPED: this kernel has no {family} multicast routing (no /proc/net/ip{}_mr_vif): \
                 its checks of the kernel's tables are skipped",
                if family == "IPv6" { "6" } else { "" }
            );
        }
        routes
    }

    #[test]
    fn ipv4_counter_ioctls_reach_the_multicast_router() {
        use crate::mroute::MrouteSocket;
        if !kernel_routes("IPv4", MrouteSocket::in_kernel()) {
            return;
        }
        let Some(sock) = igmp_socket() else { return };
        // No cache entry for a TEST-NET-2 source: the kernel says so, as an error.
        let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        let err = sock.sg_counters(s.into(), g.into()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        // VIF 65535 is past the kernel's MAXVIFS.
        let err = sock.vif_counters(u16::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    }

    #[test]
    fn ipv6_counter_ioctls_reach_the_multicast_router() {
        use crate::mroute::Mroute6Socket;
        if !kernel_routes("IPv6", Mroute6Socket::in_kernel()) {
            return;
        }
        let Some(sock) = icmpv6_socket() else { return };
        let s: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let g: Ipv6Addr = "ff0e::1".parse().unwrap();
        let err = sock.sg_counters(s.into(), g.into()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        let err = sock.vif_counters(u16::MAX).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        // Addresses of the other family are refused before the kernel is asked.
        let v4 = Ipv4Addr::new(198, 51, 100, 2);
        let err = sock.sg_counters(v4.into(), g.into()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }

    /// Moves this test's thread into a new network namespace, with its own multicast routing
    /// tables; `false` where that is not permitted (no `CAP_SYS_ADMIN`), the one error
    /// accepted.
    fn own_network_namespace() -> bool {
        // SAFETY: unshare(2) takes flags only; CLONE_NEWNET moves just the calling thread (a
        // thread of its own per test) to a new network namespace, where the sockets it opens
        // next live.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        if rc == 0 {
            return true;
        }
        let e = io::Error::last_os_error();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        eprintln!("no network namespace of our own ({e}): its checks are skipped");
        false
    }

    #[test]
    fn counter_ioctls_read_the_entries_of_the_kernel_table() {
        use crate::mroute::{Kernel, Mroute6Socket, MrouteSocket};
        use mgm::Sg;
        if !kernel_routes("IPv4", MrouteSocket::in_kernel())
            || !kernel_routes("IPv6", Mroute6Socket::in_kernel())
            || !own_network_namespace()
        {
            return;
        }
        let lo = interface_index("lo").unwrap();
        let zero = KernelCounters::default();
        let mut v4 = MrouteSocket::open().unwrap();
        v4.add_vif(0, lo).unwrap();
        let sg = Sg::new(Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        v4.add_mfc(sg, 0, &[]).unwrap();
        // Found: the source and group went where the kernel reads them.
        assert_eq!(v4.sg_counters(sg).unwrap(), zero);
        assert_eq!(v4.vif_counters(0).unwrap(), VifCounters::default());
        let other = Sg::new(sg.source, Ipv4Addr::new(239, 1, 2, 4));
        let err = v4.sg_counters(other).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
        let Ok(mut v6) = Mroute6Socket::open() else {
            eprintln!("no IPv6 multicast routing here: the IPv6 checks are skipped");
            return;
        };
        v6.add_vif(0, lo).unwrap();
        let s: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let sg6 = Sg::new(s, "ff0e::1".parse().unwrap());
        v6.add_mfc(sg6, 0, &[]).unwrap();
        assert_eq!(v6.sg_counters(sg6).unwrap(), zero);
        assert_eq!(v6.vif_counters(0).unwrap(), VifCounters::default());
        let err = v6
            .sg_counters(Sg::new(s, "ff0e::2".parse().unwrap()))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRNOTAVAIL), "{err}");
    }

    #[test]
    fn ioctl_in_out_reads_and_writes_its_argument() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.send_to(b"hello", sock.local_addr().unwrap()).unwrap();
        // FIONREAD writes an `int`: the size of the next datagram.
        let mut queued: libc::c_int = -1;
        // SAFETY: on a UDP socket FIONREAD writes one `int`, which `queued` is.
        unsafe { ioctl_in_out(sock.as_fd(), libc::FIONREAD as _, &mut queued) }.unwrap();
        assert_eq!(queued, 5);
    }

    #[test]
    fn interface_addrs_are_of_named_interfaces() {
        let addrs = interface_addrs().unwrap();
        for (name, addr, _) in &addrs {
            assert!(interface_index(name).is_ok(), "{name} is an interface");
            if name == "lo" {
                assert!(addr.is_loopback(), "{addr}");
            }
        }
        assert!(
            addrs.iter().any(|(n, a, m)| n == "lo"
                && *a == IpAddr::V4(Ipv4Addr::LOCALHOST)
                && *m == Some(IpAddr::V4(Ipv4Addr::new(255, 0, 0, 0)))),
            "lo has 127.0.0.1: {addrs:?}"
        );
    }
}
