//! Spec 6.3 (group enumerations), 6.5 (MFE walks by administrative applications); G-14, G-15,
//! G-26, G-34.
use mgm_model::common::*;

fn keys<A: Family>(items: &[Mfe<A>]) -> Vec<Sg<A>> {
    items.iter().map(|m| m.sg()).collect()
}

fn table<A: Addrs>() -> (Mgm<A>, Vec<Sg<A>>) {
    let (mgm, _c) = engine::<A>();
    let mut made = vec![
        Sg::new(A::src(2), A::grp(1)),
        Sg::new(A::src(1), A::grp(2)),
        Sg::new(A::far(1), A::grp(1)),
        Sg::new(A::src(1), A::grp(1)),
        Sg::new(A::src(3), A::grp(3)),
    ];
    for sg in &made {
        created(mgm.new_packet(k(1), sg.source, sg.group).unwrap());
    }
    made.sort();
    (mgm, made)
}

/// 6.5 / G-4 / G-15: walks go in (group, source) order, page by page, `more` (ERROR_MORE_DATA)
/// until the last page (ERROR_NO_MORE_ITEMS); no handle needed.
fn mfe_walk_pages_in_order<A: Addrs>() {
    let (mgm, all) = table::<A>();
    assert_eq!(
        all,
        vec![
            Sg::new(A::src(1), A::grp(1)),
            Sg::new(A::src(2), A::grp(1)),
            Sg::new(A::far(1), A::grp(1)),
            Sg::new(A::src(1), A::grp(2)),
            Sg::new(A::src(3), A::grp(3)),
        ]
    );
    let whole = mgm.mfes(None, usize::MAX).unwrap();
    assert_eq!((keys(&whole.items), whole.more), (all.clone(), false));
    for max in 1..=6 {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = mgm.mfes(after, max).unwrap();
            assert!(page.items.len() <= max);
            got.extend(keys(&page.items));
            if !page.more {
                assert_eq!(page.win32_status(), 259);
                break;
            }
            assert_eq!(page.items.len(), max);
            assert_eq!(page.win32_status(), 234);
            after = page.items.last().map(|m| m.sg());
        }
        assert_eq!(got, all, "page size {max}");
    }
    let stats = mgm.mfe_stats_page(Some(all[1]), 2).unwrap();
    assert_eq!(
        stats.items.iter().map(|s| s.mfe.sg()).collect::<Vec<_>>(),
        all[2..4].to_vec()
    );
    assert!(stats.more);
    let last = mgm.mfes(Some(all[4]), 3).unwrap();
    assert_eq!((last.items.len(), last.more), (0, false));
}

/// G-34: a walk resumes after a key that no longer exists at the next greater key.
fn walk_resumes_after_a_vanished_key<A: Addrs>() {
    let clock = ManualClock::new();
    let mgm = Mgm::<A>::with_clock(
        Config {
            default_timeout: Some(secs(10)),
            ..Config::default()
        },
        std::sync::Arc::new(clock.clone()),
    );
    let a = Sg::new(A::src(1), A::grp(1));
    let b = Sg::new(A::src(2), A::grp(1));
    let c = Sg::new(A::src(1), A::grp(2));
    created(mgm.new_packet(k(1), a.source, a.group).unwrap());
    clock.advance(secs(5));
    created(mgm.new_packet(k(1), b.source, b.group).unwrap());
    created(mgm.new_packet(k(1), c.source, c.group).unwrap());
    let first = mgm.mfes(None, 1).unwrap();
    assert_eq!(keys(&first.items), vec![a]);
    clock.advance(secs(5));
    assert_eq!(mgm.run_timers().unwrap(), 1, "a expired");
    let rest = mgm.mfes(Some(a), 10).unwrap();
    assert_eq!(keys(&rest.items), vec![b, c]);
    // A key that never existed works the same.
    let between = Sg::new(A::src(3), A::grp(1));
    assert_eq!(keys(&mgm.mfes(Some(between), 10).unwrap().items), vec![c]);
    assert_eq!(
        mgm.mfe_stats_page(Some(between), 10).unwrap().items[0]
            .mfe
            .sg(),
        c
    );
}

