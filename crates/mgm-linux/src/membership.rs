//! Multicast group memberships of a router's interfaces, one socket per interface.
//!
//! The kernel allows `igmp_max_memberships` (20 by default) memberships per socket: joining
//! the two router groups (224.0.0.22 for IGMPv3 reports, 224.0.0.2 for IGMPv2 leaves) on the
//! mroute socket itself stops at ten interfaces with `ENOBUFS`. A membership makes the
//! interface accept the group's packets, whichever socket holds it, and the mroute socket
//! still receives every IGMP message (a raw socket hears groups it did not join while
//! `IP_MULTICAST_ALL` is on, the default). So each interface gets a UDP socket of its own,
//! bound to an ephemeral port (it receives nothing), that holds its joins; closing it leaves
//! them.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, UdpSocket};

use crate::sys::{self, SockOpt};

/// The `ip_mreqn` of a membership on an interface by ifindex.
fn mreqn(group: Ipv4Addr, ifindex: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..4].copy_from_slice(&group.octets());
    b[8..12].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    b
}

/// The kernel's `net.ipv4.igmp_max_memberships` of this network namespace, when readable.
pub fn max_memberships_per_socket() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/net/ipv4/igmp_max_memberships")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Group memberships by interface, each interface's on a socket of its own.
///
/// ```no_run
/// // no_run: needs an interface named eth0.
/// use mgm_linux::GroupMemberships;
/// use std::net::Ipv4Addr;
/// let eth0 = mgm_linux::net::interface_index("eth0")?;
/// let mut m = GroupMemberships::default();
/// m.join(eth0, &[Ipv4Addr::new(224, 0, 0, 22), Ipv4Addr::new(224, 0, 0, 2)])?;
/// m.leave(eth0); // closes the socket: both memberships go
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct GroupMemberships {
    sockets: BTreeMap<u32, (UdpSocket, Vec<Ipv4Addr>)>,
}

impl GroupMemberships {
    /// Joins `groups` on interface `ifindex` (adding to what it already joined). Nothing is
    /// left half-done: when one join fails, the joins of this call are undone.
    ///
    /// # Errors
    /// The OS error of the socket or of the failing join.
    pub fn join(&mut self, ifindex: u32, groups: &[Ipv4Addr]) -> io::Result<()> {
        let (sock, joined) = match self.sockets.entry(ifindex) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert((UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?, Vec::new()))
            }
        };
        let mut done = Vec::new();
        for g in groups {
            if joined.contains(g) || done.contains(g) {
                continue;
            }
            let r = sys::setsockopt_bytes(sock, SockOpt::IP_ADD_MEMBERSHIP, &mreqn(*g, ifindex));
            if let Err(e) = r {
                for d in &done {
                    let _ = sys::setsockopt_bytes(
                        sock,
                        SockOpt::IP_DROP_MEMBERSHIP,
                        &mreqn(*d, ifindex),
                    );
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
    pub fn groups(&self, ifindex: u32) -> &[Ipv4Addr] {
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
    fn mreqn_puts_the_group_and_the_ifindex_where_the_kernel_reads_them() {
        let b = mreqn(Ipv4Addr::new(224, 0, 0, 22), 7);
        assert_eq!(&b[0..4], &[224, 0, 0, 22]);
        assert_eq!(&b[4..8], &[0; 4], "no local address: the ifindex decides");
        assert_eq!(i32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
    }

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
}
