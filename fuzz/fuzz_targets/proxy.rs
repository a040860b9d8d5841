//! The proxy's upstream host side (`mgm-igmp`'s `ProxyHost`, IGMP or MLD as the input says)
//! under arbitrary downstream changes (records with any mode and sources, router selectors,
//! one group at a time, interfaces taken away, everything reported again), arbitrary
//! upstream packets (queries of every version, other hosts' reports, raw bytes, any TTL,
//! Router Alert or not, any source), any configuration, and time moving in arbitrary steps.
//! After every step:
//!
//! * nothing panicked;
//! * `ProxyHost::check_invariants`: the upstream membership is the merge of the downstream
//!   ones, pending state is consistent, answers filed by time, counters add up;
//! * the upstream membership is also the merge this target computes itself from what it gave;
//! * every packet goes out of the upstream interface to where its message belongs, fits the
//!   MTU, decodes back to its message, and is of the version the host speaks: IGMPv3/MLDv2
//!   reports only in that mode, older reports of the mode's version, leaves only in IGMPv2 /
//!   MLDv1 mode; an older report is for a group held, a leave for one no longer held;
//! * while the host has only ever spoken IGMPv3/MLDv2 (and no `TO_EX` list was cut, no
//!   `TO_IN` list split, to fit the MTU), what its state-change reports told a listening
//!   router (applying `TO_IN`, `TO_EX`, `ALLOW`, `BLOCK`) is exactly its membership after
//!   every step: every change was reported at once;
//! * after every step (a tick, a downstream change, a packet, kept or dropped), nothing is
//!   due any more (`next_deadline` is later than now).
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mgm::{Family, Selector};
use mgm_igmp::{
    checksum, FilterMode, Heard, HostAction, HostMessage, Igmp, InputPolicy, Mld, Protocol,
    ProxyConfig, ProxyHost, Query, Received, SourceFilter,
};

/// Longest step sequence one input runs.
const MAX_STEPS: usize = 200;
/// The upstream interface.
const UP: u32 = 7;

/// A protocol as the target drives it: the pools its addresses come from.
trait Side: Protocol {
    /// The proxy's own address upstream.
    const ME: Self::Addr;
    fn group(n: u8) -> Self::Addr;
    fn source(n: u8) -> Self::Addr;
    fn sender(n: u8) -> Self::Addr;
    /// A query of `version` (any number: old ones as the older format).
    fn query(q: &Query<Self::Addr>) -> Vec<u8>;
}

impl Side for Igmp {
    const ME: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
    fn group(n: u8) -> Ipv4Addr {
        match n % 12 {
            0 => Ipv4Addr::new(224, 0, 0, 1),
            1 => Ipv4Addr::new(10, 0, 0, 1),
            n => Ipv4Addr::new(239, 1, 0, n),
        }
    }
    fn source(n: u8) -> Ipv4Addr {
        match n % 12 {
            0 => Ipv4Addr::UNSPECIFIED,
            1 => Ipv4Addr::new(239, 9, 9, 9),
            n => Ipv4Addr::new(203, 0, 113, n),
        }
    }
    fn sender(n: u8) -> Ipv4Addr {
        match n % 4 {
            0 => Self::ME,
            1 => Ipv4Addr::UNSPECIFIED,
            n => Ipv4Addr::new(198, 51, 100, n),
        }
    }
    fn query(q: &Query<Ipv4Addr>) -> Vec<u8> {
        if q.version >= 3 {
            return q.encode();
        }
        // The 8-byte IGMPv1 (code 0) or v2 form.
        let code = if q.version == 1 {
            0
        } else {
            u8::try_from(q.max_response.as_millis() / 100).unwrap_or(u8::MAX)
        };
        let mut b = vec![0x11, code, 0, 0];
        b.extend_from_slice(&q.group.octets());
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }
}

