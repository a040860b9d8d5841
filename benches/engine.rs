//! Criterion benches of the `mgm` engine (issue #4). One entry point: `cargo bench --bench engine`.
//!
//! Dimensions (IPv4; see `benches/common/mod.rs` for the layout of a filled engine: 8
//! upstream interfaces = 8 shards, MFEs created through `Mgm::new_packet`, 4 OIFs each from
//! `(*,*)` memberships, default config = one worker slot per core):
//!
//! | group | what | sizes |
//! |---|---|---|
//! | `lookup/hit`, `lookup/miss`, `lookup/wrong_if` | one `Reader::lookup`, keys in a shuffled deterministic order | 1k, 100k, 1M MFEs |
//! | `lookup/burst256` | one `Reader::lookup_burst` of 256 hit keys (throughput per key) | 1k, 1M MFEs |
//! | `membership` | one JOIN `add_membership` + `delete_membership` pair of a `(*,G)` selector matching 1, 100 or 10k MFEs (table of 10,101 MFEs) | 1, 100, 10k touched |
//! | `miss_path/new_packet` | MFE creations through `Mgm::new_packet` into a fresh engine (table grows from 0 to the iteration count) | — |
//! | `release` | `release_interface` of an interface that is the incoming interface of N MFEs (whole call; the table is rebuilt, untimed, before each release) | 1k, 100k |
//! | `stale_handle` | `take_interface` with a deregistered handle (rejected) | — |
//! | `walk/mfes` | one page of 100 from `Mgm::mfes`, resumed from a shuffled key | 100k MFEs |
//!
//! Measurement times are short and sample sizes small so that the default run stays within
//! about five minutes on two cores; big tables are built once per group.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use mgm::{DefaultHooks, IfKey, PacketKey, Selector, Verdict, JOIN, MAX_BURST};

mod common;
use common::*;

const SIZES: [u32; 3] = [1_000, 100_000, 1_000_000];

fn lookups(c: &mut Criterion) {
    for n in SIZES {
        let f = filled(n, 4);
        let order = shuffled(n, 0x5eed);
        let mut reader = f.mgm.reader().unwrap();
        let mut g = c.benchmark_group("lookup");
        g.sample_size(if n >= 1_000_000 { 10 } else { 20 })
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        let tag = label(n);
        // The same loop for each kind of lookup; only the key of MFE `i` differs.
        type KeyOf = fn(u32) -> (IfKey<Ipv4Addr>, Ipv4Addr, Ipv4Addr);
        let kinds: [(&str, KeyOf); 3] = [
            ("hit", |i| (iif(i), source(i), group(i))),
            ("miss", |i| (iif(i), source(i), unused_group(i))),
            ("wrong_if", |i| (other_iif(i), source(i), group(i))),
        ];
        for (kind, key_of) in kinds {
            // Built before timing: the timed loop reads keys in order, as a forwarder reads
            // packet headers.
            let keys: Vec<_> = order.iter().map(|&i| key_of(i)).collect();
            g.bench_function(format!("{kind}/{tag}"), |b| {
                let mut k = 0usize;
                b.iter(|| {
                    let (arrival, s, grp) = keys[k];
                    k = if k + 1 == keys.len() { 0 } else { k + 1 };
                    black_box(consume(reader.lookup(arrival, black_box(s), grp, 1200)))
                })
            });
        }
        if n != 100_000 {
            let keys: Vec<PacketKey<Ipv4Addr>> = order
                .iter()
                .map(|&i| PacketKey {
                    arrival: iif(i),
                    source: source(i),
                    group: group(i),
                    bytes: 1200,
                })
                .collect();
            g.throughput(Throughput::Elements(MAX_BURST as u64));
            g.bench_function(format!("burst256/{tag}"), |b| {
                let mut at = 0usize;
                b.iter(|| {
                    let mut verdicts = [Verdict::Miss; MAX_BURST];
                    if at + MAX_BURST > keys.len() {
                        at = 0;
                    }
                    let burst = &keys[at..at + MAX_BURST];
                    at += MAX_BURST;
                    let done = reader
                        .lookup_burst(black_box(burst), &mut verdicts)
                        .unwrap();
                    black_box(verdicts[..done].iter().map(|v| consume(*v)).sum::<u32>())
                })
            });
        }
        g.finish();
    }
}

