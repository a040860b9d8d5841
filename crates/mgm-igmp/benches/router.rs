//! Criterion benches of the IGMP router state machine: the cost of one message and of one
//! timer run must not grow with the number of memberships. `cargo bench -p mgm-igmp`.
//!
//! | group | what | sizes |
//! |---|---|---|
//! | `report/v2_refresh` | one IGMPv2 report refreshing a membership already there (its group is re-filed in the timer index) | 10, 200k memberships |
//! | `report/v3_allow` | one IGMPv3 `ALLOW_NEW_SOURCES` with one source, for a group already there | 10, 200k |
//! | `tick/idle` | one `tick` when no timer is due | 10, 200k |
//! | `next_deadline` | one `next_deadline` | 10, 200k |
//!
//! The table: one interface, N groups in EXCLUDE mode, reported by 250 hosts; the limits are
//! raised so the table can hold it.
//!
//! One run (2 cores of an Intel Xeon, KVM, other builds running beside it; medians):
//!
//! | bench | 10 | 200k | ratio |
//! |---|---|---|---|
//! | `report/v2_refresh` | 0.90 µs | 2.24 µs | 2.5 |
//! | `report/v3_allow` | 0.98 µs | 1.67 µs | 1.7 |
//! | `timers/tick_idle` | 49 ns | 79 ns | 1.6 |
//! | `timers/next_deadline` | 52 ns | 48 ns | 0.9 |
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mgm_igmp::{
    encode_v2, encode_v3_report, GroupRecord, IgmpConfig, IgmpLimits, IgmpRouter, Subnet,
};

const IF: u32 = 3;
const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SIZES: [u32; 2] = [10, 200_000];

/// The i-th group: 239.x.y.z from i.
fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xef00_0000 | (i & 0x00ff_ffff))
}
fn host(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, (i % 250) as u8 + 2)
}

fn filled(n: u32) -> IgmpRouter {
    let mut r = IgmpRouter::new(IgmpConfig {
        limits: IgmpLimits {
            groups_per_interface: 1 << 20,
            sources_per_group: 128,
            memberships_per_host: 1 << 20,
            hosts_per_interface: 1 << 20,
        },
        ..IgmpConfig::default()
    });
    r.add_interface(IF, ME, Duration::ZERO).unwrap();
    r.set_subnets(IF, &[Subnet::new(ME, 16)]);
    let t = Duration::from_secs(1);
    for i in 0..n {
        r.receive(IF, host(i), &encode_v2(0x16, group(i)), t);
    }
    assert_eq!(r.memberships(IF).len(), n as usize);
    r
}

fn benches(c: &mut Criterion) {
    for n in SIZES {
        let mut r = filled(n);
        let reports: Vec<Vec<u8>> = (0..n.min(4096))
            .map(|i| encode_v2(0x16, group(i)))
            .collect();
        let allows: Vec<Vec<u8>> = (0..n.min(4096))
            .map(|i| {
                encode_v3_report(&[GroupRecord {
                    kind: 5,
                    group: group(i),
                    sources: vec![Ipv4Addr::new(198, 51, 100, 2)],
                }])
            })
            .collect();
        // Time moves forward a little with each message, as on a link, but never far enough
        // for a timer to fire.
        let mut now = Duration::from_secs(2);
        let step = Duration::from_nanos(10);
        let mut i = 0usize;
        let mut g = c.benchmark_group("report");
        g.sample_size(30).measurement_time(Duration::from_secs(3));
        g.bench_function(format!("v2_refresh/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % reports.len();
                now += step;
                black_box(r.receive(IF, host(i as u32), &reports[i], now))
            })
        });
        g.bench_function(format!("v3_allow/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % allows.len();
                now += step;
                black_box(r.receive(IF, host(i as u32), &allows[i], now))
            })
        });
        g.finish();
        let mut g = c.benchmark_group("timers");
        g.sample_size(30).measurement_time(Duration::from_secs(3));
        g.bench_function(format!("tick_idle/{n}"), |b| {
            b.iter(|| {
                now += step;
                black_box(r.tick(now))
            })
        });
        g.bench_function(format!("next_deadline/{n}"), |b| {
            b.iter(|| black_box(r.next_deadline()))
        });
        g.finish();
        assert_eq!(r.check_invariants(), Ok(()));
    }
}

criterion_group!(router, benches);
criterion_main!(router);
