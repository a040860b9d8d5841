//! The querier's state machine: every interface's groups, their timers, and what the
//! engine and the links are told.
//!
//! Each group is filed under its earliest timer in one ordered index of the router, so a
//! message touches only the groups it names and a tick only the groups whose timers are due:
//! both are logarithmic in the number of groups, as is [`IgmpRouter::next_deadline`].
//!
//! **Filed early, moved late.** A group (or a host's membership) is filed at or before its
//! earliest timer, not always at it: a refresh, which only moves timers later, leaves the
//! index alone, and the tick that takes the early entry finds nothing due and files it again
//! at its real time. A report repeated any number of times within a timer's life costs no
//! index work; the index moves at most once per filed time, in `tick`.

use std::collections::hash_map::{self, HashMap};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mgm::{Family, Selector};

use crate::input::{Heard, IgmpCounters, IgmpLimits, InputPolicy, Subnet};
use crate::proto::{Igmp, Mld, Protocol, Received};
use crate::{GroupRecord, IgmpConfig, Query};

/// What the state machine asks its caller to do.
///
/// ```
/// use mgm_igmp::{encode_v2, IgmpAction, ALL_SYSTEMS};
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use mgm::Selector;
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// let acts = r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
/// assert!(matches!(&acts[..], [IgmpAction::Send { ifindex: 3, destination, .. }] if *destination == ALL_SYSTEMS));
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let host = Ipv4Addr::new(203, 0, 113, 2);
/// let acts = r.receive(3, host, &encode_v2(0x16, g), Duration::from_secs(1));
/// assert_eq!(acts, vec![IgmpAction::Join { ifindex: 3, selector: Selector::Group(g) }]);
/// assert_eq!(r.remove_interface(3), vec![IgmpAction::Leave { ifindex: 3, selector: Selector::Group(g) }]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<A> {
    /// Add this membership in the engine.
    Join {
        /// The interface (ifindex).
        ifindex: u32,
        /// What hosts there want.
        selector: Selector<A>,
    },
    /// Delete this membership in the engine.
    Leave {
        /// The interface (ifindex).
        ifindex: u32,
        /// What nobody there wants any more.
        selector: Selector<A>,
    },
    /// Send this query out of the interface.
    Send {
        /// The interface (ifindex).
        ifindex: u32,
        /// The IP destination.
        destination: A,
        /// The query.
        query: Query<A>,
    },
}

/// Why [`Router::add_interface`] refused the router's address on a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressError<A> {
    /// The interface (ifindex).
    pub ifindex: u32,
    /// The address given.
    pub address: A,
    /// What is wrong with it.
    pub why: &'static str,
}

impl<A: std::fmt::Display> std::fmt::Display for AddressError<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interface {}: {} cannot be the router's address: {}",
            self.ifindex, self.address, self.why
        )
    }
}

impl<A: std::fmt::Debug + std::fmt::Display> std::error::Error for AddressError<A> {}

/// One group's state on one interface.
///
/// ```
/// use mgm_igmp::encode_v2;
/// use mgm_igmp::{IgmpConfig, IgmpRouter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
/// let g = Ipv4Addr::new(239, 1, 2, 3);
/// let now = Duration::from_secs(1);
/// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), now); // an IGMPv2 report
/// let gs = r.interfaces()[&3].group(g).unwrap();
/// let gmi = r.config().group_membership_interval();
/// assert_eq!(gs.group_timer, Some(now + gmi), "EXCLUDE mode");
/// assert!(gs.sources.is_empty());
/// assert_eq!(gs.old_host_until, Some(now + gmi), "an IGMPv2 host is on the link");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState<A = Ipv4Addr> {
    /// EXCLUDE mode until this time; `None`: INCLUDE mode.
    pub group_timer: Option<Duration>,
    /// INCLUDE-mode sources and their timers.
    pub sources: BTreeMap<A, Duration>,
    /// An IGMPv1/v2 host was heard; compatibility mode until this time.
    pub old_host_until: Option<Duration>,
    /// Group-specific queries still to send, and when the next one is due.
    gsq: Option<(u8, Duration)>,
    /// Group-and-source-specific queries still to send per source, and the next time.
    ssq: BTreeMap<A, u8>,
    ssq_next: Option<Duration>,
    /// What the engine has been told.
    joined: BTreeSet<Selector<A>>,
    /// The time this group is filed under in the router's timer index: at or before its
    /// earliest timer (a refresh does not move it; the tick at that time does).
    wake: Option<Duration>,
}

// Not derived: the addresses have no default, and none is needed.
impl<A> Default for GroupState<A> {
    fn default() -> Self {
        GroupState {
            group_timer: None,
            sources: BTreeMap::new(),
            old_host_until: None,
            gsq: None,
            ssq: BTreeMap::new(),
            ssq_next: None,
            joined: BTreeSet::new(),
            wake: None,
        }
    }
}

impl<A> Default for HostRecord<A> {
    fn default() -> Self {
        HostRecord {
            exclude_until: None,
            sources: BTreeMap::new(),
        }
    }
}

impl<A: Family> InterfaceState<A> {
    /// The state of group `g`, when it has any.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// assert!(r.interfaces()[&3].group(g).is_none());
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::from_secs(1));
    /// assert!(r.interfaces()[&3].group(g).is_some_and(|gs| gs.group_timer.is_some()));
    /// ```
    pub fn group(&self, g: A) -> Option<&GroupState<A>> {
        self.groups.map.get(&g)
    }

    /// How many groups have state.
    pub fn group_count(&self) -> usize {
        self.groups.map.len()
    }

    /// The groups with state in address order, from the first one above `after` (from the
    /// lowest when `None`): a dump goes on from the last group of its previous page.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// for last in [3, 1, 2] {
    ///     let g = Ipv4Addr::new(239, 1, 2, last);
    ///     r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::from_secs(1));
    /// }
    /// let st = &r.interfaces()[&3];
    /// let all: Vec<Ipv4Addr> = st.groups_after(None).map(|(g, _)| g).collect();
    /// assert_eq!(all, [1, 2, 3].map(|l| Ipv4Addr::new(239, 1, 2, l)));
    /// let rest: Vec<Ipv4Addr> = st.groups_after(Some(all[0])).map(|(g, _)| g).collect();
    /// assert_eq!(rest, all[1..]);
    /// ```
    pub fn groups_after(&self, after: Option<A>) -> impl Iterator<Item = (A, &GroupState<A>)> {
        self.groups.after(after)
    }
}

