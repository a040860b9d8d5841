//! The host's interfaces and addresses, followed live through rtnetlink.
//!
//! [`LinkMonitor`] is a `NETLINK_ROUTE` socket subscribed to `RTNLGRP_LINK`,
//! `RTNLGRP_IPV4_IFADDR` and `RTNLGRP_IPV6_IFADDR`. It dumps the links and addresses when it
//! opens, then reads what the kernel announces, without blocking: a daemon's main loop polls
//! its descriptor beside its other sockets and calls [`LinkMonitor::read`], which handles at
//! most a given number of datagrams per call.
//!
//! The messages are parsed by `netlink-packet-route`; [`LinkTable`] keeps what they said
//! (every link by ifindex with its name and flags, and its addresses) and turns each message
//! into typed [`LinkEvent`]s: a link seen for the first time is `Added`, a change of
//! usability `Up` or `Down`, a new name `Renamed`, a deletion `Removed`, an address
//! `AddressAdded` or `AddressRemoved`. A link is *up* when it is administratively up and has
//! its carrier: `IFF_UP` and `IFF_RUNNING` both set.
//!
//! A datagram that does not parse, or one of its messages, is an error of that datagram or
//! message alone ([`decode`] says what was wrong); the others are still taken. When the
//! kernel drops announcements (the socket's buffer ran over, `ENOBUFS`), the monitor dumps
//! everything again, and the difference comes out as events (a link the dump no longer has
//! is `Removed`).
//!
//! ```
//! use mgm_linux::link::{LinkEvent, LinkTable, IFF_RUNNING, IFF_UP};
//! let mut t = LinkTable::default();
//! // What RTM_NEWLINK would say of veth "rrcv1", ifindex 3, up with its carrier.
//! let ev = t.link_seen(3, "rrcv1", IFF_UP | IFF_RUNNING);
//! assert!(matches!(&ev[..], [LinkEvent::Added(l)] if l.is_up()));
//! // It loses its carrier.
//! let ev = t.link_seen(3, "rrcv1", IFF_UP);
//! assert!(matches!(&ev[..], [LinkEvent::Down(l)] if l.ifindex == 3));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// `IFF_UP`: administratively up.
pub const IFF_UP: u32 = 1;
/// `IFF_RUNNING`: the link has its carrier (operationally up).
pub const IFF_RUNNING: u32 = 0x40;

/// One link as the kernel last described it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its name.
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// Its `IFF_*` flags.
    pub flags: u32,
}

impl Link {
    /// Administratively up and with its carrier (`IFF_UP` and `IFF_RUNNING`).
    pub fn is_up(&self) -> bool {
        self.flags & (IFF_UP | IFF_RUNNING) == IFF_UP | IFF_RUNNING
    }
}

/// One address of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    /// The link's ifindex.
    pub ifindex: u32,
    /// The address (`IFA_LOCAL`, else `IFA_ADDRESS`).
    pub address: IpAddr,
    /// The length of its prefix.
    pub prefix_len: u8,
}

/// What changed, as [`LinkTable`] saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link seen for the first time (up or not: [`Link::is_up`]).
    Added(Link),
    /// A known link became up.
    Up(Link),
    /// A known link stopped being up (set down, or its carrier lost).
    Down(Link),
    /// A known link was deleted (its addresses went with it, each told first).
    Removed(Link),
    /// A known link has a new name (its flags are told apart, as `Up` or `Down`).
    Renamed {
        /// The name it had.
        old: String,
        /// The link, under its new name.
        link: Link,
    },
    /// A link has a new address.
    AddressAdded {
        /// The link's name.
        name: String,
        /// The address.
        address: Address,
    },
    /// A link lost an address.
    AddressRemoved {
        /// The link's name.
        name: String,
        /// The address.
        address: Address,
    },
}

/// What the links and addresses are, from the messages seen so far.
#[derive(Clone, Debug, Default)]
pub struct LinkTable {
    links: BTreeMap<u32, Link>,
    addresses: BTreeSet<Address>,
}

impl LinkTable {
    /// The link of this ifindex.
    pub fn link(&self, ifindex: u32) -> Option<&Link> {
        self.links.get(&ifindex)
    }

