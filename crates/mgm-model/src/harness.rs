//! Drives the engine and the model with the same operations and compares everything the
//! engine lets one observe: every return value (Ok value or error variant), every event and
//! every hook call of every protocol (kind, arguments, order, at most one batch per protocol
//! per operation), the whole MFE table, interfaces, memberships, routes, counters, the
//! southbound change stream (replayed into a table) and reader verdicts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use arbitrary::Arbitrary;

use super::common::{look, Addrs, Seen, TestHooks};
use super::ops::{ERef, HRef, HookSeed, Op, Pools};
use super::{HookAnswers, MConfig, MResult, MStats, MVerdict, Model, ME};
use mgm::{
    Batches, Config, EnumKind, EnumerationHandle, EventReceiver, ManualClock, MembershipFlags,
    MfeChange, Mgm, PacketKey, ProtocolHandle, Reader, RpfDecision, Sg, Verdict, FORWARD, JOIN,
};

/// The engine settings a case runs with.
#[derive(Arbitrary, Clone, Copy, Debug, Default)]
pub struct CaseSeed {
    pub timeout: u8,
    pub refresh: bool,
    pub wrong_if: u8,
}

impl CaseSeed {
    pub fn config(&self) -> MConfig {
        MConfig {
            max_mfes: 6,
            max_protocols: 4,
            max_enumerations: 3,
            default_timeout: match self.timeout % 4 {
                0 => Some(Duration::from_secs(900)),
                1 => Some(Duration::from_secs(20)),
                2 => Some(Duration::ZERO),
                _ => None,
            },
            refresh_on_traffic: self.refresh,
            wrong_if_interval: match self.wrong_if % 3 {
                0 => Some(Duration::from_secs(3)),
                1 => None,
                _ => Some(Duration::ZERO),
            },
        }
    }
}

struct Reg<A: Addrs> {
    h: ProtocolHandle,
    ev: EventReceiver<A>,
    hooks: Arc<TestHooks<A>>,
}

pub struct Harness<A: Addrs> {
    pub mgm: Mgm<A>,
    clock: ManualClock,
    pub model: Model<A>,
    regs: Vec<Reg<A>>,
    enums: Vec<EnumerationHandle>,
    reader: Reader<A>,
    south: Batches<MfeChange<A>>,
    south_table: BTreeMap<Sg<A>, (mgm::IfKey<A>, Vec<mgm::IfKey<A>>)>,
    raws: BTreeSet<u64>,
    steps: usize,
    /// The engine calls the last operation made (each may send one batch of callbacks).
    calls: usize,
    /// Operations applied so far (for failure messages).
    pub log: Vec<String>,
    /// How many events and hook calls of each kind were compared (coverage).
    pub seen: BTreeMap<String, usize>,
}

fn answers<A: Addrs>(s: HookSeed) -> HookAnswers<A> {
    HookAnswers {
        veto: (0..Pools::KEYS as u8)
            .filter(|b| s.veto >> b & 1 == 1)
            .map(Pools::key)
            .collect(),
        rpf: (s.rpf % 4 == 3).then(|| RpfDecision {
            iif: Pools::key(s.rpf >> 2),
            upstream: Pools::upstream(s.rpf >> 5),
        }),
        timeout: Pools::timeout(s.timeout),
    }
}

