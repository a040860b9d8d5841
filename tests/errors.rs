//! Every public function given invalid input returns the documented variant and Win32 code,
//! and leaves the state (interfaces, memberships, entries, routes) and everyone's events
//! unchanged.
use mgm_model::common::*;

use mgm::{EnumerationHandle, Result};
use std::fmt::Debug;

struct Fx<A: Addrs> {
    mgm: Mgm<A>,
    igmp: Proto<A>,
    pim: Proto<A>,
    mospf: Proto<A>,
    changes: mgm::Batches<MfeChange<A>>,
    before: Snap<A>,
}

/// Interfaces, memberships, entries (when the engine still answers), routes and counters.
type Snap<A> = (
    Vec<InterfaceInfo<A>>,
    Vec<MembershipInfo<A>>,
    Option<Vec<Mfe<A>>>,
    Vec<Route<A>>,
    mgm::EngineCounters,
);

fn snap<A: Addrs>(mgm: &Mgm<A>, _stopped: bool) -> Snap<A> {
    let (i, m, e) = state(mgm);
    (i, m, Some(e), mgm.routes(), mgm.counters())
}

fn snap_stopped<A: Addrs>(mgm: &Mgm<A>) -> Snap<A> {
    (
        mgm.interfaces(),
        mgm.memberships(),
        None,
        mgm.routes(),
        mgm.counters(),
    )
}

/// IGMP alone on k1; PIM on k2; MOSPF on k3 toward net B; one entry (F1,G1) forwarding on k2.
fn fx<A: Addrs>() -> Fx<A> {
    let (mgm, _c) = engine::<A>();
    let igmp = reg(&mgm, IGMP);
    let pim = reg(&mgm, PIM);
    let mospf = reg(&mgm, MOSPF);
    mgm.take_interface(igmp.h, k(1)).unwrap();
    mgm.take_interface(pim.h, k(2)).unwrap();
    mgm.take_interface(mospf.h, k(3)).unwrap();
    mgm.add_route(route_b(k(3))).unwrap();
    mgm.add_membership(igmp.h, group(1), k(1), JOIN).unwrap();
    mgm.add_membership(pim.h, group(1), k(2), JOIN).unwrap();
    created(mgm.new_packet(k(3), A::far(1), A::grp(1)).unwrap());
    for p in [&igmp, &pim, &mospf] {
        p.drain();
    }
    let changes = mgm.subscribe();
    let before = snap(&mgm, false);
    Fx {
        mgm,
        igmp,
        pim,
        mospf,
        changes,
        before,
    }
}

impl<A: Addrs> Fx<A> {
    #[track_caller]
    fn refused<T: Debug>(&self, r: Result<T>, want: Error, code: u32) {
        let e = r.unwrap_err();
        assert_eq!(e, want);
        assert_eq!(e.win32_code(), code, "{e}");
        assert!(!e.to_string().is_empty());
        let now = if self.before.2.is_some() {
            snap(&self.mgm, false)
        } else {
            snap_stopped(&self.mgm)
        };
        assert_eq!(now, self.before);
        for p in [&self.igmp, &self.pim, &self.mospf] {
            assert_eq!(p.drain(), vec![]);
        }
        assert_eq!(self.changes.drain(), vec![]);
    }
    #[track_caller]
    fn refused_like<T: Debug>(&self, r: Result<T>, ok: impl Fn(&Error) -> bool, code: u32) {
        let e = r.unwrap_err();
        assert!(ok(&e), "{e:?}");
        self.refused(Err::<T, _>(e.clone()), e, code);
    }
}

fn bad_handle(raw: u64) -> Error {
    Error::InvalidHandle {
        kind: HandleKind::Protocol,
        raw,
    }
}

fn registration_errors<A: Addrs>() {
    let f = fx::<A>();
    let hooks = std::sync::Arc::new(DefaultHooks);
    f.refused(
        f.mgm.register(PIM, 1, hooks.clone()),
        Error::AlreadyRegistered {
            protocol: PIM,
            component: 1,
        },
        183,
    );
    let (mgm, _c) = engine_with::<A>(Config {
        max_protocols: 1,
        ..Config::default()
    });
    mgm.register(PIM, 1, hooks.clone()).unwrap();
    let e = mgm.register(PIM, 2, hooks).unwrap_err();
    assert!(matches!(e, Error::OutOfRange { .. }), "{e:?}");
    assert_eq!(e.win32_code(), 87);
}