impl<A: Family> GroupState<A> {
    fn wanted(&self, group: A) -> BTreeSet<Selector<A>> {
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
    /// The earliest of the group's timers.
    fn next_timer(&self) -> Option<Duration> {
        [
            self.group_timer,
            self.gsq.map(|(_, t)| t),
            self.ssq_next,
            self.old_host_until,
            self.sources.values().min().copied(),
        ]
        .into_iter()
        .flatten()
        .min()
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
/// r.add_interface(3, me, Duration::ZERO).unwrap();
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
pub struct InterfaceState<A: Family = Ipv4Addr> {
    /// The router's address on it (its querier address).
    pub address: A,
    /// True while this router is the querier.
    pub querier: bool,
    /// The querier heard, when another router is.
    pub other_querier: Option<A>,
    /// When the other querier is considered gone.
    pub other_querier_until: Option<Duration>,
    /// When the next general query is due (as querier).
    pub next_general_query: Duration,
    startup_left: u8,
    /// Groups with state: read with [`InterfaceState::group`] and
    /// [`InterfaceState::groups_after`].
    groups: GroupTable<A>,
    /// The link's subnets: reports and queries from elsewhere are dropped. Empty until
    /// [`IgmpRouter::set_subnets`] gives them; while empty, sources are not checked.
    pub subnets: Vec<Subnet<A>>,
    /// The IP header checks of this link.
    pub policy: InputPolicy,
    /// What was heard, accepted and refused.
    pub counters: IgmpCounters,
    /// Each host's memberships and when they expire: the per-host limit's count, and the
    /// hosts tracked in each group (explicit tracking, for fast leave).
    hosts: HostTable<A>,
    /// How many hosts hold each (group, source), the source unspecified for EXCLUDE mode:
    /// whether any host still holds one is known without a walk of every host.
    holders: HashMap<HostKey<A>, u32>,
}

/// What one host has reported for one group and not taken back (explicit tracking): read
/// with [`IgmpRouter::group_hosts`].
///
/// A host is in EXCLUDE mode after an IGMPv1/v2 report or an IGMPv3 `IS_EX`/`TO_EX` (its
/// exclusion list is not kept, as for the group); its sources are the ones it named in
/// `IS_IN`, `TO_IN` and `ALLOW` records and has not blocked. Each part expires one group
/// membership interval after the report that last refreshed it.
///
/// ```
/// use mgm_igmp::{encode_v2, encode_v3_report, GroupRecord, IgmpConfig, IgmpRouter};
/// use std::{net::Ipv4Addr, time::Duration};
/// let mut r = IgmpRouter::new(IgmpConfig::default());
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
/// let (a, b) = (Ipv4Addr::new(203, 0, 113, 2), Ipv4Addr::new(203, 0, 113, 3));
/// let (g, s) = (Ipv4Addr::new(232, 1, 1, 1), Ipv4Addr::new(198, 51, 100, 2));
/// let now = Duration::from_secs(1);
/// r.receive(3, a, &encode_v2(0x16, g), now);
/// r.receive(3, b, &encode_v3_report(&[GroupRecord { kind: 1, group: g, sources: vec![s] }]), now);
/// let hosts = r.group_hosts(3, g);
/// let until = now + r.config().group_membership_interval();
/// assert_eq!(hosts[&a].exclude_until, Some(until), "an IGMPv2 host: EXCLUDE {{}}");
/// assert!(hosts[&a].sources.is_empty());
/// assert_eq!(hosts[&b].exclude_until, None, "INCLUDE {s}");
/// assert_eq!(hosts[&b].sources[&s], until);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRecord<A = Ipv4Addr> {
    /// EXCLUDE mode until this time; `None`: INCLUDE mode.
    pub exclude_until: Option<Duration>,
    /// The sources the host named, and when each expires.
    pub sources: BTreeMap<A, Duration>,
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
/// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), secs(0)).unwrap();
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
pub struct Router<P: Protocol> {
    config: IgmpConfig,
    ifaces: BTreeMap<u32, InterfaceState<P::Addr>>,
    /// Every group's next timer as (due, ifindex, group): `tick` takes the due ones from the
    /// front and `next_deadline` reads the first, whatever the number of groups.
    wakes: BTreeSet<(Duration, u32, P::Addr)>,
    /// Every host membership's expiry as (due, ifindex, host, membership).
    host_expiry: BTreeSet<Expiry<P::Addr>>,
    /// Messages handed in for an interface IGMP does not run on.
    unknown_interface: u64,
}

/// The IGMP router (IPv4).
pub type IgmpRouter = Router<Igmp>;
/// The MLD router (IPv6): the same state machine as [`IgmpRouter`], with MLD's codec and
/// address rules (see [`crate::mld`]). Its interface address is the router's link-local
/// address on the link, the one its queries go out from and the querier election compares
/// (lowest wins); what it hears is the ICMPv6 message from its type byte, as a raw ICMPv6
/// socket delivers it, with the source, hop limit and Router Alert in [`Heard`].
///
/// ```
/// use mgm_igmp::{mld, Action, Heard, MldConfig, MldRouter};
/// use mgm::Selector;
/// use std::{net::Ipv6Addr, time::Duration};
/// let mut r = MldRouter::new(MldConfig::default());
/// let me: Ipv6Addr = "fe80::1".parse().unwrap();
/// let acts = r.add_interface(3, me, Duration::ZERO).unwrap();
/// let [Action::Send { destination, query, .. }] = &acts[..] else { panic!("{acts:?}") };
/// assert_eq!((*destination, query.version), (mld::ALL_NODES, 2), "an MLDv2 general query");
/// let bytes = query.encode(); // for the socket: the kernel fills the checksum
/// assert_eq!(bytes[0], mld::QUERY);
///
/// let (host, g): (Ipv6Addr, Ipv6Addr) = ("fe80::2".parse().unwrap(), "ff0e::1".parse().unwrap());
/// let report = mld::encode_v1(mld::V1_REPORT, g);
/// let acts = r.receive_packet(3, &Heard::well_formed(host), &report, Duration::from_secs(1));
/// assert_eq!(acts, vec![Action::Join { ifindex: 3, selector: Selector::Group(g) }]);
/// // A hop limit other than 1 is refused, as in IGMP.
/// let routed = Heard { ttl: 64, ..Heard::well_formed(host) };
/// assert!(r.receive_packet(3, &routed, &report, Duration::from_secs(2)).is_empty());
/// assert_eq!(r.counters(3).unwrap().bad_ttl, 1);
/// ```
pub type MldRouter = Router<Mld>;
/// What the IGMP router asks for.
pub type IgmpAction = Action<Ipv4Addr>;
/// What the MLD router asks for.
pub type MldAction = Action<Ipv6Addr>;

/// A host's membership: (group, source), the source unspecified for the whole group.
type HostKey<A> = (A, A);

/// When a host membership expires, and the time it is filed under in the router's expiry
/// index: at or before `until` (a refresh moves only `until`; the entry filed earlier is
/// moved when it comes due).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    until: Duration,
    filed: Duration,
}

/// One host's memberships on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HostRec<A: Family> {
    /// How many it holds: the per-host limit's count.
    count: usize,
    /// By group: the sources it holds in address order (the unspecified source, first when
    /// there: EXCLUDE mode).
    groups: HashMap<A, Vec<(A, Held)>>,
}

impl<A: Family> HostRec<A> {
    fn new() -> Self {
        HostRec {
            count: 0,
            groups: HashMap::new(),
        }
    }

    /// The membership `key`, when the host holds it.
    fn get_mut(&mut self, (g, s): HostKey<A>) -> Option<&mut Held> {
        let m = self.groups.get_mut(&g)?;
        let i = m.binary_search_by_key(&s, |e| e.0).ok()?;
        Some(&mut m[i].1)
    }

    /// True when the host holds `key`.
    fn holds(&self, (g, s): HostKey<A>) -> bool {
        self.groups
            .get(&g)
            .is_some_and(|m| m.binary_search_by_key(&s, |e| e.0).is_ok())
    }

    /// Adds the membership `key`, which the host does not hold.
    fn add(&mut self, (g, s): HostKey<A>, held: Held) {
        // Most hosts hold one membership of a group (EXCLUDE mode, or one source): room for
        // one, not the four a first push would take.
        let m = self
            .groups
            .entry(g)
            .or_insert_with(|| Vec::with_capacity(1));
        let at = m.partition_point(|e| e.0 < s);
        m.insert(at, (s, held));
        self.count += 1;
    }

    /// Every membership, group by group.
    fn iter(&self) -> impl Iterator<Item = (HostKey<A>, &Held)> {
        self.groups
            .iter()
            .flat_map(|(g, m)| m.iter().map(move |(s, h)| ((*g, *s), h)))
    }

