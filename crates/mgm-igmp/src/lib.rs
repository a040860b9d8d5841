//! IGMP and MLD for a multicast router (the router side of RFC 2236 / RFC 3376 for IPv4 and
//! of RFC 2710 / RFC 3810 for IPv6), as a pure state machine: packets and time in, actions
//! out ([`Action`]). No sockets, no clock: the caller passes the time as a [`Duration`] since
//! any fixed start. A proxy (RFC 4605) also runs the host side on its upstream interface:
//! [`ProxyHost`], in [`proxy`], the same way.
//!
//! One state machine, [`Router`], serves both: [`IgmpRouter`] is `Router<Igmp>` and
//! [`MldRouter`] is `Router<Mld>`. MLDv1 is IGMPv2 and MLDv2 is IGMPv3 over IPv6 with other
//! type numbers, so everything below holds for both; the [`Protocol`] they implement gives
//! only the codec ([`parse`] here, [`mld::parse`]), the addresses queries go to, and the
//! address checks (IGMP: the link's subnets; MLD: link-local sources). MLD terms map onto
//! IGMP's names: a listener is a member, "multicast address" a group, a done a leave, the
//! last listener query interval and count [`IgmpConfig::last_member_query_interval`] and
//! [`IgmpConfig::last_member_query_count`] ([`MldConfig`] is [`IgmpConfig`], with the same
//! defaults as RFC 3810 gives).
//!
//! Hosts' memberships map onto engine selectors: a group in EXCLUDE mode (any IGMPv1/v2
//! report, IGMPv3 `IS_EX`/`TO_EX`) is a `(*,G)` membership (exclusion lists are not kept:
//! forwarding more than asked is allowed); sources in INCLUDE mode are `(S,G)` memberships.
//! Queries are always sent in IGMPv3 (MLDv2) format so hosts are never pushed down to IGMPv2
//! (MLDv1); an IGMPv1/v2 (MLDv1) report puts the group in compatibility mode, where `BLOCK`
//! records are ignored, for a group membership interval.
//!
//! Every reporting host is tracked per interface and group (explicit tracking,
//! [`IgmpRouter::group_hosts`]): its filter mode and the sources it named, each expiring one
//! group membership interval after the report that refreshed it. An IGMPv1/v2 report makes
//! the host an EXCLUDE {} member and an IGMPv2 leave is its `TO_IN {}` (RFC 3376 7.3.2). With
//! [`IgmpConfig::fast_leave`], a host's leave (an IGMPv2 leave, `TO_IN`, `BLOCK`, or a
//! report that drops what it held before) takes away at once only what no other tracked host
//! holds: the group stays while another host is in EXCLUDE mode, a source while another host
//! names it, and nobody is queried. Without fast leave, a leave starts the last member
//! queries of RFC 3376 6.4, however many hosts are tracked.
//!
//! Fast leave and old hosts: IGMPv1 hosts send no leave, so one stays tracked (and holds the
//! group) for a group membership interval after its last report. IGMPv1/v2 hosts also
//! suppress their answer to a query when another member answered first, so after their
//! join's record expires such a host can be a member the router no longer tracks; when the
//! last tracked host leaves, it loses the group until it reports again (at the next general
//! query). On links with several IGMPv1/v2 members of a group, fast leave is only safe if
//! that is acceptable. IGMPv3 hosts do not suppress reports: each member that reports is
//! tracked.
//!
//! Nothing a link sends is trusted before it is checked ([`Router::receive_packet`]): TTL
//! (hop limit) 1 and Router Alert ([`InputPolicy`], per router and per link), a source on the
//! link's subnets ([`Subnet`]; 0.0.0.0 for reports) or, for MLD, a link-local source (`::`
//! for reports), routable groups and valid unicast sources ([`is_valid_source`],
//! [`mld::is_valid_source`]). What may enter the state is bounded per link, group and host
//! ([`IgmpLimits`]), and every drop and refusal is counted ([`IgmpCounters`]). Groups, hosts
//! and each host's groups are found by hash (keyed per process), so a report that refreshes
//! what is there costs the same whatever the table's size; groups are filed under their next
//! timer, so a tick visits only what is due, and only a membership's or a group's creation and
//! removal cost a logarithm of the table (its ordered indexes: expiry, timers, the groups'
//! address order). Measured in `benches/router.rs` and `examples/report_costs.rs`.