    /// The link of this name.
    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.values().find(|l| l.name == name)
    }

    /// Every link, by ifindex.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// The addresses of a link, in order.
    pub fn addresses(&self, ifindex: u32) -> impl Iterator<Item = &Address> {
        self.addresses.iter().filter(move |a| a.ifindex == ifindex)
    }

    /// A link announced (`RTM_NEWLINK`, or a dump's line) with this name and these flags.
    pub fn link_seen(&mut self, ifindex: u32, name: &str, flags: u32) -> Vec<LinkEvent> {
        let link = Link {
            name: name.to_string(),
            ifindex,
            flags,
        };
        let Some(had) = self.links.insert(ifindex, link.clone()) else {
            return vec![LinkEvent::Added(link)];
        };
        let mut out = Vec::new();
        if had.name != link.name {
            out.push(LinkEvent::Renamed {
                old: had.name.clone(),
                link: link.clone(),
            });
        }
        match (had.is_up(), link.is_up()) {
            (false, true) => out.push(LinkEvent::Up(link)),
            (true, false) => out.push(LinkEvent::Down(link)),
            _ => {}
        }
        out
    }

    /// A link deleted (`RTM_DELLINK`): its addresses first, then the link.
    pub fn link_gone(&mut self, ifindex: u32) -> Vec<LinkEvent> {
        let Some(link) = self.links.remove(&ifindex) else {
            return Vec::new();
        };
        let gone: Vec<Address> = self.addresses(ifindex).copied().collect();
        let mut out = Vec::new();
        for a in gone {
            self.addresses.remove(&a);
            out.push(LinkEvent::AddressRemoved {
                name: link.name.clone(),
                address: a,
            });
        }
        out.push(LinkEvent::Removed(link));
        out
    }

    /// An address announced (`RTM_NEWADDR`) or deleted (`RTM_DELADDR`). An address of a
    /// link not known yet is kept, and told under the name `if<ifindex>`.
    pub fn address_seen(&mut self, address: Address, present: bool) -> Vec<LinkEvent> {
        let changed = if present {
            self.addresses.insert(address)
        } else {
            self.addresses.remove(&address)
        };
        if !changed {
            return Vec::new();
        }
        let name = self
            .links
            .get(&address.ifindex)
            .map_or_else(|| format!("if{}", address.ifindex), |l| l.name.clone());
        vec![if present {
            LinkEvent::AddressAdded { name, address }
        } else {
            LinkEvent::AddressRemoved { name, address }
        }]
    }

    /// Takes one rtnetlink message; other kinds of message change nothing.
    ///
    /// # Errors
    /// A link message without its name, an address message without its address: the
    /// message is left out, the table unchanged.
    pub fn apply(&mut self, msg: &RouteNetlinkMessage) -> Result<Vec<LinkEvent>, String> {
        match msg {
            RouteNetlinkMessage::NewLink(l) => {
                let name = link_name(l).ok_or_else(|| {
                    format!(
                        "RTM_NEWLINK of ifindex {} without IFLA_IFNAME",
                        l.header.index
                    )
                })?;
                Ok(self.link_seen(l.header.index, name, l.header.flags.bits()))
            }
            RouteNetlinkMessage::DelLink(l) => Ok(self.link_gone(l.header.index)),
            RouteNetlinkMessage::NewAddress(a) => Ok(self.address_seen(address_of(a)?, true)),
            RouteNetlinkMessage::DelAddress(a) => Ok(self.address_seen(address_of(a)?, false)),
            _ => Ok(Vec::new()),
        }
    }

    /// After a dump of links (`links`) or of addresses (`addresses`): what the table has
    /// and the dump did not is gone.
    fn sweep(
        &mut self,
        links: Option<&BTreeSet<u32>>,
        addresses: Option<&BTreeSet<Address>>,
    ) -> Vec<LinkEvent> {
        let mut out = Vec::new();
        if let Some(seen) = addresses {
            let gone: Vec<Address> = self.addresses.difference(seen).copied().collect();
            for a in gone {
                out.extend(self.address_seen(a, false));
            }
        }
        if let Some(seen) = links {
            let gone: Vec<u32> = self
                .links
                .keys()
                .filter(|i| !seen.contains(i))
                .copied()
                .collect();
            for i in gone {
                out.extend(self.link_gone(i));
            }
        }
        out
    }
}

