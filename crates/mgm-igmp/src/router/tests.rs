use super::*;
use crate::{encode_v2, encode_v3_report, ALL_SYSTEMS};

const IF: u32 = 3;
const ME: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const S: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
fn rec(kind: u8, group: Ipv4Addr, sources: &[Ipv4Addr]) -> Vec<u8> {
    encode_v3_report(&[GroupRecord {
        kind,
        group,
        sources: sources.to_vec(),
    }])
}
pub(super) fn joins<A: Copy>(a: &[Action<A>]) -> Vec<Selector<A>> {
    a.iter()
        .filter_map(|x| match x {
            Action::Join { selector, .. } => Some(*selector),
            _ => None,
        })
        .collect()
}
pub(super) fn leaves<A: Copy>(a: &[Action<A>]) -> Vec<Selector<A>> {
    a.iter()
        .filter_map(|x| match x {
            Action::Leave { selector, .. } => Some(*selector),
            _ => None,
        })
        .collect()
}
pub(super) fn queries<A: Copy>(a: &[Action<A>]) -> Vec<(A, Query<A>)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Send {
                destination, query, ..
            } => Some((*destination, query.clone())),
            _ => None,
        })
        .collect()
}
/// Runs the machine from `from` to `to` in 100 ms steps, collecting actions with times.
pub(super) fn run<P: Protocol>(
    r: &mut Router<P>,
    from: Duration,
    to: Duration,
) -> Vec<(Duration, Action<P::Addr>)> {
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
    let a = r.add_interface(IF, ME, Duration::ZERO).unwrap();
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

// Input validation (RFC 3376 sections 4 and 9, RFC 2236 section 2) and bounded state.

fn on_link(cfg: IgmpConfig) -> IgmpRouter {
    let mut r = started(cfg);
    assert!(r.set_subnets(IF, &[Subnet::new(ME, 24)]));
    r
}
fn heard(source: Ipv4Addr, ttl: u8, router_alert: bool) -> Heard {
    Heard {
        source,
        ttl,
        router_alert,
    }
}
fn general_query() -> Vec<u8> {
    query_for::<Igmp>(
        &IgmpConfig::default(),
        Ipv4Addr::UNSPECIFIED,
        Vec::new(),
        false,
    )
    .encode()
}
fn counters(r: &IgmpRouter) -> IgmpCounters {
    let c = *r.counters(IF).unwrap();
    assert_eq!(c.received, c.accepted + c.dropped(), "{c:?}");
    assert_eq!(r.check_invariants(), Ok(()));
    c
}

#[test]
fn a_report_with_ttl_64_is_dropped_and_counted() {
    let mut r = on_link(IgmpConfig::default());
    let a = r.receive_packet(IF, &heard(HOST, 64, true), &encode_v2(0x16, G), secs(1));
    assert!(a.is_empty(), "{a:?}");
    assert!(r.memberships(IF).is_empty());
    let c = counters(&r);
    assert_eq!((c.received, c.bad_ttl, c.accepted), (1, 1, 0));
    // The same report with TTL 1 joins.
    let a = r.receive_packet(IF, &heard(HOST, 1, true), &encode_v2(0x16, G), secs(1));
    assert_eq!(joins(&a), vec![Selector::Group(G)]);
}

#[test]
fn a_report_without_router_alert_is_dropped_unless_old_hosts_are_allowed() {
    let mut r = on_link(IgmpConfig::default());
    let plain = heard(HOST, 1, false);
    assert!(r
        .receive_packet(IF, &plain, &rec(4, G, &[]), secs(1))
        .is_empty());
    assert_eq!(counters(&r).no_router_alert, 1);
    assert!(r.memberships(IF).is_empty());
    // Per interface.
    let old_hosts = InputPolicy {
        require_router_alert: false,
        ..InputPolicy::default()
    };
    assert!(r.set_input_policy(IF, old_hosts));
    let a = r.receive_packet(IF, &plain, &rec(4, G, &[]), secs(2));
    assert_eq!(joins(&a), vec![Selector::Group(G)]);
    // Per router: every interface added starts with the configuration's policy.
    let mut r = on_link(IgmpConfig {
        input: old_hosts,
        ..IgmpConfig::default()
    });
    let a = r.receive_packet(IF, &plain, &encode_v2(0x12, G), secs(1));
    assert_eq!(joins(&a), vec![Selector::Group(G)]);
    // TTL is still checked.
    let g2 = Ipv4Addr::new(239, 1, 2, 4);
    assert!(r
        .receive_packet(IF, &heard(HOST, 2, false), &encode_v2(0x16, g2), secs(1))
        .is_empty());
    assert_eq!(counters(&r).bad_ttl, 1);
}

#[test]
fn an_off_subnet_report_is_ignored_and_one_from_0_0_0_0_is_not() {
    let mut r = on_link(IgmpConfig::default());
    let off = Ipv4Addr::new(8, 8, 8, 8);
    assert!(r.receive(IF, off, &encode_v2(0x16, G), secs(1)).is_empty());
    assert!(r.receive(IF, off, &rec(5, G, &[S]), secs(1)).is_empty());
    assert!(r.memberships(IF).is_empty());
    assert_eq!(counters(&r).off_subnet_report, 2);
    // RFC 3376 4.2.13: a host without an address yet.
    let a = r.receive(IF, Ipv4Addr::UNSPECIFIED, &rec(4, G, &[]), secs(2));
    assert_eq!(joins(&a), vec![Selector::Group(G)]);
    // An off-subnet leave does not end the membership either.
    assert!(r.receive(IF, off, &encode_v2(0x17, G), secs(3)).is_empty());
    assert_eq!(counters(&r).off_subnet_report, 3);
}

#[test]
fn an_off_subnet_query_does_not_take_the_querier_role() {
    let mut r = on_link(IgmpConfig::default());
    // The forged general query: off-subnet, lower address, TTL 64.
    let forged = Ipv4Addr::new(1, 2, 3, 4);
    r.receive_packet(IF, &heard(forged, 64, true), &general_query(), secs(1));
    assert_eq!(counters(&r).bad_ttl, 1);
    // Even with TTL 1 and Router Alert.
    r.receive(IF, forged, &general_query(), secs(1));
    assert_eq!(counters(&r).off_subnet_query, 1);
    assert!(r.interfaces()[&IF].querier);
    assert_eq!(r.interfaces()[&IF].other_querier, None);
    // So a later leave is still acted on: the membership ends within the last member query
    // time, not after 260 s.
    r.receive(IF, HOST, &encode_v2(0x16, G), secs(2));
    let a = r.receive(IF, HOST, &encode_v2(0x17, G), secs(3));
    assert_eq!(queries(&a).len(), 1, "group-specific query");
    let later = run(&mut r, secs(3), secs(6));
    assert_eq!(
        leaves(&later.into_iter().map(|x| x.1).collect::<Vec<_>>()).len(),
        1
    );
    // An on-subnet router with a lower address does win.
    let lower = Ipv4Addr::new(203, 0, 113, 0);
    r.receive(IF, lower, &general_query(), secs(7));
    assert!(!r.interfaces()[&IF].querier);
    assert_eq!(r.interfaces()[&IF].other_querier, Some(lower));
}

#[test]
fn an_allow_record_keeps_only_valid_unicast_sources() {
    let mut r = on_link(IgmpConfig::default());
    let bad = [
        Ipv4Addr::UNSPECIFIED,
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(239, 9, 9, 9),
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(240, 0, 0, 1),
    ];
    let a = r.receive(IF, HOST, &rec(5, G, &bad), secs(1));
    assert!(a.is_empty(), "{a:?}");
    assert!(
        r.interfaces()[&IF].group_count() == 0,
        "no state for nothing valid"
    );
    assert_eq!(counters(&r).invalid_sources, 5);
    let mut mixed = bad.to_vec();
    mixed.push(S);
    let a = r.receive(IF, HOST, &rec(5, G, &mixed), secs(2));
    assert_eq!(
        joins(&a),
        vec![Selector::Source {
            source: S,
            group: G
        }]
    );
    let gs = &r.interfaces()[&IF].group(G).unwrap();
    assert_eq!(gs.sources.keys().copied().collect::<Vec<_>>(), vec![S]);
    assert_eq!(counters(&r).invalid_sources, 10);
    assert_eq!(r.host_memberships(IF)[&HOST], 1);
}

#[test]
fn the_group_limit_refuses_and_counts() {
    let limits = IgmpLimits {
        groups_per_interface: 3,
        ..IgmpLimits::default()
    };
    let mut r = on_link(IgmpConfig {
        limits,
        ..IgmpConfig::default()
    });
    for i in 0..5u8 {
        let host = Ipv4Addr::new(203, 0, 113, 10 + i);
        r.receive(
            IF,
            host,
            &encode_v2(0x16, Ipv4Addr::new(239, 2, 0, i)),
            secs(1),
        );
    }
    assert_eq!(r.interfaces()[&IF].group_count(), 3);
    assert_eq!(r.memberships(IF).len(), 3);
    assert_eq!(counters(&r).group_limit, 2);
    // A group already there is still refreshed.
    let a = r.receive(IF, HOST, &rec(2, Ipv4Addr::new(239, 2, 0, 0), &[]), secs(2));
    assert!(a.is_empty());
    assert_eq!(counters(&r).group_limit, 2);
    // Once the groups expire there is room again.
    run(&mut r, secs(2), secs(263));
    assert!(r.interfaces()[&IF].group_count() == 0);
    let a = r.receive(
        IF,
        HOST,
        &encode_v2(0x16, Ipv4Addr::new(239, 2, 0, 9)),
        secs(264),
    );
    assert_eq!(joins(&a).len(), 1);
    counters(&r);
}

#[test]
fn the_source_limit_refuses_and_counts() {
    let limits = IgmpLimits {
        sources_per_group: 4,
        ..IgmpLimits::default()
    };
    let mut r = on_link(IgmpConfig {
        limits,
        ..IgmpConfig::default()
    });
    let srcs: Vec<Ipv4Addr> = (1..=6).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect();
    let a = r.receive(IF, HOST, &rec(5, G, &srcs), secs(1));
    assert_eq!(joins(&a).len(), 4);
    assert_eq!(r.interfaces()[&IF].group(G).unwrap().sources.len(), 4);
    assert_eq!(counters(&r).source_limit, 2);
    // Sources already there are refreshed; new ones are still refused.
    let other = Ipv4Addr::new(203, 0, 113, 3);
    r.receive(IF, other, &rec(1, G, &srcs), secs(2));
    assert_eq!(r.interfaces()[&IF].group(G).unwrap().sources.len(), 4);
    assert_eq!(counters(&r).source_limit, 4);
}

#[test]
fn the_host_limit_refuses_and_counts_and_frees_on_leave_and_expiry() {
    let limits = IgmpLimits {
        memberships_per_host: 3,
        ..IgmpLimits::default()
    };
    let mut r = on_link(IgmpConfig {
        limits,
        ..IgmpConfig::default()
    });
    let g = |i: u8| Ipv4Addr::new(239, 3, 0, i);
    for i in 0..5 {
        r.receive(IF, HOST, &encode_v2(0x16, g(i)), secs(1));
    }
    assert_eq!(r.memberships(IF).len(), 3);
    assert_eq!(r.host_memberships(IF)[&HOST], 3);
    assert_eq!(counters(&r).host_limit, 2);
    // Sources count one each.
    let a = r.receive(IF, HOST, &rec(5, G, &[S]), secs(1));
    assert!(a.is_empty());
    assert_eq!(counters(&r).host_limit, 3);
    // Another host has its own budget.
    let other = Ipv4Addr::new(203, 0, 113, 3);
    let a = r.receive(IF, other, &rec(5, G, &[S]), secs(1));
    assert_eq!(joins(&a).len(), 1);
    // A leave frees the host's membership.
    r.receive(IF, HOST, &encode_v2(0x17, g(0)), secs(2));
    assert_eq!(r.host_memberships(IF)[&HOST], 2);
    let a = r.receive(IF, HOST, &encode_v2(0x16, g(4)), secs(2));
    assert_eq!(joins(&a), vec![Selector::Group(g(4))]);
    // Expiry frees them all.
    run(&mut r, secs(2), secs(263));
    assert!(r.host_memberships(IF).is_empty());
    counters(&r);
}

#[test]
fn the_hosts_limit_refuses_a_new_host_and_counts_and_room_returns_on_leave() {
    let limits = IgmpLimits {
        hosts_per_interface: 2,
        ..IgmpLimits::default()
    };
    let mut r = on_link(IgmpConfig {
        limits,
        ..IgmpConfig::default()
    });
    let host = |i: u8| Ipv4Addr::new(203, 0, 113, 10 + i);
    let g = |i: u8| Ipv4Addr::new(239, 4, 0, i);
    for i in 0..4 {
        r.receive(IF, host(i), &encode_v2(0x16, g(i)), secs(1));
    }
    assert_eq!(r.host_memberships(IF).len(), 2, "two hosts kept");
    assert_eq!(r.memberships(IF).len(), 2);
    assert_eq!(counters(&r).host_limit, 2);
    // A known host still gets more memberships.
    let a = r.receive(IF, host(0), &encode_v2(0x16, g(9)), secs(1));
    assert_eq!(joins(&a), vec![Selector::Group(g(9))]);
    // When a host leaves all it had, a new one has room.
    r.receive(IF, host(1), &encode_v2(0x17, g(1)), secs(2));
    let a = r.receive(IF, host(3), &encode_v2(0x16, g(3)), secs(2));
    assert_eq!(joins(&a), vec![Selector::Group(g(3))]);
    assert_eq!(r.host_memberships(IF).len(), 2);
    assert!(r.check_invariants().is_ok());
}

#[test]
fn every_drop_is_counted_once_by_its_first_reason() {
    let mut r = on_link(IgmpConfig::default());
    let off = Ipv4Addr::new(8, 8, 8, 8);
    let report = encode_v2(0x16, G);
    r.receive(IF, ME, &report, secs(1)); // own
    r.receive(IF, HOST, &report[..7], secs(1)); // malformed
    r.receive_packet(IF, &heard(off, 64, false), &report, secs(1)); // TTL first
    r.receive_packet(IF, &heard(off, 1, false), &report, secs(1)); // then Router Alert
    r.receive(IF, off, &report, secs(1)); // then the subnet
    r.receive(
        IF,
        HOST,
        &encode_v2(0x16, Ipv4Addr::new(224, 0, 0, 5)),
        secs(1),
    ); // link-local
    r.receive(IF, HOST, &report, secs(1)); // accepted
    r.receive(9, HOST, &report, secs(1)); // not an IGMP interface
    let c = counters(&r);
    assert_eq!(
        (c.received, c.accepted, c.own, c.malformed, c.bad_ttl),
        (7, 2, 1, 1, 1)
    );
    assert_eq!(
        (c.no_router_alert, c.off_subnet_report, c.invalid_groups),
        (1, 1, 1)
    );
    assert_eq!(r.unknown_interface(), 1);
}

#[test]
fn the_timer_index_follows_every_change() {
    // A deterministic mix of reports, leaves, blocks and queries from a few hosts, with the
    // router's invariants (the timer index among them) checked after every step.
    let mut r = on_link(IgmpConfig::default());
    let mut x: u32 = 0x2545_f491;
    let mut now = Duration::ZERO;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let g = Ipv4Addr::new(239, 4, 0, (x % 7) as u8);
        let s = Ipv4Addr::new(198, 51, 100, ((x >> 3) % 5) as u8 + 1);
        let host = Ipv4Addr::new(203, 0, 113, ((x >> 6) % 4) as u8 + 2);
        let msg = match (x >> 9) % 8 {
            0 => encode_v2(0x16, g),
            1 => encode_v2(0x17, g),
            2 => rec(5, g, &[s]),
            3 => rec(6, g, &[s]),
            4 => rec(3, g, &[]),
            5 => rec(4, g, &[]),
            6 => query_for::<Igmp>(&IgmpConfig::default(), g, vec![s], false).encode(),
            _ => rec(1, g, &[s, Ipv4Addr::LOCALHOST]),
        };
        r.receive(IF, host, &msg, now);
        assert_eq!(r.check_invariants(), Ok(()));
        now += ms(u64::from((x >> 12) % 3000));
        r.tick(now);
        assert_eq!(r.check_invariants(), Ok(()));
        // The deadline from the index is never later than the earliest timer of all, found
        // the long way; when earlier (entries filed before a refresh), ticks there do nothing
        // but move it on, until it is that timer.
        let st = &r.interfaces()[&IF];
        let slow = st
            .groups_after(None)
            .filter_map(|(_, gs)| gs.next_timer())
            .chain(
                st.hosts
                    .values()
                    .flat_map(|h| h.iter().map(|(_, h)| h.until)),
            )
            .chain(st.querier.then_some(st.next_general_query))
            .chain(st.other_querier_until)
            .min();
        let mut fast = r.next_deadline();
        assert_eq!(fast.is_some(), slow.is_some());
        let mut ahead = r.clone();
        while let (Some(f), Some(t)) = (fast, slow) {
            assert!(f <= t, "a deadline of {f:?} after the timer at {t:?}");
            if f == t {
                break;
            }
            assert_eq!(ahead.tick(f), vec![], "nothing is due at an early deadline");
            let next = ahead.next_deadline();
            assert!(next > fast, "an early deadline moves on");
            fast = next;
        }
        assert_eq!(fast, slow);
        assert_eq!(ahead.check_invariants(), Ok(()));
    }
}

