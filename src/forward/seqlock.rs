//! The per-slot sequence lock: one header word that every reader and the writer of a slot go
//! through, so the protocol is written once and model-checked once (`loom_tests` below).
//!
//! The header packs the slot's state (bits 0..8), its list length (8..24) and a sequence
//! number (24..64, 40 bits: a reader would have to sleep through 2^39 rewrites of one slot
//! between its two header loads to be fooled). The state and the length sit below the
//! sequence's odd bit so that a fast path checks all three with one 32-bit mask. The writer
//! makes the sequence odd, rewrites the slot's words, and makes it even again with a `Release`
//! store; a `Release` fence after the odd store keeps the data stores from moving above it. A
//! reader loads the header with `Acquire`, reads the words it needs with `Relaxed` loads,
//! issues an `Acquire` fence and loads the header again: if the header did not move, the words
//! it read are one version of the slot. All slot words are atomics, so a torn read is a
//! retried read, never undefined behaviour.
//!
//! Model checking (`cargo test --release --features loom --lib seqlock`): every
//! interleaving and weak-memory outcome loom explores of a writer rewriting a two-word slot
//! against a reader; and, to show the model can fail, the same model with each of the four
//! orderings weakened must find a torn read.

use std::sync::atomic::{AtomicU64, Ordering};

/// A 64-bit atomic word as the protocol uses it: std's for the slot arrays, loom's in the
/// model tests. The fence and the spin-wait hint belong to the word's kind, so a model fences
/// and waits in loom's world (a loom thread that spins must yield to loom's scheduler, or the
/// model never ends).
pub(super) trait Word {
    fn load(&self, o: Ordering) -> u64;
    fn store(&self, v: u64, o: Ordering);
    fn fence(o: Ordering);
    /// One turn of a spin-wait.
    #[inline(always)]
    fn spin() {
        std::hint::spin_loop();
    }
}

impl Word for AtomicU64 {
    #[inline(always)]
    fn load(&self, o: Ordering) -> u64 {
        AtomicU64::load(self, o)
    }
    #[inline(always)]
    fn store(&self, v: u64, o: Ordering) {
        AtomicU64::store(self, v, o);
    }
    #[inline(always)]
    fn fence(o: Ordering) {
        std::sync::atomic::fence(o);
    }
}

/// Slot states (header bits 0..8); a slot never written has state 0.
pub(super) const LIVE: u64 = 1;
pub(super) const TOMB: u64 = 2;

/// Where the sequence number starts in a header; its lowest bit is the odd (rewrite open)
/// bit.
const SEQ_SHIFT: u32 = 24;
/// The sequence's odd bit in a header.
const ODD: u64 = 1 << SEQ_SHIFT;

/// A header word: state (bits 0..8), list length (8..24, `len` below 2^16), sequence number
/// (24..64; `seq` wraps at 2^40).
#[inline(always)]
pub(super) const fn header(seq: u64, state: u64, len: u64) -> u64 {
    (seq << SEQ_SHIFT) | (len << 8) | state
}

#[inline(always)]
pub(super) fn seq_of(h: u64) -> u64 {
    h >> SEQ_SHIFT
}

#[inline(always)]
pub(super) fn state_of(h: u64) -> u64 {
    h & 0xff
}

#[inline(always)]
pub(super) fn len_of(h: u64) -> u64 {
    (h >> 8) & 0xffff
}

/// The orderings of the protocol. Production code uses [`STRICT`] only; the model tests run
/// weakened copies to show that each ordering is needed.
#[derive(Clone, Copy)]
pub(super) struct Orderings {
    /// The reader's first header load.
    read_begin: Ordering,
    /// The reader's fence before the second header load.
    read_fence: Option<Ordering>,
    /// The writer's fence after the odd header store.
    write_fence: Option<Ordering>,
    /// The writer's closing (even) header store.
    write_end: Ordering,
}

/// The orderings that make the protocol sound.
pub(super) const STRICT: Orderings = Orderings {
    read_begin: Ordering::Acquire,
    read_fence: Some(Ordering::Acquire),
    write_fence: Some(Ordering::Release),
    write_end: Ordering::Release,
};

/// One slot's header word under the sequence-lock protocol.
#[repr(transparent)]
pub(super) struct SeqLock<W = AtomicU64> {
    word: W,
}