/// The membership walk: pages in (interface, selector, protocol) order, the order of
/// `memberships()`, with `more` until the last page; protocols holding one selector on one
/// interface come in id order whatever their registration order.
fn membership_walk_pages_in_order<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    // IGMP's id is the smaller, but it registers second (the greater slot). PIM owns both
    // interfaces; IGMP runs on k3 beside it.
    let pim = reg(&mgm, PIM);
    let igmp = reg(&mgm, IGMP);
    assert!(igmp.id < pim.id);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(3)).unwrap();
    mgm.take_interface(igmp.h, k(3)).unwrap();
    let sg = source(A::src(1), A::grp(2));
    for (p, sel, n) in [
        (&pim, group(2), 3),
        (&igmp, group(2), 3),
        (&pim, sg, 2),
        (&pim, group(1), 2),
        (&igmp, Selector::AllGroups, 3),
        (&pim, group(1), 3),
    ] {
        mgm.add_membership(p.h, sel, k(n), JOIN).unwrap();
    }
    let all = mgm.memberships();
    let order: Vec<_> = all
        .iter()
        .map(|m| (m.interface, m.selector, m.protocol))
        .collect();
    assert_eq!(
        order,
        vec![
            (k(2), group(1), pim.id),
            (k(2), sg, pim.id),
            (k(3), Selector::AllGroups, igmp.id),
            (k(3), group(1), pim.id),
            (k(3), group(2), igmp.id),
            (k(3), group(2), pim.id),
        ]
    );
    for max in 1..=7 {
        let mut got = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = mgm.memberships_after(after, max).unwrap();
            pages += 1;
            assert!(page.items.len() <= max);
            got.extend(page.items.iter().copied());
            after = page.items.last().copied();
            if !page.more {
                break;
            }
            assert_eq!(page.items.len(), max, "a page before the last is full");
        }
        assert_eq!(got, all, "pages of {max}");
        assert_eq!(pages, all.len().div_ceil(max).max(1), "pages of {max}");
    }
    // After the last: nothing, and no more.
    let end = mgm.memberships_after(all.last().copied(), 3).unwrap();
    assert_eq!((end.items.len(), end.more), (0, false));
    assert!(matches!(
        mgm.memberships_after(None, 0),
        Err(Error::OutOfRange { .. })
    ));
}

/// The membership walk resumes after a key that no longer exists at the next greater one:
/// a deleted membership, a deleted last membership of an interface, a key that never was.
fn membership_walk_resumes_after_a_vanished_key<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let igmp = reg(&mgm, IGMP);
    for n in 1..=3 {
        mgm.take_interface(pim.h, k(n)).unwrap();
    }
    mgm.take_interface(igmp.h, k(1)).unwrap();
    for (p, g, n) in [
        (&pim, 1, 1),
        (&pim, 2, 1),
        (&igmp, 2, 1),
        (&pim, 1, 2),
        (&pim, 3, 3),
    ] {
        mgm.add_membership(p.h, group(g), k(n), JOIN).unwrap();
    }
    let all = mgm.memberships();
    assert_eq!(all.len(), 5);
    // Page 1 ends at (k1, G2, IGMP); that membership goes before page 2 is asked for.
    let first = mgm.memberships_after(None, 2).unwrap();
    assert_eq!(first.items, all[..2].to_vec());
    assert_eq!(all[1].protocol, igmp.id);
    mgm.delete_membership(igmp.h, group(2), k(1), JOIN).unwrap();
    let rest = mgm
        .memberships_after(first.items.last().copied(), 10)
        .unwrap();
    assert_eq!(rest.items, all[2..].to_vec());
    // The only membership of k2 goes: a walk after it goes on with k3.
    mgm.delete_membership(pim.h, group(1), k(2), JOIN).unwrap();
    let after_k2 = mgm.memberships_after(Some(all[3]), 10).unwrap();
    assert_eq!((after_k2.items, after_k2.more), (vec![all[4]], false));
    // A key that never existed: after (k1, G2, PIM), before (k3, G3, PIM) now that k2 has
    // none.
    let never = MembershipInfo {
        protocol: (0xffff_ffff, 9),
        selector: group(2),
        interface: k(1),
    };
    assert_eq!(
        mgm.memberships_after(Some(never), 10).unwrap().items,
        vec![all[4]]
    );
    // A key past every interface: nothing.
    let past = MembershipInfo {
        interface: k(200),
        ..never
    };
    let page = mgm.memberships_after(Some(past), 10).unwrap();
    assert_eq!((page.items.len(), page.more), (0, false));
}

fn sorted<A: Family>(mut v: Vec<Selector<A>>) -> Vec<Selector<A>> {
    v.sort();
    v
}