// Explicit tracking: fast leave prunes only what no tracked host holds.

const OTHER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 3);
const S2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 3);

fn fast(limits: IgmpLimits) -> IgmpRouter {
    on_link(IgmpConfig {
        fast_leave: true,
        limits,
        ..IgmpConfig::default()
    })
}
fn sg(source: Ipv4Addr) -> Selector<Ipv4Addr> {
    Selector::Source { source, group: G }
}
/// The hosts tracked in `G`.
fn tracked(r: &IgmpRouter) -> Vec<Ipv4Addr> {
    r.group_hosts(IF, G).keys().copied().collect()
}

#[test]
fn fast_leave_keeps_a_group_another_host_holds() {
    let mut r = fast(IgmpLimits::default());
    assert_eq!(
        joins(&r.receive(IF, HOST, &rec(4, G, &[]), secs(1))),
        [Selector::Group(G)]
    );
    assert!(r.receive(IF, OTHER, &rec(4, G, &[]), secs(2)).is_empty());
    assert_eq!(tracked(&r), [HOST, OTHER]);
    // One leaves: the other still holds the group, so nothing changes and nobody is asked.
    let a = r.receive(IF, HOST, &rec(3, G, &[]), secs(3));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(r.memberships(IF), [Selector::Group(G)]);
    assert_eq!(tracked(&r), [OTHER]);
    let later = run(&mut r, secs(3), secs(10));
    assert!(
        later
            .iter()
            .all(|(_, a)| !matches!(a, IgmpAction::Leave { .. })),
        "{later:?}"
    );
    // The last one leaves: pruned at once, without a query.
    let a = r.receive(IF, OTHER, &rec(3, G, &[]), secs(11));
    assert_eq!(leaves(&a), [Selector::Group(G)]);
    assert!(queries(&a).is_empty());
    assert!(r.memberships(IF).is_empty() && tracked(&r).is_empty());
    counters(&r);
}