fn link_name(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

/// The address of an address message: `IFA_LOCAL` (the interface's own address on a
/// point-to-point link), else `IFA_ADDRESS`.
fn address_of(a: &AddressMessage) -> Result<Address, String> {
    let find = |local: bool| {
        a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) if local => Some(*ip),
            AddressAttribute::Address(ip) if !local => Some(*ip),
            _ => None,
        })
    };
    let address = find(true).or_else(|| find(false)).ok_or_else(|| {
        format!(
            "address message of ifindex {} without IFA_LOCAL or IFA_ADDRESS",
            a.header.index
        )
    })?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    if a.header.prefix_len > max {
        return Err(format!(
            "address {address}/{} of ifindex {}: prefix longer than {max}",
            a.header.prefix_len, a.header.index
        ));
    }
    Ok(Address {
        ifindex: a.header.index,
        address,
        prefix_len: a.header.prefix_len,
    })
}

/// One netlink message of a datagram, parsed: an rtnetlink message, the end of a dump, an
/// error reply, or another kind.
#[derive(Debug)]
pub enum Decoded {
    /// An rtnetlink message, with its sequence number.
    Route(u32, RouteNetlinkMessage),
    /// `NLMSG_DONE` of the dump with this sequence number.
    Done(u32),
    /// `NLMSG_ERROR` with a non-zero code, for this sequence number.
    Error(u32, io::Error),
    /// Anything else (acknowledgements, `NLMSG_NOOP`).
    Other,
}

/// Splits a datagram into its netlink messages and parses each. A message that does not
/// parse is an `Err` in its place (with its type and what was wrong); one whose length
/// field is wrong ends the datagram, as nothing after it can be found.
pub fn decode(datagram: &[u8]) -> Vec<Result<Decoded, String>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < datagram.len() {
        let rest = &datagram[off..];
        let buf = match NetlinkBuffer::new_checked(rest) {
            Ok(b) => b,
            Err(e) => {
                out.push(Err(format!("netlink message at byte {off}: {e}")));
                break;
            }
        };
        let (len, kind) = (buf.length() as usize, buf.message_type());
        out.push(
            match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len]) {
                Ok(m) => Ok(match m.payload {
                    NetlinkPayload::InnerMessage(r) => Decoded::Route(m.header.sequence_number, r),
                    NetlinkPayload::Done(_) => Decoded::Done(m.header.sequence_number),
                    NetlinkPayload::Error(e) if e.code.is_some() => {
                        Decoded::Error(m.header.sequence_number, e.to_io())
                    }
                    _ => Decoded::Other,
                }),
                Err(e) => Err(format!("netlink message type {kind} at byte {off}: {e}")),
            },
        );
        // Messages are 4-byte aligned; `len` is at least a header, so this advances.
        off = off.saturating_add(len.div_ceil(4) * 4);
    }
    out
}

/// What [`LinkMonitor::read`] brought: the events, and the messages left out.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events, in the kernel's order.
    pub events: Vec<LinkEvent>,
    /// Messages that could not be taken, each with what was wrong.
    pub errors: Vec<String>,
    /// True when the kernel had dropped announcements and everything was dumped again.
    pub resynced: bool,
}

impl Batch {
    fn take(&mut self, table: &mut LinkTable, msgs: Vec<Result<Decoded, String>>) {
        for m in msgs {
            match m {
                Ok(Decoded::Route(_, r)) => match table.apply(&r) {
                    Ok(ev) => self.events.extend(ev),
                    Err(e) => self.errors.push(e),
                },
                Ok(Decoded::Error(seq, e)) => self
                    .errors
                    .push(format!("netlink error reply to request {seq}: {e}")),
                Ok(_) => {}
                Err(e) => self.errors.push(e),
            }
        }
    }
}

/// How long a dump may take before the monitor gives up on it.
const DUMP_TIMEOUT: Duration = Duration::from_secs(2);
/// The socket's receive buffer: room for the announcements of some thousands of links.
const RECV_BUFFER: usize = 1 << 20;

