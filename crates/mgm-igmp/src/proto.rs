//! What tells IGMP and MLD apart for the router and the proxy's host side: the address
//! family, the codec, the addresses they send to and the address checks. The state machines
//! ([`crate::Router`], [`crate::ProxyHost`]) are written once over [`Protocol`].

use std::net::{Ipv4Addr, Ipv6Addr};

use mgm::Family;

use crate::input::Subnet;
use crate::proxy::HostMessage;
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
    /// Where a host sends its IGMPv3 or MLDv2 reports: 224.0.0.22 or ff02::16.
    const REPORTS_TO: Self::Addr;
    /// Where a host sends its IGMPv2 leaves or MLDv1 dones: 224.0.0.2 or ff02::2.
    const LEAVES_TO: Self::Addr;
    /// What a report costs on the wire before its first record: the IP header with the
    /// Router Alert option (IPv4 20 + 4 bytes, IPv6 40 + an 8-byte hop-by-hop header) and the
    /// report's own 8-byte header.
    const REPORT_OVERHEAD: usize;
    /// The smallest MTU the link may have: 68 bytes for IPv4 (RFC 791), 1,280 for IPv6
    /// (RFC 8200).
    const MIN_MTU: usize;
    /// The message in `payload`; `None` when it is malformed (counted as such).
    fn decode(payload: &[u8]) -> Option<Received<Self::Addr>>;
    /// The bytes of a message the host side sends (IGMP checksummed; MLD with a zero
    /// checksum for the kernel, see [`crate::mld`]).
    fn encode_host(message: &HostMessage<Self::Addr>) -> Vec<u8>;
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
    const REPORTS_TO: Ipv4Addr = crate::IGMPV3_ROUTERS;
    const LEAVES_TO: Ipv4Addr = crate::ALL_ROUTERS;
    const REPORT_OVERHEAD: usize = 24 + 8;
    const MIN_MTU: usize = 68;
    /// IGMPv3 report (0x22), IGMPv1 (0x12) or v2 (0x16) report, IGMPv2 leave (0x17).
    fn encode_host(message: &HostMessage<Ipv4Addr>) -> Vec<u8> {
        match message {
            HostMessage::Report(records) => crate::encode_v3_report(records),
            HostMessage::OldReport { version: 1, group } => crate::encode_v2(0x12, *group),
            HostMessage::OldReport { group, .. } => crate::encode_v2(0x16, *group),
            HostMessage::Leave(group) => crate::encode_v2(0x17, *group),
        }
    }
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
    const REPORTS_TO: Ipv6Addr = mld::MLDV2_ROUTERS;
    const LEAVES_TO: Ipv6Addr = mld::ALL_ROUTERS;
    const REPORT_OVERHEAD: usize = 48 + 8;
    const MIN_MTU: usize = 1280;
    /// MLDv2 report (143), MLDv1 report (131, whatever the version asked) or done (132).
    fn encode_host(message: &HostMessage<Ipv6Addr>) -> Vec<u8> {
        match message {
            HostMessage::Report(records) => mld::encode_v2_report(records),
            HostMessage::OldReport { group, .. } => mld::encode_v1(mld::V1_REPORT, *group),
            HostMessage::Leave(group) => mld::encode_v1(mld::V1_DONE, *group),
        }
    }
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