#[test]
fn fast_leave_with_igmpv2_hosts_keeps_the_group_until_the_last_leave() {
    let mut r = fast(IgmpLimits::default());
    r.receive(IF, HOST, &encode_v2(0x16, G), secs(1));
    // A v3 host beside the v2 one (the group is in IGMPv2 compatibility mode).
    r.receive(IF, OTHER, &rec(4, G, &[]), secs(1));
    assert!(r.receive(IF, OTHER, &rec(3, G, &[]), secs(2)).is_empty());
    // A leave from a host the router never heard a report from changes nothing.
    let stranger = Ipv4Addr::new(203, 0, 113, 9);
    assert!(r
        .receive(IF, stranger, &encode_v2(0x17, G), secs(3))
        .is_empty());
    assert_eq!(r.memberships(IF), [Selector::Group(G)]);
    let a = r.receive(IF, HOST, &encode_v2(0x17, G), secs(4));
    assert_eq!(leaves(&a), [Selector::Group(G)]);
    assert!(queries(&a).is_empty());
    counters(&r);
}

#[test]
fn fast_leave_of_a_source_keeps_it_while_another_host_names_it() {
    let mut r = fast(IgmpLimits::default());
    r.receive(IF, HOST, &rec(1, G, &[S]), secs(1));
    let a = r.receive(IF, OTHER, &rec(1, G, &[S, S2]), secs(1));
    assert_eq!(joins(&a), [sg(S2)]);
    // HOST blocks S: OTHER still names it.
    let a = r.receive(IF, HOST, &rec(6, G, &[S]), secs(2));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(r.memberships(IF), [sg(S), sg(S2)]);
    assert!(!r.group_hosts(IF, G).contains_key(&HOST));
    // OTHER blocks S2, which only it named: that source goes at once, S stays.
    let a = r.receive(IF, OTHER, &rec(6, G, &[S2]), secs(3));
    assert_eq!(leaves(&a), [sg(S2)]);
    assert!(queries(&a).is_empty());
    assert_eq!(r.memberships(IF), [sg(S)]);
    // And its last source.
    let a = r.receive(IF, OTHER, &rec(6, G, &[S]), secs(4));
    assert_eq!(leaves(&a), [sg(S)]);
    assert!(r.interfaces()[&IF].group_count() == 0);
    counters(&r);
}

