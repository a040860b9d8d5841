//! How long the main loop leaves the mroute socket unwatched, and how long upcalls wait.
//!
//! The loop looks at the mroute socket (a `poll`) between every two pieces of work. An
//! upcall queued while the loop works waits for the next look, so the delay `status` shows
//! runs from the last moment the loop knew the socket empty (a look that found nothing, a
//! read that drained it, or a blocking wait on it, which wakes when a message comes) to the
//! upcall handled: an upper bound of the time since the kernel queued it, the scheduler's
//! wake-up latency aside. (The kernel gives upcalls no timestamp of their own: it builds
//! them in a fresh buffer.)
//!
//! Every piece of work is a bounded slice ([`SLICE`] of time, checked every few entries),
//! so a look comes at least that often whatever the control clients ask.
//!
//! At the `debug` log level, a piece of work that took longer than [`SLOW`] is logged with
//! what it was, and with the time the thread spent on the CPU (its CPU clock) and off it,
//! which tells work from preemption.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use mgm_linux::net;
use tracing::debug;

/// How long one slice of work may run before the loop looks at the mroute socket again.
pub const SLICE: Duration = Duration::from_micros(200);
/// Work longer than this is logged at the `debug` level.
pub const SLOW: Duration = Duration::from_micros(500);

/// The upper edges, in microseconds, of the delay buckets `status` shows (the last bucket is
/// everything above).
pub const DELAY_EDGES_US: [u64; 4] = [100, 1_000, 10_000, 100_000];

/// The bucket of `d` among [`DELAY_EDGES_US`].
pub fn bucket(d: Duration) -> usize {
    let us = d.as_micros() as u64;
    DELAY_EDGES_US
        .iter()
        .position(|e| us <= *e)
        .unwrap_or(DELAY_EDGES_US.len())
}

/// A maximum and buckets of durations.
#[derive(Clone, Copy, Debug, Default)]
pub struct Histogram {
    /// The longest.
    pub max: Duration,
    /// The last.
    pub last: Duration,
    /// How many by [`DELAY_EDGES_US`] bucket.
    pub buckets: [u64; 5],
    /// How many in all.
    pub count: u64,
}

impl Histogram {
    /// Counts `d`.
    pub fn add(&mut self, d: Duration) {
        self.max = self.max.max(d);
        self.last = d;
        self.buckets[bucket(d)] += 1;
        self.count += 1;
    }
}

/// Whether a slice that started at `start` has had its time.
pub fn slice_over(start: Instant) -> bool {
    start.elapsed() >= SLICE
}

/// The main loop's watch over the mroute socket.
pub struct Watch {
    /// The last moment the socket was known empty, or watched by a blocking wait.
    clear_at: Instant,
    /// The reference of the delay of the messages being read now.
    ready_from: Instant,
    /// When the last look returned: the socket has been unwatched since.
    looked_at: Instant,
    /// How long the socket went unwatched between two looks.
    pub unwatched: Histogram,
    /// From [`Watch::ready_from`] to each upcall handled.
    pub upcalls: Histogram,
}

/// A piece of work being timed ([`Watch::begin`]).
pub struct Timed {
    start: Instant,
    /// The thread's CPU time at the start, at the `debug` level.
    cpu: Option<Duration>,
}

impl Watch {
    /// A watch starting now.
    pub fn new() -> Self {
        let now = Instant::now();
        Watch {
            clear_at: now,
            ready_from: now,
            looked_at: now,
            unwatched: Histogram::default(),
            upcalls: Histogram::default(),
        }
    }

    /// Looks at `fds` (the mroute socket first), waiting up to `wait_ms` when none is
    /// readable; returns which are.
    ///
    /// # Errors
    /// The error of `poll`.
    pub fn look(&mut self, fds: &[RawFd], wait_ms: i32) -> io::Result<Vec<bool>> {
        let start = Instant::now();
        self.unwatched.add(start - self.looked_at);
        let mut ready = net::poll_readable(fds, 0)?;
        let now = Instant::now();
        if ready[0] {
            // Queued since the socket was last known empty.
            self.ready_from = self.clear_at;
        } else {
            self.clear_at = now;
            if wait_ms > 0 && !ready.iter().any(|r| *r) {
                ready = net::poll_readable(fds, wait_ms)?;
                // Watched all along: what woke the wait came just now.
                self.clear_at = Instant::now();
                self.ready_from = self.clear_at;
            }
        }
        self.looked_at = Instant::now();
        Ok(ready)
    }

    /// A blocking wait over this socket (among others) ended just now: the socket was
    /// watched all along, so what it holds came just now.
    pub fn woke(&mut self) {
        self.clear_at = Instant::now();
        self.ready_from = self.clear_at;
    }

    /// The socket was read empty just now.
    pub fn drained(&mut self) {
        self.clear_at = Instant::now();
    }

    /// An upcall was handled just now: counts its delay.
    pub fn upcall_handled(&mut self) {
        self.upcalls.add(self.ready_from.elapsed());
    }

    /// Starts timing a piece of work.
    pub fn begin(&self) -> Timed {
        Timed {
            start: Instant::now(),
            cpu: if tracing::enabled!(tracing::Level::DEBUG) {
                net::thread_cpu_time()
            } else {
                None
            },
        }
    }

    /// Ends timing `t`, a piece of work named `what`; returns how long it took (logged at
    /// the `debug` level when longer than [`SLOW`]).
    pub fn end(&self, t: Timed, what: &str) -> Duration {
        let took = t.start.elapsed();
        if took > SLOW {
            if let (Some(a), Some(b)) = (t.cpu, net::thread_cpu_time()) {
                let cpu = b.saturating_sub(a);
                debug!(
                    micros = took.as_micros() as u64,
                    on_cpu_micros = cpu.as_micros() as u64,
                    off_cpu_micros = took.saturating_sub(cpu).as_micros() as u64,
                    "slow main-loop work: {what}"
                );
            }
        }
        took
    }
}
