//! Random streams of every operation, with reader verdicts (single and burst lookups) and
//! counters compared against the model after each step.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: common::Input| {
    common::run(input, |_| true);
});