use std::net::Ipv4Addr;
use std::time::Duration;

mod input;
pub mod mld;
mod proto;
pub mod proxy;
mod router;

pub use input::{is_valid_source, Heard, IgmpCounters, IgmpLimits, InputPolicy, Subnet};
pub use proto::{Igmp, Mld, Protocol, Received};
pub use proxy::{
    FilterMode, HostAction, HostMessage, IgmpProxyHost, MldProxyHost, ProxyConfig, ProxyHost,
    SourceFilter,
};
pub use router::{
    Action, AddressError, GroupState, HostRecord, IgmpAction, IgmpRouter, InterfaceState,
    MldAction, MldRouter, Router,
};

/// MLD's timers and counts (RFC 3810 section 9): the same fields and the same defaults as
/// IGMP's (robustness 2, query interval 125 s, query response interval 10 s, last listener
/// query interval 1 s, last listener query count 2), under IGMP's names
/// (`last_member_query_*` are MLD's last listener query interval and count).
pub type MldConfig = IgmpConfig;

/// 224.0.0.1, all systems: destination of general queries.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// 224.0.0.2, all routers: destination of IGMPv2 leaves.
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// 224.0.0.22: destination of IGMPv3 reports.
pub const IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// IGMP timers and counts (RFC 3376 section 8); defaults are the RFC's.
///
/// ```
/// use mgm_igmp::IgmpConfig;
/// use std::time::Duration;
/// let c = IgmpConfig::default();
/// assert_eq!(c.group_membership_interval(), Duration::from_secs(260));
/// assert_eq!(c.last_member_query_time(), Duration::from_secs(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IgmpConfig {
    /// Robustness variable (2).
    pub robustness: u8,
    /// Query interval (125 s).
    pub query_interval: Duration,
    /// Query response interval, the max response time of general queries (10 s).
    pub query_response_interval: Duration,
    /// Last member query interval (1 s).
    pub last_member_query_interval: Duration,
    /// Last member query count (the robustness variable).
    pub last_member_query_count: u8,
    /// Act on a leave at once, without last-member queries: what the leaving host held goes
    /// unless another tracked host holds it too (see the crate documentation).
    pub fast_leave: bool,
    /// The IP header checks of every interface (each can be changed with
    /// [`IgmpRouter::set_input_policy`]).
    pub input: InputPolicy,
    /// How much state IGMP keeps.
    pub limits: IgmpLimits,
}

impl Default for IgmpConfig {
    fn default() -> Self {
        IgmpConfig {
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: 2,
            fast_leave: false,
            input: InputPolicy::default(),
            limits: IgmpLimits::default(),
        }
    }
}

impl IgmpConfig {
    /// Group membership interval: robustness × query interval + response interval (260 s).
    ///
    /// ```
    /// use mgm_igmp::IgmpConfig;
    /// use std::time::Duration;
    /// assert_eq!(IgmpConfig::default().group_membership_interval(), Duration::from_secs(2 * 125 + 10));
    /// let c = IgmpConfig { robustness: 3, query_interval: Duration::from_secs(60), ..IgmpConfig::default() };
    /// assert_eq!(c.group_membership_interval(), Duration::from_secs(3 * 60 + 10));
    /// ```
    pub fn group_membership_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }
    /// Other querier present interval: robustness × query interval + response interval / 2.
    ///
    /// ```
    /// use mgm_igmp::IgmpConfig;
    /// use std::time::Duration;
    /// assert_eq!(IgmpConfig::default().other_querier_present_interval(), Duration::from_secs(2 * 125 + 5));
    /// ```
    pub fn other_querier_present_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval / 2
    }
    /// Last member query time: count × interval (2 s).
    ///
    /// ```
    /// use mgm_igmp::IgmpConfig;
    /// use std::time::Duration;
    /// let c = IgmpConfig { last_member_query_count: 3, last_member_query_interval: Duration::from_millis(500), ..IgmpConfig::default() };
    /// assert_eq!(c.last_member_query_time(), Duration::from_millis(1500));
    /// ```
    pub fn last_member_query_time(&self) -> Duration {
        self.last_member_query_interval * u32::from(self.last_member_query_count)
    }
    /// Startup query interval: a quarter of the query interval.
    ///
    /// ```
    /// use mgm_igmp::IgmpConfig;
    /// use std::time::Duration;
    /// assert_eq!(IgmpConfig::default().startup_query_interval(), Duration::from_millis(31_250));
    /// ```
    pub fn startup_query_interval(&self) -> Duration {
        self.query_interval / 4
    }
}