#[test]
fn fast_leave_from_exclude_keeps_the_sources_other_hosts_name() {
    let mut r = fast(IgmpLimits::default());
    r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
    r.receive(IF, OTHER, &rec(1, G, &[S]), secs(1));
    assert_eq!(r.memberships(IF), [Selector::Group(G)], "EXCLUDE covers S");
    // The EXCLUDE-mode host goes to INCLUDE {}: the group becomes INCLUDE {S} at once.
    let a = r.receive(IF, HOST, &rec(3, G, &[]), secs(2));
    assert_eq!(leaves(&a), [Selector::Group(G)]);
    assert_eq!(joins(&a), [sg(S)]);
    assert!(queries(&a).is_empty());
    counters(&r);
}

#[test]
fn a_host_switching_to_exclude_gives_up_its_named_sources() {
    let mut r = fast(IgmpLimits::default());
    r.receive(IF, HOST, &rec(1, G, &[S, S2]), secs(1));
    r.receive(IF, HOST, &rec(4, G, &[]), secs(2));
    let rec_of = |r: &IgmpRouter| r.group_hosts(IF, G)[&HOST].clone();
    assert!(rec_of(&r).exclude_until.is_some() && rec_of(&r).sources.is_empty());
    assert_eq!(r.host_memberships(IF)[&HOST], 1);
    // From EXCLUDE, TO_IN {S} is the host's whole new list; a second record (a list split
    // for size) adds to it.
    r.receive(IF, HOST, &rec(3, G, &[S]), secs(3));
    r.receive(IF, HOST, &rec(3, G, &[S2]), secs(3));
    assert_eq!(rec_of(&r).exclude_until, None);
    assert_eq!(
        rec_of(&r).sources.keys().copied().collect::<Vec<_>>(),
        [S, S2]
    );
    assert_eq!(r.memberships(IF), [sg(S), sg(S2)]);
    counters(&r);
}

