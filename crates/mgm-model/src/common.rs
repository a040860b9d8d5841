//! Shared helpers of the integration tests: per-family addresses (documentation ranges only),
//! engines on a `ManualClock`, recording hooks, and the macro that runs every generic test body
//! for both `Ipv4Addr` and `Ipv6Addr`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use mgm::{
    protocol_id, Config, CreationEntry, DefaultHooks, DeleteReason, EnumKind, Error, Event,
    EventReceiver, Family, HandleKind, Hooks, IfKey, InterfaceInfo, ManualClock, MembershipInfo,
    Mfe, MfeChange, Mgm, MissOutcome, ProtocolHandle, Reader, Route, RpfDecision, RpfQuery,
    Selector, Sg, Verdict, FORWARD, JOIN, MS_IP_IGMP,
};

/// Runs each named generic test body `fn name<A: Addrs>()` once per family.
#[macro_export]
macro_rules! both_families {
    ($($name:ident),* $(,)?) => {
        mod v4 {
            $( #[test] fn $name() { super::$name::<std::net::Ipv4Addr>() } )*
        }
        mod v6 {
            $( #[test] fn $name() { super::$name::<std::net::Ipv6Addr>() } )*
        }
    };
}
// `#[macro_export]` puts the macro at the crate root; named here too, so that a test's
// `use mgm_model::common::*;` brings it with the other helpers.
pub use crate::both_families;

/// Addresses per family, from the documentation ranges: sources in 198.51.100.0/24 and
/// 203.0.113.0/24 (2001:db8:100::/48 and 2001:db8:113::/48), groups in 239.1.2.0/24
/// (ff0e::1:0/112).
pub trait Addrs: Family {
    /// A source in net A (198.51.100.n / 2001:db8:100::n).
    fn src(n: u8) -> Self;
    /// A source in net B (203.0.113.n / 2001:db8:113::n).
    fn far(n: u8) -> Self;
    /// A group (239.1.2.n / ff0e::1:n).
    fn grp(n: u8) -> Self;
    /// Net A: 198.51.100.0/24 or 2001:db8:100::/48.
    fn net_a() -> (Self, u8);
    /// A more specific prefix of net A holding `src(0..=127)` only: /25 or /121.
    fn net_a_specific() -> (Self, u8);
    /// Net B: 203.0.113.0/24 or 2001:db8:113::/48.
    fn net_b() -> (Self, u8);
}

impl Addrs for Ipv4Addr {
    fn src(n: u8) -> Self {
        Ipv4Addr::new(198, 51, 100, n)
    }
    fn far(n: u8) -> Self {
        Ipv4Addr::new(203, 0, 113, n)
    }
    fn grp(n: u8) -> Self {
        Ipv4Addr::new(239, 1, 2, n)
    }
    fn net_a() -> (Self, u8) {
        (Ipv4Addr::new(198, 51, 100, 0), 24)
    }
    fn net_a_specific() -> (Self, u8) {
        (Ipv4Addr::new(198, 51, 100, 0), 25)
    }
    fn net_b() -> (Self, u8) {
        (Ipv4Addr::new(203, 0, 113, 0), 24)
    }
}

impl Addrs for Ipv6Addr {
    fn src(n: u8) -> Self {
        Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, u16::from(n))
    }
    fn far(n: u8) -> Self {
        Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, u16::from(n))
    }
    fn grp(n: u8) -> Self {
        Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 1, u16::from(n))
    }
    fn net_a() -> (Self, u8) {
        (Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 48)
    }
    fn net_a_specific() -> (Self, u8) {
        (Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 121)
    }
    fn net_b() -> (Self, u8) {
        (Ipv6Addr::new(0x2001, 0xdb8, 0x113, 0, 0, 0, 0, 0), 48)
    }
}

/// Routing protocol ids (type multicast, Microsoft vendor, not IGMP).
pub const PIM: u32 = 0x4137_0014;
pub const DVMRP: u32 = 0x4137_0015;
pub const MOSPF: u32 = 0x4137_0016;
/// IGMP of Microsoft.
pub const IGMP: u32 = MS_IP_IGMP;

/// Interface key `n` (no next hop).
pub fn k<A: Family>(n: u32) -> IfKey<A> {
    IfKey::new(n)
}

pub fn group<A: Addrs>(n: u8) -> Selector<A> {
    Selector::Group(A::grp(n))
}

pub fn source<A: Addrs>(s: A, g: A) -> Selector<A> {
    Selector::Source {
        source: s,
        group: g,
    }
}

pub fn ja<A>(selector: Selector<A>, member_update: bool) -> Event<A> {
    Event::JoinAlert {
        selector,
        member_update,
    }
}

pub fn pa<A>(selector: Selector<A>, interface: IfKey<A>, member_delete: bool) -> Event<A> {
    Event::PruneAlert {
        selector,
        interface,
        member_delete,
    }
}

pub fn lj<A>(selector: Selector<A>, interface: IfKey<A>) -> Event<A> {
    Event::LocalJoin {
        selector,
        interface,
    }
}

pub fn ll<A>(selector: Selector<A>, interface: IfKey<A>) -> Event<A> {
    Event::LocalLeave {
        selector,
        interface,
    }
}

pub fn deleted<A>(sg: Sg<A>, iif: IfKey<A>, reason: DeleteReason) -> Event<A> {
    Event::MfeDeleted { sg, iif, reason }
}

/// An engine with default config on a manual clock.
pub fn engine<A: Family>() -> (Mgm<A>, ManualClock) {
    engine_with(Config::default())
}

