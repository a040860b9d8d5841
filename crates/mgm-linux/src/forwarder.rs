//! The adapter between the engine's southbound stream and a kernel multicast routing table.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io;
use std::ops::Bound;

use crate::mroute::{
    Kernel, KernelCounters, MrouteFamily, Upcall, UpcallKind, VifCounters, MAXVIFS,
};
use crate::sys;
use mgm::Batches;
use mgm::Mgm;
use mgm::{IfKey, Sg};
use mgm::{Mfe, MfeChange, MfeStats, MissOutcome};
#[cfg(doc)]
use std::net::{Ipv4Addr, Ipv6Addr};

/// What went wrong in the Linux forwarder.
#[derive(Debug)]
pub enum LinuxError {
    /// The kernel has no free VIF or MIF (it has [`MAXVIFS`]): the interface cannot forward.
    TooManyVifs {
        /// The interface that got none.
        ifindex: u32,
        /// Its name, when it still exists.
        name: Option<String>,
        /// The kernel's limit.
        limit: usize,
        /// What the kernel calls them: "VIF" (IPv4) or "MIF" (IPv6).
        what: &'static str,
    },
    /// A kernel call failed.
    Kernel {
        /// The operation (`MRT_ADD_VIF`, `MRT6_ADD_MFC`, ...).
        op: &'static str,
        /// What it was applied to.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The engine refused a call.
    Engine(mgm::Error),
    /// An upcall named a VIF the adapter never added.
    UnknownVif {
        /// The VIF.
        vif: u16,
    },
}

impl fmt::Display for LinuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinuxError::TooManyVifs {
                ifindex,
                name,
                limit,
                what,
            } => write!(
                f,
                "interface {} (ifindex {ifindex}) gets no {what}: the kernel allows {limit} {what}s and all are in use",
                name.as_deref().unwrap_or("?")
            ),
            LinuxError::Kernel { op, what, source } => write!(f, "{op} {what}: {source}"),
            LinuxError::Engine(e) => write!(f, "engine: {e}"),
            LinuxError::UnknownVif { vif } => write!(f, "upcall from unknown VIF {vif}"),
        }
    }
}

impl std::error::Error for LinuxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LinuxError::Kernel { source, .. } => Some(source),
            LinuxError::Engine(e) => Some(e),
            _ => None,
        }
    }
}

impl From<mgm::Error> for LinuxError {
    fn from(e: mgm::Error) -> Self {
        LinuxError::Engine(e)
    }
}

/// The VIF numbers in use: ifindex ↔ VIF, at most `capacity` (the kernel's [`MAXVIFS`]).
///
/// ```
/// use mgm_linux::VifTable;
/// let mut t = VifTable::new(2);
/// assert_eq!(t.allocate(7).unwrap(), 0);
/// assert_eq!(t.allocate(9).unwrap(), 1);
/// assert_eq!(t.allocate(7).unwrap(), 0, "same interface, same VIF");
/// assert!(t.allocate(11).is_none(), "full");
/// t.release(7);
/// assert_eq!(t.allocate(11).unwrap(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct VifTable {
    slots: Vec<Option<u32>>,
}

impl VifTable {
    /// An empty table of `capacity` VIFs.
    pub fn new(capacity: usize) -> Self {
        VifTable {
            slots: vec![None; capacity],
        }
    }
    /// The VIF of `ifindex`, allocating the lowest free one; `None` when full.
    pub fn allocate(&mut self, ifindex: u32) -> Option<u16> {
        if let Some(v) = self.vif_of(ifindex) {
            return Some(v);
        }
        let free = self.slots.iter().position(Option::is_none)?;
        self.slots[free] = Some(ifindex);
        Some(free as u16)
    }
    /// Frees the VIF of `ifindex`; returns it.
    pub fn release(&mut self, ifindex: u32) -> Option<u16> {
        let v = self.vif_of(ifindex)?;
        self.slots[usize::from(v)] = None;
        Some(v)
    }
    /// The VIF of an interface.
    pub fn vif_of(&self, ifindex: u32) -> Option<u16> {
        self.slots
            .iter()
            .position(|s| *s == Some(ifindex))
            .map(|p| p as u16)
    }
    /// The interface of a VIF.
    pub fn ifindex_of(&self, vif: u16) -> Option<u32> {
        self.slots.get(usize::from(vif)).copied().flatten()
    }
    /// (VIF, ifindex) of every VIF in use.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(v, s)| s.map(|i| (v as u16, i)))
    }
}

/// An entry as installed in the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEntry {
    /// The incoming VIF.
    pub parent: u16,
    /// The outgoing VIFs.
    pub oifs: Vec<u16>,
}

/// What an upcall led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpcallOutcome<A> {
    /// A cache miss given to [`Mgm::new_packet`].
    Miss(MissOutcome<A>),
    /// A wrong-VIF arrival given to [`Mgm::report_wrong_interface`]; true when a protocol
    /// heard it.
    WrongInterface(bool),
    /// An upcall kind the adapter does not use.
    Ignored,
}

/// An engine entry with its counters and the kernel's counters for the same (S,G).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedStats<A> {
    /// The engine's record and counters.
    pub engine: MfeStats<A>,
    /// The kernel's counters; `None` when the kernel has no such entry.
    pub kernel: Option<KernelCounters>,
}

/// The adapter's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwarderCounters {
    /// `NOCACHE` upcalls handled.
    pub nocache: u64,
    /// `WRONGVIF` upcalls handled.
    pub wrongvif: u64,
    /// `MRT_ADD_MFC` calls made.
    pub mfc_adds: u64,
    /// `MRT_DEL_MFC` calls made.
    pub mfc_dels: u64,
    /// Errors met.
    pub errors: u64,
}

/// What one bounded pump ([`Forwarder::pump_some`]) did.
#[derive(Debug, Default)]
pub struct Pumped {
    /// The units of work done: one per change applied, one per entry a resync installed or
    /// deleted.
    pub applied: usize,
    /// The errors met (each change is still applied as far as it can be).
    pub errors: Vec<LinuxError>,
    /// Whether work is left: changes held or still queued, or a resync not finished.
    pub more: bool,
}

/// How many entries [`Forwarder::new`] installs itself; later pumps install the rest.
const FIRST_PAGE: usize = 256;

/// How many units of work [`Forwarder::handle_upcall`] does on the queued changes after the
/// engine's call; the caller's pump does the rest.
const UPCALL_CHANGES: usize = 8;

