//! Random streams of every operation, with reader verdicts (single and burst lookups) and
//! counters compared against the model after each step; then the probes of `common.rs`
//! (bursts of every length up to the maximum, extreme external counters, non-sources at every
//! entry point, routes into multicast space, stalled receivers).
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: common::Input| {
    common::run(input, |_| true);
});
