//! Spec 6.14 (lifetime), 6.15 (upstream neighbour), 6.16 (route changes); G-17 on a
//! `ManualClock`, the refresh-on-traffic option, and `Hooks::mfe_timeout` answers; the
//! bounded timer run, `run_timers_some`.
use mgm_model::common::*;

struct Box_<A: Addrs> {
    mgm: Mgm<A>,
    clock: ManualClock,
    pim: Proto<A>,
    mospf: Proto<A>,
}

/// PIM owns k2 (receivers), MOSPF owns k3 (net B) and k5.
fn setup<A: Addrs>(config: Config) -> Box_<A> {
    let (mgm, clock) = engine_with::<A>(config);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.take_interface(mospf.h, k(5)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    Box_ {
        mgm,
        clock,
        pim,
        mospf,
    }
}

/// 6.14 / G-17: 900 s by default, counted down, deleted at zero with an MfeDeleted to the iif
/// owner; the next packet misses and runs RPF again.
fn default_lifetime_runs_out<A: Addrs>() {
    let b = setup::<A>(Config::default());
    b.mgm.add_membership(b.pim.h, group(1), k(2), JOIN).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    b.mospf.drain();
    b.mospf.hooks.take_calls();
    let changes = b.mgm.subscribe();
    let mut r = b.mgm.reader().unwrap();
    b.clock.advance(secs(899));
    // Traffic does not refresh by default.
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Forward(vec![k(2)]));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!(
        (m.up_time, m.expiry, m.timeout),
        (secs(899), Some(secs(1)), Some(secs(900)))
    );
    b.clock.advance(secs(1));
    assert_eq!(b.mgm.run_timers().unwrap(), 1);
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(sg, k(3), DeleteReason::Expired)]
    );
    assert_eq!(b.pim.drain(), vec![]);
    assert_eq!(
        changes.drain(),
        vec![MfeChange::Deleted {
            sg,
            iif: k(3),
            reason: DeleteReason::Expired
        }]
    );
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Miss);
    assert!(matches!(b.mgm.mfe(s, g), Err(Error::NoSuchMfe { .. })));
    let again = created(b.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!((again.up_time, again.expiry), (secs(0), Some(secs(900))));
    assert!(matches!(b.mospf.hooks.take_calls()[..], [Call::Rpf(_)]));
    let c = b.mgm.counters();
    assert_eq!((c.created, c.deleted, c.mfes), (2, 1, 1));
}

/// G-17 opt-in: with refresh on traffic, a lifetime that carried packets starts another one; an
/// idle one ends.
fn refresh_on_traffic<A: Addrs>() {
    let b = setup::<A>(Config {
        refresh_on_traffic: true,
        ..Config::default()
    });
    b.mgm.add_membership(b.pim.h, group(1), k(2), JOIN).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    let mut r = b.mgm.reader().unwrap();
    b.clock.advance(secs(10));
    look(&mut r, k(3), s, g, 1);
    b.clock.advance(secs(890));
    assert_eq!(b.mgm.run_timers().unwrap(), 0, "it carried traffic");
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.up_time, m.expiry), (secs(900), Some(secs(900))));
    b.clock.advance(secs(899));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    b.clock.advance(secs(1));
    assert_eq!(b.mgm.run_timers().unwrap(), 1, "idle for a whole lifetime");
    assert_eq!(
        b.mospf.drain().last(),
        Some(&deleted(Sg::new(s, g), k(3), DeleteReason::Expired))
    );
}