fn set_hooks<A: Addrs>(h: &TestHooks<A>, a: &HookAnswers<A>) {
    *h.veto.lock().unwrap() = a.veto.clone();
    *h.rpf.lock().unwrap() = a.rpf;
    *h.timeout.lock().unwrap() = a.timeout;
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A forged raw value: plausible (right kind tag, small generation and slot) or random.
fn forged(tag: u64, a: u8, b: u16) -> u64 {
    if a & 1 == 0 {
        tag << 62 | u64::from(b >> 3 & 7) << 32 | u64::from(b & 7)
    } else {
        splitmix(u64::from(b) << 8 | u64::from(a))
    }
}

fn same<T: PartialEq + Debug>(what: &str, engine: T, model: T) -> Result<(), String> {
    if engine == model {
        Ok(())
    } else {
        Err(format!(
            "{what}: engine and model differ\n  engine: {engine:?}\n  model:  {model:?}"
        ))
    }
}

/// `run_timers_some(max)` called until it says no more is due: the entries expired in all
/// (an error when a call exceeds its budget or the calls do not end), and the calls made.
fn run_timers_in_slices<A: mgm::Family>(mgm: &Mgm<A>, max: usize) -> (MResult<usize>, usize) {
    let mut expired = 0;
    for calls in 1..=100_000 {
        let run = match res(mgm.run_timers_some(max)) {
            Ok(r) => r,
            Err(e) => return (Err(e), calls),
        };
        if run.expired > max {
            let e = format!("run_timers_some({max}) expired {} entries", run.expired);
            return (Err(ME::Other(e)), calls);
        }
        expired += run.expired;
        if !run.more {
            return (Ok(expired), calls);
        }
    }
    let e = format!("run_timers_some({max}) still said more after 100000 calls");
    (Err(ME::Other(e)), 100_000)
}

fn res<T>(r: mgm::Result<T>) -> MResult<T> {
    r.map_err(|e| ME::of(&e))
}

fn flags(f: u8) -> (MembershipFlags, bool, bool) {
    match f % 3 {
        0 => (JOIN, true, false),
        1 => (FORWARD, false, true),
        _ => (JOIN | FORWARD, true, true),
    }
}

fn seen<A: Addrs>(v: Seen<A>) -> MVerdict<A> {
    match v {
        Seen::Forward(o) => MVerdict::Forward(o),
        Seen::WrongInterface(i) => MVerdict::WrongInterface(i),
        Seen::Negative => MVerdict::Negative,
        Seen::Miss => MVerdict::Miss,
    }
}

fn engine_stats<A: Addrs>(s: mgm::MfeStats<A>) -> Result<MStats<A>, String> {
    let total: u64 = s.oifs.iter().map(|o| o.out_packets).sum();
    if s.total_out_packets != total || s.uninit != 0 {
        return Err(format!(
            "stats inconsistent: total {} vs sum {total}, uninit {}",
            s.total_out_packets, s.uninit
        ));
    }
    Ok(MStats {
        mfe: s.mfe,
        in_packets: s.in_packets,
        in_octets: s.in_octets,
        different_if: s.different_if,
        negative: s.negative,
        out: s
            .oifs
            .iter()
            .map(|o| (o.interface, o.out_packets))
            .collect(),
    })
}

impl<A: Addrs> Harness<A> {
    pub fn new(seed: CaseSeed) -> Self {
        let cfg = seed.config();
        let clock = ManualClock::new();
        let mgm = Mgm::with_clock(
            Config {
                max_workers: 2,
                max_mfes: cfg.max_mfes,
                default_timeout: cfg.default_timeout,
                refresh_on_traffic: cfg.refresh_on_traffic,
                wrong_if_interval: cfg.wrong_if_interval,
                max_protocols: cfg.max_protocols,
                max_enumerations: cfg.max_enumerations,
                ..Config::default()
            },
            Arc::new(clock.clone()),
        );
        let reader = mgm.reader().expect("a reader");
        let south = mgm.subscribe();
        Harness {
            calls: 1,
            mgm,
            clock,
            model: Model::new(cfg),
            regs: Vec::new(),
            enums: Vec::new(),
            reader,
            south,
            south_table: BTreeMap::new(),
            raws: BTreeSet::new(),
            steps: 0,
            log: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    /// The raw protocol handle to pass and the registration the model should take it for.
    fn proto(&self, r: HRef) -> (ProtocolHandle, Option<usize>) {
        let HRef(a, b) = r;
        let live: Vec<usize> = (0..self.regs.len())
            .filter(|i| self.model.protos[*i].live)
            .collect();
        if a < 192 && !live.is_empty() {
            let i = live[usize::from(b) % live.len()];
            return (self.regs[i].h, Some(i));
        }
        if a < 224 && !self.regs.is_empty() {
            let i = usize::from(b) % self.regs.len();
            return (self.regs[i].h, Some(i));
        }
        let raw = if a >= 248 && !self.enums.is_empty() {
            self.enums[usize::from(b) % self.enums.len()].raw()
        } else {
            forged(1, a, b)
        };
        (ProtocolHandle::from_raw(raw), self.live_proto(raw))
    }

    fn live_proto(&self, raw: u64) -> Option<usize> {
        (0..self.regs.len()).find(|i| self.regs[*i].h.raw() == raw && self.model.protos[*i].live)
    }

    fn enumeration(&self, r: ERef) -> (EnumerationHandle, Option<usize>) {
        let ERef(a, b) = r;
        if a < 224 && !self.enums.is_empty() {
            let i = usize::from(b) % self.enums.len();
            return (self.enums[i], Some(i));
        }
        let raw = if a >= 248 && !self.regs.is_empty() {
            self.regs[usize::from(b) % self.regs.len()].h.raw()
        } else {
            forged(2, a, b)
        };
        let live = (0..self.enums.len())
            .find(|i| self.enums[*i].raw() == raw && self.model.enums[*i].live);
        (EnumerationHandle::from_raw(raw), live)
    }

    fn fresh_raw(&mut self, raw: u64) -> Result<(), String> {
        if self.raws.insert(raw) {
            Ok(())
        } else {
            Err(format!("handle {raw:#x} issued twice"))
        }
    }

    /// Applies one operation to both and compares everything.
    pub fn step(&mut self, op: &Op) -> Result<(), String> {
        self.steps += 1;
        self.log.push(format!("{op:?}"));
        self.calls = 1;
        self.apply(op).map_err(|e| self.fail(e))?;
        self.check_events().map_err(|e| self.fail(e))?;
        self.check_state().map_err(|e| self.fail(e))?;
        if self.steps & 15 == 0 {
            self.scan().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Runs a whole sequence, then scans every key once more.
    pub fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        for op in ops {
            self.step(op)?;
        }
        self.scan().map_err(|e| self.fail(e))
    }

    fn fail(&self, e: String) -> String {
        let tail: Vec<&String> = self.log.iter().rev().take(12).collect();
        let tail: Vec<&&String> = tail.iter().rev().collect();
        format!(
            "step {} ({} family): {e}\nlast operations:\n{}",
            self.steps,
            A::BITS,
            tail.iter()
                .map(|s| format!("  {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    }

    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let (mgm, m) = (&self.mgm, &mut self.model);
        match *op {
            Op::Register {
                proto,
                component,
                hooks,
            } => {
                let id = Pools::protocol(proto);
                let comp = u32::from(component % 2) + 1;
                let a = answers::<A>(hooks);
                let th = Arc::new(TestHooks::default());
                set_hooks(&th, &a);
                let want = m.register(id, comp, a);
                let got = mgm.register(id, comp, th.clone());
                match (got, want) {
                    (Ok((h, ev)), Ok(i)) => {
                        if i != self.regs.len() {
                            return Err("model registration index".into());
                        }
                        self.fresh_raw(h.raw())?;
                        self.regs.push(Reg { h, ev, hooks: th });
                    }
                    (got, want) => same("register", res(got.map(|_| ())), want.map(|_| ()))?,
                }
            }
            Op::SetHooks { p, hooks } => {
                if !self.regs.is_empty() {
                    let i = usize::from(p) % self.regs.len();
                    let a = answers::<A>(hooks);
                    set_hooks(&self.regs[i].hooks, &a);
                    m.protos[i].answers = a;
                }
            }
            Op::Deregister { p } => {
                let (h, i) = self.proto(p);
                let want = self.model.deregister(i);
                same("deregister", res(self.mgm.deregister(h)), want)?;
            }
            Op::Take { p, k } => {
                let (h, i) = self.proto(p);
                let k = Pools::key(k);
                let want = self.model.take(i, k);
                same("take", res(self.mgm.take_interface(h, k)), want)?;
            }
            Op::Release { p, k } => {
                let (h, i) = self.proto(p);
                let k = Pools::key(k);
                let want = self.model.release(i, k);
                same("release", res(self.mgm.release_interface(h, k)), want)?;
            }
            Op::ProtocolOn { k } => {
                let k = Pools::key(k);
                same(
                    "protocol_on_interface",
                    res(mgm.protocol_on_interface(k)),
                    m.protocol_on(k),
                )?;
            }
            Op::Add {
                p,
                sel,
                k,
                flags: f,
            }
            | Op::Delete {
                p,
                sel,
                k,
                flags: f,
            } => {
                let (h, i) = self.proto(p);
                let (sel, k) = (Pools::selector::<A>(sel), Pools::key::<A>(k));
                let (fl, join, fwd) = flags(f);
                let (got, want) = if matches!(op, Op::Add { .. }) {
                    let want = self.model.add(i, sel, k, join, fwd);
                    (self.mgm.add_membership(h, sel, k, fl), want)
                } else {
                    let want = self.model.delete(i, sel, k, join, fwd);
                    (self.mgm.delete_membership(h, sel, k, fl), want)
                };
                same(op.kind(), res(got), want)?;
            }
            Op::NewPacket { k, s, g } => {
                let (k, s, g) = (Pools::key(k), Pools::source::<A>(s), Pools::group::<A>(g));
                let want = m.new_packet(k, s, g);
                same("new_packet", res(mgm.new_packet(k, s, g)), want)?;
            }
            Op::Lookup { k, s, g, bytes } => {
                let (k, s, g) = (Pools::key(k), Pools::source::<A>(s), Pools::group::<A>(g));
                let want = m.lookup(k, s, g, u32::from(bytes));
                let got = seen(look(&mut self.reader, k, s, g, u32::from(bytes)));
                same("lookup", got, want)?;
            }
            Op::Burst { keys } => {
                let packets: Vec<PacketKey<A>> = keys
                    .iter()
                    .map(|(k, s, g)| PacketKey {
                        arrival: Pools::key(*k),
                        source: Pools::source(*s),
                        group: Pools::group(*g),
                        bytes: 100,
                    })
                    .collect();
                let want: Vec<MVerdict<A>> = packets
                    .iter()
                    .map(|p| m.lookup(p.arrival, p.source, p.group, p.bytes))
                    .collect();
                let mut out = [Verdict::Miss; 3];
                let n = self
                    .reader
                    .lookup_burst(&packets, &mut out)
                    .map_err(|e| format!("burst refused: {e}"))?;
                let got: Vec<MVerdict<A>> = out[..n]
                    .iter()
                    .map(|v| match v {
                        Verdict::Forward(o) => MVerdict::Forward(o.to_vec()),
                        Verdict::WrongInterface { iif } => MVerdict::WrongInterface(*iif),
                        Verdict::Negative => MVerdict::Negative,
                        Verdict::Miss => MVerdict::Miss,
                    })
                    .collect();
                same("lookup_burst", got, want)?;
            }
            Op::WrongIf { k, s, g } => {
                let (k, s, g) = (Pools::key(k), Pools::source::<A>(s), Pools::group::<A>(g));
                let want = m.report_wrong_interface(k, s, g);
                same(
                    "report_wrong_interface",
                    res(mgm.report_wrong_interface(k, s, g)),
                    want,
                )?;
            }
            Op::AddRoute { r, k, up } => {
                let route = Pools::route::<A>(r, k, up);
                let want = m.add_route(route);
                same("add_route", res(mgm.add_route(route)), want)?;
            }
            Op::RemoveRoute { r } => {
                let (p, l) = Pools::prefix::<A>(r);
                let want = m.remove_route(p, l);
                same("remove_route", res(mgm.remove_route(p, l)), want)?;
            }
            Op::Advance { t } => {
                let d = Pools::advance(t);
                self.clock.advance(d);
                m.advance(d);
            }
            Op::RunTimers => {
                let want = m.run_timers();
                same("run_timers", res(mgm.run_timers()), want)?;
            }
            Op::RunTimersSome { max } => {
                // Budgets 0 to 3: slices small enough that the due timers take several.
                let max = usize::from(max % 4);
                let want = if max == 0 {
                    m.running().and(Err(ME::OutOfRange))
                } else {
                    m.run_timers()
                };
                let (got, calls) = run_timers_in_slices(mgm, max);
                self.calls = calls;
                same("run_timers_some", got, want)?;
            }
            Op::SetMfe { p, s, g, up } => {
                let (h, i) = self.proto(p);
                let (s, g, up) = (
                    Pools::source::<A>(s),
                    Pools::group::<A>(g),
                    Pools::upstream::<A>(up),
                );
                let want = self.model.set_mfe(i, s, g, up);
                same("set_mfe", res(self.mgm.set_mfe(h, s, g, up)), want)?;
            }
            Op::Get { s, g, stats } => {
                let (s, g) = (Pools::source::<A>(s), Pools::group::<A>(g));
                if stats {
                    let got = match mgm.mfe_stats(s, g) {
                        Ok(st) => Ok(engine_stats(st)?),
                        Err(e) => Err(ME::of(&e)),
                    };
                    same("mfe_stats", got, m.mfe_stats(s, g))?;
                } else {
                    same("mfe", res(mgm.mfe(s, g)), m.mfe(s, g))?;
                }
            }
            Op::Walk { after, max, stats } => {
                let after = after.map(|(s, g)| Sg::new(Pools::source::<A>(s), Pools::group(g)));
                let max = usize::from(max % 6);
                let want = m.walk(after, max);
                if stats {
                    let got = match mgm.mfe_stats_page(after, max) {
                        Ok(p) => Ok((
                            p.items
                                .into_iter()
                                .map(engine_stats)
                                .collect::<Result<Vec<_>, _>>()?,
                            p.more,
                        )),
                        Err(e) => Err(ME::of(&e)),
                    };
                    let want = want.map(|(keys, more)| {
                        (
                            keys.into_iter().map(|k| m.stats(k)).collect::<Vec<_>>(),
                            more,
                        )
                    });
                    same("mfe_stats_page", got, want)?;
                } else {
                    let got = res(mgm.mfes(after, max).map(|p| (p.items, p.more)));
                    let want = want.map(|(keys, more)| {
                        (
                            keys.into_iter().map(|k| m.snapshot(k)).collect::<Vec<_>>(),
                            more,
                        )
                    });
                    same("mfes", got, want)?;
                }
            }
            Op::EnumStart { p, any } => {
                let (h, i) = self.proto(p);
                let kind = if any {
                    EnumKind::AnySource
                } else {
                    EnumKind::AllSources
                };
                let want = self.model.enum_start(i, kind);
                match (self.mgm.group_enumeration_start(h, kind), want) {
                    (Ok(e), Ok(j)) => {
                        if j != self.enums.len() {
                            return Err("model enumeration index".into());
                        }
                        self.fresh_raw(e.raw())?;
                        self.enums.push(e);
                    }
                    (got, want) => same(
                        "group_enumeration_start",
                        res(got.map(|_| ())),
                        want.map(|_| ()),
                    )?,
                }
            }
            Op::EnumNext { e, max } => {
                let (h, i) = self.enumeration(e);
                let max = usize::from(max % 4);
                let want = self.model.enum_next(i, max);
                let got = res(self
                    .mgm
                    .group_enumeration_next(h, max)
                    .map(|p| (p.items, p.more)));
                same("group_enumeration_next", got, want)?;
            }
            Op::EnumEnd { e } => {
                let (h, i) = self.enumeration(e);
                let want = self.model.enum_end(i);
                same(
                    "group_enumeration_end",
                    res(self.mgm.group_enumeration_end(h)),
                    want,
                )?;
            }
            Op::Stop { confirm } => {
                if confirm == 0xA5 {
                    mgm.stop();
                    m.stopped = true;
                }
            }
        }
        Ok(())
    }

    /// Every protocol's events and hook calls since the last step, against the model's.
    fn check_events(&mut self) -> Result<(), String> {
        for (i, r) in self.regs.iter().enumerate() {
            let mut batches = 0;
            let mut got = Vec::new();
            while let Ok(b) = r.ev.try_recv_batch() {
                if b.is_empty() {
                    return Err(format!("protocol #{i}: an empty batch"));
                }
                batches += 1;
                got.extend(b);
            }
            let mp = &mut self.model.protos[i];
            let want = std::mem::take(&mut mp.events);
            for e in &want {
                let name = format!("{e:?}");
                let name = name.split([' ', '{']).next().unwrap_or_default();
                *self.seen.entry(name.to_string()).or_default() += 1;
            }
            same(&format!("events of protocol #{i} {:#x}", mp.id), got, want)?;
            if batches > self.calls {
                return Err(format!(
                    "protocol #{i}: {batches} batches for an operation of {} engine calls",
                    self.calls
                ));
            }
            let calls = r.hooks.take_calls();
            let want = std::mem::take(&mut mp.calls);
            for c in &want {
                let name = format!("{c:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or_default();
                *self.seen.entry(format!("hook {name}")).or_default() += 1;
            }
            same(
                &format!("hook calls of protocol #{i} {:#x}", mp.id),
                calls,
                want,
            )?;
        }
        Ok(())
    }

    /// The whole observable state against the model's.
    fn check_state(&mut self) -> Result<(), String> {
        let (mgm, m) = (&self.mgm, &self.model);
        if !m.stopped {
            let items = mgm.mfes(None, usize::MAX).map_err(|e| e.to_string())?;
            let want: Vec<_> = m.mfes.keys().map(|k| m.snapshot(*k)).collect();
            same("the MFE table", items.items, want)?;
        }
        let ifs: Vec<_> = mgm
            .interfaces()
            .into_iter()
            .map(|i| (i.interface, i.owner, i.igmp))
            .collect();
        same("interfaces", ifs, m.interfaces())?;
        let ms: Vec<_> = mgm
            .memberships()
            .into_iter()
            .map(|x| (x.interface, x.selector, x.protocol))
            .collect();
        same("memberships", ms, m.memberships())?;
        let key = |r: &mgm::Route<A>| (r.len, r.prefix, r.iif, r.upstream, r.protocol);
        let mut got: Vec<_> = mgm.routes().iter().map(key).collect();
        let mut want: Vec<_> = m.routes.iter().map(key).collect();
        got.sort();
        want.sort();
        same("routes", got, want)?;
        let c = mgm.counters();
        same(
            "counters",
            (
                c.mfes,
                c.pending,
                c.published,
                c.refused_misses,
                c.created,
                c.deleted,
                c.wrong_if_notified,
                c.wrong_if_suppressed,
            ),
            (
                m.mfes.len(),
                0,
                m.mfes.len(),
                m.refused,
                m.created,
                m.deleted,
                m.notified,
                m.suppressed,
            ),
        )?;
        // The southbound stream, replayed, is the table.
        // After a resync, the changes that follow may repeat what the walk showed.
        let mut resynced = false;
        for batch in std::iter::from_fn(|| self.south.try_recv_batch().ok()) {
            for ch in batch {
                match ch {
                    MfeChange::Installed(x) => {
                        if self
                            .south_table
                            .insert(x.sg(), (x.iif, x.oifs.clone()))
                            .is_some()
                            && !resynced
                        {
                            return Err(format!("southbound: {:?} installed twice", x.sg()));
                        }
                    }
                    MfeChange::OifsChanged(x) if resynced => {
                        self.south_table.insert(x.sg(), (x.iif, x.oifs.clone()));
                    }
                    MfeChange::Deleted { sg, .. } if resynced => {
                        self.south_table.remove(&sg);
                    }
                    MfeChange::OifsChanged(x) => {
                        let Some(e) = self.south_table.get_mut(&x.sg()) else {
                            return Err(format!("southbound: change of unknown {:?}", x.sg()));
                        };
                        *e = (x.iif, x.oifs.clone());
                    }
                    MfeChange::Deleted { sg, iif, .. } => {
                        if self.south_table.remove(&sg).map(|e| e.0) != Some(iif) {
                            return Err(format!("southbound: deletion of unknown {sg:?}"));
                        }
                    }
                    // The stream lost changes: the mirror is rebuilt from a walk.
                    MfeChange::Resync { .. } => {
                        resynced = true;
                        self.south_table = self
                            .mgm
                            .mfes(None, usize::MAX)
                            .map_err(|e| format!("southbound resync: {e}"))?
                            .items
                            .into_iter()
                            .map(|x| (x.sg(), (x.iif, x.oifs)))
                            .collect();
                    }
                    other => {
                        return Err(format!("southbound: a change the model lacks: {other:?}"))
                    }
                }
            }
        }
        let want: BTreeMap<_, _> = m
            .mfes
            .iter()
            .map(|(k, x)| (*k, (x.iif, x.oifs.clone())))
            .collect();
        same("southbound replay", &self.south_table, &want)?;
        same("reader misses", self.reader.misses(), m.misses)?;
        Ok(())
    }

    /// Looks up every (interface, source, group) of the pools: verdicts and counters.
    fn scan(&mut self) -> Result<(), String> {
        for k in 0..Pools::KEYS as u8 {
            for s in 0..5 {
                for g in 0..3 {
                    let (k, s, g) = (Pools::key(k), Pools::source::<A>(s), Pools::group::<A>(g));
                    let want = self.model.lookup(k, s, g, 64);
                    let got = seen(look(&mut self.reader, k, s, g, 64));
                    same(&format!("scan lookup ({k}, {s}, {g})"), got, want)?;
                }
            }
        }
        self.check_state()
    }
}
