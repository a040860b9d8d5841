//! IGMP for a multicast router (RFC 2236 / RFC 3376 router side), as a pure state machine:
//! packets and time in, actions out ([`IgmpAction`]). No sockets, no clock: the caller passes
//! the time as a [`Duration`] since any fixed start.
//!
//! Hosts' memberships map onto engine selectors: a group in EXCLUDE mode (any IGMPv1/v2
//! report, IGMPv3 `IS_EX`/`TO_EX`) is a `(*,G)` membership (exclusion lists are not kept:
//! forwarding more than asked is allowed); sources in INCLUDE mode are `(S,G)` memberships.
//! Queries are always sent in IGMPv3 format so hosts are never pushed down to IGMPv2.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use mgm::Selector;

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
    /// Act on a leave at once, without last-member queries.
    pub fast_leave: bool,
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

/// One IGMPv3 group record.
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
pub struct GroupRecord {
    /// Record type: 1 `MODE_IS_INCLUDE`, 2 `MODE_IS_EXCLUDE`, 3 `CHANGE_TO_INCLUDE`,
    /// 4 `CHANGE_TO_EXCLUDE`, 5 `ALLOW_NEW_SOURCES`, 6 `BLOCK_OLD_SOURCES`.
    pub kind: u8,
    /// The group.
    pub group: Ipv4Addr,
    /// The sources.
    pub sources: Vec<Ipv4Addr>,
}

/// A query, as sent or heard.
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
pub struct Query {
    /// The group; unspecified for a general query.
    pub group: Ipv4Addr,
    /// Sources of a group-and-source-specific query.
    pub sources: Vec<Ipv4Addr>,
    /// Maximum response time.
    pub max_response: Duration,
    /// "Suppress router-side processing".
    pub s_flag: bool,
    /// Querier's robustness variable.
    pub qrv: u8,
    /// Querier's query interval.
    pub qqi: Duration,
    /// IGMP version of the query heard (1, 2 or 3; queries sent are 3).
    pub version: u8,
}

impl Query {
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

/// Encodes a value as an IGMPv3 8-bit code (max response code, QQIC).
fn encode_code(v: u128) -> u8 {
    if v < 128 {
        return v as u8;
    }
    for exp in 0u32..8 {
        let mant = (v >> (exp + 3)).saturating_sub(16);
        if mant < 16 {
            return 0x80 | ((exp as u8) << 4) | mant as u8;
        }
    }
    0xff
}

fn decode_code(c: u8) -> u64 {
    if c < 128 {
        u64::from(c)
    } else {
        (u64::from(c & 0x0f) | 0x10) << (((c >> 4) & 0x07) + 3)
    }
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
            let mut recs = Vec::with_capacity(n);
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

/// What the state machine asks its caller to do.
///
/// ```
/// use mgm_igmp::{encode_v2, IgmpAction, ALL_SYSTEMS};
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use mgm::Selector;
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// let acts = r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
/// assert!(matches!(&acts[..], [IgmpAction::Send { ifindex: 3, destination, .. }] if *destination == ALL_SYSTEMS));
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let host = Ipv4Addr::new(203, 0, 113, 2);
/// let acts = r.receive(3, host, &encode_v2(0x16, g), Duration::from_secs(1));
/// assert_eq!(acts, vec![IgmpAction::Join { ifindex: 3, selector: Selector::Group(g) }]);
/// assert_eq!(r.remove_interface(3), vec![IgmpAction::Leave { ifindex: 3, selector: Selector::Group(g) }]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgmpAction {
    /// Add this membership in the engine.
    Join {
        /// The interface (ifindex).
        ifindex: u32,
        /// What hosts there want.
        selector: Selector<Ipv4Addr>,
    },
    /// Delete this membership in the engine.
    Leave {
        /// The interface (ifindex).
        ifindex: u32,
        /// What nobody there wants any more.
        selector: Selector<Ipv4Addr>,
    },
    /// Send this query out of the interface.
    Send {
        /// The interface (ifindex).
        ifindex: u32,
        /// The IP destination.
        destination: Ipv4Addr,
        /// The query.
        query: Query,
    },
}

/// One group's state on one interface.
///
/// ```
/// use mgm_igmp::encode_v2;
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let now = Duration::from_secs(1);
/// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), now); // an IGMPv2 report
/// let gs = &r.interfaces()[&3].groups[&g];
/// let gmi = r.config().group_membership_interval();
/// assert_eq!(gs.group_timer, Some(now + gmi), "EXCLUDE mode");
/// assert!(gs.sources.is_empty());
/// assert_eq!(gs.old_host_until, Some(now + gmi), "an IGMPv2 host is on the link");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupState {
    /// EXCLUDE mode until this time; `None`: INCLUDE mode.
    pub group_timer: Option<Duration>,
    /// INCLUDE-mode sources and their timers.
    pub sources: BTreeMap<Ipv4Addr, Duration>,
    /// An IGMPv1/v2 host was heard; compatibility mode until this time.
    pub old_host_until: Option<Duration>,
    /// Group-specific queries still to send, and when the next one is due.
    gsq: Option<(u8, Duration)>,
    /// Group-and-source-specific queries still to send per source, and the next time.
    ssq: BTreeMap<Ipv4Addr, u8>,
    ssq_next: Option<Duration>,
    /// What the engine has been told.
    joined: BTreeSet<Selector<Ipv4Addr>>,
}

