//! `mgmd`: a multicast router daemon on the Linux kernel's forwarding plane, built on the `mgm`
//! engine. It owns the configured interfaces with a static routing client (RIB routes for RPF,
//! smcroute-like static (S,G)/(*,G) forwarding), runs the IGMP router on them, follows the
//! engine's forwarding table into the kernel (MRT_ADD_MFC/MRT_DEL_MFC), and answers `mgmctl`
//! on a unix control socket.
//!
//! ```text
//! mgmd --config /etc/mgmd.toml [--socket PATH] [--log error|warn|info|debug|trace]
//!      [--pid-file PATH] [--check]
//! mgmd --probe IFNAME...    # checks the kernel's IPv4 and IPv6 (MRT6_*) multicast routing
//! ```
//!
//! (the command line is [`mgmd::cli::MgmdArgs`]; `--help` lists it). **Under a service
//! manager** (`crates/mgmd/mgmd.service`, `Type=notify`): once every interface has its VIF
//! and the control socket listens, mgmd writes the `--pid-file` (refused at start if it holds
//! a running mgmd's pid) and sends `READY=1` with a `STATUS=` line to `NOTIFY_SOCKET`
//! ([`mgmd::notify`]); `STOPPING=1` when it shuts down. Another process holding the kernel's
//! multicast routing socket (MRT_INIT: EADDRINUSE) is named as the reason it cannot start.
//!
//! **Limits** (`[limits]` in the configuration): `max_mfes` (32768) bounds the engine's table,
//! so a miss storm ends in refused misses, counted in `mgmctl status`, instead of memory;
//! `control_clients` (128) bounds the control clients served at once (one more gets an error
//! line); `log_lines_per_second` (20) bounds the upcall, wrong-interface and error lines of
//! each kind, with one line saying how many were left out; `counter_sync_per_second` (4096)
//! is how many entries' kernel counters are copied into the engine each second, round-robin.
//!
//! **Control socket.** It is served by threads of its own: a client has 2 s to send its
//! request line (at most 4096 bytes) and 5 s to take the reply; whatever it sends, the main
//! loop, which reads the mroute socket, never waits on it. `mfes` and `memberships` are
//! answered a page at a time (`mgmctl` asks page after page). The socket's path must be free
//! or hold a stale socket: mgmd refuses to start over a file, a directory or a link, or when
//! another process answers on the socket. `status` shows how long upcalls waited (from the
//! last moment the main loop knew the mroute socket empty to the upcall handled, by bucket;
//! in a storm, upcalls queued together wait for each other), how long the socket went
//! unwatched between two looks, and how long the main loop spent on control steps. Every
//! piece of the loop's work is a slice bounded in time (200 µs, the clock read every few
//! entries: an `mfes` page, the kernel counters' sync, the forwarder's changes and resync
//! pages), with a look at the mroute socket
//! between slices; replies are formatted on the client's thread. At `--log debug`, work
//! longer than 500 µs is logged with its time on and off the CPU.
//!
//! **Interfaces** are followed live through rtnetlink (`mgmd/links.rs`): one absent at start
//! is taken when its link appears and is up; one that goes down (`IFF_UP` or `IFF_RUNNING`
//! lost) or is deleted leaves every outgoing list, IGMP keeping its hosts' reports, and comes
//! back when it is up again, on a new ifindex if the link was created again; address changes
//! reach the IGMP querier. `mgmctl interfaces` shows each one's ifindex and state (up, down,
//! absent).
//!
//! **IGMP** joins the router groups with one socket per interface, so it runs on every
//! interface the kernel can forward on (the kernel allows 20 memberships per socket).
//!
//! **Reload and runtime control.** On SIGHUP, and on `mgmctl reload`, it reads the
//! configuration file again, checks it whole as `--check` does (an invalid file changes
//! nothing, and says why), and applies the difference live ([`mgmd::plan`]): interfaces,
//! IGMP settings, RPF routes, static mroutes; an interface added is attached when its link is
//! up, one removed is detached and its link no longer followed, and what names a detached
//! interface reaches the engine when it is attached. `mgmctl` adds and removes static
//! mroutes, RPF routes and static memberships (each change checked as the configuration is,
//! applied wholly or not at all), and flushes the dynamic entries; each is one control step of
//! the main loop (a flush a slice at a time). A static (S,G)'s entry never expires.
//!
//! On SIGTERM or SIGINT it releases every interface (the routing client first, so IGMP sees
//! its disable/enable bracket, then IGMP), deregisters both clients, deletes every MFC and VIF
//! and closes the mroute socket: no kernel state is left.

#[path = "mgmd/changes.rs"]
mod changes;
#[path = "mgmd/links.rs"]
mod links;
#[path = "mgmd/server.rs"]
mod server;
#[path = "mgmd/timing.rs"]
mod timing;

use std::collections::VecDeque;
use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use mgm::{
    DefaultHooks, Event, EventReceiver, Hooks, IfKey, Mgm, MissOutcome, ProtocolHandle, Route,
    RpfDecision, RpfQuery, Selector, JOIN,
};
use mgm_igmp::{self as igmp, IgmpAction};
use mgm_igmp_client::IgmpClient;
use mgm_linux::mroute::Received4;
use mgm_linux::{
    net, Forwarder, GroupMemberships, LinuxError, Mroute6Socket, MrouteSocket, UpcallKind,
    UpcallOutcome,
};
use mgmd::control::{self, Command, JoinSpec, MembershipKey, Request};
use mgmd::plan::{self, IfaceWanted, Origin, Sel, Wanted};
use mgmd::ratelimit::LogLimiter;
use mgmd::reply;
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

use mgmd::cli::MgmdArgs;
use mgmd::config::Config;

/// The static routing client's protocol id: type multicast, vendor 0x2d6 ("mgm"), protocol 1.
fn static_protocol() -> u32 {
    mgm::protocol_id(1, 0x2d6, 1)
}

/// RPF overrides of `[[mroute]] from = ...`: (selector, incoming ifindex) for the `from`
/// interfaces attached now, replaced as a whole when the mroutes or the attached interfaces
/// change.
struct StaticHooks {
    rules: Arc<Mutex<Vec<(Sel, u32)>>>,
}

impl Hooks<Ipv4Addr> for StaticHooks {
    fn rpf(&self, q: &RpfQuery<Ipv4Addr>) -> RpfDecision<Ipv4Addr> {
        let rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        let rule = rules
            .iter()
            .filter(|((s, g), _)| *g == q.sg.group && s.is_none_or(|s| s == q.sg.source))
            .max_by_key(|((s, _), _)| s.is_some());
        match rule {
            Some((_, iif)) => RpfDecision {
                iif: IfKey::new(*iif),
                upstream: q.upstream,
            },
            None => DefaultHooks.rpf(q),
        }
    }
}

struct Iface {
    name: String,
    ifindex: u32,
    address: Option<Ipv4Addr>,
    /// IGMP is configured there (it runs while the interface is attached and has an IPv4
    /// address).
    igmp: bool,
    /// The IGMP input checks of this link (`[igmp]` with the interface's keys over it).
    input: igmp::InputPolicy,
    /// Where its link is (`ifindex` 0: never seen).
    link: links::LinkState,
    /// Has its VIF and is owned: up ([`links`]).
    attached: bool,
}

struct Daemon {
    mgm: Mgm<Ipv4Addr>,
    fwd: Forwarder<Ipv4Addr, MrouteSocket>,
    igmp: IgmpClient,
    routing: ProtocolHandle,
    routing_events: EventReceiver<Ipv4Addr>,
    ifaces: Vec<Iface>,
    events: VecDeque<reply::Event>,
    start: Instant,
    /// The wall clock at `start`.
    start_wall: SystemTime,
    /// The configuration in force: the file's, with the control requests' changes.
    config: Config,
    /// Where it was read from (a reload reads it again).
    config_path: PathBuf,
    /// The static memberships of `mgmctl join`.
    joins: Vec<JoinSpec>,
    /// The static state as applied to the engine, step by step.
    applied: Wanted,
    /// The RPF overrides the static routing client's hooks read.
    rules: Arc<Mutex<Vec<(Sel, u32)>>>,
    /// The router groups' memberships, one socket per interface.
    groups: GroupMemberships,
    max_mfes: usize,
    sync_per_second: usize,
    upcall_log: LogLimiter,
    wrong_if_log: LogLimiter,
    routing_log: LogLimiter,
    error_log: LogLimiter,
    /// The mroute socket's watch: upcall delays, unwatched times.
    watch: timing::Watch,
    /// The main loop's time on each control step.
    steps: timing::Histogram,
    control: Option<Arc<server::Stats>>,
    /// When the links' subnets were last read (`Daemon::refresh_subnets`).
    subnets_read: Instant,
    /// The interfaces' links followed live.
    links: links::Links,
}