#[test]
fn a_host_record_expires_after_the_group_membership_interval() {
    let mut r = fast(IgmpLimits::default());
    let gmi = r.config().group_membership_interval();
    // HOST joins once and goes away without a leave.
    r.receive(IF, HOST, &rec(4, G, &[]), secs(1));
    r.receive(IF, OTHER, &rec(4, G, &[]), secs(100));
    // Within the interval HOST's record holds the group when OTHER leaves.
    assert!(r.receive(IF, OTHER, &rec(3, G, &[]), secs(150)).is_empty());
    assert_eq!(r.memberships(IF), [Selector::Group(G)]);
    r.receive(IF, OTHER, &rec(4, G, &[]), secs(200));
    run(&mut r, secs(200), secs(1) + gmi - ms(100));
    assert_eq!(tracked(&r), [HOST, OTHER]);
    run(&mut r, secs(1) + gmi, secs(1) + gmi);
    assert_eq!(tracked(&r), [OTHER], "HOST's record expired");
    assert_eq!(
        r.group_hosts(IF, G)[&OTHER].exclude_until,
        Some(secs(200) + gmi)
    );
    // Now OTHER's leave is the last one.
    let a = r.receive(IF, OTHER, &rec(3, G, &[]), secs(270));
    assert_eq!(leaves(&a), [Selector::Group(G)]);
    counters(&r);
}