fn handle_errors<A: Addrs>() {
    let f = fx::<A>();
    let gone = reg(&f.mgm, DVMRP);
    f.mgm.deregister(gone.h).unwrap();
    let en = f
        .mgm
        .group_enumeration_start(f.pim.h, EnumKind::AllSources)
        .unwrap();
    let forged = ProtocolHandle::from_raw(0xdead_beef_0bad_f00d);
    let as_proto = ProtocolHandle::from_raw(en.raw());
    for h in [gone.h, forged, as_proto] {
        let e = bad_handle(h.raw());
        f.refused(f.mgm.deregister(h), e.clone(), 87);
        f.refused(f.mgm.take_interface(h, k(5)), e.clone(), 87);
        f.refused(f.mgm.release_interface(h, k(2)), e.clone(), 87);
        f.refused(f.mgm.add_membership(h, group(2), k(2), JOIN), e.clone(), 87);
        f.refused(
            f.mgm.delete_membership(h, group(1), k(2), JOIN),
            e.clone(),
            87,
        );
        f.refused(
            f.mgm.set_mfe(h, A::far(1), A::grp(1), A::far(2)),
            e.clone(),
            87,
        );
        f.refused(f.mgm.group_enumeration_start(h, EnumKind::AnySource), e, 87);
    }
    for e in [
        EnumerationHandle::from_raw(f.pim.h.raw()),
        EnumerationHandle::from_raw(0x1234),
    ] {
        let want = Error::InvalidHandle {
            kind: HandleKind::Enumeration,
            raw: e.raw(),
        };
        f.refused(f.mgm.group_enumeration_next(e, 1), want.clone(), 87);
        f.refused(f.mgm.group_enumeration_end(e), want, 87);
    }
    // The live enumeration is untouched by all that.
    assert_eq!(
        f.mgm.group_enumeration_next(en, 5).unwrap().items,
        vec![group(1)]
    );
}

/// Gaps the reference model showed: a protocol handle whose slot was reused by a later
/// registration, an enumeration handle after its end, after its owner deregistered, and after
/// its slot was reused — all refused, and taken for nobody else's.
fn dead_handles_of_reused_slots<A: Addrs>() {
    let f = fx::<A>();
    let first = reg(&f.mgm, DVMRP);
    f.mgm.deregister(first.h).unwrap();
    let second = reg(&f.mgm, DVMRP);
    assert_ne!(first.h, second.h);
    assert_eq!(
        first.h.raw() & 0xffff_ffff,
        second.h.raw() & 0xffff_ffff,
        "the slot was reused"
    );
    let ended = f
        .mgm
        .group_enumeration_start(f.pim.h, EnumKind::AllSources)
        .unwrap();
    f.mgm.group_enumeration_end(ended).unwrap();
    let orphan = f
        .mgm
        .group_enumeration_start(second.h, EnumKind::AnySource)
        .unwrap();
    f.mgm.deregister(second.h).unwrap();
    let live = f
        .mgm
        .group_enumeration_start(f.mospf.h, EnumKind::AllSources)
        .unwrap();
    let third = reg(&f.mgm, DVMRP);
    for p in [&f.igmp, &f.pim, &f.mospf, &third] {
        p.drain();
    }
    let f = Fx {
        before: snap(&f.mgm, false),
        changes: f.mgm.subscribe(),
        ..f
    };
    for h in [first.h, second.h] {
        let e = bad_handle(h.raw());
        f.refused(f.mgm.deregister(h), e.clone(), 87);
        f.refused(f.mgm.take_interface(h, k(5)), e.clone(), 87);
        f.refused(f.mgm.group_enumeration_start(h, EnumKind::AnySource), e, 87);
    }
    for e in [ended, orphan] {
        let want = Error::InvalidHandle {
            kind: HandleKind::Enumeration,
            raw: e.raw(),
        };
        f.refused(f.mgm.group_enumeration_next(e, 1), want.clone(), 87);
        f.refused(f.mgm.group_enumeration_end(e), want, 87);
    }
    assert!(third.drain().is_empty());
    // The handles that live on the reused slots are untouched by all that.
    assert_eq!(
        f.mgm.group_enumeration_next(live, 5).unwrap().items,
        vec![group(1)]
    );
    f.mgm.deregister(third.h).unwrap();
}

