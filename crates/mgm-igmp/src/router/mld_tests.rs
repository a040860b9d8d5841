//! The MLD router: the state machine of the IGMP tests beside, driven with MLD messages
//! (RFC 2710, RFC 3810) and MLD's address rules.

use super::tests::{joins, leaves, ms, queries, run, secs};
use super::*;
use crate::mld::{self, encode_v1, encode_v2_report, V1_DONE, V1_REPORT};
use crate::MldConfig;

const IF: u32 = 3;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}
fn me() -> Ipv6Addr {
    a("fe80::10")
}
fn host() -> Ipv6Addr {
    a("fe80::2")
}
fn host2() -> Ipv6Addr {
    a("fe80::3")
}
fn g() -> Ipv6Addr {
    a("ff0e::1:2:3")
}
fn ssm() -> Ipv6Addr {
    a("ff3e::8000:1")
}
fn s() -> Ipv6Addr {
    a("2001:db8::2")
}
fn rec(kind: u8, group: Ipv6Addr, sources: &[Ipv6Addr]) -> Vec<u8> {
    encode_v2_report(&[GroupRecord {
        kind,
        group,
        sources: sources.to_vec(),
    }])
}
fn started(cfg: MldConfig) -> MldRouter {
    let mut r = MldRouter::new(cfg);
    let q = queries(&r.add_interface(IF, me(), Duration::ZERO).unwrap());
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, mld::ALL_NODES);
    assert_eq!(q[0].1.version, 2);
    assert_eq!(q[0].1.encode().len(), 28, "MLDv2 format");
    r
}
fn general_query() -> Vec<u8> {
    query_for::<Mld>(&MldConfig::default(), Ipv6Addr::UNSPECIFIED, vec![], false).encode()
}
fn counters(r: &MldRouter) -> IgmpCounters {
    let c = *r.counters(IF).unwrap();
    assert_eq!(c.received, c.accepted + c.dropped(), "{c:?}");
    assert_eq!(r.check_invariants(), Ok(()));
    c
}
/// When the leave of `sel` came in `acts`, if it did.
fn left_at(acts: &[(Duration, MldAction)], sel: Selector<Ipv6Addr>) -> Option<Duration> {
    acts.iter()
        .find(|(_, x)| matches!(x, Action::Leave { selector, .. } if *selector == sel))
        .map(|(t, _)| *t)
}

#[test]
fn the_defaults_are_rfc_3810s() {
    let c = MldConfig::default();
    assert_eq!(c.robustness, 2);
    assert_eq!(c.query_interval, secs(125));
    assert_eq!(c.query_response_interval, secs(10));
    assert_eq!(
        c.last_member_query_interval,
        secs(1),
        "last listener query interval"
    );
    assert_eq!(c.last_member_query_count, 2, "last listener query count");
    assert_eq!(
        c.group_membership_interval(),
        secs(260),
        "multicast address listening interval"
    );
    assert_eq!(c.other_querier_present_interval(), secs(255));
    assert_eq!(c.startup_query_interval(), ms(31_250));
    let q = &queries(
        &MldRouter::new(c)
            .add_interface(IF, me(), Duration::ZERO)
            .unwrap(),
    )[0]
    .1;
    assert_eq!((q.max_response, q.qrv, q.qqi), (secs(10), 2, secs(125)));
}

