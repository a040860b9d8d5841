//! The host side's scenarios, each written once over the protocol and run for IGMP and MLD,
//! and the cases only one of them has (IGMPv1; MLD's link-local queriers).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::{checksum, mld as codec, parse, Message};

const UP: u32 = 2;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A protocol's addresses and queries, for the scenarios.
trait Fx: Protocol {
    /// The proxy's address upstream.
    const ME: Self::Addr;
    /// The upstream querier.
    const QUERIER: Self::Addr;
    /// Group `n`.
    fn g(n: u8) -> Self::Addr;
    /// Source `n`.
    fn s(n: u8) -> Self::Addr;
    /// A query in the current version (IGMPv3, MLDv2).
    fn query(group: Self::Addr, sources: &[Self::Addr], max: Duration) -> Vec<u8>;
    /// A query in the older version (IGMPv2, MLDv1).
    fn old_query(group: Self::Addr, max: Duration) -> Vec<u8>;
}

impl Fx for Igmp {
    const ME: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 9);
    const QUERIER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    fn g(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(239, 1, 0, n)
    }
    fn s(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, n)
    }
    fn query(group: Ipv4Addr, sources: &[Ipv4Addr], max: Duration) -> Vec<u8> {
        v3_query(group, sources, max).encode()
    }
    fn old_query(group: Ipv4Addr, max: Duration) -> Vec<u8> {
        let ds = u8::try_from(max.as_millis() / 100).unwrap();
        let mut b = vec![0x11, ds, 0, 0];
        b.extend_from_slice(&group.octets());
        let c = checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }
}

impl Fx for Mld {
    const ME: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9);
    const QUERIER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    fn g(n: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, u16::from(n))
    }
    fn s(n: u8) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n))
    }
    fn query(group: Ipv6Addr, sources: &[Ipv6Addr], max: Duration) -> Vec<u8> {
        Query {
            version: 2,
            ..v3_query(group, sources, max)
        }
        .encode()
    }
    fn old_query(group: Ipv6Addr, max: Duration) -> Vec<u8> {
        Query {
            version: 1,
            ..v3_query(group, &[], max)
        }
        .encode()
    }
}

fn v3_query<A: Family>(group: A, sources: &[A], max: Duration) -> Query<A> {
    Query {
        group,
        sources: sources.to_vec(),
        max_response: max,
        s_flag: false,
        qrv: 2,
        qqi: secs(125),
        version: 3,
    }
}

fn host<P: Fx>(cfg: ProxyConfig) -> ProxyHost<P> {
    ProxyHost::new(cfg, UP, P::ME)
}

/// Every action goes out of the upstream interface, to where its message belongs, with a
/// payload that decodes back to the message; and the invariants hold.
fn checked<P: Fx>(p: &ProxyHost<P>, acts: Vec<HostAction<P::Addr>>) -> Vec<HostAction<P::Addr>> {
    p.check_invariants().unwrap();
    for a in &acts {
        assert_eq!(a.ifindex, UP);
        let (to, back) = match &a.message {
            HostMessage::Report(r) => (P::REPORTS_TO, Received::Records(r.clone())),
            HostMessage::OldReport { group, .. } => (*group, Received::OldReport(*group)),
            HostMessage::Leave(group) => (P::LEAVES_TO, Received::OldLeave(*group)),
        };
        assert_eq!(a.destination, to, "{a:?}");
        assert_eq!(P::decode(&a.payload), Some(back), "{a:?}");
        assert!(a.payload.len() + P::REPORT_OVERHEAD - 8 <= p.config().mtu.max(P::MIN_MTU));
    }
    acts
}

fn set<P: Fx>(
    p: &mut ProxyHost<P>,
    ifindex: u32,
    records: &[(P::Addr, SourceFilter<P::Addr>)],
    now: Duration,
) -> Vec<HostAction<P::Addr>> {
    let acts = p.set_downstream(ifindex, records.to_vec(), now);
    checked(p, acts)
}

/// Ticks at every deadline up to `to`, collecting what is sent with its time.
fn run<P: Fx>(p: &mut ProxyHost<P>, to: Duration) -> Vec<(Duration, HostAction<P::Addr>)> {
    let mut out = Vec::new();
    while let Some(due) = p.next_deadline().filter(|d| *d <= to) {
        let acts = p.tick(due);
        out.extend(checked(p, acts).into_iter().map(|a| (due, a)));
        if let Some(next) = p.next_deadline() {
            assert!(next > due, "{next:?} still due after a tick at {due:?}");
        }
    }
    out
}