    /// Takes the membership `key` away, when the host holds it.
    fn take(&mut self, (g, s): HostKey<A>) -> Option<Held> {
        let m = self.groups.get_mut(&g)?;
        let i = m.binary_search_by_key(&s, |e| e.0).ok()?;
        let (_, held) = m.remove(i);
        if m.is_empty() {
            self.groups.remove(&g);
        }
        self.count -= 1;
        Some(held)
    }
}

/// Each host's memberships on one interface.
type HostTable<A> = HashMap<A, HostRec<A>>;

/// When a host membership expires: (due, ifindex, host, membership).
type Expiry<A> = (Duration, u32, A, HostKey<A>);

/// One more host holds `key`.
fn hold<A: Family>(holders: &mut HashMap<HostKey<A>, u32>, key: HostKey<A>) {
    *holders.entry(key).or_insert(0) += 1;
}

/// One host fewer holds `key`.
fn unhold<A: Family>(holders: &mut HashMap<HostKey<A>, u32>, key: HostKey<A>) {
    if let hash_map::Entry::Occupied(mut o) = holders.entry(key) {
        *o.get_mut() -= 1;
        if *o.get() == 0 {
            o.remove();
        }
    }
}

/// One interface's groups: found by hash, so that a report's cost does not grow with their
/// number, and listed in address order from an index that only a group's creation and
/// removal change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct GroupTable<A: Family> {
    map: HashMap<A, GroupState<A>>,
    order: BTreeSet<A>,
}

impl<A: Family> GroupTable<A> {
    fn new() -> Self {
        GroupTable {
            map: HashMap::new(),
            order: BTreeSet::new(),
        }
    }

    fn get_mut(&mut self, g: &A) -> Option<&mut GroupState<A>> {
        self.map.get_mut(g)
    }

    fn remove(&mut self, g: &A) {
        if self.map.remove(g).is_some() {
            self.order.remove(g);
        }
    }

    /// The groups in address order, from the first one above `after`.
    fn after(&self, after: Option<A>) -> impl Iterator<Item = (A, &GroupState<A>)> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range((from, Bound::Unbounded))
            .filter_map(|g| Some((*g, self.map.get(g)?)))
    }
}

/// A group's place in its table, found by [`group_slot`].
struct Slot<'a, A: Family> {
    entry: hash_map::Entry<'a, A, GroupState<A>>,
    order: &'a mut BTreeSet<A>,
}

impl<'a, A: Family> Slot<'a, A> {
    /// The group's state, created empty (and listed) when it had none.
    fn or_default(self) -> &'a mut GroupState<A> {
        match self.entry {
            hash_map::Entry::Occupied(o) => o.into_mut(),
            hash_map::Entry::Vacant(v) => {
                self.order.insert(*v.key());
                v.insert(GroupState::default())
            }
        }
    }
}

/// True when some host still holds `(g, source)` (the source unspecified: EXCLUDE mode).
fn held<A: Family>(holders: &HashMap<HostKey<A>, u32>, g: A, source: A) -> bool {
    holders.contains_key(&(g, source))
}

/// Fast leave: cuts the group down at once to what its tracked hosts still hold. EXCLUDE
/// mode ends when no host is in it, and a source goes when no host names it; whatever a
/// host still holds stays, without a query.
fn prune_untracked<A: Family>(gs: &mut GroupState<A>, holders: &HashMap<HostKey<A>, u32>, g: A) {
    if gs.group_timer.is_some() && !held(holders, g, A::UNSPECIFIED) {
        gs.group_timer = None;
        gs.gsq = None;
    }
    gs.sources.retain(|s, _| held(holders, g, *s));
    gs.ssq.retain(|s, _| gs.sources.contains_key(s));
    if gs.ssq.is_empty() {
        gs.ssq_next = None;
    }
}

fn query_for<P: Protocol>(
    cfg: &IgmpConfig,
    group: P::Addr,
    sources: Vec<P::Addr>,
    s_flag: bool,
) -> Query<P::Addr> {
    let general = group == P::Addr::UNSPECIFIED;
    Query {
        group,
        sources,
        max_response: if general {
            cfg.query_response_interval
        } else {
            cfg.last_member_query_interval
        },
        s_flag,
        qrv: cfg.robustness,
        qqi: cfg.query_interval,
        version: P::QUERY_VERSION,
    }
}

/// Counts the message and runs the checks that do not need state: the parsed message when
/// it may go on. Shared by the router's links and the proxy's upstream host side.
pub(crate) fn admit<P: Protocol>(
    c: &mut IgmpCounters,
    policy: &InputPolicy,
    subnets: &[Subnet<P::Addr>],
    heard: &Heard<P::Addr>,
    own: bool,
    payload: &[u8],
) -> Option<Received<P::Addr>> {
    c.received += 1;
    if own {
        c.own += 1;
        return None;
    }
    let Some(msg) = P::decode(payload) else {
        c.malformed += 1;
        return None;
    };
    if policy.require_ttl_one && heard.ttl != 1 {
        c.bad_ttl += 1;
        return None;
    }
    // RFC 3376 9.1 asks for the Router Alert on IGMPv2 and v3 queries only: an IGMPv1 query
    // (RFC 1112) never carries it, and dropping it would keep a host from ever hearing a v1
    // querier. (MLD has no such version: every MLD message carries it.)
    let v1_query =
        matches!(&msg, Received::Query(q) if P::QUERY_VERSION.saturating_sub(q.version) >= 2);
    if policy.require_router_alert && !heard.router_alert && !v1_query {
        c.no_router_alert += 1;
        return None;
    }
    let query = matches!(msg, Received::Query(_));
    if !P::on_link(subnets, heard.source, query) {
        if query {
            c.off_subnet_query += 1;
        } else {
            c.off_subnet_report += 1;
        }
        return None;
    }
    c.accepted += 1;
    Some(msg)
}

/// The place of `g` in the table when it has state or there is room for it (a refusal is
/// counted): one search, whether the group is then created or not.
fn group_slot<'a, A: Family>(
    groups: &'a mut GroupTable<A>,
    counters: &mut IgmpCounters,
    limits: &IgmpLimits,
    g: A,
) -> Option<Slot<'a, A>> {
    let room = groups.map.len() < limits.groups_per_interface;
    let GroupTable { map, order } = groups;
    let entry = map.entry(g);
    if room || matches!(entry, hash_map::Entry::Occupied(_)) {
        return Some(Slot { entry, order });
    }
    counters.group_limit += 1;
    None
}

/// The per-host table of one interface and the router's expiry index, borrowed together.
struct HostBook<'a, A: Family> {
    hosts: &'a mut HostTable<A>,
    holders: &'a mut HashMap<HostKey<A>, u32>,
    expiry: &'a mut BTreeSet<Expiry<A>>,
    ifindex: u32,
    host: A,
    limit: usize,
    /// Most hosts the table holds.
    hosts_limit: usize,
}

