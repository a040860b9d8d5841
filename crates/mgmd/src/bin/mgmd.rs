//! `mgmd`: a multicast router daemon on the Linux kernel's forwarding plane, built on the `mgm`
//! engine. It owns the configured interfaces with a static routing client (RIB routes for RPF,
//! smcroute-like static (S,G)/(*,G) forwarding), runs the IGMP router (MLD for IPv6) on them,
//! follows the engine's forwarding table into the kernel (MRT_ADD_MFC/MRT_DEL_MFC,
//! MRT6_ADD_MFC/MRT6_DEL_MFC), and answers `mgmctl` on a unix control socket.
//!
//! **Families.** IPv4 and IPv6 run side by side from one configuration, each with its own
//! engine, forwarder, mroute socket, IGMP or MLD router and static routing client: one
//! [`Daemon`] per family, one code path over [`family::Fam`], in one main loop
//! (`mgmd/both.rs`). A family with nothing configured opens no socket
//! ([`mgmd::config::Config::families`]).
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
//! **Control socket.** It is served by threads of its own: a client has 2 s to send its request
//! line (at most 4096 bytes) and 5 s to take the reply; whatever it sends, the main loop, which
//! reads the mroute socket, never waits on it. `mfes`, `memberships` and `igmp` are answered a
//! page at a time (`mgmctl` asks page after page). The socket's path must be free or hold a
//! stale socket: mgmd refuses to start over a file, a directory or a link, or when another
//! process answers on the socket. `status` shows how long upcalls waited (from the last moment
//! the main loop knew the mroute socket empty to the upcall handled, by bucket; in a storm,
//! upcalls queued together wait for each other), how long the socket went unwatched between two
//! looks, and how long the main loop spent on control steps. Every piece of the loop's work is
//! a slice bounded in time (200 µs, the clock read every few entries: an `mfes` page, the
//! kernel counters' sync, the forwarder's changes and resync pages), with a look at the mroute
//! socket between slices; replies are formatted on the client's thread. At `--log debug`, work
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
//! **Proxy mode** (RFC 4605): an interface with `upstream = true` is the family's upstream,
//! where mgmd is a host reporting the union of the downstream memberships and answering the
//! upstream querier (`mgmd/proxy.rs`); traffic arrives there through a default route.
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

#[path = "mgmd/both.rs"]
mod both;
#[path = "mgmd/changes.rs"]
mod changes;
#[path = "mgmd/family.rs"]
mod family;
#[path = "mgmd/links.rs"]
mod links;
#[path = "mgmd/proxy.rs"]
mod proxy;
#[path = "mgmd/server.rs"]
mod server;
#[path = "mgmd/timing.rs"]
mod timing;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use both::Mgmd;
use family::{Fam, Msg};
use mgm::{
    DefaultHooks, Event, EventReceiver, Hooks, IfKey, Mgm, MissOutcome, ProtocolHandle, Route,
    RpfDecision, RpfQuery, Selector, JOIN,
};
use mgm_igmp::{self as igmp, Action};
use mgm_igmp_client::RouterClient;
use mgm_linux::mroute::Mroute;
use mgm_linux::{
    net, Forwarder, GroupMemberships, LinuxError, Mroute6Socket, MrouteSocket, UpcallKind,
    UpcallOutcome,
};
use mgmd::control::{self, Command, JoinSpec, MembershipKey};
use mgmd::igmp_page;
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

/// The RPF overrides, shared by the daemon (which writes them) and the hooks (which read).
type Rules<A> = Arc<Mutex<Vec<(Sel<A>, u32)>>>;

/// RPF overrides of `[[mroute]] from = ...`: (selector, incoming ifindex) for the `from`
/// interfaces attached now, replaced as a whole when the mroutes or the attached interfaces
/// change.
struct StaticHooks<A> {
    rules: Rules<A>,
}