/// `Hooks::mfe_timeout` with a FALSE prune: the answer replaces the lifetime and restarts the
/// countdown; `None` means never age.
fn timeout_answers<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    *b.mospf.hooks.timeout.lock().unwrap() = Some(Some(secs(30)));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.expiry, m.timeout), (Some(secs(30)), Some(secs(30))));
    b.clock.advance(secs(29));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    b.clock.advance(secs(1));
    assert_eq!(b.mgm.run_timers().unwrap(), 1);

    // Never age.
    *b.mospf.hooks.timeout.lock().unwrap() = Some(None);
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.expiry, m.timeout), (None, None));
    b.clock.advance(secs(100_000));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    assert_eq!(b.mgm.mfe(s, g).unwrap().up_time, secs(100_000));

    // The answer to a later FALSE prune restarts the countdown from then.
    *b.mospf.hooks.timeout.lock().unwrap() = None;
    let (s2, g2) = (A::far(2), A::grp(2));
    b.mgm.add_membership(b.pim.h, group(2), k(2), JOIN).unwrap();
    created(b.mgm.new_packet(k(3), s2, g2).unwrap());
    b.mospf.hooks.take_calls();
    b.clock.advance(secs(100));
    *b.mospf.hooks.timeout.lock().unwrap() = Some(Some(secs(60)));
    b.mgm
        .delete_membership(b.pim.h, group(2), k(2), JOIN)
        .unwrap();
    assert_eq!(
        b.mospf.hooks.take_calls(),
        vec![Call::Timeout {
            sg: Sg::new(s2, g2),
            iif: k(3),
            proposed: Some(secs(900))
        }]
    );
    let m = b.mgm.mfe(s2, g2).unwrap();
    assert_eq!((m.expiry, m.timeout), (Some(secs(60)), Some(secs(60))));
    // Becoming non-empty again leaves the timer alone.
    b.mgm.add_membership(b.pim.h, group(2), k(2), JOIN).unwrap();
    assert_eq!(b.mospf.hooks.take_calls(), vec![]);
    b.clock.advance(secs(59));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    b.clock.advance(secs(1));
    assert_eq!(b.mgm.run_timers().unwrap(), 1);
    assert!(b.mgm.mfe(s2, g2).is_err());
    assert!(b.mgm.mfe(sg.source, sg.group).is_ok());
}

/// G-17: a lifetime of zero means "never age", as MGM's `*pdwTimeout = 0`.
fn zero_timeout_never_ages<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    *b.mospf.hooks.timeout.lock().unwrap() = Some(Some(secs(0)));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.expiry, m.timeout), (None, None));
    b.clock.advance(secs(5000));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    // The same for a configured default of zero.
    let (mgm, clock) = engine_with::<A>(Config {
        default_timeout: Some(secs(0)),
        ..Config::default()
    });
    let m = created(mgm.new_packet(k(1), s, g).unwrap());
    assert_eq!((m.expiry, m.timeout), (None, None));
    clock.advance(secs(5000));
    assert_eq!(mgm.run_timers().unwrap(), 0);
    assert!(mgm.mfe(s, g).is_ok());
}

/// `Config::default_timeout: None`: entries never age unless their owner says otherwise.
fn configured_lifetime<A: Addrs>() {
    let b = setup::<A>(Config {
        default_timeout: None,
        ..Config::default()
    });
    let (s, g) = (A::far(1), A::grp(1));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(
        b.mospf.hooks.take_calls().last(),
        Some(&Call::Timeout {
            sg: Sg::new(s, g),
            iif: k(3),
            proposed: None
        })
    );
    b.clock.advance(secs(1_000_000));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    assert_eq!(b.mgm.mfe(s, g).unwrap().timeout, None);
}

/// 6.15: only the iif owner changes the upstream neighbour; nothing else changes and nobody is
/// told.
fn set_upstream<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let (s, g) = (A::far(1), A::grp(1));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    b.mospf.drain();
    let changes = b.mgm.subscribe();
    let before = b.mgm.mfe(s, g).unwrap();
    b.mgm.set_mfe(b.mospf.h, s, g, A::far(77)).unwrap();
    assert_eq!(
        b.mgm.mfe(s, g).unwrap(),
        Mfe {
            upstream: A::far(77),
            ..before.clone()
        }
    );
    let e = b.mgm.set_mfe(b.pim.h, s, g, A::far(78)).unwrap_err();
    assert_eq!(
        e,
        Error::NotIifOwner {
            source: s.into(),
            group: g.into()
        }
    );
    assert_eq!(e.win32_code(), 87);
    assert_eq!(b.mgm.mfe(s, g).unwrap().upstream, A::far(77));
    assert_eq!(b.pim.drain(), vec![]);
    assert_eq!(b.mospf.drain(), vec![]);
    assert_eq!(changes.drain(), vec![]);
}