/// Follows an engine's southbound stream into a kernel table, and turns the kernel's upcalls
/// into the engine's miss and wrong-interface paths.
///
/// One code path for both families: `A` is [`Ipv4Addr`] (VIFs, `MRT_*`) or [`Ipv6Addr`] (MIFs,
/// `MRT6_*`), and only the kernel table `K` knows the layouts. Interfaces are engine
/// [`IfKey`]s whose index is the kernel ifindex (next hops of point-to-multipoint links are
/// not distinguished: one VIF per ifindex).
///
/// **Bounded work.** [`Forwarder::pump_some`] applies at most a given number of changes per
/// call, holding the rest of a batch for the next call, so a caller's event loop can give it
/// a slice of time and come back; [`Forwarder::pending`] says whether it should.
///
/// **Resync in pages.** On [`MfeChange::Resync`] the forwarder walks the engine's table a
/// page at a time, within the same budget, merging each page with the installed entries of
/// the same key range: an entry the page has is installed (`MRT_ADD_MFC` replaces it in
/// place), an installed entry of the range the page lacks is deleted. The walk resumes after
/// the last key it dealt with, so each call does at most its budget of kernel calls however
/// many stale entries lie between two engine keys.
///
/// Changes after the marker wait (in the engine's queue, or held here) until the walk has
/// covered the whole key space, and are then applied in stream order: nothing is applied out
/// of the stream's order, and a change made while the walk runs is applied after it.
/// Why the table ends right: each page shows the engine's table as it is when read, which
/// includes every change queued before the read. For a key the walk dealt with at that
/// moment, every later change of it is still to come in the stream and is applied after the
/// walk, so the last one leaves the key as the engine has it; when there is none, the walk's
/// state, or the last change queued before the read (the same state), stands. A change queued
/// before the read of its page and applied after the walk may briefly put back an older state
/// of an entry, until the later changes of that entry, which follow it in the stream, are
/// applied (each change carries the full state). A key created after the walk passed its
/// range comes as an `Installed` change after the walk. If the engine's queue overflows again
/// while the walk runs, its next marker, later in the stream, starts another walk.
pub struct Forwarder<A: MrouteFamily, K: Kernel<A>> {
    mgm: Mgm<A>,
    kernel: K,
    changes: Batches<MfeChange<A>>,
    /// Changes received from `changes` and not applied yet, in stream order.
    held: VecDeque<MfeChange<A>>,
    /// The resync under way: the walk has dealt with every key up to this one (`None`: it
    /// starts from the first key).
    resync: Option<Option<Sg<A>>>,
    vifs: VifTable,
    installed: BTreeMap<Sg<A>, KernelEntry>,
    counters: ForwarderCounters,
    sync_cursor: Option<Sg<A>>,
}