fn ownership_errors<A: Addrs>() {
    let f = fx::<A>();
    f.refused(
        f.mgm.take_interface(f.mospf.h, k(2)),
        Error::InterfaceTaken {
            interface: k::<A>(2).id(),
            owner: PIM,
        },
        183,
    );
    f.refused(
        f.mgm.take_interface(f.igmp.h, k(1)),
        Error::InterfaceTaken {
            interface: k::<A>(1).id(),
            owner: IGMP,
        },
        183,
    );
    f.refused(
        f.mgm.deregister(f.pim.h),
        Error::StillOwnsInterfaces { count: 1 },
        1003,
    );
    let not_owner = |n: u32| move |e: &Error| matches!(e, Error::NotOwner { interface, .. } if *interface == k::<A>(n).id());
    f.refused_like(f.mgm.release_interface(f.pim.h, k(9)), not_owner(9), 87);
    f.refused_like(f.mgm.release_interface(f.pim.h, k(3)), not_owner(3), 87);
    f.refused_like(f.mgm.release_interface(f.pim.h, k(1)), not_owner(1), 87);
    f.refused(
        f.mgm.protocol_on_interface(k(9)),
        Error::UnknownInterface {
            interface: k::<A>(9).id(),
        },
        1168,
    );
}

fn membership_errors<A: Addrs>() {
    let f = fx::<A>();
    let (s, g) = (A::far(1), A::grp(1));
    let unicast = A::src(7);
    for add in [true, false] {
        let call = |h: ProtocolHandle, sel: Selector<A>, n: u32, fl| {
            if add {
                f.mgm.add_membership(h, sel, k(n), fl)
            } else {
                f.mgm.delete_membership(h, sel, k(n), fl)
            }
        };
        let bad_group = Error::InvalidGroup {
            group: unicast.into(),
        };
        f.refused(
            call(f.pim.h, Selector::Group(unicast), 2, JOIN),
            bad_group.clone(),
            87,
        );
        f.refused(call(f.pim.h, source(s, unicast), 2, JOIN), bad_group, 87);
        for bad in [A::grp(5), A::UNSPECIFIED] {
            f.refused(
                call(f.pim.h, source(bad, g), 2, JOIN),
                Error::InvalidSource { source: bad.into() },
                87,
            );
        }
        for sel in [group(1), Selector::AllGroups] {
            f.refused_like(
                call(f.pim.h, sel, 2, FORWARD),
                |e| matches!(e, Error::InvalidFlags { bits: 2, .. }),
                87,
            );
        }
        f.refused(
            call(f.pim.h, group(1), 9, JOIN),
            Error::UnknownInterface {
                interface: k::<A>(9).id(),
            },
            1168,
        );
        let not_owner = |n: u32| move |e: &Error| matches!(e, Error::NotOwner { interface, .. } if *interface == k::<A>(n).id());
        f.refused_like(call(f.pim.h, group(1), 1, JOIN), not_owner(1), 87);
        f.refused_like(call(f.igmp.h, group(1), 2, JOIN), not_owner(2), 87);
        f.refused_like(call(f.mospf.h, source(s, g), 2, FORWARD), not_owner(2), 87);
    }
}