/// 6.16: a route change deletes exactly the entries whose best route changed (MfeDeleted
/// RouteChanged to their iif owner); they are rebuilt with a fresh RPF on the next packet.
fn route_changes<A: Addrs>() {
    let b = setup::<A>(Config::default());
    b.mgm.add_route(route_a(k(3))).unwrap();
    let inside = (A::src(1), A::grp(1));
    let outside = (A::src(200), A::grp(1));
    let other = (A::far(1), A::grp(1));
    for (s, g) in [inside, outside, other] {
        created(b.mgm.new_packet(k(3), s, g).unwrap());
    }
    b.mospf.drain();
    b.mospf.hooks.take_calls();
    // A less specific route changes nobody's best route.
    let (p, _) = A::net_a();
    b.mgm
        .add_route(Route::new(
            A::from_bits(p.to_bits() & !0xffff),
            A::net_a().1 - 8,
            k(5),
        ))
        .unwrap();
    // Re-adding the same route changes nothing either.
    b.mgm.add_route(route_a(k(3))).unwrap();
    assert_eq!(b.mospf.drain(), vec![]);
    assert_eq!(b.mgm.counters().mfes, 3);
    // A more specific route through PIM's k2 takes `inside` only.
    let (sp, sl) = A::net_a_specific();
    b.mgm.add_route(Route::new(sp, sl, k(2))).unwrap();
    let sg_in = Sg::new(inside.0, inside.1);
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(sg_in, k(3), DeleteReason::RouteChanged)]
    );
    assert_eq!(b.pim.drain(), vec![]);
    let m = created(b.mgm.new_packet(k(2), inside.0, inside.1).unwrap());
    assert_eq!((m.iif, m.iif_protocol), (k(2), Some((PIM, 1))));
    assert!(matches!(&b.pim.hooks.take_calls()[..], [Call::Rpf(q), ..] if q.iif == k(2)));
    // Replacing net B's route with another upstream deletes `other`.
    b.mgm
        .add_route(Route {
            upstream: A::far(9),
            ..route_b(k(3))
        })
        .unwrap();
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(
            Sg::new(other.0, other.1),
            k(3),
            DeleteReason::RouteChanged
        )]
    );
    // Removing the specific route sends `inside` back to net A's route.
    b.pim.drain();
    b.mgm.remove_route(sp, sl).unwrap();
    assert_eq!(
        b.pim.drain(),
        vec![deleted(sg_in, k(2), DeleteReason::RouteChanged)]
    );
    let left: Vec<_> = b
        .mgm
        .mfes(None, usize::MAX)
        .unwrap()
        .items
        .iter()
        .map(|m| m.sg())
        .collect();
    assert_eq!(left, vec![Sg::new(outside.0, outside.1)]);
}

/// 6.16 with G-24: a route appearing for a source that had none replaces its negative entry.
fn route_appearing_replaces_the_unrouted_entry<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let (s, g) = (A::src(1), A::grp(1));
    let m = created(b.mgm.new_packet(k(2), s, g).unwrap());
    assert_eq!((m.iif, m.route), (k(2), None));
    b.pim.drain();
    b.mgm.add_route(route_a(k(3))).unwrap();
    assert_eq!(
        b.pim.drain(),
        vec![deleted(Sg::new(s, g), k(2), DeleteReason::RouteChanged)]
    );
    let m = created(b.mgm.new_packet(k(2), s, g).unwrap());
    assert_eq!((m.iif, m.route), (k(3), Some(route_a(k(3)))));
}

