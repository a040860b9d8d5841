//! `mgm-sim`: a simulated multicast router on the `mgm` engine.
//!
//! An IGMP client on the host LANs and a PIM-like routing protocol owning every interface
//! start up (spec 6.1, 6.6, 6.8); hosts join and leave while sources start and forwarding
//! workers look packets up and report misses (spec 6.9-6.13, 6.18); then both protocols shut
//! down (spec 6.4, 6.7) and the account says which checks held. The exit code is non-zero when
//! one did not.
//!
//! ```text
//! cargo run --release -p mgm-sim -- --ipv6 --duration 3 --workers 2 --seed 7
//! ```

mod control;
mod events;
mod forwarder;
mod igmp;
mod lifecycle;
mod pim;
mod report;
mod scenario;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mgm::{Config, ManualClock, Mgm};

use control::{ChurnReport, Control, TIME_SCALE};
use forwarder::{Traffic, WorkerReport};
use igmp::Igmp;
use report::Out;
use scenario::{Role, Scenario, SimFamily, XorShift};

/// Simulates a multicast router on the mgm engine: IGMP and a PIM-like protocol, forwarding
/// workers and membership churn, then the shutdown of spec 6.4.
#[derive(Parser, Debug)]
#[command(name = "mgm-sim", version)]
struct Args {
    /// Interfaces: if1 and if2 toward the sources, then host LANs (IGMP), the last a PIM
    /// transit link when there are at least 4.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(3..=64))]
    interfaces: u32,
    /// Multicast groups.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    groups: u32,
    /// Sources, alternating between the two source prefixes.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=500))]
    sources: u32,
    /// Length of the traffic phase, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 9.0, value_parser = parse_secs)]
    duration: f64,
    /// Forwarding worker threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Seed of the membership churn and of the traffic mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulate an IPv6 router (MLD, 2001:db8::/32 sources, ff0e:: groups).
    #[arg(long)]
    ipv6: bool,
    /// Print only the checks and the result.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=3600.0).contains(&x) {
        Ok(x)
    } else {
        Err("expected seconds between 0 and 3600".into())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let out = Out::new(args.quiet);
    let started = Instant::now();
    let run = if args.ipv6 {
        simulate::<Ipv6Addr>(&args, &out)
    } else {
        simulate::<Ipv4Addr>(&args, &out)
    };
    if let Err(e) = run {
        out.check(false, format!("the simulation stopped: {e}"));
    }
    let (passed, failed) = out.results();
    println!(
        "\nresult: {passed} checks passed, {failed} failed · {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn simulate<A: SimFamily>(args: &Args, out: &Out) -> mgm::Result<()> {
    let sc = Scenario::<A>::new(args.interfaces, args.sources, args.groups, pim::protocol());
    let workers = args.workers as usize;
    let clock = ManualClock::new();
    let config = Config {
        max_workers: workers,
        ..Config::default()
    };
    let mgm = Mgm::<A>::with_clock(config, Arc::new(clock.clone()));
    let mut rng = XorShift::new(args.seed, 0);
    out.line(format!(
        "mgm-sim: a simulated {} multicast router · seed {}",
        A::NAME,
        args.seed
    ));

    // IGMP comes up first, on the host LANs, and the hosts there report; then PIM starts.
    let (igmp, igmp_thread) = Igmp::start(&mgm)?;
    for k in sc.host_ifaces() {
        igmp.take(k)?;
    }
    control::initial_reports(&sc, &igmp, &mut rng);
    let (pim, pim_thread, startup) = lifecycle::start_pim(&sc, &mgm, &igmp)?;
    print_scenario(out, &sc, &mgm, args);
    out.section("start-up (spec 6.1, 6.6, 6.8)");
    startup.check(out);

    out.section("traffic (spec 6.9-6.13)");
    let traffic = Arc::new(Traffic::new(sc.flows.clone(), sc.all_ifaces(), workers));
    let handles: Vec<_> = (0..workers)
        .map(|id| forwarder::spawn(id, mgm.clone(), traffic.clone(), args.seed))
        .collect();
    let control = Control {
        sc: &sc,
        mgm: &mgm,
        igmp: &igmp,
        pim: &pim,
        clock: &clock,
        traffic: &traffic,
    };
    let churn = control.run(
        Duration::from_secs_f64(args.duration),
        &mut rng,
        out.quiet(),
    );
    traffic
        .stop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reports = Vec::new();
    for (id, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => _ = out.check(false, format!("worker {id} could not start: {e}")),
            Err(_) => _ = out.check(false, format!("worker {id} panicked")),
        }
    }
    print_traffic(out, &mgm, &pim, &churn, &reports)?;

    out.section("shutdown (spec 6.4, 6.7)");
    lifecycle::shut_down(out, &sc, &mgm, (&igmp, igmp_thread), (&pim, pim_thread))?;

    out.section("events received, by protocol and kind");
    report::events(out, A::MEMBERSHIP, &igmp.tally(), &pim.tally());
    let (replayed, refused) = igmp.replays();
    out.line(format!(
        "  {} replayed {replayed} memberships after EnableIgmp ({refused} refused)",
        A::MEMBERSHIP
    ));
    Ok(())
}