fn entry_errors<A: Addrs>() {
    let f = fx::<A>();
    let (s, g) = (A::far(1), A::grp(1));
    let (unicast, mcast) = (A::src(7), A::grp(7));
    let no = Error::NoSuchMfe {
        source: A::far(2).into(),
        group: g.into(),
    };
    f.refused(f.mgm.mfe(A::far(2), g), no.clone(), 1168);
    f.refused(f.mgm.mfe_stats(A::far(2), g), no.clone(), 1168);
    f.refused(f.mgm.set_mfe(f.mospf.h, A::far(2), g, s), no, 1168);
    f.refused(
        f.mgm.set_mfe(f.pim.h, s, g, A::far(3)),
        Error::NotIifOwner {
            source: s.into(),
            group: g.into(),
        },
        87,
    );
    let bad_src = Error::InvalidSource {
        source: mcast.into(),
    };
    let bad_grp = Error::InvalidGroup {
        group: unicast.into(),
    };
    f.refused(f.mgm.mfe(mcast, g), bad_src.clone(), 87);
    f.refused(f.mgm.mfe(s, unicast), bad_grp.clone(), 87);
    f.refused(f.mgm.mfe_stats(mcast, g), bad_src.clone(), 87);
    f.refused(f.mgm.mfe_stats(s, unicast), bad_grp.clone(), 87);
    f.refused(f.mgm.set_mfe(f.mospf.h, mcast, g, s), bad_src.clone(), 87);
    f.refused(f.mgm.set_mfe(f.mospf.h, s, unicast, s), bad_grp.clone(), 87);
    f.refused(f.mgm.new_packet(k(3), mcast, g), bad_src.clone(), 87);
    f.refused(
        f.mgm.new_packet(k(3), A::UNSPECIFIED, g),
        Error::InvalidSource {
            source: A::UNSPECIFIED.into(),
        },
        87,
    );
    f.refused(f.mgm.new_packet(k(3), s, unicast), bad_grp.clone(), 87);
    // Loopback (127.0.0.1, ::1) never arrives on an interface; IPv4's class E is reserved.
    let mut not_sources = vec![if A::BITS == 32 {
        A::from_bits(0x7f00_0001)
    } else {
        A::from_bits(1)
    }];
    if A::BITS == 32 {
        not_sources.extend([A::from_bits(0x7f09_0909), A::from_bits(0xf000_0001)]);
    }
    for bad in not_sources {
        let e = Error::InvalidSource { source: bad.into() };
        f.refused(f.mgm.new_packet(k(3), bad, g), e.clone(), 87);
        f.refused(f.mgm.mfe(bad, g), e.clone(), 87);
        f.refused(f.mgm.report_wrong_interface(k(2), bad, g), e, 87);
    }
    f.refused(f.mgm.report_wrong_interface(k(2), mcast, g), bad_src, 87);
    f.refused(f.mgm.report_wrong_interface(k(2), s, unicast), bad_grp, 87);
    let zero = |e: &Error| matches!(e, Error::OutOfRange { .. });
    f.refused_like(f.mgm.mfes(None, 0), zero, 87);
    f.refused_like(f.mgm.mfe_stats_page(None, 0), zero, 87);
    let en = f
        .mgm
        .group_enumeration_start(f.pim.h, EnumKind::AllSources)
        .unwrap();
    f.refused_like(f.mgm.group_enumeration_next(en, 0), zero, 87);
    assert_eq!(
        f.mgm.group_enumeration_next(en, 1).unwrap().items,
        vec![group(1)]
    );
}

fn route_errors<A: Addrs>() {
    let f = fx::<A>();
    let (p, l) = A::net_a();
    let host_bits = A::src(1);
    f.refused(
        f.mgm.add_route(Route::new(host_bits, l, k(2))),
        Error::InvalidPrefix {
            prefix: host_bits.into(),
            len: l,
        },
        87,
    );
    let too_long = (A::BITS + 1) as u8;
    f.refused(
        f.mgm.add_route(Route::new(p, too_long, k(2))),
        Error::InvalidPrefix {
            prefix: p.into(),
            len: too_long,
        },
        87,
    );
    f.refused(
        f.mgm.remove_route(p, l),
        Error::NoSuchRoute {
            prefix: p.into(),
            len: l,
        },
        1168,
    );
    f.refused(
        f.mgm.remove_route(host_bits, l),
        Error::InvalidPrefix {
            prefix: host_bits.into(),
            len: l,
        },
        87,
    );
    // Routes lead toward sources: a prefix wholly in multicast space is refused, a host route
    // to a group as well; a prefix that only covers part of it is a route like any other.
    let all_bits = A::BITS as u8;
    let (mcast_net, mcast_len) = if A::BITS == 32 {
        (A::from_bits(0xe000_0000), 4)
    } else {
        (A::from_bits(0xff00 << 112), 8)
    };
    for (prefix, len) in [(mcast_net, mcast_len), (A::grp(1), all_bits)] {
        f.refused(
            f.mgm.add_route(Route::new(prefix, len, k(2))),
            Error::MulticastRoute {
                prefix: prefix.into(),
                len,
            },
            87,
        );
    }
    assert!(f
        .mgm
        .routes()
        .iter()
        .all(|r| r.len != mcast_len || r.prefix != mcast_net));
    f.mgm
        .add_route(Route::new(A::UNSPECIFIED, 0, k(2)))
        .expect("a default route covers multicast space only in part");
}

