//! What the three targets share: the input shape and the run against the reference model.
//! The model and its harness are the test suite's own (the `mgm-model` crate): one copy.

use arbitrary::Arbitrary;

use mgm_model::harness::{CaseSeed, Harness};
use mgm_model::ops::Op;

/// Longest operation sequence one input runs (keeps executions fast).
const MAX_OPS: usize = 400;

#[derive(Arbitrary, Debug)]
pub struct Input {
    pub ipv6: bool,
    pub seed: CaseSeed,
    pub ops: Vec<Op>,
}

/// Runs the operations `keep` accepts against the engine and the model; any difference, and
/// any panic of the engine, is a finding.
pub fn run(input: Input, keep: impl Fn(&Op) -> bool) {
    let ops: Vec<Op> = input
        .ops
        .into_iter()
        .filter(|op| keep(op))
        .take(MAX_OPS)
        .collect();
    let result = if input.ipv6 {
        Harness::<std::net::Ipv6Addr>::new(input.seed).run(&ops)
    } else {
        Harness::<std::net::Ipv4Addr>::new(input.seed).run(&ops)
    };
    if let Err(e) = result {
        panic!("{e}");
    }
}
