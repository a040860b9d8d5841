//! The engine against the reference model (crates/mgm-model): long random sequences of every
//! operation, both address families, comparing every return value, every event and hook call,
//! and the whole table after each step.
//!
//! `MGM_MODEL_CASES` sets the number of cases per family (default 512: a few seconds in debug);
//! `MGM_MODEL_OPS` the longest sequence (default 400 operations). For a long run:
//! `MGM_MODEL_CASES=5000 cargo test --release --test model_check`.
use mgm_model::harness::{CaseSeed, Harness};
use mgm_model::ops::{Op, OP_BYTES};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn case() -> impl Strategy<Value = (CaseSeed, Vec<Op>)> {
    let ops = env("MGM_MODEL_OPS", 400);
    (
        (any::<u8>(), any::<bool>(), any::<u8>()),
        prop::collection::vec(any::<[u8; OP_BYTES]>(), 1..ops),
    )
        .prop_map(|((timeout, refresh, wrong_if), chunks)| {
            let seed = CaseSeed {
                timeout,
                refresh,
                wrong_if,
            };
            (seed, chunks.iter().map(|c| Op::from_bytes(c)).collect())
        })
}

fn check<A: mgm_model::common::Addrs>() {
    let mut runner = TestRunner::new(Config {
        cases: env("MGM_MODEL_CASES", 512) as u32,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |(seed, ops)| {
        let mut h = Harness::<A>::new(seed);
        h.run(&ops).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn ipv4_engine_matches_the_model() {
    check::<std::net::Ipv4Addr>();
}

#[test]
fn ipv6_engine_matches_the_model() {
    check::<std::net::Ipv6Addr>();
}
