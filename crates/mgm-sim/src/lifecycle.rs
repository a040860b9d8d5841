//! Starting the routing protocol up (spec 6.1, with the IGMP bracket of 6.6) and shutting both
//! protocols down (spec 6.4, 6.7), with the checks the account shows.

use std::collections::BTreeSet;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mgm::{EnumKind, Error, IfKey, Mgm, MS_IP_IGMP};

use crate::igmp::{Bracket, Igmp};
use crate::pim::{self, Pim};
use crate::report::Out;
use crate::scenario::{Scenario, SimFamily};

/// How long to wait for a protocol's event thread to act on what it was sent.
const PATIENCE: Duration = Duration::from_secs(5);

/// Who `protocol_on_interface` named: (protocol id, component id), or why nobody.
type OnInterface = mgm::Result<(u32, u32)>;

/// What PIM's start-up showed, checked once the scenario is printed.
pub struct Startup<A> {
    /// `protocol_on_interface` for each interface before PIM took it.
    pub found: Vec<(IfKey<A>, OnInterface)>,
    /// Interfaces PIM failed to take.
    pub take_failed: Vec<(IfKey<A>, Error)>,
    /// For each host LAN, whether IGMP saw exactly Disable then Enable (with its replay).
    pub brackets: Vec<(IfKey<A>, bool)>,
    /// IGMP's reports when PIM took over, and the local joins PIM heard.
    pub local_joins: (usize, u64),
    /// Selectors PIM learned by group enumeration.
    pub enumerated: usize,
}

/// Spec 6.1 for PIM: register, ask who is on each interface, add the routes toward the sources,
/// take every interface (IGMP's LANs bracketed), then learn the existing memberships.
pub fn start_pim<A: SimFamily>(
    sc: &Scenario<A>,
    mgm: &Mgm<A>,
    igmp: &Igmp<A>,
) -> mgm::Result<(Pim, JoinHandle<()>, Startup<A>)> {
    let (pim, thread) = Pim::start(mgm, pim::NEGATIVE_LIFETIME)?;
    let found = sc
        .all_ifaces()
        .into_iter()
        .map(|k| (k, mgm.protocol_on_interface(k)))
        .collect();
    for r in &sc.routes {
        mgm.add_route(*r)?;
    }
    let reports = igmp.report_count();
    let mark = igmp.bracket_mark();
    let mut take_failed = Vec::new();
    for k in sc.all_ifaces() {
        if let Err(e) = mgm.take_interface(pim.handle, k) {
            take_failed.push((k, e));
        }
    }
    let brackets = sc
        .host_ifaces()
        .into_iter()
        .map(|k| {
            let seen = igmp.wait_brackets(mark, k, PATIENCE);
            (k, bracketed(&seen, k))
        })
        .collect();
    let heard = pim
        .wait_tally(PATIENCE, |t| t.local_join >= reports as u64)
        .local_join;
    let e = mgm.group_enumeration_start(pim.handle, EnumKind::AllSources)?;
    let mut enumerated = 0;
    loop {
        let page = mgm.group_enumeration_next(e, 16)?;
        enumerated += page.items.len();
        if !page.more {
            break;
        }
    }
    mgm.group_enumeration_end(e)?;
    let startup = Startup {
        found,
        take_failed,
        brackets,
        local_joins: (reports, heard),
        enumerated,
    };
    Ok((pim, thread, startup))
}

/// True when IGMP's log for `k` is exactly: disabled, then enabled (and replayed).
fn bracketed<A: SimFamily>(seen: &[Bracket<A>], k: IfKey<A>) -> bool {
    let mine: Vec<&Bracket<A>> = seen
        .iter()
        .filter(|b| matches!(b, Bracket::Disabled(x) | Bracket::Enabled(x) if *x == k))
        .collect();
    mine == [&Bracket::Disabled(k), &Bracket::Enabled(k)]
}

