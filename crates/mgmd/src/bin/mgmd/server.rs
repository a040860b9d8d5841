//! The control socket, served off the packet path: one thread accepts, one short-lived thread
//! per client (at most `max_clients` at once) reads and parses its request line under a
//! deadline, hands the parsed request to the main loop through a channel and a wake-up
//! socket the main loop polls, and writes the reply under a deadline. The main loop never
//! touches a client's socket, so no client can make it wait.
//!
//! [`Server::stop`] ends them all, promptly: the accepting thread shuts every client's
//! socket down (which ends a read or a write at once), and joins the client threads, waiting
//! at most [`JOIN_WAIT`] in all; so no control thread outlives the daemon's state.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mgm_linux::net;
use mgmd::control::{self, ReadError, Request, MAX_REQUEST};
use tracing::{debug, warn};

/// How long a client has to send its request line.
pub const READ_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client has to take its reply.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a client thread waits for the main loop's reply.
const REPLY_WAIT: Duration = Duration::from_secs(10);
/// How long [`Server::stop`] waits for the client threads, once their sockets are shut down.
pub const JOIN_WAIT: Duration = Duration::from_secs(1);

/// A reply as the main loop gives it: what is left to do to turn the data it gathered into
/// the bytes sent (formatting a page, mostly), done on the client's thread.
pub type Reply = Box<dyn FnOnce() -> String + Send>;

/// A parsed request for the main loop, and where its reply goes.
pub struct Job {
    /// The request.
    pub request: Request,
    /// The reply's way back (never blocks: room for one).
    pub reply: mpsc::SyncSender<Reply>,
}

/// Counters the status reply shows.
#[derive(Default)]
pub struct Stats {
    /// Clients served.
    pub served: AtomicU64,
    /// Clients refused because `max_clients` were being served.
    pub refused_busy: AtomicU64,
    /// Requests refused as too long, not UTF-8, bad JSON or unknown.
    pub bad_requests: AtomicU64,
    /// Clients cut off by the read or the write deadline.
    pub timed_out: AtomicU64,
    /// Clients being served now.
    pub active: AtomicUsize,
}

/// The control thread's handle.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<(usize, usize)>>,
    /// Its counters.
    pub stats: Arc<Stats>,
}

impl Server {
    /// Starts serving `listener`; jobs go to `jobs`, and each is announced by a byte on
    /// `wake`.
    pub fn start(
        listener: UnixListener,
        max_clients: usize,
        jobs: mpsc::Sender<Job>,
        wake: UnixStream,
    ) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        wake.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (s, st) = (stop.clone(), stats.clone());
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || accept_loop(listener, max_clients, jobs, wake, s, st))?;
        Ok(Server {
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// Stops accepting, shuts down the clients' sockets and waits for the threads: the
    /// accepting one, and the clients' for at most [`JOIN_WAIT`]. The main loop drops the
    /// jobs it holds first, so that a client waiting for its reply ends at once. Returns how
    /// many client threads were joined, and how many were still running at the bound.
    pub fn stop(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(counts)) => counts,
            _ => (0, 0),
        }
    }
}

