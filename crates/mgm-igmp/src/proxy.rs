//! The host side of an IGMP/MLD proxy (RFC 4605, "IGMP/MLD-based forwarding"): what a proxy
//! runs on its one upstream interface, as a pure state machine like [`crate::Router`]:
//! downstream memberships, packets and time in, packets to send out ([`HostAction`]).
//!
//! Downstream the proxy is a router ([`crate::Router`] on each downstream interface). Its
//! caller gives [`ProxyHost`] each downstream interface's memberships
//! ([`ProxyHost::set_downstream`], or [`ProxyHost::set_downstream_selectors`] with what
//! [`crate::Router::memberships`] returns); the host merges them (RFC 4605 section 4.1, with
//! RFC 3376 section 3.2's rules, [`SourceFilter::merge`]) into the membership it holds
//! upstream, and tells the upstream querier about it as a host does (RFC 3376 section 5,
//! RFC 3810 section 6, RFC 2236 section 3, RFC 2710 section 4):
//!
//! * a change is reported at once, in a state-change report (`ALLOW`/`BLOCK` for a source
//!   list change, `TO_IN`/`TO_EX` for a filter mode change; when the last member goes,
//!   `TO_IN {}` for an EXCLUDE group and a `BLOCK` of its sources for an INCLUDE one), then
//!   [`ProxyConfig::robustness`] − 1 more times at random intervals up to
//!   [`ProxyConfig::unsolicited_report_interval`]; changes made meanwhile merge into the
//!   pending report (RFC 3376 5.1);
//! * queries are answered after a random delay up to their maximum response time: general
//!   queries with the current state of every group, group-specific and
//!   group-and-source-specific ones for that group (and those sources) only (RFC 3376 5.2);
//! * an older querier upstream (an IGMPv1 or IGMPv2 query, an MLDv1 query) puts the host in
//!   the older version's compatibility mode for the older version querier present timeout
//!   (RFC 3376 7.2.1, RFC 3810 8.2.1): it then sends v1/v2 (MLDv1) reports, and a v2 leave
//!   (MLDv1 done) when the last member goes; pending reports and answers are cancelled when
//!   the mode changes;
//! * reports of other hosts heard upstream do not suppress the proxy's own (a router with
//!   explicit tracking and fast leave would otherwise drop the group when that other host
//!   leaves).
//!
//! Every call that takes the time also sends what is due by then, as [`ProxyHost::tick`]
//! does, so that after any of them [`ProxyHost::next_deadline`] is later than `now`.
//!
//! Nothing ages out here: the upstream membership is exactly the union of what the caller
//! last gave for each downstream interface. The downstream side is untouched: the host never
//! sends a query and never changes a downstream host's version.
//!
//! ```
//! use mgm_igmp::{HostMessage, IgmpProxyHost, ProxyConfig, SourceFilter, IGMPV3_ROUTERS};
//! use std::{net::Ipv4Addr, time::Duration};
//! let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
//! let g = Ipv4Addr::new(239, 1, 2, 3);
//! // A host joined g on downstream interface 5: the upstream hears a TO_EX {} at once.
//! let acts = p.set_downstream(5, [(g, SourceFilter::exclude([]))], Duration::ZERO);
//! assert_eq!(acts.len(), 1);
//! assert_eq!((acts[0].ifindex, acts[0].destination), (2, IGMPV3_ROUTERS));
//! let HostMessage::Report(records) = &acts[0].message else { panic!() };
//! assert_eq!((records[0].kind, records[0].group), (4, g));
//! // The robustness retransmission follows within the unsolicited report interval (1 s).
//! let due = p.next_deadline().unwrap();
//! assert!(due <= Duration::from_secs(1));
//! assert_eq!(p.tick(due).len(), 1);
//! assert_eq!(p.next_deadline(), None, "nothing more to send until a query or a change");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mgm::{Family, Selector};

use crate::input::{Heard, IgmpCounters, InputPolicy};
use crate::proto::{Igmp, Mld, Protocol, Received};
use crate::router::admit;
use crate::{GroupRecord, IgmpConfig, Query};

/// Record types (RFC 3376 4.2.12), the same numbers in MLDv2.
const IS_IN: u8 = 1;
const IS_EX: u8 = 2;
const TO_IN: u8 = 3;
const TO_EX: u8 = 4;
const ALLOW: u8 = 5;
const BLOCK: u8 = 6;

/// An IGMPv1 query's maximum response time, which the query does not carry (RFC 1112).
const V1_MAX_RESPONSE: Duration = Duration::from_secs(10);

/// The filter mode of a membership (RFC 3376 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilterMode {
    /// Traffic from the listed sources only.
    Include,
    /// Traffic from every source but the listed ones.
    Exclude,
}

/// A membership of one group: a filter mode and a source list (RFC 3376 section 3).
/// `INCLUDE {}` is no membership at all.
///
/// ```
/// use mgm_igmp::{FilterMode, SourceFilter};
/// use std::net::Ipv4Addr;
/// let s = Ipv4Addr::new(198, 51, 100, 2);
/// let f = SourceFilter::include([s]);
/// assert_eq!(f.mode, FilterMode::Include);
/// assert!(f.admits(s) && !f.admits(Ipv4Addr::new(198, 51, 100, 3)));
/// assert!(SourceFilter::exclude([s]).admits(Ipv4Addr::new(198, 51, 100, 3)));
/// assert!(SourceFilter::<Ipv4Addr>::default().is_empty(), "INCLUDE {{}}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFilter<A> {
    /// INCLUDE or EXCLUDE.
    pub mode: FilterMode,
    /// The sources included or excluded.
    pub sources: BTreeSet<A>,
}

// Not derived: the addresses have no default, and none is needed.
impl<A> Default for SourceFilter<A> {
    /// `INCLUDE {}`: not a member.
    fn default() -> Self {
        SourceFilter {
            mode: FilterMode::Include,
            sources: BTreeSet::new(),
        }
    }
}

impl<A: Family> SourceFilter<A> {
    /// `INCLUDE {sources}`.
    pub fn include(sources: impl IntoIterator<Item = A>) -> Self {
        SourceFilter {
            mode: FilterMode::Include,
            sources: sources.into_iter().collect(),
        }
    }