/// One IGMPv3 group record (`GroupRecord<Ipv4Addr>`, the default) or MLDv2 multicast
/// address record (`GroupRecord<Ipv6Addr>`, see [`mld`]).
///
/// ```
/// use mgm_igmp::{encode_v3_report, parse, GroupRecord, Message};
/// use std::net::Ipv4Addr;
/// // "Send me 239.1.2.3, from 198.51.100.2 only" (ALLOW_NEW_SOURCES).
/// let allow = GroupRecord { kind: 5, group: Ipv4Addr::new(239, 1, 2, 3), sources: vec![Ipv4Addr::new(198, 51, 100, 2)] };
/// let bytes = encode_v3_report(&[allow.clone()]);
/// assert_eq!(parse(&bytes), Some(Message::V3Report(vec![allow])));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord<A = Ipv4Addr> {
    /// Record type: 1 `MODE_IS_INCLUDE`, 2 `MODE_IS_EXCLUDE`, 3 `CHANGE_TO_INCLUDE`,
    /// 4 `CHANGE_TO_EXCLUDE`, 5 `ALLOW_NEW_SOURCES`, 6 `BLOCK_OLD_SOURCES`.
    pub kind: u8,
    /// The group.
    pub group: A,
    /// The sources.
    pub sources: Vec<A>,
}

/// A query, as sent or heard: IGMP (`Query<Ipv4Addr>`, the default) or MLD
/// (`Query<Ipv6Addr>`, see [`mld`]).
///
/// ```
/// use mgm_igmp::{checksum, parse, Message};
/// use std::{net::Ipv4Addr, time::Duration};
/// // An IGMPv2 general query (8 bytes, max response time 10 s) heard from an old router.
/// let mut v2 = [0x11, 100, 0, 0, 0, 0, 0, 0];
/// let c = checksum(&v2);
/// v2[2..4].copy_from_slice(&c.to_be_bytes());
/// let Some(Message::Query(q)) = parse(&v2) else { panic!() };
/// assert_eq!((q.version, q.group, q.max_response), (2, Ipv4Addr::UNSPECIFIED, Duration::from_secs(10)));
/// assert!(q.sources.is_empty() && !q.s_flag);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query<A = Ipv4Addr> {
    /// The group; unspecified for a general query.
    pub group: A,
    /// Sources of a group-and-source-specific query.
    pub sources: Vec<A>,
    /// Maximum response time.
    pub max_response: Duration,
    /// "Suppress router-side processing".
    pub s_flag: bool,
    /// Querier's robustness variable.
    pub qrv: u8,
    /// Querier's query interval.
    pub qqi: Duration,
    /// Version of the query heard: IGMP 1, 2 or 3 (queries sent are 3), MLD 1 or 2 (queries
    /// sent are 2).
    pub version: u8,
}

impl Query<Ipv4Addr> {
    /// The IGMPv3 query message, checksummed.
    ///
    /// ```
    /// use mgm_igmp::{parse, Message, Query};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let q = Query { group: Ipv4Addr::new(239, 1, 2, 3), sources: vec![], max_response: Duration::from_secs(1),
    ///                 s_flag: false, qrv: 2, qqi: Duration::from_secs(125), version: 3 };
    /// let bytes = q.encode();
    /// assert_eq!(bytes.len(), 12);
    /// assert_eq!(parse(&bytes).unwrap(), Message::Query(q));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0x11, encode_code(self.max_response.as_millis() / 100), 0, 0];
        b.extend_from_slice(&self.group.octets());
        b.push((u8::from(self.s_flag) << 3) | (self.qrv.min(7)));
        b.push(encode_code(self.qqi.as_secs().into()));
        b.extend_from_slice(&(self.sources.len() as u16).to_be_bytes());
        for s in &self.sources {
            b.extend_from_slice(&s.octets());
        }
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }
}