/// The records of the reports among `acts`, in order.
fn records<A: Clone>(acts: &[HostAction<A>]) -> Vec<GroupRecord<A>> {
    acts.iter()
        .flat_map(|a| match &a.message {
            HostMessage::Report(r) => r.clone(),
            _ => Vec::new(),
        })
        .collect()
}

fn rec<A: Family>(kind: u8, group: A, sources: &[A]) -> GroupRecord<A> {
    GroupRecord {
        kind,
        group,
        sources: sources.to_vec(),
    }
}

fn any<A: Family>() -> SourceFilter<A> {
    SourceFilter::exclude([])
}

fn first_join_reported_at_once_then_retransmitted<P: Fx>() {
    for robustness in [1u8, 2, 3] {
        let cfg = ProxyConfig {
            robustness,
            ..ProxyConfig::default()
        };
        let mut p = host::<P>(cfg);
        let g = P::g(1);
        let t0 = secs(10);
        let acts = set(&mut p, 5, &[(g, any())], t0);
        assert_eq!(records(&acts), vec![rec(TO_EX, g, &[])], "at once");
        assert_eq!(acts.len(), 1);
        let later = run(&mut p, secs(1000));
        assert_eq!(
            later.len(),
            usize::from(robustness - 1),
            "robustness {robustness}"
        );
        let mut last = t0;
        for (t, a) in &later {
            assert!(*t > last && *t <= last + secs(1), "{t:?} after {last:?}");
            assert_eq!(records(std::slice::from_ref(a)), vec![rec(TO_EX, g, &[])]);
            last = *t;
        }
        assert_eq!(p.next_deadline(), None);
    }
}

fn union_of_two_downstream_interfaces<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let (g, a, b) = (P::g(1), P::s(1), P::s(2));
    let acts = set(&mut p, 5, &[(g, SourceFilter::include([a]))], secs(1));
    assert_eq!(records(&acts), vec![rec(ALLOW, g, &[a])]);
    run(&mut p, secs(100));
    let acts = set(&mut p, 6, &[(g, SourceFilter::include([b]))], secs(101));
    assert_eq!(records(&acts), vec![rec(ALLOW, g, &[b])]);
    assert_eq!(p.membership()[&g], SourceFilter::include([a, b]));
    run(&mut p, secs(200));
    // 6 now wants everything but a, which 5 includes: EXCLUDE {}.
    let acts = set(&mut p, 6, &[(g, SourceFilter::exclude([a]))], secs(201));
    assert_eq!(records(&acts), vec![rec(TO_EX, g, &[])]);
    assert_eq!(p.membership()[&g], any());
    run(&mut p, secs(300));
    // 6 goes: back to what 5 holds.
    let acts = checked(&p, p.clone().remove_downstream(6, secs(301)));
    assert_eq!(records(&acts), vec![rec(TO_IN, g, &[a])]);
    let acts = p.remove_downstream(6, secs(301));
    assert_eq!(records(&checked(&p, acts)), vec![rec(TO_IN, g, &[a])]);
    assert_eq!(p.membership()[&g], SourceFilter::include([a]));
    assert!(p.downstream(6).is_none());
}

fn source_list_change_gives_allow_and_block<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let (g, h) = (P::g(1), P::g(2));
    let (a, b, c) = (P::s(1), P::s(2), P::s(3));
    set(
        &mut p,
        5,
        &[
            (g, SourceFilter::include([a, b])),
            (h, SourceFilter::exclude([a])),
        ],
        secs(1),
    );
    run(&mut p, secs(100));
    let acts = set(
        &mut p,
        5,
        &[
            (g, SourceFilter::include([b, c])),
            (h, SourceFilter::exclude([b])),
        ],
        secs(101),
    );
    // INCLUDE: ALLOW the new, BLOCK the gone; EXCLUDE: ALLOW the no longer excluded.
    assert_eq!(
        records(&acts),
        vec![
            rec(ALLOW, g, &[c]),
            rec(BLOCK, g, &[a]),
            rec(ALLOW, h, &[a]),
            rec(BLOCK, h, &[b])
        ]
    );
    let again = run(&mut p, secs(200));
    assert_eq!(again.len(), 1, "one retransmission (robustness 2)");
    assert_eq!(records(&[again[0].1.clone()]), records(&acts));

    let hk = (h, SourceFilter::exclude([b]));
    // A change while the first is still to be retransmitted merges into it: a, sent once,
    // is sent once more, d twice.
    let d = P::s(4);
    set(
        &mut p,
        5,
        &[(g, SourceFilter::include([a, b, c])), hk.clone()],
        secs(300),
    );
    let acts = set(
        &mut p,
        5,
        &[(g, SourceFilter::include([a, b, c, d])), hk.clone()],
        secs(300),
    );
    assert_eq!(records(&acts), vec![rec(ALLOW, g, &[a, d])]);
    let again = run(&mut p, secs(400));
    assert_eq!(again.len(), 1);
    assert_eq!(records(&[again[0].1.clone()]), vec![rec(ALLOW, g, &[d])]);
    // Added then taken back before its retransmission: BLOCK replaces ALLOW.
    set(
        &mut p,
        5,
        &[(g, SourceFilter::include([a, b, c])), hk.clone()],
        secs(500),
    );
    let acts = set(
        &mut p,
        5,
        &[(g, SourceFilter::include([a, b, c, d])), hk.clone()],
        secs(500),
    );
    assert_eq!(records(&acts), vec![rec(ALLOW, g, &[d])]);
    assert_eq!(
        records(&set(
            &mut p,
            5,
            &[(g, SourceFilter::include([a, b, c])), hk.clone()],
            secs(500)
        )),
        vec![rec(BLOCK, g, &[d])]
    );
}