struct ActiveGuard(Arc<Stats>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A client thread, with a handle on its socket to shut it down.
struct ClientThread {
    stream: UnixStream,
    thread: JoinHandle<()>,
}

/// Shuts down the clients' sockets and joins their threads, waiting at most [`JOIN_WAIT`];
/// returns (joined, still running).
fn end_clients(clients: Vec<ClientThread>) -> (usize, usize) {
    for c in &clients {
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }
    let until = Instant::now() + JOIN_WAIT;
    while Instant::now() < until && clients.iter().any(|c| !c.thread.is_finished()) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (done, running): (Vec<_>, Vec<_>) =
        clients.into_iter().partition(|c| c.thread.is_finished());
    let joined = done.len();
    for c in done {
        let _ = c.thread.join();
    }
    (joined, running.len())
}

fn accept_loop(
    listener: UnixListener,
    max_clients: usize,
    jobs: mpsc::Sender<Job>,
    wake: UnixStream,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) -> (usize, usize) {
    let wake = Arc::new(wake);
    let mut clients: Vec<ClientThread> = Vec::new();
    // Refused clients, kept open a moment so that their request is read and dropped: closing
    // a unix socket with unread data resets the peer, which could lose the error line.
    let mut lingering: VecDeque<(Instant, UnixStream)> = VecDeque::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        // The threads that ended are joined as they go.
        let (done, running): (Vec<_>, Vec<_>) =
            clients.into_iter().partition(|c| c.thread.is_finished());
        clients = running;
        for c in done {
            let _ = c.thread.join();
        }
        for (_, s) in &lingering {
            drain(s);
        }
        while lingering
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > LINGER)
        {
            lingering.pop_front();
        }
        match net::poll_readable(&[listener.as_raw_fd()], 100) {
            Ok(r) if r[0] => {}
            Ok(_) => continue,
            Err(e) => {
                warn!("control socket poll: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        loop {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    warn!("control socket accept: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
            };
            if stats.active.load(Ordering::Relaxed) >= max_clients {
                stats.refused_busy.fetch_add(1, Ordering::Relaxed);
                // A fresh socket's buffer is empty: this short write cannot block.
                let _ = stream.set_nonblocking(true);
                let msg = format!(
                    "mgmd is serving {max_clients} control clients (limits.control_clients): try again"
                );
                let _ = (&stream).write_all(control::error_reply(&msg).as_bytes());
                let _ = stream.shutdown(std::net::Shutdown::Write);
                drain(&stream);
                if lingering.len() >= MAX_LINGERING {
                    lingering.pop_front();
                }
                lingering.push_back((Instant::now(), stream));
                continue;
            }
            // The handle to shut the socket down at stop; without one, the client is not
            // served (a thread that could not be ended).
            let handle = match stream.try_clone() {
                Ok(h) => h,
                Err(e) => {
                    warn!("control client socket: {e}");
                    continue;
                }
            };
            stats.active.fetch_add(1, Ordering::Relaxed);
            let guard = ActiveGuard(stats.clone());
            let (jobs, wake, st) = (jobs.clone(), wake.clone(), stats.clone());
            let spawned = std::thread::Builder::new()
                .name("control-client".into())
                .stack_size(128 << 10)
                .spawn(move || {
                    let _guard = guard;
                    client(stream, &jobs, &wake, &st);
                });
            match spawned {
                Ok(thread) => clients.push(ClientThread {
                    stream: handle,
                    thread,
                }),
                Err(e) => warn!("control client thread: {e}"),
            }
        }
    }
    end_clients(clients)
}

/// How long a refused client's socket stays open.
const LINGER: Duration = Duration::from_millis(300);
/// At most this many refused sockets stay open at once.
const MAX_LINGERING: usize = 64;

/// Reads and drops what a non-blocking socket has queued, up to a bound.
fn drain(s: &UnixStream) {
    let mut buf = [0u8; 4096];
    for _ in 0..4 {
        match (&*s).read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// A stream whose reads and writes all end by one deadline.
struct Deadline<'a> {
    stream: &'a UnixStream,
    until: Instant,
}

impl Deadline<'_> {
    fn left(&self) -> io::Result<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::from(io::ErrorKind::TimedOut))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        (&*self.stream).read(buf)
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        (&*self.stream).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

fn client(stream: UnixStream, jobs: &mpsc::Sender<Job>, wake: &UnixStream, stats: &Stats) {
    stats.served.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nonblocking(false);
    let mut r = Deadline {
        stream: &stream,
        until: Instant::now() + READ_DEADLINE,
    };
    let reply = match control::read_line_capped(&mut r, MAX_REQUEST) {
        Err(ReadError::TooLong) => {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            control::error_reply(&control::RequestError::TooLong { limit: MAX_REQUEST }.to_string())
        }
        Err(ReadError::Io(e)) if timed_out(&e) => {
            stats.timed_out.fetch_add(1, Ordering::Relaxed);
            control::error_reply(&format!(
                "no complete request line within {} s",
                READ_DEADLINE.as_secs()
            ))
        }
        Err(ReadError::Io(e)) => {
            debug!("control client read: {e}");
            return;
        }
        Ok(line) => match control::parse_request(&line) {
            Err(e) => {
                stats.bad_requests.fetch_add(1, Ordering::Relaxed);
                control::error_reply(&e.to_string())
            }
            Ok(request) => {
                let (tx, rx) = mpsc::sync_channel(1);
                if jobs.send(Job { request, reply: tx }).is_err() {
                    return; // shutting down
                }
                // One byte says "a job is queued"; a full wake-up buffer already says so.
                let _ = (&*wake).write(&[1]);
                match rx.recv_timeout(REPLY_WAIT) {
                    Ok(reply) => reply(),
                    Err(_) => control::error_reply("mgmd did not answer in time"),
                }
            }
        },
    };
    let mut w = Deadline {
        stream: &stream,
        until: Instant::now() + WRITE_DEADLINE,
    };
    if let Err(e) = w.write_all(reply.as_bytes()) {
        if timed_out(&e) {
            stats.timed_out.fetch_add(1, Ordering::Relaxed);
        }
        debug!("control client write: {e}");
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
