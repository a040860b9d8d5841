//! The miss path (`MgmNewPacketReceived`) and the wrong-interface report, in the steps the
//! engine takes with the lock held: the protocols' answers (RPF, creation alerts) are asked
//! between them, with the lock released.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;

use super::{Control, Outbox};
use crate::addr::{Family, IfKey, Sg};
use crate::error::{Error, Result};
use crate::mfe::Mfe;
use crate::protocol::{Hooks, RpfDecision};
use crate::rib::Route;

/// Where a miss stands after its first step.
pub(crate) enum MissStart<A: Family> {
    /// The entry exists (another miss built it).
    Exists(Mfe<A>),
    /// Another miss is building it; this one is counted for it.
    Pending,
    /// No route toward the source: a negative entry on the arrival interface was installed.
    Created(Mfe<A>),
    /// The entry is now being built by this miss: ask the RPF question of the owner of the
    /// route's interface (`hooks`, if any), then the creation alerts, then finish.
    Resolve {
        route: Route<A>,
        hooks: Option<Arc<dyn Hooks<A>>>,
        /// The RIB's version when the route was read.
        version: u64,
    },
}

impl<A: Family> Control<A> {
    /// The first step of a miss for `sg` arriving on `arrival`.
    ///
    /// # Errors
    /// [`Error::TableFull`] (counted as refused) when the entry limit is reached.
    pub(crate) fn miss_start(
        &mut self,
        sg: Sg<A>,
        arrival: IfKey<A>,
        now: u64,
        out: &mut Outbox<A>,
    ) -> Result<MissStart<A>> {
        if self.mfes.contains_key(&sg) {
            return Ok(MissStart::Exists(self.snapshot(sg, Some(now))));
        }
        if let Some(n) = self.pending.get_mut(&sg) {
            *n = n.saturating_add(1);
            return Ok(MissStart::Pending);
        }
        if self.mfes.len() + self.pending.len() >= self.limits.max_mfes {
            self.refused = self.refused.saturating_add(1);
            return Err(Error::TableFull {
                limit: self.limits.max_mfes,
            });
        }
        let Some(route) = self.rib.lookup(sg.source).copied() else {
            self.install_mfe(sg, arrival, A::UNSPECIFIED, None, &[], 0, now, out);
            return Ok(MissStart::Created(self.snapshot(sg, Some(now))));
        };
        self.pending.insert(sg, 0);
        let hooks = self
            .owner_of(route.iif)
            .map(|o| self.proto(o).hooks.clone());
        Ok(MissStart::Resolve {
            route,
            hooks,
            version: self.rib.version,
        })
    }

    /// Ends this miss's claim on `sg` (built or abandoned); returns the misses counted for it
    /// meanwhile.
    pub(crate) fn miss_settle(&mut self, sg: Sg<A>) -> u64 {
        self.pending.remove(&sg).unwrap_or(0)
    }

    /// Whether the RIB changed since `version`, so the route a miss resolved may be stale.
    pub(crate) fn routes_changed_since(&self, version: u64) -> bool {
        self.rib.version != version
    }

    /// The last step of a miss: installs the entry as the RPF answer and the creation alerts
    /// decided, with the `uninit` misses counted while it was built. Returns the entry and
    /// its stamp.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn miss_finish(
        &mut self,
        sg: Sg<A>,
        rpf: RpfDecision<A>,
        route: Route<A>,
        vetoed: &[IfKey<A>],
        uninit: u64,
        now: u64,
        out: &mut Outbox<A>,
    ) -> (Mfe<A>, u64) {
        let stamp = self.install_mfe(
            sg,
            rpf.iif,
            rpf.upstream,
            Some(route),
            vetoed,
            uninit,
            now,
            out,
        );
        (self.snapshot(sg, Some(now)), stamp)
    }

    /// The entry `sg` as it is now, if it is still the one stamped `stamp`.
    pub(crate) fn mfe_if_stamped(&self, sg: Sg<A>, stamp: u64, now: u64) -> Option<Mfe<A>> {
        match self.mfes.get(&sg) {
            Some(rec) if rec.stamp == stamp => Some(self.snapshot(sg, Some(now))),
            _ => None,
        }
    }

    /// Who hears of a packet of `sg` that arrived on `arrival`, not its incoming interface:
    /// the routing owner of `arrival`, if the entry exists and `arrival` has one.
    pub(crate) fn wrong_interface_owner(&self, sg: Sg<A>, arrival: IfKey<A>) -> Option<u32> {
        self.mfes
            .get(&sg)
            .filter(|rec| rec.iif != arrival)
            .and_then(|_| self.owner_of(arrival))
    }
}