fn general_query_answered_within_max_response<P: Fx>() {
    for seed in 1..20 {
        let mut p = host::<P>(ProxyConfig {
            seed,
            ..ProxyConfig::default()
        });
        let (g, h, s) = (P::g(1), P::g(2), P::s(1));
        set(
            &mut p,
            5,
            &[(g, any()), (h, SourceFilter::include([s]))],
            secs(1),
        );
        run(&mut p, secs(50));
        let t = secs(100);
        let acts = p.receive(
            P::QUERIER,
            &P::query(P::Addr::UNSPECIFIED, &[], secs(10)),
            t,
        );
        let mut sent: Vec<_> = checked(&p, acts).into_iter().map(|a| (t, a)).collect();
        sent.extend(run(&mut p, secs(200)));
        assert_eq!(sent.len(), 1, "seed {seed}: {sent:?}");
        assert!(sent[0].0 >= t && sent[0].0 <= t + secs(10));
        assert_eq!(
            records(&[sent[0].1.clone()]),
            vec![rec(IS_EX, g, &[]), rec(IS_IN, h, &[s])]
        );
        assert_eq!(p.querier(), Some((P::QUERIER, P::QUERY_VERSION)));
    }
    // The same seed, the same delay; delays spread over the range.
    let due = |seed| {
        let mut p = host::<P>(ProxyConfig {
            seed,
            ..ProxyConfig::default()
        });
        set(&mut p, 5, &[(P::g(1), any())], secs(1));
        run(&mut p, secs(50));
        p.receive(
            P::QUERIER,
            &P::query(P::Addr::UNSPECIFIED, &[], secs(10)),
            secs(100),
        );
        p.next_deadline().unwrap()
    };
    assert_eq!(due(7), due(7));
    let all: BTreeSet<Duration> = (1..20).map(due).collect();
    assert!(all.len() > 10, "{all:?}");
    // A second general query does not push back an earlier answer.
    let mut p = host::<P>(ProxyConfig::default());
    set(&mut p, 5, &[(P::g(1), any())], secs(1));
    run(&mut p, secs(50));
    p.receive(
        P::QUERIER,
        &P::query(P::Addr::UNSPECIFIED, &[], ms(100)),
        secs(100),
    );
    let first = p.next_deadline().unwrap();
    p.receive(
        P::QUERIER,
        &P::query(P::Addr::UNSPECIFIED, &[], secs(100)),
        secs(100),
    );
    assert_eq!(p.next_deadline(), Some(first));
}