impl<A: Family> HostBook<'_, A> {
    /// Records (or refreshes) the host's membership `key` until `until`; false, counted,
    /// when the host has as many memberships as allowed.
    fn charge(&mut self, counters: &mut IgmpCounters, key: HostKey<A>, until: Duration) -> bool {
        let known = self.hosts.len();
        let rec = match self.hosts.entry(self.host) {
            hash_map::Entry::Occupied(o) => o.into_mut(),
            hash_map::Entry::Vacant(_) if known >= self.hosts_limit => {
                counters.host_limit += 1;
                return false;
            }
            hash_map::Entry::Vacant(v) => v.insert(HostRec::new()),
        };
        if let Some(h) = rec.get_mut(key) {
            // A refresh: the entry filed at or before the old expiry stays, unless the new
            // one comes earlier (a shorter interval since a reload).
            if until < h.filed {
                self.expiry.remove(&(h.filed, self.ifindex, self.host, key));
                self.expiry.insert((until, self.ifindex, self.host, key));
                h.filed = until;
            }
            h.until = until;
            return true;
        }
        if rec.count < self.limit {
            rec.add(
                key,
                Held {
                    until,
                    filed: until,
                },
            );
            hold(self.holders, key);
            self.expiry.insert((until, self.ifindex, self.host, key));
            return true;
        }
        counters.host_limit += 1;
        if rec.count == 0 {
            self.hosts.remove(&self.host);
        }
        false
    }

    /// Forgets the host's membership `key` (it left).
    fn release(&mut self, key: HostKey<A>) {
        let Some(rec) = self.hosts.get_mut(&self.host) else {
            return;
        };
        if let Some(h) = rec.take(key) {
            self.expiry.remove(&(h.filed, self.ifindex, self.host, key));
            unhold(self.holders, key);
        }
        if rec.count == 0 {
            self.hosts.remove(&self.host);
        }
    }

    /// True when the host holds `key`.
    fn holds(&self, key: HostKey<A>) -> bool {
        self.hosts.get(&self.host).is_some_and(|r| r.holds(key))
    }

    /// True when the host is in EXCLUDE mode for `g`.
    fn excludes(&self, g: A) -> bool {
        self.holds((g, A::UNSPECIFIED))
    }

    /// Forgets the sources of `g` the host named and `keep` (sorted) does not hold; true
    /// when there were any.
    fn release_sources_except(&mut self, g: A, keep: &[A]) -> bool {
        let Some(rec) = self.hosts.get_mut(&self.host) else {
            return false;
        };
        let Some(m) = rec.groups.get_mut(&g) else {
            return false;
        };
        let before = m.len();
        let (ifindex, host) = (self.ifindex, self.host);
        m.retain(|&(s, h)| {
            let stays = s == A::UNSPECIFIED || keep.binary_search(&s).is_ok();
            if !stays {
                self.expiry.remove(&(h.filed, ifindex, host, (g, s)));
                unhold(self.holders, (g, s));
            }
            stays
        });
        let gone = before - m.len();
        if m.is_empty() {
            rec.groups.remove(&g);
        }
        rec.count -= gone;
        if rec.count == 0 {
            self.hosts.remove(&self.host);
        }
        gone > 0
    }

    /// The host takes back its interest in `g` as far as an INCLUDE record with `sources`
    /// (sorted) says (`IS_IN`, `TO_IN`, an IGMPv2 leave as `TO_IN {}`): from EXCLUDE mode,
    /// or with no sources, its record becomes exactly those sources; otherwise (INCLUDE mode
    /// already: a record split for size, a retransmission) they add to it. True when
    /// something was released.
    fn include_only(&mut self, g: A, sources: &[A]) -> bool {
        let mode = self.excludes(g);
        if !mode && !sources.is_empty() {
            return false;
        }
        self.release((g, A::UNSPECIFIED));
        self.release_sources_except(g, sources) || mode
    }
}