/// `set_mfe_timeout`: the iif owner pins an entry with outgoing interfaces (`None`: it never
/// ages, and a later FALSE prune proposes no lifetime), or gives it another lifetime from now
/// on; nobody else may; the other entries keep the default.
fn owner_sets_one_entrys_lifetime<A: Addrs>() {
    let b = setup::<A>(Config::default());
    b.mgm.add_membership(b.pim.h, group(1), k(2), JOIN).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    let (s2, g2) = (A::far(2), A::grp(1));
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    created(b.mgm.new_packet(k(3), s2, g2).unwrap());
    b.mospf.drain();
    b.mospf.hooks.take_calls();
    let changes = b.mgm.subscribe();
    b.clock.advance(secs(10));
    b.mgm.set_mfe_timeout(b.mospf.h, s, g, None).unwrap();
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.expiry, m.timeout, m.oifs), (None, None, vec![k(2)]));
    // Not the owner of the incoming interface; no entry; a bad group.
    assert_eq!(
        b.mgm.set_mfe_timeout(b.pim.h, s2, g2, None),
        Err(Error::NotIifOwner {
            source: s2.into(),
            group: g2.into()
        })
    );
    assert!(matches!(
        b.mgm.set_mfe_timeout(b.mospf.h, A::far(3), g, None),
        Err(Error::NoSuchMfe { .. })
    ));
    assert!(b.mgm.set_mfe_timeout(b.mospf.h, s, s, None).is_err());
    assert_eq!(b.mgm.mfe(s2, g2).unwrap().expiry, Some(secs(890)));
    // Nothing was published, nobody was told: a lifetime is the control plane's.
    assert_eq!(changes.drain(), vec![]);
    assert_eq!((b.pim.drain(), b.mospf.drain()), (vec![], vec![]));
    b.clock.advance(secs(890));
    assert_eq!(
        b.mgm.run_timers().unwrap(),
        1,
        "only the other entry expires"
    );
    assert!(b.mgm.mfe(s2, g2).is_err());
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(Sg::new(s2, g2), k(3), DeleteReason::Expired)]
    );
    b.clock.advance(secs(100_000));
    assert_eq!(b.mgm.run_timers().unwrap(), 0);
    assert_eq!(b.mgm.mfe(s, g).unwrap().up_time, secs(100_900));
    // Its outgoing list emptied, the owner is asked with no lifetime proposed, and the
    // default answer keeps it pinned.
    b.mospf.hooks.take_calls();
    b.mgm
        .delete_membership(b.pim.h, group(1), k(2), JOIN)
        .unwrap();
    assert_eq!(
        b.mospf.hooks.take_calls(),
        vec![Call::Timeout {
            sg: Sg::new(s, g),
            iif: k(3),
            proposed: None
        }]
    );
    assert_eq!(b.mgm.mfe(s, g).unwrap().expiry, None);
    b.mospf.drain();
    // A lifetime again, counted from now.
    b.mgm
        .set_mfe_timeout(b.mospf.h, s, g, Some(secs(5)))
        .unwrap();
    let m = b.mgm.mfe(s, g).unwrap();
    assert_eq!((m.expiry, m.timeout), (Some(secs(5)), Some(secs(5))));
    b.clock.advance(secs(5));
    assert_eq!(b.mgm.run_timers().unwrap(), 1);
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(Sg::new(s, g), k(3), DeleteReason::Expired)]
    );
}

/// `delete_mfe`: the iif owner deletes one entry at once (readers, the southbound stream and
/// the owner hear it, with `DeleteReason::Deleted`); the next packet builds it again with the
/// default lifetime, a pinned one too.
fn owner_deletes_one_entry<A: Addrs>() {
    let b = setup::<A>(Config::default());
    b.mgm.add_membership(b.pim.h, group(1), k(2), JOIN).unwrap();
    let (s, g) = (A::far(1), A::grp(1));
    let sg = Sg::new(s, g);
    created(b.mgm.new_packet(k(3), s, g).unwrap());
    created(b.mgm.new_packet(k(3), A::far(2), g).unwrap());
    b.mgm.set_mfe_timeout(b.mospf.h, s, g, None).unwrap();
    b.mospf.drain();
    let changes = b.mgm.subscribe();
    let mut r = b.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Forward(vec![k(2)]));
    assert_eq!(
        b.mgm.delete_mfe(b.pim.h, s, g),
        Err(Error::NotIifOwner {
            source: s.into(),
            group: g.into()
        })
    );
    b.mgm.delete_mfe(b.mospf.h, s, g).unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Miss);
    assert_eq!(
        b.mospf.drain(),
        vec![deleted(sg, k(3), DeleteReason::Deleted)]
    );
    assert_eq!(
        changes.drain(),
        vec![MfeChange::Deleted {
            sg,
            iif: k(3),
            reason: DeleteReason::Deleted
        }]
    );
    assert!(matches!(
        b.mgm.delete_mfe(b.mospf.h, s, g),
        Err(Error::NoSuchMfe { .. })
    ));
    assert!(b.mgm.mfe(A::far(2), g).is_ok(), "the other entry stays");
    let again = created(b.mgm.new_packet(k(3), s, g).unwrap());
    assert_eq!(again.expiry, Some(secs(900)));
    let c = b.mgm.counters();
    assert_eq!((c.mfes, c.deleted), (2, 1));
}

// `Mgm::run_timers_some`: a budget of due timers per call, the earliest first, and nothing
// lost across calls: the same entries go, in the same order, with the same notifications, as
// one unbounded `run_timers`. PIM on k2 is the wrong interface of net B's traffic.