#[test]
fn explicit_tracking_stays_within_the_limits() {
    let mut r = fast(IgmpLimits {
        hosts_per_interface: 2,
        memberships_per_host: 2,
        ..IgmpLimits::default()
    });
    r.receive(
        IF,
        HOST,
        &rec(1, G, &[S, S2, Ipv4Addr::new(198, 51, 100, 4)]),
        secs(1),
    );
    assert_eq!(r.group_hosts(IF, G)[&HOST].sources.len(), 2);
    assert_eq!(counters(&r).host_limit, 1);
    r.receive(IF, OTHER, &rec(1, G, &[S]), secs(1));
    // A third host is refused, so it is not tracked: its leave prunes nothing.
    let third = Ipv4Addr::new(203, 0, 113, 4);
    assert!(r.receive(IF, third, &rec(1, G, &[S]), secs(1)).is_empty());
    assert_eq!(counters(&r).host_limit, 2);
    assert_eq!(tracked(&r), [HOST, OTHER]);
    assert!(r
        .receive(IF, third, &rec(6, G, &[S, S2]), secs(2))
        .is_empty());
    assert_eq!(r.memberships(IF), [sg(S), sg(S2)]);
    // HOST's record turned to EXCLUDE frees its source budget.
    r.receive(IF, HOST, &rec(4, G, &[]), secs(3));
    assert_eq!(r.host_memberships(IF)[&HOST], 1);
    let g2 = Ipv4Addr::new(239, 1, 2, 4);
    assert_eq!(
        joins(&r.receive(IF, HOST, &rec(4, g2, &[]), secs(3))),
        [Selector::Group(g2)]
    );
    counters(&r);
}