impl<P: Protocol> Router<P> {
    /// A router with no interfaces.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// let r = IgmpRouter::new(IgmpConfig { fast_leave: true, ..IgmpConfig::default() });
    /// assert!(r.interfaces().is_empty());
    /// assert_eq!(r.next_deadline(), None, "nothing to do without interfaces");
    /// ```
    pub fn new(config: IgmpConfig) -> Self {
        Router {
            config,
            ifaces: BTreeMap::new(),
            wakes: BTreeSet::new(),
            host_expiry: BTreeSet::new(),
            unknown_interface: 0,
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

    /// Replaces the configuration (a daemon's reload): timers already running keep their
    /// deadlines, every timer started from now on and every later limit check takes the new
    /// values; state over a lowered limit stays until it ages out. Each interface keeps its
    /// own input policy ([`IgmpRouter::set_input_policy`]).
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::time::Duration;
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.set_config(IgmpConfig { query_interval: Duration::from_secs(30), ..IgmpConfig::default() });
    /// assert_eq!(r.config().query_interval, Duration::from_secs(30));
    /// ```
    pub fn set_config(&mut self, config: IgmpConfig) {
        self.config = config;
    }

    /// Every interface's state.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// r.add_interface(4, Ipv4Addr::new(192, 0, 2, 1), Duration::ZERO).unwrap();
    /// assert_eq!(r.interfaces().keys().copied().collect::<Vec<_>>(), [3, 4]);
    /// assert_eq!(r.interfaces()[&4].address, Ipv4Addr::new(192, 0, 2, 1));
    /// ```
    pub fn interfaces(&self) -> &BTreeMap<u32, InterfaceState<P::Addr>> {
        &self.ifaces
    }

    /// The input counters of an interface (see [`IgmpCounters`]).
    pub fn counters(&self, ifindex: u32) -> Option<&IgmpCounters> {
        self.ifaces.get(&ifindex).map(|i| &i.counters)
    }

    /// Messages handed in for an interface IGMP does not run on (not counted elsewhere).
    pub fn unknown_interface(&self) -> u64 {
        self.unknown_interface
    }

    /// How many unexpired memberships each host has on an interface (the per-host limit's
    /// count).
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let host = Ipv4Addr::new(203, 0, 113, 2);
    /// r.receive(3, host, &encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1));
    /// assert_eq!(r.host_memberships(3)[&host], 1);
    /// ```
    pub fn host_memberships(&self, ifindex: u32) -> BTreeMap<P::Addr, usize> {
        self.ifaces.get(&ifindex).map_or(BTreeMap::new(), |i| {
            i.hosts.iter().map(|(h, r)| (*h, r.count)).collect()
        })
    }

    /// The hosts tracked in a group on an interface and what each holds (explicit tracking;
    /// see [`HostRecord`]). Linear in the number of hosts on the interface.
    pub fn group_hosts(
        &self,
        ifindex: u32,
        group: P::Addr,
    ) -> BTreeMap<P::Addr, HostRecord<P::Addr>> {
        let mut out: BTreeMap<P::Addr, HostRecord<P::Addr>> = BTreeMap::new();
        let Some(st) = self.ifaces.get(&ifindex) else {
            return out;
        };
        for (host, rec) in &st.hosts {
            let Some(m) = rec.groups.get(&group) else {
                continue;
            };
            let r = out.entry(*host).or_default();
            for (source, h) in m {
                if *source == P::Addr::UNSPECIFIED {
                    r.exclude_until = Some(h.until);
                } else {
                    r.sources.insert(*source, h.until);
                }
            }
        }
        out
    }

    /// Checks what must always hold, for tests and fuzzing: no interface over a limit, only
    /// routable groups and valid sources in the state, counters that add up, every group
    /// filed in the timer index under its earliest timer (and nothing else filed), and every
    /// host membership filed by group (and nothing else). The first violation found,
    /// described.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1));
    /// assert_eq!(r.check_invariants(), Ok(()));
    /// ```
    pub fn check_invariants(&self) -> Result<(), String> {
        let lim = &self.config.limits;
        let mut filed = 0;
        let mut expiring = 0;
        for (i, st) in &self.ifaces {
            let c = &st.counters;
            if c.received != c.accepted + c.dropped() {
                return Err(format!("interface {i}: counters do not add up: {c:?}"));
            }
            let groups = &st.groups;
            if groups.map.len() > lim.groups_per_interface {
                return Err(format!("interface {i}: {} groups", groups.map.len()));
            }
            if groups.order.len() != groups.map.len()
                || groups.order.iter().any(|g| !groups.map.contains_key(g))
            {
                return Err(format!(
                    "interface {i}: {} groups listed in order for {}",
                    groups.order.len(),
                    groups.map.len()
                ));
            }
            for (g, gs) in &groups.map {
                if !P::routable(*g) {
                    return Err(format!("interface {i}: group {g} in the state"));
                }
                if gs.sources.len() > lim.sources_per_group {
                    return Err(format!(
                        "interface {i}: {g} has {} sources",
                        gs.sources.len()
                    ));
                }
                if let Some(s) = gs.sources.keys().find(|s| !P::valid_source(**s)) {
                    return Err(format!("interface {i}: source {s} of {g} in the state"));
                }
                let early = match (gs.wake, gs.next_timer()) {
                    (Some(w), Some(t)) => w <= t,
                    (w, t) => w.is_none() && t.is_none(),
                };
                if !early {
                    return Err(format!(
                        "interface {i}: {g} filed at {:?}, due {:?}",
                        gs.wake,
                        gs.next_timer()
                    ));
                }
                if let Some(t) = gs.wake {
                    if !self.wakes.contains(&(t, *i, *g)) {
                        return Err(format!("interface {i}: {g} missing from the timer index"));
                    }
                    filed += 1;
                }
            }
            if st.hosts.len() > lim.hosts_per_interface {
                return Err(format!("interface {i}: {} hosts", st.hosts.len()));
            }
            let mut tracked: HashMap<HostKey<P::Addr>, u32> = HashMap::new();
            for (h, rec) in &st.hosts {
                let listed: usize = rec.groups.values().map(Vec::len).sum();
                if rec.count == 0 || rec.count > lim.memberships_per_host || listed != rec.count {
                    return Err(format!(
                        "interface {i}: host {h} has {} memberships ({listed} listed)",
                        rec.count
                    ));
                }
                for (g, m) in &rec.groups {
                    if m.is_empty() || !m.windows(2).all(|w| w[0].0 < w[1].0) {
                        return Err(format!(
                            "interface {i}: host {h}'s sources of {g} empty or out of order"
                        ));
                    }
                }
                for (key, held) in rec.iter() {
                    if held.filed > held.until
                        || !self.host_expiry.contains(&(held.filed, *i, *h, key))
                    {
                        return Err(format!(
                            "interface {i}: host {h} {key:?} not filed at or before its expiry: {held:?}"
                        ));
                    }
                    *tracked.entry(key).or_insert(0) += 1;
                    expiring += 1;
                }
            }
            if tracked != st.holders {
                return Err(format!(
                    "interface {i}: {} memberships counted by holder for {} held",
                    st.holders.len(),
                    tracked.len()
                ));
            }
        }
        if filed != self.wakes.len() || expiring != self.host_expiry.len() {
            return Err(format!(
                "stale index entries: {} filed for {filed} groups, {} expiries for {expiring} host memberships",
                self.wakes.len(),
                self.host_expiry.len()
            ));
        }
        Ok(())
    }

    /// True when `a` is one of the router's own addresses (its looped-back packets).
    ///
    /// ```
    /// use mgm_igmp::encode_v2;
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// let me = Ipv4Addr::new(203, 0, 113, 1);
    /// r.add_interface(3, me, Duration::ZERO).unwrap();
    /// assert!(r.is_own(me));
    /// assert!(!r.is_own(Ipv4Addr::new(203, 0, 113, 2)));
    /// // Its own packets, looped back, are ignored.
    /// assert!(r.receive(3, me, &encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)), Duration::from_secs(1)).is_empty());
    /// ```
    pub fn is_own(&self, a: P::Addr) -> bool {
        self.ifaces.values().any(|i| i.address == a)
    }

    /// Starts IGMP on an interface: the router is querier until it hears a lower address,
    /// and sends its startup general queries (the first at once). The link's subnets are
    /// unknown (sources unchecked) until [`IgmpRouter::set_subnets`]; its input policy is
    /// the configuration's.
    ///
    /// ```
    /// use mgm_igmp::{IgmpAction, ALL_SYSTEMS};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// let acts = r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let [IgmpAction::Send { ifindex: 3, destination, query }] = &acts[..] else { panic!("{acts:?}") };
    /// assert_eq!(*destination, ALL_SYSTEMS);
    /// assert!(query.group.is_unspecified(), "a general query");
    /// assert_eq!((query.version, query.max_response), (3, Duration::from_secs(10)));
    /// ```
    ///
    /// # Errors
    /// An address that cannot be the router's there ([`Protocol::address_problem`]: for
    /// MLD, one that is not link-local); nothing changes then.
    ///
    /// ```
    /// use mgm_igmp::{MldConfig, MldRouter};
    /// use std::{net::Ipv6Addr, time::Duration};
    /// let mut r = MldRouter::new(MldConfig::default());
    /// let global: Ipv6Addr = "2001:db8:2::1".parse().unwrap();
    /// let e = r.add_interface(3, global, Duration::ZERO).unwrap_err();
    /// assert!(e.to_string().contains("2001:db8:2::1") && e.to_string().contains("link-local"), "{e}");
    /// assert!(r.interfaces().is_empty());
    /// assert!(r.add_interface(3, "fe80::1".parse().unwrap(), Duration::ZERO).is_ok());
    /// ```
    pub fn add_interface(
        &mut self,
        ifindex: u32,
        address: P::Addr,
        now: Duration,
    ) -> Result<Vec<Action<P::Addr>>, AddressError<P::Addr>> {
        if let Some(why) = P::address_problem(address) {
            return Err(AddressError {
                ifindex,
                address,
                why,
            });
        }
        let _ = self.remove_interface(ifindex);
        self.ifaces.insert(
            ifindex,
            InterfaceState {
                address,
                querier: true,
                other_querier: None,
                other_querier_until: None,
                next_general_query: now,
                startup_left: self.config.robustness,
                groups: GroupTable::new(),
                subnets: Vec::new(),
                policy: self.config.input,
                counters: IgmpCounters::default(),
                hosts: HashMap::new(),
                holders: HashMap::new(),
            },
        );
        Ok(self.tick(now))
    }

    /// Sets the IP header checks of one interface (for a link with old hosts). False when
    /// IGMP does not run on `ifindex`.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, Heard, IgmpConfig, IgmpRouter, InputPolicy};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let old = Heard { router_alert: false, ..Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2)) };
    /// let report = encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3));
    /// assert!(r.receive_packet(3, &old, &report, Duration::from_secs(1)).is_empty());
    /// r.set_input_policy(3, InputPolicy { require_router_alert: false, ..InputPolicy::default() });
    /// assert_eq!(r.receive_packet(3, &old, &report, Duration::from_secs(2)).len(), 1, "joined");
    /// ```
    pub fn set_input_policy(&mut self, ifindex: u32, policy: InputPolicy) -> bool {
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return false;
        };
        st.policy = policy;
        true
    }

    /// Gives the router a new address on an interface (its querier address, and the source
    /// of its queries from now on). False when IGMP does not run on `ifindex`.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// assert!(r.set_address(3, Ipv4Addr::new(203, 0, 113, 9)));
    /// assert_eq!(r.interfaces()[&3].address, Ipv4Addr::new(203, 0, 113, 9));
    /// assert!(!r.is_own(Ipv4Addr::new(203, 0, 113, 1)));
    /// assert!(!r.set_address(4, Ipv4Addr::new(203, 0, 113, 9)));
    /// ```
    pub fn set_address(&mut self, ifindex: u32, address: P::Addr) -> bool {
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return false;
        };
        st.address = address;
        true
    }

    /// Moves an interface's whole state (groups, hosts, timers, querier state) to another
    /// ifindex: the same link, deleted and created again by the host. False, and nothing
    /// changed, when IGMP does not run on `from` or already runs on `to`.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::from_secs(1));
    /// assert!(r.renumber(3, 5));
    /// assert!(r.memberships(3).is_empty());
    /// assert_eq!(r.memberships(5), vec![Selector::Group(g)]);
    /// // The group's timer moved too: it expires on ifindex 5.
    /// let acts = r.tick(Duration::from_secs(1000));
    /// assert!(acts.iter().any(|a| matches!(a, mgm_igmp::IgmpAction::Leave { ifindex: 5, .. })));
    /// ```
    pub fn renumber(&mut self, from: u32, to: u32) -> bool {
        if from == to || self.ifaces.contains_key(&to) {
            return false;
        }
        let Some(st) = self.ifaces.remove(&from) else {
            return false;
        };
        self.ifaces.insert(to, st);
        let wakes: Vec<_> = self.wakes.iter().filter(|w| w.1 == from).copied().collect();
        for w in wakes {
            self.wakes.remove(&w);
            self.wakes.insert((w.0, to, w.2));
        }
        let hosts: Vec<_> = self
            .host_expiry
            .iter()
            .filter(|h| h.1 == from)
            .copied()
            .collect();
        for h in hosts {
            self.host_expiry.remove(&h);
            self.host_expiry.insert((h.0, to, h.2, h.3));
        }
        true
    }

