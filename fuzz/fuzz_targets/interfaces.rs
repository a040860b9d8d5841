//! Ownership and membership churn with IGMP coexistence (two IGMP instances of different
//! vendors, three routing protocols, point-to-multipoint links), with entries and routes so
//! that releases and prunes have something to change; checked against the model. The probes
//! of `common.rs` follow (32 interfaces and point-to-multipoint links, stalled receivers).
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
                | Op::ProtocolOn { .. }
                | Op::Add { .. }
                | Op::Delete { .. }
                | Op::NewPacket { .. }
                | Op::AddRoute { .. }
                | Op::SetHooks { .. }
                | Op::EnumStart { .. }
                | Op::EnumNext { .. }
        )
    });
});
