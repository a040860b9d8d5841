//! Multicast group memberships of a router's interfaces, one socket per interface, for
//! either family: the IGMP router's 224.0.0.22 and 224.0.0.2, the MLD router's ff02::16
//! (MLDv2 reports) and ff02::2 (MLDv1 dones).
//!
//! The kernel allows `igmp_max_memberships` (20 by default) memberships per socket: joining
//! the two router groups (224.0.0.22 for IGMPv3 reports, 224.0.0.2 for IGMPv2 leaves) on the
//! mroute socket itself stops at ten interfaces with `ENOBUFS`. A membership makes the
//! interface accept the group's packets, whichever socket holds it, and the mroute socket
//! still receives every IGMP message (a raw socket hears groups it did not join while
//! `IP_MULTICAST_ALL` is on, the default). So each interface gets a UDP socket of its own,
//! bound to an ephemeral port (it receives nothing), that holds its joins; closing it leaves
//! them. IPv6 has its own limit (`mld_max_memberships`, 64 by default) and the same answer.
//! The raw ICMPv6 socket hears MLD addressed to groups it did not join as the raw IGMP socket
//! does (`IPV6_MULTICAST_ALL`, on by default).

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use crate::mroute::MrouteFamily;
use crate::sys::{self, SockOpt};

/// The kernel's `net.ipv4.igmp_max_memberships` of this network namespace, when readable.
pub fn max_memberships_per_socket() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/ipv4/igmp_max_memberships")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Group memberships by interface, each interface's on a socket of its own; `A` is the
/// family, IPv4 unless said.
///
/// ```no_run
/// // no_run: needs an interface named eth0.
/// use mgm_linux::mroute::{MLDV2_ROUTERS, MLD_ALL_ROUTERS};
/// use mgm_linux::GroupMemberships;
/// use std::net::{Ipv4Addr, Ipv6Addr};
/// let eth0 = mgm_linux::net::interface_index("eth0")?;
/// let mut m = GroupMemberships::default();
/// m.join(eth0, &[Ipv4Addr::new(224, 0, 0, 22), Ipv4Addr::new(224, 0, 0, 2)])?;
/// m.leave(eth0); // closes the socket: both memberships go
/// let mut m6 = GroupMemberships::<Ipv6Addr>::default();
/// m6.join(eth0, &[MLDV2_ROUTERS, MLD_ALL_ROUTERS])?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct GroupMemberships<A = Ipv4Addr> {
    sockets: BTreeMap<u32, (UdpSocket, Vec<A>)>,
}

impl<A> Default for GroupMemberships<A> {
    fn default() -> Self {
        GroupMemberships {
            sockets: BTreeMap::new(),
        }
    }
}

/// A UDP socket of the family of `A` on an ephemeral port: it holds memberships and
/// receives nothing it reads.
fn holder<A: MrouteFamily>() -> io::Result<UdpSocket> {
    let any: SocketAddr = if A::IPV6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    UdpSocket::bind(any)
}

impl<A: MrouteFamily> GroupMemberships<A> {
    /// Joins `groups` on interface `ifindex` (adding to what it already joined). Nothing is
    /// left half-done: when one join fails, the joins of this call are undone.
    ///
    /// # Errors
    /// The OS error of the socket or of the failing join.
    pub fn join(&mut self, ifindex: u32, groups: &[A]) -> io::Result<()> {
        let (sock, joined) = match self.sockets.entry(ifindex) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert((holder::<A>()?, Vec::new())),
        };
        let (add, drop) = (
            SockOpt::membership(A::IPV6, true),
            SockOpt::membership(A::IPV6, false),
        );
        let mut done = Vec::new();
        for g in groups {
            if joined.contains(g) || done.contains(g) {
                continue;
            }
            let r = sys::setsockopt_bytes(sock, add, &A::membership_arg(*g, ifindex));
            if let Err(e) = r {
                for d in &done {
                    let _ = sys::setsockopt_bytes(sock, drop, &A::membership_arg(*d, ifindex));
                }
                if joined.is_empty() {
                    self.sockets.remove(&ifindex);
                }
                return Err(e);
            }
            done.push(*g);
        }
        joined.extend(done);
        Ok(())
    }

    /// Leaves every group joined on `ifindex` (closing its socket).
    pub fn leave(&mut self, ifindex: u32) {
        self.sockets.remove(&ifindex);
    }

    /// The groups joined on `ifindex`.
    pub fn groups(&self, ifindex: u32) -> &[A] {
        self.sockets
            .get(&ifindex)
            .map_or(&[], |(_, g)| g.as_slice())
    }

    /// How many interfaces hold memberships.
    pub fn interfaces(&self) -> usize {
        self.sockets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_and_leaves_on_loopback_and_a_refused_join_leaves_nothing() {
        // Loopback is the one interface every namespace has: joins are idempotent, a leave
        // drops the interface's socket, and a refused join leaves nothing half-done. That one
        // socket per interface gets past the kernel's per-socket limit is checked on 32 real
        // interfaces by `crates/mgmd/scripts/e2e_overload.sh`.
        let lo = crate::net::interface_index("lo").expect("lo");
        let groups = [Ipv4Addr::new(224, 0, 0, 22), Ipv4Addr::new(224, 0, 0, 2)];
        let mut all = Vec::new();
        for _ in 0..12 {
            let mut m = GroupMemberships::default();
            m.join(lo, &groups).expect("join on lo");
            m.join(lo, &groups).expect("joining again is a no-op");
            assert_eq!(m.groups(lo), groups);
            all.push(m);
        }
        let mut m = all.pop().unwrap();
        m.leave(lo);
        assert!(m.groups(lo).is_empty() && m.interfaces() == 0);
        // A group that is not multicast is refused by the kernel, and nothing stays half-done.
        let e = m.join(lo, &[groups[0], Ipv4Addr::new(198, 51, 100, 1)]);
        assert!(e.is_err());
        assert_eq!(m.interfaces(), 0);
    }

    #[test]
    fn ipv6_joins_on_loopback_and_a_refused_join_leaves_nothing() {
        use crate::mroute::{MLDV2_ROUTERS, MLD_ALL_ROUTERS};
        let lo = crate::net::interface_index("lo").expect("lo");
        let mut m = GroupMemberships::<Ipv6Addr>::default();
        if let Err(e) = m.join(lo, &[MLDV2_ROUTERS, MLD_ALL_ROUTERS]) {
            // A host without IPv6 cannot open the socket at all.
            assert_eq!(e.raw_os_error(), Some(libc::EAFNOSUPPORT), "{e}");
            eprintln!("no IPv6 here ({e}): skipped");
            return;
        }
        assert_eq!(m.groups(lo), [MLDV2_ROUTERS, MLD_ALL_ROUTERS]);
        // A unicast address is no group: refused, and the groups before it stay joined.
        let unicast: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let ff0e: Ipv6Addr = "ff0e::1".parse().unwrap();
        assert!(m.join(lo, &[ff0e, unicast]).is_err());
        assert_eq!(m.groups(lo), [MLDV2_ROUTERS, MLD_ALL_ROUTERS]);
        m.leave(lo);
        assert_eq!(m.interfaces(), 0);
    }
}
