//! TEMPORARY stand-in for the forwarding store (replaced by the lock-free one).
#![allow(missing_docs, dead_code)]
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::addr::{Family, IfKey, Sg};
use crate::error::{Error, Result};

pub const MAX_BURST: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketKey<A> {
    pub arrival: IfKey<A>,
    pub source: A,
    pub group: A,
    pub bytes: u32,
}

#[derive(Clone, Copy, Debug)]
pub enum Verdict<'r, A> {
    Forward(Oifs<'r, A>),
    WrongInterface { iif: IfKey<A> },
    Negative,
    Miss,
}

#[derive(Clone, Copy, Debug)]
pub struct Oifs<'r, A> {
    list: &'r [IfKey<A>],
}
impl<'r, A: Family> Oifs<'r, A> {
    pub fn len(&self) -> usize {
        self.list.len()
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    pub fn get(&self, i: usize) -> Option<IfKey<A>> {
        self.list.get(i).copied()
    }
    pub fn iter(&self) -> impl Iterator<Item = IfKey<A>> + 'r {
        self.list.iter().copied()
    }
    pub fn to_vec(&self) -> Vec<IfKey<A>> {
        self.list.to_vec()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EntryCounters<A> {
    pub packets: u64,
    pub bytes: u64,
    pub wrong_if: u64,
    pub negative: u64,
    pub oifs: Vec<(IfKey<A>, u64)>,
}

struct Entry<A> {
    oifs: Vec<IfKey<A>>,
    c: EntryCounters<A>,
}

type Map<A> = HashMap<IfKey<A>, HashMap<Sg<A>, Entry<A>>>;

pub(crate) struct ForwardStore<A: Family> {
    map: Arc<Mutex<Map<A>>>,
    workers: usize,
}

impl<A: Family> ForwardStore<A> {
    pub(crate) fn new(max_workers: usize) -> Self {
        ForwardStore {
            map: Arc::default(),
            workers: max_workers,
        }
    }
    pub(crate) fn install(&self, sg: Sg<A>, iif: IfKey<A>, oifs: &[IfKey<A>]) {
        let mut m = self.map.lock().unwrap();
        let e = m
            .entry(iif)
            .or_default()
            .entry(sg)
            .or_insert_with(|| Entry {
                oifs: Vec::new(),
                c: EntryCounters {
                    packets: 0,
                    bytes: 0,
                    wrong_if: 0,
                    negative: 0,
                    oifs: Vec::new(),
                },
            });
        e.oifs = oifs.to_vec();
    }
    pub(crate) fn remove(&self, sg: Sg<A>, iif: IfKey<A>) -> bool {
        self.map
            .lock()
            .unwrap()
            .get_mut(&iif)
            .is_some_and(|s| s.remove(&sg).is_some())
    }
    pub(crate) fn remove_shard(&self, iif: IfKey<A>) -> usize {
        self.map.lock().unwrap().remove(&iif).map_or(0, |s| s.len())
    }
    pub(crate) fn counters(&self, sg: Sg<A>, iif: IfKey<A>) -> Option<EntryCounters<A>> {
        let m = self.map.lock().unwrap();
        let e = m.get(&iif)?.get(&sg)?;
        let mut c = e.c.clone();
        c.oifs.retain(|(k, _)| e.oifs.contains(k));
        Some(c)
    }
    pub(crate) fn reader(&self) -> Result<Reader<A>> {
        Ok(Reader {
            map: self.map.clone(),
            buf: Vec::new(),
            misses: 0,
        })
    }
    pub(crate) fn len(&self) -> usize {
        self.map.lock().unwrap().values().map(|s| s.len()).sum()
    }
    pub(crate) fn max_workers(&self) -> usize {
        self.workers
    }
}

pub struct Reader<A: Family> {
    map: Arc<Mutex<Map<A>>>,
    buf: Vec<IfKey<A>>,
    misses: u64,
}

impl<A: Family> Reader<A> {
    pub fn lookup(&mut self, arrival: IfKey<A>, source: A, group: A, bytes: u32) -> Verdict<'_, A> {
        let sg = Sg::new(source, group);
        let mut m = self.map.lock().unwrap();
        if let Some(e) = m.get_mut(&arrival).and_then(|s| s.get_mut(&sg)) {
            e.c.packets += 1;
            e.c.bytes += u64::from(bytes);
            if e.oifs.is_empty() {
                e.c.negative += 1;
                return Verdict::Negative;
            }
            for k in &e.oifs {
                match e.c.oifs.iter_mut().find(|(o, _)| o == k) {
                    Some((_, n)) => *n += 1,
                    None => e.c.oifs.push((*k, 1)),
                }
            }
            self.buf = e.oifs.clone();
            drop(m);
            return Verdict::Forward(Oifs { list: &self.buf });
        }
        for (iif, s) in m.iter_mut() {
            if let Some(e) = s.get_mut(&sg) {
                e.c.wrong_if += 1;
                return Verdict::WrongInterface { iif: *iif };
            }
        }
        self.misses += 1;
        Verdict::Miss
    }
    pub fn lookup_burst<'r>(
        &'r mut self,
        packets: &[PacketKey<A>],
        verdicts: &mut [Verdict<'r, A>],
    ) -> Result<usize> {
        if packets.len() > MAX_BURST || verdicts.len() < packets.len() {
            return Err(Error::BurstTooLarge {
                len: packets.len(),
                max: MAX_BURST,
            });
        }
        let _ = verdicts;
        Ok(0)
    }
    pub fn quiesce(&mut self) {}
    pub fn worker_slot(&self) -> usize {
        0
    }
    pub fn misses(&self) -> u64 {
        self.misses
    }
}