/// The rtnetlink socket and the table it keeps.
pub struct LinkMonitor {
    socket: Socket,
    table: LinkTable,
    seq: u32,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Opens the socket, subscribes to the link and address groups, and dumps the links and
    /// addresses; returns the monitor and the events of the dump (every link `Added`, every
    /// address `AddressAdded`).
    ///
    /// # Errors
    /// The socket's: `socket`, `bind`, the memberships, the dump requests; a dump the kernel
    /// refused or that did not end within 2 s.
    pub fn open() -> io::Result<(Self, Batch)> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind(&SocketAddr::new(0, 0))?;
        // A failure here only makes an overrun likelier, which is handled.
        let _ = socket.set_rx_buf_sz(RECV_BUFFER);
        for g in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
        ] {
            socket.add_membership(g)?;
        }
        socket.set_non_blocking(true)?;
        let mut m = LinkMonitor {
            socket,
            table: LinkTable::default(),
            seq: 0,
            buf: vec![0; 64 * 1024],
        };
        let batch = m.dump_all()?;
        Ok((m, batch))
    }

    /// The table as the messages read so far left it.
    pub fn table(&self) -> &LinkTable {
        &self.table
    }

    /// Reads at most `max` datagrams, without waiting; returns their events. When the kernel
    /// had dropped announcements, everything is dumped again (waiting for the dump).
    ///
    /// # Errors
    /// The socket's, but `EAGAIN` (nothing to read) and `ENOBUFS` (handled by the dump).
    pub fn read(&mut self, max: usize) -> io::Result<Batch> {
        let mut batch = Batch::default();
        for _ in 0..max {
            match self.recv()? {
                Recv::Datagram(msgs) => batch.take(&mut self.table, msgs),
                Recv::Empty => break,
                Recv::Overrun => {
                    let again = self.dump_all()?;
                    batch.events.extend(again.events);
                    batch.errors.extend(again.errors);
                    batch.resynced = true;
                    break;
                }
            }
        }
        Ok(batch)
    }

    fn recv(&mut self) -> io::Result<Recv> {
        let mut buf = &mut self.buf[..];
        match self.socket.recv(&mut buf, libc::MSG_TRUNC) {
            Ok(n) if n > self.buf.len() => {
                // Longer than any rtnetlink datagram this monitor asks for: its tail is
                // lost, and a dump tells the truth again.
                Ok(Recv::Overrun)
            }
            Ok(n) => Ok(Recv::Datagram(decode(&self.buf[..n]))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Recv::Empty),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Recv::Overrun),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Recv::Empty),
            Err(e) => Err(e),
        }
    }

    /// Dumps the links, then the addresses; what the table had and a dump did not is gone.
    fn dump_all(&mut self) -> io::Result<Batch> {
        let mut batch = Batch::default();
        let links = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            &mut batch,
        )?;
        let seen: BTreeSet<u32> = links
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .collect();
        batch.events.extend(self.table.sweep(Some(&seen), None));
        let addrs = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            &mut batch,
        )?;
        let seen: BTreeSet<Address> = addrs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => address_of(a).ok(),
                _ => None,
            })
            .collect();
        batch.events.extend(self.table.sweep(None, Some(&seen)));
        Ok(batch)
    }

    /// Sends one dump request and reads until its `NLMSG_DONE`; the announcements read
    /// meanwhile are taken too. Returns the dump's messages (already applied to the table).
    fn dump(
        &mut self,
        request: RouteNetlinkMessage,
        batch: &mut Batch,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = seq;
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(request));
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let start = Instant::now();
        let mut dumped = Vec::new();
        loop {
            let left = DUMP_TIMEOUT.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel's rtnetlink dump did not end within 2 s",
                ));
            }
            let msgs = match self.recv()? {
                Recv::Datagram(m) => m,
                Recv::Empty => {
                    crate::sys::poll_readable(
                        &[self.socket.as_raw_fd()],
                        left.as_millis().max(1) as i32,
                    )?;
                    continue;
                }
                Recv::Overrun => {
                    return Err(io::Error::other(
                        "rtnetlink messages were dropped during a dump",
                    ))
                }
            };
            let mut done = false;
            for m in msgs {
                match m {
                    Ok(Decoded::Route(s, r)) if s == seq => {
                        match self.table.apply(&r) {
                            Ok(ev) => batch.events.extend(ev),
                            Err(e) => batch.errors.push(e),
                        }
                        dumped.push(r);
                    }
                    Ok(Decoded::Done(s)) if s == seq => done = true,
                    Ok(Decoded::Error(s, e)) if s == seq => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("rtnetlink dump refused: {e}"),
                        ))
                    }
                    other => batch.take(&mut self.table, vec![other]),
                }
            }
            if done {
                return Ok(dumped);
            }
        }
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