/// `n` entries from net B, one a second (so that each has its own deadline), in creation
/// order.
fn entries<A: Addrs>(b: &Box_<A>, n: u8) -> Vec<Sg<A>> {
    let mut made = Vec::new();
    for i in 0..n {
        let (s, g) = (A::far(i / 10 + 1), A::grp(i % 10 + 1));
        created(b.mgm.new_packet(k(3), s, g).unwrap());
        made.push(Sg::new(s, g));
        b.clock.advance(secs(1));
    }
    b.mospf.drain();
    made
}

/// The entries deleted as `MfeDeleted` events tell them, checked to be expiries.
fn expired<A: Addrs>(events: Vec<Event<A>>) -> Vec<Sg<A>> {
    events
        .into_iter()
        .map(|e| match e {
            Event::MfeDeleted {
                sg,
                reason: DeleteReason::Expired,
                ..
            } => sg,
            other => panic!("expected an expiry, got {other:?}"),
        })
        .collect()
}

/// 120 entries due at once, a budget of 7: every call deletes at most 7, the earliest due
/// first, says `more` until the last; the owner hears every deletion once, in the order a
/// single `run_timers` of a twin engine tells them, and the southbound stream has them all.
fn a_budget_per_call_and_nothing_lost<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let twin = setup::<A>(Config::default());
    let made = entries(&b, 120);
    assert_eq!(entries(&twin, 120), made);
    let changes = b.mgm.subscribe();
    b.clock.advance(secs(900));
    twin.clock.advance(secs(900));
    let mut calls = 0;
    let mut order = Vec::new();
    loop {
        let run = b.mgm.run_timers_some(7).unwrap();
        calls += 1;
        assert!(
            run.expired <= 7,
            "{} expired for a budget of 7",
            run.expired
        );
        let heard = expired(b.mospf.drain());
        assert_eq!(heard.len(), run.expired);
        order.extend(heard);
        assert_eq!(b.mgm.counters().mfes, 120 - order.len());
        if !run.more {
            break;
        }
        assert_eq!(run.expired, 7, "a full budget when more is left");
        assert!(calls < 100, "no progress");
    }
    assert_eq!(calls, 18, "120 in calls of 7");
    assert_eq!(order, made, "the earliest deadline first");
    assert_eq!(twin.mgm.run_timers().unwrap(), 120);
    assert_eq!(expired(twin.mospf.drain()), order, "as one unbounded run");
    let deleted: Vec<Sg<A>> = changes
        .drain()
        .into_iter()
        .map(|c| match c {
            MfeChange::Deleted { sg, .. } => sg,
            other => panic!("expected a deletion, got {other:?}"),
        })
        .collect();
    assert_eq!(deleted, made, "the southbound stream");
    assert_eq!(state(&b.mgm), state(&twin.mgm));
    assert_eq!(b.pim.drain(), vec![]);
    // Nothing is due any more until the clock moves on.
    let idle = b.mgm.run_timers_some(7).unwrap();
    assert_eq!((idle.expired, idle.more), (0, false));
}

/// Only the due ones count: of 30 entries, 12 are due; a budget of 5 takes the first 5 and
/// leaves the others their lifetimes. Between two calls an entry is made (due in 900 s: it
/// waits its turn) and one is given a lifetime that ends before some of those left: the
/// next calls take them all in deadline order.
fn only_due_timers_and_deadline_order<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let made = entries(&b, 30);
    // Entry i is due at i + 900 s; now it is 911 s: made[0..12] are due.
    b.clock.advance(secs(881));
    let before: Vec<Mfe<A>> = made[12..]
        .iter()
        .map(|sg| b.mgm.mfe(sg.source, sg.group).unwrap())
        .collect();
    let run = b.mgm.run_timers_some(5).unwrap();
    assert_eq!((run.expired, run.more), (5, true));
    assert_eq!(expired::<A>(b.mospf.drain()), made[..5].to_vec());
    let (ns, ng) = (A::far(50), A::grp(50));
    created(b.mgm.new_packet(k(3), ns, ng).unwrap());
    let late = made[20];
    b.mgm
        .set_mfe_timeout(
            b.mospf.h,
            late.source,
            late.group,
            Some(std::time::Duration::from_millis(500)),
        )
        .unwrap();
    b.clock.advance(secs(1));
    b.mospf.drain();
    let mut order = Vec::new();
    let mut calls = 0;
    loop {
        let run = b.mgm.run_timers_some(5).unwrap();
        assert!(run.expired <= 5);
        calls += 1;
        order.extend(expired::<A>(b.mospf.drain()));
        if !run.more {
            break;
        }
    }
    // Now 912 s: made[5..=12] are due (905 s to 912 s), and `late` at 911.5 s.
    let mut want: Vec<Sg<A>> = made[5..12].to_vec();
    want.extend([late, made[12]]);
    assert_eq!(order, want, "deadline order");
    assert_eq!(calls, 2, "nine in calls of five");
    assert!(b.mgm.mfe(ns, ng).is_ok(), "the new entry waits its turn");
    for m in &before[1..] {
        if m.sg() == late {
            continue;
        }
        let now = b.mgm.mfe(m.source, m.group).unwrap();
        assert_eq!(now.timeout, m.timeout);
        assert_eq!(now.expiry, m.expiry.map(|e| e - secs(1)));
    }
}