    /// `EXCLUDE {sources}` (`EXCLUDE {}`: every source, an IGMPv2 or MLDv1 join).
    pub fn exclude(sources: impl IntoIterator<Item = A>) -> Self {
        SourceFilter {
            mode: FilterMode::Exclude,
            sources: sources.into_iter().collect(),
        }
    }

    /// True for `INCLUDE {}`: no membership.
    pub fn is_empty(&self) -> bool {
        self.mode == FilterMode::Include && self.sources.is_empty()
    }

    /// True when traffic from `source` is wanted.
    pub fn admits(&self, source: A) -> bool {
        self.sources.contains(&source) == (self.mode == FilterMode::Include)
    }

    /// The merge of several memberships of one group (RFC 3376 section 3.2, which RFC 4605
    /// section 4.1 applies to a proxy's downstream interfaces): EXCLUDE when any is, with the
    /// sources every EXCLUDE member excludes and no INCLUDE member includes; else INCLUDE
    /// with every source any member includes. What it admits is what any of them admits.
    ///
    /// ```
    /// use mgm_igmp::SourceFilter;
    /// use std::net::Ipv4Addr;
    /// let (a, b, c) = (Ipv4Addr::new(198, 51, 100, 1), Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(198, 51, 100, 3));
    /// let m = SourceFilter::merge([&SourceFilter::include([a]), &SourceFilter::include([b])]);
    /// assert_eq!(m, SourceFilter::include([a, b]));
    /// let m = SourceFilter::merge([&SourceFilter::exclude([a, b]), &SourceFilter::exclude([b, c]), &SourceFilter::include([b])]);
    /// assert_eq!(m, SourceFilter::exclude([]), "b is included by one, a and c by the other excluder");
    /// assert!(SourceFilter::<Ipv4Addr>::merge([]).is_empty());
    /// ```
    pub fn merge<'a>(filters: impl IntoIterator<Item = &'a SourceFilter<A>>) -> Self {
        let mut excluded: Option<BTreeSet<A>> = None;
        let mut included = BTreeSet::new();
        for f in filters {
            match f.mode {
                FilterMode::Include => included.extend(f.sources.iter().copied()),
                FilterMode::Exclude => {
                    excluded = Some(match excluded {
                        None => f.sources.clone(),
                        Some(e) => e.intersection(&f.sources).copied().collect(),
                    });
                }
            }
        }
        match excluded {
            Some(e) => SourceFilter::exclude(e.difference(&included).copied()),
            None => SourceFilter::include(included),
        }
    }
}

/// The host side's timers, counts and limits. The defaults are the RFCs': robustness 2, query
/// interval 125 s and query response interval 10 s (which make the older version querier
/// present timeout, 260 s), unsolicited report interval 1 s (RFC 3376 8.11, RFC 3810 9.11),
/// MTU 1,500 bytes, TTL 1 and Router Alert required on queries.
///
/// ```
/// use mgm_igmp::{IgmpConfig, ProxyConfig};
/// use std::time::Duration;
/// let c = ProxyConfig::default();
/// assert_eq!(c.older_querier_present_timeout(), Duration::from_secs(260));
/// // From the router's configuration: the same robustness and intervals.
/// let r = IgmpConfig { robustness: 3, ..IgmpConfig::default() };
/// assert_eq!(ProxyConfig::from(&r).robustness, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Robustness variable: how many times each state-change report is sent (2; 0 counts as
    /// 1).
    pub robustness: u8,
    /// Query interval, for the older version querier present timeout (125 s).
    pub query_interval: Duration,
    /// Query response interval, for the older version querier present timeout (10 s).
    pub query_response_interval: Duration,
    /// The longest wait before a state-change report or an IGMPv1/v2 (MLDv1) join is sent
    /// again (1 s; the wait is at least a microsecond, whatever this says).
    pub unsolicited_report_interval: Duration,
    /// The upstream link's MTU: IGMPv3 and MLDv2 reports are split to fit it, IP header
    /// included (1,500; raised to [`Protocol::MIN_MTU`] when lower).
    pub mtu: usize,
    /// The IP header checks of queries heard upstream.
    pub input: InputPolicy,
    /// Seed of the random delays (answers to queries, retransmissions): any value, the same
    /// seed giving the same delays (0 is replaced by a fixed nonzero seed).
    pub seed: u64,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig::from(&IgmpConfig::default())
    }
}

impl From<&IgmpConfig> for ProxyConfig {
    /// The router's robustness, intervals and input policy; the defaults for the rest.
    fn from(c: &IgmpConfig) -> Self {
        ProxyConfig {
            robustness: c.robustness,
            query_interval: c.query_interval,
            query_response_interval: c.query_response_interval,
            unsolicited_report_interval: Duration::from_secs(1),
            mtu: 1500,
            input: c.input,
            seed: 1,
        }
    }
}

impl ProxyConfig {
    /// How long the host stays in an older version's compatibility mode after that
    /// version's last query: robustness × query interval + query response interval
    /// (RFC 3376 8.12, RFC 3810 9.12), saturating.
    pub fn older_querier_present_timeout(&self) -> Duration {
        self.query_interval
            .checked_mul(u32::from(self.robustness))
            .and_then(|d| d.checked_add(self.query_response_interval))
            .unwrap_or(Duration::MAX)
    }

    /// The robustness variable as a transmission count: at least 1.
    fn transmissions(&self) -> u8 {
        self.robustness.max(1)
    }
}

/// A message the host side sends upstream.
///
/// ```
/// use mgm_igmp::{parse, HostMessage, Igmp, Message, Protocol};
/// use std::net::Ipv4Addr;
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let bytes = Igmp::encode_host(&HostMessage::OldReport { version: 2, group: g });
/// assert_eq!(parse(&bytes), Some(Message::V2Report(g)));
/// let bytes = Igmp::encode_host(&HostMessage::Leave(g));
/// assert_eq!(parse(&bytes), Some(Message::V2Leave(g)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMessage<A> {
    /// An IGMPv3 (type 0x22) or MLDv2 (type 143) report with these records.
    Report(Vec<GroupRecord<A>>),
    /// An IGMPv1/v2 or MLDv1 report of `group`: `version` is the querier's (IGMP 1 or 2,
    /// MLD 1).
    OldReport {
        /// The version of the report: IGMP 1 (type 0x12) or 2 (0x16); MLD 1 (131).
        version: u8,
        /// The group.
        group: A,
    },
    /// An IGMPv2 leave (0x17) or MLDv1 done (132) of the group.
    Leave(A),
}