fn group_specific_query_answered_for_that_group_only<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let (g, h, other) = (P::g(1), P::g(2), P::g(3));
    let (a, b, c) = (P::s(1), P::s(2), P::s(3));
    set(
        &mut p,
        5,
        &[
            (g, SourceFilter::exclude([c])),
            (h, SourceFilter::include([a, b])),
        ],
        secs(1),
    );
    run(&mut p, secs(50));
    // Not a member: nothing to answer.
    checked(
        &p,
        p.clone()
            .receive(P::QUERIER, &P::query(other, &[], secs(1)), secs(60)),
    );
    assert!(p
        .receive(P::QUERIER, &P::query(other, &[], secs(1)), secs(60))
        .is_empty());
    assert_eq!(p.next_deadline(), None);

    let acts = p.receive(P::QUERIER, &P::query(g, &[], secs(1)), secs(100));
    let mut sent = checked(&p, acts);
    sent.extend(run(&mut p, secs(200)).into_iter().map(|(t, a)| {
        assert!(t <= secs(101));
        a
    }));
    assert_eq!(records(&sent), vec![rec(IS_EX, g, &[c])]);

    // Group-and-source-specific: only the asked sources that are wanted.
    p.receive(P::QUERIER, &P::query(h, &[a, c], secs(1)), secs(300));
    p.receive(P::QUERIER, &P::query(g, &[a, c], secs(1)), secs(300));
    let sent: Vec<_> = run(&mut p, secs(400)).into_iter().map(|(_, a)| a).collect();
    let mut got = records(&sent);
    got.sort_by_key(|r| r.group);
    let mut want = vec![rec(IS_IN, h, &[a]), rec(IS_IN, g, &[a])];
    want.sort_by_key(|r| r.group);
    assert_eq!(got, want);
    // Two source queries for the same group merge; a group query then covers them.
    p.receive(P::QUERIER, &P::query(h, &[a], secs(1)), secs(500));
    p.receive(P::QUERIER, &P::query(h, &[b], secs(1)), secs(500));
    let sent: Vec<_> = run(&mut p, secs(600)).into_iter().map(|(_, a)| a).collect();
    assert_eq!(records(&sent), vec![rec(IS_IN, h, &[a, b])]);
    p.receive(P::QUERIER, &P::query(h, &[a], secs(1)), secs(700));
    p.receive(P::QUERIER, &P::query(h, &[], secs(1)), secs(700));
    let sent: Vec<_> = run(&mut p, secs(800)).into_iter().map(|(_, a)| a).collect();
    assert_eq!(records(&sent), vec![rec(IS_IN, h, &[a, b])]);
}

fn older_querier_switches_version_and_back<P: Fx>() {
    let cfg = ProxyConfig::default();
    let mut p = host::<P>(cfg);
    let (g, h) = (P::g(1), P::g(2));
    set(&mut p, 5, &[(g, any())], secs(1));
    run(&mut p, secs(50));
    let old = P::QUERY_VERSION - 1;
    let t = secs(100);
    let acts = p.receive(P::QUERIER, &P::old_query(P::Addr::UNSPECIFIED, secs(10)), t);
    assert_eq!(p.version(), old);
    let mut sent: Vec<_> = checked(&p, acts).into_iter().map(|a| (t, a)).collect();
    sent.extend(run(&mut p, secs(150)));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].0 <= t + secs(10));
    assert_eq!(
        sent[0].1.message,
        HostMessage::OldReport {
            version: old,
            group: g
        }
    );

    // A join now: an older report at once, and once more.
    let acts = set(
        &mut p,
        6,
        &[(h, SourceFilter::include([P::s(1)]))],
        secs(200),
    );
    assert_eq!(acts.len(), 1);
    assert_eq!(
        acts[0].message,
        HostMessage::OldReport {
            version: old,
            group: h
        }
    );
    let again = run(&mut p, secs(250));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].1.message, acts[0].message);
    // A source change cannot be said in the older version: nothing.
    assert!(set(
        &mut p,
        6,
        &[(h, SourceFilter::include([P::s(2)]))],
        secs(260)
    )
    .is_empty());
    // A current-version query is answered in the older version while the mode lasts.
    p.receive(P::QUERIER, &P::query(h, &[P::s(2)], secs(1)), secs(270));
    let sent = run(&mut p, secs(280));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].1.message,
        HostMessage::OldReport {
            version: old,
            group: h
        }
    );
    // The last member goes: a leave (done), once.
    let acts = set(&mut p, 6, &[], secs(290));
    assert_eq!(acts.len(), 1);
    assert_eq!(acts[0].message, HostMessage::Leave(h));
    assert!(run(&mut p, secs(299)).is_empty());

    // The older version querier present timeout after the last older query: current again.
    let until = t + cfg.older_querier_present_timeout();
    assert_eq!(p.older_querier_until(), Some(until));
    p.tick(until - ms(1));
    assert_eq!(p.version(), old);
    p.tick(until);
    assert_eq!(p.version(), P::QUERY_VERSION);
    let acts = set(&mut p, 6, &[(h, any())], until + secs(1));
    assert_eq!(records(&acts), vec![rec(TO_EX, h, &[])]);
}

fn mode_change_cancels_pending<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let g = P::g(1);
    set(&mut p, 5, &[(g, any())], secs(1));
    p.receive(
        P::QUERIER,
        &P::query(P::Addr::UNSPECIFIED, &[], secs(10)),
        secs(1),
    );
    // An older query: the TO_EX retransmission and the v3 answer are cancelled.
    p.receive(P::QUERIER, &P::old_query(g, ms(500)), secs(1));
    let sent = run(&mut p, secs(100));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(sent[0].1.message, HostMessage::OldReport { .. }));
}

