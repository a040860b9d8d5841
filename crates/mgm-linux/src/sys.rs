//! Thin, safe wrappers over the few system calls the Linux forwarder needs: raw sockets,
//! socket options, `recvmsg` with packet info, `ioctl` counters, `poll`, interface names and
//! addresses. This is the only file of the crate with `unsafe` code; structures are encoded
//! as bytes by the callers, so each block here only moves bytes across the FFI boundary.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Opens a raw socket (`socket(domain, SOCK_RAW | SOCK_CLOEXEC, protocol)`).
///
/// # Errors
/// The OS error (`EPERM` without `CAP_NET_RAW`).
///
/// ```no_run
/// // no_run: raw sockets need CAP_NET_RAW.
/// use mgm_linux::sys::{getsockopt_int, raw_socket};
/// let fd = raw_socket(libc::AF_INET, libc::IPPROTO_IGMP)?;
/// assert_eq!(getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_TYPE)?, libc::SOCK_RAW);
/// assert_eq!(getsockopt_int(&fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?, libc::IPPROTO_IGMP);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn raw_socket(domain: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers; the returned descriptor is new and owned by us.
    let fd = check(unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` is a freshly opened descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, value)` with the value given as raw bytes.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::sys::{getsockopt_int, setsockopt_bytes};
/// use std::net::UdpSocket;
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// // An `int` option, given as its bytes.
/// setsockopt_bytes(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &7i32.to_ne_bytes())?;
/// assert_eq!(getsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL)?, 7);
/// assert_eq!(sock.multicast_ttl_v4()?, 7);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn setsockopt_bytes(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &[u8],
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the call; the kernel
    // only reads it.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `setsockopt` with an `int` value.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::sys::{getsockopt_int, setsockopt_int};
/// use std::net::UdpSocket;
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// assert_eq!(getsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP)?, 1);
/// setsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)?;
/// assert!(!sock.multicast_loop_v4()?);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn setsockopt_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_bytes(fd, level, name, &value.to_ne_bytes())
}

/// `getsockopt` of an `int` value.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::sys::getsockopt_int;
/// use std::net::{TcpListener, UdpSocket};
/// let udp = UdpSocket::bind("127.0.0.1:0")?;
/// let tcp = TcpListener::bind("127.0.0.1:0")?;
/// assert_eq!(getsockopt_int(&udp, libc::SOL_SOCKET, libc::SO_TYPE)?, libc::SOCK_DGRAM);
/// assert_eq!(getsockopt_int(&tcp, libc::SOL_SOCKET, libc::SO_TYPE)?, libc::SOCK_STREAM);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn getsockopt_int(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int) -> io::Result<i32> {
    let mut v: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of the sizes given.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(v)
}

/// Puts a descriptor in non-blocking mode.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::sys::set_nonblocking;
/// use std::{io, net::UdpSocket};
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// set_nonblocking(&sock)?;
/// let err = sock.recv(&mut [0u8; 8]).unwrap_err(); // nothing queued: no wait
/// assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
/// # Ok::<(), io::Error>(())
/// ```
pub fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: fcntl with F_GETFL/F_SETFL on a descriptor we hold; no pointers.
    unsafe {
        let flags = check(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        check(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))?;
    }
    Ok(())
}

/// What `recvmsg` returned besides the bytes.
///
/// ```
/// use mgm_linux::sys::{recv_with_info, RecvInfo};
/// use std::net::{IpAddr, Ipv4Addr, UdpSocket};
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// sock.send_to(b"ping", sock.local_addr()?)?;
/// let mut buf = [0u8; 64];
/// let info = recv_with_info(&sock, &mut buf)?.unwrap();
/// // IP_PKTINFO is off on this socket: no arrival interface.
/// assert_eq!(info, RecvInfo { len: 4, from: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), ifindex: None });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvInfo {
    /// Bytes received.
    pub len: usize,
    /// The sender's address.
    pub from: Option<IpAddr>,
    /// The arrival interface from `IP_PKTINFO` / `IPV6_PKTINFO`, when enabled and present.
    pub ifindex: Option<u32>,
}

