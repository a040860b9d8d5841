//! The control thread of the traffic phase: hosts join and leave, PIM neighbours join and
//! prune, sources start, the simulated clock moves and the engine's timers run.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mgm::{IfKey, ManualClock, Mgm, Selector, JOIN};

use crate::forwarder::Traffic;
use crate::igmp::Igmp;
use crate::pim::Pim;
use crate::scenario::{Scenario, SimFamily, XorShift};

/// Real time between two control ticks.
const TICK: Duration = Duration::from_millis(5);
/// Membership operations per tick.
const OPS_PER_TICK: usize = 8;
/// Simulated seconds per real second: lifetimes of minutes pass within the run.
pub const TIME_SCALE: u32 = 150;

/// What the control thread did.
#[derive(Clone, Debug, Default)]
pub struct ChurnReport {
    /// Host (*,G) joins and leaves through IGMP.
    pub host_group_ops: u64,
    /// Host (S,G) joins and leaves through IGMP.
    pub host_source_ops: u64,
    /// PIM (*,G) joins and prunes from downstream neighbours on the transit link.
    pub pim_ops: u64,
    /// Membership calls the engine refused.
    pub refused: u64,
    /// Sources sending at the end.
    pub sources_started: usize,
    /// Entries deleted by `run_timers`.
    pub expired: usize,
    /// Simulated time that passed.
    pub simulated: Duration,
    /// Real time the phase took.
    pub elapsed: Duration,
}

/// Everything the control thread acts on.
pub struct Control<'a, A: SimFamily> {
    /// The router.
    pub sc: &'a Scenario<A>,
    /// The engine.
    pub mgm: &'a Mgm<A>,
    /// The IGMP client.
    pub igmp: &'a Igmp<A>,
    /// The routing protocol.
    pub pim: &'a Pim,
    /// The engine's clock.
    pub clock: &'a ManualClock,
    /// The workers' shared state.
    pub traffic: &'a Traffic<A>,
}

/// The initial host reports on each LAN: about a third of the groups, and two (S,G)s.
pub fn initial_reports<A: SimFamily>(sc: &Scenario<A>, igmp: &Igmp<A>, rng: &mut XorShift) {
    for k in sc.host_ifaces() {
        for &g in &sc.groups {
            if rng.one_in(3) {
                report(igmp, k, Selector::Group(g), true);
            }
        }
        for _ in 0..2 {
            let sel = Selector::Source {
                source: sc.sources[rng.below(sc.sources.len())],
                group: sc.groups[rng.below(sc.groups.len())],
            };
            report(igmp, k, sel, true);
        }
    }
}

fn report<A: SimFamily>(igmp: &Igmp<A>, k: IfKey<A>, sel: Selector<A>, join: bool) -> bool {
    igmp.host_report(k, sel, join).is_ok()
}

impl<A: SimFamily> Control<'_, A> {
    /// Runs the phase for `duration`, churning with `rng`, with a progress bar unless `quiet`.
    pub fn run(&self, duration: Duration, rng: &mut XorShift, quiet: bool) -> ChurnReport {
        let bar = progress_bar(duration, quiet);
        let mut rep = ChurnReport::default();
        let mut pim_joined: BTreeSet<A> = BTreeSet::new();
        let start = Instant::now();
        let mut last = start;
        let mut last_bar = (start, 0u64);
        loop {
            let now = Instant::now();
            let elapsed = now - start;
            self.start_sources(elapsed, duration, &mut rep);
            if elapsed >= duration {
                break;
            }
            for _ in 0..OPS_PER_TICK {
                self.churn_once(rng, &mut pim_joined, &mut rep);
            }
            let dt = now - last;
            last = now;
            self.clock.advance(dt * TIME_SCALE);
            rep.simulated += dt * TIME_SCALE;
            rep.expired += self.mgm.run_timers().unwrap_or(0);
            if now - last_bar.0 >= Duration::from_millis(100) {
                let total = self.traffic.total_lookups();
                let rate = (total - last_bar.1) as f64 / (now - last_bar.0).as_secs_f64();
                bar.set_position(elapsed.as_millis() as u64);
                bar.set_message(format!(
                    "{:>5.1} M lookups/s · {} MFEs",
                    rate / 1e6,
                    self.mgm.counters().mfes,
                ));
                last_bar = (now, total);
            }
            thread::sleep(TICK);
        }
        bar.finish_and_clear();
        rep.elapsed = start.elapsed();
        rep
    }

    /// Sources start one after another over the first half of the phase.
    fn start_sources(&self, elapsed: Duration, duration: Duration, rep: &mut ChurnReport) {
        let n = self.sc.sources.len();
        let ramp = (duration / 2).as_secs_f64().max(1e-3);
        let frac = (elapsed.as_secs_f64() / ramp).min(1.0);
        let started = (1 + ((n - 1) as f64 * frac) as usize).min(n);
        if started != rep.sources_started {
            rep.sources_started = started;
            let flows = started * self.sc.groups.len();
            self.traffic.active.store(flows, Ordering::Release);
        }
    }

    /// One membership change: a host (*,G) or (S,G) report toggles, or a PIM neighbour on the
    /// transit link joins or prunes a group.
    fn churn_once(&self, rng: &mut XorShift, pim_joined: &mut BTreeSet<A>, rep: &mut ChurnReport) {
        let sc = self.sc;
        let hosts = sc.host_ifaces();
        let g = sc.groups[rng.below(sc.groups.len())];
        let roll = rng.below(100);
        let ok = match (roll, sc.transit()) {
            (0..=19, Some(t)) => {
                rep.pim_ops += 1;
                let sel = Selector::Group(g);
                let r = if pim_joined.insert(g) {
                    self.mgm.add_membership(self.pim.handle, sel, t, JOIN)
                } else {
                    pim_joined.remove(&g);
                    self.mgm.delete_membership(self.pim.handle, sel, t, JOIN)
                };
                r.is_ok()
            }
            (20..=39, _) => {
                rep.host_source_ops += 1;
                let k = hosts[rng.below(hosts.len())];
                let source = sc.sources[rng.below(rep.sources_started.max(1))];
                let sel = Selector::Source { source, group: g };
                report(self.igmp, k, sel, !self.igmp.reported(k, sel))
            }
            _ => {
                rep.host_group_ops += 1;
                let k = hosts[rng.below(hosts.len())];
                let sel = Selector::Group(g);
                report(self.igmp, k, sel, !self.igmp.reported(k, sel))
            }
        };
        if !ok {
            rep.refused += 1;
        }
    }
}

fn progress_bar(duration: Duration, quiet: bool) -> ProgressBar {
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        // Hidden by indicatif itself when stdout is not a terminal.
        ProgressDrawTarget::stdout()
    };
    let bar = ProgressBar::with_draw_target(Some(duration.as_millis() as u64), target);
    let style = ProgressStyle::with_template("  traffic {elapsed:>3} [{wide_bar}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar
}
