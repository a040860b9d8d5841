//! Registration churn with stale, forged and wrong-kind handles of protocols and group
//! enumerations: a dead handle is never accepted and never taken for a live one (every call
//! is compared with the model, which knows which registrations and enumerations are live, and
//! no handle value is ever issued twice). The probes of `common.rs` follow.
#![no_main]
mod common;

use libfuzzer_sys::fuzz_target;
use mgm_model::ops::Op;

fuzz_target!(|input: common::Input| {
    common::run(input, |op| {
        matches!(
            op,
            Op::Register { .. }
                | Op::Deregister { .. }
                | Op::Take { .. }
                | Op::Release { .. }
                | Op::Add { .. }
                | Op::Delete { .. }
                | Op::SetMfe { .. }
                | Op::NewPacket { .. }
                | Op::EnumStart { .. }
                | Op::EnumNext { .. }
                | Op::EnumEnd { .. }
                | Op::SetHooks { .. }
        )
    });
});
