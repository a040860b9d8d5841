//! The cost of one IGMP report at a small and a large table, for an instruction count under
//! callgrind (which no machine noise moves): 20,000 IGMPv2 reports refreshing memberships
//! already there, then 20,000 IGMPv3 `ALLOW_NEW_SOURCES` records with one source, at 10 and
//! at 200,000 memberships, each kind and size in its own function. The table is the one
//! `benches/router.rs` fills: one interface, N groups in EXCLUDE mode reported by 250 hosts.
//!
//! ```text
//! cargo build --release -p mgm-igmp --example report_costs
//! valgrind --tool=callgrind --toggle-collect='report_costs::run_*' \
//!     target/release/examples/report_costs
//! callgrind_annotate --inclusive=yes callgrind.out.* | grep run_
//! ```
//!
//! Each `run_*` total over 20,000 is the instructions per report, the loop's own (a few:
//! the index, the clock step) included. Add `--cache-sim=yes` for the simulated cache misses
//! per report, which the table's size moves more than the instructions.
//!
//! Instructions per report (release build). The first two rounds, on AMD EPYC: before the
//! timer indexes were filed early and the group table searched once, and after:
//!
//! | report | 10 before | 200k before | ratio | 10 after | 200k after | ratio |
//! |---|---|---|---|---|---|---|
//! | IGMPv2 refresh | 4255 | 8310 | 1.95 | 3140 | 4613 | 1.47 |
//! | IGMPv3 `ALLOW` | 4915 | 8159 | 1.66 | 3716 | 4674 | 1.26 |
//!
//! What still grew then was the searches of the group table (200k groups) and of the host's
//! memberships (800 per host at 200k): ordered maps, logarithmic. The third round (Intel
//! Xeon) finds groups, hosts and each host's groups by hash (SipHash, keyed per process:
//! the keys are what hosts send) and counts each (group, source)'s holders in a hash map;
//! only a membership's or a group's creation and removal still touch an ordered index (the
//! expiry and timer indexes, the groups' address order):
//!
//! | report | 10 before | 200k before | ratio | 10 after | 200k after | ratio |
//! |---|---|---|---|---|---|---|
//! | IGMPv2 refresh | 3149 | 4622 | 1.47 | 3080 | 3081 | 1.00 |
//! | IGMPv3 `ALLOW` | 3720 | 4677 | 1.26 | 3641 | 3641 | 1.00 |
//!
//! With `--cache-sim=yes`, the simulated first-level data misses per report at 200k went
//! from 14.0 to 11.2 (IGMPv2) and from 17.9 to 14.9 (IGMPv3); at 10 there are none. Those
//! misses, not instructions, are what a larger table still costs in time.
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_igmp::{encode_v2, encode_v3_report, GroupRecord, IgmpRouter};

#[path = "../benches/common/mod.rs"]
mod common;
use common::{filled, group, host, IF};

const REPORTS: usize = 20_000;

/// The messages to send, group by group over the first 4096 groups (all of them when
/// fewer), and the hosts that send them.
fn messages(n: u32, v3: bool) -> Vec<(Ipv4Addr, Vec<u8>)> {
    (0..n.min(4096))
        .map(|i| {
            let bytes = if v3 {
                encode_v3_report(&[GroupRecord {
                    kind: 5,
                    group: group(i),
                    sources: vec![Ipv4Addr::new(198, 51, 100, 2)],
                }])
            } else {
                encode_v2(0x16, group(i))
            };
            (host(i), bytes)
        })
        .collect()
}

/// Sends `REPORTS` of `msgs` in turn, time moving forward a little with each, never far
/// enough for a timer to fire; the number of actions asked for.
fn send(r: &mut IgmpRouter, msgs: &[(Ipv4Addr, Vec<u8>)], now: &mut Duration) -> usize {
    let mut acts = 0;
    for k in 0..REPORTS {
        let (h, bytes) = &msgs[k % msgs.len()];
        *now += Duration::from_micros(1);
        acts += black_box(r.receive(IF, *h, bytes, *now)).len();
    }
    acts
}

#[inline(never)]
fn run_v2_refresh_10(r: &mut IgmpRouter, m: &[(Ipv4Addr, Vec<u8>)], now: &mut Duration) -> usize {
    // A distinct body, so the linker does not fold the four into one symbol.
    send(r, m, now) + black_box(1) - 1
}

#[inline(never)]
fn run_v2_refresh_200k(r: &mut IgmpRouter, m: &[(Ipv4Addr, Vec<u8>)], now: &mut Duration) -> usize {
    // A distinct body, so the linker does not fold the four into one symbol.
    send(r, m, now) + black_box(2) - 2
}

#[inline(never)]
fn run_v3_allow_10(r: &mut IgmpRouter, m: &[(Ipv4Addr, Vec<u8>)], now: &mut Duration) -> usize {
    // A distinct body, so the linker does not fold the four into one symbol.
    send(r, m, now) + black_box(3) - 3
}

#[inline(never)]
fn run_v3_allow_200k(r: &mut IgmpRouter, m: &[(Ipv4Addr, Vec<u8>)], now: &mut Duration) -> usize {
    // A distinct body, so the linker does not fold the four into one symbol.
    send(r, m, now) + black_box(4) - 4
}

fn main() {
    type Run = fn(&mut IgmpRouter, &[(Ipv4Addr, Vec<u8>)], &mut Duration) -> usize;
    let runs: [(u32, Run, Run); 2] = [
        (10, run_v2_refresh_10, run_v3_allow_10),
        (200_000, run_v2_refresh_200k, run_v3_allow_200k),
    ];
    for (n, v2, v3) in runs {
        let mut r = filled(n);
        let mut now = Duration::from_secs(2);
        // Once through each kind before it is measured, so that the measured run only
        // refreshes what is there (an IGMPv2 report after the ALLOWs would also take back
        // the host's sources: it is measured first).
        let (m2, m3) = (messages(n, false), messages(n, true));
        send(&mut r, &m2, &mut now);
        let a2 = v2(&mut r, &m2, &mut now);
        send(&mut r, &m3, &mut now);
        let a3 = v3(&mut r, &m3, &mut now);
        assert_eq!(r.check_invariants(), Ok(()));
        println!(
            "{n} memberships: {REPORTS} v2 refreshes ({a2} actions), {REPORTS} v3 allows ({a3} actions)"
        );
    }
}