/// A parsed IGMP message.
///
/// ```
/// use mgm_igmp::{encode_v2, parse, Message};
/// use std::net::Ipv4Addr;
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// assert_eq!(parse(&encode_v2(0x12, g)), Some(Message::V1Report(g)));
/// assert_eq!(parse(&encode_v2(0x16, g)), Some(Message::V2Report(g)));
/// assert_eq!(parse(&encode_v2(0x17, g)), Some(Message::V2Leave(g)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A membership query (any version).
    Query(Query),
    /// An IGMPv1 report.
    V1Report(Ipv4Addr),
    /// An IGMPv2 report.
    V2Report(Ipv4Addr),
    /// An IGMPv2 leave.
    V2Leave(Ipv4Addr),
    /// An IGMPv3 report.
    V3Report(Vec<GroupRecord>),
}

/// The Internet checksum of `b`.
///
/// ```
/// use mgm_igmp::{checksum, encode_v2};
/// use std::net::Ipv4Addr;
/// assert_eq!(checksum(&[0x11, 0x64, 0, 0, 0, 0, 0, 0]), !0x1164);
/// // A message carrying its own checksum sums to zero.
/// assert_eq!(checksum(&encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3))), 0);
/// ```
pub fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Encodes a value in the floating-point form of IGMPv3's 8-bit codes (max response code,
/// QQIC; `mant_bits` 4) and MLDv2's 16-bit maximum response code (`mant_bits` 12): exact
/// below `1 << (mant_bits + 3)`, then the top bit set, a 3-bit exponent and the mantissa
/// (rounded down; saturating at the longest).
pub(crate) fn encode_float(v: u128, mant_bits: u32) -> u32 {
    let exact = 1u32 << (mant_bits + 3);
    if v < u128::from(exact) {
        return v as u32;
    }
    let implied = 1u128 << mant_bits;
    for exp in 0u32..8 {
        let mant = (v >> (exp + 3)).saturating_sub(implied);
        if mant < implied {
            return exact | (exp << mant_bits) | mant as u32;
        }
    }
    exact * 2 - 1
}

/// The value a code of [`encode_float`]'s form stands for.
pub(crate) fn decode_float(c: u32, mant_bits: u32) -> u64 {
    let exact = 1u32 << (mant_bits + 3);
    if c < exact {
        return u64::from(c);
    }
    let implied = 1u32 << mant_bits;
    u64::from((c & (implied - 1)) | implied) << (((c >> mant_bits) & 0x07) + 3)
}

/// Encodes a value as an IGMPv3 8-bit code (max response code, QQIC).
pub(crate) fn encode_code(v: u128) -> u8 {
    encode_float(v, 4) as u8
}