impl GroupState {
    fn wanted(&self, group: Ipv4Addr) -> BTreeSet<Selector<Ipv4Addr>> {
        if self.group_timer.is_some() {
            [Selector::Group(group)].into()
        } else {
            self.sources
                .keys()
                .map(|&source| Selector::Source { source, group })
                .collect()
        }
    }
    fn idle(&self) -> bool {
        self.group_timer.is_none()
            && self.sources.is_empty()
            && self.joined.is_empty()
            && self.gsq.is_none()
            && self.ssq.is_empty()
    }
}

/// One interface's state.
///
/// ```
/// use mgm_igmp::Query;
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// let me = Ipv4Addr::new(203, 0, 113, 5);
/// r.add_interface(3, me, Duration::ZERO);
/// let st = &r.interfaces()[&3];
/// assert!(st.querier && st.address == me);
/// assert_eq!(st.next_general_query, r.config().startup_query_interval(), "second startup query");
///
/// // A query from a lower address: that router becomes the querier.
/// let other = Ipv4Addr::new(203, 0, 113, 1);
/// let general = Query { group: Ipv4Addr::UNSPECIFIED, sources: vec![], max_response: Duration::from_secs(10),
///                       s_flag: false, qrv: 2, qqi: Duration::from_secs(125), version: 3 };
/// let now = Duration::from_secs(2);
/// r.receive(3, other, &general.encode(), now);
/// let st = &r.interfaces()[&3];
/// assert!(!st.querier);
/// assert_eq!(st.other_querier, Some(other));
/// assert_eq!(st.other_querier_until, Some(now + r.config().other_querier_present_interval()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceState {
    /// The router's address on it (its querier address).
    pub address: Ipv4Addr,
    /// True while this router is the querier.
    pub querier: bool,
    /// The querier heard, when another router is.
    pub other_querier: Option<Ipv4Addr>,
    /// When the other querier is considered gone.
    pub other_querier_until: Option<Duration>,
    /// When the next general query is due (as querier).
    pub next_general_query: Duration,
    startup_left: u8,
    /// Groups with state.
    pub groups: BTreeMap<Ipv4Addr, GroupState>,
}

/// The IGMP router side for every interface.
///
/// ```
/// use mgm_igmp::{encode_v2, IgmpAction};
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use mgm::Selector;
/// use std::{net::Ipv4Addr, time::Duration};
/// let secs = Duration::from_secs;
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), secs(0));
/// let (host, g) = (Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(239, 1, 2, 3));
///
/// // A host joins: the engine gets a (*,G) membership.
/// let acts = r.receive(3, host, &encode_v2(0x16, g), secs(1));
/// assert_eq!(acts, vec![IgmpAction::Join { ifindex: 3, selector: Selector::Group(g) }]);
///
/// // It leaves: a group-specific query at once, another a second later, then the leave.
/// let acts = r.receive(3, host, &encode_v2(0x17, g), secs(5));
/// assert!(matches!(&acts[..], [IgmpAction::Send { destination, query, .. }] if *destination == g && query.group == g));
/// assert!(matches!(&r.tick(secs(6))[..], [IgmpAction::Send { destination, .. }] if *destination == g));
/// assert_eq!(r.tick(secs(7)), vec![IgmpAction::Leave { ifindex: 3, selector: Selector::Group(g) }]);
/// assert!(r.memberships(3).is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct IgmpRouter {
    config: IgmpConfig,
    ifaces: BTreeMap<u32, InterfaceState>,
}