fn leave_only_when_the_last_member_goes<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let g = P::g(1);
    set(&mut p, 5, &[(g, any())], secs(1));
    assert!(set(&mut p, 6, &[(g, any())], secs(1)).is_empty());
    run(&mut p, secs(50));
    assert!(
        set(&mut p, 5, &[], secs(60)).is_empty(),
        "6 still has a member"
    );
    assert!(run(&mut p, secs(100)).is_empty());
    assert_eq!(p.membership()[&g], any());
    let acts = set(&mut p, 6, &[], secs(110));
    assert_eq!(records(&acts), vec![rec(TO_IN, g, &[])]);
    let again = run(&mut p, secs(200));
    assert_eq!(again.len(), 1);
    assert_eq!(records(&[again[0].1.clone()]), vec![rec(TO_IN, g, &[])]);
    assert!(p.membership().is_empty());
    // An INCLUDE member's leave is a BLOCK of its sources.
    let s = P::s(1);
    set(&mut p, 5, &[(g, SourceFilter::include([s]))], secs(300));
    run(&mut p, secs(400));
    assert_eq!(
        records(&set(&mut p, 5, &[], secs(401))),
        vec![rec(BLOCK, g, &[s])]
    );

    // The same in the older version: the leave when the last one goes, not before.
    let mut p = host::<P>(ProxyConfig::default());
    p.receive(
        P::QUERIER,
        &P::old_query(P::Addr::UNSPECIFIED, secs(10)),
        secs(1),
    );
    set(&mut p, 5, &[(g, any())], secs(2));
    set(&mut p, 6, &[(g, any())], secs(2));
    run(&mut p, secs(50));
    assert!(set(&mut p, 6, &[], secs(60)).is_empty());
    let acts = set(&mut p, 5, &[], secs(61));
    assert_eq!(
        acts.iter().map(|a| &a.message).collect::<Vec<_>>(),
        [&HostMessage::Leave(g)]
    );
}

fn nothing_ages_out<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let g = P::g(1);
    set(&mut p, 5, &[(g, any())], secs(1));
    run(&mut p, secs(10));
    // Hours with a querier asking every 125 s: an answer to each, and the member stays.
    let mut answers = 0;
    for i in 1..100u64 {
        let t = secs(125 * i);
        answers += p
            .receive(
                P::QUERIER,
                &P::query(P::Addr::UNSPECIFIED, &[], secs(10)),
                t,
            )
            .len();
        answers += run(&mut p, t + secs(11)).len();
    }
    assert_eq!(answers, 99);
    // And hours with no querier at all: nothing is sent, nothing is forgotten.
    assert!(run(&mut p, secs(1_000_000)).is_empty());
    assert_eq!(p.membership()[&g], any());
}

fn own_and_bad_messages_are_dropped<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    set(&mut p, 5, &[(P::g(1), any())], secs(1));
    run(&mut p, secs(10));
    let q = P::query(P::Addr::UNSPECIFIED, &[], secs(1));
    assert!(p.receive(P::ME, &q, secs(20)).is_empty());
    let routed = Heard {
        ttl: 2,
        ..Heard::well_formed(P::QUERIER)
    };
    p.receive_packet(&routed, &q, secs(20));
    let no_ra = Heard {
        router_alert: false,
        ..Heard::well_formed(P::QUERIER)
    };
    p.receive_packet(&no_ra, &q, secs(20));
    p.receive(P::QUERIER, &q[..3], secs(20));
    // Another host's report changes nothing (and suppresses nothing).
    let theirs = P::encode_host(&HostMessage::Leave(P::g(1)));
    p.receive(P::QUERIER, &theirs, secs(20));
    assert_eq!(p.next_deadline(), None);
    let c = p.counters();
    assert_eq!(
        (
            c.received,
            c.own,
            c.bad_ttl,
            c.no_router_alert,
            c.malformed,
            c.accepted
        ),
        (5, 1, 1, 1, 1, 1)
    );
    assert_eq!(p.membership()[&P::g(1)], any());
}

fn reports_are_split_at_the_mtu<P: Fx>() {
    let cfg = ProxyConfig {
        mtu: 576,
        ..ProxyConfig::default()
    };
    let mut p = host::<P>(cfg);
    let groups: Vec<_> = (1..=200).map(|n| (P::g(n), any())).collect();
    let acts = set(&mut p, 5, &groups, secs(1));
    assert!(acts.len() > 1, "200 records do not fit in one report");
    let got = records(&acts);
    assert_eq!(
        got,
        groups
            .iter()
            .map(|(g, _)| rec(TO_EX, *g, &[]))
            .collect::<Vec<_>>()
    );
    // A source list longer than a report: INCLUDE splits into records of the same type,
    // EXCLUDE keeps what fits.
    run(&mut p, secs(100));
    let sources: Vec<P::Addr> = (1..=250).map(P::s).collect();
    let g = P::g(250);
    let acts = set(
        &mut p,
        6,
        &[(g, SourceFilter::include(sources.clone()))],
        secs(101),
    );
    assert!(acts.len() > 1);
    let got = records(&acts);
    assert!(got.iter().all(|r| r.kind == ALLOW && r.group == g));
    assert_eq!(
        got.into_iter().flat_map(|r| r.sources).collect::<Vec<_>>(),
        sources
    );
    let h = P::g(251);
    run(&mut p, secs(200));
    let acts = set(
        &mut p,
        7,
        &[(h, SourceFilter::exclude(sources.clone()))],
        secs(201),
    );
    let got = records(&acts);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((got[0].kind, got[0].group), (TO_EX, h));
    assert!(!got[0].sources.is_empty() && got[0].sources.len() < sources.len());
    assert_eq!(got[0].sources[..], sources[..got[0].sources.len()]);
}