#[test]
fn mldv1_done_prunes_after_two_last_listener_queries() {
    let mut r = started(MldConfig::default());
    let acts = r.receive(IF, host(), &encode_v1(V1_REPORT, g()), secs(1));
    assert_eq!(joins(&acts), vec![Selector::Group(g())]);
    let done_at = secs(5);
    let acts = r.receive(IF, host(), &encode_v1(V1_DONE, g()), done_at);
    let q = queries(&acts);
    assert_eq!(q.len(), 1, "multicast-address-specific query at once");
    assert_eq!(
        (q[0].0, q[0].1.group, q[0].1.max_response),
        (g(), g(), secs(1))
    );
    assert!(q[0].1.sources.is_empty());
    let later = run(&mut r, done_at + ms(100), secs(9));
    let again: Vec<_> = later
        .iter()
        .filter(|(_, x)| matches!(x, Action::Send { destination, .. } if *destination == g()))
        .collect();
    assert_eq!(again.len(), 1, "one retransmission (count 2)");
    assert_eq!(again[0].0, done_at + secs(1));
    let t = left_at(&later, Selector::Group(g())).expect("pruned");
    assert!(
        t <= done_at + 2 * secs(1),
        "pruned {:?} after the done",
        t - done_at
    );
    assert!(r.memberships(IF).is_empty());
    assert_eq!(counters(&r).accepted, 2);
}

#[test]
fn a_listener_answering_the_last_listener_query_is_kept() {
    let mut r = started(MldConfig::default());
    r.receive(IF, host(), &rec(4, g(), &[]), secs(1));
    r.receive(IF, host(), &rec(3, g(), &[]), secs(5));
    r.receive(IF, host2(), &rec(2, g(), &[]), secs(5) + ms(300));
    let later = run(&mut r, secs(5) + ms(400), secs(20));
    assert_eq!(left_at(&later, Selector::Group(g())), None);
    assert_eq!(r.memberships(IF), vec![Selector::Group(g())]);
}

#[test]
fn querier_election_by_lowest_link_local_address() {
    let mut r = started(MldConfig::default());
    let q = general_query();
    r.receive(IF, a("fe80::20"), &q, secs(1));
    assert!(r.interfaces()[&IF].querier, "a higher address does not win");
    // 2001:db8::1 is lower than fe80::10 but not link-local: dropped before the election.
    r.receive(IF, a("2001:db8::1"), &q, secs(1));
    assert!(r.interfaces()[&IF].querier);
    assert_eq!(counters(&r).off_subnet_query, 1);
    r.receive(IF, a("fe80::1"), &q, secs(2));
    let st = &r.interfaces()[&IF];
    assert!(!st.querier);
    assert_eq!(st.other_querier, Some(a("fe80::1")));
    let quiet = run(&mut r, secs(2), secs(200));
    assert!(queries(&quiet.into_iter().map(|x| x.1).collect::<Vec<_>>()).is_empty());
    // The other querier falls silent: 255 s later this router queries again.
    let back = run(&mut r, secs(200), secs(260));
    let sent: Vec<_> = back
        .iter()
        .filter(|(_, x)| matches!(x, Action::Send { .. }))
        .collect();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0 >= secs(257) && sent[0].0 <= secs(258));
    assert!(r.interfaces()[&IF].querier);
}

#[test]
fn a_non_querier_lowers_timers_on_the_queriers_specific_query() {
    let mut r = started(MldConfig::default());
    r.receive(IF, host(), &rec(4, g(), &[]), secs(1));
    r.receive(IF, a("fe80::1"), &general_query(), secs(2));
    let specific = query_for::<Mld>(&MldConfig::default(), g(), vec![], false).encode();
    r.receive(IF, a("fe80::1"), &specific, secs(3));
    let later = run(&mut r, secs(3), secs(6));
    assert!(queries(&later.iter().map(|x| x.1.clone()).collect::<Vec<_>>()).is_empty());
    let t = left_at(&later, Selector::Group(g())).expect("aged out");
    assert!(t <= secs(5), "{t:?}");
}