/// A packet to send out of the upstream interface, with TTL (hop limit) 1 and Router Alert,
/// from the host's address ([`ProxyHost::address`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostAction<A> {
    /// The upstream interface (ifindex).
    pub ifindex: u32,
    /// The IP destination: 224.0.0.22 or ff02::16 for a v3/MLDv2 report, the group for an
    /// older report, 224.0.0.2 or ff02::2 for a leave or done.
    pub destination: A,
    /// What is sent.
    pub message: HostMessage<A>,
    /// The message's bytes ([`Protocol::encode_host`]): IGMP checksummed, MLD with a zero
    /// checksum for the kernel to fill.
    pub payload: Vec<u8>,
}

/// The host's compatibility mode (RFC 3376 7.2.1): which version it speaks upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    /// IGMPv3 or MLDv2.
    Current,
    /// IGMPv2 or MLDv1.
    Older,
    /// IGMPv1.
    Oldest,
}

/// What is still to be sent of one group's state changes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending<A> {
    /// Filter-mode-change records (`TO_IN`/`TO_EX`) still to send.
    mode_left: u8,
    /// Sources still to send in `ALLOW` records, and how many times.
    allow: BTreeMap<A, u8>,
    /// Sources still to send in `BLOCK` records, and how many times.
    block: BTreeMap<A, u8>,
    /// IGMPv1/v2 (MLDv1) joins still to send.
    old_left: u8,
}

impl<A> Pending<A> {
    fn new() -> Self {
        Pending {
            mode_left: 0,
            allow: BTreeMap::new(),
            block: BTreeMap::new(),
            old_left: 0,
        }
    }
    fn done(&self) -> bool {
        self.mode_left == 0 && self.allow.is_empty() && self.block.is_empty() && self.old_left == 0
    }
}

/// An answer to a group-specific (`sources` `None`) or group-and-source-specific query,
/// due at `due`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Response<A> {
    due: Duration,
    sources: Option<BTreeSet<A>>,
}

/// xorshift64*: small, fast, seedable; the delays only need to spread, not to be secret.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A delay in [0, max], in microseconds.
    fn upto(&mut self, max: Duration) -> Duration {
        let us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX - 1);
        if us == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.next() % (us.min(u64::MAX - 1) + 1))
    }
    /// A delay in (0, max], at least a microsecond: what it delays is never due at once.
    fn within(&mut self, max: Duration) -> Duration {
        let step = Duration::from_micros(1);
        if max <= step {
            return step;
        }
        self.upto(max - step) + step
    }
}

/// A router's membership as a group record of the host side: a `(*,G)` is `EXCLUDE {}`, an
/// `(S,G)` `INCLUDE {S}`; a `(*,*)`, which no group record can say, is none.
fn record_of<A: Family>(sel: &Selector<A>) -> Option<(A, SourceFilter<A>)> {
    match *sel {
        Selector::Group(g) => Some((g, SourceFilter::exclude([]))),
        Selector::Source { source, group } => Some((group, SourceFilter::include([source]))),
        Selector::AllGroups => None,
    }
}

/// The host side of a proxy on its upstream interface, for IGMP ([`IgmpProxyHost`]) or MLD
/// ([`MldProxyHost`]); see the [module documentation](crate::proxy).
///
/// ```
/// use mgm_igmp::{HostMessage, IgmpProxyHost, ProxyConfig, Query, SourceFilter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let secs = Duration::from_secs;
/// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// p.set_downstream(5, [(g, SourceFilter::exclude([]))], secs(0));
/// p.tick(secs(1));
///
/// // The upstream querier asks: the answer comes within its maximum response time.
/// let general = Query { group: Ipv4Addr::UNSPECIFIED, sources: vec![], max_response: secs(10),
///                       s_flag: false, qrv: 2, qqi: secs(125), version: 3 };
/// assert!(p.receive(Ipv4Addr::new(198, 51, 100, 1), &general.encode(), secs(100)).len() <= 1);
/// let due = p.next_deadline().unwrap();
/// assert!(due <= secs(110));
/// let acts = p.tick(due);
/// let [a] = &acts[..] else { panic!("{acts:?}") };
/// let HostMessage::Report(records) = &a.message else { panic!() };
/// assert_eq!((records[0].kind, records[0].group), (2, g), "IS_EX {{}}");
///
/// // The last downstream member goes: TO_IN {} at once.
/// let acts = p.set_downstream(5, [], secs(200));
/// let HostMessage::Report(records) = &acts[0].message else { panic!() };
/// assert_eq!((records[0].kind, records[0].group), (3, g));
/// ```
#[derive(Clone, Debug)]
pub struct ProxyHost<P: Protocol> {
    config: ProxyConfig,
    ifindex: u32,
    address: P::Addr,
    /// What each downstream interface holds (no `INCLUDE {}` entries, no empty interfaces).
    downstream: BTreeMap<u32, BTreeMap<P::Addr, SourceFilter<P::Addr>>>,
    /// The union, as the upstream is told it (no `INCLUDE {}` entries).
    state: BTreeMap<P::Addr, SourceFilter<P::Addr>>,
    /// State changes still to send, per group (none done).
    pending: BTreeMap<P::Addr, Pending<P::Addr>>,
    /// When the pending changes are sent again; set exactly while some are pending.
    retransmit_at: Option<Duration>,
    /// When the answer to a general query is due (IGMPv3 / MLDv2 mode only).
    general_at: Option<Duration>,
    /// Answers due per group: to group(-and-source)-specific queries, and in the older
    /// modes to every query.
    responses: BTreeMap<P::Addr, Response<P::Addr>>,
    /// The same answers by due time.
    response_index: BTreeSet<(Duration, P::Addr)>,
    /// IGMPv1 compatibility mode until then.
    oldest_until: Option<Duration>,
    /// IGMPv2 / MLDv1 compatibility mode until then.
    older_until: Option<Duration>,
    /// The last querier heard, and its query's version.
    querier: Option<(P::Addr, u8)>,
    rng: Rng,
    counters: IgmpCounters,
}