impl<A: SimFamily> Startup<A> {
    /// Prints what start-up did and checks it.
    pub fn check(&self, out: &Out) {
        for (k, r) in &self.found {
            let who = match r {
                Ok((MS_IP_IGMP, c)) => format!("{}/{c}", A::MEMBERSHIP),
                Ok((p, c)) => format!("{p:#010x}/{c}"),
                Err(e) => format!("nobody (win32 {})", e.win32_code()),
            };
            out.line(format!("  protocol_on_interface({k}) before PIM: {who}"));
        }
        let failed: Vec<String> = self
            .take_failed
            .iter()
            .map(|(k, e)| format!("{k}: {e}"))
            .collect();
        out.check(
            failed.is_empty(),
            format!(
                "PIM took every interface{}",
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(" — refused: {}", failed.join("; "))
                }
            ),
        );
        for (k, ok) in &self.brackets {
            out.check(*ok, bracket_line(*k));
        }
        let (reports, heard) = self.local_joins;
        out.check(
            heard == reports as u64,
            format!(
                "PIM heard {}'s {reports} memberships as {heard} local joins",
                A::MEMBERSHIP
            ),
        );
        out.line(format!(
            "  PIM learned {} joined selectors by group enumeration (spec 6.3)",
            self.enumerated
        ));
    }
}

/// The check of one host LAN's ownership bracket (the events keep the engine's names).
fn bracket_line<A: SimFamily>(k: IfKey<A>) -> String {
    format!(
        "{k}: {} got DisableIgmp then EnableIgmp, and replayed its reports",
        A::MEMBERSHIP
    )
}

/// Waits for a thread that should end on its own (its event channel disconnected).
fn ends(thread: JoinHandle<()>) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while !thread.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    thread.is_finished() && thread.join().is_ok()
}

/// Spec 6.4 for PIM, then IGMP's own release and deregistration. Traffic must have stopped,
/// or new misses would rebuild the entries being checked for.
pub fn shut_down<A: SimFamily>(
    out: &Out,
    sc: &Scenario<A>,
    mgm: &Mgm<A>,
    (igmp, igmp_thread): (&Igmp<A>, JoinHandle<()>),
    (pim, pim_thread): (&Pim, JoinHandle<()>),
) -> mgm::Result<()> {
    let hosts: BTreeSet<IfKey<A>> = sc.host_ifaces().into_iter().collect();
    out.line("  PIM releases each interface it owns:");
    for k in sc.all_ifaces() {
        let before = count_iif(mgm, k)?;
        let mark = igmp.bracket_mark();
        let released = mgm.release_interface(pim.handle, k);
        if hosts.contains(&k) {
            let seen = igmp.wait_brackets(mark, k, PATIENCE);
            out.check(bracketed(&seen, k), bracket_line(k));
        }
        let left = count_iif(mgm, k)?;
        out.check(
            released.is_ok() && left == 0,
            format!(
                "{k}: released{}; {left} entries with iif {k} remain ({before} before)",
                released.err().map_or(String::new(), |e| format!(" ✗ {e}"))
            ),
        );
    }
    out.check(mgm.deregister(pim.handle).is_ok(), "PIM deregistered");
    let k = sc.ifaces[0].key;
    let stale = mgm.take_interface(pim.handle, k);
    out.check(
        matches!(&stale, Err(e @ Error::InvalidHandle { .. }) if e.win32_code() == 87),
        format!(
            "PIM's stale handle refused: take_interface({k}) → {}",
            stale.map_or_else(
                |e| format!("Err({}), win32 {}", variant(&e), e.win32_code()),
                |()| "Ok: accepted".into()
            )
        ),
    );
    out.check(ends(pim_thread), "PIM's event channel closed");
    let gmp = A::MEMBERSHIP;
    out.line(format!("  {gmp} releases its LANs:"));
    for k in &hosts {
        out.check(igmp.release(*k).is_ok(), format!("{k}: {gmp} released"));
    }
    out.check(
        mgm.deregister(igmp.handle).is_ok(),
        format!("{gmp} deregistered"),
    );
    out.check(ends(igmp_thread), format!("{gmp}'s event channel closed"));
    let entries = mgm.mfes(None, usize::MAX)?.items.len();
    let (ifaces, members) = (mgm.interfaces().len(), mgm.memberships().len());
    out.check(
        entries == 0 && ifaces == 0 && members == 0,
        format!("engine empty: {entries} entries, {ifaces} interfaces, {members} memberships"),
    );
    Ok(())
}

fn count_iif<A: SimFamily>(mgm: &Mgm<A>, k: IfKey<A>) -> mgm::Result<usize> {
    let page = mgm.mfes(None, usize::MAX)?;
    Ok(page.items.iter().filter(|m| m.iif == k).count())
}

/// PIM's id, for the account.
pub fn pim_name() -> String {
    format!("PIM {:#010x}/1", pim::protocol())
}

/// The name of an error's variant, as the account shows it.
fn variant(e: &Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}