fn limits<A: Addrs>() {
    let (mgm, _c) = engine_with::<A>(Config {
        max_mfes: 2,
        max_enumerations: 1,
        ..Config::default()
    });
    created(mgm.new_packet(k(1), A::src(1), A::grp(1)).unwrap());
    created(mgm.new_packet(k(1), A::src(2), A::grp(1)).unwrap());
    let before = state(&mgm);
    for _ in 0..3 {
        let e = mgm.new_packet(k(1), A::src(3), A::grp(1)).unwrap_err();
        assert_eq!(e, Error::TableFull { limit: 2 });
        assert_eq!(e.win32_code(), 8);
    }
    assert!(matches!(
        mgm.new_packet(k(1), A::src(1), A::grp(1)).unwrap(),
        MissOutcome::Exists(_)
    ));
    assert_eq!(state(&mgm), before);
    let c = mgm.counters();
    assert_eq!((c.mfes, c.refused_misses), (2, 3));
    let pim = reg(&mgm, PIM);
    let e1 = mgm
        .group_enumeration_start(pim.h, EnumKind::AnySource)
        .unwrap();
    let e = mgm
        .group_enumeration_start(pim.h, EnumKind::AnySource)
        .unwrap_err();
    assert!(matches!(e, Error::OutOfRange { .. }), "{e:?}");
    assert_eq!(e.win32_code(), 87);
    mgm.group_enumeration_end(e1).unwrap();
    mgm.group_enumeration_start(pim.h, EnumKind::AnySource)
        .unwrap();
}

fn too_many_readers<A: Addrs>() {
    let (mgm, _c) = engine_with::<A>(Config {
        max_workers: 2,
        ..Config::default()
    });
    let _a = mgm.reader().unwrap();
    let _b = mgm.reader().unwrap();
    let e = mgm.reader().err().unwrap();
    assert_eq!(e, Error::TooManyReaders { max: 2 });
    assert_eq!(e.win32_code(), 1003);
}

/// G-33: once stopped, every call fails with CAN_NOT_COMPLETE and nobody hears anything.
fn stopped_engine<A: Addrs>() {
    let mut f = fx::<A>();
    let en = f
        .mgm
        .group_enumeration_start(f.pim.h, EnumKind::AllSources)
        .unwrap();
    f.mgm.stop();
    f.before = snap_stopped(&f.mgm);
    let st = Error::Stopped;
    let (s, g) = (A::far(1), A::grp(1));
    f.refused(
        f.mgm.register(DVMRP, 1, std::sync::Arc::new(DefaultHooks)),
        st.clone(),
        1003,
    );
    f.refused(f.mgm.deregister(f.mospf.h), st.clone(), 1003);
    f.refused(f.mgm.take_interface(f.pim.h, k(5)), st.clone(), 1003);
    f.refused(f.mgm.release_interface(f.pim.h, k(2)), st.clone(), 1003);
    f.refused(f.mgm.protocol_on_interface(k(2)), st.clone(), 1003);
    f.refused(
        f.mgm.add_membership(f.pim.h, group(2), k(2), JOIN),
        st.clone(),
        1003,
    );
    f.refused(
        f.mgm.delete_membership(f.pim.h, group(1), k(2), JOIN),
        st.clone(),
        1003,
    );
    f.refused(f.mgm.new_packet(k(3), A::far(2), g), st.clone(), 1003);
    f.refused(f.mgm.report_wrong_interface(k(2), s, g), st.clone(), 1003);
    f.refused(f.mgm.run_timers(), st.clone(), 1003);
    f.refused(f.mgm.mfe(s, g), st.clone(), 1003);
    f.refused(f.mgm.mfes(None, 5), st.clone(), 1003);
    f.refused(f.mgm.mfe_stats(s, g), st.clone(), 1003);
    f.refused(f.mgm.mfe_stats_page(None, 5), st.clone(), 1003);
    f.refused(f.mgm.set_mfe(f.mospf.h, s, g, A::far(2)), st.clone(), 1003);
    f.refused(
        f.mgm.group_enumeration_start(f.pim.h, EnumKind::AnySource),
        st.clone(),
        1003,
    );
    f.refused(f.mgm.group_enumeration_next(en, 1), st.clone(), 1003);
    f.refused(f.mgm.group_enumeration_end(en), st.clone(), 1003);
    f.refused(f.mgm.add_route(route_a(k(2))), st.clone(), 1003);
    f.refused(f.mgm.remove_route(A::net_b().0, A::net_b().1), st, 1003);
    // Readers keep answering from the last table.
    let mut r = f.mgm.reader().unwrap();
    assert_eq!(look(&mut r, k(3), s, g, 1), Seen::Forward(vec![k(1), k(2)]));
}

both_families!(
    registration_errors,
    handle_errors,
    dead_handles_of_reused_slots,
    ownership_errors,
    membership_errors,
    entry_errors,
    route_errors,
    limits,
    stopped_engine,
    too_many_readers,
);