/// How often the IGMP links' subnets are read again, so an address change reaches the
/// off-subnet checks.
const SUBNET_REFRESH: Duration = Duration::from_secs(30);
/// Messages of the mroute socket handled per call of `Daemon::read_socket`.
const MESSAGES_PER_TURN: usize = 256;
const EVENT_RING: usize = 1000;

/// How long the main loop works on control requests per turn, a slice at a time.
const TURN: Duration = Duration::from_millis(1);
/// Entries read between two looks at the clock, in an `mfes` page (engine record and kernel
/// counters) and in the kernel counters' sync, and forwarder changes applied between two.
const CLOCK_EVERY: usize = 8;

/// The page key of a membership: the engine's walk order (interface, selector, protocol)
/// written as `memberships` takes it after `after`, the wildcards as 0.0.0.0.
fn membership_key(m: &mgm::MembershipInfo<Ipv4Addr>) -> MembershipKey {
    let (source, group) = match m.selector {
        Selector::Source { source, group } => (source, group),
        Selector::Group(g) => (Ipv4Addr::UNSPECIFIED, g),
        _ => (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED),
    };
    MembershipKey {
        ifindex: m.interface.index,
        group,
        source,
        protocol: m.protocol.0,
        component: m.protocol.1,
    }
}

/// A control request being answered on the main loop.
enum Work {
    /// Not started.
    New(server::Job),
    /// An `mfes` page, gathered a slice per step.
    Mfes {
        job: server::Job,
        cursor: Option<mgm::Sg<Ipv4Addr>>,
        left: usize,
        rows: Vec<mgm_linux::ForwardedStats<Ipv4Addr>>,
        first: bool,
    },
    /// A `flush`, a slice of the walk per step.
    Flush {
        job: server::Job,
        cursor: Option<mgm::Sg<Ipv4Addr>>,
        deleted: usize,
    },
}

impl Work {
    /// What the step is, for the log of slow work.
    fn what(&self) -> &'static str {
        match self {
            Work::New(j) => j.request.command.name(),
            Work::Mfes { .. } => "mfes (continued)",
            Work::Flush { .. } => "flush (continued)",
        }
    }
}

fn main() {
    let args = <MgmdArgs as clap::Parser>::parse();
    let level = args.log.level();
    let (check_only, socket, pid_file) = (args.check, args.socket, args.pid_file);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    if let Some(ifs) = args.probe {
        if let Err(e) = probe(&ifs) {
            error!("probe: {e}");
            std::process::exit(1);
        }
        return;
    }
    let Some(config_path) = args.config else {
        // clap requires --config unless --probe is given: this is only a second guard.
        <MgmdArgs as clap::CommandFactory>::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--config FILE is required",
            )
            .exit()
    };
    let text = match std::fs::read_to_string(&config_path) {
        Ok(t) => t,
        Err(e) => {
            error!("cannot read {}: {e}", config_path.display());
            std::process::exit(1);
        }
    };
    let config = match Config::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            // One line per problem.
            for problem in e.lines() {
                error!("{}: {problem}", config_path.display());
            }
            std::process::exit(1);
        }
    };
    if check_only {
        println!("{}: ok", config_path.display());
        return;
    }
    let socket = socket
        .or_else(|| config.control_socket.clone())
        .unwrap_or_else(|| PathBuf::from(mgmd::cli::DEFAULT_SOCKET));
    if let Err(e) = run(config, config_path, socket, pid_file) {
        error!("{e}");
        std::process::exit(1);
    }
}

/// Once every interface has its VIF and the control socket listens: writes the pid file and
/// tells the service manager (`READY=1`, with a `STATUS=` line).
fn announce_ready(
    d: &Daemon,
    socket: &std::path::Path,
    pid_path: Option<&std::path::Path>,
) -> Result<Option<mgmd::pid_file::PidFile>, String> {
    let pid_file = pid_path.map(mgmd::pid_file::PidFile::write).transpose()?;
    let names: Vec<&str> = d.ifaces.iter().map(|i| i.name.as_str()).collect();
    let status = mgmd::notify::status_line(&format!(
        "forwarding on {} interfaces ({}); control socket {}",
        names.len(),
        names.join(", "),
        socket.display()
    ));
    notify(&format!("READY=1\nSTATUS={status}"));
    Ok(pid_file)
}

/// Sends `state` to the service manager, if one asked for it (`NOTIFY_SOCKET`); a failure is
/// logged, never fatal.
fn notify(state: &str) {
    match mgmd::notify::notify(state) {
        Ok(true) => debug!("told the service manager {state:?}"),
        Ok(false) => {}
        Err(e) => warn!("{}: {e}", mgmd::notify::NOTIFY_SOCKET),
    }
}

/// Why the mroute socket could not be opened, in an operator's words.
fn mroute_open_error(e: &std::io::Error, what: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{what}: another process holds the kernel's multicast routing socket in this network namespace (another mgmd, smcroute, pimd, igmpproxy...): only one multicast router can run here; stop it first ({e})"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "{what}: not permitted: mgmd needs root, or CAP_NET_ADMIN and CAP_NET_RAW ({e})"
        ),
        _ => format!("{what}: {e}"),
    }
}

/// Opens the IPv4 and IPv6 mroute sockets, gives the interfaces VIFs/MIFs, and, with two or
/// more interfaces, has an IPv6 engine entry installed in and removed from the kernel.
fn probe(names: &[String]) -> Result<(), String> {
    let v4 = MrouteSocket::open().map_err(|e| mroute_open_error(&e, "IPv4"))?;
    println!(
        "IPv4: MRT_INIT ok, MRT_VERSION {:#x}",
        v4.version().map_err(|e| e.to_string())?
    );
    drop(v4);
    let v6 = Mroute6Socket::open().map_err(|e| mroute_open_error(&e, "IPv6"))?;
    println!("IPv6: MRT6_INIT ok");
    let mgm6 = Mgm::<Ipv6Addr>::default();
    let mut f6 = Forwarder::new(mgm6.clone(), v6).map_err(|e| e.to_string())?;
    let mut idx = Vec::new();
    for n in names {
        let i = net::interface_index(n).map_err(|e| e.to_string())?;
        let mif = f6.add_interface(i).map_err(|e| e.to_string())?;
        println!("IPv6: MRT6_ADD_MIF {n} (ifindex {i}) -> mif {mif}");
        idx.push(i);
    }
    if idx.len() >= 2 {
        let (s, g): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::2".parse().expect("literal"),
            "ff0e::1:3".parse().expect("literal"),
        );
        let (h, _ev) = mgm6
            .register(static_protocol(), 1, Arc::new(DefaultHooks))
            .map_err(|e| e.to_string())?;
        for i in &idx {
            mgm6.take_interface(h, IfKey::new(*i))
                .map_err(|e| e.to_string())?;
        }
        mgm6.add_route(Route::new(
            "2001:db8::".parse().expect("literal"),
            32,
            IfKey::new(idx[0]),
        ))
        .map_err(|e| e.to_string())?;
        mgm6.add_membership(h, Selector::Group(g), IfKey::new(idx[1]), JOIN)
            .map_err(|e| e.to_string())?;
        mgm6.new_packet(IfKey::new(idx[0]), s, g)
            .map_err(|e| e.to_string())?;
        if let Some(e) = f6.pump().into_iter().next() {
            return Err(e.to_string());
        }
        let k = f6
            .kernel_counters(mgm::Sg::new(s, g))
            .ok_or("the kernel has no (2001:db8::2, ff0e::1:3) entry after MRT6_ADD_MFC")?;
        println!(
            "IPv6: MRT6_ADD_MFC ({s}, {g}) parent mif {:?} oifs {:?}; SIOCGETSGCNT_IN6 {k:?}",
            f6.installed().values().next().map(|e| e.parent),
            f6.installed().values().next().map(|e| e.oifs.clone())
        );
    }
    let errs = f6.shutdown();
    if let Some(e) = errs.first() {
        return Err(e.to_string());
    }
    println!("IPv6: MRT6_DEL_MFC / MRT6_DEL_MIF ok");
    Ok(())
}