enum Recv {
    Datagram(Vec<Result<Decoded, String>>),
    Empty,
    Overrun,
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_route::address::AddressHeader;
    use netlink_packet_route::link::{LinkFlags, LinkHeader};
    use netlink_packet_route::AddressFamily;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const UP: u32 = IFF_UP | IFF_RUNNING;

    fn new_link(ifindex: u32, name: &str, flags: u32) -> RouteNetlinkMessage {
        let mut l = LinkMessage::default();
        l.header = LinkHeader {
            index: ifindex,
            flags: LinkFlags::from_bits_retain(flags),
            ..LinkHeader::default()
        };
        l.attributes.push(LinkAttribute::IfName(name.into()));
        RouteNetlinkMessage::NewLink(l)
    }

    fn addr(ifindex: u32, ip: IpAddr, len: u8, new: bool) -> RouteNetlinkMessage {
        let mut a = AddressMessage::default();
        a.header = AddressHeader {
            family: if ip.is_ipv4() {
                AddressFamily::Inet
            } else {
                AddressFamily::Inet6
            },
            prefix_len: len,
            index: ifindex,
            ..AddressHeader::default()
        };
        a.attributes.push(AddressAttribute::Address(ip));
        if ip.is_ipv4() {
            a.attributes.push(AddressAttribute::Local(ip));
        }
        if new {
            RouteNetlinkMessage::NewAddress(a)
        } else {
            RouteNetlinkMessage::DelAddress(a)
        }
    }