impl Side for Mld {
    const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    fn group(n: u8) -> Ipv6Addr {
        match n % 12 {
            0 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            1 => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            n => Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, u16::from(n)),
        }
    }
    fn source(n: u8) -> Ipv6Addr {
        match n % 12 {
            0 => Ipv6Addr::UNSPECIFIED,
            1 => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
            n => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)),
        }
    }
    fn sender(n: u8) -> Ipv6Addr {
        match n % 4 {
            0 => Self::ME,
            1 => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99),
            n => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(n)),
        }
    }
    fn query(q: &Query<Ipv6Addr>) -> Vec<u8> {
        Query {
            version: if q.version >= 3 { 2 } else { 1 },
            ..q.clone()
        }
        .encode()
    }
}

#[derive(Arbitrary, Debug)]
enum Upstream {
    Raw(Vec<u8>),
    Query {
        group: Option<u8>,
        sources: Vec<u8>,
        max_response_ms: u16,
        version: u8,
    },
    /// Another host's report or leave.
    Theirs {
        group: u8,
        leave: bool,
    },
}

#[derive(Arbitrary, Debug)]
enum Step {
    Downstream {
        iface: u8,
        records: Vec<(u8, bool, Vec<u8>)>,
        after_ms: u16,
    },
    Selectors {
        iface: u8,
        selectors: Vec<(u8, Option<u8>)>,
        after_ms: u16,
    },
    Remove {
        iface: u8,
        after_ms: u16,
    },
    /// One group of one interface.
    Group {
        iface: u8,
        group: u8,
        exclude: bool,
        sources: Vec<u8>,
        after_ms: u16,
    },
    /// Everything again.
    Resend {
        after_ms: u16,
    },
    Packet {
        sender: u8,
        ttl: u8,
        router_alert: bool,
        msg: Upstream,
        after_ms: u16,
    },
    Tick {
        after_ms: u32,
    },
    /// To the next deadline, whatever it is.
    Next,
}

#[derive(Arbitrary, Debug)]
struct Input {
    ipv6: bool,
    robustness: u8,
    unsolicited_ms: u16,
    mtu: u16,
    seed: u64,
    steps: Vec<Step>,
}

/// What a router listening upstream has been told, per group, from state-change reports.
type Told<A> = BTreeMap<A, SourceFilter<A>>;

fn apply<A: Family>(told: &mut Told<A>, kind: u8, group: A, sources: &[A]) {
    let f = told.entry(group).or_default();
    let set: BTreeSet<A> = sources.iter().copied().collect();
    match (kind, f.mode) {
        (3, _) => *f = SourceFilter::include(set),
        (4, _) => *f = SourceFilter::exclude(set),
        (5, FilterMode::Include) | (6, FilterMode::Exclude) => f.sources.extend(set),
        (5, FilterMode::Exclude) | (6, FilterMode::Include) => {
            f.sources.retain(|s| !set.contains(s))
        }
        _ => {}
    }
    if f.is_empty() {
        told.remove(&group);
    }
}

struct Driver<P: Side> {
    host: ProxyHost<P>,
    given: BTreeMap<u32, Vec<(P::Addr, SourceFilter<P::Addr>)>>,
    told: Told<P::Addr>,
    only_current: bool,
    now: Duration,
}