    /// Stops IGMP on an interface; returns the leaves of its memberships.
    ///
    /// ```
    /// use mgm_igmp::{encode_v3_report, GroupRecord, IgmpAction};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(232, 1, 1, 1));
    /// let allow = GroupRecord { kind: 5, group: g, sources: vec![s] };
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v3_report(&[allow]), Duration::from_secs(1));
    /// assert_eq!(r.remove_interface(3), vec![IgmpAction::Leave { ifindex: 3, selector: Selector::Source { source: s, group: g } }]);
    /// assert!(r.remove_interface(3).is_empty(), "already gone");
    /// ```
    pub fn remove_interface(&mut self, ifindex: u32) -> Vec<Action<P::Addr>> {
        let Some(st) = self.ifaces.remove(&ifindex) else {
            return Vec::new();
        };
        for (g, gs) in st.groups.after(None) {
            if let Some(t) = gs.wake {
                self.wakes.remove(&(t, ifindex, g));
            }
        }
        for (host, rec) in &st.hosts {
            for (key, h) in rec.iter() {
                self.host_expiry.remove(&(h.filed, ifindex, *host, key));
            }
        }
        st.groups
            .after(None)
            .flat_map(|(_, g)| g.joined.iter())
            .map(|selector| Action::Leave {
                ifindex,
                selector: *selector,
            })
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
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let host = Ipv4Addr::new(203, 0, 113, 2);
    /// let (s, ssm) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(232, 1, 1, 1));
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// r.receive(3, host, &encode_v3_report(&[GroupRecord { kind: 1, group: ssm, sources: vec![s] }]), Duration::from_secs(1));
    /// r.receive(3, host, &encode_v2(0x16, g), Duration::from_secs(1));
    /// assert_eq!(r.memberships(3), vec![Selector::Source { source: s, group: ssm }, Selector::Group(g)]);
    /// assert!(r.memberships(9).is_empty(), "not an IGMP interface");
    /// ```
    pub fn memberships(&self, ifindex: u32) -> Vec<Selector<P::Addr>> {
        self.ifaces.get(&ifindex).map_or(Vec::new(), |i| {
            i.groups
                .after(None)
                .flat_map(|(_, g)| g.joined.iter().copied())
                .collect()
        })
    }

    /// The memberships the engine should have for one group on an interface now: what
    /// [`IgmpRouter::memberships`] lists of that group, found without a walk of the others
    /// (a proxy follows each [`Action::Join`] and [`Action::Leave`] with it).
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let (g, h) = (Ipv4Addr::new(239, 1, 2, 3), Ipv4Addr::new(239, 1, 2, 4));
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::from_secs(1));
    /// assert_eq!(r.group_memberships(3, g), vec![Selector::Group(g)]);
    /// assert!(r.group_memberships(3, h).is_empty() && r.group_memberships(9, g).is_empty());
    /// ```
    pub fn group_memberships(&self, ifindex: u32, group: P::Addr) -> Vec<Selector<P::Addr>> {
        self.ifaces
            .get(&ifindex)
            .and_then(|i| i.group(group))
            .map_or(Vec::new(), |g| g.joined.iter().copied().collect())
    }

    /// The earliest time [`IgmpRouter::tick`] has something to do. Reads the first entry
    /// of the timer index and each interface's querier timers: it does not visit groups.
    /// After a refresh it may be early (the module's docs: filed early, moved late): the
    /// tick then finds nothing due and only files the entry again, never late.
    ///
    /// ```
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// // The second startup general query is the next thing to do.
    /// let due = r.next_deadline().unwrap();
    /// assert_eq!(due, Duration::from_millis(31_250));
    /// assert!(r.tick(due - Duration::from_millis(1)).is_empty());
    /// assert_eq!(r.tick(due).len(), 1);
    /// ```
    pub fn next_deadline(&self) -> Option<Duration> {
        let groups = self.wakes.first().map(|w| w.0);
        let hosts = self.host_expiry.first().map(|h| h.0);
        self.ifaces
            .values()
            .flat_map(|i| {
                [
                    i.querier.then_some(i.next_general_query),
                    i.other_querier_until,
                ]
            })
            .chain([groups, hosts])
            .flatten()
            .min()
    }

    /// Handles one IGMP message heard on `ifindex` from `source`, as a conforming host sends
    /// it (TTL 1, Router Alert): [`IgmpRouter::receive_packet`] with
    /// [`Heard::well_formed`].
    ///
    /// ```
    /// use mgm_igmp::{encode_v3_report, GroupRecord, IgmpAction};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
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
        source: P::Addr,
        payload: &[u8],
        now: Duration,
    ) -> Vec<Action<P::Addr>> {
        self.receive_packet(ifindex, &Heard::well_formed(source), payload, now)
    }

    /// Handles one IGMP message heard on `ifindex`. It is counted, then dropped (counted by
    /// reason, see [`IgmpCounters`]) when the router sent it, it is malformed, its TTL or
    /// Router Alert fail the link's [`InputPolicy`], or its source is off the link's
    /// subnets; invalid sources are taken out of records and records over a limit are
    /// refused before anything enters the state. The work is logarithmic in the number of
    /// groups (and linear in the message's size).
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, Heard, IgmpConfig, IgmpRouter};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let host = Heard::well_formed(Ipv4Addr::new(203, 0, 113, 2));
    /// let report = encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3));
    /// assert!(r.receive_packet(3, &Heard { ttl: 64, ..host }, &report, Duration::from_secs(1)).is_empty());
    /// assert_eq!(r.receive_packet(3, &host, &report, Duration::from_secs(1)).len(), 1, "joined");
    /// let c = r.counters(3).unwrap();
    /// assert_eq!((c.received, c.accepted, c.bad_ttl), (2, 1, 1));
    /// ```
    pub fn receive_packet(
        &mut self,
        ifindex: u32,
        heard: &Heard<P::Addr>,
        payload: &[u8],
        now: Duration,
    ) -> Vec<Action<P::Addr>> {
        let mut out = Vec::new();
        let own = self.is_own(heard.source);
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            self.unknown_interface = self.unknown_interface.saturating_add(1);
            return out;
        };
        let Some(msg) = admit::<P>(
            &mut st.counters,
            &st.policy,
            &st.subnets,
            heard,
            own,
            payload,
        ) else {
            return out;
        };
        let host = heard.source;
        let mut touched = Vec::new();
        match msg {
            Received::Query(q) => self.heard_query(ifindex, host, &q, now, &mut touched),
            Received::OldReport(g) => {
                self.old_report(ifindex, host, g, now, &mut touched);
            }
            Received::OldLeave(g) => {
                if let Some(mut book) = self.book(ifindex, host, g) {
                    // RFC 3376 7.3.2: TO_IN {}.
                    book.include_only(g, &[]);
                    self.leave(ifindex, g, now, &mut touched);
                }
            }
            Received::Records(recs) => {
                for r in recs {
                    self.record(ifindex, host, r, now, &mut touched);
                }
            }
        }
        self.settle_interface(ifindex, now, &mut out);
        touched.sort_unstable();
        touched.dedup();
        for g in touched {
            self.settle_group(ifindex, g, now, &mut out);
        }
        out
    }

    /// The interface's host table for `host`, when `g` is a routable group (else counted).
    fn book(&mut self, ifindex: u32, host: P::Addr, g: P::Addr) -> Option<HostBook<'_, P::Addr>> {
        let limit = self.config.limits.memberships_per_host;
        let hosts_limit = self.config.limits.hosts_per_interface;
        let st = self.ifaces.get_mut(&ifindex)?;
        if !P::routable(g) {
            st.counters.invalid_groups += 1;
            return None;
        }
        Some(HostBook {
            hosts: &mut st.hosts,
            holders: &mut st.holders,
            expiry: &mut self.host_expiry,
            ifindex,
            host,
            limit,
            hosts_limit,
        })
    }

    /// An IGMPv1/v2 report: EXCLUDE mode, and compatibility mode.
    fn old_report(
        &mut self,
        ifindex: u32,
        host: P::Addr,
        g: P::Addr,
        now: Duration,
        touched: &mut Vec<P::Addr>,
    ) {
        let cfg = self.config;
        let until = now + cfg.group_membership_interval();
        let limit = cfg.limits.memberships_per_host;
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let InterfaceState {
            groups,
            hosts,
            holders,
            counters,
            ..
        } = st;
        if !P::routable(g) {
            counters.invalid_groups += 1;
            return;
        }
        let Some(slot) = group_slot(groups, counters, &cfg.limits, g) else {
            return;
        };
        let mut book = HostBook {
            hosts,
            holders,
            expiry: &mut self.host_expiry,
            ifindex,
            host,
            limit,
            hosts_limit: cfg.limits.hosts_per_interface,
        };
        // RFC 3376 7.3.2: the report is IS_EX {}; the host's named sources go (first, so
        // that they free their budget).
        let released = book.release_sources_except(g, &[]);
        if !book.charge(counters, (g, P::Addr::UNSPECIFIED), until) {
            return;
        }
        let gs = slot.or_default();
        gs.group_timer = Some(until);
        gs.old_host_until = Some(until);
        if cfg.fast_leave && released {
            prune_untracked(gs, holders, g);
        }
        touched.push(g);
    }

    fn heard_query(
        &mut self,
        ifindex: u32,
        source: P::Addr,
        q: &Query<P::Addr>,
        now: Duration,
        touched: &mut Vec<P::Addr>,
    ) {
        let cfg = self.config;
        let lmqt = cfg.last_member_query_time();
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        if source < st.address && source != P::Addr::UNSPECIFIED {
            st.querier = false;
            st.other_querier = Some(source);
            st.other_querier_until = Some(now + cfg.other_querier_present_interval());
            st.startup_left = 0;
        }
        // As non-querier, lower timers on the querier's specific queries (RFC 3376 6.6.1).
        if !st.querier && q.group != P::Addr::UNSPECIFIED && !q.s_flag {
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
                touched.push(q.group);
            }
        }
    }

    /// An IGMPv2 leave (the host's record is already released): with fast leave, what no
    /// tracked host holds goes at once; otherwise the last member queries begin.
    fn leave(&mut self, ifindex: u32, g: P::Addr, now: Duration, touched: &mut Vec<P::Addr>) {
        let cfg = self.config;
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let querier = st.querier;
        let Some(gs) = st.groups.get_mut(&g) else {
            return;
        };
        if cfg.fast_leave {
            prune_untracked(gs, &st.holders, g);
            touched.push(g);
            return;
        }
        if gs.group_timer.is_none() {
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
        touched.push(g);
    }

    /// One IGMPv3 group record from `host`: the host's record first (explicit tracking),
    /// then the group's state (RFC 3376 6.4). With fast leave, what the host took back and
    /// no other tracked host holds goes at once, instead of the RFC's queries.
    fn record(
        &mut self,
        ifindex: u32,
        host: P::Addr,
        r: GroupRecord<P::Addr>,
        now: Duration,
        touched: &mut Vec<P::Addr>,
    ) {
        let cfg = self.config;
        let gmi = cfg.group_membership_interval();
        let lmqt = cfg.last_member_query_time();
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let querier = st.querier;
        let InterfaceState {
            groups,
            hosts,
            holders,
            counters,
            ..
        } = st;
        let g = r.group;
        if !P::routable(g) {
            counters.invalid_groups += 1;
            return;
        }
        let mut sources = r.sources;
        let before = sources.len();
        sources.retain(|s| P::valid_source(*s));
        counters.invalid_sources += (before - sources.len()) as u64;
        sources.sort_unstable();
        sources.dedup();
        let mut book = HostBook {
            hosts,
            holders,
            expiry: &mut self.host_expiry,
            ifindex,
            host,
            limit: cfg.limits.memberships_per_host,
            hosts_limit: cfg.limits.hosts_per_interface,
        };
        let mut released = false;
        let mut group_leave = false;
        match r.kind {
            1 | 3 | 5 => {
                if r.kind != 5 {
                    // IS_IN, TO_IN: the host is in INCLUDE mode with these sources.
                    released = book.include_only(g, &sources);
                }
                let slot = if sources.is_empty() {
                    None
                } else {
                    group_slot(groups, counters, &cfg.limits, g)
                };
                if let Some(slot) = slot {
                    let gs = slot.or_default();
                    for &s in &sources {
                        if !gs.sources.contains_key(&s)
                            && gs.sources.len() >= cfg.limits.sources_per_group
                        {
                            counters.source_limit += 1;
                        } else if book.charge(counters, (g, s), now + gmi) {
                            gs.sources.insert(s, now + gmi);
                            gs.ssq.remove(&s);
                        }
                    }
                    // A group created for nothing goes at its settle.
                    touched.push(g);
                }
                if r.kind == 3 && !cfg.fast_leave {
                    if let Some(gs) = groups.get_mut(&g) {
                        touched.push(g);
                        if gs.group_timer.is_some() {
                            group_leave = true;
                        } else {
                            let gone: Vec<P::Addr> = gs
                                .sources
                                .keys()
                                .filter(|s| sources.binary_search(s).is_err())
                                .copied()
                                .collect();
                            Self::lower_sources(gs, &gone, &cfg, querier, now, lmqt);
                        }
                    }
                }
            }
            2 | 4 => {
                if let Some(slot) = group_slot(groups, counters, &cfg.limits, g) {
                    // IS_EX, TO_EX: EXCLUDE mode covers the sources the host named.
                    released = book.release_sources_except(g, &[]);
                    if book.charge(counters, (g, P::Addr::UNSPECIFIED), now + gmi) {
                        slot.or_default().group_timer = Some(now + gmi);
                        touched.push(g);
                    }
                }
            }
            6 => {
                for &s in &sources {
                    released |= book.holds((g, s));
                    book.release((g, s));
                }
                if let Some(gs) = groups.get_mut(&g).filter(|_| !cfg.fast_leave) {
                    let compat = gs.old_host_until.is_some_and(|t| t > now);
                    if !compat && gs.group_timer.is_none() {
                        let gone: Vec<P::Addr> = sources
                            .iter()
                            .filter(|s| gs.sources.contains_key(s))
                            .copied()
                            .collect();
                        Self::lower_sources(gs, &gone, &cfg, querier, now, lmqt);
                        touched.push(g);
                    }
                }
            }
            _ => {}
        }
        if cfg.fast_leave && (released || matches!(r.kind, 3 | 6)) {
            if let Some(gs) = groups.get_mut(&g) {
                prune_untracked(gs, holders, g);
                touched.push(g);
            }
        }
        if group_leave {
            self.leave(ifindex, g, now, touched);
        }
    }

    /// RFC 3376 6.4.2, as querier: the sources' timers go down to the last member query
    /// time and group-and-source-specific queries begin.
    fn lower_sources(
        gs: &mut GroupState<P::Addr>,
        gone: &[P::Addr],
        cfg: &IgmpConfig,
        querier: bool,
        now: Duration,
        lmqt: Duration,
    ) {
        if !querier {
            return;
        }
        for s in gone {
            if let Some(t) = gs.sources.get_mut(s) {
                *t = (*t).min(now + lmqt);
            }
            gs.ssq.insert(*s, cfg.last_member_query_count);
            gs.ssq_next = Some(now);
        }
    }

    /// Sends due queries, expires timers, and reports membership changes. Only the groups
    /// whose timers are due are visited (taken from the front of the timer index).
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpAction, ALL_SYSTEMS};
    /// use mgm_igmp::{IgmpConfig, IgmpRouter};
    /// use mgm::Selector;
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// let g = Ipv4Addr::new(239, 1, 2, 3);
    /// r.receive(3, Ipv4Addr::new(203, 0, 113, 2), &encode_v2(0x16, g), Duration::ZERO);
    /// // The startup queries: every 31.25 s, then every 125 s.
    /// assert!(matches!(&r.tick(Duration::from_millis(31_250))[..], [IgmpAction::Send { destination, .. }] if *destination == ALL_SYSTEMS));
    /// // Nobody answered: the membership ends after the group membership interval (260 s).
    /// let gmi = r.config().group_membership_interval();
    /// assert!(r.tick(gmi - Duration::from_millis(1)).iter().all(|a| !matches!(a, IgmpAction::Leave { .. })));
    /// assert!(r.tick(gmi).contains(&IgmpAction::Leave { ifindex: 3, selector: Selector::Group(g) }));
    /// ```
    pub fn tick(&mut self, now: Duration) -> Vec<Action<P::Addr>> {
        let mut out = Vec::new();
        let ids: Vec<u32> = self.ifaces.keys().copied().collect();
        for i in ids {
            self.settle_interface(i, now, &mut out);
        }
        // Taken out first, then settled: a timer a settle sets to `now` waits for the next
        // tick instead of looping.
        let mut due = Vec::new();
        while let Some(&w) = self.wakes.first() {
            if w.0 > now {
                break;
            }
            self.wakes.pop_first();
            due.push(w);
        }
        for (_, ifindex, g) in due {
            if let Some(gs) = self
                .ifaces
                .get_mut(&ifindex)
                .and_then(|st| st.groups.get_mut(&g))
            {
                gs.wake = None;
            }
            self.settle_group(ifindex, g, now, &mut out);
        }
        self.expire_hosts(now);
        out
    }

    /// Forgets the host memberships whose time is up.
    fn expire_hosts(&mut self, now: Duration) {
        while let Some(&(t, ifindex, host, key)) = self.host_expiry.first() {
            if t > now {
                break;
            }
            self.host_expiry.pop_first();
            let Some(st) = self.ifaces.get_mut(&ifindex) else {
                continue;
            };
            if let Some(rec) = st.hosts.get_mut(&host) {
                match rec.get_mut(key) {
                    // Refreshed since it was filed: filed again at its expiry, later than now.
                    Some(h) if h.filed == t && h.until > now => {
                        h.filed = h.until;
                        self.host_expiry.insert((h.until, ifindex, host, key));
                    }
                    Some(h) if h.filed == t => {
                        rec.take(key);
                        unhold(&mut st.holders, key);
                    }
                    _ => {}
                }
                if rec.count == 0 {
                    st.hosts.remove(&host);
                }
            }
        }
    }

    /// The interface's querier timers: election and general queries.
    fn settle_interface(&mut self, ifindex: u32, now: Duration, out: &mut Vec<Action<P::Addr>>) {
        let cfg = self.config;
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
            out.push(Action::Send {
                ifindex,
                destination: P::ALL_NODES,
                query: query_for::<P>(&cfg, P::Addr::UNSPECIFIED, Vec::new(), false),
            });
            if st.startup_left > 1 {
                st.startup_left -= 1;
                st.next_general_query = now + cfg.startup_query_interval();
            } else {
                st.startup_left = 0;
                st.next_general_query = now + cfg.query_interval;
            }
        }
    }

    /// Runs one group's timers, turns its state into engine actions, and files it under its
    /// next timer (or forgets it when it has no state left).
    fn settle_group(
        &mut self,
        ifindex: u32,
        g: P::Addr,
        now: Duration,
        out: &mut Vec<Action<P::Addr>>,
    ) {
        let cfg = self.config;
        let lmqt = cfg.last_member_query_time();
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return;
        };
        let querier = st.querier;
        let Some(gs) = st.groups.get_mut(&g) else {
            return;
        };
        let mut sends = Vec::new();
        if let Some((left, at)) = gs.gsq {
            if at <= now {
                if querier && left > 0 {
                    let s_flag = gs.group_timer.is_some_and(|t| t > now + lmqt);
                    sends.push(query_for::<P>(&cfg, g, Vec::new(), s_flag));
                }
                gs.gsq =
                    (left > 1 && querier).then(|| (left - 1, now + cfg.last_member_query_interval));
            }
        }
        if gs.ssq_next.is_some_and(|t| t <= now) {
            let srcs: Vec<P::Addr> = gs.ssq.keys().copied().collect();
            if querier && !srcs.is_empty() {
                sends.push(query_for::<P>(&cfg, g, srcs, false));
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
        let leaves = gs.joined.difference(&wanted).map(|sel| Action::Leave {
            ifindex,
            selector: *sel,
        });
        let joins = wanted.difference(&gs.joined).map(|sel| Action::Join {
            ifindex,
            selector: *sel,
        });
        let changes: Vec<Action<P::Addr>> = leaves.chain(joins).collect();
        gs.joined = wanted;
        let idle = gs.idle();
        let next = if idle { None } else { gs.next_timer() };
        // Filed at or before the next timer already (a refresh): left where it is.
        if !matches!((gs.wake, next), (Some(w), Some(t)) if w <= t) {
            if let Some(w) = gs.wake.take() {
                self.wakes.remove(&(w, ifindex, g));
            }
            if let Some(t) = next {
                gs.wake = Some(t);
                self.wakes.insert((t, ifindex, g));
            }
        }
        if idle {
            st.groups.remove(&g);
        }
        out.extend(sends.into_iter().map(|query| Action::Send {
            ifindex,
            destination: g,
            query,
        }));
        out.extend(changes);
    }
}