/// With refresh on traffic, an entry that carried packets uses a unit of the budget (its
/// timer is taken and started again) but is not deleted; the idle ones are.
fn refreshed_entries_use_the_budget<A: Addrs>() {
    let b = setup::<A>(Config {
        refresh_on_traffic: true,
        ..Config::default()
    });
    let made = entries(&b, 6);
    let mut r = b.mgm.reader().unwrap();
    for sg in &made[..4] {
        look(&mut r, k(3), sg.source, sg.group, 1);
    }
    b.clock.advance(secs(900));
    let run = b.mgm.run_timers_some(3).unwrap();
    assert_eq!((run.expired, run.more), (0, true), "three refreshed");
    let run = b.mgm.run_timers_some(3).unwrap();
    assert_eq!(
        (run.expired, run.more),
        (2, false),
        "one refreshed, two idle"
    );
    assert_eq!(expired::<A>(b.mospf.drain()), made[4..].to_vec());
    for sg in &made[..4] {
        assert_eq!(
            b.mgm.mfe(sg.source, sg.group).unwrap().expiry,
            Some(secs(900))
        );
    }
}

/// The wrong-interface stamps whose interval is over are forgotten within the budget too:
/// `more` holds until they are all gone; the reports are rate-limited as before throughout.
fn wrong_interface_stamps_in_the_budget<A: Addrs>() {
    let b = setup::<A>(Config::default());
    let made = entries(&b, 10);
    for sg in &made {
        assert!(b
            .mgm
            .report_wrong_interface(k(2), sg.source, sg.group)
            .unwrap());
    }
    assert_eq!(b.pim.drain().len(), 10);
    let first = made[0];
    assert!(
        !b.mgm
            .report_wrong_interface(k(2), first.source, first.group)
            .unwrap(),
        "within the interval"
    );
    b.clock.advance(secs(3));
    for want in [true, true, false] {
        let run = b.mgm.run_timers_some(4).unwrap();
        assert_eq!((run.expired, run.more), (0, want));
    }
    assert!(b
        .mgm
        .report_wrong_interface(k(2), first.source, first.group)
        .unwrap());
    // Stamped again: its stale first stamp was forgotten, the new one holds.
    assert!(!b
        .mgm
        .report_wrong_interface(k(2), first.source, first.group)
        .unwrap());
    let c = b.mgm.counters();
    assert_eq!((c.wrong_if_notified, c.wrong_if_suppressed), (11, 2));
    let run = b.mgm.run_timers_some(4).unwrap();
    assert_eq!(
        (run.expired, run.more),
        (0, false),
        "its interval is not over"
    );
}

/// A budget of 0 is refused, and a stopped engine says so; neither changes anything.
fn bad_budget_and_stopped_engine<A: Addrs>() {
    let b = setup::<A>(Config::default());
    entries(&b, 3);
    b.clock.advance(secs(900));
    assert!(matches!(
        b.mgm.run_timers_some(0),
        Err(Error::OutOfRange { .. })
    ));
    assert_eq!(b.mgm.counters().mfes, 3);
    b.mgm.stop();
    assert_eq!(b.mgm.run_timers_some(5), Err(Error::Stopped));
}

both_families!(
    owner_sets_one_entrys_lifetime,
    owner_deletes_one_entry,
    default_lifetime_runs_out,
    refresh_on_traffic,
    timeout_answers,
    zero_timeout_never_ages,
    configured_lifetime,
    set_upstream,
    route_changes,
    route_appearing_replaces_the_unrouted_entry,
    a_budget_per_call_and_nothing_lost,
    only_due_timers_and_deadline_order,
    refreshed_entries_use_the_budget,
    wrong_interface_stamps_in_the_budget,
    bad_budget_and_stopped_engine,
);