impl IgmpRouter {
    /// A router with no interfaces.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// let r = IgmpRouter::new(IgmpConfig { fast_leave: true, ..IgmpConfig::default() });
    /// assert!(r.interfaces().is_empty());
    /// assert_eq!(r.next_deadline(), None, "nothing to do without interfaces");
    /// ```
    pub fn new(config: IgmpConfig) -> Self {
        IgmpRouter {
            config,
            ifaces: BTreeMap::new(),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// let c = IgmpConfig { robustness: 3, ..IgmpConfig::default() };
    /// assert_eq!(IgmpRouter::new(c).config(), &c);
    /// ```
    pub fn config(&self) -> &IgmpConfig {
        &self.config
    }

    /// Every interface's state.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// r.add_interface(4, Ipv4Addr::new(192, 0, 2, 1), Duration::ZERO);
    /// assert_eq!(r.interfaces().keys().copied().collect::<Vec<_>>(), [3, 4]);
    /// assert_eq!(r.interfaces()[&4].address, Ipv4Addr::new(192, 0, 2, 1));
    /// ```
    pub fn interfaces(&self) -> &BTreeMap<u32, InterfaceState> {
        &self.ifaces
    }

    /// True when `a` is one of the router's own addresses (its looped-back packets).
    ///
    /// ```
    /// use mgm_igmp::encode_v2;
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// let me = Ipv4Addr::new(203, 0, 113, 1);
    /// r.add_interface(3, me, Duration::ZERO);
    /// assert!(r.is_own(me));
    /// assert!(!r.is_own(Ipv4Addr::new(203, 0, 113, 2)));
    /// // Its own packets, looped back, are ignored.
    /// assert!(r.receive(3, me, &encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1)).is_empty());
    /// ```
    pub fn is_own(&self, a: Ipv4Addr) -> bool {
        self.ifaces.values().any(|i| i.address == a)
    }

    /// Starts IGMP on an interface: the router is querier until it hears a lower address,
    /// and sends its startup general queries (the first at once).
    ///
    /// ```
    /// use mgm_igmp::{IgmpAction, ALL_SYSTEMS};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// let acts = r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// let [IgmpAction::Send { ifindex: 3, destination, query }] = &acts[..] else { panic!("{acts:?}") };
    /// assert_eq!(*destination, ALL_SYSTEMS);
    /// assert!(query.group.is_unspecified(), "a general query");
    /// assert_eq!((query.version, query.max_response), (3, Duration::from_secs(10)));
    /// ```
    pub fn add_interface(
        &mut self,
        ifindex: u32,
        address: Ipv4Addr,
        now: Duration,
    ) -> Vec<IgmpAction> {
        self.ifaces.insert(
            ifindex,
            InterfaceState {
                address,
                querier: true,
                other_querier: None,
                other_querier_until: None,
                next_general_query: now,
                startup_left: self.config.robustness,
                groups: BTreeMap::new(),
            },
        );
        self.tick(now)
    }

    /// Stops IGMP on an interface; returns the leaves of its memberships.
    ///
    /// ```
    /// use mgm_igmp::{encode_v3_report, GroupRecord, IgmpAction};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(232, 1, 1, 1));
    /// let allow = GroupRecord { kind: 5, group: g, sources: vec![s] };
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v3_report(&[allow]), Duration::from_secs(1));
    /// assert_eq!(r.remove_interface(3), vec![IgmpAction::Leave { ifindex: 3, selector: Selector::Source { source: s, group: g } }]);
    /// assert!(r.remove_interface(3).is_empty(), "already gone");
    /// ```
    pub fn remove_interface(&mut self, ifindex: u32) -> Vec<IgmpAction> {
        let Some(st) = self.ifaces.remove(&ifindex) else {
            return Vec::new();
        };
        st.groups
            .into_values()
            .flat_map(|g| g.joined)
            .map(|selector| IgmpAction::Leave { ifindex, selector })
            .collect()
    }

    /// The memberships the engine should have on an interface now.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, encode_v3_report, GroupRecord};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// let host = Ipv4Addr::new(203, 0, 113, 2);
    /// let (s, ssm) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(232, 1, 1, 1));
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// r.receive(3, host, &encode_v3_report(&[GroupRecord { kind: 1, group: ssm, sources: vec![s] }]), Duration::from_secs(1));
    /// r.receive(3, host, &encode_v2(0x16, g), Duration::from_secs(1));
    /// assert_eq!(r.memberships(3), vec![Selector::Source { source: s, group: ssm }, Selector::Group(g)]);
    /// assert!(r.memberships(9).is_empty(), "not an IGMP interface");
    /// ```
    pub fn memberships(&self, ifindex: u32) -> Vec<Selector<Ipv4Addr>> {
        self.ifaces.get(&ifindex).map_or(Vec::new(), |i| {
            i.groups
                .values()
                .flat_map(|g| g.joined.iter().copied())
                .collect()
        })
    }

    /// The earliest time [`IgmpRouter::tick`] has something to do.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// // The second startup general query is the next thing to do.
    /// let due = r.next_deadline().unwrap();
    /// assert_eq!(due, Duration::from_millis(31_250));
    /// assert!(r.tick(due - Duration::from_millis(1)).is_empty());
    /// assert_eq!(r.tick(due).len(), 1);
    /// ```
    pub fn next_deadline(&self) -> Option<Duration> {
        let mut d: Option<Duration> = None;
        let mut at = |t: Duration| d = Some(d.map_or(t, |x| x.min(t)));
        for i in self.ifaces.values() {
            if i.querier {
                at(i.next_general_query);
            }
            if let Some(t) = i.other_querier_until {
                at(t);
            }
            for g in i.groups.values() {
                g.group_timer.into_iter().for_each(&mut at);
                g.sources.values().copied().for_each(&mut at);
                g.gsq.iter().for_each(|(_, t)| at(*t));
                g.ssq_next.into_iter().for_each(&mut at);
                g.old_host_until.into_iter().for_each(&mut at);
            }
        }
        d
    }

    fn query(&self, group: Ipv4Addr, sources: Vec<Ipv4Addr>, s_flag: bool) -> Query {
        let general = group.is_unspecified();
        Query {
            group,
            sources,
            max_response: if general {
                self.config.query_response_interval
            } else {
                self.config.last_member_query_interval
            },
            s_flag,
            qrv: self.config.robustness,
            qqi: self.config.query_interval,
            version: 3,
        }
    }

    /// Handles one IGMP message heard on `ifindex` from `source`.
    ///
    /// ```
    /// use mgm_igmp::{encode_v3_report, GroupRecord, IgmpAction};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// let (host, g) = (Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(239, 1, 2, 3));
    /// let to_ex = encode_v3_report(&[GroupRecord { kind: 4, group: g, sources: vec![] }]);
    /// let acts = r.receive(3, host, &to_ex, Duration::from_secs(1));
    /// assert_eq!(acts, vec![IgmpAction::Join { ifindex: 3, selector: Selector::Group(g) }]);
    /// // Not an IGMP interface, or not a valid message: nothing happens.
    /// assert!(r.receive(9, host, &to_ex, Duration::from_secs(1)).is_empty());
    /// assert!(r.receive(3, host, &to_ex[..6], Duration::from_secs(1)).is_empty());
    /// ```
    pub fn receive(
        &mut self,
        ifindex: u32,
        source: Ipv4Addr,
        payload: &[u8],
        now: Duration,
    ) -> Vec<IgmpAction> {
        if self.is_own(source) || !self.ifaces.contains_key(&ifindex) {
            return Vec::new();
        }
        let Some(msg) = parse(payload) else {
            return Vec::new();
        };
        let cfg = self.config;
        let gmi = cfg.group_membership_interval();
        let mut out = Vec::new();
        match msg {
            Message::Query(q) => self.heard_query(ifindex, source, &q, now),
            Message::V1Report(g) | Message::V2Report(g) => {
                if let Some(gs) = self.group_mut(ifindex, g) {
                    gs.group_timer = Some(now + gmi);
                    gs.old_host_until = Some(now + gmi);
                }
            }
            Message::V2Leave(g) => self.leave(ifindex, g, now, &mut out),
            Message::V3Report(recs) => {
                for r in recs {
                    self.record(ifindex, &r, now, &mut out);
                }
            }
        }
        self.settle(ifindex, now, &mut out);
        out
    }

    fn group_mut(&mut self, ifindex: u32, g: Ipv4Addr) -> Option<&mut GroupState> {
        // 224.0.0.0/24 is link-local: never routed, never tracked.
        if !g.is_multicast() || g.octets()[..3] == [224, 0, 0] {
            return None;
        }
        Some(self.ifaces.get_mut(&ifindex)?.groups.entry(g).or_default())
    }

    fn heard_query(&mut self, ifindex: u32, source: Ipv4Addr, q: &Query, now: Duration) {
        let cfg = self.config;
        let lmqt = cfg.last_member_query_time();
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        if source < st.address && !source.is_unspecified() {
            st.querier = false;
            st.other_querier = Some(source);
            st.other_querier_until = Some(now + cfg.other_querier_present_interval());
            st.startup_left = 0;
        }
        // As non-querier, lower timers on the querier's specific queries (RFC 3376 6.6.1).
        if !st.querier && !q.group.is_unspecified() && !q.s_flag {
            if let Some(g) = st.groups.get_mut(&q.group) {
                if q.sources.is_empty() {
                    if let Some(t) = g.group_timer.as_mut() {
                        *t = (*t).min(now + lmqt);
                    }
                } else {
                    for s in &q.sources {
                        if let Some(t) = g.sources.get_mut(s) {
                            *t = (*t).min(now + lmqt);
                        }
                    }
                }
            }
        }
    }

    fn leave(&mut self, ifindex: u32, g: Ipv4Addr, now: Duration, out: &mut Vec<IgmpAction>) {
        let cfg = self.config;
        let querier = self.ifaces.get(&ifindex).is_some_and(|i| i.querier);
        let Some(gs) = self.group_mut(ifindex, g) else {
            return;
        };
        if gs.group_timer.is_none() {
            return;
        }
        if cfg.fast_leave {
            gs.group_timer = None;
            return;
        }
        if !querier {
            return;
        }
        let lmqt = cfg.last_member_query_time();
        gs.group_timer = gs.group_timer.map(|t| t.min(now + lmqt));
        if gs.gsq.is_none() {
            gs.gsq = Some((cfg.last_member_query_count, now));
        }
        let _ = out;
    }

    fn record(&mut self, ifindex: u32, r: &GroupRecord, now: Duration, out: &mut Vec<IgmpAction>) {
        let cfg = self.config;
        let gmi = cfg.group_membership_interval();
        let lmqt = cfg.last_member_query_time();
        let querier = self.ifaces.get(&ifindex).is_some_and(|i| i.querier);
        let Some(gs) = self.group_mut(ifindex, r.group) else {
            return;
        };
        let compat = gs.old_host_until.is_some_and(|t| t > now);
        let mut group_leave = false;
        match r.kind {
            1 | 5 => {
                for s in &r.sources {
                    gs.sources.insert(*s, now + gmi);
                    gs.ssq.remove(s);
                }
            }
            2 | 4 => gs.group_timer = Some(now + gmi),
            3 => {
                for s in &r.sources {
                    gs.sources.insert(*s, now + gmi);
                    gs.ssq.remove(s);
                }
                if gs.group_timer.is_some() {
                    group_leave = true;
                } else {
                    let gone: Vec<Ipv4Addr> = gs
                        .sources
                        .keys()
                        .filter(|s| !r.sources.contains(s))
                        .copied()
                        .collect();
                    Self::lower_sources(gs, &gone, &cfg, querier, now, lmqt);
                }
            }
            6 if !compat && gs.group_timer.is_none() => {
                let gone: Vec<Ipv4Addr> = r
                    .sources
                    .iter()
                    .filter(|s| gs.sources.contains_key(s))
                    .copied()
                    .collect();
                Self::lower_sources(gs, &gone, &cfg, querier, now, lmqt);
            }
            _ => {}
        }
        if group_leave {
            self.leave(ifindex, r.group, now, out);
        }
    }

    fn lower_sources(
        gs: &mut GroupState,
        gone: &[Ipv4Addr],
        cfg: &IgmpConfig,
        querier: bool,
        now: Duration,
        lmqt: Duration,
    ) {
        for s in gone {
            if cfg.fast_leave {
                gs.sources.remove(s);
            } else if querier {
                if let Some(t) = gs.sources.get_mut(s) {
                    *t = (*t).min(now + lmqt);
                }
                gs.ssq.insert(*s, cfg.last_member_query_count);
                gs.ssq_next = Some(now);
            }
        }
    }

    /// Sends due queries, expires timers, and reports membership changes.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpAction, ALL_SYSTEMS};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO);
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::ZERO);
    /// // The startup queries: every 31.25 s, then every 125 s.
    /// assert!(matches!(&r.tick(Duration::from_millis(31_250))[..], [IgmpAction::Send { destination, .. }] if *destination == ALL_SYSTEMS));
    /// // Nobody answered: the membership ends after the group membership interval (260 s).
    /// let gmi = r.config().group_membership_interval();
    /// assert!(r.tick(gmi - Duration::from_millis(1)).iter().all(|a| !matches!(a, IgmpAction::Leave { .. })));
    /// assert!(r.tick(gmi).contains(&IgmpAction::Leave { ifindex: 3, selector: Selector::Group(g) }));
    /// ```
    pub fn tick(&mut self, now: Duration) -> Vec<IgmpAction> {
        let mut out = Vec::new();
        let ids: Vec<u32> = self.ifaces.keys().copied().collect();
        for i in ids {
            self.settle(i, now, &mut out);
        }
        out
    }

