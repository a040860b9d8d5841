//! Fixtures shared by `benches/engine.rs` and `benches/compare.rs`: deterministic keys and an
//! engine filled with a given number of MFEs through the public API.
//!
//! Layout of a filled engine (IPv4): one routing protocol (PIM-like, [`DefaultHooks`]) owns
//! the upstream interfaces `1..=UPSTREAMS`, the downstream interfaces `101..=100+oifs` and the
//! churn interface [`CHURN_IF`]. Route `10.{32k}.0.0/11` leads to upstream interface `k+1`, so
//! the MFEs spread over `UPSTREAMS` shards. `(*,*)` JOIN memberships on the downstream
//! interfaces give every MFE `oifs` outgoing interfaces. MFE `i` is (`source(i)`, `group(i)`),
//! created by [`Mgm::new_packet`] on its incoming interface (the cache-miss path).
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use mgm::{DefaultHooks, IfKey, Mgm, ProtocolHandle, Route, Selector, Verdict, JOIN};

/// Upstream (incoming) interfaces, hence shards.
pub const UPSTREAMS: u32 = 8;
/// The interface whose (S,G) memberships the churn adds and deletes.
pub const CHURN_IF: u32 = 200;
/// Groups used by the keys (232.0.0.0/22 here, SSM range).
pub const GROUPS: u32 = 1024;
/// A protocol id for the routing protocol of the fixtures.
pub const PIM_ID: u32 = 0x4000_0021;

/// Odd multiplier: `i -> i * M mod 2^24` is a bijection on `0..2^24`, so sources are distinct
/// and spread over the eight /11 routes.
const MIX: u32 = 0x9E37_79B1;

/// The source of MFE `i` (`i < 2^24`): 10.0.0.0/8, scattered.
pub fn source(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0A00_0000 | (i.wrapping_mul(MIX) & 0x00FF_FFFF))
}

/// The group of MFE `i`: 232.0.0.0 + i mod [`GROUPS`].
pub fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xE800_0000 + i % GROUPS)
}

/// A group no MFE uses (for misses).
pub fn unused_group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xE900_0000 + i % GROUPS)
}

/// The incoming interface of MFE `i` (the route toward its source).
pub fn iif(i: u32) -> IfKey<Ipv4Addr> {
    let bits = u32::from(source(i));
    IfKey::new(1 + ((bits >> 21) & 7))
}

/// Another upstream interface than MFE `i`'s (for wrong-interface arrivals).
pub fn other_iif(i: u32) -> IfKey<Ipv4Addr> {
    IfKey::new(1 + (iif(i).index % UPSTREAMS))
}

/// A deterministic permutation of `0..n` (xorshift-driven Fisher-Yates), for lookup orders
/// that defeat the prefetcher the way real traffic does.
pub fn shuffled(n: u32, seed: u64) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// An engine, its routing protocol and how many MFEs it holds.
pub struct Filled {
    pub mgm: Mgm<Ipv4Addr>,
    pub pim: ProtocolHandle,
    pub n: u32,
}

/// An engine with the protocol, routes and `(*,*)` memberships of the layout, and no MFE.
/// The protocol's event receiver is dropped: its events are discarded at send time (a
/// protocol that drained them would only add its own work, not the engine's).
pub fn empty(oifs: u32) -> Filled {
    let mgm = Mgm::<Ipv4Addr>::default();
    let (pim, _events) = mgm.register(PIM_ID, 1, Arc::new(DefaultHooks)).unwrap();
    for k in 0..UPSTREAMS {
        let up = IfKey::new(1 + k);
        mgm.take_interface(pim, up).unwrap();
        let prefix = Ipv4Addr::from(0x0A00_0000 | (k << 21));
        mgm.add_route(Route::new(prefix, 11, up)).unwrap();
    }
    for d in 0..oifs {
        let down = IfKey::new(101 + d);
        mgm.take_interface(pim, down).unwrap();
        mgm.add_membership(pim, Selector::AllGroups, down, JOIN)
            .unwrap();
    }
    mgm.take_interface(pim, IfKey::new(CHURN_IF)).unwrap();
    Filled { mgm, pim, n: 0 }
}

/// Adds MFEs `from..to` through the cache-miss path.
pub fn grow(f: &mut Filled, to: u32) {
    for i in f.n..to {
        f.mgm.new_packet(iif(i), source(i), group(i)).unwrap();
    }
    f.n = f.n.max(to);
}

/// An engine with `n` MFEs of `oifs` outgoing interfaces each.
pub fn filled(n: u32, oifs: u32) -> Filled {
    let mut f = empty(oifs);
    grow(&mut f, n);
    f
}

/// The (S,G) membership selector of MFE `i`.
pub fn sg_selector(i: u32) -> Selector<Ipv4Addr> {
    Selector::Source {
        source: source(i),
        group: group(i),
    }
}

/// Human size label: 1k, 100k, 1M.
pub fn label(n: u32) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Reads what a forwarder would read from a verdict: the number of OIFs and the first one.
#[inline]
pub fn consume(v: Verdict<'_, Ipv4Addr>) -> u32 {
    match v {
        Verdict::Forward(o) => o.len() as u32 + o.get(0).map_or(0, |k| k.index),
        Verdict::WrongInterface { iif } => iif.index,
        Verdict::Negative => 1,
        Verdict::Miss => 2,
    }
}
