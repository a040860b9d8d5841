//! What differs between mgmd's two families, IPv4 (IGMP, VIFs, the MFC) and IPv6 (MLD, MIFs,
//! the MF6C): the daemon's per-family state ([`super::Daemon`]) is one code path over
//! [`Fam`], and these are the few places where the families part.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mgm_igmp::{self as igmp, Igmp, Mld, Protocol, Subnet};
use mgm_igmp_client::RouterClient;
use mgm_linux::mroute::{Mroute, MrouteFamily, Received4, Received6, Upcall};
use mgmd::plan::Af;

use super::links::Links;

/// What one read of a family's mroute socket gave, in the same shape for both.
pub enum Msg<A> {
    /// A kernel upcall.
    Upcall(Upcall<A>),
    /// An IGMP or MLD message heard on an interface.
    Heard {
        /// Arrival interface.
        ifindex: u32,
        /// IP source.
        source: A,
        /// IP destination.
        destination: A,
        /// TTL or hop limit.
        ttl: u8,
        /// The Router Alert option was there.
        router_alert: bool,
        /// The message.
        payload: Vec<u8>,
    },
    /// Nothing for mgmd.
    Junk,
}

/// An address family mgmd runs.
pub trait Fam: Af + MrouteFamily {
    /// The group membership protocol: IGMP or MLD.
    type Proto: Protocol<Addr = Self>;
    /// `IGMP` or `MLD`, for the log.
    const PROTOCOL: &'static str;
    /// `VIF` or `MIF`, for the log.
    const VIF: &'static str;
    /// `IPv4` or `IPv6`, for the log.
    const NAME: &'static str;
    /// The groups a router joins on each link to hear reports and leaves.
    const ROUTER_GROUPS: [Self; 2];
    /// Reads one message of the mroute socket without waiting.
    fn recv(sock: &Mroute<Self>) -> io::Result<Option<Msg<Self>>>;
    /// Sends an IGMP or MLD message out of `ifindex`.
    fn send(sock: &Mroute<Self>, ifindex: u32, destination: Self, msg: &[u8]) -> io::Result<()>;
    /// The router's own address on the link: its first IPv4 address, or for IPv6 its
    /// link-local address (the one MLD queries go out from).
    fn router_address(links: &Links, ifindex: u32) -> Option<Self>;
    /// True when `a` is of this family (an address change the router follows).
    fn is_mine(a: IpAddr) -> bool;
    /// The subnets of the link named `name`, for the off-subnet checks; `None` for a
    /// family without them (MLD checks that sources are link-local).
    fn link_subnets(name: &str) -> Option<io::Result<Vec<Subnet<Self>>>>;
    /// Gives the router the subnets of a link (false where the family has none).
    fn set_subnets(c: &mut RouterClient<Self::Proto>, ifindex: u32, s: &[Subnet<Self>]) -> bool;
    /// The message, decoded, for the debug log.
    fn describe(payload: &[u8]) -> String;
    /// A query's bytes, for the socket.
    fn encode(query: &igmp::Query<Self>) -> Vec<u8>;
}

impl Fam for Ipv4Addr {
    type Proto = Igmp;
    const PROTOCOL: &'static str = "IGMP";
    const VIF: &'static str = "VIF";
    const NAME: &'static str = "IPv4";
    const ROUTER_GROUPS: [Ipv4Addr; 2] = [igmp::IGMPV3_ROUTERS, igmp::ALL_ROUTERS];
    fn recv(sock: &Mroute<Self>) -> io::Result<Option<Msg<Self>>> {
        Ok(sock.recv()?.map(|m| match m {
            Received4::Upcall(u) => Msg::Upcall(u),
            Received4::Igmp {
                ifindex,
                source,
                destination,
                ttl,
                router_alert,
                payload,
            } => Msg::Heard {
                ifindex,
                source,
                destination,
                ttl,
                router_alert,
                payload,
            },
            Received4::Junk => Msg::Junk,
        }))
    }
    fn send(sock: &Mroute<Self>, ifindex: u32, destination: Self, msg: &[u8]) -> io::Result<()> {
        sock.send_igmp(ifindex, destination, msg)
    }
    fn router_address(links: &Links, ifindex: u32) -> Option<Self> {
        links.addresses(ifindex).find_map(|a| match a {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
    }
    fn is_mine(a: IpAddr) -> bool {
        a.is_ipv4()
    }
    fn link_subnets(name: &str) -> Option<io::Result<Vec<Subnet<Self>>>> {
        Some(mgm_linux::mroute::ipv4_subnets_of(name).map(|found| {
            found
                .into_iter()
                .map(|(a, len)| Subnet::new(a, len))
                .collect()
        }))
    }
    fn set_subnets(c: &mut RouterClient<Igmp>, ifindex: u32, s: &[Subnet<Self>]) -> bool {
        c.set_subnets(ifindex, s)
    }
    fn describe(payload: &[u8]) -> String {
        format!("{:?}", igmp::parse(payload))
    }
    fn encode(query: &igmp::Query<Self>) -> Vec<u8> {
        query.encode()
    }
}

impl Fam for Ipv6Addr {
    type Proto = Mld;
    const PROTOCOL: &'static str = "MLD";
    const VIF: &'static str = "MIF";
    const NAME: &'static str = "IPv6";
    const ROUTER_GROUPS: [Ipv6Addr; 2] = [igmp::mld::MLDV2_ROUTERS, igmp::mld::ALL_ROUTERS];
    fn recv(sock: &Mroute<Self>) -> io::Result<Option<Msg<Self>>> {
        Ok(sock.recv()?.map(|m| match m {
            Received6::Upcall(u) => Msg::Upcall(u),
            Received6::Mld {
                ifindex,
                source,
                destination,
                hop_limit,
                router_alert,
                payload,
            } => Msg::Heard {
                ifindex,
                source,
                destination,
                ttl: hop_limit,
                router_alert,
                payload,
            },
            Received6::Junk => Msg::Junk,
        }))
    }
    fn send(sock: &Mroute<Self>, ifindex: u32, destination: Self, msg: &[u8]) -> io::Result<()> {
        sock.send_mld(ifindex, destination, msg)
    }
    fn router_address(links: &Links, ifindex: u32) -> Option<Self> {
        links.addresses(ifindex).find_map(|a| match a {
            IpAddr::V6(v6) if igmp::mld::is_link_local(v6) => Some(v6),
            _ => None,
        })
    }
    fn is_mine(a: IpAddr) -> bool {
        a.is_ipv6()
    }
    fn link_subnets(_name: &str) -> Option<io::Result<Vec<Subnet<Self>>>> {
        None
    }
    fn set_subnets(_c: &mut RouterClient<Mld>, _ifindex: u32, _s: &[Subnet<Self>]) -> bool {
        false
    }
    fn describe(payload: &[u8]) -> String {
        format!("{:?}", igmp::mld::parse(payload))
    }
    fn encode(query: &igmp::Query<Self>) -> Vec<u8> {
        query.encode()
    }
}