impl<A: MrouteFamily, K: Kernel<A>> Forwarder<A, K> {
    /// Subscribes to `mgm` and installs the entries it already has, as a resync does
    /// ([`Forwarder::pump_some`]): the first page (at most 256 entries) in this call, the rest
    /// a page within each later pump's budget, with the changes made meanwhile applied after
    /// them in stream order. So no call does more than a bounded amount of work however large
    /// the table; [`Forwarder::pending`] says whether entries are still to install, and
    /// [`Forwarder::pump`] installs them all at once.
    ///
    /// # Errors
    /// The first error met installing the first page's entries (the others are still
    /// tried); [`LinuxError::Engine`] when the engine is stopped.
    ///
    /// ```
    /// # use mgm_linux::{Forwarder, Kernel, KernelCounters};
    /// # use mgm_linux::mroute::VifCounters;
    /// # use mgm::{IfKey, Mgm, Sg};
    /// # use std::{io, net::Ipv4Addr};
    /// # #[derive(Default)] struct Table;
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn del_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn add_mfc(&mut self, _: Sg<Ipv4Addr>, _: u16, _: &[u16]) -> io::Result<()> { Ok(()) }
    /// #     fn del_mfc(&mut self, _: Sg<Ipv4Addr>) -> io::Result<()> { Ok(()) }
    /// #     fn sg_counters(&self, _: Sg<Ipv4Addr>) -> io::Result<KernelCounters> { Ok(KernelCounters::default()) }
    /// #     fn vif_counters(&self, _: u16) -> io::Result<VifCounters> { Ok(VifCounters::default()) }
    /// # }
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// for i in 0..300u32 {
    ///     let g = Ipv4Addr::from(0xef00_0000 + i);
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), g).unwrap();
    /// }
    /// let mut f = Forwarder::new(mgm.clone(), Table).unwrap();
    /// assert_eq!(f.installed().len(), 256, "the first page");
    /// assert!(f.pending());
    /// while f.pump_some(8).more {}
    /// assert_eq!(f.installed().len(), 300);
    /// ```
    pub fn new(mgm: Mgm<A>, kernel: K) -> Result<Self, LinuxError> {
        let changes = mgm.subscribe();
        let mut f = Forwarder {
            mgm,
            kernel,
            changes,
            held: VecDeque::new(),
            // The subscription's stream starts empty: a walk from the first key brings in
            // what the engine has, exactly as after a resync marker.
            resync: Some(None),
            vifs: VifTable::new(MAXVIFS),
            installed: BTreeMap::new(),
            counters: ForwarderCounters::default(),
            sync_cursor: None,
        };
        let mut errs = Vec::new();
        f.resync_some(FIRST_PAGE, &mut errs);
        match errs.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(f),
        }
    }

    /// The kernel table.
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The VIF table.
    pub fn vifs(&self) -> &VifTable {
        &self.vifs
    }

    /// The adapter's counters.
    pub fn counters(&self) -> ForwarderCounters {
        self.counters
    }

    /// The entries installed in the kernel, by (S,G).
    pub fn installed(&self) -> &BTreeMap<Sg<A>, KernelEntry> {
        &self.installed
    }

    /// Gives `ifindex` a VIF (the lowest free one) unless it has one.
    ///
    /// # Errors
    /// [`LinuxError::TooManyVifs`] when all [`MAXVIFS`] are in use; [`LinuxError::Kernel`]
    /// when `MRT_ADD_VIF` fails.
    pub fn add_interface(&mut self, ifindex: u32) -> Result<u16, LinuxError> {
        if let Some(v) = self.vifs.vif_of(ifindex) {
            return Ok(v);
        }
        let Some(vif) = self.vifs.allocate(ifindex) else {
            self.counters.errors += 1;
            return Err(LinuxError::TooManyVifs {
                ifindex,
                name: sys::interface_name(ifindex),
                limit: MAXVIFS,
                what: A::CALLS.vif,
            });
        };
        if let Err(source) = self.kernel.add_vif(vif, ifindex) {
            self.vifs.release(ifindex);
            self.counters.errors += 1;
            return Err(LinuxError::Kernel {
                op: A::CALLS.add_vif,
                what: format!("{} {vif} ifindex {ifindex}", A::CALLS.vif),
                source,
            });
        }
        Ok(vif)
    }

    /// Removes the VIF of `ifindex` (the kernel drops it from every entry).
    ///
    /// # Errors
    /// [`LinuxError::Kernel`] when `MRT_DEL_VIF` fails.
    pub fn remove_interface(&mut self, ifindex: u32) -> Result<(), LinuxError> {
        let Some(vif) = self.vifs.release(ifindex) else {
            return Ok(());
        };
        self.kernel
            .del_vif(vif, ifindex)
            .map_err(|source| LinuxError::Kernel {
                op: A::CALLS.del_vif,
                what: format!("{} {vif} ifindex {ifindex}", A::CALLS.vif),
                source,
            })
    }

    /// Applies every queued engine change to the kernel, and finishes a resync under way;
    /// returns the errors met (each change is still applied as far as it can be). It takes
    /// as long as the queue is: an event loop calls [`Forwarder::pump_some`] instead.
    pub fn pump(&mut self) -> Vec<LinuxError> {
        let mut errs = Vec::new();
        loop {
            let p = self.pump_some(256);
            errs.extend(p.errors);
            if !p.more {
                return errs;
            }
        }
    }

    /// Applies queued engine changes in order, at most `max` units of work: a change is one
    /// unit, and so is each entry a resync installs or deletes (a resync goes on across
    /// calls, a page of at most the units left at a time). The rest of a batch is held for
    /// the next call; `more` in the answer says whether anything is left.
    ///
    /// ```
    /// # use mgm_linux::{Forwarder, Kernel, KernelCounters};
    /// # use mgm_linux::mroute::VifCounters;
    /// # use mgm::{IfKey, Mgm, Sg};
    /// # use std::{io, net::Ipv4Addr};
    /// # #[derive(Default)] struct Table;
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn del_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn add_mfc(&mut self, _: Sg<Ipv4Addr>, _: u16, _: &[u16]) -> io::Result<()> { Ok(()) }
    /// #     fn del_mfc(&mut self, _: Sg<Ipv4Addr>) -> io::Result<()> { Ok(()) }
    /// #     fn sg_counters(&self, _: Sg<Ipv4Addr>) -> io::Result<KernelCounters> { Ok(KernelCounters::default()) }
    /// #     fn vif_counters(&self, _: u16) -> io::Result<VifCounters> { Ok(VifCounters::default()) }
    /// # }
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table).unwrap();
    /// for g in 1..=5 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// let p = f.pump_some(3);
    /// assert_eq!((p.applied, p.more, f.installed().len()), (3, true, 3));
    /// assert!(f.pending());
    /// let p = f.pump_some(3);
    /// assert_eq!((p.applied, p.more, f.installed().len()), (2, false, 5));
    /// assert!(!f.pending());
    /// ```
    pub fn pump_some(&mut self, max: usize) -> Pumped {
        let mut out = Pumped::default();
        while out.applied < max {
            if self.resync.is_some() {
                out.applied += self.resync_some(max - out.applied, &mut out.errors);
                continue;
            }
            let Some(change) = self.next_change() else {
                break;
            };
            if let MfeChange::Resync { .. } = change {
                // Walked from the first key, a page per call; what follows waits for it.
                self.resync = Some(None);
                continue;
            }
            if let Err(e) = self.apply(&change) {
                out.errors.push(e);
            }
            out.applied += 1;
        }
        if self.resync.is_none() && self.held.is_empty() {
            // Also brings in the marker of a loss found with the queue drained.
            self.receive();
        }
        out.more = self.pending();
        out
    }

    /// Whether [`Forwarder::pump_some`] has work: changes held or queued, or a resync not
    /// finished.
    pub fn pending(&self) -> bool {
        self.resync.is_some() || !self.held.is_empty() || !self.changes.receiver().is_empty()
    }

    /// The next change in stream order, receiving a batch when none is held.
    fn next_change(&mut self) -> Option<MfeChange<A>> {
        if self.held.is_empty() {
            self.receive();
        }
        self.held.pop_front()
    }

    /// Holds the next queued batch, if there is one.
    fn receive(&mut self) {
        if let Ok(batch) = self.changes.try_recv_batch() {
            self.held.extend(batch);
        }
    }

    /// Applies one change at once; a [`MfeChange::Resync`] walks the whole table in this
    /// call (as [`Forwarder::resync`]).
    ///
    /// # Errors
    /// [`LinuxError::TooManyVifs`] when an interface of the entry gets no VIF (the entry is
    /// installed without it, or not at all when it is the incoming one);
    /// [`LinuxError::Kernel`].
    pub fn apply(&mut self, change: &MfeChange<A>) -> Result<(), LinuxError> {
        match change {
            MfeChange::Installed(m) | MfeChange::OifsChanged(m) => self.install(m),
            MfeChange::Deleted { sg, .. } => self.uninstall(*sg),
            MfeChange::Resync { .. } => self.resync(),
            // A kind of change this forwarder does not program (none today): the kernel
            // table stays as the known changes left it.
            _ => Ok(()),
        }
    }

    /// Makes the kernel table match the engine's again in this call, as the paged resync
    /// of [`Forwarder::pump_some`] does across calls (and ending one under way): deletes the
    /// installed entries the engine does not have, and installs every entry it has
    /// (`MRT_ADD_MFC` replaces an entry in place).
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the walk fails; the first error of installing or deleting
    /// (the others are still tried).
    pub fn resync(&mut self) -> Result<(), LinuxError> {
        self.resync = Some(None);
        let mut errs = Vec::new();
        while self.resync.is_some() {
            self.resync_some(256, &mut errs);
        }
        errs.into_iter().next().map_or(Ok(()), Err)
    }

    /// Goes on with the resync under way for at most `max` (at least 1) units; returns the
    /// units done. A walk the engine refuses (it was stopped) is given up, with the error.
    fn resync_some(&mut self, max: usize, errs: &mut Vec<LinuxError>) -> usize {
        let Some(after) = self.resync else {
            return 0;
        };
        let page = match self.mgm.mfes(after, max.max(1)) {
            Ok(p) => p,
            Err(e) => {
                self.resync = None;
                errs.push(e.into());
                return 0;
            }
        };
        // The key range this page covers: after `after`, up to its last entry, or to the end
        // of the key space when it is the last page.
        let end = match page.items.last() {
            Some(m) if page.more => Bound::Included(m.sg()),
            _ => Bound::Unbounded,
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let live: BTreeSet<Sg<A>> = page.items.iter().map(Mfe::sg).collect();
        let stale: Vec<Sg<A>> = self
            .installed
            .range((from, end))
            .map(|(sg, _)| *sg)
            .filter(|sg| !live.contains(sg))
            // One over the budget: then the range is known not done.
            .take(max.saturating_add(1))
            .collect();
        // Both in key order and disjoint: dealt with together in key order, until the
        // budget ends.
        let mut work: Vec<(Sg<A>, Option<&Mfe<A>>)> = page
            .items
            .iter()
            .map(|m| (m.sg(), Some(m)))
            .chain(stale.into_iter().map(|sg| (sg, None)))
            .collect();
        work.sort_unstable_by_key(|(sg, _)| *sg);
        let range_done = work.len() <= max;
        let mut last = after;
        let mut done = 0;
        for (sg, entry) in work.into_iter().take(max) {
            let r = match entry {
                Some(m) => self.install(m),
                None => self.uninstall(sg),
            };
            if let Err(e) = r {
                errs.push(e);
            }
            last = Some(sg);
            done += 1;
        }
        self.resync = match (range_done, page.more) {
            (true, false) => None,
            (true, true) => page.items.last().map(Mfe::sg).map(Some),
            (false, _) => Some(last),
        };
        done
    }

    fn install(&mut self, m: &Mfe<A>) -> Result<(), LinuxError> {
        let parent = self.add_interface(m.iif.index)?;
        let mut first_err = None;
        let mut oifs = Vec::with_capacity(m.oifs.len());
        for o in &m.oifs {
            match self.add_interface(o.index) {
                Ok(v) if v != parent => oifs.push(v),
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        oifs.sort_unstable();
        oifs.dedup();
        let sg = m.sg();
        if let Err(source) = self.kernel.add_mfc(sg, parent, &oifs) {
            self.counters.errors += 1;
            return Err(LinuxError::Kernel {
                op: A::CALLS.add_mfc,
                what: format!("{sg} parent {parent} oifs {oifs:?}"),
                source,
            });
        }
        self.counters.mfc_adds += 1;
        self.installed.insert(sg, KernelEntry { parent, oifs });
        first_err.map_or(Ok(()), Err)
    }

    fn uninstall(&mut self, sg: Sg<A>) -> Result<(), LinuxError> {
        if self.installed.remove(&sg).is_none() {
            return Ok(());
        }
        self.counters.mfc_dels += 1;
        self.kernel.del_mfc(sg).map_err(|source| {
            self.counters.errors += 1;
            LinuxError::Kernel {
                op: A::CALLS.del_mfc,
                what: sg.to_string(),
                source,
            }
        })
    }

    /// Hands an upcall to the engine (a miss to [`Mgm::new_packet`], a wrong-VIF arrival to
    /// [`Mgm::report_wrong_interface`]) and applies the queued changes at once, so the
    /// packets the kernel holds for an unresolved entry are forwarded: at most 8 units of
    /// work, as [`Forwarder::pump_some`] counts them (behind a backlog, the caller's pump
    /// applies the rest; the kernel holds the packets meanwhile).
    ///
    /// # Errors
    /// [`LinuxError::UnknownVif`]; [`LinuxError::Engine`]; the first error of applying.
    pub fn handle_upcall(&mut self, up: &Upcall<A>) -> Result<UpcallOutcome<A>, LinuxError> {
        let Some(ifindex) = self.vifs.ifindex_of(up.vif) else {
            self.counters.errors += 1;
            return Err(LinuxError::UnknownVif { vif: up.vif });
        };
        let arrival = IfKey::new(ifindex);
        let outcome = match up.kind {
            UpcallKind::NoCache => {
                self.counters.nocache += 1;
                let o = self.mgm.new_packet(arrival, up.source, up.group)?;
                if let MissOutcome::Exists(m) = &o {
                    // The engine has it but the kernel asked: the kernel lost it, reinstall
                    // (queued newer changes are applied after, by the pump below).
                    self.install(m)?;
                }
                UpcallOutcome::Miss(o)
            }
            UpcallKind::WrongVif => {
                self.counters.wrongvif += 1;
                UpcallOutcome::WrongInterface(
                    self.mgm
                        .report_wrong_interface(arrival, up.source, up.group)?,
                )
            }
            UpcallKind::Other(_) => UpcallOutcome::Ignored,
        };
        if let Some(e) = self.pump_some(UPCALL_CHANGES).errors.into_iter().next() {
            return Err(e);
        }
        Ok(outcome)
    }

    /// The kernel's counters of one (S,G); `None` when the kernel has no such entry.
    pub fn kernel_counters(&self, sg: Sg<A>) -> Option<KernelCounters> {
        self.kernel.sg_counters(sg).ok()
    }

    /// Copies the kernel's counters of every installed entry into the engine's statistics
    /// ([`Mgm::set_external_counters`]); returns how many entries were updated.
    pub fn sync_counters(&self) -> usize {
        let mut n = 0;
        for sg in self.installed.keys() {
            if let Some(k) = self.kernel_counters(*sg) {
                let c = mgm::ExternalCounters {
                    packets: k.packets,
                    bytes: k.bytes,
                    wrong_if: k.wrong_if,
                };
                if self
                    .mgm
                    .set_external_counters(sg.source, sg.group, c)
                    .is_ok()
                {
                    n += 1;
                }
            }
        }
        n
    }

    /// As [`Forwarder::sync_counters`] for at most `max` entries, resuming after the last
    /// entry the previous call synced and wrapping round at the end: called every second
    /// with `max` far below the table's size, it keeps the cost of a large idle table
    /// bounded, and every entry is synced once per round. Returns how many were updated.
    ///
    /// ```
    /// # use mgm_linux::{Forwarder, Kernel, KernelCounters};
    /// # use mgm_linux::mroute::VifCounters;
    /// # use mgm::{IfKey, Mgm, Sg};
    /// # use std::{io, net::Ipv4Addr};
    /// # #[derive(Default)] struct Table;
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn del_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn add_mfc(&mut self, _: Sg<Ipv4Addr>, _: u16, _: &[u16]) -> io::Result<()> { Ok(()) }
    /// #     fn del_mfc(&mut self, _: Sg<Ipv4Addr>) -> io::Result<()> { Ok(()) }
    /// #     fn sg_counters(&self, _: Sg<Ipv4Addr>) -> io::Result<KernelCounters> { Ok(KernelCounters::default()) }
    /// #     fn vif_counters(&self, _: u16) -> io::Result<VifCounters> { Ok(VifCounters::default()) }
    /// # }
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table).unwrap();
    /// f.add_interface(1).unwrap();
    /// for g in 1..=5 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// assert!(f.pump().is_empty());
    /// assert_eq!(f.sync_counters_some(2), 2);
    /// assert_eq!(f.sync_counters_some(2), 2);
    /// assert_eq!(f.sync_counters_some(2), 1, "the end of the round");
    /// assert_eq!(f.sync_counters_some(2), 2, "the next round");
    /// ```
    pub fn sync_counters_some(&mut self, max: usize) -> usize {
        let from = match self.sync_cursor {
            Some(c) => Bound::Excluded(c),
            None => Bound::Unbounded,
        };
        let batch: Vec<Sg<A>> = self
            .installed
            .range((from, Bound::Unbounded))
            .take(max)
            .map(|(sg, _)| *sg)
            .collect();
        self.sync_cursor = if batch.len() < max {
            None
        } else {
            batch.last().copied()
        };
        let mut n = 0;
        for sg in batch {
            if self.sync_one(sg) {
                n += 1;
            }
        }
        n
    }

    fn sync_one(&self, sg: Sg<A>) -> bool {
        let Some(k) = self.kernel_counters(sg) else {
            return false;
        };
        let c = mgm::ExternalCounters {
            packets: k.packets,
            bytes: k.bytes,
            wrong_if: k.wrong_if,
        };
        self.mgm
            .set_external_counters(sg.source, sg.group, c)
            .is_ok()
    }

    /// One page of [`Forwarder::stats`]: at most `max` entries after `after`, in the
    /// engine's order; `more` says whether others follow.
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the engine is stopped or `max` is 0.
    pub fn stats_page(
        &self,
        after: Option<Sg<A>>,
        max: usize,
    ) -> Result<mgm::Page<ForwardedStats<A>>, LinuxError> {
        let page = self.mgm.mfe_stats_page(after, max)?;
        Ok(mgm::Page {
            items: page
                .items
                .into_iter()
                .map(|s| {
                    let kernel = self.kernel_counters(s.mfe.sg());
                    ForwardedStats { engine: s, kernel }
                })
                .collect(),
            more: page.more,
        })
    }

    /// The kernel's counters of the VIF of `ifindex`.
    pub fn vif_counters(&self, ifindex: u32) -> Option<VifCounters> {
        let vif = self.vifs.vif_of(ifindex)?;
        self.kernel.vif_counters(vif).ok()
    }

    /// Every engine entry with its engine counters and the kernel's counters.
    ///
    /// # Errors
    /// [`LinuxError::Engine`] when the engine is stopped.
    pub fn stats(&self) -> Result<Vec<ForwardedStats<A>>, LinuxError> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.mgm.mfe_stats_page(after, 256)?;
            after = page.items.last().map(|s| s.mfe.sg());
            for s in page.items {
                let kernel = self.kernel_counters(s.mfe.sg());
                out.push(ForwardedStats { engine: s, kernel });
            }
            if !page.more {
                break;
            }
        }
        Ok(out)
    }

    /// Applies the last changes, then removes every entry and VIF from the kernel, in one
    /// call however large the table ([`Forwarder::shutdown_some`] to the end). Returns the
    /// errors met.
    pub fn shutdown(&mut self) -> Vec<LinuxError> {
        let mut errs = Vec::new();
        loop {
            let p = self.shutdown_some(256);
            errs.extend(p.errors);
            if !p.more {
                return errs;
            }
        }
    }

    /// As [`Forwarder::shutdown`], with at most `max` units of work: the changes still to
    /// apply first (as [`Forwarder::pump_some`] counts them), then one unit per entry
    /// removed from the kernel; the VIFs go (at most [`MAXVIFS`] calls) in the call that
    /// finds no entry left. Call it until `more` is false. Changes the engine makes meanwhile
    /// are applied, then removed in turn: stop what makes them (the protocols) first.
    ///
    /// ```
    /// # use mgm_linux::{Forwarder, Kernel, KernelCounters};
    /// # use mgm_linux::mroute::VifCounters;
    /// # use mgm::{IfKey, Mgm, Sg};
    /// # use std::{io, net::Ipv4Addr};
    /// # #[derive(Default)] struct Table;
    /// # impl Kernel<Ipv4Addr> for Table {
    /// #     fn add_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn del_vif(&mut self, _: u16, _: u32) -> io::Result<()> { Ok(()) }
    /// #     fn add_mfc(&mut self, _: Sg<Ipv4Addr>, _: u16, _: &[u16]) -> io::Result<()> { Ok(()) }
    /// #     fn del_mfc(&mut self, _: Sg<Ipv4Addr>) -> io::Result<()> { Ok(()) }
    /// #     fn sg_counters(&self, _: Sg<Ipv4Addr>) -> io::Result<KernelCounters> { Ok(KernelCounters::default()) }
    /// #     fn vif_counters(&self, _: u16) -> io::Result<VifCounters> { Ok(VifCounters::default()) }
    /// # }
    /// let mgm = Mgm::<Ipv4Addr>::default();
    /// let mut f = Forwarder::new(mgm.clone(), Table).unwrap();
    /// for g in 1..=5 {
    ///     mgm.new_packet(IfKey::new(1), Ipv4Addr::new(203, 0, 113, 9), Ipv4Addr::new(239, 0, 0, g)).unwrap();
    /// }
    /// let p = f.shutdown_some(4);
    /// assert_eq!((p.applied, p.more, f.installed().len()), (4, true, 4), "four changes applied");
    /// let p = f.shutdown_some(4);
    /// assert_eq!((p.applied, p.more, f.installed().len()), (4, true, 2), "the last change, three removed");
    /// let p = f.shutdown_some(4);
    /// assert_eq!((p.applied, p.more, f.installed().len()), (2, false, 0));
    /// assert_eq!(f.vifs().iter().count(), 0, "the VIFs went last");
    /// ```
    pub fn shutdown_some(&mut self, max: usize) -> Pumped {
        let mut out = self.pump_some(max);
        if out.more {
            return out;
        }
        let left = max - out.applied;
        let sgs: Vec<Sg<A>> = self.installed.keys().take(left).copied().collect();
        for sg in sgs {
            if let Err(e) = self.uninstall(sg) {
                out.errors.push(e);
            }
            out.applied += 1;
        }
        if self.installed.is_empty() {
            let ifs: Vec<u32> = self.vifs.iter().map(|(_, i)| i).collect();
            for i in ifs {
                if let Err(e) = self.remove_interface(i) {
                    out.errors.push(e);
                }
            }
        }
        out.more = !self.installed.is_empty() || self.pending();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgm::Route;
    use mgm::{DefaultHooks, MS_IP_IGMP};
    use mgm::{Selector, JOIN};
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    /// A kernel table in memory.
    #[derive(Default)]
    struct FakeKernel {
        vifs: BTreeMap<u16, u32>,
        mfcs: BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)>,
    }

    impl Kernel<Ipv4Addr> for FakeKernel {
        fn add_vif(&mut self, vif: u16, ifindex: u32) -> io::Result<()> {
            self.vifs.insert(vif, ifindex);
            Ok(())
        }
        fn del_vif(&mut self, vif: u16, _: u32) -> io::Result<()> {
            self.vifs.remove(&vif);
            for (_, o) in self.mfcs.values_mut() {
                o.retain(|x| *x != vif);
            }
            Ok(())
        }
        fn add_mfc(&mut self, sg: Sg<Ipv4Addr>, parent: u16, oifs: &[u16]) -> io::Result<()> {
            self.mfcs.insert(sg, (parent, oifs.to_vec()));
            Ok(())
        }
        fn del_mfc(&mut self, sg: Sg<Ipv4Addr>) -> io::Result<()> {
            self.mfcs
                .remove(&sg)
                .map(|_| ())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
        fn sg_counters(&self, sg: Sg<Ipv4Addr>) -> io::Result<KernelCounters> {
            if self.mfcs.contains_key(&sg) {
                Ok(KernelCounters {
                    packets: 5,
                    bytes: 500,
                    wrong_if: 0,
                })
            } else {
                Err(io::Error::from(io::ErrorKind::NotFound))
            }
        }
        fn vif_counters(&self, _: u16) -> io::Result<VifCounters> {
            Ok(VifCounters::default())
        }
    }

    #[test]
    fn nocache_builds_the_entry_and_membership_changes_follow() {
        let mgm = Mgm::<Ipv4Addr>::default();
        let (igmp, _ev) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
        mgm.take_interface(igmp, IfKey::new(20)).unwrap();
        mgm.add_route(Route::new(
            Ipv4Addr::new(198, 51, 100, 0),
            24,
            IfKey::new(10),
        ))
        .unwrap();
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        assert_eq!(f.add_interface(10).unwrap(), 0);
        assert_eq!(f.add_interface(20).unwrap(), 1);
        let g = Ipv4Addr::new(239, 1, 2, 3);
        let s = Ipv4Addr::new(198, 51, 100, 2);
        mgm.add_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN)
            .unwrap();
        let up = Upcall {
            kind: UpcallKind::NoCache,
            vif: 0,
            source: s,
            group: g,
        };
        assert!(matches!(
            f.handle_upcall(&up).unwrap(),
            UpcallOutcome::Miss(MissOutcome::Created(_))
        ));
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
        mgm.delete_membership(igmp, Selector::Group(g), IfKey::new(20), JOIN)
            .unwrap();
        assert!(f.pump().is_empty());
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![]));
        let stats = f.stats().unwrap();
        assert_eq!(stats[0].kernel.unwrap().packets, 5);
        assert_eq!(stats[0].engine.in_packets, 0, "not synced yet");
        assert_eq!(f.sync_counters(), 1);
        let synced = mgm.mfe_stats(s, g).unwrap();
        assert_eq!((synced.in_packets, synced.in_octets), (5, 500));
        // A wrong-VIF upcall reaches the engine (nobody owns if20 as a routing protocol).
        let wrong = Upcall {
            kind: UpcallKind::WrongVif,
            vif: 1,
            ..up
        };
        assert_eq!(
            f.handle_upcall(&wrong).unwrap(),
            UpcallOutcome::WrongInterface(false)
        );
        assert!(f.shutdown().is_empty());
        assert!(f.kernel().mfcs.is_empty() && f.kernel().vifs.is_empty());
    }

    /// An engine queueing at most `queue_capacity` batches per subscriber, with an IGMP
    /// client on if20 and a route to 198.51.100.0/24 through if10; the client's events are
    /// kept with it.
    fn igmp_engine(
        queue_capacity: usize,
    ) -> (
        Mgm<Ipv4Addr>,
        mgm::ProtocolHandle,
        mgm::EventReceiver<Ipv4Addr>,
    ) {
        let mgm = Mgm::<Ipv4Addr>::new(mgm::Config {
            queue_capacity,
            ..mgm::Config::default()
        });
        let (igmp, ev) = mgm.register(MS_IP_IGMP, 1, Arc::new(DefaultHooks)).unwrap();
        mgm.take_interface(igmp, IfKey::new(20)).unwrap();
        let net = Ipv4Addr::new(198, 51, 100, 0);
        mgm.add_route(Route::new(net, 24, IfKey::new(10))).unwrap();
        (mgm, igmp, ev)
    }

    #[test]
    fn a_lost_southbound_stream_is_resynced_to_the_engine() {
        let (mgm, igmp, _ev) = igmp_engine(2);
        let net = Ipv4Addr::new(198, 51, 100, 0);
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        let s = Ipv4Addr::new(198, 51, 100, 2);
        let g = |i| Ipv4Addr::new(239, 0, 0, i);
        for i in [1, 2] {
            mgm.new_packet(IfKey::new(10), s, g(i)).unwrap();
        }
        assert!(f.pump().is_empty());
        assert_eq!(f.kernel().mfcs.len(), 2);
        // The forwarder stops pumping: two batches fit, the rest is lost.
        mgm.new_packet(IfKey::new(10), s, g(3)).unwrap();
        mgm.add_membership(igmp, Selector::Group(g(1)), IfKey::new(20), JOIN)
            .unwrap();
        mgm.remove_route(net, 24).unwrap(); // deletes g1, g2, g3
        let unroutable = Ipv4Addr::new(203, 0, 113, 9);
        mgm.new_packet(IfKey::new(30), unroutable, g(4)).unwrap();
        assert_eq!(mgm.counters().dropped, 4, "three deletions and one install");
        assert!(f.pump().is_empty());
        let engine: Vec<Sg<Ipv4Addr>> = mgm
            .mfes(None, 10)
            .unwrap()
            .items
            .iter()
            .map(Mfe::sg)
            .collect();
        assert_eq!(engine, vec![Sg::new(unroutable, g(4))]);
        let kernel: Vec<Sg<Ipv4Addr>> = f.kernel().mfcs.keys().copied().collect();
        assert_eq!(kernel, engine, "the kernel's MFCs are the engine's again");
        assert_eq!(f.installed().keys().copied().collect::<Vec<_>>(), engine);
        let parent = f.vifs().vif_of(30).unwrap();
        assert_eq!(f.kernel().mfcs[&engine[0]], (parent, vec![]));
    }

    /// What the kernel table should hold for the engine's entries now.
    fn engine_table(
        f: &Forwarder<Ipv4Addr, FakeKernel>,
        mgm: &Mgm<Ipv4Addr>,
    ) -> BTreeMap<Sg<Ipv4Addr>, (u16, Vec<u16>)> {
        let vif = |i: u32| f.vifs().vif_of(i).expect("every interface has a VIF");
        mgm.mfes(None, 1000)
            .unwrap()
            .items
            .iter()
            .map(|m| {
                let parent = vif(m.iif.index);
                let mut oifs: Vec<u16> = m.oifs.iter().map(|o| vif(o.index)).collect();
                oifs.retain(|v| *v != parent);
                oifs.sort_unstable();
                (m.sg(), (parent, oifs))
            })
            .collect()
    }

    /// One `pump_some(max)`, checked to have made at most `max` kernel calls without error.
    fn pump_checked(f: &mut Forwarder<Ipv4Addr, FakeKernel>, max: usize) -> Pumped {
        let calls = |c: ForwarderCounters| c.mfc_adds + c.mfc_dels;
        let before = calls(f.counters());
        let p = f.pump_some(max);
        let made = calls(f.counters()) - before;
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert!(
            p.applied <= max,
            "{} units for a budget of {max}",
            p.applied
        );
        assert!(
            made <= max as u64,
            "{made} kernel calls for a budget of {max}"
        );
        assert_eq!(p.more, f.pending());
        p
    }

    #[test]
    fn the_pump_applies_its_budget_and_holds_the_rest_in_order() {
        let (mgm, igmp, _ev) = igmp_engine(mgm::Config::default().queue_capacity);
        let net = Ipv4Addr::new(198, 51, 100, 0);
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        let s = Ipv4Addr::new(198, 51, 100, 2);
        let g = |i| Ipv4Addr::new(239, 0, 0, i);
        // Twenty batches of one install each.
        for i in 1..=20 {
            mgm.new_packet(IfKey::new(10), s, g(i)).unwrap();
        }
        let zero = pump_checked(&mut f, 0);
        assert_eq!((zero.applied, zero.more), (0, true));
        assert!(f.kernel().mfcs.is_empty());
        for (applied, more, installed) in [(8, true, 8), (8, true, 16), (4, false, 20)] {
            let p = pump_checked(&mut f, 8);
            assert_eq!((p.applied, p.more), (applied, more));
            let first: Vec<Sg<Ipv4Addr>> = (1..=installed).map(|i| Sg::new(s, g(i))).collect();
            assert_eq!(
                f.kernel().mfcs.keys().copied().collect::<Vec<_>>(),
                first,
                "the oldest changes first"
            );
        }
        // A member on if20 changes g1, then one batch deletes all twenty.
        mgm.add_membership(igmp, Selector::Group(g(1)), IfKey::new(20), JOIN)
            .unwrap();
        mgm.remove_route(net, 24).unwrap();
        assert_eq!(pump_checked(&mut f, 1).applied, 1);
        assert_eq!(f.kernel().mfcs.len(), 20);
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g(1))], (0, vec![1]));
        let p = pump_checked(&mut f, 5);
        assert_eq!(
            (p.applied, p.more),
            (5, true),
            "part of the batch, the rest held"
        );
        assert_eq!(f.kernel().mfcs.len(), 15);
        let p = pump_checked(&mut f, 100);
        assert_eq!((p.applied, p.more), (15, false));
        assert!(f.kernel().mfcs.is_empty() && f.installed().is_empty());
        assert!(!f.pending());
    }

    #[test]
    fn a_resync_runs_in_pages_and_the_changes_made_meanwhile_follow_it() {
        let (mgm, igmp, _ev) = igmp_engine(3);
        let gone = Ipv4Addr::new(203, 0, 113, 0);
        mgm.add_route(Route::new(gone, 24, IfKey::new(30))).unwrap();
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        let (s_kept, s_gone) = (
            Ipv4Addr::new(198, 51, 100, 2),
            Ipv4Addr::new(203, 0, 113, 2),
        );
        let g = |i| Ipv4Addr::new(239, 0, 0, i);
        // g1 and g10..g12 stay; g2..g9 and g30..g37, runs longer than the budget (one
        // between two engine entries, one at the end), go with their route.
        for i in (1..=12).chain(30..=37) {
            let (s, iif) = if i >= 30 || (2..=9).contains(&i) {
                (s_gone, 30)
            } else {
                (s_kept, 10)
            };
            mgm.new_packet(IfKey::new(iif), s, g(i)).unwrap();
            pump_checked(&mut f, 100);
        }
        assert_eq!(f.kernel().mfcs.len(), 20);
        // Three batches fill the queue; the fourth, the route's deletions, is lost.
        mgm.new_packet(IfKey::new(10), s_kept, g(13)).unwrap();
        mgm.new_packet(IfKey::new(10), s_kept, g(14)).unwrap();
        mgm.add_membership(igmp, Selector::Group(g(1)), IfKey::new(20), JOIN)
            .unwrap();
        mgm.remove_route(gone, 24).unwrap();
        assert_eq!(mgm.counters().dropped, 16);
        // Pump until the walk is past g4, three units a call.
        let budget = 3;
        let mut calls = 0;
        while !matches!(f.resync, Some(Some(k)) if k.group > g(4)) {
            assert!(pump_checked(&mut f, budget).more, "the walk got past g4");
            calls += 1;
            assert!(calls < 20, "no progress");
        }
        let member = f.vifs().vif_of(20).unwrap();
        assert_eq!(f.kernel().mfcs[&Sg::new(s_kept, g(1))], (0, vec![member]));
        // Meanwhile: g1 loses its member (walked already), an entry appears behind the walk
        // and one ahead of it.
        mgm.delete_membership(igmp, Selector::Group(g(1)), IfKey::new(20), JOIN)
            .unwrap();
        mgm.new_packet(IfKey::new(10), s_kept, g(3)).unwrap();
        mgm.new_packet(IfKey::new(10), s_kept, g(20)).unwrap();
        assert_eq!(mgm.counters().dropped, 16, "nothing more lost");
        let behind = Sg::new(s_kept, g(3));
        let mut walk_calls = 0;
        while f.resync.is_some() {
            assert!(
                !f.kernel().mfcs.contains_key(&behind),
                "applied before the walk ended"
            );
            assert_eq!(
                f.kernel().mfcs[&Sg::new(s_kept, g(1))],
                (0, vec![member]),
                "the walk's state until the walk ends"
            );
            pump_checked(&mut f, budget);
            walk_calls += 1;
            assert!(walk_calls < 20, "no progress");
        }
        assert!(walk_calls >= 2, "the walk took {walk_calls} calls");
        while pump_checked(&mut f, budget).more {}
        assert!(!f.pending());
        let want = engine_table(&f, &mgm);
        let groups: Vec<Ipv4Addr> = want.keys().map(|sg| sg.group).collect();
        assert_eq!(groups, [1, 3, 10, 11, 12, 13, 14, 20].map(g));
        assert_eq!(f.kernel().mfcs, want, "the kernel's MFCs are the engine's");
        assert_eq!(
            f.installed().keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        assert_eq!(f.kernel().mfcs[&Sg::new(s_kept, g(1))], (0, vec![]));
    }

    /// The i-th (S,G) of a large table: sources 198.51.100.2.. over groups 239.0.x.y.
    fn nth(i: u32) -> (Ipv4Addr, Ipv4Addr) {
        (
            Ipv4Addr::new(198, 51, 100, 2 + (i % 4) as u8),
            Ipv4Addr::from(0xef00_0000 + i / 4),
        )
    }

    #[test]
    fn the_first_install_goes_in_pages_with_the_changes_after_it() {
        let (mgm, igmp, _ev) = igmp_engine(mgm::Config::default().queue_capacity);
        for i in 0..600 {
            let (s, g) = nth(i);
            mgm.new_packet(IfKey::new(10), s, g).unwrap();
        }
        // A member of the first group: its entries have an oif.
        let first = nth(0).1;
        mgm.add_membership(igmp, Selector::Group(first), IfKey::new(20), JOIN)
            .unwrap();
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        let c = f.counters();
        assert_eq!((c.mfc_adds, c.mfc_dels), (FIRST_PAGE as u64, 0));
        assert_eq!(f.kernel().mfcs.len(), FIRST_PAGE, "the first page only");
        assert!(f.pending());
        let member = f.vifs().vif_of(20).unwrap();
        assert_eq!(
            f.kernel().mfcs[&Sg::new(nth(0).0, first)],
            (0, vec![member])
        );
        // While the walk goes on: an entry behind it goes, one ahead of it goes, and a new
        // one appears at the end of the key space.
        let behind = nth(1);
        let ahead = nth(590);
        let (routing, _rev) = mgm
            .register(0x4137_0016, 1, Arc::new(DefaultHooks))
            .unwrap();
        mgm.take_interface(routing, IfKey::new(10)).unwrap();
        mgm.delete_mfe(routing, behind.0, behind.1).unwrap();
        mgm.delete_mfe(routing, ahead.0, ahead.1).unwrap();
        let late = (
            Ipv4Addr::new(198, 51, 100, 9),
            Ipv4Addr::new(239, 255, 0, 1),
        );
        mgm.new_packet(IfKey::new(10), late.0, late.1).unwrap();
        let mut calls = 0;
        while pump_checked(&mut f, 8).more {
            calls += 1;
            assert!(calls < 1000, "no progress");
        }
        assert!(calls >= (600 - FIRST_PAGE) / 8, "{calls} calls of 8");
        let want = engine_table(&f, &mgm);
        assert_eq!(want.len(), 599);
        assert!(!want.contains_key(&Sg::new(behind.0, behind.1)));
        assert!(!want.contains_key(&Sg::new(ahead.0, ahead.1)));
        assert!(want.contains_key(&Sg::new(late.0, late.1)));
        assert_eq!(f.kernel().mfcs, want, "the kernel's MFCs are the engine's");
    }

    #[test]
    fn a_forwarder_on_a_stopped_engine_is_refused() {
        let mgm = Mgm::<Ipv4Addr>::default();
        mgm.stop();
        let e = Forwarder::new(mgm, FakeKernel::default()).err().unwrap();
        assert!(matches!(e, LinuxError::Engine(mgm::Error::Stopped)), "{e}");
    }

    #[test]
    fn shutdown_goes_in_budgets_and_leaves_nothing() {
        let (mgm, _igmp, _ev) = igmp_engine(mgm::Config::default().queue_capacity);
        for i in 0..100 {
            let (s, g) = nth(i);
            mgm.new_packet(IfKey::new(10), s, g).unwrap();
        }
        let mut f = Forwarder::new(mgm.clone(), FakeKernel::default()).unwrap();
        f.add_interface(20).unwrap();
        assert_eq!(f.kernel().mfcs.len(), 100);
        let calls = |c: ForwarderCounters| c.mfc_adds + c.mfc_dels;
        let mut rounds = 0;
        loop {
            let before = calls(f.counters());
            let p = f.shutdown_some(16);
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            assert!(p.applied <= 16 && calls(f.counters()) - before <= 16);
            rounds += 1;
            if !p.more {
                break;
            }
            assert!(!f.kernel().vifs.is_empty(), "the VIFs go last");
        }
        assert_eq!(rounds, 7, "100 entries in calls of 16");
        assert!(f.kernel().mfcs.is_empty() && f.kernel().vifs.is_empty());
        assert!(f.installed().is_empty() && f.vifs().iter().next().is_none());
    }

    #[test]
    fn more_than_32_interfaces_is_a_clear_error() {
        let mgm = Mgm::<Ipv4Addr>::default();
        let mut f = Forwarder::new(mgm, FakeKernel::default()).unwrap();
        for i in 0..32 {
            f.add_interface(100 + i).unwrap();
        }
        let e = f.add_interface(200).unwrap_err();
        assert!(matches!(e, LinuxError::TooManyVifs { ifindex: 200, .. }));
        assert!(e.to_string().contains("32 VIFs"), "{e}");
        // An entry needing the 33rd interface as an oif is installed without it, with the error.
        let (s, g) = (Ipv4Addr::new(198, 51, 100, 2), Ipv4Addr::new(239, 1, 2, 3));
        let m = Mfe {
            source: s,
            group: g,
            upstream: Ipv4Addr::UNSPECIFIED,
            iif: IfKey::new(100),
            iif_protocol: None,
            route: None,
            up_time: Default::default(),
            expiry: None,
            timeout: None,
            oifs: vec![IfKey::new(101), IfKey::new(200)],
        };
        assert!(f.apply(&MfeChange::Installed(m)).is_err());
        assert_eq!(f.kernel().mfcs[&Sg::new(s, g)], (0, vec![1]));
    }
}