fn unroutable_groups_and_invalid_sources_are_left_out<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let (g, s) = (P::g(1), P::s(1));
    let acts = set(
        &mut p,
        5,
        &[
            (P::ALL_NODES, any()),
            (
                g,
                SourceFilter::include([s, P::Addr::UNSPECIFIED, P::ALL_NODES]),
            ),
            (g, SourceFilter::include([])),
        ],
        secs(1),
    );
    assert_eq!(records(&acts), vec![rec(ALLOW, g, &[s])]);
    assert_eq!(p.membership().len(), 1);
    // Selectors, as a router's memberships.
    run(&mut p, secs(100));
    let acts = p.set_downstream_selectors(
        6,
        &[
            Selector::Group(P::g(2)),
            Selector::Source {
                source: s,
                group: P::g(3),
            },
            Selector::AllGroups,
        ],
        secs(101),
    );
    assert_eq!(
        records(&checked(&p, acts)),
        vec![rec(TO_EX, P::g(2), &[]), rec(ALLOW, P::g(3), &[s])]
    );
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod igmp {
            use super::*;
            $(#[test] fn $name() { super::$name::<Igmp>() })*
        }
        mod mld {
            use super::*;
            $(#[test] fn $name() { super::$name::<Mld>() })*
        }
    };
}

both!(
    first_join_reported_at_once_then_retransmitted,
    union_of_two_downstream_interfaces,
    source_list_change_gives_allow_and_block,
    general_query_answered_within_max_response,
    group_specific_query_answered_for_that_group_only,
    older_querier_switches_version_and_back,
    mode_change_cancels_pending,
    leave_only_when_the_last_member_goes,
    nothing_ages_out,
    own_and_bad_messages_are_dropped,
    reports_are_split_at_the_mtu,
    unroutable_groups_and_invalid_sources_are_left_out,
);

#[test]
fn igmpv1_querier_gives_v1_reports_and_no_leave() {
    let mut p = host::<Igmp>(ProxyConfig::default());
    let g = Igmp::g(1);
    set(&mut p, 5, &[(g, any())], secs(1));
    run(&mut p, secs(10));
    // An IGMPv1 query: 8 bytes, code 0 (the answer within 10 s).
    p.receive(
        Igmp::QUERIER,
        &Igmp::old_query(Ipv4Addr::UNSPECIFIED, Duration::ZERO),
        secs(20),
    );
    assert_eq!(p.version(), 1);
    let sent = run(&mut p, secs(40));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0 <= secs(30));
    assert_eq!(
        sent[0].1.message,
        HostMessage::OldReport {
            version: 1,
            group: g
        }
    );
    assert_eq!(parse(&sent[0].1.payload), Some(Message::V1Report(g)));
    // IGMPv1 has no leave.
    assert!(set(&mut p, 5, &[], secs(50)).is_empty());
    // An IGMPv2 query meanwhile does not take the host out of v1 mode.
    p.receive(
        Igmp::QUERIER,
        &Igmp::old_query(Ipv4Addr::UNSPECIFIED, secs(1)),
        secs(60),
    );
    assert_eq!(p.version(), 1);
    let until = secs(20) + p.config().older_querier_present_timeout();
    p.tick(until);
    assert_eq!(p.version(), 2, "the v2 querier is still present");
    p.tick(secs(60) + p.config().older_querier_present_timeout());
    assert_eq!(p.version(), 3);
}

#[test]
fn igmp_payloads_are_the_crate_codec() {
    let mut p = host::<Igmp>(ProxyConfig::default());
    let (g, s) = (Igmp::g(1), Igmp::s(1));
    let acts = set(&mut p, 5, &[(g, SourceFilter::include([s]))], secs(1));
    assert_eq!(acts[0].payload[0], 0x22);
    assert_eq!(checksum(&acts[0].payload), 0);
    assert_eq!(
        parse(&acts[0].payload),
        Some(Message::V3Report(vec![rec(ALLOW, g, &[s])]))
    );
    assert_eq!(acts[0].destination, crate::IGMPV3_ROUTERS);
}