fn membership(c: &mut Criterion) {
    // Group 239.0.0.1 holds 1 MFE, 239.0.0.2 holds 100, 239.0.0.3 holds 10k; 10,101 in all.
    let f = empty(4);
    let touched = [1u32, 100, 10_000];
    let mut base = 0u32;
    for (gi, &m) in touched.iter().enumerate() {
        let g = Ipv4Addr::new(239, 0, 0, 1 + gi as u8);
        for i in base..base + m {
            f.mgm.new_packet(iif(i), source(i), g).unwrap();
        }
        base += m;
    }
    let churn = IfKey::new(CHURN_IF);
    let mut grp = c.benchmark_group("membership");
    grp.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for (gi, &m) in touched.iter().enumerate() {
        let sel = Selector::Group(Ipv4Addr::new(239, 0, 0, 1 + gi as u8));
        grp.throughput(Throughput::Elements(2));
        grp.bench_function(format!("add_delete_touching/{}", label(m)), |b| {
            b.iter(|| {
                f.mgm.add_membership(f.pim, sel, churn, JOIN).unwrap();
                f.mgm.delete_membership(f.pim, sel, churn, JOIN).unwrap();
            })
        });
    }
    grp.finish();
}

fn miss_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("miss_path");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .throughput(Throughput::Elements(1));
    g.bench_function("new_packet", |b| {
        b.iter_custom(|iters| {
            let f = empty(4);
            let n = iters as u32;
            let start = Instant::now();
            for i in 0..n {
                black_box(f.mgm.new_packet(iif(i), source(i), group(i)).unwrap());
            }
            let t = start.elapsed();
            drop(f);
            t
        })
    });
    g.finish();
}

fn release(c: &mut Criterion) {
    let mut g = c.benchmark_group("release");
    g.sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_millis(500))
        .sample_size(10);
    // Interface 50 (route 11.0.0.0/8) is the incoming interface of `n` MFEs; the (*,*)
    // memberships give each 4 OIFs.
    let f = empty(4);
    let k = IfKey::new(50);
    f.mgm
        .add_route(mgm::Route::new(Ipv4Addr::new(11, 0, 0, 0), 8, k))
        .unwrap();
    for n in [1_000u32, 100_000] {
        g.bench_function(label(n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    f.mgm.take_interface(f.pim, k).unwrap();
                    for i in 0..n {
                        let s = Ipv4Addr::from(0x0B00_0000 | i.wrapping_mul(0x9E37_79B1) >> 8);
                        f.mgm.new_packet(k, s, group(i)).unwrap();
                    }
                    let start = Instant::now();
                    f.mgm.release_interface(f.pim, k).unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn stale_handle(c: &mut Criterion) {
    let f = empty(0);
    let (h, _) = f
        .mgm
        .register(0x4000_0022, 1, Arc::new(DefaultHooks))
        .unwrap();
    f.mgm.deregister(h).unwrap();
    let k = IfKey::new(1);
    let mut g = c.benchmark_group("stale_handle");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    g.bench_function("take_interface", |b| {
        b.iter(|| black_box(f.mgm.take_interface(black_box(h), k).is_err()))
    });
    g.finish();
}

fn walk(c: &mut Criterion) {
    let n = 100_000;
    let f = filled(n, 4);
    let order = shuffled(n, 7);
    let mut g = c.benchmark_group("walk");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .throughput(Throughput::Elements(100));
    g.bench_function(format!("mfes_page100/{}", label(n)), |b| {
        let mut k = 0usize;
        b.iter_batched(
            || {
                k = (k + 1) % order.len();
                mgm::Sg::new(source(order[k]), group(order[k]))
            },
            |after| black_box(f.mgm.mfes(Some(after), 100).unwrap().items.len()),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    lookups,
    membership,
    miss_path,
    release,
    stale_handle,
    walk
);
criterion_main!(benches);