pub(crate) fn decode_code(c: u8) -> u64 {
    decode_float(c.into(), 4)
}

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Parses an IGMP message; `None` when it is malformed or its checksum is wrong.
///
/// ```
/// use mgm_igmp::{encode_v2, parse, Message};
/// use std::net::Ipv4Addr;
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let mut report = encode_v2(0x16, g);
/// assert_eq!(parse(&report), Some(Message::V2Report(g)));
/// report[7] ^= 1; // corrupted in transit
/// assert_eq!(parse(&report), None);
/// assert_eq!(parse(&report[..4]), None, "too short");
/// ```
pub fn parse(b: &[u8]) -> Option<Message> {
    if b.len() < 8 || checksum(b) != 0 {
        return None;
    }
    let group = addr(&b[4..8]);
    match b[0] {
        0x11 => {
            if b.len() >= 12 {
                let n = usize::from(u16::from_be_bytes([b[10], b[11]]));
                if b.len() < 12 + 4 * n {
                    return None;
                }
                Some(Message::Query(Query {
                    group,
                    sources: (0..n).map(|i| addr(&b[12 + 4 * i..])).collect(),
                    max_response: Duration::from_millis(decode_code(b[1]) * 100),
                    s_flag: b[8] & 0x08 != 0,
                    qrv: b[8] & 0x07,
                    qqi: Duration::from_secs(decode_code(b[9])),
                    version: 3,
                }))
            } else {
                Some(Message::Query(Query {
                    group,
                    sources: Vec::new(),
                    max_response: Duration::from_millis(u64::from(b[1]) * 100),
                    s_flag: false,
                    qrv: 0,
                    qqi: Duration::ZERO,
                    version: if b[1] == 0 { 1 } else { 2 },
                }))
            }
        }
        0x12 => Some(Message::V1Report(group)),
        0x16 => Some(Message::V2Report(group)),
        0x17 => Some(Message::V2Leave(group)),
        0x22 => {
            let n = usize::from(u16::from_be_bytes([b[6], b[7]]));
            let mut off = 8;
            // A record takes at least 8 bytes: the packet bounds the room, not its count field.
            let mut recs = Vec::with_capacity(n.min(b.len() / 8));
            for _ in 0..n {
                if b.len() < off + 8 {
                    return None;
                }
                let kind = b[off];
                let aux = usize::from(b[off + 1]) * 4;
                let ns = usize::from(u16::from_be_bytes([b[off + 2], b[off + 3]]));
                let g = addr(&b[off + 4..]);
                let end = off + 8 + 4 * ns + aux;
                if b.len() < end {
                    return None;
                }
                let sources = (0..ns).map(|i| addr(&b[off + 8 + 4 * i..])).collect();
                recs.push(GroupRecord {
                    kind,
                    group: g,
                    sources,
                });
                off = end;
            }
            Some(Message::V3Report(recs))
        }
        _ => None,
    }
}

/// Encodes an IGMPv3 report (used by tests and tools).
///
/// ```
/// use mgm_igmp::{checksum, encode_v3_report, GroupRecord};
/// use std::net::Ipv4Addr;
/// let join = GroupRecord { kind: 4, group: Ipv4Addr::new(239, 1, 2, 3), sources: vec![] }; // TO_EX {}
/// let b = encode_v3_report(&[join]);
/// assert_eq!(b.len(), 8 + 8);
/// assert_eq!(b[0], 0x22); // IGMPv3 membership report
/// assert_eq!(u16::from_be_bytes([b[6], b[7]]), 1); // one record
/// assert_eq!(&b[8..16], &[4, 0, 0, 0, 239, 1, 2, 3]); // type, aux len, 0 sources, group
/// assert_eq!(checksum(&b), 0);
/// ```
pub fn encode_v3_report(records: &[GroupRecord]) -> Vec<u8> {
    let mut b = vec![0x22, 0, 0, 0, 0, 0];
    b.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for r in records {
        b.extend_from_slice(&[r.kind, 0]);
        b.extend_from_slice(&(r.sources.len() as u16).to_be_bytes());
        b.extend_from_slice(&r.group.octets());
        for s in &r.sources {
            b.extend_from_slice(&s.octets());
        }
    }
    let c = checksum(&b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

/// Encodes an IGMPv1/v2 message of type `kind` (0x12, 0x16, 0x17) for `group`.
///
/// ```
/// use mgm_igmp::encode_v2;
/// use std::net::Ipv4Addr;
/// let report = encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3));
/// assert_eq!(report, [0x16, 0, 0xf8, 0xfa, 239, 1, 2, 3]); // type, max resp, checksum, group
/// ```
pub fn encode_v2(kind: u8, group: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0];
    b.extend_from_slice(&group.octets());
    let c = checksum(&b);
    b[2..4].copy_from_slice(&c.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for v in [0u128, 10, 100, 127, 128, 1000, 3000, 31744] {
            let c = encode_code(v);
            let back = u128::from(decode_code(c));
            assert!(
                back <= v && back * 110 / 100 + 16 >= v,
                "{v} -> {c} -> {back}"
            );
        }
    }
}