impl SeqLock {
    /// The header word itself, for a slot array made of plain words (the slot arrays are
    /// zeroed allocations of `AtomicU64`; the header is word 0 of each slot).
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(super) fn at(word: &AtomicU64) -> &SeqLock {
        // SAFETY: `SeqLock` is `repr(transparent)` over `AtomicU64`, so the reference casts.
        unsafe { &*(word as *const AtomicU64).cast::<SeqLock>() }
    }
}

impl<W: Word> SeqLock<W> {
    /// Reader: the header of a stable version, spinning while a rewrite is open (odd).
    #[inline(always)]
    pub(super) fn read_begin(&self) -> u64 {
        self.read_begin_with(STRICT)
    }

    /// Reader: as [`SeqLock::read_begin`], but `None` instead of waiting while a rewrite is
    /// open, and `None` too unless the header is `want` in the bits of `mask` (state and
    /// length bits only, not the sequence's): one mask and one compare decide both, so a fast
    /// path that falls back to the full one checks the slot's state and length with the same
    /// two instructions that check for an open rewrite (with 32-bit constants: the bits checked
    /// are all below bit 32).
    #[inline(always)]
    pub(super) fn try_read_begin_if(&self, mask: u64, want: u64) -> Option<u64> {
        debug_assert!(mask < ODD && want & !mask == 0);
        let h = self.word.load(STRICT.read_begin);
        (h & (mask | ODD) == want).then_some(h)
    }

    #[inline(always)]
    fn read_begin_with(&self, o: Orderings) -> u64 {
        loop {
            let h = self.word.load(o.read_begin);
            if h & ODD == 0 {
                return h;
            }
            W::spin();
        }
    }

    /// Reader: true when the words read since [`SeqLock::read_begin`] returned `h` belong to
    /// that one version (the header did not move); false means read again.
    #[inline(always)]
    pub(super) fn read_valid(&self, h: u64) -> bool {
        self.read_valid_with(h, STRICT)
    }

    #[inline(always)]
    fn read_valid_with(&self, h: u64, o: Orderings) -> bool {
        if let Some(f) = o.read_fence {
            W::fence(f);
        }
        self.word.load(Ordering::Relaxed) == h
    }

    /// Writer (the only one): the current header, as the writer may read it at any time.
    #[inline(always)]
    pub(super) fn current(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }

    /// Writer: opens a rewrite (odd sequence); returns the header before it. The slot's words
    /// may be stored after this returns.
    #[inline(always)]
    pub(super) fn write_begin(&self) -> u64 {
        self.write_begin_with(STRICT)
    }

    #[inline(always)]
    fn write_begin_with(&self, o: Orderings) -> u64 {
        let h = self.word.load(Ordering::Relaxed);
        self.word.store(
            header(seq_of(h).wrapping_add(1), state_of(h), len_of(h)),
            Ordering::Relaxed,
        );
        if let Some(f) = o.write_fence {
            W::fence(f);
        }
        h
    }

    /// Writer: closes the rewrite opened when the header was `before`, publishing `state` and
    /// `len` (even sequence, two past `before`).
    #[inline(always)]
    pub(super) fn write_end(&self, before: u64, state: u64, len: u64) {
        self.write_end_with(before, state, len, STRICT);
    }

    #[inline(always)]
    fn write_end_with(&self, before: u64, state: u64, len: u64, o: Orderings) {
        self.word.store(
            header(seq_of(before).wrapping_add(2), state, len),
            o.write_end,
        );
    }

    /// Writer: sets the header of a slot no reader can see yet (a slot array being built).
    #[inline(always)]
    pub(super) fn init(&self, state: u64, len: u64) {
        self.word.store(header(0, state, len), Ordering::Relaxed);
    }
}