/// The host side of an IGMP proxy (IPv4).
pub type IgmpProxyHost = ProxyHost<Igmp>;
/// The host side of an MLD proxy (IPv6): the same state machine as [`IgmpProxyHost`], with
/// MLD's messages. Its address is its link-local address upstream, what it hears the ICMPv6
/// message from its type byte.
///
/// ```
/// use mgm_igmp::{mld, HostMessage, MldProxyHost, ProxyConfig, SourceFilter};
/// use std::{net::Ipv6Addr, time::Duration};
/// let me: Ipv6Addr = "fe80::9".parse().unwrap();
/// let mut p = MldProxyHost::new(ProxyConfig::default(), 2, me);
/// let (g, s): (Ipv6Addr, Ipv6Addr) = ("ff3e::8000:1".parse().unwrap(), "2001:db8::2".parse().unwrap());
/// let acts = p.set_downstream(5, [(g, SourceFilter::include([s]))], Duration::ZERO);
/// assert_eq!(acts[0].destination, mld::MLDV2_ROUTERS);
/// assert_eq!(acts[0].payload[0], mld::V2_REPORT);
/// let HostMessage::Report(records) = &acts[0].message else { panic!() };
/// assert_eq!((records[0].kind, records[0].sources.clone()), (5, vec![s]), "ALLOW {{s}}");
/// ```
pub type MldProxyHost = ProxyHost<Mld>;

