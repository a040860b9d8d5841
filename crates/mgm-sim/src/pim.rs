//! The PIM-like routing protocol: owns every interface, answers the engine's decision hooks,
//! and counts what it is told.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mgm::{CreationEntry, Family, Hooks, IfKey, Mgm, ProtocolHandle, RpfDecision, RpfQuery, Sg};

use crate::events::Tally;
use crate::scenario::SimFamily;

/// PIM's protocol id: type multicast, Microsoft's vendor id, protocol 0x21.
pub fn protocol() -> u32 {
    mgm::protocol_id(1, 0x137, 0x21)
}

/// How long PIM lets an entry live once its outgoing list is empty (MGM's default is 900 s).
pub const NEGATIVE_LIFETIME: Duration = Duration::from_secs(210);

/// PIM's decision hooks: accept the RIB's RPF answer, veto nothing, and keep negative entries
/// for a shorter time than the default.
#[derive(Debug, Default)]
pub struct PimHooks {
    /// How long an entry whose outgoing list became empty lives.
    pub negative_lifetime: Duration,
    /// RPF questions answered.
    pub rpf: AtomicU64,
    /// Creation alerts received.
    pub creation_alerts: AtomicU64,
    /// Interfaces offered in those alerts (all kept).
    pub offered: AtomicU64,
    /// Of which IGMP was present on.
    pub offered_igmp: AtomicU64,
    /// Lifetimes chosen for newly negative entries.
    pub timeouts: AtomicU64,
}

impl<A: Family> Hooks<A> for PimHooks {
    fn rpf(&self, query: &RpfQuery<A>) -> RpfDecision<A> {
        self.rpf.fetch_add(1, Relaxed);
        RpfDecision {
            iif: query.iif,
            upstream: query.upstream,
        }
    }

    fn creation_alert(&self, _sg: Sg<A>, _iif: IfKey<A>, oifs: &mut [CreationEntry<A>]) {
        self.creation_alerts.fetch_add(1, Relaxed);
        self.offered.fetch_add(oifs.len() as u64, Relaxed);
        let igmp = oifs.iter().filter(|e| e.igmp).count();
        self.offered_igmp.fetch_add(igmp as u64, Relaxed);
    }

    fn mfe_timeout(
        &self,
        _sg: Sg<A>,
        _iif: IfKey<A>,
        _proposed: Option<Duration>,
    ) -> Option<Duration> {
        self.timeouts.fetch_add(1, Relaxed);
        Some(self.negative_lifetime)
    }
}

/// The routing protocol.
pub struct Pim {
    /// Its registration.
    pub handle: ProtocolHandle,
    /// Its hooks, shared with the engine.
    pub hooks: Arc<PimHooks>,
    tally: Arc<Mutex<Tally>>,
}

impl Pim {
    /// Registers PIM (component 1) and starts the thread that drains its events; the thread
    /// ends when PIM deregisters.
    pub fn start<A: SimFamily>(
        mgm: &Mgm<A>,
        negative_lifetime: Duration,
    ) -> mgm::Result<(Pim, JoinHandle<()>)> {
        let hooks = Arc::new(PimHooks {
            negative_lifetime,
            ..PimHooks::default()
        });
        let (handle, events) = mgm.register(protocol(), 1, hooks.clone())?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let t = tally.clone();
        let thread = thread::Builder::new()
            .name("pim-events".into())
            .spawn(move || {
                while let Ok(batch) = events.recv_batch() {
                    let mut t = t.lock().unwrap_or_else(PoisonError::into_inner);
                    batch.iter().for_each(|e| t.count(e));
                }
            })
            .expect("spawn the PIM event thread");
        Ok((
            Pim {
                handle,
                hooks,
                tally,
            },
            thread,
        ))
    }

    /// Events received so far.
    pub fn tally(&self) -> Tally {
        *self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits (at most `timeout`) until `done` holds of the tally, and returns the tally.
    pub fn wait_tally(&self, timeout: Duration, done: impl Fn(&Tally) -> bool) -> Tally {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.tally();
            if done(&t) || Instant::now() >= deadline {
                return t;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
}