#[test]
fn mld_payloads_and_link_local_queriers() {
    let mut p = host::<Mld>(ProxyConfig::default());
    let g = Mld::g(1);
    let acts = set(&mut p, 5, &[(g, any())], secs(1));
    assert_eq!(
        codec::parse(&acts[0].payload),
        Ok(codec::Message::V2Report(vec![rec(TO_EX, g, &[])]))
    );
    assert_eq!(acts[0].destination, codec::MLDV2_ROUTERS);
    run(&mut p, secs(10));
    // A query from a global address is not from a router on the link (RFC 3810 5.1.14).
    let q = Mld::query(Ipv6Addr::UNSPECIFIED, &[], secs(1));
    p.receive(Mld::s(1), &q, secs(20));
    assert_eq!(p.counters().off_subnet_query, 1);
    assert_eq!(p.next_deadline(), None);
    // MLDv1: a 131 report to the group, a 132 done to ff02::2.
    p.receive(
        Mld::QUERIER,
        &Mld::old_query(Ipv6Addr::UNSPECIFIED, secs(1)),
        secs(30),
    );
    assert_eq!(p.version(), 1);
    let sent = run(&mut p, secs(40));
    assert_eq!(
        codec::parse(&sent[0].1.payload),
        Ok(codec::Message::V1Report(g))
    );
    let acts = set(&mut p, 5, &[], secs(50));
    assert_eq!(acts[0].destination, codec::ALL_ROUTERS);
    assert_eq!(
        codec::parse(&acts[0].payload),
        Ok(codec::Message::V1Done(g))
    );
}

#[test]
fn pack_fits_the_smallest_mtu() {
    let sources: Vec<Ipv4Addr> = (1..=40).map(Igmp::s).collect();
    let packets = pack::<Igmp>(
        vec![
            rec(IS_IN, Igmp::g(1), &sources),
            rec(IS_EX, Igmp::g(2), &sources),
            rec(IS_IN, Igmp::g(3), &[]),
        ],
        0,
    );
    for r in &packets {
        let len = crate::encode_v3_report(r).len();
        assert!(len + 24 <= Igmp::MIN_MTU, "{len}");
    }
    let all: Vec<_> = packets.into_iter().flatten().collect();
    let inc: Vec<Ipv4Addr> = all
        .iter()
        .filter(|r| r.group == Igmp::g(1))
        .flat_map(|r| r.sources.clone())
        .collect();
    assert_eq!(inc, sources);
    assert_eq!(all.iter().filter(|r| r.group == Igmp::g(2)).count(), 1);
    assert!(all
        .iter()
        .any(|r| r.group == Igmp::g(3) && r.sources.is_empty()));
}

#[test]
fn merge_follows_rfc_3376_section_3_2() {
    let (a, b, c) = (Igmp::s(1), Igmp::s(2), Igmp::s(3));
    let inc = |s: &[Ipv4Addr]| SourceFilter::include(s.iter().copied());
    let exc = |s: &[Ipv4Addr]| SourceFilter::exclude(s.iter().copied());
    assert_eq!(
        SourceFilter::merge([&inc(&[a]), &inc(&[b, c])]),
        inc(&[a, b, c])
    );
    assert_eq!(
        SourceFilter::merge([&exc(&[a, b]), &exc(&[b, c])]),
        exc(&[b])
    );
    assert_eq!(SourceFilter::merge([&exc(&[a, b]), &inc(&[b])]), exc(&[a]));
    assert_eq!(SourceFilter::merge([&inc(&[]), &exc(&[a])]), exc(&[a]));
    // What the merge admits is what any of them admits.
    let fs = [exc(&[a, b]), inc(&[b, c]), exc(&[a, c])];
    let m = SourceFilter::merge(&fs);
    for s in [a, b, c, Igmp::s(4)] {
        assert_eq!(m.admits(s), fs.iter().any(|f| f.admits(s)), "{s}");
    }
}

#[test]
fn a_zero_unsolicited_report_interval_still_waits() {
    let mut p = host::<Igmp>(ProxyConfig {
        unsolicited_report_interval: Duration::ZERO,
        robustness: 3,
        ..ProxyConfig::default()
    });
    set(&mut p, 5, &[(Igmp::g(1), any())], secs(1));
    let sent = run(&mut p, secs(2));
    assert_eq!(sent.len(), 2);
    assert!(sent[0].0 > secs(1) && sent[1].0 > sent[0].0);
}