/// An entry and an interface its packets arrived on, not its incoming one.
type Pair<A> = (Sg<A>, IfKey<A>);

/// The wrong-interface limiter: at most one report per (entry, arrival interface) per
/// interval. It is checked before the control lock is taken (a suppressed report costs no
/// lock) and again under it.
///
/// Each stamp is also queued in the order it was made, so forgetting the pairs whose
/// interval is over takes them from the front of the queue, a budget at a time, instead of
/// looking at every pair.
pub(crate) struct WrongIfLimiter<A: Family> {
    /// The interval in milliseconds; `None`: reports are off.
    interval: Option<u64>,
    last: DashMap<Pair<A>, u64>,
    /// Every stamp of `last` as (time, pair), in the order made (under the control lock, so
    /// the times rise but for clock reads racing the lock). A pair stamped again is queued
    /// again; its older stamp, found stale at the front, is dropped then.
    stamps: Mutex<VecDeque<(u64, Pair<A>)>>,
    notified: std::sync::atomic::AtomicU64,
    suppressed: std::sync::atomic::AtomicU64,
}

impl<A: Family> WrongIfLimiter<A> {
    /// A limiter with `interval` (milliseconds) between reports of one pair; `None`: off.
    pub(crate) fn new(interval: Option<u64>) -> Self {
        WrongIfLimiter {
            interval,
            last: DashMap::new(),
            stamps: Mutex::new(VecDeque::new()),
            notified: Default::default(),
            suppressed: Default::default(),
        }
    }

    /// Whether reports are on.
    pub(crate) fn enabled(&self) -> bool {
        self.interval.is_some()
    }

    /// Whether a report of (`sg`, `arrival`) at `now` falls within the interval of the last.
    pub(crate) fn limited(&self, sg: Sg<A>, arrival: IfKey<A>, now: u64) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        self.last
            .get(&(sg, arrival))
            .is_some_and(|t| now.saturating_sub(*t) < interval)
    }

    /// Counts a report that was suppressed.
    pub(crate) fn suppress(&self) {
        self.suppressed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Records a report of (`sg`, `arrival`) sent at `now` (called under the control lock).
    pub(crate) fn stamp(&self, sg: Sg<A>, arrival: IfKey<A>, now: u64) {
        self.last.insert((sg, arrival), now);
        self.queue().push_back((now, (sg, arrival)));
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Pair<A>)>> {
        // The queue is consistent after every step that holds it: a panic elsewhere leaves
        // nothing half-done in it.
        self.stamps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a report that was sent.
    pub(crate) fn notified(&self) {
        self.notified
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets the pairs whose interval is over at `now`.
    pub(crate) fn expire(&self, now: u64) {
        self.expire_some(now, usize::MAX);
    }

    /// Forgets at most `max` of the pairs whose interval is over at `now` (each stamp taken
    /// from the queue is a unit, a stale one too); true when some are still due.
    pub(crate) fn expire_some(&self, now: u64, max: usize) -> bool {
        let Some(i) = self.interval else {
            return false;
        };
        let over = |t: u64| now.saturating_sub(t) >= i;
        let mut q = self.queue();
        let mut done = 0;
        while let Some(&(t, pair)) = q.front() {
            if !over(t) {
                return false;
            }
            if done == max {
                return true;
            }
            q.pop_front();
            done += 1;
            // Only the pair's last stamp forgets it: a later one keeps it until its own
            // interval is over.
            self.last.remove_if(&pair, |_, last| *last == t);
        }
        false
    }

    /// (reports sent, reports suppressed).
    pub(crate) fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.notified.load(Relaxed), self.suppressed.load(Relaxed))
    }
}