/// One `recvmsg` on a raw socket; `Ok(None)` when nothing is queued on a non-blocking socket.
///
/// # Errors
/// The OS error other than `EAGAIN`.
///
/// ```
/// use mgm_linux::sys::{if_nametoindex, recv_with_info, setsockopt_int};
/// use std::net::{IpAddr, Ipv4Addr, UdpSocket};
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// setsockopt_int(&sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
/// sock.send_to(b"hello", sock.local_addr()?)?;
/// let mut buf = [0u8; 64];
/// let info = recv_with_info(&sock, &mut buf)?.expect("a datagram is queued");
/// assert_eq!(&buf[..info.len], b"hello");
/// assert_eq!(info.from, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
/// assert_eq!(info.ifindex, Some(if_nametoindex("lo")?));
/// assert_eq!(recv_with_info(&sock, &mut buf)?, None, "nothing more: no wait");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn recv_with_info(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Option<RecvInfo>> {
    let mut from = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut cbuf = [0u64; 32];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = from.as_mut_ptr().cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    // SAFETY: every pointer in `msg` refers to a live local buffer of the length given.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(e);
    }
    let mut ifindex = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, within
    // msg_controllen; each payload is read unaligned with the type the header names.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let h = &*c;
            if h.cmsg_level == libc::IPPROTO_IP && h.cmsg_type == libc::IP_PKTINFO {
                let p: libc::in_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in_pktinfo>());
                ifindex = Some(p.ipi_ifindex as u32);
            } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                let p: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>());
                ifindex = Some(p.ipi6_ifindex);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    // SAFETY: the kernel wrote msg_namelen bytes of a sockaddr into `from` (zeroed before).
    let sa = unsafe { from.assume_init() };
    let from = sockaddr_ip(&sa);
    Ok(Some(RecvInfo {
        len: n as usize,
        from,
        ifindex,
    }))
}