fn run(
    config: Config,
    config_path: PathBuf,
    socket: PathBuf,
    pid_path: Option<PathBuf>,
) -> Result<(), String> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, term.clone()).map_err(|e| format!("signal: {e}"))?;
    }
    // SIGHUP: read the configuration again (a reload), as `mgmctl reload` does.
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| format!("signal: {e}"))?;
    // Before touching the kernel: a path that is not ours is a configuration error.
    mgmd::socket_path::prepare(&socket)?;
    if let Some(p) = &pid_path {
        mgmd::pid_file::check(p)?;
    }
    let mut d = Daemon::start(&config, config_path)?;
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = d.shutdown();
            return Err(format!("control socket {}: {e}", socket.display()));
        }
    };
    let (wake_tx, wake_rx) = UnixStream::pair().map_err(|e| format!("wake-up socket: {e}"))?;
    wake_rx
        .set_nonblocking(true)
        .map_err(|e| format!("wake-up socket: {e}"))?;
    let (jobs_tx, jobs) = mpsc::channel();
    let server = server::Server::start(listener, config.limits.control_clients, jobs_tx, wake_tx)
        .map_err(|e| format!("control thread: {e}"))?;
    d.control = Some(server.stats.clone());
    info!(socket = %socket.display(), max_mfes = d.max_mfes, control_clients = config.limits.control_clients, "mgmd ready");
    // Held to the end: dropped, it removes the file.
    let _pid_file = match announce_ready(&d, &socket, pid_path.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            server.stop();
            let _ = d.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Err(e);
        }
    };
    let mut last_timers = Instant::now();
    let mut work: VecDeque<Work> = VecDeque::new();
    // Kernel counters still to copy this second (limits.counter_sync_per_second), a slice
    // per turn.
    let mut sync_due = 0usize;
    // The engine's due timers, a slice per turn until none is left.
    let mut timers_due = false;
    while !term.load(Ordering::Relaxed) {
        let now = d.now();
        let wait = if !work.is_empty() || sync_due > 0 || timers_due || d.fwd.pending() {
            0
        } else {
            d.igmp
                .next_deadline()
                .map_or(100, |t| t.saturating_sub(now).as_millis().min(100) as i32)
        };
        let fds = [
            d.fwd.kernel().as_raw_fd(),
            wake_rx.as_raw_fd(),
            d.links.monitor.as_raw_fd(),
        ];
        let ready = d.watch.look(&fds, wait).map_err(|e| format!("poll: {e}"))?;
        if ready[0] {
            d.read_socket();
        }
        if ready[2] {
            d.read_links();
        }
        if ready[1] {
            let mut buf = [0u8; 256];
            while matches!((&wake_rx).read(&mut buf), Ok(n) if n > 0) {}
            while let Ok(job) = jobs.try_recv() {
                work.push_back(Work::New(job));
            }
        }
        // Control steps, each a slice (timing::SLICE) after a look at the mroute socket, for
        // at most TURN of the loop's time; what is left waits for the next turn.
        let turn = Instant::now();
        while let Some(w) = work.pop_front() {
            if d.watch
                .look(&fds[..1], 0)
                .map_err(|e| format!("poll: {e}"))?[0]
            {
                d.read_socket();
            }
            let what = w.what();
            let t = d.watch.begin();
            let step = d.step(w);
            let took = d.watch.end(t, what);
            d.steps.add(took);
            match step {
                Ok((job, reply)) => {
                    let _ = job.reply.send(reply);
                }
                Err(more) => work.push_front(*more),
            }
            if turn.elapsed() >= TURN {
                break;
            }
        }
        if d.watch
            .look(&fds[..1], 0)
            .map_err(|e| format!("poll: {e}"))?[0]
        {
            d.read_socket();
        }
        if hup.swap(false, Ordering::Relaxed) {
            info!("SIGHUP: reloading {}", d.config_path.display());
            let t = d.watch.begin();
            // The outcome is logged; nothing else waits for it.
            let _ = d.reload();
            d.watch.end(t, "reload");
        }
        let t = d.watch.begin();
        let acts = d.igmp.tick(d.now());
        d.igmp_actions(acts);
        d.watch.end(t, "IGMP timers");
        if last_timers.elapsed() >= Duration::from_secs(1) {
            last_timers = Instant::now();
            let t = d.watch.begin();
            timers_due = true;
            d.flush_logs(Instant::now());
            d.watch.end(t, "logs");
            sync_due = d.sync_per_second;
        }
        if timers_due {
            let t = d.watch.begin();
            timers_due = d.run_timers();
            d.watch.end(t, "engine timers");
        }
        if sync_due > 0 {
            let t = d.watch.begin();
            sync_due = d.sync_counters(sync_due);
            d.watch.end(t, "kernel counters");
        }
        let t = d.watch.begin();
        d.housekeeping();
        d.watch.end(t, "housekeeping");
    }
    info!("signal received: shutting down");
    notify("STOPPING=1");
    // The replies still owed are dropped first: a client waiting for one ends at once.
    drop(work);
    drop(jobs);
    let (joined, running) = server.stop();
    if running > 0 {
        warn!(
            joined,
            running,
            "control client threads still running {} ms after their sockets were shut down",
            server::JOIN_WAIT.as_millis()
        );
    } else {
        info!(joined, "control threads joined");
    }
    let r = d.shutdown();
    let _ = std::fs::remove_file(&socket);
    r
}

impl Daemon {
    fn start(config: &Config, config_path: PathBuf) -> Result<Self, String> {
        let mgm = Mgm::<Ipv4Addr>::new(mgm::Config {
            max_mfes: config.limits.max_mfes,
            ..mgm::Config::default()
        });
        let sock = MrouteSocket::open().map_err(|e| mroute_open_error(&e, "mroute socket"))?;
        info!(
            version = format!("{:#x}", sock.version().unwrap_or(0)),
            "mroute socket open (MRT_INIT, MRT_ASSERT)"
        );
        let target = Wanted::of(config, &[])?;
        let igmp_config = config.igmp.to_config()?;
        let rules = Arc::new(Mutex::new(Vec::new()));
        let (links, dumped) = links::Links::open()?;
        let (routing, routing_events) = mgm
            .register(
                static_protocol(),
                1,
                Arc::new(StaticHooks {
                    rules: rules.clone(),
                }),
            )
            .map_err(|e| format!("register: {e}"))?;
        let igmp = IgmpClient::register(mgm.clone(), igmp_config)
            .map_err(|e| format!("register IGMP: {e}"))?;
        let fwd = Forwarder::new(mgm.clone(), sock).map_err(|e| e.to_string())?;
        let mut d = Daemon {
            mgm,
            fwd,
            igmp,
            routing,
            routing_events,
            ifaces: Vec::new(),
            events: VecDeque::new(),
            start: Instant::now(),
            start_wall: SystemTime::now(),
            config: config.clone(),
            config_path,
            joins: Vec::new(),
            applied: Wanted {
                igmp: Some(igmp_config),
                ..Wanted::default()
            },
            rules,
            groups: GroupMemberships::default(),
            max_mfes: config.limits.max_mfes,
            sync_per_second: config.limits.counter_sync_per_second,
            upcall_log: LogLimiter::new(config.limits.log_lines_per_second),
            wrong_if_log: LogLimiter::new(config.limits.log_lines_per_second),
            routing_log: LogLimiter::new(config.limits.log_lines_per_second),
            error_log: LogLimiter::new(config.limits.log_lines_per_second),
            watch: timing::Watch::new(),
            steps: timing::Histogram::default(),
            control: None,
            subnets_read: Instant::now(),
            links,
        };
        // The first dump's links and addresses are the state each interface starts in: one
        // up is attached, the others are taken when their link is.
        for e in dumped.errors {
            warn!("rtnetlink message left out: {e}");
        }
        d.converge(&target)?;
        if d.groups.interfaces() > 0 {
            let limit = mgm_linux::membership::max_memberships_per_socket();
            info!(
                interfaces = d.groups.interfaces(),
                "IGMP router groups {} and {} joined with one socket per interface (the kernel allows igmp_max_memberships = {} per socket: one socket for all would stop at {} interfaces)",
                igmp::IGMPV3_ROUTERS,
                igmp::ALL_ROUTERS,
                limit.map_or("?".to_string(), |n| n.to_string()),
                limit.map_or("?".to_string(), |n| (n / 2).to_string())
            );
        }
        Ok(d)
    }

    /// The ifindex of a configured interface whose link is attached now (none for one that
    /// is absent or down, whose routes and memberships wait for its link: [`links`]).
    fn attached_ifindex(&self, name: &str) -> Option<u32> {
        self.ifaces
            .iter()
            .find(|i| i.name == name && i.attached)
            .map(|i| i.ifindex)
    }