#[test]
fn source_specific_queries_on_block() {
    let mut r = started(MldConfig::default());
    let acts = r.receive(
        IF,
        host(),
        &rec(5, ssm(), &[s(), a("2001:db8::3")]),
        secs(1),
    );
    assert_eq!(joins(&acts).len(), 2);
    let acts = r.receive(IF, host(), &rec(6, ssm(), &[s()]), secs(2));
    let q = queries(&acts);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].0, ssm(), "sent to the address itself");
    assert_eq!(
        q[0].1.sources,
        vec![s()],
        "multicast-address-and-source-specific"
    );
    assert!(q[0].1.encode().len() == 28 + 16);
    let later = run(&mut r, secs(2) + ms(100), secs(6));
    let sel = Selector::Source {
        source: s(),
        group: ssm(),
    };
    assert!(left_at(&later, sel).expect("pruned") <= secs(4));
    assert_eq!(
        r.memberships(IF),
        vec![Selector::Source {
            source: a("2001:db8::3"),
            group: ssm()
        }],
        "the other source stays"
    );
}

#[test]
fn mldv1_compatibility_mode_ignores_block_until_it_ends() {
    let mut r = started(MldConfig::default());
    r.receive(IF, host(), &rec(1, g(), &[s()]), secs(1));
    r.receive(IF, host2(), &encode_v1(V1_REPORT, g()), secs(1));
    let gmi = r.config().group_membership_interval();
    assert_eq!(
        r.interfaces()[&IF].group(g()).unwrap().old_host_until,
        Some(secs(1) + gmi),
        "an MLDv1 listener is on the link"
    );
    let acts = r.receive(IF, host(), &rec(6, g(), &[s()]), secs(2));
    assert!(queries(&acts).is_empty(), "BLOCK ignored in MLDv1 mode");
    // Queries are still MLDv2: MLDv1 hosts read them as MLDv1 queries.
    let due = r.next_deadline().unwrap();
    let q = queries(&r.tick(due));
    assert!(q
        .iter()
        .all(|(_, q)| q.version == 2 && q.encode().len() >= 28));
    // Once the MLDv1 listener's state is gone, BLOCK queries again.
    let t = secs(1) + gmi + secs(1);
    r.tick(t);
    assert_eq!(r.interfaces()[&IF].group(g()), None, "all expired");
    r.receive(IF, host(), &rec(5, g(), &[s()]), t);
    let acts = r.receive(IF, host(), &rec(6, g(), &[s()]), t + secs(1));
    assert_eq!(queries(&acts)[0].1.sources, vec![s()]);
}

#[test]
fn fast_leave_with_two_listeners() {
    let mut r = started(MldConfig {
        fast_leave: true,
        ..MldConfig::default()
    });
    r.receive(IF, host(), &encode_v1(V1_REPORT, g()), secs(1));
    r.receive(IF, host2(), &rec(4, g(), &[]), secs(1));
    let tracked: Vec<Ipv6Addr> = r.group_hosts(IF, g()).into_keys().collect();
    assert_eq!(tracked, vec![host(), host2()]);
    let acts = r.receive(IF, host(), &encode_v1(V1_DONE, g()), secs(2));
    assert!(
        acts.is_empty(),
        "the other listener holds the group: {acts:?}"
    );
    assert_eq!(r.memberships(IF), vec![Selector::Group(g())]);
    let acts = r.receive(IF, host2(), &rec(3, g(), &[]), secs(3));
    assert_eq!(leaves(&acts), vec![Selector::Group(g())], "at once");
    assert!(queries(&acts).is_empty());
    // Sources the same way: one host's BLOCK keeps what the other still names.
    r.receive(IF, host(), &rec(5, ssm(), &[s()]), secs(4));
    r.receive(IF, host2(), &rec(5, ssm(), &[s()]), secs(4));
    assert!(r
        .receive(IF, host(), &rec(6, ssm(), &[s()]), secs(5))
        .is_empty());
    let acts = r.receive(IF, host2(), &rec(6, ssm(), &[s()]), secs(5));
    assert_eq!(leaves(&acts).len(), 1);
    assert_eq!(counters(&r).accepted, 8);
}