impl<P: Side> Driver<P> {
    /// Checks and applies what one call sent; `before` is the membership before the call
    /// (what was due by then went out before the call's own change).
    fn follow(&mut self, before: &BTreeSet<P::Addr>, acts: &[HostAction<P::Addr>]) {
        let after = self.host.membership();
        let version = self.host.version();
        let current = version == P::QUERY_VERSION;
        self.only_current &= current;
        let mtu = self.host.config().mtu.max(P::MIN_MTU);
        for a in acts {
            assert_eq!(a.ifindex, UP);
            assert!(
                a.payload.len() + P::REPORT_OVERHEAD - 8 <= mtu.min(65_535),
                "{} bytes over the MTU {mtu}",
                a.payload.len()
            );
            let (to, back) = match &a.message {
                HostMessage::Report(r) => {
                    assert!(current, "a report in version {version}");
                    for rec in r {
                        // An EXCLUDE list cut to fit the MTU tells less than the state:
                        // allowed (more traffic, never less), but the model stops there.
                        // So does a TO_IN list split over several reports (each part adds
                        // to what the router holds, which the model does not follow).
                        let held = after.get(&rec.group);
                        if matches!(rec.kind, 3 | 4)
                            && held.is_some_and(|f| f.sources.len() > rec.sources.len())
                        {
                            self.only_current = false;
                        }
                        apply(&mut self.told, rec.kind, rec.group, &rec.sources);
                    }
                    (P::REPORTS_TO, Received::Records(r.clone()))
                }
                HostMessage::OldReport { version: v, group } => {
                    assert_eq!(*v, version, "an old report in version {version}");
                    assert!(
                        before.contains(group) || after.contains_key(group),
                        "report of {group}"
                    );
                    (*group, Received::OldReport(*group))
                }
                HostMessage::Leave(group) => {
                    assert_eq!(
                        version,
                        P::QUERY_VERSION - 1,
                        "a leave in version {version}"
                    );
                    assert!(
                        before.contains(group) && !after.contains_key(group),
                        "leave of {group}"
                    );
                    (P::LEAVES_TO, Received::OldLeave(*group))
                }
            };
            assert_eq!(a.destination, to);
            assert_eq!(P::decode(&a.payload), Some(back));
        }
    }

    fn check(&self) {
        if let Err(e) = self.host.check_invariants() {
            panic!("{e}");
        }
        // The merge, computed here from what was given.
        let mut per_group: BTreeMap<P::Addr, Vec<SourceFilter<P::Addr>>> = BTreeMap::new();
        for records in self.given.values() {
            for (g, f) in records {
                if !P::routable(*g) {
                    continue;
                }
                let mut f = f.clone();
                f.sources.retain(|s| P::valid_source(*s));
                per_group.entry(*g).or_default().push(f);
            }
        }
        let want: BTreeMap<P::Addr, SourceFilter<P::Addr>> = per_group
            .into_iter()
            .map(|(g, fs)| (g, SourceFilter::merge(&fs)))
            .filter(|(_, f)| !f.is_empty())
            .collect();
        assert_eq!(self.host.membership(), &want);
        if self.only_current {
            assert_eq!(
                &self.told,
                self.host.membership(),
                "what the upstream was told"
            );
        }
    }

    fn downstream(&mut self, iface: u8, records: Vec<(P::Addr, SourceFilter<P::Addr>)>) {
        let i = u32::from(iface % 4) + 10;
        let before = self.held();
        let acts = self.host.set_downstream(i, records.clone(), self.now);
        if records.is_empty() {
            self.given.remove(&i);
        } else {
            self.given.insert(i, records);
        }
        self.follow(&before, &acts);
    }

    fn held(&self) -> BTreeSet<P::Addr> {
        self.host.membership().keys().copied().collect()
    }
}