impl<P: Protocol> ProxyHost<P> {
    /// A host side on the upstream interface `upstream_ifindex`, where the proxy's address
    /// is `address` (IPv4: its address on the upstream link; IPv6: its link-local address
    /// there). No membership yet, in IGMPv3 (MLDv2) mode.
    pub fn new(config: ProxyConfig, upstream_ifindex: u32, address: P::Addr) -> Self {
        ProxyHost {
            config,
            ifindex: upstream_ifindex,
            address,
            downstream: BTreeMap::new(),
            state: BTreeMap::new(),
            pending: BTreeMap::new(),
            retransmit_at: None,
            general_at: None,
            responses: BTreeMap::new(),
            response_index: BTreeSet::new(),
            oldest_until: None,
            older_until: None,
            querier: None,
            rng: Rng::new(config.seed),
            counters: IgmpCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Replaces the configuration (a daemon's reload): timers running keep their
    /// deadlines; the seed is not taken again.
    pub fn set_config(&mut self, config: ProxyConfig) {
        self.config = config;
    }

    /// The upstream interface (ifindex).
    pub fn upstream_ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Moves the host side to another upstream ifindex (the same link, created again):
    /// later packets go out of `ifindex`; the state stays.
    pub fn set_upstream_ifindex(&mut self, ifindex: u32) {
        self.ifindex = ifindex;
    }

    /// The proxy's address upstream: the source of what it sends, and what it ignores when
    /// looped back.
    pub fn address(&self) -> P::Addr {
        self.address
    }

    /// Gives the proxy a new address upstream.
    pub fn set_address(&mut self, address: P::Addr) {
        self.address = address;
    }

    /// The input counters of the upstream interface (see [`IgmpCounters`]; only the
    /// message counts and drop reasons apply).
    pub fn counters(&self) -> &IgmpCounters {
        &self.counters
    }

    /// The version the host speaks upstream: IGMP 3, 2 or 1; MLD 2 or 1.
    ///
    /// ```
    /// use mgm_igmp::{IgmpProxyHost, MldProxyHost, ProxyConfig};
    /// assert_eq!(IgmpProxyHost::new(ProxyConfig::default(), 2, "198.51.100.9".parse().unwrap()).version(), 3);
    /// assert_eq!(MldProxyHost::new(ProxyConfig::default(), 2, "fe80::9".parse().unwrap()).version(), 2);
    /// ```
    pub fn version(&self) -> u8 {
        match self.mode() {
            Mode::Current => P::QUERY_VERSION,
            Mode::Older => P::QUERY_VERSION - 1,
            Mode::Oldest => P::QUERY_VERSION.saturating_sub(2).max(1),
        }
    }

    /// The querier last heard upstream, and the version of its query.
    pub fn querier(&self) -> Option<(P::Addr, u8)> {
        self.querier
    }

    /// When the compatibility mode of an older querier ends, if the host is in one.
    pub fn older_querier_until(&self) -> Option<Duration> {
        self.oldest_until.max(self.older_until)
    }

    /// The membership held upstream: the merge of every downstream interface's, per group.
    pub fn membership(&self) -> &BTreeMap<P::Addr, SourceFilter<P::Addr>> {
        &self.state
    }

    /// What a downstream interface holds, as last given.
    pub fn downstream(&self, ifindex: u32) -> Option<&BTreeMap<P::Addr, SourceFilter<P::Addr>>> {
        self.downstream.get(&ifindex)
    }

    fn mode(&self) -> Mode {
        if self.oldest_until.is_some() && P::QUERY_VERSION >= 3 {
            Mode::Oldest
        } else if self.older_until.is_some() || self.oldest_until.is_some() {
            Mode::Older
        } else {
            Mode::Current
        }
    }

    /// Replaces what downstream interface `ifindex` holds with `records` (a group given
    /// twice counts as the merge of both; `INCLUDE {}` as nothing; an empty list takes the
    /// interface away). Groups that are not routable ([`Protocol::routable`]) and sources
    /// that are not valid ([`Protocol::valid_source`]) are left out. Every group whose
    /// upstream membership changes is reported at once (in the returned actions); the
    /// retransmissions follow from [`ProxyHost::tick`].
    ///
    /// ```
    /// use mgm_igmp::{HostMessage, IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// assert_eq!(p.set_downstream(5, [(g, SourceFilter::exclude([]))], Duration::ZERO).len(), 1);
    /// // A second interface joining the same group changes nothing upstream.
    /// assert!(p.set_downstream(6, [(g, SourceFilter::exclude([]))], Duration::ZERO).is_empty());
    /// assert!(p.set_downstream(5, [], Duration::ZERO).is_empty(), "6 still holds it");
    /// assert_eq!(p.membership()[&g], SourceFilter::exclude([]));
    /// ```
    pub fn set_downstream(
        &mut self,
        ifindex: u32,
        records: impl IntoIterator<Item = (P::Addr, SourceFilter<P::Addr>)>,
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        let mut given: BTreeMap<P::Addr, Vec<SourceFilter<P::Addr>>> = BTreeMap::new();
        for (g, mut f) in records {
            if !P::routable(g) {
                continue;
            }
            f.sources.retain(|s| P::valid_source(*s));
            given.entry(g).or_default().push(f);
        }
        let new: BTreeMap<P::Addr, SourceFilter<P::Addr>> = given
            .into_iter()
            .map(|(g, fs)| (g, SourceFilter::merge(&fs)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        let old = if new.is_empty() {
            self.downstream.remove(&ifindex)
        } else {
            self.downstream.insert(ifindex, new.clone())
        }
        .unwrap_or_default();
        let groups: BTreeSet<P::Addr> = old.keys().chain(new.keys()).copied().collect();
        self.apply(groups, now)
    }

    /// Replaces what downstream interface `ifindex` holds for one group only (`INCLUDE {}`:
    /// nothing), the others staying as they are: [`ProxyHost::set_downstream`] for a caller
    /// that follows changes one at a time, at a logarithmic cost in the interface's groups.
    ///
    /// ```
    /// use mgm_igmp::{IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// let (g, h) = (Ipv4Addr::new(239, 1, 2, 3), Ipv4Addr::new(239, 1, 2, 4));
    /// p.set_downstream_group(5, g, SourceFilter::exclude([]), Duration::ZERO);
    /// p.set_downstream_group(5, h, SourceFilter::exclude([]), Duration::ZERO);
    /// p.tick(Duration::from_secs(1)); // the retransmissions
    /// let acts = p.set_downstream_group(5, g, SourceFilter::default(), Duration::from_secs(2));
    /// assert_eq!(acts.len(), 1, "TO_IN {{}} for g");
    /// assert_eq!(p.membership().keys().copied().collect::<Vec<_>>(), [h]);
    /// ```
    pub fn set_downstream_group(
        &mut self,
        ifindex: u32,
        group: P::Addr,
        mut filter: SourceFilter<P::Addr>,
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        if !P::routable(group) {
            return self.tick(now);
        }
        filter.sources.retain(|s| P::valid_source(*s));
        if filter.is_empty() {
            if let Some(m) = self.downstream.get_mut(&ifindex) {
                m.remove(&group);
                if m.is_empty() {
                    self.downstream.remove(&ifindex);
                }
            }
        } else {
            self.downstream
                .entry(ifindex)
                .or_default()
                .insert(group, filter);
        }
        self.apply([group], now)
    }

    /// Sends what is due, then reports the changes of `groups` at once.
    fn apply(
        &mut self,
        groups: impl IntoIterator<Item = P::Addr>,
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        // What was due first, so that a retransmission due now does not repeat at once
        // the first report of these changes.
        let mut out = self.tick(now);
        let mut changed = Vec::new();
        for g in groups {
            if self.update(g) {
                changed.push(g);
            }
        }
        self.report_changes(&changed, now, &mut out);
        out
    }

    /// Reports the whole upstream membership again, as if every group had just been
    /// joined, with the robustness retransmissions: for when the upstream link comes back,
    /// the proxy's address there changes, or the upstream router was restarted. In IGMPv3 /
    /// MLDv2 mode each group's record is `TO_EX` or `TO_IN` with its current sources, in the
    /// older modes a report; what is already pending is merged in.
    ///
    /// ```
    /// use mgm_igmp::{IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// p.set_downstream(5, [(Ipv4Addr::new(239, 1, 2, 3), SourceFilter::exclude([]))], Duration::ZERO);
    /// p.tick(Duration::from_secs(1));
    /// assert_eq!(p.resend(Duration::from_secs(60)).len(), 1);
    /// assert!(p.next_deadline().is_some(), "and once more");
    /// ```
    pub fn resend(&mut self, now: Duration) -> Vec<HostAction<P::Addr>> {
        let mut out = self.tick(now);
        let rv = self.config.transmissions();
        let current = self.mode() == Mode::Current;
        let groups: Vec<P::Addr> = self.state.keys().copied().collect();
        for &g in &groups {
            let p = self.pending.entry(g).or_insert_with(Pending::new);
            if current {
                p.mode_left = rv;
                p.allow.clear();
                p.block.clear();
            } else {
                p.old_left = rv;
            }
        }
        self.report_changes(&groups, now, &mut out);
        out
    }

    /// [`ProxyHost::set_downstream`] from a router's memberships on the interface
    /// ([`crate::Router::memberships`]): a `(*,G)` is `EXCLUDE {}`, the `(S,G)` of a group
    /// `INCLUDE` their sources (the router keeps no exclusion lists); a `(*,*)`, which no
    /// group record can say, is left out.
    ///
    /// ```
    /// use mgm::Selector;
    /// use mgm_igmp::{IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// let (s, ssm, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(232, 1, 1, 1), Ipv4Addr::new(239, 1, 2, 3));
    /// p.set_downstream_selectors(5, &[Selector::Source { source: s, group: ssm }, Selector::Group(g)], Duration::ZERO);
    /// assert_eq!(p.membership()[&ssm], SourceFilter::include([s]));
    /// assert_eq!(p.membership()[&g], SourceFilter::exclude([]));
    /// ```
    pub fn set_downstream_selectors(
        &mut self,
        ifindex: u32,
        selectors: &[Selector<P::Addr>],
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        let records: Vec<_> = selectors.iter().filter_map(record_of).collect();
        self.set_downstream(ifindex, records, now)
    }

    /// [`ProxyHost::set_downstream_group`] from a router's memberships of `group` on the
    /// interface ([`crate::Router::group_memberships`]), read as
    /// [`ProxyHost::set_downstream_selectors`] reads them (selectors of other groups are
    /// left out): for a caller that follows the router's joins and leaves one at a time.
    ///
    /// ```
    /// use mgm::Selector;
    /// use mgm_igmp::{IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// let (s, t, ssm) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(198, 51, 100, 3), Ipv4Addr::new(232, 1, 1, 1));
    /// let two = [Selector::Source { source: s, group: ssm }, Selector::Source { source: t, group: ssm }];
    /// assert_eq!(p.set_downstream_group_selectors(5, ssm, &two, Duration::ZERO).len(), 1);
    /// assert_eq!(p.membership()[&ssm], SourceFilter::include([s, t]));
    /// p.set_downstream_group_selectors(5, ssm, &[], Duration::from_secs(3));
    /// assert!(p.membership().is_empty());
    /// ```
    pub fn set_downstream_group_selectors(
        &mut self,
        ifindex: u32,
        group: P::Addr,
        selectors: &[Selector<P::Addr>],
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        let filters: Vec<SourceFilter<P::Addr>> = selectors
            .iter()
            .filter_map(record_of)
            .filter(|(g, _)| *g == group)
            .map(|(_, f)| f)
            .collect();
        self.set_downstream_group(ifindex, group, SourceFilter::merge(&filters), now)
    }

    /// Takes a downstream interface away (it stopped, or went down): what only it held is
    /// left upstream at once.
    pub fn remove_downstream(&mut self, ifindex: u32, now: Duration) -> Vec<HostAction<P::Addr>> {
        self.set_downstream(ifindex, [], now)
    }

    /// Recomputes the union of `g` and records what changed for the upstream; true when
    /// the change is to be reported (in the older modes: a join or a leave, not a change
    /// of sources, which their messages cannot say).
    fn update(&mut self, g: P::Addr) -> bool {
        let merged = SourceFilter::merge(self.downstream.values().filter_map(|m| m.get(&g)));
        let old = self.state.get(&g).cloned().unwrap_or_default();
        if merged == old {
            return false;
        }
        let rv = self.config.transmissions();
        let mut report = true;
        match self.mode() {
            Mode::Current => {
                let p = self.pending.entry(g).or_insert_with(Pending::new);
                if merged.mode != old.mode {
                    p.mode_left = rv;
                    p.allow.clear();
                    p.block.clear();
                } else {
                    let added = merged.sources.difference(&old.sources);
                    let removed = old.sources.difference(&merged.sources);
                    let (allow, block) = match merged.mode {
                        FilterMode::Include => (added, removed),
                        FilterMode::Exclude => (removed, added),
                    };
                    for &s in allow {
                        p.block.remove(&s);
                        p.allow.insert(s, rv);
                    }
                    for &s in block {
                        p.allow.remove(&s);
                        p.block.insert(s, rv);
                    }
                }
            }
            Mode::Older | Mode::Oldest => {
                if old.is_empty() {
                    self.pending.entry(g).or_insert_with(Pending::new).old_left = rv;
                } else if merged.is_empty() {
                    self.pending.remove(&g);
                    self.cancel_response(g);
                } else {
                    report = false;
                }
            }
        }
        if merged.is_empty() {
            self.state.remove(&g);
        } else {
            self.state.insert(g, merged);
        }
        report
    }

    /// Sends what the changes of `changed` call for at once: their state-change records, an
    /// IGMPv1/v2 (MLDv1) join or leave; then files the retransmissions.
    fn report_changes(
        &mut self,
        changed: &[P::Addr],
        now: Duration,
        out: &mut Vec<HostAction<P::Addr>>,
    ) {
        match self.mode() {
            Mode::Current => {
                let mut records = Vec::new();
                for &g in changed {
                    self.take_records(g, &mut records);
                }
                self.send_records(records, out);
            }
            mode => {
                for &g in changed {
                    if self.state.contains_key(&g) {
                        if let Some(p) = self.pending.get_mut(&g) {
                            p.old_left -= 1;
                            if p.done() {
                                self.pending.remove(&g);
                            }
                        }
                        self.send_old_report(mode, g, out);
                    } else if mode == Mode::Older {
                        self.send(P::LEAVES_TO, HostMessage::Leave(g), out);
                    }
                }
            }
        }
        if self.pending.is_empty() {
            self.retransmit_at = None;
        } else if self.retransmit_at.is_none() {
            let d = self.rng.within(self.config.unsolicited_report_interval);
            self.retransmit_at = Some(now.saturating_add(d));
        }
    }

    /// The state-change records of `g` due in the next report, counted as sent.
    fn take_records(&mut self, g: P::Addr, out: &mut Vec<GroupRecord<P::Addr>>) {
        let Some(p) = self.pending.get_mut(&g) else {
            return;
        };
        if p.mode_left > 0 {
            p.mode_left -= 1;
            let (kind, sources) = match self.state.get(&g) {
                Some(f) if f.mode == FilterMode::Exclude => (TO_EX, f.sources.clone()),
                Some(f) => (TO_IN, f.sources.clone()),
                None => (TO_IN, BTreeSet::new()),
            };
            out.push(GroupRecord {
                kind,
                group: g,
                sources: sources.into_iter().collect(),
            });
        } else {
            for (kind, list) in [(ALLOW, &mut p.allow), (BLOCK, &mut p.block)] {
                if list.is_empty() {
                    continue;
                }
                out.push(GroupRecord {
                    kind,
                    group: g,
                    sources: list.keys().copied().collect(),
                });
                list.retain(|_, n| {
                    *n -= 1;
                    *n > 0
                });
            }
        }
        if p.done() {
            self.pending.remove(&g);
        }
    }

    /// Handles one message heard upstream from `source`, as a conforming router sends it
    /// (TTL 1, Router Alert): [`ProxyHost::receive_packet`] with [`Heard::well_formed`].
    pub fn receive(
        &mut self,
        source: P::Addr,
        payload: &[u8],
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        self.receive_packet(&Heard::well_formed(source), payload, now)
    }

    /// Handles one message heard on the upstream interface. It is counted, then dropped
    /// (counted by reason) when the proxy sent it, it is malformed, its TTL or Router Alert
    /// fail [`ProxyConfig::input`], or (MLD) a query does not come from a link-local
    /// address. Queries schedule answers (IGMPv1/v2 and MLDv1 queries also the older
    /// version's compatibility mode); other hosts' reports and leaves change nothing. What
    /// is due by `now` is returned, as from [`ProxyHost::tick`].
    ///
    /// ```
    /// use mgm_igmp::{checksum, HostMessage, IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig::default(), 2, Ipv4Addr::new(198, 51, 100, 9));
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// p.set_downstream(5, [(g, SourceFilter::exclude([]))], Duration::ZERO);
    /// p.tick(Duration::from_secs(1));
    /// // An IGMPv2 general query (8 bytes) with a zero maximum response time: answered at once.
    /// let mut v2 = [0x11, 0, 0, 0, 0, 0, 0, 0];
    /// v2[1] = 1; // 100 ms
    /// let c = checksum(&v2);
    /// v2[2..4].copy_from_slice(&c.to_be_bytes());
    /// p.receive(Ipv4Addr::new(198, 51, 100, 1), &v2, Duration::from_secs(5));
    /// assert_eq!(p.version(), 2);
    /// let acts = p.tick(Duration::from_millis(5_100));
    /// assert_eq!(acts[0].message, HostMessage::OldReport { version: 2, group: g });
    /// assert_eq!(acts[0].destination, g);
    /// ```
    pub fn receive_packet(
        &mut self,
        heard: &Heard<P::Addr>,
        payload: &[u8],
        now: Duration,
    ) -> Vec<HostAction<P::Addr>> {
        self.advance(now);
        let own = heard.source == self.address;
        let Some(msg) = admit::<P>(
            &mut self.counters,
            &self.config.input,
            &[],
            heard,
            own,
            payload,
        ) else {
            return self.tick(now);
        };
        if let Received::Query(q) = msg {
            self.heard_query(heard.source, &q, now);
        }
        self.tick(now)
    }

    /// A query: the compatibility mode, then the answer's schedule (RFC 3376 5.2 and 7.2.1,
    /// RFC 2236 3).
    fn heard_query(&mut self, source: P::Addr, q: &Query<P::Addr>, now: Duration) {
        self.querier = Some((source, q.version));
        let before = self.mode();
        let age = P::QUERY_VERSION.saturating_sub(q.version);
        let until = now.saturating_add(self.config.older_querier_present_timeout());
        if age >= 2 {
            self.oldest_until = Some(until);
        } else if age == 1 {
            self.older_until = Some(until);
        }
        let mode = self.mode();
        if mode != before {
            self.cancel_pending();
        }
        let max = if age >= 2 && q.max_response.is_zero() {
            V1_MAX_RESPONSE
        } else {
            q.max_response
        };
        let general = q.group == P::Addr::UNSPECIFIED;
        if !general && !self.state.contains_key(&q.group) {
            return;
        }
        if mode != Mode::Current {
            let groups: Vec<P::Addr> = if general {
                self.state.keys().copied().collect()
            } else {
                vec![q.group]
            };
            for g in groups {
                let due = now.saturating_add(self.rng.upto(max));
                self.schedule(g, due, None);
            }
            return;
        }
        let due = now.saturating_add(self.rng.upto(max));
        if self.general_at.is_some_and(|t| t <= due) {
            return;
        }
        if general {
            self.general_at = Some(due);
            return;
        }
        let sources = (!q.sources.is_empty()).then(|| q.sources.iter().copied().collect());
        self.schedule(q.group, due, sources);
    }

    /// Files an answer for `g` at `due` (or sooner, if one is already due sooner), for
    /// `sources` (`None`: the whole group), merged with the one pending (RFC 3376 5.2).
    fn schedule(&mut self, g: P::Addr, due: Duration, sources: Option<BTreeSet<P::Addr>>) {
        let merged = match self.responses.remove(&g) {
            None => Response { due, sources },
            Some(old) => {
                self.response_index.remove(&(old.due, g));
                let sources = match (old.sources, sources) {
                    (Some(mut a), Some(b)) => {
                        a.extend(b);
                        Some(a)
                    }
                    _ => None,
                };
                Response {
                    due: old.due.min(due),
                    sources,
                }
            }
        };
        self.response_index.insert((merged.due, g));
        self.responses.insert(g, merged);
    }

    fn cancel_response(&mut self, g: P::Addr) {
        if let Some(r) = self.responses.remove(&g) {
            self.response_index.remove(&(r.due, g));
        }
    }

    /// Cancels every pending report and answer: the mode changed (RFC 3376 7.2.1).
    fn cancel_pending(&mut self) {
        self.pending.clear();
        self.retransmit_at = None;
        self.general_at = None;
        self.responses.clear();
        self.response_index.clear();
    }

    /// Ends the compatibility modes whose time is up.
    fn advance(&mut self, now: Duration) {
        let before = self.mode();
        if self.oldest_until.is_some_and(|t| t <= now) {
            self.oldest_until = None;
        }
        if self.older_until.is_some_and(|t| t <= now) {
            self.older_until = None;
        }
        if self.mode() != before {
            self.cancel_pending();
        }
    }

    /// Sends what is due: answers to queries and retransmissions of state changes; ends the
    /// compatibility modes whose time is up.
    ///
    /// ```
    /// use mgm_igmp::{IgmpProxyHost, ProxyConfig, SourceFilter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut p = IgmpProxyHost::new(ProxyConfig { robustness: 3, ..ProxyConfig::default() }, 2, Ipv4Addr::new(198, 51, 100, 9));
    /// p.set_downstream(5, [(Ipv4Addr::new(239, 1, 2, 3), SourceFilter::exclude([]))], Duration::ZERO);
    /// // Two more reports (robustness 3), each within a second of the one before.
    /// let mut sent = 0;
    /// while let Some(due) = p.next_deadline() {
    ///     sent += p.tick(due).len();
    /// }
    /// assert_eq!(sent, 2);
    /// ```
    pub fn tick(&mut self, now: Duration) -> Vec<HostAction<P::Addr>> {
        self.advance(now);
        let mode = self.mode();
        let mut out = Vec::new();
        let mut records = Vec::new();
        if self.general_at.is_some_and(|t| t <= now) {
            self.general_at = None;
            for (g, f) in &self.state {
                let kind = match f.mode {
                    FilterMode::Include => IS_IN,
                    FilterMode::Exclude => IS_EX,
                };
                records.push(GroupRecord {
                    kind,
                    group: *g,
                    sources: f.sources.iter().copied().collect(),
                });
            }
        }
        while let Some(&(due, g)) = self.response_index.first() {
            if due > now {
                break;
            }
            self.response_index.pop_first();
            let Some(r) = self.responses.remove(&g) else {
                continue;
            };
            let Some(f) = self.state.get(&g) else {
                continue;
            };
            if mode != Mode::Current {
                self.send_old_report(mode, g, &mut out);
                continue;
            }
            let (kind, sources): (u8, Vec<P::Addr>) = match (&r.sources, f.mode) {
                (None, FilterMode::Include) => (IS_IN, f.sources.iter().copied().collect()),
                (None, FilterMode::Exclude) => (IS_EX, f.sources.iter().copied().collect()),
                (Some(q), _) => (IS_IN, q.iter().copied().filter(|s| f.admits(*s)).collect()),
            };
            if kind == IS_IN && sources.is_empty() {
                continue;
            }
            records.push(GroupRecord {
                kind,
                group: g,
                sources,
            });
        }
        if self.retransmit_at.is_some_and(|t| t <= now) {
            self.retransmit_at = None;
            let groups: Vec<P::Addr> = self.pending.keys().copied().collect();
            let changed: Vec<P::Addr> = if mode == Mode::Current {
                for g in groups {
                    self.take_records(g, &mut records);
                }
                Vec::new()
            } else {
                groups
            };
            self.send_records(std::mem::take(&mut records), &mut out);
            self.report_changes(&changed, now, &mut out);
        }
        self.send_records(records, &mut out);
        out
    }

    /// The earliest time [`ProxyHost::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.retransmit_at,
            self.general_at,
            self.response_index.first().map(|r| r.0),
            self.oldest_until,
            self.older_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn send(
        &self,
        destination: P::Addr,
        message: HostMessage<P::Addr>,
        out: &mut Vec<HostAction<P::Addr>>,
    ) {
        out.push(HostAction {
            ifindex: self.ifindex,
            destination,
            payload: P::encode_host(&message),
            message,
        });
    }

    fn send_old_report(&self, mode: Mode, g: P::Addr, out: &mut Vec<HostAction<P::Addr>>) {
        let version = if mode == Mode::Oldest {
            1
        } else {
            P::QUERY_VERSION - 1
        };
        self.send(g, HostMessage::OldReport { version, group: g }, out);
    }

    /// Sends `records` in as many reports as the MTU needs.
    fn send_records(&self, records: Vec<GroupRecord<P::Addr>>, out: &mut Vec<HostAction<P::Addr>>) {
        for r in pack::<P>(records, self.config.mtu) {
            self.send(P::REPORTS_TO, HostMessage::Report(r), out);
        }
    }

    /// Checks what must always hold, for tests and fuzzing: the upstream membership is the
    /// merge of the downstream ones (and holds no `INCLUDE {}`, no unroutable group, no
    /// invalid source), pending state changes have something left to send and a time to be
    /// sent, the older modes have no IGMPv3/MLDv2 state pending, the answers are filed by
    /// time, and the counters add up. The first violation found, described.
    pub fn check_invariants(&self) -> Result<(), String> {
        let c = &self.counters;
        if c.received != c.accepted + c.dropped() {
            return Err(format!("counters do not add up: {c:?}"));
        }
        let mut groups = BTreeSet::new();
        for (i, m) in &self.downstream {
            if m.is_empty() {
                return Err(format!("downstream {i} kept with nothing"));
            }
            for (g, f) in m {
                if f.is_empty() {
                    return Err(format!("downstream {i}: INCLUDE {{}} kept for {g}"));
                }
                groups.insert(*g);
            }
        }
        for g in self.state.keys() {
            groups.insert(*g);
        }
        for g in groups {
            let merged = SourceFilter::merge(self.downstream.values().filter_map(|m| m.get(&g)));
            let held = self.state.get(&g).cloned().unwrap_or_default();
            if merged != held {
                return Err(format!(
                    "{g}: upstream holds {held:?}, downstream merge {merged:?}"
                ));
            }
            if !P::routable(g) {
                return Err(format!("{g} is not routable"));
            }
            if let Some(s) = held.sources.iter().find(|s| !P::valid_source(**s)) {
                return Err(format!("{g}: invalid source {s}"));
            }
        }
        let mode = self.mode();
        for (g, p) in &self.pending {
            if p.done() {
                return Err(format!("{g}: pending with nothing left"));
            }
            let v3 = p.mode_left > 0 || !p.allow.is_empty() || !p.block.is_empty();
            if (mode == Mode::Current && p.old_left > 0) || (mode != Mode::Current && v3) {
                return Err(format!("{g}: pending {p:?} in mode {mode:?}"));
            }
            if let Some(s) = p.allow.keys().find(|s| p.block.contains_key(s)) {
                return Err(format!("{g}: {s} both allowed and blocked"));
            }
        }
        if self.pending.is_empty() != self.retransmit_at.is_none() {
            return Err(format!(
                "{} groups pending, retransmission at {:?}",
                self.pending.len(),
                self.retransmit_at
            ));
        }
        if mode != Mode::Current && self.general_at.is_some() {
            return Err(format!("a general answer pending in mode {mode:?}"));
        }
        if self.responses.len() != self.response_index.len()
            || self
                .responses
                .iter()
                .any(|(g, r)| !self.response_index.contains(&(r.due, *g)))
        {
            return Err("answers and their time index differ".into());
        }
        Ok(())
    }
}

/// Splits `records` into reports that fit `mtu` (RFC 3376 4.2.16, RFC 3810 5.2.15): records
/// go whole into a report while they fit; a record too long for what is left starts a new
/// report; only a record too long for any report is split into several of the same type
/// (each filling a report), but an `IS_EX` or `TO_EX` record, which cannot be, keeps the
/// sources that fit (the rest are not excluded: more traffic, never less).
fn pack<P: Protocol>(
    records: Vec<GroupRecord<P::Addr>>,
    mtu: usize,
) -> Vec<Vec<GroupRecord<P::Addr>>> {
    let addr = (<P::Addr as Family>::BITS / 8) as usize;
    let header = 4 + addr;
    let room = mtu.clamp(P::MIN_MTU, usize::from(u16::MAX)) - P::REPORT_OVERHEAD;
    let mut out = Vec::new();
    let mut cur: Vec<GroupRecord<P::Addr>> = Vec::new();
    let mut used = 0;
    for r in records {
        let exclude = matches!(r.kind, IS_EX | TO_EX);
        let mut rest = &r.sources[..];
        loop {
            // A record that does not fit what is left starts a new report: only a record
            // longer than a whole report is split (or cut).
            let whole = header + addr * rest.len();
            if !cur.is_empty() && used + whole > room {
                out.push(std::mem::take(&mut cur));
                used = 0;
            }
            let n = rest.len().min((room - used - header) / addr);
            cur.push(GroupRecord {
                kind: r.kind,
                group: r.group,
                sources: rest[..n].to_vec(),
            });
            used += header + addr * n;
            rest = &rest[n..];
            if rest.is_empty() || exclude {
                break;
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests;