    /// Follows one more interface (start-up and reload alike): attached at once when its link
    /// is up, taken when it is otherwise ([`links`]). Wholly or not at all: on an error, what
    /// was done is undone and the interface is not followed.
    fn add_interface(&mut self, name: &str, want: IfaceWanted) -> Result<(), String> {
        let (link, ifindex) = self.links.state_of(name);
        let address = (ifindex != 0)
            .then(|| self.links.ipv4_of(ifindex))
            .flatten();
        self.ifaces.push(Iface {
            name: name.to_string(),
            ifindex,
            address,
            igmp: want.igmp,
            input: want.input,
            link,
            attached: false,
        });
        let i = self.ifaces.len() - 1;
        if link != links::LinkState::Up {
            warn!(interface = %name, state = link.as_str(), "interface not up: taken when its link is");
            return Ok(());
        }
        if let Err(e) = self.attach(i) {
            self.forget_interface(i);
            return Err(e);
        }
        Ok(())
    }

    /// Stops following one interface: detached if it was attached (the static routing client
    /// releases it, its VIF goes), IGMP stopped there, with the state it kept while the link
    /// was down; its link's announcements are ignored from now on. Failures are logged; the
    /// interface is gone from mgmd's view in any case.
    fn remove_interface(&mut self, name: &str) {
        let Some(i) = self.iface_named(name) else {
            return;
        };
        let ifindex = self.ifaces[i].ifindex;
        self.forget_interface(i);
        info!(interface = %name, ifindex, "interface released and no longer followed");
    }

    fn forget_interface(&mut self, i: usize) {
        if self.ifaces[i].attached {
            self.detach(i, false);
        }
        let name = self.ifaces[i].name.clone();
        self.stop_igmp(&name);
        self.ifaces.remove(i);
        self.housekeeping();
    }

    /// Stops the IGMP querier on an interface (its IGMP memberships go with it, and the
    /// hosts' reports it kept while the link was down).
    fn stop_igmp(&mut self, name: &str) {
        let Some(i) = self.iface_named(name) else {
            return;
        };
        let ifindex = self.ifaces[i].ifindex;
        if self.igmp.router().interfaces().contains_key(&ifindex) {
            self.groups.leave(ifindex);
            if let Err(e) = self.igmp.remove_interface(ifindex) {
                warn!("IGMP release {name}: {e}");
            }
            info!(interface = %name, "released by IGMP");
        }
        self.ifaces[i].igmp = false;
        self.housekeeping();
    }

    /// The engine's selector of `sel`.
    fn selector(sel: &Sel) -> Selector<Ipv4Addr> {
        match sel.0 {
            Some(source) => Selector::Source {
                source,
                group: sel.1,
            },
            None => Selector::Group(sel.1),
        }
    }

    /// Brings the applied static state to `target`, step by step ([`plan::diff`]); returns
    /// a line per change. Each step that succeeds is recorded in `self.applied`, so after an
    /// error a second call with the former state undoes what was done. What names a detached
    /// interface (a route toward it, a membership on it, an override from it) is recorded
    /// only, and reaches the engine when the interface is attached ([`links`]).
    fn converge(&mut self, target: &Wanted) -> Result<Vec<String>, String> {
        let d = plan::diff(&self.applied, target);
        let mut done = Vec::new();
        for name in &d.add_interfaces {
            self.add_interface(name, target.interfaces[name])?;
            self.applied
                .interfaces
                .insert(name.clone(), target.interfaces[name]);
            match self.ifaces.iter().find(|i| i.name == *name) {
                Some(i) if !i.attached => done.push(format!(
                    "interface {name} added (link {}: attached when it is up)",
                    i.link.as_str()
                )),
                _ => done.push(format!("interface {name} added")),
            }
        }
        if let Some(c) = target.igmp.filter(|c| self.applied.igmp != Some(*c)) {
            self.igmp.set_config(c);
            self.applied.igmp = Some(c);
            done.push("IGMP settings changed".into());
        }
        for name in &d.igmp_off {
            self.stop_igmp(name);
            self.applied
                .interfaces
                .insert(name.clone(), target.interfaces[name]);
            done.push(format!("IGMP stopped on {name}"));
        }
        for name in &d.igmp_on {
            let i = self
                .iface_named(name)
                .ok_or_else(|| format!("interface {name:?} is not one of mgmd's"))?;
            self.ifaces[i].igmp = true;
            self.ifaces[i].input = target.interfaces[name].input;
            if self.ifaces[i].attached {
                if let Err(e) = self.start_igmp(i) {
                    self.ifaces[i].igmp = false;
                    return Err(e);
                }
            }
            self.applied
                .interfaces
                .insert(name.clone(), target.interfaces[name]);
            done.push(format!("IGMP started on {name}"));
        }
        for name in &d.policies {
            let input = target.interfaces[name].input;
            if let Some(i) = self.iface_named(name) {
                // Kept with IGMP's state where the link is down; used when IGMP starts.
                self.igmp.set_input_policy(self.ifaces[i].ifindex, input);
                self.ifaces[i].input = input;
            }
            self.applied
                .interfaces
                .insert(name.clone(), target.interfaces[name]);
            done.push(format!("IGMP input checks changed on {name}"));
        }
        if d.rules {
            self.applied.rules.clone_from(&target.rules);
            self.rebuild_rules();
        }
        for k in &d.remove_routes {
            let toward = self.applied.routes.get(k).map(|r| r.interface.clone());
            if toward.is_some_and(|n| self.attached_ifindex(&n).is_some()) {
                self.mgm
                    .remove_route(k.0, k.1)
                    .map_err(|e| format!("route {}/{}: {e}", k.0, k.1))?;
            }
            let r = self.applied.routes.remove(k);
            info!(prefix = %format!("{}/{}", k.0, k.1), "route removed");
            if r.is_some_and(|r| r.origin == Origin::Route) {
                done.push(format!("route {}/{} removed", k.0, k.1));
            }
        }
        for k in &d.add_routes {
            let r = &target.routes[k];
            if let Some(ifindex) = self.attached_ifindex(&r.interface) {
                let mut route = Route::new(k.0, k.1, IfKey::new(ifindex));
                if let Some(u) = r.upstream {
                    route.upstream = u;
                }
                self.mgm
                    .add_route(route)
                    .map_err(|e| format!("route {}/{}: {e}", k.0, k.1))?;
                info!(prefix = %format!("{}/{}", k.0, k.1), interface = %r.interface, "route");
            } else {
                info!(prefix = %format!("{}/{}", k.0, k.1), interface = %r.interface, "route: in the engine when its interface is up");
            }
            self.applied.routes.insert(*k, r.clone());
            if r.origin == Origin::Route {
                done.push(format!("route {}/{} via {} added", k.0, k.1, r.interface));
            }
        }
        for sel in &d.regroup {
            let n = self.delete_entries_of(*sel, target);
            if n > 0 {
                done.push(format!(
                    "{n} forwarding entries of {} deleted, to be rebuilt under its new `from`",
                    plan::show_sel(sel)
                ));
            }
        }
        for m in &d.join {
            let sel = Self::selector(&m.0);
            if let Some(ifindex) = self.attached_ifindex(&m.1) {
                self.mgm
                    .add_membership(self.routing, sel, IfKey::new(ifindex), JOIN)
                    .map_err(|e| format!("{sel} to {}: {e}", m.1))?;
                info!(selector = %sel, interface = %m.1, "static membership");
            } else {
                info!(selector = %sel, interface = %m.1, "static membership: in the engine when its interface is up");
            }
            self.applied.members.insert(m.clone());
            done.push(format!("{sel} forwarded to {}", m.1));
        }
        for m in &d.leave {
            let sel = Self::selector(&m.0);
            // A detached interface's memberships left the engine with it.
            if let Some(ifindex) = self.attached_ifindex(&m.1) {
                self.mgm
                    .delete_membership(self.routing, sel, IfKey::new(ifindex), JOIN)
                    .map_err(|e| format!("{sel} to {}: {e}", m.1))?;
            }
            self.applied.members.remove(m);
            info!(selector = %sel, interface = %m.1, "static membership removed");
            done.push(format!("{sel} no longer forwarded to {}", m.1));
        }
        for sg in &d.unpin {
            self.applied.pinned.remove(sg);
            // Rebuilt by the next packet as a dynamic entry, with the default lifetime.
            match self.mgm.delete_mfe(self.routing, sg.0, sg.1) {
                Ok(()) | Err(mgm::Error::NoSuchMfe { .. }) => {}
                Err(e) => warn!("deleting the entry of ({}, {}): {e}", sg.0, sg.1),
            }
        }
        for sg in &d.pin {
            self.applied.pinned.insert(*sg, target.pinned[sg].clone());
        }
        self.ensure_pinned();
        for name in &d.remove_interfaces {
            self.remove_interface(name);
            self.applied.interfaces.remove(name);
            done.push(format!("interface {name} removed"));
        }
        self.housekeeping();
        Ok(done)
    }