fn run<P: Side>(input: Input) {
    let cfg = ProxyConfig {
        robustness: input.robustness % 5,
        unsolicited_report_interval: Duration::from_millis(u64::from(input.unsolicited_ms % 3000)),
        mtu: usize::from(input.mtu),
        seed: input.seed,
        input: InputPolicy::default(),
        ..ProxyConfig::default()
    };
    let mut d = Driver::<P> {
        host: ProxyHost::new(cfg, UP, P::ME),
        given: BTreeMap::new(),
        told: Told::new(),
        only_current: true,
        now: Duration::ZERO,
    };
    for step in input.steps.into_iter().take(MAX_STEPS) {
        match step {
            Step::Downstream {
                iface,
                records,
                after_ms,
            } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let records = records
                    .iter()
                    .map(|(g, exclude, sources)| {
                        let sources = sources.iter().map(|s| P::source(*s));
                        let f = if *exclude {
                            SourceFilter::exclude(sources)
                        } else {
                            SourceFilter::include(sources)
                        };
                        (P::group(*g), f)
                    })
                    .collect();
                d.downstream(iface, records);
            }
            Step::Selectors {
                iface,
                selectors,
                after_ms,
            } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let sels: Vec<Selector<P::Addr>> = selectors
                    .iter()
                    .map(|(g, s)| match s {
                        None => Selector::Group(P::group(*g)),
                        Some(s) => Selector::Source {
                            source: P::source(*s),
                            group: P::group(*g),
                        },
                    })
                    .collect();
                let i = u32::from(iface % 4) + 10;
                let before = d.held();
                let acts = d.host.set_downstream_selectors(i, &sels, d.now);
                let records: Vec<_> = sels
                    .iter()
                    .map(|sel| match *sel {
                        Selector::Source { source, group } => {
                            (group, SourceFilter::include([source]))
                        }
                        Selector::Group(g) => (g, SourceFilter::exclude([])),
                        Selector::AllGroups => unreachable!(),
                    })
                    .collect();
                if records.is_empty() {
                    d.given.remove(&i);
                } else {
                    d.given.insert(i, records);
                }
                d.follow(&before, &acts);
            }
            Step::Remove { iface, after_ms } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let i = u32::from(iface % 4) + 10;
                let before = d.held();
                let acts = d.host.remove_downstream(i, d.now);
                d.given.remove(&i);
                d.follow(&before, &acts);
            }
            Step::Group {
                iface,
                group,
                exclude,
                sources,
                after_ms,
            } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let i = u32::from(iface % 4) + 10;
                let g = P::group(group);
                let sources = sources.iter().map(|s| P::source(*s));
                let f = if exclude {
                    SourceFilter::exclude(sources)
                } else {
                    SourceFilter::include(sources)
                };
                let before = d.held();
                let acts = d.host.set_downstream_group(i, g, f.clone(), d.now);
                if P::routable(g) {
                    let list = d.given.entry(i).or_default();
                    list.retain(|(x, _)| *x != g);
                    list.push((g, f));
                }
                d.follow(&before, &acts);
            }
            Step::Resend { after_ms } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let before = d.held();
                let acts = d.host.resend(d.now);
                d.follow(&before, &acts);
            }
            Step::Packet {
                sender,
                ttl,
                router_alert,
                msg,
                after_ms,
            } => {
                d.now += Duration::from_millis(u64::from(after_ms));
                let bytes = match msg {
                    Upstream::Raw(b) => b,
                    Upstream::Query {
                        group,
                        sources,
                        max_response_ms,
                        version,
                    } => P::query(&Query {
                        group: group.map_or(P::Addr::UNSPECIFIED, P::group),
                        sources: sources.iter().map(|s| P::source(*s)).collect(),
                        max_response: Duration::from_millis(u64::from(max_response_ms)),
                        s_flag: false,
                        qrv: 2,
                        qqi: Duration::from_secs(125),
                        version: version % 3 + 1,
                    }),
                    Upstream::Theirs { group, leave } => {
                        let g = P::group(group);
                        P::encode_host(&if leave {
                            HostMessage::Leave(g)
                        } else {
                            HostMessage::OldReport {
                                version: 2,
                                group: g,
                            }
                        })
                    }
                };
                let before = d.host.counters().received;
                let heard = Heard {
                    source: P::sender(sender),
                    ttl: ttl % 3,
                    router_alert,
                };
                let before = (before, d.held());
                let acts = d.host.receive_packet(&heard, &bytes, d.now);
                assert_eq!(d.host.counters().received, before.0 + 1);
                d.follow(&before.1, &acts);
            }
            Step::Tick { after_ms } => {
                d.now += Duration::from_millis(u64::from(after_ms % 400_000));
                let before = d.held();
                let acts = d.host.tick(d.now);
                d.follow(&before, &acts);
            }
            Step::Next => {
                if let Some(t) = d.host.next_deadline() {
                    d.now = t;
                    let before = d.held();
                    let acts = d.host.tick(t);
                    d.follow(&before, &acts);
                }
            }
        }
        d.check();
        if let Some(t) = d.host.next_deadline() {
            assert!(t > d.now, "{t:?} still due at {:?} after a step", d.now);
        }
    }
}

fuzz_target!(|input: Input| {
    if input.ipv6 {
        run::<Mld>(input)
    } else {
        run::<Igmp>(input)
    }
});