fn sockaddr_ip(sa: &libc::sockaddr_storage) -> Option<IpAddr> {
    match libc::c_int::from(sa.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(sa as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// `sendto` an IPv4 destination (port 0, as raw sockets want).
///
/// # Errors
/// The OS error.
///
/// ```no_run
/// // no_run: needs a raw socket (CAP_NET_RAW); a UDP socket refuses port 0.
/// use mgm_igmp::{encode_v2, ALL_ROUTERS};
/// use mgm_linux::sys::{raw_socket, send_to_v4};
/// use std::net::Ipv4Addr;
/// let sock = raw_socket(libc::AF_INET, libc::IPPROTO_IGMP)?;
/// let leave = encode_v2(0x17, Ipv4Addr::new(239, 1, 2, 3));
/// assert_eq!(send_to_v4(&sock, &leave, ALL_ROUTERS)?, leave.len());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn send_to_v4(fd: &impl AsRawFd, buf: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
    // SAFETY: an all-zero sockaddr_in is valid; fields are set below.
    let mut sin: libc::sockaddr_in = unsafe { zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_addr.s_addr = u32::from(dst).to_be();
    // SAFETY: `buf` and `sin` are live for the call and their lengths are given exactly.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            0,
            (&sin as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `ioctl(fd, request, buf)` where the argument is a structure given as bytes, read and
/// written in place.
///
/// # Errors
/// The OS error.
///
/// ```
/// use mgm_linux::sys::ioctl_bytes;
/// use std::net::UdpSocket;
/// let sock = UdpSocket::bind("127.0.0.1:0")?;
/// sock.send_to(b"hello", sock.local_addr()?)?;
/// // FIONREAD writes an `int`: the size of the next datagram.
/// let mut buf = [0u64; 1];
/// ioctl_bytes(&sock, libc::FIONREAD as libc::c_ulong, &mut buf)?;
/// let queued = i32::from_ne_bytes(buf[0].to_ne_bytes()[..4].try_into().unwrap());
/// assert_eq!(queued, 5);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ioctl_bytes(fd: &impl AsRawFd, request: libc::c_ulong, buf: &mut [u64]) -> io::Result<()> {
    // SAFETY: `buf` is a live, 8-byte aligned buffer at least as large as the structure the
    // request reads and writes (callers size it from the kernel's layout).
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, buf.as_mut_ptr()) })?;
    Ok(())
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (-1: forever). Returns, per
/// descriptor, whether it is readable (or hung up). `EINTR` counts as a time-out.
///
/// # Errors
/// The OS error other than `EINTR`.
///
/// ```
/// use mgm_linux::sys::poll_readable;
/// use std::{net::UdpSocket, os::fd::AsRawFd};
/// let (a, b) = (UdpSocket::bind("127.0.0.1:0")?, UdpSocket::bind("127.0.0.1:0")?);
/// b.send_to(b"x", a.local_addr()?)?;
/// assert_eq!(poll_readable(&[a.as_raw_fd(), b.as_raw_fd()], 1000)?, [true, false]);
/// assert_eq!(poll_readable(&[b.as_raw_fd()], 0)?, [false], "timed out");
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
    // SAFETY: `p` is a live array of `p.len()` pollfd structures.
    let rc = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// The index of the interface named `name`.
///
/// # Errors
/// `NotFound` when there is no such interface.
///
/// ```
/// use mgm_linux::sys::{if_indextoname, if_nametoindex};
/// use std::io::ErrorKind;
/// let lo = if_nametoindex("lo")?;
/// assert_eq!(if_indextoname(lo).as_deref(), Some("lo"));
/// assert_eq!(if_nametoindex("no-such-if0").unwrap_err().kind(), ErrorKind::NotFound);
/// assert_eq!(if_nametoindex("lo\0").unwrap_err().kind(), ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn if_nametoindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a NUL-terminated string live for the call.
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

/// The name of the interface with index `index`, if it exists.
///
/// ```
/// use mgm_linux::sys::{if_indextoname, if_nametoindex};
/// assert_eq!(if_indextoname(if_nametoindex("lo")?).as_deref(), Some("lo"));
/// assert_eq!(if_indextoname(0), None, "ifindex 0 is never an interface");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn if_indextoname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as the call requires.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let s = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// Every address of every interface: (interface name, address).
///
/// # Errors
/// The OS error of `getifaddrs`.
///
/// ```
/// use mgm_linux::sys::{if_nametoindex, interface_addrs};
/// for (name, addr) in interface_addrs()? {
///     assert!(if_nametoindex(&name).is_ok(), "{name} is an interface");
///     if name == "lo" {
///         assert!(addr.is_loopback(), "{addr}");
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn interface_addrs() -> io::Result<Vec<(String, IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    check(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut p = head;
    while !p.is_null() {
        // SAFETY: `p` is a node of the list getifaddrs returned, valid until freeifaddrs; its
        // name is a NUL-terminated string and its address, when non-null, a sockaddr whose
        // family decides its real type (sockaddr_ip reads only that type).
        unsafe {
            let ifa = &*p;
            if !ifa.ifa_addr.is_null() {
                let fam = libc::c_int::from((*ifa.ifa_addr).sa_family);
                let mut st: libc::sockaddr_storage = zeroed();
                let len = match fam {
                    libc::AF_INET => size_of::<libc::sockaddr_in>(),
                    libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
                    _ => 0,
                };
                if len > 0 {
                    std::ptr::copy_nonoverlapping(
                        ifa.ifa_addr.cast::<u8>(),
                        (&mut st as *mut libc::sockaddr_storage).cast::<u8>(),
                        len,
                    );
                    if let Some(ip) = sockaddr_ip(&st) {
                        let name = CStr::from_ptr(ifa.ifa_name).to_string_lossy().into_owned();
                        out.push((name, ip));
                    }
                }
            }
            p = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}