    /// Deletes the dynamic entries `sel` selects (a slice of the walk from the group's first
    /// entry); returns how many.
    fn delete_entries_of(&mut self, sel: Sel, target: &Wanted) -> usize {
        let mut after = Some(mgm::Sg::new(Ipv4Addr::UNSPECIFIED, sel.1));
        let mut deleted = 0;
        while let Ok(page) = self.mgm.mfes(after, 64) {
            let mut past = false;
            for m in &page.items {
                if m.group != sel.1 {
                    past = true;
                    break;
                }
                let chosen = sel.0.is_none_or(|s| s == m.source);
                if chosen
                    && !target.pinned.contains_key(&(m.source, m.group))
                    && self.mgm.delete_mfe(self.routing, m.source, m.group).is_ok()
                {
                    deleted += 1;
                }
            }
            after = page.items.last().map(|m| m.sg());
            if past || !page.more {
                break;
            }
        }
        deleted
    }

    /// Every static (S,G)'s entry never expires: pinned where it exists, installed ahead of
    /// traffic where its rule has a `from` that is attached now.
    fn ensure_pinned(&mut self) {
        let pinned: Vec<((Ipv4Addr, Ipv4Addr), Option<String>)> = self
            .applied
            .pinned
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for ((s, g), from) in pinned {
            match self.mgm.mfe(s, g) {
                Ok(m) if m.timeout.is_none() => continue,
                Ok(_) => {}
                Err(_) => {
                    let Some(ifindex) = from.and_then(|f| self.attached_ifindex(&f)) else {
                        continue;
                    };
                    if let Err(e) = self.mgm.new_packet(IfKey::new(ifindex), s, g) {
                        warn!("pre-installing ({s}, {g}): {e}");
                        continue;
                    }
                }
            }
            self.pin(mgm::Sg::new(s, g));
        }
    }