/// G-14: every client's memberships, de-duplicated; ALL_SOURCES one record per selector,
/// ANY_SOURCE one per group with (S,G) folded into (*,G) and (*,*) kept.
fn group_enumeration_kinds<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let lurker = reg(&mgm, DVMRP);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(pim.h, k(3)).unwrap();
    let sg = source(A::src(1), A::grp(2));
    let sg2 = source(A::src(2), A::grp(2));
    let sg3 = source(A::src(1), A::grp(3));
    for (p, sel, n) in [
        (&igmp, group(1), 1),
        (&pim, group(1), 2),
        (&pim, group(1), 3),
        (&pim, sg, 2),
        (&igmp, sg, 1),
        (&pim, sg2, 3),
        (&pim, sg3, 3),
        (&igmp, Selector::AllGroups, 1),
        (&pim, Selector::AllGroups, 2),
    ] {
        mgm.add_membership(p.h, sel, k(n), JOIN).unwrap();
    }
    let read_all = |kind| {
        let e = mgm.group_enumeration_start(lurker.h, kind).unwrap();
        let page = mgm.group_enumeration_next(e, 100).unwrap();
        assert!(!page.more);
        mgm.group_enumeration_end(e).unwrap();
        sorted(page.items)
    };
    assert_eq!(
        read_all(EnumKind::AllSources),
        sorted(vec![Selector::AllGroups, group(1), sg, sg2, sg3])
    );
    assert_eq!(
        read_all(EnumKind::AnySource),
        sorted(vec![Selector::AllGroups, group(1), group(2), group(3)])
    );
}

/// 6.3 / G-14 / G-15: pages until the end, a snapshot taken at start, and a dead handle after
/// the end.
fn group_enumeration_pages_a_snapshot<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    mgm.take_interface(pim.h, k(2)).unwrap();
    for n in 1..=5 {
        mgm.add_membership(pim.h, group(n), k(2), JOIN).unwrap();
    }
    let e = mgm
        .group_enumeration_start(pim.h, EnumKind::AllSources)
        .unwrap();
    // Changes after the start are not seen.
    mgm.add_membership(pim.h, group(6), k(2), JOIN).unwrap();
    mgm.delete_membership(pim.h, group(1), k(2), JOIN).unwrap();
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = mgm.group_enumeration_next(e, 2).unwrap();
        pages += 1;
        got.extend(page.items.iter().copied());
        if !page.more {
            assert_eq!(page.win32_status(), 259);
            break;
        }
        assert_eq!((page.items.len(), page.win32_status()), (2, 234));
    }
    assert_eq!(pages, 3);
    assert_eq!(sorted(got), (1..=5).map(group).collect::<Vec<_>>());
    let tail = mgm.group_enumeration_next(e, 2).unwrap();
    assert_eq!((tail.items, tail.more), (vec![], false));
    mgm.group_enumeration_end(e).unwrap();
    let dead = Error::InvalidHandle {
        kind: HandleKind::Enumeration,
        raw: e.raw(),
    };
    assert_eq!(mgm.group_enumeration_next(e, 2).unwrap_err(), dead);
    assert_eq!(mgm.group_enumeration_end(e).unwrap_err(), dead);
    // A fresh one sees the current state.
    let e2 = mgm
        .group_enumeration_start(pim.h, EnumKind::AnySource)
        .unwrap();
    assert_ne!(e2, e);
    assert_eq!(
        sorted(mgm.group_enumeration_next(e2, 10).unwrap().items),
        (2..=6).map(group).collect::<Vec<_>>()
    );
}

/// G-26: deregistration closes the protocol's open enumerations, and only its own; an open
/// enumeration handle works whoever calls with it.
fn deregistration_closes_enumerations<A: Addrs>() {
    let (mgm, _c) = engine::<A>();
    let pim = reg(&mgm, PIM);
    let other = reg(&mgm, DVMRP);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    let mine = mgm
        .group_enumeration_start(other.h, EnumKind::AllSources)
        .unwrap();
    let theirs = mgm
        .group_enumeration_start(pim.h, EnumKind::AllSources)
        .unwrap();
    let mgm2 = mgm.clone();
    let page = std::thread::spawn(move || mgm2.group_enumeration_next(mine, 1).unwrap())
        .join()
        .unwrap();
    assert_eq!(page.items, vec![group(1)]);
    mgm.deregister(other.h).unwrap();
    assert_eq!(
        mgm.group_enumeration_next(mine, 1).unwrap_err(),
        Error::InvalidHandle {
            kind: HandleKind::Enumeration,
            raw: mine.raw()
        }
    );
    assert_eq!(
        mgm.group_enumeration_next(theirs, 5).unwrap().items,
        vec![group(1)]
    );
    mgm.group_enumeration_end(theirs).unwrap();
}

both_families!(
    mfe_walk_pages_in_order,
    membership_walk_pages_in_order,
    membership_walk_resumes_after_a_vanished_key,
    walk_resumes_after_a_vanished_key,
    group_enumeration_kinds,
    group_enumeration_pages_a_snapshot,
    deregistration_closes_enumerations,
);