fn one_group_at_a_time_and_resend<P: Fx>() {
    let mut p = host::<P>(ProxyConfig::default());
    let (g, h, a) = (P::g(1), P::g(2), P::s(1));
    let acts = p.set_downstream_group(5, g, SourceFilter::include([a]), secs(1));
    assert_eq!(records(&checked(&p, acts)), vec![rec(ALLOW, g, &[a])]);
    let acts = p.set_downstream_group(6, g, any(), secs(1));
    assert_eq!(records(&checked(&p, acts)), vec![rec(TO_EX, g, &[])]);
    let acts = p.set_downstream_group(5, h, any(), secs(1));
    assert_eq!(records(&checked(&p, acts)), vec![rec(TO_EX, h, &[])]);
    run(&mut p, secs(10));
    // 6 takes g back: 5's INCLUDE {a} is left; unroutable groups change nothing.
    let acts = p.set_downstream_group(6, g, SourceFilter::default(), secs(20));
    assert_eq!(records(&checked(&p, acts)), vec![rec(TO_IN, g, &[a])]);
    assert!(p.downstream(6).is_none());
    assert!(p
        .set_downstream_group(6, P::ALL_NODES, any(), secs(20))
        .is_empty());
    run(&mut p, secs(30));
    // Everything again, robustness times.
    let acts = checked(&p, p.clone().resend(secs(40)));
    let acts2 = p.resend(secs(40));
    assert_eq!(acts, checked(&p, acts2));
    assert_eq!(
        records(&acts),
        vec![rec(TO_IN, g, &[a]), rec(TO_EX, h, &[])]
    );
    let again = run(&mut p, secs(50));
    assert_eq!(again.len(), 1);
    assert_eq!(records(&[again[0].1.clone()]), records(&acts));
    // In the older version: a report of each group.
    p.receive(
        P::QUERIER,
        &P::old_query(P::Addr::UNSPECIFIED, secs(1)),
        secs(60),
    );
    run(&mut p, secs(70));
    let acts = checked(&p, p.clone().resend(secs(80)));
    let old = P::QUERY_VERSION - 1;
    assert_eq!(
        acts.iter().map(|a| a.message.clone()).collect::<Vec<_>>(),
        vec![
            HostMessage::OldReport {
                version: old,
                group: g
            },
            HostMessage::OldReport {
                version: old,
                group: h
            }
        ]
    );
}

mod more {
    use super::*;
    #[test]
    fn igmp_one_group_at_a_time_and_resend() {
        one_group_at_a_time_and_resend::<Igmp>()
    }
    #[test]
    fn mld_one_group_at_a_time_and_resend() {
        one_group_at_a_time_and_resend::<Mld>()
    }
}

#[test]
fn pack_splits_only_records_longer_than_a_report() {
    // 68 bytes: 36 for records, so a record of four sources (24 bytes) after one of two
    // (16) does not fit what is left, and goes whole into the next report.
    let s: Vec<Ipv4Addr> = (1..=4).map(Igmp::s).collect();
    let packets = pack::<Igmp>(
        vec![
            rec(ALLOW, Igmp::g(1), &s[..2]),
            rec(TO_IN, Igmp::g(2), &s),
            rec(BLOCK, Igmp::g(3), &s[..1]),
        ],
        68,
    );
    assert_eq!(
        packets,
        vec![
            vec![rec(ALLOW, Igmp::g(1), &s[..2])],
            vec![rec(TO_IN, Igmp::g(2), &s), rec(BLOCK, Igmp::g(3), &s[..1])]
        ]
    );
}

#[test]
fn an_igmpv1_query_is_heard_without_the_router_alert_and_a_v2_query_is_not() {
    // RFC 3376 9.1: the Router Alert is asked of v2 and v3 queries only; v1 queriers
    // (RFC 1112) never send it.
    let mut p = host::<Igmp>(ProxyConfig::default());
    set(&mut p, 5, &[(Igmp::g(1), any())], secs(1));
    run(&mut p, secs(10));
    let bare = Heard {
        router_alert: false,
        ..Heard::well_formed(Igmp::QUERIER)
    };
    let v2 = Igmp::old_query(Ipv4Addr::UNSPECIFIED, secs(1));
    p.receive_packet(&bare, &v2, secs(20));
    assert_eq!(
        p.version(),
        3,
        "a v2 query without the Router Alert is dropped"
    );
    assert_eq!(p.counters().no_router_alert, 1);
    let v1 = Igmp::old_query(Ipv4Addr::UNSPECIFIED, Duration::ZERO);
    p.receive_packet(&bare, &v1, secs(21));
    assert_eq!(p.version(), 1, "a v1 query is heard without it");
    assert_eq!(p.counters().no_router_alert, 1);
}
