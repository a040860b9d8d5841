//! Generation-counted handles.
//!
//! A handle is 64 bits: a 2-bit kind tag, a 30-bit generation and a 32-bit slot index. A slot's
//! atomic word holds `generation << 1 | live`. Checking a handle is one atomic load and one
//! compare: no lock, no allocation, no hash. A generation is never reused for a slot; a slot
//! whose generation is exhausted is retired.

use crate::error::{Error, HandleKind};

/// The atomics of the slot words: std's, or loom's when model checking
/// (`cargo test --release --features loom --lib handle`; the `loom` feature switches only the
/// unit tests).
mod sync {
    #[cfg(all(feature = "loom", test))]
    pub(super) use loom::sync::atomic::{AtomicU64, Ordering};
    #[cfg(not(all(feature = "loom", test)))]
    pub(super) use std::sync::atomic::{AtomicU64, Ordering};
}
use sync::{AtomicU64, Ordering};

const KIND_SHIFT: u32 = 62;
const GEN_SHIFT: u32 = 32;
const GEN_MASK: u64 = (1 << 30) - 1;

fn kind_tag(kind: HandleKind) -> u64 {
    match kind {
        HandleKind::Protocol => 1,
        HandleKind::Enumeration => 2,
    }
}

/// A registered protocol's handle, returned by [`crate::Mgm::register`].
///
/// It dies at deregistration: every later use is refused with [`Error::InvalidHandle`].
///
/// ```
/// use mgm::ProtocolHandle;
/// let forged = ProtocolHandle::from_raw(0xdead_beef);
/// assert_eq!(ProtocolHandle::from_raw(forged.raw()), forged);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ProtocolHandle(u64);

/// A group enumeration's handle, returned by [`crate::Mgm::group_enumeration_start`].
///
/// ```
/// use mgm::EnumerationHandle;
/// assert_eq!(EnumerationHandle::from_raw(7).raw(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct EnumerationHandle(u64);

macro_rules! raw_handle {
    ($t:ty) => {
        impl $t {
            /// The handle as an opaque 64-bit value (for FFI or logs).
            pub fn raw(self) -> u64 {
                self.0
            }
            /// A handle from an opaque value; the engine checks it on every use.
            pub fn from_raw(raw: u64) -> Self {
                Self(raw)
            }
        }
    };
}
raw_handle!(ProtocolHandle);
raw_handle!(EnumerationHandle);

/// The atomic side of a handle table: one word per slot, read without locks.
pub(crate) struct Slots {
    kind: HandleKind,
    words: Box<[AtomicU64]>,
}

/// The writer side of a handle table, kept under the engine's control lock.
pub(crate) struct SlotAlloc {
    free: Vec<u32>,
    next_gen: Vec<u64>,
    fresh: u32,
}

impl Slots {
    pub(crate) fn new(kind: HandleKind, capacity: usize) -> (Slots, SlotAlloc) {
        let words = (0..capacity).map(|_| AtomicU64::new(0)).collect();
        let alloc = SlotAlloc {
            free: Vec::new(),
            next_gen: vec![1; capacity],
            fresh: 0,
        };
        (Slots { kind, words }, alloc)
    }

    /// The slot of a live handle, or the error naming it.
    #[inline]
    pub(crate) fn check(&self, raw: u64) -> Result<u32, Error> {
        let slot = (raw & 0xffff_ffff) as usize;
        let gen = (raw >> GEN_SHIFT) & GEN_MASK;
        let live = raw >> KIND_SHIFT == kind_tag(self.kind)
            && self
                .words
                .get(slot)
                // Acquire pairs with the Release store in `open`: a handle seen live was
                // published after its registration record was written.
                .is_some_and(|w| w.load(Ordering::Acquire) == gen << 1 | 1);
        if live {
            Ok(slot as u32)
        } else {
            Err(Error::InvalidHandle {
                kind: self.kind,
                raw,
            })
        }
    }

    /// Takes a free slot; returns (slot, raw handle), or None when the table is full.
    pub(crate) fn open(&self, alloc: &mut SlotAlloc) -> Option<(u32, u64)> {
        let slot = match alloc.free.pop() {
            Some(s) => s,
            None if (alloc.fresh as usize) < self.words.len() => {
                alloc.fresh += 1;
                alloc.fresh - 1
            }
            None => return None,
        };
        let gen = alloc.next_gen[slot as usize];
        alloc.next_gen[slot as usize] = gen + 1;
        self.words[slot as usize].store(gen << 1 | 1, Ordering::Release);
        let raw = kind_tag(self.kind) << KIND_SHIFT | gen << GEN_SHIFT | u64::from(slot);
        Some((slot, raw))
    }

    /// Kills the slot's handle; the slot is reused with a new generation unless exhausted.
    pub(crate) fn close(&self, alloc: &mut SlotAlloc, slot: u32) {
        let word = &self.words[slot as usize];
        let gen = word.load(Ordering::Relaxed) >> 1;
        word.store(gen << 1, Ordering::Release);
        if alloc.next_gen[slot as usize] <= GEN_MASK {
            alloc.free.push(slot);
        }
    }
}

#[cfg(all(test, not(feature = "loom")))]
mod tests {
    use super::*;