/// Loom models of the read / rewrite / remove protocol on a slot of two data words.
#[cfg(all(test, feature = "loom"))]
pub(super) mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicU64 as LoomWord;
    use loom::sync::Arc;
    use loom::thread;

    impl Word for LoomWord {
        fn load(&self, o: Ordering) -> u64 {
            LoomWord::load(self, o)
        }
        fn store(&self, v: u64, o: Ordering) {
            LoomWord::store(self, v, o);
        }
        fn fence(o: Ordering) {
            loom::sync::atomic::fence(o);
        }
        fn spin() {
            thread::yield_now();
        }
    }

    /// A slot: the lock and two words that must always be read as a pair of one version.
    struct Slot {
        lock: SeqLock<LoomWord>,
        a: LoomWord,
        b: LoomWord,
    }

    /// The writer rewrites the slot twice (versions 1 and 2: both words equal the version)
    /// and then removes it (state TOMB); the reader reads once. A reader that validates must
    /// see both words of one version, and a removed slot only with the words it had.
    fn model(o: Orderings) {
        loom::model(move || {
            let slot = Arc::new(Slot {
                lock: SeqLock {
                    word: LoomWord::new(0),
                },
                a: LoomWord::new(0),
                b: LoomWord::new(0),
            });
            let s2 = slot.clone();
            let reader = thread::spawn(move || {
                let h = s2.lock.read_begin_with(o);
                let a = s2.a.load(Ordering::Relaxed);
                let b = s2.b.load(Ordering::Relaxed);
                if s2.lock.read_valid_with(h, o) {
                    assert_eq!(
                        a,
                        b,
                        "torn read: words of two versions (header seq {})",
                        seq_of(h)
                    );
                    if state_of(h) == TOMB {
                        assert_eq!(a, 2, "a removed slot with words it never had");
                    }
                }
            });
            for v in 1..=2u64 {
                let before = slot.lock.write_begin_with(o);
                slot.a.store(v, Ordering::Relaxed);
                slot.b.store(v, Ordering::Relaxed);
                slot.lock.write_end_with(before, LIVE, v, o);
            }
            let before = slot.lock.write_begin_with(o);
            slot.lock.write_end_with(before, TOMB, 0, o);
            reader.join().unwrap();
        });
    }

    #[test]
    fn reads_are_never_torn() {
        model(STRICT);
    }

    /// Runs a model and returns the message of the failing execution loom found (None when
    /// every execution passed). Loom's failing executions are not printed.
    pub(in crate::forward) fn fails(
        model: impl FnOnce() + std::panic::UnwindSafe,
    ) -> Option<String> {
        quiet::on();
        let r = std::panic::catch_unwind(model);
        quiet::off();
        let payload = r.err()?;
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".to_string());
        Some(msg)
    }

    /// Panic messages silenced on one thread. The panic hook is the process's and the other
    /// tests run on parallel threads, so a no-op hook swapped in and out would hide their
    /// panics too: instead a filtering hook is installed once, which hands every panic to the
    /// previous hook except those of a thread inside [`fails`] (loom runs the model's threads
    /// as coroutines on the calling thread).
    mod quiet {
        use std::cell::Cell;
        use std::sync::Once;

        thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });

        pub(super) fn on() {
            static HOOK: Once = Once::new();
            HOOK.call_once(|| {
                let previous = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| {
                    if !QUIET.with(Cell::get) {
                        previous(info);
                    }
                }));
            });
            QUIET.with(|q| q.set(true));
        }

        pub(super) fn off() {
            QUIET.with(|q| q.set(false));
        }
    }

    /// Asserts that the model with `o` fails, and by one of its own torn-read assertions: not
    /// by a loom limit (too many branches, a deadlock) or any other panic.
    fn assert_caught(o: Orderings) {
        match fails(|| model(o)) {
            None => panic!("loom found no failing execution"),
            Some(msg) => assert!(
                msg.contains("torn read") || msg.contains("a removed slot"),
                "the model failed, but not by a torn read: {msg}"
            ),
        }
    }

    /// Loom's execution: the reader sees version 1's closing header (seq 2) without acquiring
    /// it, so it may then read a stale `a` = 0 beside `b` = 1.
    #[test]
    fn a_relaxed_first_header_load_is_caught() {
        assert_caught(Orderings {
            read_begin: Ordering::Relaxed,
            ..STRICT
        });
    }

    /// Loom's execution: the reader starts at seq 0 and reads `a` = 0, `b` = 1 of the rewrite
    /// in progress; its second header load, no longer ordered after the word loads, still
    /// reads seq 0.
    #[test]
    fn a_missing_reader_fence_is_caught() {
        assert_caught(Orderings {
            read_fence: None,
            ..STRICT
        });
    }

    /// Loom's execution: as above, but now the reader's fence has no writer fence to pair
    /// with, so reading `b` = 1 does not make the odd header (seq 1) visible: the second load
    /// reads seq 0.
    #[test]
    fn a_missing_writer_fence_is_caught() {
        assert_caught(Orderings {
            write_fence: None,
            ..STRICT
        });
    }

    /// Loom's execution: the reader acquires seq 2, but a relaxed closing store publishes
    /// nothing after the writer's fence, so `a` = 0 beside `b` = 1.
    #[test]
    fn a_relaxed_closing_store_is_caught() {
        assert_caught(Orderings {
            write_end: Ordering::Relaxed,
            ..STRICT
        });
    }
}