    /// The entry of a static (S,G) never expires.
    fn pin(&mut self, sg: mgm::Sg<Ipv4Addr>) {
        if let Err(e) = self
            .mgm
            .set_mfe_timeout(self.routing, sg.source, sg.group, None)
        {
            warn!("pinning the entry of ({}, {}): {e}", sg.source, sg.group);
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn name(&self, ifindex: u32) -> String {
        self.ifaces
            .iter()
            .find(|i| i.ifindex == ifindex)
            .map(|i| i.name.clone())
            .or_else(|| net::interface_name(ifindex))
            .unwrap_or_else(|| format!("if{ifindex}"))
    }

    fn record(&mut self, kind: &str, detail: String) {
        if self.events.len() >= EVENT_RING {
            self.events.pop_front();
        }
        let now = self.now();
        self.events.push_back(reply::Event {
            time: now.as_secs_f64(),
            at: reply::rfc3339(self.start_wall + now),
            kind: kind.to_string(),
            detail,
        });
    }

    fn read_socket(&mut self) {
        // At most this many messages per call, so a flood of upcalls or IGMP cannot starve
        // the loop's other work (timers, control requests, logs); what is left is read on
        // the next turn, the socket still readable.
        let t = self.watch.begin();
        for _ in 0..MESSAGES_PER_TURN {
            let msg = match self.fwd.kernel().recv() {
                Ok(Some(m)) => m,
                Ok(None) => {
                    self.watch.drained();
                    break;
                }
                Err(e) => {
                    warn!("mroute socket recv: {e}");
                    break;
                }
            };
            match msg {
                Received4::Upcall(up) => {
                    let iname = self
                        .fwd
                        .vifs()
                        .ifindex_of(up.vif)
                        .map_or_else(|| "?".to_string(), |i| self.name(i));
                    let kind = match up.kind {
                        UpcallKind::NoCache => "NOCACHE".to_string(),
                        UpcallKind::WrongVif => "WRONGVIF".to_string(),
                        UpcallKind::Other(k) => format!("type {k}"),
                    };
                    let detail = format!(
                        "{kind} vif {} ({iname}) source {} group {}",
                        up.vif, up.source, up.group
                    );
                    let handled = self.fwd.handle_upcall(&up);
                    self.watch.upcall_handled();
                    match handled {
                        Ok(UpcallOutcome::Miss(o)) => {
                            if let MissOutcome::Created(m) = &o {
                                if self.applied.pinned.contains_key(&(m.source, m.group)) {
                                    self.pin(m.sg());
                                }
                            }
                            let what = match &o {
                                MissOutcome::Created(m) => format!(
                                    "created, iif {}, oifs [{}]",
                                    self.name(m.iif.index),
                                    self.names(&m.oifs)
                                ),
                                MissOutcome::Exists(_) => "exists (reinstalled)".into(),
                                MissOutcome::Pending => "pending".into(),
                                _ => "another outcome".into(),
                            };
                            if self.upcall_logged() {
                                info!("upcall {detail}: {what}");
                            }
                            self.record("upcall", format!("{detail}: {what}"));
                        }
                        Ok(UpcallOutcome::WrongInterface(passed)) => {
                            if self.upcall_logged() {
                                info!(
                                    "upcall {detail}: reported to the engine (passed on: {passed})"
                                );
                            }
                            self.record("upcall", format!("{detail}: passed on: {passed}"));
                        }
                        Ok(UpcallOutcome::Ignored) => debug!("upcall {detail}: ignored"),
                        Err(e) => {
                            self.error(&e);
                        }
                    }
                }
                Received4::Igmp {
                    ifindex,
                    source,
                    destination,
                    ttl,
                    router_alert,
                    payload,
                } => {
                    debug!(
                        "IGMP from {source} to {destination} on {} (TTL {ttl}, router alert {router_alert}): {:?}",
                        self.name(ifindex),
                        igmp::parse(&payload)
                    );
                    let now = self.now();
                    let heard = igmp::Heard {
                        source,
                        ttl,
                        router_alert,
                    };
                    let acts = self.igmp.receive_packet(ifindex, &heard, &payload, now);
                    self.igmp_actions(acts);
                }
                Received4::Junk => {}
            }
        }
        self.housekeeping();
        self.watch.end(t, "mroute messages");
    }

    /// Runs the engine's due timers for at most a slice; true when some are still due.
    fn run_timers(&mut self) -> bool {
        let start = Instant::now();
        loop {
            match self.mgm.run_timers_some(CLOCK_EVERY) {
                Ok(run) if run.more => {
                    if timing::slice_over(start) {
                        return true;
                    }
                }
                Ok(_) => return false,
                Err(e) => {
                    warn!("run_timers: {e}");
                    return false;
                }
            }
        }
    }

    /// Copies the kernel counters of at most `due` entries, for at most a slice; returns how
    /// many are still due.
    fn sync_counters(&mut self, due: usize) -> usize {
        let start = Instant::now();
        let mut due = due.min(self.fwd.installed().len());
        while due > 0 {
            let n = due.min(CLOCK_EVERY);
            self.fwd.sync_counters_some(n);
            due -= n;
            if timing::slice_over(start) {
                break;
            }
        }
        due
    }

    fn names(&self, oifs: &[IfKey<Ipv4Addr>]) -> String {
        oifs.iter()
            .map(|o| self.name(o.index))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn error(&mut self, e: &LinuxError) {
        let d = self.error_log.check(Instant::now());
        if d.suppressed_before > 0 {
            warn!(
                "{} error lines left out (limits.log_lines_per_second)",
                d.suppressed_before
            );
        }
        if d.log {
            error!("{e}");
        }
        self.record("error", e.to_string());
    }

    /// Whether an upcall line may be logged now (the rate limit), saying first how many were
    /// left out.
    fn upcall_logged(&mut self) -> bool {
        let d = self.upcall_log.check(Instant::now());
        if d.suppressed_before > 0 {
            info!(
                "{} upcall lines left out (limits.log_lines_per_second)",
                d.suppressed_before
            );
        }
        d.log
    }

    /// Once a second (`now`), and at shutdown (`now` a second ahead, so that every window is
    /// over): one line for each kind of line the rate limit left out.
    fn flush_logs(&mut self, now: Instant) {
        if let Some(n) = self.upcall_log.flush(now) {
            info!("{n} upcall lines left out in the last second (limits.log_lines_per_second)");
        }
        if let Some(n) = self.wrong_if_log.flush(now) {
            info!("{n} wrong-interface lines left out in the last second (limits.log_lines_per_second)");
        }
        if let Some(n) = self.routing_log.flush(now) {
            info!(
                "{n} routing event lines left out in the last second (limits.log_lines_per_second)"
            );
        }
        if let Some(n) = self.error_log.flush(now) {
            warn!("{n} error lines left out in the last second (limits.log_lines_per_second)");
        }
    }

    fn igmp_actions(&mut self, acts: Vec<IgmpAction>) {
        for a in acts {
            match a {
                IgmpAction::Send {
                    ifindex,
                    destination,
                    query,
                } => {
                    debug!(
                        "IGMP query to {destination} on {} (group {}, sources {:?}, S={})",
                        self.name(ifindex),
                        query.group,
                        query.sources,
                        query.s_flag
                    );
                    if let Err(e) =
                        self.fwd
                            .kernel()
                            .send_igmp(ifindex, destination, &query.encode())
                    {
                        warn!("sending IGMP query on {}: {e}", self.name(ifindex));
                    }
                    if !query.group.is_unspecified() {
                        let d = format!(
                            "query for {} sources {:?} on {}",
                            query.group,
                            query.sources,
                            self.name(ifindex)
                        );
                        self.record("igmp", d);
                    }
                }
                IgmpAction::Join { ifindex, selector } => {
                    let d = format!("join {selector} on {}", self.name(ifindex));
                    info!("IGMP {d}");
                    self.record("igmp", d);
                }
                IgmpAction::Leave { ifindex, selector } => {
                    let d = format!("leave {selector} on {}", self.name(ifindex));
                    info!("IGMP {d}");
                    self.record("igmp", d);
                }
            }
        }
    }

    /// Drains events and errors, and applies forwarding changes to the kernel.
    /// Reads the subnets of every IGMP link from the kernel and gives the IGMP router those
    /// that changed (logged). A link whose subnets cannot be read, or that has none, fails
    /// closed: only reports from 0.0.0.0 (RFC 3376 §4.2.13) pass its off-subnet check.
    fn refresh_subnets(&mut self) {
        self.subnets_read = Instant::now();
        let links: Vec<(u32, Vec<igmp::Subnet>)> = self
            .igmp
            .router()
            .interfaces()
            .iter()
            .map(|(i, st)| (*i, st.subnets.clone()))
            .collect();
        for (ifindex, had) in links {
            if self.igmp.is_suspended(ifindex) {
                // Its link is down or gone: read again when it is back.
                continue;
            }
            let name = self.name(ifindex);
            let mut subnets: Vec<igmp::Subnet> = match mgm_linux::mroute::ipv4_subnets_of(&name) {
                Ok(found) => found
                    .into_iter()
                    .map(|(a, len)| igmp::Subnet::new(a, len))
                    .collect(),
                Err(e) => {
                    if had != [igmp::Subnet::new(Ipv4Addr::UNSPECIFIED, 32)] {
                        warn!("subnets of {name}: {e}");
                    }
                    Vec::new()
                }
            };
            if subnets.is_empty() {
                subnets.push(igmp::Subnet::new(Ipv4Addr::UNSPECIFIED, 32));
            }
            if subnets != had {
                info!(interface = %name, ?subnets, "IGMP: link subnets");
                self.igmp.set_subnets(ifindex, &subnets);
            }
        }
    }

    fn housekeeping(&mut self) {
        if self.subnets_read.elapsed() >= SUBNET_REFRESH {
            self.refresh_subnets();
        }
        for e in self.igmp.handle_events() {
            debug!("IGMP event {e:?}");
            if matches!(e, Event::DisableIgmp { .. } | Event::EnableIgmp { .. }) {
                self.record("igmp-event", format!("{e:?}"));
            }
        }
        for e in self.igmp.take_errors() {
            warn!("IGMP membership: {e}");
            self.record("error", format!("IGMP membership: {e}"));
        }
        for e in self.routing_events.drain() {
            let wrong = matches!(e, Event::WrongInterface { .. });
            let detail = match e {
                Event::WrongInterface {
                    source,
                    group,
                    interface,
                } => format!(
                    "wrong interface: ({source}, {group}) arrived on {}",
                    self.name(interface.index)
                ),
                Event::LocalJoin {
                    selector,
                    interface,
                } => format!("local join {selector} on {}", self.name(interface.index)),
                Event::LocalLeave {
                    selector,
                    interface,
                } => format!("local leave {selector} on {}", self.name(interface.index)),
                // The routing side only logs its events: it has nothing to re-read.
                Event::Overflow { lost } => format!("{lost} events lost to a full queue"),
                other => format!("{other:?}"),
            };
            // A storm's entries come and go together (a release deletes them all): every
            // kind of routing event is rate-limited, wrong-interface reports on their own.
            let (limiter, what) = if wrong {
                (&mut self.wrong_if_log, "wrong-interface")
            } else {
                (&mut self.routing_log, "routing event")
            };
            let d = limiter.check(Instant::now());
            if d.suppressed_before > 0 {
                info!(
                    "{} {what} lines left out (limits.log_lines_per_second)",
                    d.suppressed_before
                );
            }
            let log = d.log;
            if log {
                info!("routing event: {detail}");
            }
            self.record("routing-event", detail);
        }
        // The forwarder's queued changes, for at most a slice (a resync too, a page at a
        // time): the loop does not wait while some are left, and goes on next turn.
        let start = Instant::now();
        loop {
            let p = self.fwd.pump_some(CLOCK_EVERY);
            for e in &p.errors {
                self.error(e);
            }
            if !p.more || timing::slice_over(start) {
                break;
            }
        }
    }

    fn shutdown(mut self) -> Result<(), String> {
        self.housekeeping();
        let ids: Vec<(String, u32)> = self
            .ifaces
            .iter()
            .filter(|i| i.attached)
            .map(|i| (i.name.clone(), i.ifindex))
            .collect();
        for (name, ifindex) in &ids {
            if let Err(e) = self
                .mgm
                .release_interface(self.routing, IfKey::new(*ifindex))
            {
                warn!("release {name}: {e}");
            }
            // The engine bracketed the release with IGMP's disable/enable: let IGMP replay.
            self.housekeeping();
            info!(interface = %name, "released by the routing client");
        }
        for (name, ifindex) in &ids {
            if self.igmp.router().interfaces().contains_key(ifindex) {
                self.groups.leave(*ifindex);
                if let Err(e) = self.igmp.remove_interface(*ifindex) {
                    warn!("IGMP release {name}: {e}");
                }
                info!(interface = %name, "released by IGMP");
            }
        }
        self.housekeeping();
        let Daemon {
            mgm,
            mut fwd,
            igmp,
            routing,
            mut upcall_log,
            mut routing_log,
            mut wrong_if_log,
            mut error_log,
            ..
        } = self;
        igmp.shutdown()
            .map_err(|e| format!("IGMP deregister: {e}"))?;
        mgm.deregister(routing)
            .map_err(|e| format!("routing deregister: {e}"))?;
        let errs = fwd.shutdown();
        for e in &errs {
            warn!("shutdown: {e}");
        }
        let left = fwd.installed().len();
        if let Err(e) = fwd.kernel().done() {
            warn!("MRT_DONE: {e}");
        }
        drop(fwd);
        mgm.stop();
        for (l, what) in [
            (&mut upcall_log, "upcall"),
            (&mut routing_log, "routing event"),
            (&mut wrong_if_log, "wrong-interface"),
            (&mut error_log, "error"),
        ] {
            if let Some(n) = l.flush(Instant::now() + Duration::from_secs(1)) {
                info!("{n} {what} lines left out at the end (limits.log_lines_per_second)");
            }
        }
        info!(
            entries_left = left,
            "deregistered; every MFC and VIF removed; bye"
        );
        Ok(())
    }

    /// The reply to one request (a [`control::Envelope`]): its result text or data, or for
    /// `mfes` and `memberships` one page (`rows` or `text`, `more`, `next`).
    fn answer(&self, req: &Request) -> server::Reply {
        let (value, text) = match &req.command {
            Command::Mfes { .. } => {
                // Answered by `step`, a slice at a time.
                let r = control::error_reply("internal: mfes is answered in steps");
                return Box::new(move || r);
            }
            Command::Memberships { after, max } => return self.memberships(*after, *max, req.json),
            Command::Interfaces => self.interfaces(),
            Command::Events => {
                let v: Vec<reply::Event> = self.events.iter().cloned().collect();
                let mut t = String::new();
                for e in &v {
                    t += &format!("{:>10.3}  {:<14} {}\n", e.time, e.kind, e.detail);
                }
                (json!(v), t)
            }
            Command::Igmp => self.igmp_state(),
            Command::Status => self.status(),
            Command::Routes => self.routes(),
            other => {
                // The changes and `flush` are answered by `step`.
                let r = control::error_reply(&format!(
                    "internal: {} is answered in steps",
                    other.name()
                ));
                return Box::new(move || r);
            }
        };
        let json = req.json;
        Box::new(move || {
            if json {
                control::ok_reply(&value)
            } else {
                control::ok_reply(&control::Text { text })
            }
        })
    }

    fn status(&self) -> (Value, String) {
        let c = self.mgm.counters();
        let f = self.fwd.counters();
        let us = |d: Duration| d.as_micros() as u64;
        let ctl = self.control.as_deref();
        let load =
            |a: Option<&std::sync::atomic::AtomicU64>| a.map_or(0, |a| a.load(Ordering::Relaxed));
        let suppressed = self.upcall_log.total_suppressed()
            + self.wrong_if_log.total_suppressed()
            + self.routing_log.total_suppressed()
            + self.error_log.total_suppressed();
        let v = reply::Status {
            uptime: self.now().as_secs_f64(),
            started_at: reply::rfc3339(self.start_wall),
            mfes: c.mfes as u64,
            pending: c.pending as u64,
            max_mfes: self.max_mfes as u64,
            refused_misses: c.refused_misses,
            created: c.created,
            deleted: c.deleted,
            wrong_if_notified: c.wrong_if_notified,
            upcalls_nocache: f.nocache,
            upcalls_wrongvif: f.wrongvif,
            mfc_adds: f.mfc_adds,
            mfc_dels: f.mfc_dels,
            errors: f.errors,
            upcall_delay_max_us: us(self.watch.upcalls.max),
            upcall_delay_last_us: us(self.watch.upcalls.last),
            upcalls_timed: self.watch.upcalls.count,
            control_reply_max_us: us(self.steps.max),
            unwatched_max_us: us(self.watch.unwatched.max),
            delay_bucket_edges_us: timing::DELAY_EDGES_US.to_vec(),
            upcall_delay_buckets: self.watch.upcalls.buckets.to_vec(),
            control_step_buckets: self.steps.buckets.to_vec(),
            unwatched_buckets: self.watch.unwatched.buckets.to_vec(),
            control_served: load(ctl.map(|s| &s.served)),
            control_refused_busy: load(ctl.map(|s| &s.refused_busy)),
            control_bad_requests: load(ctl.map(|s| &s.bad_requests)),
            control_timed_out: load(ctl.map(|s| &s.timed_out)),
            log_lines_left_out: suppressed,
            static_mroutes: self
                .config
                .mroutes
                .iter()
                .map(changes::mroute_row)
                .collect(),
        };
        let t = format!(
            "uptime {:.1} s; {} MFEs of at most {} ({} created, {} deleted, {} misses refused); upcalls: {} NOCACHE, {} WRONGVIF, longest handling delay {} us; kernel: {} MRT_ADD_MFC, {} MRT_DEL_MFC; {} errors; control: {} served, {} refused busy, {} bad requests, {} timed out; {} log lines left out\n",
            self.now().as_secs_f64(), c.mfes, self.max_mfes, c.created, c.deleted, c.refused_misses,
            f.nocache, f.wrongvif, us(self.watch.upcalls.max), f.mfc_adds, f.mfc_dels, f.errors,
            v.control_served, v.control_refused_busy, v.control_bad_requests, v.control_timed_out, suppressed
        );
        (json!(v), t)
    }

    /// A page reply: rows (JSON) or text, with `more` and `next`.
    fn page(
        rows: Vec<Value>,
        text: String,
        json: bool,
        more: bool,
        next: Option<String>,
    ) -> String {
        let (rows, text) = if json {
            (Some(rows), None)
        } else {
            (None, Some(text))
        };
        control::ok_reply(&control::Page {
            rows,
            text,
            more,
            next,
        })
    }

    fn proto_name(p: Option<(u32, u32)>) -> Option<String> {
        p.map(|p| match p {
            (id, _) if id == mgm::MS_IP_IGMP => "igmp".into(),
            (id, _) if id == static_protocol() => "static".into(),
            (id, c) => format!("{id:#x}/{c}"),
        })
    }

    /// The querier of an IGMP link: `self`, another router's address, or `None` (none heard).
    fn querier(st: &igmp::InterfaceState) -> Option<String> {
        if st.querier {
            Some("self".into())
        } else {
            st.other_querier.map(|a| a.to_string())
        }
    }

    fn interfaces(&self) -> (Value, String) {
        let mut rows = Vec::new();
        let mut t = format!(
            "{:<10} {:>7} {:<6} {:>4} {:<16} {:<8} {:<6} {:>10} {:>10}\n",
            "NAME", "IFINDEX", "STATE", "VIF", "ADDRESS", "OWNER", "IGMP", "IN_PKTS", "OUT_PKTS"
        );
        let infos = self.mgm.interfaces();
        for i in &self.ifaces {
            let info = infos
                .iter()
                .find(|x| i.attached && x.interface.index == i.ifindex);
            let ifindex = (i.link != links::LinkState::Absent).then_some(i.ifindex);
            let owner = Self::proto_name(info.and_then(|x| x.owner));
            let igmp = Self::proto_name(info.and_then(|x| x.igmp));
            let vif = self.fwd.vifs().vif_of(i.ifindex);
            let vc = self.fwd.vif_counters(i.ifindex).unwrap_or_default();
            let querier = self
                .igmp
                .router()
                .interfaces()
                .get(&i.ifindex)
                .and_then(Self::querier);
            t += &format!(
                "{:<10} {:>7} {:<6} {:>4} {:<16} {:<8} {:<6} {:>10} {:>10}\n",
                i.name,
                ifindex.map_or("-".into(), |x| x.to_string()),
                i.link.as_str(),
                vif.map_or("-".into(), |v| v.to_string()),
                i.address.map_or("-".into(), |a| a.to_string()),
                owner.as_deref().unwrap_or("-"),
                igmp.as_deref().unwrap_or("-"),
                vc.in_packets,
                vc.out_packets
            );
            rows.push(reply::Interface {
                name: i.name.clone(),
                ifindex,
                state: i.link,
                vif,
                address: i.address,
                owner,
                igmp,
                querier,
                in_packets: vc.in_packets,
                out_packets: vc.out_packets,
                in_bytes: vc.in_bytes,
                out_bytes: vc.out_bytes,
            });
        }
        (json!(rows), t)
    }

    /// A page of memberships, read with the engine's walk (a lookup and the page's own
    /// items); the rows are formatted on the client's thread.
    fn memberships(&self, after: Option<MembershipKey>, max: usize, json: bool) -> server::Reply {
        let after = after.map(|k| mgm::MembershipInfo {
            protocol: (k.protocol, k.component),
            selector: match (k.source, k.group) {
                (Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED) => Selector::AllGroups,
                (Ipv4Addr::UNSPECIFIED, group) => Selector::Group(group),
                (source, group) => Selector::Source { source, group },
            },
            interface: IfKey::new(k.ifindex),
        });
        let page = match self.mgm.memberships_after(after, max) {
            Ok(p) => p,
            Err(e) => {
                let r = control::error_reply(&e.to_string());
                return Box::new(move || r);
            }
        };
        let rows: Vec<(String, mgm::MembershipInfo<Ipv4Addr>, String)> = page
            .items
            .iter()
            .map(|m| {
                let p = Self::proto_name(Some(m.protocol)).unwrap_or_default();
                (self.name(m.interface.index), *m, p)
            })
            .collect();
        let first = after.is_none();
        let more = page.more;
        Box::new(move || Self::render_memberships(&rows, first, more, json))
    }

    fn render_memberships(
        rows: &[(String, mgm::MembershipInfo<Ipv4Addr>, String)],
        first: bool,
        more: bool,
        json: bool,
    ) -> String {
        let mut t = if first && !json {
            format!("{:<10} {:<36} {:<8}\n", "INTERFACE", "SELECTOR", "PROTOCOL")
        } else {
            String::new()
        };
        let mut out = Vec::new();
        for (name, m, p) in rows {
            if json {
                out.push(json!(reply::Membership {
                    interface: name.clone(),
                    ifindex: m.interface.index,
                    selector: m.selector.to_string(),
                    protocol: p.clone(),
                }));
            } else {
                t += &format!("{:<10} {:<36} {:<8}\n", name, m.selector.to_string(), p);
            }
        }
        let next = rows.last().map(|(_, m, _)| membership_key(m).to_string());
        Self::page(out, t, json, more, next)
    }

    /// One step of a request: its reply (with the job to send it to), or what is left to do.
    fn step(&mut self, w: Work) -> Result<(server::Job, server::Reply), Box<Work>> {
        let (job, cursor, left, mut rows, first) = match w {
            Work::Flush {
                job,
                cursor,
                deleted,
            } => return self.flush_step(job, cursor, deleted),
            Work::New(job) if job.request.command == Command::Flush => {
                return self.flush_step(job, None, 0)
            }
            Work::New(job) if job.request.command.changes() => {
                let result = self.change(&job.request.command);
                let reply = match result {
                    Ok(c) if job.request.json => control::ok_reply(&c),
                    Ok(c) => control::ok_reply(&control::Text { text: c.text() }),
                    Err(e) => control::error_reply(&e),
                };
                return Ok((job, Box::new(move || reply)));
            }
            Work::New(job) => match job.request.command.clone() {
                Command::Mfes { after, max } => (
                    job,
                    after.map(|(s, g)| mgm::Sg::new(s, g)),
                    max,
                    Vec::new(),
                    after.is_none(),
                ),
                _ => {
                    let reply = self.answer(&job.request);
                    return Ok((job, reply));
                }
            },
            Work::Mfes {
                job,
                cursor,
                left,
                rows,
                first,
            } => (job, cursor, left, rows, first),
        };
        // A few entries at a time (engine record and kernel counters), until the page is
        // full or the slice's time is up.
        let start = Instant::now();
        let (mut cursor, mut left, mut more) = (cursor, left, true);
        while left > 0 && more && !timing::slice_over(start) {
            let page = match self.fwd.stats_page(cursor, left.min(CLOCK_EVERY)) {
                Ok(p) => p,
                Err(e) => {
                    let r = control::error_reply(&e.to_string());
                    return Ok((job, Box::new(move || r)));
                }
            };
            cursor = page.items.last().map(|s| s.engine.mfe.sg()).or(cursor);
            left -= page.items.len();
            more = page.more;
            rows.extend(page.items);
        }
        if left > 0 && more {
            return Err(Box::new(Work::Mfes {
                job,
                cursor,
                left,
                rows,
                first,
            }));
        }
        let reply = self.mfes_reply(rows, more, first, job.request.json);
        Ok((job, reply))
    }

    /// A page of entries, read by the main loop; the rows are formatted on the client's
    /// thread.
    fn mfes_reply(
        &self,
        items: Vec<mgm_linux::ForwardedStats<Ipv4Addr>>,
        more: bool,
        first: bool,
        json: bool,
    ) -> server::Reply {
        let mut names: Vec<(u32, String)> = Vec::new();
        for s in &items {
            let m = &s.engine.mfe;
            for i in std::iter::once(m.iif.index).chain(m.oifs.iter().map(|o| o.index)) {
                if !names.iter().any(|(x, _)| *x == i) {
                    names.push((i, self.name(i)));
                }
            }
        }
        let page = mgm::Page { items, more };
        // The engine's ages and countdowns are as of now.
        let now = SystemTime::now();
        Box::new(move || Self::render_mfes(page, &names, first, json, now))
    }

    fn render_mfes(
        page: mgm::Page<mgm_linux::ForwardedStats<Ipv4Addr>>,
        names: &[(u32, String)],
        first: bool,
        json: bool,
        now: SystemTime,
    ) -> String {
        let name = |i: u32| {
            names
                .iter()
                .find(|(x, _)| *x == i)
                .map_or_else(|| format!("if{i}"), |(_, n)| n.clone())
        };
        let mut rows = Vec::new();
        let mut t = String::new();
        if first && !json {
            t = format!(
                "{:<16} {:<16} {:<8} {:<20} {:>9} {:>11} {:>9} {:>8}\n",
                "SOURCE", "GROUP", "IIF", "OIFS", "K_PKTS", "K_BYTES", "K_WRONG", "EXPIRY"
            );
        }
        let next = page
            .items
            .last()
            .map(|s| format!("{},{}", s.engine.mfe.source, s.engine.mfe.group));
        for s in &page.items {
            let m = &s.engine.mfe;
            let oifs: Vec<String> = m.oifs.iter().map(|o| name(o.index)).collect();
            if !json {
                let k = s.kernel.unwrap_or_default();
                t += &format!(
                    "{:<16} {:<16} {:<8} {:<20} {:>9} {:>11} {:>9} {:>8}\n",
                    m.source.to_string(),
                    m.group.to_string(),
                    name(m.iif.index),
                    if oifs.is_empty() {
                        "(negative)".to_string()
                    } else {
                        oifs.join(",")
                    },
                    k.packets,
                    k.bytes,
                    k.wrong_if,
                    m.expiry
                        .map_or("never".into(), |e| format!("{}s", e.as_secs()))
                );
                continue;
            }
            rows.push(json!(reply::Mfe {
                source: m.source,
                group: m.group,
                iif: name(m.iif.index),
                oifs,
                upstream: Some(m.upstream).filter(|u| !u.is_unspecified()),
                expiry: m.expiry.map(|e| e.as_secs_f64()),
                expires_at: m.expiry.map(|e| reply::rfc3339(now + e)),
                up_time: m.up_time.as_secs_f64(),
                created_at: reply::rfc3339(
                    now.checked_sub(m.up_time).unwrap_or(std::time::UNIX_EPOCH),
                ),
                engine: reply::EngineCounters {
                    in_packets: s.engine.in_packets,
                    in_octets: s.engine.in_octets,
                    different_if: s.engine.different_if,
                    negative: s.engine.negative,
                },
                kernel: s.kernel.map(|k| reply::KernelCounters {
                    packets: k.packets,
                    bytes: k.bytes,
                    wrong_if: k.wrong_if,
                }),
            }));
        }
        Self::page(rows, t, json, page.more, next)
    }

    fn igmp_state(&self) -> (Value, String) {
        let now = self.now();
        let mut rows = Vec::new();
        let mut t = String::new();
        for (ifindex, st) in self.igmp.router().interfaces() {
            let name = self.name(*ifindex);
            let querier = Self::querier(st);
            t += &format!(
                "{name}: address {}, querier {}; input checks: TTL 1 {}, Router Alert {}\n",
                st.address,
                querier.as_deref().unwrap_or("?"),
                if st.policy.require_ttl_one {
                    "required"
                } else {
                    "not required"
                },
                if st.policy.require_router_alert {
                    "required"
                } else {
                    "not required"
                },
            );
            let mut groups = Vec::new();
            for (g, gs) in &st.groups {
                let left = gs.group_timer.map(|x| x.saturating_sub(now).as_secs_f64());
                let srcs: Vec<Ipv4Addr> = gs.sources.keys().copied().collect();
                let shown: Vec<String> = srcs.iter().map(|s| s.to_string()).collect();
                t += &format!(
                    "  {g}: {} {}{}\n",
                    left.map_or("INCLUDE".to_string(), |l| format!("EXCLUDE {l:.1}s")),
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!("sources {}", shown.join(","))
                    },
                    if gs.old_host_until.is_some() {
                        " (IGMPv1/v2 host present)"
                    } else {
                        ""
                    }
                );
                groups.push(reply::IgmpGroup {
                    group: *g,
                    exclude_timer: left,
                    exclude_until: gs.group_timer.map(|x| reply::rfc3339(self.start_wall + x)),
                    sources: srcs,
                    old_host: gs.old_host_until.is_some(),
                });
            }
            let c = &st.counters;
            t += &format!(
                "  received {}, accepted {}; dropped: own {}, malformed {}, ttl {}, no router alert {}, off-subnet reports {}, off-subnet queries {}\n  refused: invalid groups {}, invalid sources {}, group limit {}, source limit {}, host limit {}\n",
                c.received, c.accepted, c.own, c.malformed, c.bad_ttl, c.no_router_alert,
                c.off_subnet_report, c.off_subnet_query, c.invalid_groups, c.invalid_sources,
                c.group_limit, c.source_limit, c.host_limit
            );
            let counters = reply::IgmpCounters {
                received: c.received,
                accepted: c.accepted,
                own: c.own,
                malformed: c.malformed,
                bad_ttl: c.bad_ttl,
                no_router_alert: c.no_router_alert,
                off_subnet_report: c.off_subnet_report,
                off_subnet_query: c.off_subnet_query,
                invalid_groups: c.invalid_groups,
                invalid_sources: c.invalid_sources,
                group_limit: c.group_limit,
                source_limit: c.source_limit,
                host_limit: c.host_limit,
            };
            let subnets: Vec<String> = st
                .subnets
                .iter()
                .map(|s| format!("{}/{}", s.address, s.prefix_len))
                .collect();
            rows.push(reply::IgmpInterface {
                interface: name,
                address: st.address,
                querier,
                other_querier: st.other_querier,
                groups,
                subnets,
                require_ttl_one: st.policy.require_ttl_one,
                require_router_alert: st.policy.require_router_alert,
                counters,
            });
        }
        (json!(rows), t)
    }
}