    #[test]
    fn stale_forged_and_wrong_kind_handles_are_refused() {
        let (protos, mut pa) = Slots::new(HandleKind::Protocol, 4);
        let (enums, mut ea) = Slots::new(HandleKind::Enumeration, 4);
        let (slot, raw) = protos.open(&mut pa).unwrap();
        assert_eq!(protos.check(raw), Ok(slot));
        let (_, eraw) = enums.open(&mut ea).unwrap();
        assert!(
            protos.check(eraw).is_err(),
            "an enumeration handle is not a protocol handle"
        );
        assert!(enums.check(raw).is_err());
        protos.close(&mut pa, slot);
        assert!(protos.check(raw).is_err(), "stale after close");
        let (slot2, raw2) = protos.open(&mut pa).unwrap();
        assert_eq!(slot2, slot, "slot reused");
        assert_ne!(raw2, raw, "with a new generation");
        assert!(protos.check(raw).is_err());
        assert!(protos.check(u64::MAX).is_err());
        assert!(protos.check(0).is_err());
    }

    #[test]
    fn full_table_refuses_more() {
        let (protos, mut pa) = Slots::new(HandleKind::Protocol, 1);
        assert!(protos.open(&mut pa).is_some());
        assert!(protos.open(&mut pa).is_none());
    }
}

/// Loom model checks of the generation protocol: every interleaving (and every weak-memory
/// outcome loom models) of a writer opening and closing slots against lock-free checkers.
#[cfg(all(test, feature = "loom"))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicU64 as Word;
    use loom::sync::Arc;
    use loom::thread;

    /// A handle seen live was published after its record: a checker that accepts the handle
    /// reads the record the writer wrote before `open` (Release in open, Acquire in check).
    #[test]
    fn a_live_handle_shows_its_record() {
        loom::model(|| {
            let (slots, mut alloc) = Slots::new(HandleKind::Protocol, 1);
            let slots = Arc::new(slots);
            let record = Arc::new(Word::new(0));
            let mailbox = Arc::new(Word::new(0));
            let (s2, r2, m2) = (slots.clone(), record.clone(), mailbox.clone());
            let checker = thread::spawn(move || {
                let raw = m2.load(Ordering::Relaxed);
                if raw != 0 && s2.check(raw).is_ok() {
                    assert_eq!(r2.load(Ordering::Relaxed), 42, "live handle, record unseen");
                }
            });
            record.store(42, Ordering::Relaxed);
            let (_, raw) = slots.open(&mut alloc).unwrap();
            mailbox.store(raw, Ordering::Relaxed);
            checker.join().unwrap();
        });
    }

    /// A stale handle is never accepted once its slot lives again under a new generation, and
    /// a checker never sees the old handle live after it has seen the new one live.
    #[test]
    fn a_stale_handle_is_never_taken_for_the_new_one() {
        loom::model(|| {
            let (slots, mut alloc) = Slots::new(HandleKind::Protocol, 1);
            let (slot, old) = slots.open(&mut alloc).unwrap();
            let slots = Arc::new(slots);
            let mailbox = Arc::new(Word::new(0));
            let (s2, m2) = (slots.clone(), mailbox.clone());
            let checker = thread::spawn(move || {
                let new = m2.load(Ordering::Acquire);
                let new_live = new != 0 && s2.check(new).is_ok();
                let old_live = s2.check(old).is_ok();
                if new_live {
                    assert!(!old_live, "the old handle live after the new one was");
                }
                // A dead handle never names the slot of a live one: whatever the checker saw,
                // acceptance means the exact generation is the slot's current one.
                if let (true, Ok(s)) = (new_live, s2.check(new)) {
                    assert_eq!(s, slot);
                }
            });
            slots.close(&mut alloc, slot);
            let (slot2, new) = slots.open(&mut alloc).unwrap();
            assert_eq!(slot2, slot);
            assert_ne!(new, old);
            mailbox.store(new, Ordering::Release);
            assert!(slots.check(old).is_err());
            checker.join().unwrap();
        });
    }

    /// Two checkers race a close: each sees the handle live or dead, never anything else, and
    /// once the close is visible to one through the mailbox, that one sees it dead.
    #[test]
    fn a_closed_handle_stays_dead() {
        loom::model(|| {
            let (slots, mut alloc) = Slots::new(HandleKind::Enumeration, 2);
            let (slot, raw) = slots.open(&mut alloc).unwrap();
            let (_, other) = slots.open(&mut alloc).unwrap();
            let slots = Arc::new(slots);
            let closed = Arc::new(Word::new(0));
            let mut checkers = Vec::new();
            for _ in 0..2 {
                let (s2, c2) = (slots.clone(), closed.clone());
                checkers.push(thread::spawn(move || {
                    let was_closed = c2.load(Ordering::Acquire) == 1;
                    let live = s2.check(raw).is_ok();
                    if was_closed {
                        assert!(!live, "a handle seen closed came back");
                    }
                    assert!(s2.check(other).is_ok(), "another slot disturbed");
                }));
            }
            slots.close(&mut alloc, slot);
            closed.store(1, Ordering::Release);
            for c in checkers {
                c.join().unwrap();
            }
        });
    }
}
