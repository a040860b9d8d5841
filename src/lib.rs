//! # mgm — a multicast group manager
//!
//! (crate docs are written in full below the module list)
#![deny(unsafe_code)]

mod addr;
mod clock;
mod control;
mod engine;
mod error;
mod forward;
mod handle;
mod mfe;
mod protocol;
mod rib;

pub use addr::{Family, IfKey, InterfaceId, Selector, Sg};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Config, MembershipFlags, Mgm, FORWARD, JOIN};
pub use error::{win32, Error, HandleKind, Result};
pub use forward::{EntryCounters, Oifs, PacketKey, Reader, Verdict, MAX_BURST};
pub use handle::{EnumerationHandle, ProtocolHandle};
pub use mfe::{
    EngineCounters, EnumKind, InterfaceInfo, MembershipInfo, Mfe, MfeChange, MfeStats, MissOutcome,
    OifStats, Page,
};
pub use protocol::{
    is_igmp, protocol_id, Batches, CreationEntry, DefaultHooks, DeleteReason, Event, EventReceiver,
    Hooks, RpfDecision, RpfQuery, MS_IP_IGMP, PROTO_IP_IGMP, PROTO_TYPE_MCAST,
};
pub use rib::Route;