    /// Runs the timers of one interface and turns group state into engine actions.
    fn settle(&mut self, ifindex: u32, now: Duration, out: &mut Vec<IgmpAction>) {
        let cfg = self.config;
        let lmqt = cfg.last_member_query_time();
        let general = self.query(Ipv4Addr::UNSPECIFIED, Vec::new(), false);
        let mut sends: Vec<(Ipv4Addr, QuerySpec)> = Vec::new();
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        if !st.querier && st.other_querier_until.is_some_and(|t| t <= now) {
            st.querier = true;
            st.other_querier = None;
            st.other_querier_until = None;
            st.next_general_query = now;
        }
        if st.querier && st.next_general_query <= now {
            sends.push((ALL_SYSTEMS, general.into()));
            if st.startup_left > 1 {
                st.startup_left -= 1;
                st.next_general_query = now + cfg.startup_query_interval();
            } else {
                st.startup_left = 0;
                st.next_general_query = now + cfg.query_interval;
            }
        }
        let querier = st.querier;
        let mut changes = Vec::new();
        for (&g, gs) in st.groups.iter_mut() {
            if let Some((left, at)) = gs.gsq {
                if at <= now {
                    if querier && left > 0 {
                        let s_flag = gs.group_timer.is_some_and(|t| t > now + lmqt);
                        sends.push((g, (g, Vec::new(), s_flag).into()));
                    }
                    gs.gsq = (left > 1 && querier)
                        .then(|| (left - 1, now + cfg.last_member_query_interval));
                }
            }
            if gs.ssq_next.is_some_and(|t| t <= now) {
                let srcs: Vec<Ipv4Addr> = gs.ssq.keys().copied().collect();
                if querier && !srcs.is_empty() {
                    sends.push((g, (g, srcs, false).into()));
                }
                gs.ssq.retain(|_, n| {
                    *n = n.saturating_sub(1);
                    *n > 0
                });
                gs.ssq_next = (!gs.ssq.is_empty()).then(|| now + cfg.last_member_query_interval);
            }
            if gs.group_timer.is_some_and(|t| t <= now) {
                gs.group_timer = None;
                gs.gsq = None;
            }
            gs.sources.retain(|_, t| *t > now);
            gs.ssq.retain(|s, _| gs.sources.contains_key(s));
            if gs.old_host_until.is_some_and(|t| t <= now) {
                gs.old_host_until = None;
            }
            let wanted = gs.wanted(g);
            for sel in gs.joined.difference(&wanted) {
                changes.push(IgmpAction::Leave {
                    ifindex,
                    selector: *sel,
                });
            }
            for sel in wanted.difference(&gs.joined) {
                changes.push(IgmpAction::Join {
                    ifindex,
                    selector: *sel,
                });
            }
            gs.joined = wanted;
        }
        st.groups.retain(|_, gs| !gs.idle());
        for (dst, q) in sends {
            let query = match q {
                QuerySpec::General(q) => q,
                QuerySpec::Specific(g, srcs, s) => self.query(g, srcs, s),
            };
            out.push(IgmpAction::Send {
                ifindex,
                destination: dst,
                query,
            });
        }
        out.extend(changes);
    }
}