#[test]
fn hop_limit_and_router_alert_are_required_unless_turned_off() {
    let mut r = started(MldConfig::default());
    let report = encode_v1(V1_REPORT, g());
    let routed = Heard {
        ttl: 64,
        ..Heard::well_formed(host())
    };
    let no_alert = Heard {
        router_alert: false,
        ..Heard::well_formed(host())
    };
    assert!(r.receive_packet(IF, &routed, &report, secs(1)).is_empty());
    assert!(r.receive_packet(IF, &no_alert, &report, secs(1)).is_empty());
    let c = counters(&r);
    assert_eq!((c.bad_ttl, c.no_router_alert, c.accepted), (1, 1, 0));
    r.set_input_policy(
        IF,
        InputPolicy {
            require_ttl_one: false,
            require_router_alert: false,
        },
    );
    assert_eq!(
        joins(&r.receive_packet(IF, &routed, &report, secs(2))).len(),
        1
    );
    let mut lax = MldRouter::new(MldConfig {
        input: InputPolicy {
            require_router_alert: false,
            ..InputPolicy::default()
        },
        ..MldConfig::default()
    });
    lax.add_interface(IF, me(), Duration::ZERO).unwrap();
    assert_eq!(
        joins(&lax.receive_packet(IF, &no_alert, &report, secs(1))).len(),
        1
    );
}

#[test]
fn sources_must_be_link_local_and_reports_may_come_from_unspecified() {
    let mut r = started(MldConfig::default());
    let report = rec(4, g(), &[]);
    assert!(r.receive(IF, a("2001:db8::9"), &report, secs(1)).is_empty());
    assert_eq!(counters(&r).off_subnet_report, 1);
    // A host whose link-local address is still tentative (RFC 3590).
    let acts = r.receive(IF, Ipv6Addr::UNSPECIFIED, &report, secs(1));
    assert_eq!(joins(&acts), vec![Selector::Group(g())]);
    // But a query from :: is no querier.
    r.receive(IF, Ipv6Addr::UNSPECIFIED, &general_query(), secs(2));
    assert!(r.interfaces()[&IF].querier);
    assert_eq!(counters(&r).off_subnet_query, 1);
    // The router's own queries, looped back, are not heard.
    r.receive(IF, me(), &general_query(), secs(3));
    assert_eq!(counters(&r).own, 1);
}

#[test]
fn link_scope_groups_and_unroutable_sources_are_not_tracked() {
    let mut r = started(MldConfig::default());
    for link in ["ff02::1:ff00:2", "ff02::1", "ff01::1", "2001:db8::1"] {
        assert!(r
            .receive(IF, host(), &encode_v1(V1_REPORT, a(link)), secs(1))
            .is_empty());
    }
    assert_eq!(counters(&r).invalid_groups, 4);
    let srcs = [a("fe80::7"), a("::1"), a("::"), a("ff0e::9"), s()];
    let acts = r.receive(IF, host(), &rec(1, ssm(), &srcs), secs(1));
    assert_eq!(
        joins(&acts),
        vec![Selector::Source {
            source: s(),
            group: ssm()
        }]
    );
    assert_eq!(counters(&r).invalid_sources, 4);
}

#[test]
fn malformed_mld_is_counted_and_changes_nothing() {
    let mut r = started(MldConfig::default());
    let report = rec(4, g(), &[]);
    for bad in [
        &report[..20],
        &[135u8, 0, 0, 0][..],
        &[130u8; 26][..],
        &[][..],
    ] {
        assert!(r.receive(IF, host(), bad, secs(1)).is_empty());
    }
    // An IGMP message is not MLD either.
    assert!(r
        .receive(
            IF,
            host(),
            &crate::encode_v2(0x16, Ipv4Addr::new(239, 1, 2, 3)),
            secs(1)
        )
        .is_empty());
    let c = counters(&r);
    assert_eq!((c.received, c.malformed), (5, 5));
    assert!(r.memberships(IF).is_empty());
    assert_eq!(
        r.next_deadline(),
        Some(ms(31_250)),
        "only the startup query is due"
    );
}