pub fn engine_with<A: Family>(config: Config) -> (Mgm<A>, ManualClock) {
    let clock = ManualClock::new();
    (Mgm::with_clock(config, Arc::new(clock.clone())), clock)
}

/// A registered protocol with recording hooks.
pub struct Proto<A: Family> {
    pub h: ProtocolHandle,
    pub ev: EventReceiver<A>,
    pub hooks: Arc<TestHooks<A>>,
    pub id: (u32, u32),
}

impl<A: Family> Proto<A> {
    pub fn drain(&self) -> Vec<Event<A>> {
        self.ev.drain()
    }
}

pub fn reg<A: Family>(mgm: &Mgm<A>, id: u32) -> Proto<A> {
    let hooks = Arc::new(TestHooks::default());
    let (h, ev) = mgm.register(id, 1, hooks.clone()).unwrap();
    Proto {
        h,
        ev,
        hooks,
        id: (id, 1),
    }
}

/// A hook call as the recording hooks saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call<A> {
    Rpf(RpfQuery<A>),
    Creation {
        sg: Sg<A>,
        iif: IfKey<A>,
        entries: Vec<CreationEntry<A>>,
    },
    Timeout {
        sg: Sg<A>,
        iif: IfKey<A>,
        proposed: Option<Duration>,
    },
}

/// Hooks that record every call and answer as configured.
pub struct TestHooks<A: Family> {
    pub calls: Mutex<Vec<Call<A>>>,
    /// Interfaces the creation alert disables.
    pub veto: Mutex<Vec<IfKey<A>>>,
    /// The RPF answer, when set (else the RIB's).
    pub rpf: Mutex<Option<RpfDecision<A>>>,
    /// The lifetime answer, when set (else the proposed one).
    pub timeout: Mutex<Option<Option<Duration>>>,
}

impl<A: Family> Default for TestHooks<A> {
    fn default() -> Self {
        TestHooks {
            calls: Mutex::new(Vec::new()),
            veto: Mutex::new(Vec::new()),
            rpf: Mutex::new(None),
            timeout: Mutex::new(None),
        }
    }
}

impl<A: Family> TestHooks<A> {
    pub fn take_calls(&self) -> Vec<Call<A>> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl<A: Family> Hooks<A> for TestHooks<A> {
    fn rpf(&self, query: &RpfQuery<A>) -> RpfDecision<A> {
        self.calls.lock().unwrap().push(Call::Rpf(*query));
        self.rpf.lock().unwrap().unwrap_or(RpfDecision {
            iif: query.iif,
            upstream: query.upstream,
        })
    }

    fn creation_alert(&self, sg: Sg<A>, iif: IfKey<A>, oifs: &mut [CreationEntry<A>]) {
        self.calls.lock().unwrap().push(Call::Creation {
            sg,
            iif,
            entries: oifs.to_vec(),
        });
        let veto = self.veto.lock().unwrap();
        for e in oifs.iter_mut() {
            if veto.contains(&e.interface) {
                e.enabled = false;
            }
        }
    }

    fn mfe_timeout(
        &self,
        sg: Sg<A>,
        iif: IfKey<A>,
        proposed: Option<Duration>,
    ) -> Option<Duration> {
        self.calls
            .lock()
            .unwrap()
            .push(Call::Timeout { sg, iif, proposed });
        self.timeout.lock().unwrap().unwrap_or(proposed)
    }
}

pub fn entry<A>(interface: IfKey<A>, igmp: bool) -> CreationEntry<A> {
    CreationEntry {
        interface,
        igmp,
        enabled: true,
    }
}

/// A route for net A (or B) through `iif`.
pub fn route_a<A: Addrs>(iif: IfKey<A>) -> Route<A> {
    let (p, l) = A::net_a();
    Route::new(p, l, iif)
}

pub fn route_b<A: Addrs>(iif: IfKey<A>) -> Route<A> {
    let (p, l) = A::net_b();
    Route::new(p, l, iif)
}

/// A verdict without the reader's borrow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen<A> {
    Forward(Vec<IfKey<A>>),
    WrongInterface(IfKey<A>),
    Negative,
    Miss,
}

pub fn look<A: Family>(r: &mut Reader<A>, arrival: IfKey<A>, s: A, g: A, bytes: u32) -> Seen<A> {
    match r.lookup(arrival, s, g, bytes) {
        Verdict::Forward(o) => Seen::Forward(o.to_vec()),
        Verdict::WrongInterface { iif } => Seen::WrongInterface(iif),
        Verdict::Negative => Seen::Negative,
        Verdict::Miss => Seen::Miss,
    }
}

/// The whole observable control state, for "nothing changed" checks.
pub type State<A> = (Vec<InterfaceInfo<A>>, Vec<MembershipInfo<A>>, Vec<Mfe<A>>);

pub fn state<A: Family>(mgm: &Mgm<A>) -> State<A> {
    (
        mgm.interfaces(),
        mgm.memberships(),
        mgm.mfes(None, usize::MAX).unwrap().items,
    )
}

pub fn oifs<A: Family>(mgm: &Mgm<A>, s: A, g: A) -> Vec<IfKey<A>> {
    mgm.mfe(s, g).unwrap().oifs
}

pub fn created<A: Family>(o: MissOutcome<A>) -> Mfe<A> {
    match o {
        MissOutcome::Created(m) => m,
        other => panic!("expected Created, got {other:?}"),
    }
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