    /// The bytes the kernel would send for these messages in one datagram.
    fn datagram(msgs: &[RouteNetlinkMessage]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let mut header = NetlinkHeader::default();
            header.sequence_number = i as u32;
            let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(m.clone()));
            nl.finalize();
            let mut b = vec![0u8; nl.buffer_len()];
            nl.emit(&mut b);
            out.extend(b);
        }
        out
    }

    fn events(t: &mut LinkTable, msgs: &[RouteNetlinkMessage]) -> Vec<LinkEvent> {
        let mut b = Batch::default();
        b.take(t, decode(&datagram(msgs)));
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        b.events
    }

    fn link(ifindex: u32, name: &str, flags: u32) -> Link {
        Link {
            name: name.into(),
            ifindex,
            flags,
        }
    }

    #[test]
    fn up_down_and_carrier() {
        let mut t = LinkTable::default();
        let ev = events(
            &mut t,
            &[new_link(3, "rrcv1", UP), new_link(4, "rrcv2", IFF_UP)],
        );
        assert_eq!(
            ev,
            [
                LinkEvent::Added(link(3, "rrcv1", UP)),
                LinkEvent::Added(link(4, "rrcv2", IFF_UP))
            ]
        );
        assert!(t.link(3).unwrap().is_up() && !t.link(4).unwrap().is_up());
        // The carrier comes on rrcv2; rrcv1 is set down; an unchanged line says nothing.
        let ev = events(
            &mut t,
            &[
                new_link(4, "rrcv2", UP),
                new_link(3, "rrcv1", IFF_RUNNING),
                new_link(4, "rrcv2", UP | 0x1000),
            ],
        );
        assert_eq!(
            ev,
            [
                LinkEvent::Up(link(4, "rrcv2", UP)),
                LinkEvent::Down(link(3, "rrcv1", IFF_RUNNING))
            ]
        );
    }

    #[test]
    fn deleted_and_recreated_under_a_new_ifindex() {
        let mut t = LinkTable::default();
        let v4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        events(&mut t, &[new_link(3, "rrcv1", UP), addr(3, v4, 24, true)]);
        let mut del = LinkMessage::default();
        del.header.index = 3;
        let ev = events(
            &mut t,
            &[RouteNetlinkMessage::DelLink(del), new_link(5, "rrcv1", 0)],
        );
        let a = Address {
            ifindex: 3,
            address: v4,
            prefix_len: 24,
        };
        assert_eq!(
            ev,
            [
                LinkEvent::AddressRemoved {
                    name: "rrcv1".into(),
                    address: a
                },
                LinkEvent::Removed(link(3, "rrcv1", UP)),
                LinkEvent::Added(link(5, "rrcv1", 0)),
            ]
        );
        assert_eq!(t.by_name("rrcv1").map(|l| l.ifindex), Some(5));
        assert_eq!(t.addresses(3).count(), 0);
    }

    #[test]
    fn renamed() {
        let mut t = LinkTable::default();
        events(&mut t, &[new_link(7, "tmp0", 0)]);
        let ev = events(&mut t, &[new_link(7, "rrcv3", UP)]);
        assert_eq!(
            ev,
            [
                LinkEvent::Renamed {
                    old: "tmp0".into(),
                    link: link(7, "rrcv3", UP)
                },
                LinkEvent::Up(link(7, "rrcv3", UP)),
            ]
        );
    }

    #[test]
    fn addresses_come_and_go_once() {
        let mut t = LinkTable::default();
        let v4 = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let ev = events(
            &mut t,
            &[
                new_link(3, "rrcv1", UP),
                addr(3, v4, 24, true),
                addr(3, v4, 24, true),
                addr(3, v6, 64, true),
                addr(3, v4, 24, false),
                addr(3, v4, 24, false),
            ],
        );
        let a4 = Address {
            ifindex: 3,
            address: v4,
            prefix_len: 24,
        };
        let a6 = Address {
            ifindex: 3,
            address: v6,
            prefix_len: 64,
        };
        let name = || "rrcv1".to_string();
        assert_eq!(
            ev[1..],
            [
                LinkEvent::AddressAdded {
                    name: name(),
                    address: a4
                },
                LinkEvent::AddressAdded {
                    name: name(),
                    address: a6
                },
                LinkEvent::AddressRemoved {
                    name: name(),
                    address: a4
                },
            ]
        );
        assert_eq!(t.addresses(3).copied().collect::<Vec<_>>(), [a6]);
    }

    #[test]
    fn a_dump_that_lost_a_link_removes_it() {
        let mut t = LinkTable::default();
        events(&mut t, &[new_link(3, "a", UP), new_link(4, "b", UP)]);
        let seen: BTreeSet<u32> = [4].into();
        assert_eq!(
            t.sweep(Some(&seen), None),
            [LinkEvent::Removed(link(3, "a", UP))]
        );
    }

    #[test]
    fn bad_messages_are_errors_and_the_rest_is_taken() {
        let mut t = LinkTable::default();
        // A link message without its name.
        let mut nameless = LinkMessage::default();
        nameless.header.index = 9;
        let mut bytes = datagram(&[
            RouteNetlinkMessage::NewLink(nameless),
            new_link(3, "ok", UP),
        ]);
        let mut b = Batch::default();
        b.take(&mut t, decode(&bytes));
        assert_eq!(b.events, [LinkEvent::Added(link(3, "ok", UP))]);
        assert!(
            b.errors[0].contains("without IFLA_IFNAME"),
            "{:?}",
            b.errors
        );
        // A length field past the end: the datagram ends there, with an error.
        bytes[0] = 0xff;
        let d = decode(&bytes);
        assert_eq!(d.len(), 1);
        assert!(d[0].as_ref().is_err_and(|e| e.contains("byte 0")), "{d:?}");
        // Truncated: every prefix decodes to errors or messages, never a panic.
        let whole = datagram(&[
            new_link(3, "ok", UP),
            addr(3, IpAddr::V4(Ipv4Addr::LOCALHOST), 8, true),
        ]);
        for n in 0..whole.len() {
            let _ = decode(&whole[..n]);
        }
        assert!(decode(&whole[..whole.len() - 1]).iter().any(|m| m.is_err()));
    }

    #[test]
    fn an_address_prefix_longer_than_the_family_is_refused() {
        let mut t = LinkTable::default();
        let e = t
            .apply(&addr(3, IpAddr::V4(Ipv4Addr::LOCALHOST), 40, true))
            .unwrap_err();
        assert!(e.contains("prefix longer than 32"), "{e}");
    }
}