impl<A: Fam> Hooks<A> for StaticHooks<A> {
    fn rpf(&self, q: &RpfQuery<A>) -> RpfDecision<A> {
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

struct Iface<A> {
    name: String,
    ifindex: u32,
    address: Option<A>,
    /// IGMP (MLD for IPv6) is configured there (it runs while the interface is attached and
    /// has an address of the family: for MLD, a link-local one).
    igmp: bool,
    /// The IGMP input checks of this link (`[igmp]` with the interface's keys over it).
    input: igmp::InputPolicy,
    /// Where its link is (`ifindex` 0: never seen).
    link: links::LinkState,
    /// Has its VIF and is owned: up ([`links`]).
    attached: bool,
}

/// One family's router: its engine, forwarder and mroute socket, its IGMP or MLD router, its
/// static routing client and the interfaces as that family sees them. mgmd runs one per
/// family configured ([`mgmd::config::Config::families`]).
struct Daemon<A: Fam> {
    mgm: Mgm<A>,
    fwd: Forwarder<A, Mroute<A>>,
    igmp: RouterClient<A::Proto>,
    routing: ProtocolHandle,
    routing_events: EventReceiver<A>,
    ifaces: Vec<Iface<A>>,
    /// Another family's listings follow this one's in the paged replies (`mfes`,
    /// `memberships`): the last page of this family says there is more.
    family_follows: bool,
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
    applied: Wanted<A>,
    /// The RPF overrides the static routing client's hooks read.
    rules: Rules<A>,
    /// The router groups' memberships, one socket per interface.
    groups: GroupMemberships<A>,
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
    /// The control requests being answered by this family, a slice per step.
    work: VecDeque<Work<A>>,
    /// When the engine's timers last ran.
    last_timers: Instant,
    /// Kernel counters still to copy this second (limits.counter_sync_per_second), a slice
    /// per turn.
    sync_due: usize,
    /// The engine's due timers, a slice per turn until none is left.
    timers_due: bool,
    /// Proxy mode: the host side on the upstream interface.
    proxy: Option<proxy::Upstream<A>>,
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
fn membership_key<A: Fam>(m: &mgm::MembershipInfo<A>) -> MembershipKey {
    let (source, group) = match m.selector {
        Selector::Source { source, group } => (source, group),
        Selector::Group(g) => (A::UNSPECIFIED, g),
        _ => (A::UNSPECIFIED, A::UNSPECIFIED),
    };
    MembershipKey {
        ifindex: m.interface.index,
        group: group.into(),
        source: source.into(),
        protocol: m.protocol.0,
        component: m.protocol.1,
    }
}

/// A control request being answered on the main loop.
enum Work<A> {
    /// Not started.
    New(server::Job),
    /// An `mfes` page, gathered a slice per step.
    Mfes {
        job: server::Job,
        cursor: Option<mgm::Sg<A>>,
        left: usize,
        rows: Vec<mgm_linux::ForwardedStats<A>>,
        first: bool,
    },
    /// A `flush`, a slice of the walk per step (`deleted` counts the families before too).
    Flush {
        job: server::Job,
        cursor: Option<mgm::Sg<A>>,
        deleted: usize,
    },
}

/// What one step of a request came to.
enum Step<A> {
    /// The reply, to send.
    Done(server::Job, server::Reply),
    /// What is left, for the next step.
    More(Box<Work<A>>),
    /// A `flush` done in this family, with the count so far: the next family goes on.
    Flushed(server::Job, usize),
}

impl<A> Work<A> {
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

/// Once every interface has its VIF (and MIF) and the control socket listens: writes the pid
/// file and tells the service manager (`READY=1`, with a `STATUS=` line).
fn announce_ready(
    m: &Mgmd,
    socket: &std::path::Path,
    pid_path: Option<&std::path::Path>,
) -> Result<Option<mgmd::pid_file::PidFile>, String> {
    let pid_file = pid_path.map(mgmd::pid_file::PidFile::write).transpose()?;
    let names: Vec<&str> = m
        .config()
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let families: Vec<&str> = [
        m.v4.as_ref().map(|_| Ipv4Addr::NAME),
        m.v6.as_ref().map(|_| Ipv6Addr::NAME),
    ]
    .into_iter()
    .flatten()
    .collect();
    let status = mgmd::notify::status_line(&format!(
        "forwarding on {} interfaces ({}), {}; control socket {}",
        names.len(),
        names.join(", "),
        families.join(" and "),
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

/// Linux's `ENOPROTOOPT` and `EAFNOSUPPORT`: what `MRT6_INIT` and the raw ICMPv6 socket give
/// on a kernel without IPv6 multicast routing (or without IPv6).
const NO_MROUTE_ERRNOS: [i32; 2] = [92, 97];

/// Why the mroute socket could not be opened, in an operator's words.
fn mroute_open_error(e: &std::io::Error, what: &str) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "{what}: another process holds the kernel's multicast routing socket in this network namespace (another mgmd, smcroute, pimd, igmpproxy...): only one multicast router can run here; stop it first ({e})"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "{what}: not permitted: mgmd needs root, or CAP_NET_ADMIN and CAP_NET_RAW ({e})"
        ),
        _ if e.raw_os_error().is_some_and(|n| NO_MROUTE_ERRNOS.contains(&n)) => format!(
            "{what}: this kernel cannot route multicast in this family (CONFIG_IP_MROUTE / CONFIG_IPV6_MROUTE), and the configuration asks for it ({e})"
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
    let mut m = Mgmd::start(&config, config_path)?;
    let listener = match UnixListener::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = m.shutdown();
            return Err(format!("control socket {}: {e}", socket.display()));
        }
    };
    let control = || -> Result<_, String> {
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(|e| format!("wake-up socket: {e}"))?;
        wake_rx
            .set_nonblocking(true)
            .map_err(|e| format!("wake-up socket: {e}"))?;
        let (jobs_tx, jobs) = mpsc::channel();
        let server =
            server::Server::start(listener, config.limits.control_clients, jobs_tx, wake_tx)
                .map_err(|e| format!("control thread: {e}"))?;
        Ok((wake_rx, jobs, server))
    };
    // A failure from here on takes the shutdown path: the kernel's state and the socket
    // file go with mgmd.
    let (wake_rx, jobs, server) = match control() {
        Ok(c) => c,
        Err(e) => {
            let _ = m.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Err(e);
        }
    };
    m.set_control(&server.stats);
    info!(socket = %socket.display(), max_mfes = config.limits.max_mfes, control_clients = config.limits.control_clients, ipv4 = m.v4.is_some(), ipv6 = m.v6.is_some(), "mgmd ready");
    // Held to the end: dropped, it removes the file.
    let _pid_file = match announce_ready(&m, &socket, pid_path.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            server.stop();
            let _ = m.shutdown();
            let _ = std::fs::remove_file(&socket);
            return Err(e);
        }
    };
    let mut failed = None;
    while !term.load(Ordering::Relaxed) {
        if let Err(e) = m.turn(&wake_rx, &jobs) {
            failed = Some(e);
            break;
        }
        if hup.swap(false, Ordering::Relaxed) {
            info!("SIGHUP: reloading {}", m.config_path().display());
            // The outcome is logged; nothing else waits for it.
            let _ = m.reload();
        }
    }
    match &failed {
        None => info!("signal received: shutting down"),
        Some(e) => error!("main loop: {e}; shutting down"),
    }
    notify("STOPPING=1");
    // The replies still owed are dropped first: a client waiting for one ends at once.
    m.drop_work();
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
    let r = m.shutdown();
    let _ = std::fs::remove_file(&socket);
    match failed {
        Some(e) => Err(e),
        None => r,
    }
}

impl<A: Fam> Daemon<A> {
    /// The control steps queued for this family, a slice each, for at most [`TURN`] (with a
    /// look at the mroute socket before each); returns the `flush`es done here that the
    /// next family goes on with.
    fn work_turn(&mut self) -> Result<Vec<(server::Job, usize)>, String> {
        let turn = Instant::now();
        let fd = self.fwd.kernel().as_raw_fd();
        let mut handed = Vec::new();
        while let Some(w) = self.work.pop_front() {
            if self
                .watch
                .look(&[fd], 0)
                .map_err(|e| format!("poll: {e}"))?[0]
            {
                self.read_socket();
            }
            let what = w.what();
            let t = self.watch.begin();
            let step = self.step(w);
            let took = self.watch.end(t, what);
            self.steps.add(took);
            match step {
                Step::Done(job, reply) => {
                    let _ = job.reply.send(reply);
                }
                Step::More(more) => self.work.push_front(*more),
                Step::Flushed(job, deleted) => handed.push((job, deleted)),
            }
            if turn.elapsed() >= TURN {
                break;
            }
        }
        if self
            .watch
            .look(&[fd], 0)
            .map_err(|e| format!("poll: {e}"))?[0]
        {
            self.read_socket();
        }
        Ok(handed)
    }

    /// How long the main loop may wait for this family (ms): 0 with work queued, else until
    /// its next IGMP or MLD timer, at most 100.
    fn wait_ms(&self) -> i32 {
        if !self.work.is_empty() || self.sync_due > 0 || self.timers_due || self.fwd.pending() {
            return 0;
        }
        let now = self.now();
        let host = self.proxy.as_ref().and_then(|p| p.host.next_deadline());
        [self.igmp.next_deadline(), host]
            .into_iter()
            .flatten()
            .min()
            .map_or(100, |t| t.saturating_sub(now).as_millis().min(100) as i32)
    }

    /// The family's timers: IGMP or MLD's, the engine's each second (with the log's and
    /// the kernel counters' budget), the counters' sync, and the housekeeping.
    fn timers(&mut self) {
        let t = self.watch.begin();
        let acts = self.igmp.tick(self.now());
        self.igmp_actions(acts);
        self.proxy_tick();
        self.watch.end(t, "IGMP timers");
        if self.last_timers.elapsed() >= Duration::from_secs(1) {
            self.last_timers = Instant::now();
            let t = self.watch.begin();
            self.timers_due = true;
            self.flush_logs(Instant::now());
            self.watch.end(t, "logs");
            self.sync_due = self.sync_per_second;
        }
        if self.timers_due {
            let t = self.watch.begin();
            self.timers_due = self.run_timers();
            self.watch.end(t, "engine timers");
        }
        if self.sync_due > 0 {
            let t = self.watch.begin();
            self.sync_due = self.sync_counters(self.sync_due);
            self.watch.end(t, "kernel counters");
        }
        let t = self.watch.begin();
        self.housekeeping();
        self.watch.end(t, "housekeeping");
    }

    fn start(config: &Config, config_path: PathBuf, family_follows: bool) -> Result<Self, String> {
        let mgm = Mgm::<A>::new(mgm::Config {
            max_mfes: config.limits.max_mfes,
            ..mgm::Config::default()
        });
        let what = format!("{} mroute socket", A::NAME);
        let sock = Mroute::<A>::open().map_err(|e| mroute_open_error(&e, &what))?;
        info!(
            version = format!("{:#x}", sock.version().unwrap_or(0)),
            "{what} open ({})",
            A::CALLS.init
        );
        let target = Wanted::<A>::of(config, &[])?;
        let igmp_config = target.igmp.unwrap_or_default();
        let proxy = target.upstream.as_ref().map(|name| {
            let mut c = mgm_igmp::ProxyConfig::from(&igmp_config);
            if let Some(i) = config.interfaces.iter().find(|i| i.name == *name) {
                c.input = i.input_policy(igmp_config.input);
            }
            // Another seed each start, so that two proxies on one link do not answer a
            // query at the same moment.
            c.seed = std::process::id().into();
            proxy::Upstream::new(name.clone(), c)
        });
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
        let igmp = RouterClient::register(mgm.clone(), igmp_config)
            .map_err(|e| format!("register {}: {e}", A::PROTOCOL))?;
        let fwd = Forwarder::new(mgm.clone(), sock).map_err(|e| e.to_string())?;
        let mut d = Daemon {
            mgm,
            fwd,
            igmp,
            routing,
            routing_events,
            ifaces: Vec::new(),
            family_follows,
            work: VecDeque::new(),
            last_timers: Instant::now(),
            sync_due: 0,
            timers_due: false,
            proxy,
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
        if let Err(e) = d.converge(&target) {
            let _ = d.shutdown();
            return Err(e);
        }
        if d.groups.interfaces() > 0 && A::FAMILY == reply::AddressFamily::Ipv4 {
            let limit = mgm_linux::membership::max_memberships_per_socket();
            info!(
                interfaces = d.groups.interfaces(),
                "IGMP router groups {} and {} joined with one socket per interface (the kernel allows igmp_max_memberships = {} per socket: one socket for all would stop at {} interfaces)",
                A::ROUTER_GROUPS[0],
                A::ROUTER_GROUPS[1],
                limit.map_or("?".to_string(), |n| n.to_string()),
                limit.map_or("?".to_string(), |n| (n / 2).to_string())
            );
        } else if d.groups.interfaces() > 0 {
            info!(
                interfaces = d.groups.interfaces(),
                "MLD router groups {} and {} joined with one socket per interface",
                A::ROUTER_GROUPS[0],
                A::ROUTER_GROUPS[1],
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
            .then(|| A::router_address(&self.links, ifindex))
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
            self.proxy_refresh(0, ifindex);
        }
        self.ifaces[i].igmp = false;
        self.housekeeping();
    }

    /// The engine's selector of `sel`.
    fn selector(sel: &Sel<A>) -> Selector<A> {
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
    fn converge(&mut self, target: &Wanted<A>) -> Result<Vec<String>, String> {
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
    fn delete_entries_of(&mut self, sel: Sel<A>, target: &Wanted<A>) -> usize {
        let mut after = Some(mgm::Sg::new(A::UNSPECIFIED, sel.1));
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
        let pinned: Vec<((A, A), Option<String>)> = self
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
    fn pin(&mut self, sg: mgm::Sg<A>) {
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
            let msg = match A::recv(self.fwd.kernel()) {
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
                Msg::Upcall(up) => {
                    let iname = self
                        .fwd
                        .vifs()
                        .ifindex_of(up.vif)
                        .map_or_else(|| "?".to_string(), |i| self.name(i));
                    let kind = match up.kind {
                        UpcallKind::NoCache => "NOCACHE".to_string(),
                        UpcallKind::WrongVif => format!("WRONG{}", A::VIF),
                        UpcallKind::Other(k) => format!("type {k}"),
                    };
                    let detail = format!(
                        "{kind} {} {} ({iname}) source {} group {}",
                        A::VIF.to_ascii_lowercase(),
                        up.vif,
                        up.source,
                        up.group
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
                Msg::Heard {
                    ifindex,
                    source,
                    destination,
                    ttl,
                    router_alert,
                    payload,
                } => {
                    debug!(
                        "{} from {source} to {destination} on {} (TTL {ttl}, router alert {router_alert}): {}",
                        A::PROTOCOL,
                        self.name(ifindex),
                        A::describe(&payload)
                    );
                    let now = self.now();
                    let heard = igmp::Heard {
                        source,
                        ttl,
                        router_alert,
                    };
                    if self.is_upstream(ifindex) {
                        if let Some(p) = &mut self.proxy {
                            let acts = p.host.receive_packet(&heard, &payload, now);
                            self.proxy_send(acts);
                        }
                        continue;
                    }
                    let acts = self.igmp.receive_packet(ifindex, &heard, &payload, now);
                    self.igmp_actions(acts);
                }
                Msg::Junk => {}
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
                    warn!("run_timers ({}): {e}", A::NAME);
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

    fn names(&self, oifs: &[IfKey<A>]) -> String {
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

    fn igmp_actions(&mut self, acts: Vec<Action<A>>) {
        for a in acts {
            match a {
                Action::Send {
                    ifindex,
                    destination,
                    query,
                } => {
                    debug!(
                        "{} query to {destination} on {} (group {}, sources {:?}, S={})",
                        A::PROTOCOL,
                        self.name(ifindex),
                        query.group,
                        query.sources,
                        query.s_flag
                    );
                    if let Err(e) =
                        A::send(self.fwd.kernel(), ifindex, destination, &A::encode(&query))
                    {
                        warn!(
                            "sending {} query on {}: {e}",
                            A::PROTOCOL,
                            self.name(ifindex)
                        );
                    }
                    if query.group != A::UNSPECIFIED {
                        let d = format!(
                            "query for {} sources {:?} on {}",
                            query.group,
                            query.sources,
                            self.name(ifindex)
                        );
                        self.record(Self::kind(), d);
                    }
                }
                Action::Join { ifindex, selector } | Action::Leave { ifindex, selector } => {
                    let verb = if matches!(a, Action::Join { .. }) {
                        "join"
                    } else {
                        "leave"
                    };
                    let d = format!("{verb} {selector} on {}", self.name(ifindex));
                    info!("{} {d}", A::PROTOCOL);
                    self.record(Self::kind(), d);
                    if let Selector::Group(group) | Selector::Source { group, .. } = selector {
                        self.proxy_follow(ifindex, group);
                    }
                }
            }
        }
    }

    /// The kind of this family's router events: `igmp` or `mld`.
    fn kind() -> &'static str {
        if A::FAMILY == reply::AddressFamily::Ipv4 {
            "igmp"
        } else {
            "mld"
        }
    }

    /// Reads the subnets of every IGMP link from the kernel and gives the IGMP router those
    /// that changed (logged). A link whose subnets cannot be read, or that has none, fails
    /// closed: only reports from 0.0.0.0 (RFC 3376 §4.2.13) pass its off-subnet check. MLD
    /// has no subnets to read: it takes link-local sources only.
    fn refresh_subnets(&mut self) {
        self.subnets_read = Instant::now();
        if A::link_subnets("").is_none() {
            return;
        }
        let none = igmp::Subnet::new(A::UNSPECIFIED, A::BITS as u8);
        let links: Vec<(u32, Vec<igmp::Subnet<A>>)> = self
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
            let mut subnets: Vec<igmp::Subnet<A>> = match A::link_subnets(&name) {
                Some(Ok(found)) => found,
                Some(Err(e)) => {
                    if had != [none] {
                        warn!("subnets of {name}: {e}");
                    }
                    Vec::new()
                }
                None => return,
            };
            if subnets.is_empty() {
                subnets.push(none);
            }
            if subnets != had {
                info!(interface = %name, ?subnets, "{}: link subnets", A::PROTOCOL);
                A::set_subnets(&mut self.igmp, ifindex, &subnets);
            }
        }
    }

    fn housekeeping(&mut self) {
        if self.subnets_read.elapsed() >= SUBNET_REFRESH {
            self.refresh_subnets();
        }
        for e in self.igmp.handle_events() {
            debug!("{} event {e:?}", A::PROTOCOL);
            if matches!(e, Event::DisableIgmp { .. } | Event::EnableIgmp { .. }) {
                self.record("igmp-event", format!("{e:?}"));
            }
        }
        for e in self.igmp.take_errors() {
            warn!("{} membership: {e}", A::PROTOCOL);
            self.record("error", format!("{} membership: {e}", A::PROTOCOL));
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
        self.proxy_leave_all();
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

    fn status(&self) -> (reply::Status, String) {
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
            family: A::FAMILY,
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
                .filter(|m| A::of(m.group).is_some())
                .map(changes::mroute_row)
                .collect(),
            ipv6: None,
            proxy: self.proxy.as_ref().map(|p| reply::Proxy {
                upstream: p.name.clone(),
                ifindex: self
                    .ifaces
                    .iter()
                    .find(|i| i.name == p.name && i.ifindex != 0)
                    .map(|i| i.ifindex),
                live: p.live,
                address: p.live.then(|| p.host.address().into()),
                version: p.host.version(),
                querier: p.host.querier().map(|(q, _)| q.into()),
                groups: p.host.membership().len() as u64,
                sent: p.sent,
                unsent: p.unsent,
            }),
        };
        let mut t = format!(
            "{}: uptime {:.1} s; {} MFEs of at most {} ({} created, {} deleted, {} misses refused); upcalls: {} NOCACHE, {} WRONG{}, longest handling delay {} us; kernel: {} {}, {} {}; {} errors; control: {} served, {} refused busy, {} bad requests, {} timed out; {} log lines left out\n",
            A::NAME, self.now().as_secs_f64(), c.mfes, self.max_mfes, c.created, c.deleted, c.refused_misses,
            f.nocache, f.wrongvif, A::VIF, us(self.watch.upcalls.max), f.mfc_adds, A::CALLS.add_mfc,
            f.mfc_dels, A::CALLS.del_mfc, f.errors,
            v.control_served, v.control_refused_busy, v.control_bad_requests, v.control_timed_out, suppressed
        );
        if let Some(p) = &v.proxy {
            let at = match (p.live, p.address) {
                (true, Some(a)) => format!("reporting from {a}"),
                _ => "not reporting (detached, or no address)".into(),
            };
            let querier = p.querier.map_or("none heard".into(), |q| q.to_string());
            t += &format!(
                "{} proxy: upstream {}, {at}, {}v{} host, querier {querier}; {} groups reported; {} messages sent, {} not sent\n",
                A::NAME, p.upstream, A::PROTOCOL, p.version, p.groups, p.sent, p.unsent
            );
        }
        (v, t)
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
    fn querier(st: &igmp::InterfaceState<A>) -> Option<String> {
        if st.querier {
            Some("self".into())
        } else {
            st.other_querier.map(|a| a.to_string())
        }
    }

    fn interfaces(&self) -> (Value, String) {
        let mut rows = Vec::new();
        // IPv4's columns as they always were; IPv6's link-local addresses are wider.
        let aw = if A::FAMILY == reply::AddressFamily::Ipv4 {
            16
        } else {
            26
        };
        let mut t = format!(
            "{:<10} {:>7} {:<6} {:>4} {:<aw$} {:<8} {:<6} {:>10} {:>10}\n",
            "NAME",
            "IFINDEX",
            "STATE",
            A::VIF,
            "ADDRESS",
            "OWNER",
            A::PROTOCOL,
            "IN_PKTS",
            "OUT_PKTS"
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
                "{:<10} {:>7} {:<6} {:>4} {:<aw$} {:<8} {:<6} {:>10} {:>10}\n",
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
                family: A::FAMILY,
                name: i.name.clone(),
                ifindex,
                state: i.link,
                vif,
                address: i.address.map(Into::into),
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
        let first_page = after.is_none();
        // A key of the other family: this family's listing starts from its beginning.
        let after = after.and_then(|k| Some((k, A::of(k.source)?, A::of(k.group)?)));
        let after = after.map(|(k, source, group)| mgm::MembershipInfo {
            protocol: (k.protocol, k.component),
            selector: match (source, group) {
                (s, g) if s == A::UNSPECIFIED && g == A::UNSPECIFIED => Selector::AllGroups,
                (s, group) if s == A::UNSPECIFIED => Selector::Group(group),
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
        let rows: Vec<(String, mgm::MembershipInfo<A>, String)> = page
            .items
            .iter()
            .map(|m| {
                let p = Self::proto_name(Some(m.protocol)).unwrap_or_default();
                (self.name(m.interface.index), *m, p)
            })
            .collect();
        let first = first_page;
        let (more, follows) = (page.more, self.family_follows);
        Box::new(move || Self::render_memberships(&rows, first, more, follows, json))
    }

    fn render_memberships(
        rows: &[(String, mgm::MembershipInfo<A>, String)],
        first: bool,
        more: bool,
        follows: bool,
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
                    family: A::FAMILY,
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
        // The next family's listing follows this one's end.
        let (more, next) = if !more && follows {
            (true, Some(format!("0,{0},{0},0,0", Ipv6Addr::UNSPECIFIED)))
        } else {
            (more, next)
        };
        Self::page(out, t, json, more, next)
    }

    /// One step of a request: its reply (with the job to send it to), or what is left to do.
    fn step(&mut self, w: Work<A>) -> Step<A> {
        let (job, cursor, left, mut rows, first) = match w {
            Work::Flush {
                job,
                cursor,
                deleted,
            } => return self.flush_step(job, cursor, deleted),
            Work::New(job) => match job.request.command.clone() {
                Command::Flush => return self.flush_step(job, None, 0),
                Command::Mfes { after, max } => {
                    // A key of the other family: this family's listing starts from its
                    // beginning.
                    let cursor = after.and_then(|(s, g)| Some(mgm::Sg::new(A::of(s)?, A::of(g)?)));
                    (job, cursor, max, Vec::new(), after.is_none())
                }
                Command::Memberships { after, max } => {
                    let reply = self.memberships(after, max, job.request.json);
                    return Step::Done(job, reply);
                }
                Command::Igmp { after, max } => {
                    let reply = self.igmp_page(after, max, job.request.json);
                    return Step::Done(job, reply);
                }
                other => {
                    let r = control::error_reply(&format!(
                        "internal: {} is not answered by one family",
                        other.name()
                    ));
                    return Step::Done(job, Box::new(move || r));
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
                    return Step::Done(job, Box::new(move || r));
                }
            };
            cursor = page.items.last().map(|s| s.engine.mfe.sg()).or(cursor);
            left -= page.items.len();
            more = page.more;
            rows.extend(page.items);
        }
        if left > 0 && more {
            return Step::More(Box::new(Work::Mfes {
                job,
                cursor,
                left,
                rows,
                first,
            }));
        }
        let reply = self.mfes_reply(rows, more, first, job.request.json);
        Step::Done(job, reply)
    }

    /// A page of entries, read by the main loop; the rows are formatted on the client's
    /// thread.
    fn mfes_reply(
        &self,
        items: Vec<mgm_linux::ForwardedStats<A>>,
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
        let follows = self.family_follows;
        Box::new(move || Self::render_mfes(page, &names, (first, follows), json, now))
    }

    /// A page of entries; `first` and `follows`: the first page (with the header), and
    /// another family's entries to come after this family's last.
    fn render_mfes(
        page: mgm::Page<mgm_linux::ForwardedStats<A>>,
        names: &[(u32, String)],
        (first, follows): (bool, bool),
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
                family: A::FAMILY,
                source: m.source.into(),
                group: m.group.into(),
                iif: name(m.iif.index),
                oifs,
                upstream: Some(m.upstream)
                    .filter(|u| *u != A::UNSPECIFIED)
                    .map(Into::into),
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
        let (more, next) = if !page.more && follows {
            let v6 = Ipv6Addr::UNSPECIFIED;
            (true, Some(format!("{v6},{v6}")))
        } else {
            (page.more, next)
        };
        Self::page(rows, t, json, more, next)
    }

    /// A page of the IGMP (or MLD) router's state: interfaces in ifindex order with their
    /// groups in address order, at most `max` groups (an interface without groups counts
    /// one). The rows are read here and formatted on the client's thread.
    fn igmp_page(&self, after: Option<(u32, IpAddr)>, max: usize, json: bool) -> server::Reply {
        // A key of the other family: this family's listing starts from its beginning.
        let key = after.and_then(|(i, g)| Some((i, A::of(g)?)));
        // `0,::`, the key IPv4's last page hands over: MLD's listing follows IGMP's.
        let handed_over = after == Some((0, IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
        let title = match (after.is_none() && self.family_follows, handed_over) {
            (true, _) => format!("{}:\n", A::PROTOCOL),
            (false, true) => format!("\n{}:\n", A::PROTOCOL),
            (false, false) => String::new(),
        };
        let key = key.map(|(i, g)| (i, Some(g).filter(|g| *g != A::UNSPECIFIED)));
        let ifs = self.igmp.router().interfaces();
        let page = igmp_page::plan(
            ifs.keys().copied(),
            |i, g| {
                ifs.get(&i)
                    .into_iter()
                    .flat_map(move |st| st.groups_after(g).map(|(g, _)| g))
            },
            igmp_page::Resume::of_key(key),
            max,
        );
        let now = self.now();
        let mut rows = Vec::with_capacity(page.parts.len());
        for part in &page.parts {
            let Some(st) = ifs.get(&part.ifindex) else {
                continue;
            };
            let groups = part
                .groups
                .iter()
                .filter_map(|g| Some((*g, st.group(*g)?)))
                .map(|(g, gs)| reply::IgmpGroup {
                    group: g.into(),
                    exclude_timer: gs.group_timer.map(|x| x.saturating_sub(now).as_secs_f64()),
                    exclude_until: gs.group_timer.map(|x| reply::rfc3339(self.start_wall + x)),
                    sources: gs.sources.keys().map(|s| (*s).into()).collect(),
                    old_host: gs.old_host_until.is_some(),
                })
                .collect();
            let c = &st.counters;
            let row = reply::IgmpInterface {
                family: A::FAMILY,
                interface: self.name(part.ifindex),
                address: st.address.into(),
                querier: Self::querier(st),
                other_querier: st.other_querier.map(Into::into),
                groups,
                subnets: st
                    .subnets
                    .iter()
                    .map(|s| format!("{}/{}", s.address, s.prefix_len))
                    .collect(),
                require_ttl_one: st.policy.require_ttl_one,
                require_router_alert: st.policy.require_router_alert,
                counters: reply::IgmpCounters {
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
                },
            };
            rows.push((row, part.starts, part.ends));
        }
        let next = page
            .next
            .map(|(i, g)| format!("{i},{}", g.unwrap_or(A::UNSPECIFIED)));
        // The next family's listing follows this one's end.
        let (more, next) = if !page.more && self.family_follows {
            (true, Some(format!("0,{}", Ipv6Addr::UNSPECIFIED)))
        } else {
            (page.more, next)
        };
        Box::new(move || Self::render_igmp(&rows, title, json, more, next))
    }

    /// A page of `igmp`: an interface's first line where the page starts it, its counters
    /// where the page ends it, its groups between (the pages of a listing put together are
    /// the unpaged listing).
    fn render_igmp(
        rows: &[(reply::IgmpInterface, bool, bool)],
        mut t: String,
        json: bool,
        more: bool,
        next: Option<String>,
    ) -> String {
        let needed = |on: bool| if on { "required" } else { "not required" };
        let mut out = Vec::new();
        for (r, starts, ends) in rows {
            if json {
                out.push(json!(r));
                continue;
            }
            if *starts {
                t += &format!(
                    "{}: address {}, querier {}; input checks: TTL 1 {}, Router Alert {}\n",
                    r.interface,
                    r.address,
                    r.querier.as_deref().unwrap_or("?"),
                    needed(r.require_ttl_one),
                    needed(r.require_router_alert),
                );
            }
            for g in &r.groups {
                let shown: Vec<String> = g.sources.iter().map(|s| s.to_string()).collect();
                t += &format!(
                    "  {}: {} {}{}\n",
                    g.group,
                    g.exclude_timer
                        .map_or("INCLUDE".to_string(), |l| format!("EXCLUDE {l:.1}s")),
                    if shown.is_empty() {
                        String::new()
                    } else {
                        format!("sources {}", shown.join(","))
                    },
                    match (g.old_host, A::FAMILY) {
                        (false, _) => "",
                        (true, reply::AddressFamily::Ipv4) => " (IGMPv1/v2 host present)",
                        (true, reply::AddressFamily::Ipv6) => " (MLDv1 host present)",
                    }
                );
            }
            if *ends {
                let c = &r.counters;
                t += &format!(
                    "  received {}, accepted {}; dropped: own {}, malformed {}, ttl {}, no router alert {}, off-subnet reports {}, off-subnet queries {}\n  refused: invalid groups {}, invalid sources {}, group limit {}, source limit {}, host limit {}\n",
                    c.received, c.accepted, c.own, c.malformed, c.bad_ttl, c.no_router_alert,
                    c.off_subnet_report, c.off_subnet_query, c.invalid_groups, c.invalid_sources,
                    c.group_limit, c.source_limit, c.host_limit
                );
            }
        }
        Self::page(out, t, json, more, next)
    }
}

#[cfg(test)]
mod tests {
    use super::mroute_open_error;
    use std::io;

    #[test]
    fn a_kernel_without_multicast_routing_in_a_family_is_named() {
        // What MRT6_INIT and the raw ICMPv6 socket give on a kernel without IPv6 multicast
        // routing (ENOPROTOOPT) or without IPv6 (EAFNOSUPPORT).
        for errno in super::NO_MROUTE_ERRNOS {
            let e = mroute_open_error(&io::Error::from_raw_os_error(errno), "IPv6 mroute socket");
            assert!(
                e.starts_with("IPv6 mroute socket: ") && e.contains("CONFIG_IPV6_MROUTE"),
                "{e}"
            );
        }
        let busy = io::Error::from(io::ErrorKind::AddrInUse);
        assert!(
            mroute_open_error(&busy, "IPv4 mroute socket").contains("only one multicast router")
        );
    }
}
