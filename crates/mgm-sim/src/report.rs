//! The printed account: sections, lines, checks, and the tables.

use std::cell::RefCell;

use mgm::{Family, IfKey, MfeStats};

use crate::events::Tally;
use crate::forwarder::WorkerReport;

/// Where the account goes: stdout, most of it only when not `quiet`; checks always.
pub struct Out {
    quiet: bool,
    checks: RefCell<Vec<(String, bool)>>,
}

impl Out {
    /// An account, terse when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Out {
            quiet,
            checks: RefCell::new(Vec::new()),
        }
    }

    /// True when only checks and the result are printed.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// A section title.
    pub fn section(&self, title: &str) {
        if !self.quiet {
            println!("\n{title}");
        }
    }

    /// An ordinary line (indented by the caller).
    pub fn line(&self, s: impl AsRef<str>) {
        if !self.quiet {
            println!("{}", s.as_ref());
        }
    }

    /// Records and prints a check; returns `ok`.
    pub fn check(&self, ok: bool, what: impl Into<String>) -> bool {
        let what = what.into();
        println!("  {} {what}", if ok { "✓" } else { "✗" });
        self.checks.borrow_mut().push((what, ok));
        ok
    }

    /// (checks passed, checks failed).
    pub fn results(&self) -> (usize, usize) {
        let c = self.checks.borrow();
        let failed = c.iter().filter(|(_, ok)| !ok).count();
        (c.len() - failed, failed)
    }
}

/// `12.3 M` style numbers.
pub fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// One line per worker and a total.
pub fn workers(out: &Out, reports: &[WorkerReport]) {
    for w in reports {
        out.line(format!(
            "  worker {}: {:>8} lookups, {:>8}/s ({:.0} % in bursts) · forward {:.1} % · negative {:.1} % · miss {:.3} % · wrong-if {:.2} %",
            w.id,
            si(w.lookups as f64),
            si(w.rate()),
            pct(w.burst_lookups, w.lookups),
            pct(w.forwarded, w.lookups),
            pct(w.negative, w.lookups),
            pct(w.misses, w.lookups),
            pct(w.wrong_if, w.lookups),
        ));
    }
    let total: u64 = reports.iter().map(|w| w.lookups).sum();
    let rate: f64 = reports.iter().map(WorkerReport::rate).sum();
    let copies: u64 = reports.iter().map(|w| w.copies).sum();
    out.line(format!(
        "  total:    {:>8} lookups, {:>8}/s · {} copies sent · {} entries created by miss reports",
        si(total as f64),
        si(rate),
        si(copies as f64),
        reports.iter().map(|w| w.created).sum::<u64>(),
    ));
}

fn oif_list<A: Family>(oifs: &[IfKey<A>]) -> String {
    if oifs.is_empty() {
        "— (negative)".to_string()
    } else {
        oifs.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The busiest `rows` entries of the table.
pub fn mfe_table<A: Family>(out: &Out, mut table: Vec<MfeStats<A>>, rows: usize) {
    let negative = table.iter().filter(|s| s.mfe.oifs.is_empty()).count();
    out.line(format!(
        "  {} entries ({} forwarding, {} negative); the {} busiest:",
        table.len(),
        table.len() - negative,
        negative,
        rows.min(table.len())
    ));
    table.sort_by(|a, b| {
        b.in_packets
            .cmp(&a.in_packets)
            .then(a.mfe.sg().cmp(&b.mfe.sg()))
    });
    out.line(format!(
        "  {:<24} {:<22} {:<5} {:<18} {:>10} {:>8} {:>8}",
        "source", "group", "iif", "OIFs", "packets", "wrong-if", "expires"
    ));
    for s in table.iter().take(rows) {
        let m = &s.mfe;
        let expiry = m
            .expiry
            .map_or("never".into(), |d| format!("{} s", d.as_secs()));
        out.line(format!(
            "  {:<24} {:<22} {:<5} {:<18} {:>10} {:>8} {:>8}",
            m.source.to_string(),
            m.group.to_string(),
            m.iif.to_string(),
            oif_list(&m.oifs),
            s.in_packets,
            s.different_if,
            expiry
        ));
    }
}

/// Events per kind, one column per protocol; `gmp` names the hosts' protocol ("IGMP",
/// "MLD").
pub fn events(out: &Out, gmp: &str, igmp: &Tally, pim: &Tally) {
    out.line(format!("  {:<36} {:>9} {:>9}", "event", gmp, "PIM"));
    for ((label, i), (_, p)) in igmp.rows().iter().zip(pim.rows().iter()) {
        out.line(format!("  {label:<36} {i:>9} {p:>9}"));
    }
    out.line(format!(
        "  {:<36} {:>9} {:>9}",
        "total",
        igmp.total(),
        pim.total()
    ));
    out.check(
        igmp.lost == 0 && pim.lost == 0,
        format!(
            "no event lost to a full queue ({gmp} {}, PIM {})",
            igmp.lost, pim.lost
        ),
    );
}
