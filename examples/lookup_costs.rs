//! The packet path's verdicts one kind at a time, for an instruction count under callgrind
//! (which no machine noise moves): 100,000 hits, misses, wrong-interface arrivals and the
//! same hits in bursts of 256, at 10k MFEs filled as `benches/compare.rs` fills them, each kind
//! in its own function.
//!
//! ```text
//! cargo build --release --example lookup_costs
//! valgrind --tool=callgrind --toggle-collect='lookup_costs::run_*' \
//!     target/release/examples/lookup_costs
//! callgrind_annotate --inclusive=yes callgrind.out.* | grep run_
//! ```
//!
//! Each `run_*` total over 100,000 is the instructions per lookup, the loop's own (about 35:
//! the key, the verdict read) included.
#[path = "../benches/common/mod.rs"]
mod common;
use common::*;
use mgm::{PacketKey, Reader};
use std::hint::black_box;
use std::net::Ipv4Addr;

const N: u32 = 10_000;
const LOOKUPS: u32 = 100_000;

#[inline(never)]
fn run_hit(r: &mut Reader<Ipv4Addr>, keys: &[u32]) -> u32 {
    let mut acc = 0;
    for &i in keys {
        acc += consume(r.lookup(iif(i), source(i), group(i), 100));
    }
    acc
}

#[inline(never)]
fn run_miss(r: &mut Reader<Ipv4Addr>, keys: &[u32]) -> u32 {
    let mut acc = 0;
    for &i in keys {
        acc += consume(r.lookup(iif(i), source(i), unused_group(i), 100));
    }
    acc
}

#[inline(never)]
fn run_wrong(r: &mut Reader<Ipv4Addr>, keys: &[u32]) -> u32 {
    let mut acc = 0;
    for &i in keys {
        acc += consume(r.lookup(other_iif(i), source(i), group(i), 100));
    }
    acc
}

#[inline(never)]
fn run_burst(r: &mut Reader<Ipv4Addr>, keys: &[u32]) -> u32 {
    let mut acc = 0;
    for chunk in keys.chunks(256) {
        let mut verdicts = [mgm::Verdict::Miss; 256];
        let mut packets = [PacketKey {
            arrival: iif(0),
            source: source(0),
            group: group(0),
            bytes: 100,
        }; 256];
        for (p, &i) in packets.iter_mut().zip(chunk) {
            *p = PacketKey {
                arrival: iif(i),
                source: source(i),
                group: group(i),
                bytes: 100,
            };
        }
        let packets = &packets[..chunk.len()];
        let n = r.lookup_burst(packets, &mut verdicts).unwrap();
        for v in &verdicts[..n] {
            acc += consume(*v);
        }
    }
    acc
}

fn main() {
    let f = filled(N, 4);
    let mut r = f.mgm.reader().unwrap();
    let order = shuffled(N, 7);
    let keys: Vec<u32> = (0..LOOKUPS).map(|k| order[(k % N) as usize]).collect();
    // Warm-up outside the collected functions.
    for &i in &keys[..N as usize] {
        black_box(consume(r.lookup(iif(i), source(i), group(i), 100)));
    }
    println!("{}", run_hit(&mut r, &keys));
    println!("{}", run_miss(&mut r, &keys));
    println!("{}", run_wrong(&mut r, &keys));
    println!("{}", run_burst(&mut r, &keys));
}
