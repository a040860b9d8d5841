//! One test per bug the reference model (crates/mgm-model) or the stress tests found, named
//! after what it was.
use mgm_model::common::*;

/// `new_packet` returned the entry as installed, before the owner of its incoming interface
/// had answered the lifetime question of the FALSE prune alert: the returned `Created` record
/// said 900 s while the table (and `Mgm::mfe`) said what the owner chose.
fn created_entry_reports_the_lifetime_its_owner_chose<A: Addrs>() {
    let (mgm, _clock) = engine::<A>();
    let pim = reg(&mgm, PIM);
    *pim.hooks.timeout.lock().unwrap() = Some(Some(secs(10)));
    mgm.take_interface(pim.h, k(1)).unwrap();
    mgm.add_route(route_a(k(1))).unwrap();
    let made = created(mgm.new_packet(k(1), A::src(1), A::grp(1)).unwrap());
    assert_eq!(
        pim.drain(),
        vec![pa(source(A::src(1), A::grp(1)), k(1), false)]
    );
    assert_eq!(made.timeout, Some(secs(10)));
    assert_eq!(made.expiry, Some(secs(10)));
    assert_eq!(made, mgm.mfe(A::src(1), A::grp(1)).unwrap());
}

both_families!(created_entry_reports_the_lifetime_its_owner_chose);

/// Found by Miri (`MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance
/// -Zmiri-ignore-leaks" cargo +nightly miri test --lib forward`, in
/// `forward::tests::readers_never_see_a_torn_oif_list`), introduced with the slot's counter
/// block hint (commit 078d49e): `Slot::block` is stored and loaded `Relaxed`, and a lookup
/// follows the hint to an atomic load of the block's first line. A hint written by a newer
/// version than the entry the reader acquired points at a block whose initialisation does not
/// happen-before that load: a data race, undefined behaviour in Rust's memory model (harmless
/// on x86 in practice). Fixed in src/forward/table.rs: the hint is stored with `Release` and
/// loaded with `Acquire` (both plain moves on x86).
///
/// A Miri test (natively it passed even with the bug); run it with:
/// `MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks"
/// cargo +nightly miri test --test regressions -- --ignored counter_block_hint`
#[test]
#[ignore = "a Miri test: see the command above"]
fn counter_block_hint_is_published_without_ordering() {
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mgm = Mgm::<Ipv4Addr>::new(Config {
        max_workers: 2,
        ..Config::default()
    });
    let pim = reg(&mgm, PIM);
    for i in 1..=10 {
        mgm.take_interface(pim.h, k(i)).unwrap();
    }
    mgm.add_route(route_a(k(1))).unwrap();
    let g = Ipv4Addr::grp(1);
    let sources: Vec<Ipv4Addr> = (1..=4).map(Ipv4Addr::src).collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        for t in 0..2 {
            let (mgm, stop, sources) = (&mgm, &stop, &sources);
            sc.spawn(move || {
                let mut r = mgm.reader().unwrap();
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    let _ = look(&mut r, k(1), sources[i % sources.len()], g, 1);
                    i += 1;
                }
            });
        }
        // Lists grow past the counter block's room (a new block per version then), and
        // entries are deleted and re-created (the hint stays meanwhile), so a reader can
        // acquire one version and follow the hint of a newer one.
        let rounds = if cfg!(miri) { 6 } else { 500 };
        for _ in 0..rounds {
            for s in &sources {
                mgm.new_packet(k(1), *s, g).unwrap();
            }
            for i in 2..=10 {
                mgm.add_membership(pim.h, group(1), k(i), JOIN).unwrap();
            }
            for i in 2..=10 {
                mgm.delete_membership(pim.h, group(1), k(i), JOIN).unwrap();
            }
            mgm.remove_route(Ipv4Addr::net_a().0, Ipv4Addr::net_a().1)
                .unwrap();
            mgm.add_route(route_a(k(1))).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
}