fn print_scenario<A: SimFamily>(out: &Out, sc: &Scenario<A>, mgm: &Mgm<A>, args: &Args) {
    out.section("scenario");
    let infos = mgm.interfaces();
    for i in &sc.ifaces {
        let what = match i.role {
            Role::Upstream(p) => {
                let r = &sc.routes[p];
                format!("route {}/{} via {}", r.prefix, r.len, r.upstream)
            }
            Role::Hosts => "hosts".into(),
            Role::Transit => "downstream PIM neighbours".into(),
        };
        let info = infos.iter().find(|x| x.interface == i.key);
        let owner = match info.and_then(|x| x.owner) {
            Some(_) => lifecycle::pim_name(),
            None => "nobody".into(),
        };
        let igmp = if info.is_some_and(|x| x.igmp.is_some()) {
            format!(", {} present", A::MEMBERSHIP)
        } else {
            String::new()
        };
        out.line(format!(
            "  {:<5} {:<12} {:<44} owner {owner}{igmp}",
            i.key.to_string(),
            i.role.to_string(),
            what
        ));
    }
    out.line(format!(
        "  PIM hooks: RPF accepts the RIB's answer, creation alerts veto nothing, negative entries live {} s",
        pim::NEGATIVE_LIFETIME.as_secs()
    ));
    out.line(format!(
        "  traffic: {} sources × {} groups = {} flows, {} workers, {} s, simulated clock ×{TIME_SCALE}",
        sc.sources.len(),
        sc.groups.len(),
        sc.flows.len(),
        args.workers,
        args.duration
    ));
}

fn print_traffic<A: SimFamily>(
    out: &Out,
    mgm: &Mgm<A>,
    pim: &pim::Pim,
    churn: &ChurnReport,
    reports: &[WorkerReport],
) -> mgm::Result<()> {
    report::workers(out, reports);
    out.line(format!(
        "  control: {} host (*,G) and {} host (S,G) reports toggled, {} PIM (*,G) joins/prunes, {} refused; {} sources started",
        churn.host_group_ops, churn.host_source_ops, churn.pim_ops, churn.refused, churn.sources_started
    ));
    let c = mgm.counters();
    out.line(format!(
        "  engine: {} s simulated in {:.1} s; {} entries created, {} deleted ({} expired by run_timers); wrong-if reports {} passed on, {} rate-limited",
        churn.simulated.as_secs(),
        churn.elapsed.as_secs_f64(),
        c.created,
        c.deleted,
        churn.expired,
        c.wrong_if_notified,
        c.wrong_if_suppressed
    ));
    let h = &pim.hooks;
    let n = |x: &std::sync::atomic::AtomicU64| x.load(std::sync::atomic::Ordering::Relaxed);
    out.line(format!(
        "  PIM hooks: {} RPF answers, {} creation alerts ({} interfaces offered, {} with {}, none vetoed), {} negative lifetimes set",
        n(&h.rpf),
        n(&h.creation_alerts),
        n(&h.offered),
        n(&h.offered_igmp),
        A::MEMBERSHIP,
        n(&h.timeouts)
    ));
    out.section("forwarding table at the end of the traffic phase");
    report::mfe_table(out, mgm.mfe_stats_page(None, usize::MAX)?.items, 8);
    Ok(())
}