impl Router<Igmp> {
    /// Sets the subnets of an interface's link; from now on reports from other sources
    /// (but 0.0.0.0) and queries from other sources are dropped. False when IGMP does not
    /// run on `ifindex`.
    ///
    /// ```
    /// use mgm_igmp::{encode_v2, IgmpConfig, IgmpRouter, Subnet};
    /// use std::{net::Ipv4Addr, time::Duration};
    /// let mut r = IgmpRouter::new(IgmpConfig::default());
    /// r.add_interface(3, Ipv4Addr::new(203, 0, 113, 1), Duration::ZERO).unwrap();
    /// assert!(r.set_subnets(3, &[Subnet::new(Ipv4Addr::new(203, 0, 113, 1), 24)]));
    /// let report = encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3));
    /// assert!(r.receive(3, Ipv4Addr::new(8, 8, 8, 8), &report, Duration::from_secs(1)).is_empty());
    /// assert_eq!(r.counters(3).unwrap().off_subnet_report, 1);
    /// assert!(!r.set_subnets(9, &[]));
    /// ```
    pub fn set_subnets(&mut self, ifindex: u32, subnets: &[Subnet<Ipv4Addr>]) -> bool {
        let Some(st) = self.ifaces.get_mut(&ifindex) else {
            return false;
        };
        st.subnets = subnets.to_vec();
        true
    }
}

#[cfg(test)]
mod mld_tests;
#[cfg(test)]
mod tests;
