//! What tells IGMP and MLD apart for the router: the address family, the codec, the
//! addresses it sends to and the address checks. The state machine ([`crate::Router`]) is
//! written once over [`Protocol`].

use std::net::{Ipv4Addr, Ipv6Addr};

use mgm::Family;

use crate::input::Subnet;
use crate::{mld, GroupRecord, Query};

mod sealed {
    pub trait Sealed {}
}

/// A message as the router's state machine takes it, whatever the protocol's wire format.
///
/// ```
/// use mgm_igmp::{encode_v2, Igmp, Protocol, Received};
/// use std::net::Ipv4Addr;
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// assert_eq!(Igmp::decode(&encode_v2(0x17, g)), Some(Received::OldLeave(g)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received<A> {
    /// A query, any version.
    Query(Query<A>),
    /// An IGMPv1/v2 or MLDv1 report: the host is an EXCLUDE {} member.
    OldReport(A),
    /// An IGMPv2 leave or MLDv1 done: the host's `TO_IN {}`.
    OldLeave(A),
    /// IGMPv3 group records or MLDv2 multicast address records.
    Records(Vec<GroupRecord<A>>),
}

/// A group membership protocol the router runs: [`Igmp`] (IPv4) or [`Mld`] (IPv6). Sealed:
/// implemented by those two only.
pub trait Protocol: sealed::Sealed + Copy + Clone + std::fmt::Debug + 'static {
    /// The address family.
    type Addr: Family;
    /// Where general queries go: 224.0.0.1 or ff02::1.
    const ALL_NODES: Self::Addr;
    /// The version of the queries the router sends: IGMPv3 or MLDv2, which older hosts
    /// also understand, so hosts are never pushed down a version.
    const QUERY_VERSION: u8;
    /// The message in `payload`; `None` when it is malformed (counted as such).
    fn decode(payload: &[u8]) -> Option<Received<Self::Addr>>;
    /// True for a group whose memberships are tracked: a multicast group wider than the link.
    fn routable(group: Self::Addr) -> bool;
    /// True for an address that may appear as a source in a record.
    fn valid_source(source: Self::Addr) -> bool;
    /// True when a message from `source` may come from the link: `query` for a query.
    fn on_link(subnets: &[Subnet<Self::Addr>], source: Self::Addr, query: bool) -> bool;
    /// Why `address` cannot be the router's own address on a link (the source of its
    /// queries, the one the querier election compares); `None` when it can.
    fn address_problem(address: Self::Addr) -> Option<&'static str>;
}

/// IGMPv2/v3 over IPv4 (RFC 2236, RFC 3376).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Igmp;

/// MLDv1/v2 over IPv6 (RFC 2710, RFC 3810).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mld;

impl sealed::Sealed for Igmp {}
impl sealed::Sealed for Mld {}

impl Protocol for Igmp {
    type Addr = Ipv4Addr;
    const ALL_NODES: Ipv4Addr = crate::ALL_SYSTEMS;
    const QUERY_VERSION: u8 = 3;
    fn decode(payload: &[u8]) -> Option<Received<Ipv4Addr>> {
        Some(match crate::parse(payload)? {
            crate::Message::Query(q) => Received::Query(q),
            crate::Message::V1Report(g) | crate::Message::V2Report(g) => Received::OldReport(g),
            crate::Message::V2Leave(g) => Received::OldLeave(g),
            crate::Message::V3Report(r) => Received::Records(r),
        })
    }
    /// 224.0.0.0/24 is link-local: never routed, never tracked.
    fn routable(g: Ipv4Addr) -> bool {
        g.is_multicast() && g.octets()[..3] != [224, 0, 0]
    }
    fn valid_source(source: Ipv4Addr) -> bool {
        crate::is_valid_source(source)
    }
    /// On one of the link's subnets (any source while none are known); a report may also
    /// come from 0.0.0.0, a host without an address yet (RFC 3376 4.2.13).
    fn on_link(subnets: &[Subnet<Ipv4Addr>], source: Ipv4Addr, query: bool) -> bool {
        subnets.is_empty()
            || subnets.iter().any(|s| s.contains(source))
            || (!query && source.is_unspecified())
    }
    /// Any address but a multicast one: a host takes its querier for a router with that
    /// source, and the election compares it.
    fn address_problem(address: Ipv4Addr) -> Option<&'static str> {
        address
            .is_multicast()
            .then_some("a multicast address is no router's own address")
    }
}

impl Protocol for Mld {
    type Addr = Ipv6Addr;
    const ALL_NODES: Ipv6Addr = mld::ALL_NODES;
    const QUERY_VERSION: u8 = 2;
    fn decode(payload: &[u8]) -> Option<Received<Ipv6Addr>> {
        Some(match mld::parse(payload).ok()? {
            mld::Message::Query(q) => Received::Query(q),
            mld::Message::V1Report(g) => Received::OldReport(g),
            mld::Message::V1Done(g) => Received::OldLeave(g),
            mld::Message::V2Report(r) => Received::Records(r),
        })
    }
    fn routable(g: Ipv6Addr) -> bool {
        mld::is_routable_group(g)
    }
    fn valid_source(source: Ipv6Addr) -> bool {
        mld::is_valid_source(source)
    }
    /// Link-local (fe80::/10) whatever the subnets; a report may also come from `::`, a
    /// host whose link-local address is still tentative (RFC 3590, RFC 3810 5.2.13).
    fn on_link(_subnets: &[Subnet<Ipv6Addr>], source: Ipv6Addr, query: bool) -> bool {
        mld::is_link_local(source) || (!query && source.is_unspecified())
    }
    /// A link-local address (fe80::/10): hosts drop an MLD query from any other source
    /// (RFC 3810 5.1.14, RFC 2710 3).
    fn address_problem(address: Ipv6Addr) -> Option<&'static str> {
        (!mld::is_link_local(address)).then_some(
            "not link-local: MLD queries go out from the router's link-local address (fe80::/10), hosts drop others (RFC 3810 5.1.14)",
        )
    }
}