enum QuerySpec {
    General(Query),
    Specific(Ipv4Addr, Vec<Ipv4Addr>, bool),
}

impl From<Query> for QuerySpec {
    fn from(q: Query) -> Self {
        QuerySpec::General(q)
    }
}

impl From<(Ipv4Addr, Vec<Ipv4Addr>, bool)> for QuerySpec {
    fn from((g, s, f): (Ipv4Addr, Vec<Ipv4Addr>, bool)) -> Self {
        QuerySpec::Specific(g, s, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IF: u32 = 3;
    const ME: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
    const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }
    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }
    fn rec(kind: u8, group: Ipv4Addr, sources: &[Ipv4Addr]) -> Vec<u8> {
        encode_v3_report(&[GroupRecord {
            kind,
            group,
            sources: sources.to_vec(),
        }])
    }
    fn joins(a: &[IgmpAction]) -> Vec<Selector<Ipv4Addr>> {
        a.iter()
            .filter_map(|x| match x {
                IgmpAction::Join { selector, .. } => Some(*selector),
                _ => None,
            })
            .collect()
    }
    fn leaves(a: &[IgmpAction]) -> Vec<Selector<Ipv4Addr>> {
        a.iter()
            .filter_map(|x| match x {
                IgmpAction::Leave { selector, .. } => Some(*selector),
                _ => None,
            })
            .collect()
    }
    fn queries(a: &[IgmpAction]) -> Vec<(Ipv4Addr, Query)> {
        a.iter()
            .filter_map(|x| match x {
                IgmpAction::Send {
                    destination, query, ..
                } => Some((*destination, query.clone())),
                _ => None,
            })
            .collect()
    }
    /// Runs the machine from `from` to `to` in 100 ms steps, collecting actions with times.
    fn run(r: &mut IgmpRouter, from: Duration, to: Duration) -> Vec<(Duration, IgmpAction)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            out.extend(r.tick(t).into_iter().map(|a| (t, a)));
            t += ms(100);
        }
        out
    }
    fn started(cfg: IgmpConfig) -> IgmpRouter {
        let mut r = IgmpRouter::new(cfg);
        let a = r.add_interface(IF, ME, Duration::ZERO);
        let q = queries(&a);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].0, ALL_SYSTEMS);
        assert!(q[0].1.encode().len() >= 12, "IGMPv3 format");
        r
    }

    #[test]
    fn join_then_leave_takes_effect_within_last_member_query_time() {
        let mut r = started(IgmpConfig::default());
        let a = r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
        assert_eq!(joins(&a), vec![Selector::Group(G)]);
        let a = r.receive(IF, HOST, &rec(3, G, &[]), secs(5));
        let q = queries(&a);
        assert_eq!(q.len(), 1, "group-specific query at once");
        assert_eq!((q[0].0, q[0].1.group, q[0].1.max_response), (G, G, secs(1)));
        assert!(leaves(&a).is_empty());
        let later = run(&mut r, secs(5) + ms(100), secs(8));
        let gsq: Vec<_> = later
            .iter()
            .filter(|(_, a)| matches!(a, IgmpAction::Send { destination, .. } if *destination == G))
            .collect();
        assert_eq!(gsq.len(), 1, "one retransmission (count 2)");
        let left: Vec<_> = later
            .iter()
            .filter(|(_, a)| matches!(a, IgmpAction::Leave { .. }))
            .collect();
        assert_eq!(left.len(), 1);
        assert!(left[0].0 <= secs(7), "left at {:?}", left[0].0);
        assert!(r.memberships(IF).is_empty());
    }

    #[test]
    fn a_member_answering_the_query_is_kept() {
        let mut r = started(IgmpConfig::default());
        r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
        r.receive(IF, HOST, &rec(3, G, &[]), secs(5));
        // Another host on the link answers the group-specific query.
        let other = Ipv4Addr::new(203, 0, 113, 3);
        r.receive(IF, other, &rec(2, G, &[]), secs(5) + ms(400));
        let later = run(&mut r, secs(5) + ms(500), secs(20));
        assert!(later
            .iter()
            .all(|(_, a)| !matches!(a, IgmpAction::Leave { .. })));
        assert_eq!(r.memberships(IF), vec![Selector::Group(G)]);
    }

    #[test]
    fn general_queries_and_answers_keep_members_forever() {
        let mut r = started(IgmpConfig::default());
        r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
        let mut t = secs(1);
        let mut general = 0;
        let mut last_report = t;
        while t < secs(1000) {
            t += ms(500);
            for a in r.tick(t) {
                match a {
                    IgmpAction::Send { query, .. } if query.group.is_unspecified() => {
                        general += 1;
                        // The host answers within the response interval.
                        let acts = r.receive(IF, HOST, &rec(2, G, &[]), t + secs(3));
                        assert!(leaves(&acts).is_empty());
                        last_report = t + secs(3);
                    }
                    IgmpAction::Leave { .. } => panic!("aged out a member at {t:?}"),
                    _ => {}
                }
            }
        }
        assert!(
            general >= 8,
            "startup queries then one per 125 s: {general}"
        );
        // Silence: the membership goes after the group membership interval (260 s).
        let mut left_at = None;
        while t < secs(1400) && left_at.is_none() {
            t += ms(500);
            if !leaves(&r.tick(t)).is_empty() {
                left_at = Some(t);
            }
        }
        let left_at = left_at.expect("aged out");
        let gmi = secs(260);
        assert!(left_at >= last_report + gmi && left_at <= last_report + gmi + secs(1));
    }

    #[test]
    fn querier_election_by_lowest_address() {
        let mut r = started(IgmpConfig::default());
        let lower = Ipv4Addr::new(203, 0, 113, 0);
        let q = Query {
            group: Ipv4Addr::UNSPECIFIED,
            sources: vec![],
            max_response: secs(10),
            s_flag: false,
            qrv: 2,
            qqi: secs(125),
            version: 3,
        };
        // A higher address does not win.
        r.receive(IF, Ipv4Addr::new(203, 0, 113, 9), &q.encode(), secs(1));
        assert!(r.interfaces()[&IF].querier);
        r.receive(IF, lower, &q.encode(), secs(2));
        assert!(!r.interfaces()[&IF].querier);
        let quiet = run(&mut r, secs(2), secs(200));
        assert!(queries(&quiet.iter().map(|x| x.1.clone()).collect::<Vec<_>>()).is_empty());
        // The other querier goes silent: after 255 s this router queries again.
        let back = run(&mut r, secs(200), secs(260));
        let sent: Vec<_> = back
            .iter()
            .filter(|(_, a)| matches!(a, IgmpAction::Send { .. }))
            .collect();
        assert_eq!(sent.len(), 1);
        assert!(sent[0].0 >= secs(257) && sent[0].0 <= secs(258));
        assert!(r.interfaces()[&IF].querier);
    }

    #[test]
    fn fast_leave_acts_at_once() {
        let mut r = started(IgmpConfig {
            fast_leave: true,
            ..IgmpConfig::default()
        });
        r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
        let a = r.receive(IF, HOST, &rec(3, G, &[]), secs(2));
        assert_eq!(leaves(&a), vec![Selector::Group(G)]);
        assert!(queries(&a).is_empty());
    }

    #[test]
    fn igmpv2_reports_and_leaves() {
        let mut r = started(IgmpConfig::default());
        let a = r.receive(IF, HOST, &encode_v2(0x16, G), secs(1));
        assert_eq!(joins(&a), vec![Selector::Group(G)]);
        // Link-local groups are not tracked.
        assert!(r
            .receive(
                IF,
                HOST,
                &encode_v2(0x16, Ipv4Addr::new(224, 0, 0, 251)),
                secs(1)
            )
            .is_empty());
        let a = r.receive(IF, HOST, &encode_v2(0x17, G), secs(3));
        assert_eq!(queries(&a).len(), 1);
        let later = run(&mut r, secs(3), secs(6));
        assert_eq!(
            later
                .iter()
                .filter(|(_, a)| matches!(a, IgmpAction::Leave { .. }))
                .count(),
            1
        );
    }

    #[test]
    fn own_and_corrupt_packets_are_ignored() {
        let mut r = started(IgmpConfig::default());
        assert!(r.receive(IF, ME, &rec(4, G, &[]), secs(1)).is_empty());
        let mut bad = rec(4, G, &[]);
        bad[2] ^= 1;
        assert!(r.receive(IF, HOST, &bad, secs(1)).is_empty());
        assert!(r.memberships(IF).is_empty());
    }

    #[test]
    fn source_specific_memberships() {
        let mut r = started(IgmpConfig::default());
        let a = r.receive(IF, HOST, &rec(5, G, &[S]), secs(1));
        assert_eq!(
            joins(&a),
            vec![Selector::Source {
                source: S,
                group: G
            }]
        );
        let a = r.receive(IF, HOST, &rec(6, G, &[S]), secs(2));
        let q = queries(&a);
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].1.sources, vec![S], "group-and-source-specific query");
        let later = run(&mut r, secs(2), secs(5));
        assert_eq!(
            later
                .iter()
                .filter(|(_, a)| matches!(a, IgmpAction::Leave { .. }))
                .count(),
            1
        );
        // EXCLUDE overrides INCLUDE sources: (*,G).
        r.receive(IF, HOST, &rec(1, G, &[S]), secs(6));
        let a = r.receive(IF, HOST, &rec(4, G, &[]), secs(7));
        assert_eq!(joins(&a), vec![Selector::Group(G)]);
        assert_eq!(leaves(&a).len(), 1);
    }

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
