//! `mgmd`: a multicast router daemon on the Linux kernel's forwarding plane, built on the `mgm`
//! engine. It owns the configured interfaces with a static routing client (RIB routes for RPF,
//! smcroute-like static (S,G)/(*,G) forwarding), runs the IGMP router on them, follows the
//! engine's forwarding table into the kernel (MRT_ADD_MFC/MRT_DEL_MFC), and answers `mgmctl`
//! on a unix control socket.
//!
//! ```text
//! mgmd --config /etc/mgmd.toml [--socket PATH] [--log error|warn|info|debug|trace] [--check]
//! mgmd --probe IFNAME...    # checks the kernel's IPv4 and IPv6 (MRT6_*) multicast routing
//! ```
//!
//! On SIGTERM or SIGINT it releases every interface (the routing client first, so IGMP sees
//! its disable/enable bracket, then IGMP), deregisters both clients, deletes every MFC and VIF
//! and closes the mroute socket: no kernel state is left.

#[path = "mgmd/config.rs"]
mod config;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mgm::{
    DefaultHooks, Event, EventReceiver, Hooks, IfKey, Mgm, MissOutcome, ProtocolHandle, Route,
    RpfDecision, RpfQuery, Selector, JOIN,
};
use mgm_igmp::{self as igmp, IgmpAction};
use mgm_igmp_client::IgmpClient;
use mgm_linux::mroute::Received4;
use mgm_linux::{
    net, Forwarder, LinuxError, Mroute6Socket, MrouteSocket, UpcallKind, UpcallOutcome,
};
use serde_json::{json, Value};
use tracing::{debug, error, info, warn};

use config::Config;

/// The static routing client's protocol id: type multicast, vendor 0x2d6 ("mgm"), protocol 1.
fn static_protocol() -> u32 {
    mgm::protocol_id(1, 0x2d6, 1)
}

/// RPF overrides of `[[mroute]] from = ...`.
struct StaticHooks {
    rules: Vec<(Option<Ipv4Addr>, Ipv4Addr, u32)>,
}

impl Hooks<Ipv4Addr> for StaticHooks {
    fn rpf(&self, q: &RpfQuery<Ipv4Addr>) -> RpfDecision<Ipv4Addr> {
        let rule = self
            .rules
            .iter()
            .filter(|(s, g, _)| *g == q.sg.group && s.is_none_or(|s| s == q.sg.source))
            .max_by_key(|(s, _, _)| s.is_some());
        match rule {
            Some((_, _, iif)) => RpfDecision {
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
    igmp: bool,
}

struct Daemon {
    mgm: Mgm<Ipv4Addr>,
    fwd: Forwarder<Ipv4Addr, MrouteSocket>,
    igmp: IgmpClient,
    routing: ProtocolHandle,
    routing_events: EventReceiver<Ipv4Addr>,
    ifaces: Vec<Iface>,
    events: VecDeque<Value>,
    start: Instant,
    mroutes: Vec<Value>,
}

const EVENT_RING: usize = 1000;

fn usage() -> ! {
    eprintln!(
        "usage: mgmd --config FILE [--socket PATH] [--log error|warn|info|debug|trace] [--check]"
    );
    std::process::exit(2)
}

fn main() {
    let mut config_path: Option<PathBuf> = None;
    let mut socket: Option<PathBuf> = None;
    let mut level = tracing::Level::INFO;
    let mut check_only = false;
    let mut probe_ifs: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-f" => config_path = args.next().map(PathBuf::from),
            "--socket" | "-u" => socket = args.next().map(PathBuf::from),
            "--log" | "-l" => {
                level = args
                    .next()
                    .and_then(|l| l.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--check" => check_only = true,
            "--probe" => probe_ifs = Some(args.by_ref().collect()),
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    if let Some(ifs) = probe_ifs {
        if let Err(e) = probe(&ifs) {
            error!("probe: {e}");
            std::process::exit(1);
        }
        return;
    }
    let Some(config_path) = config_path else {
        usage()
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
            error!("{}: {e}", config_path.display());
            std::process::exit(1);
        }
    };
    if check_only {
        println!("{}: ok", config_path.display());
        return;
    }
    let socket = socket
        .or_else(|| config.control_socket.clone())
        .unwrap_or_else(|| PathBuf::from("/run/mgmd.sock"));
    if let Err(e) = run(config, socket) {
        error!("{e}");
        std::process::exit(1);
    }
}

/// Opens the IPv4 and IPv6 mroute sockets, gives the interfaces VIFs/MIFs, and, with two or
/// more interfaces, has an IPv6 engine entry installed in and removed from the kernel.
fn probe(names: &[String]) -> Result<(), String> {
    let v4 = MrouteSocket::open().map_err(|e| e.to_string())?;
    println!(
        "IPv4: MRT_INIT ok, MRT_VERSION {:#x}",
        v4.version().map_err(|e| e.to_string())?
    );
    drop(v4);
    let v6 = Mroute6Socket::open().map_err(|e| e.to_string())?;
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

fn run(config: Config, socket: PathBuf) -> Result<(), String> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, term.clone()).map_err(|e| format!("signal: {e}"))?;
    }
    let mut d = Daemon::start(&config)?;
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)
        .map_err(|e| format!("control socket {}: {e}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("control socket: {e}"))?;
    info!(socket = %socket.display(), "mgmd ready");
    let mut last_timers = Instant::now();
    while !term.load(Ordering::Relaxed) {
        let now = d.now();
        let wait = d
            .igmp
            .next_deadline()
            .map_or(100, |t| t.saturating_sub(now).as_millis().min(100) as i32);
        let fds = [d.fwd.kernel().as_raw_fd(), listener.as_raw_fd()];
        let ready = net::poll_readable(&fds, wait).map_err(|e| format!("poll: {e}"))?;
        if ready[0] {
            d.read_socket();
        }
        if ready[1] {
            while let Ok((stream, _)) = listener.accept() {
                d.serve(stream);
            }
        }
        let acts = d.igmp.tick(d.now());
        d.igmp_actions(acts);
        if last_timers.elapsed() >= Duration::from_secs(1) {
            last_timers = Instant::now();
            if let Err(e) = d.mgm.run_timers() {
                warn!("run_timers: {e}");
            }
            d.fwd.sync_counters();
        }
        d.housekeeping();
    }
    info!("signal received: shutting down");
    let r = d.shutdown();
    let _ = std::fs::remove_file(&socket);
    r
}

impl Daemon {
    fn start(config: &Config) -> Result<Self, String> {
        let mgm = Mgm::<Ipv4Addr>::default();
        let sock = MrouteSocket::open().map_err(|e| format!("mroute socket: {e}"))?;
        info!(
            version = format!("{:#x}", sock.version().unwrap_or(0)),
            "mroute socket open (MRT_INIT, MRT_ASSERT)"
        );
        let mut ifaces = Vec::new();
        for i in &config.interfaces {
            let ifindex =
                net::interface_index(&i.name).map_err(|e| format!("interface {}: {e}", i.name))?;
            let address = mgm_linux::mroute::ipv4_addrs_of(&i.name)
                .ok()
                .and_then(|a| a.first().copied());
            ifaces.push(Iface {
                name: i.name.clone(),
                ifindex,
                address,
                igmp: i.igmp,
            });
        }
        let names: Vec<(String, u32)> =
            ifaces.iter().map(|i| (i.name.clone(), i.ifindex)).collect();
        let index_of = |n: &str| {
            names
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, i)| *i)
                .expect("checked by Config::parse")
        };
        let rules = config
            .mroutes
            .iter()
            .filter_map(|m| m.from.as_ref().map(|f| (m.source, m.group, index_of(f))))
            .collect();
        let (routing, routing_events) = mgm
            .register(static_protocol(), 1, Arc::new(StaticHooks { rules }))
            .map_err(|e| format!("register: {e}"))?;
        let igmp = IgmpClient::register(
            mgm.clone(),
            config.igmp.to_config().map_err(|e| e.to_string())?,
        )
        .map_err(|e| format!("register IGMP: {e}"))?;
        let fwd = Forwarder::new(mgm.clone(), sock).map_err(|e| e.to_string())?;
        let mut d = Daemon {
            mgm,
            fwd,
            igmp,
            routing,
            routing_events,
            ifaces,
            events: VecDeque::new(),
            start: Instant::now(),
            mroutes: Vec::new(),
        };
        for i in 0..d.ifaces.len() {
            let (name, ifindex) = (d.ifaces[i].name.clone(), d.ifaces[i].ifindex);
            let vif = d.fwd.add_interface(ifindex).map_err(|e| e.to_string())?;
            d.mgm
                .take_interface(d.routing, IfKey::new(ifindex))
                .map_err(|e| format!("take {name}: {e}"))?;
            info!(interface = %name, ifindex, vif, "interface owned by the static routing client");
            if !d.ifaces[i].igmp {
                continue;
            }
            let Some(addr) = d.ifaces[i].address else {
                warn!(interface = %name, "no IPv4 address: IGMP not started there");
                continue;
            };
            for g in [igmp::IGMPV3_ROUTERS, igmp::ALL_ROUTERS] {
                d.fwd
                    .kernel()
                    .membership(g, ifindex, true)
                    .map_err(|e| format!("join {g} on {name}: {e}"))?;
            }
            let now = d.now();
            let acts = d
                .igmp
                .add_interface(ifindex, addr, now)
                .map_err(|e| format!("IGMP on {name}: {e}"))?;
            info!(interface = %name, address = %addr, "IGMP querier started");
            d.igmp_actions(acts);
        }
        for r in &config.routes {
            let (prefix, len) = r.parse()?;
            let mut route = Route::new(prefix, len, IfKey::new(index_of(&r.interface)));
            if let Some(u) = r.upstream {
                route.upstream = u;
            }
            d.mgm
                .add_route(route)
                .map_err(|e| format!("route {}: {e}", r.prefix))?;
            info!(prefix = %r.prefix, interface = %r.interface, "route");
        }
        for m in &config.mroutes {
            let sel = match m.source {
                Some(source) => Selector::Source {
                    source,
                    group: m.group,
                },
                None => Selector::Group(m.group),
            };
            if let (Some(s), Some(from)) = (m.source, &m.from) {
                // A host route makes the RPF answer independent of the configured routes.
                let _ = d
                    .mgm
                    .add_route(Route::new(s, 32, IfKey::new(index_of(from))));
            }
            for to in &m.to {
                d.mgm
                    .add_membership(d.routing, sel, IfKey::new(index_of(to)), JOIN)
                    .map_err(|e| format!("mroute {sel} to {to}: {e}"))?;
            }
            if let (Some(s), Some(from)) = (m.source, &m.from) {
                match d.mgm.new_packet(IfKey::new(index_of(from)), s, m.group) {
                    Ok(_) => {}
                    Err(e) => warn!("pre-installing {sel}: {e}"),
                }
            }
            info!(selector = %sel, from = ?m.from, to = ?m.to, "static mroute");
            d.mroutes
                .push(json!({"selector": sel.to_string(), "from": m.from, "to": m.to}));
        }
        d.housekeeping();
        Ok(d)
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
        self.events
            .push_back(json!({"time": self.now().as_secs_f64(), "kind": kind, "detail": detail}));
    }

    fn read_socket(&mut self) {
        loop {
            let msg = match self.fwd.kernel().recv() {
                Ok(Some(m)) => m,
                Ok(None) => break,
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
                    match self.fwd.handle_upcall(&up) {
                        Ok(UpcallOutcome::Miss(o)) => {
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
                            info!("upcall {detail}: {what}");
                            self.record("upcall", format!("{detail}: {what}"));
                        }
                        Ok(UpcallOutcome::WrongInterface(passed)) => {
                            info!("upcall {detail}: reported to the engine (passed on: {passed})");
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
                    // The link's subnets, read once, when its first message arrives.
                    let unknown = self.igmp.router().interfaces().get(&ifindex);
                    if unknown.is_some_and(|st| st.subnets.is_empty()) {
                        match mgm_linux::mroute::ipv4_subnets_of(&self.name(ifindex)) {
                            Ok(found) => {
                                let subnets: Vec<igmp::Subnet> = found
                                    .into_iter()
                                    .map(|(a, len)| igmp::Subnet::new(a, len))
                                    .collect();
                                info!(interface = %self.name(ifindex), ?subnets, "IGMP: link subnets");
                                self.igmp.set_subnets(ifindex, &subnets);
                            }
                            Err(e) => warn!("subnets of {}: {e}", self.name(ifindex)),
                        }
                    }
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
    }

    fn names(&self, oifs: &[IfKey<Ipv4Addr>]) -> String {
        oifs.iter()
            .map(|o| self.name(o.index))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn error(&mut self, e: &LinuxError) {
        error!("{e}");
        self.record("error", e.to_string());
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
    fn housekeeping(&mut self) {
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
                other => format!("{other:?}"),
            };
            info!("routing event: {detail}");
            self.record("routing-event", detail);
        }
        for e in self.fwd.pump() {
            self.error(&e);
        }
    }

    fn shutdown(mut self) -> Result<(), String> {
        self.housekeeping();
        let ids: Vec<(String, u32)> = self
            .ifaces
            .iter()
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
                for g in [igmp::IGMPV3_ROUTERS, igmp::ALL_ROUTERS] {
                    let _ = self.fwd.kernel().membership(g, *ifindex, false);
                }
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
        info!(
            entries_left = left,
            "deregistered; every MFC and VIF removed; bye"
        );
        Ok(())
    }

    fn serve(&mut self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut line = String::new();
        let mut reader = BufReader::new(&stream);
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("status").to_string();
        let as_json = words.any(|w| w == "json");
        let (value, text) = self.answer(&cmd);
        let out = if as_json {
            serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
        } else {
            text
        };
        let mut w = &stream;
        let _ = w.write_all(out.as_bytes());
    }

    fn answer(&self, cmd: &str) -> (Value, String) {
        match cmd {
            "interfaces" => self.interfaces(),
            "memberships" => self.memberships(),
            "mfes" => self.mfes(),
            "events" => {
                let v: Vec<Value> = self.events.iter().cloned().collect();
                let mut t = String::new();
                for e in &v {
                    t += &format!(
                        "{:>10.3}  {:<14} {}\n",
                        e["time"].as_f64().unwrap_or(0.0),
                        e["kind"].as_str().unwrap_or(""),
                        e["detail"].as_str().unwrap_or("")
                    );
                }
                (Value::Array(v), t)
            }
            "igmp" => self.igmp_state(),
            "status" => {
                let c = self.mgm.counters();
                let f = self.fwd.counters();
                let v = json!({
                    "uptime": self.now().as_secs_f64(),
                    "mfes": c.mfes, "created": c.created, "deleted": c.deleted,
                    "wrong_if_notified": c.wrong_if_notified,
                    "upcalls_nocache": f.nocache, "upcalls_wrongvif": f.wrongvif,
                    "mfc_adds": f.mfc_adds, "mfc_dels": f.mfc_dels, "errors": f.errors,
                    "static_mroutes": self.mroutes,
                });
                let t = format!(
                    "uptime {:.1} s; {} MFEs ({} created, {} deleted); upcalls: {} NOCACHE, {} WRONGVIF; kernel: {} MRT_ADD_MFC, {} MRT_DEL_MFC; {} errors\n",
                    self.now().as_secs_f64(), c.mfes, c.created, c.deleted, f.nocache, f.wrongvif, f.mfc_adds, f.mfc_dels, f.errors
                );
                (v, t)
            }
            other => {
                let m = format!(
                    "unknown command {other:?}: interfaces, memberships, mfes, events, igmp, status"
                );
                (json!({ "error": m }), m + "\n")
            }
        }
    }

    fn proto_name(p: Option<(u32, u32)>) -> String {
        match p {
            None => "-".into(),
            Some((id, _)) if id == mgm::MS_IP_IGMP => "igmp".into(),
            Some((id, _)) if id == static_protocol() => "static".into(),
            Some((id, c)) => format!("{id:#x}/{c}"),
        }
    }

    fn interfaces(&self) -> (Value, String) {
        let mut rows = Vec::new();
        let mut t = format!(
            "{:<10} {:>7} {:>4} {:<16} {:<8} {:<6} {:>10} {:>10}\n",
            "NAME", "IFINDEX", "VIF", "ADDRESS", "OWNER", "IGMP", "IN_PKTS", "OUT_PKTS"
        );
        let infos = self.mgm.interfaces();
        for i in &self.ifaces {
            let info = infos.iter().find(|x| x.interface.index == i.ifindex);
            let owner = Self::proto_name(info.and_then(|x| x.owner));
            let igmp = Self::proto_name(info.and_then(|x| x.igmp));
            let vif = self.fwd.vifs().vif_of(i.ifindex);
            let vc = self.fwd.vif_counters(i.ifindex).unwrap_or_default();
            let querier = self.igmp.router().interfaces().get(&i.ifindex).map(|s| {
                if s.querier {
                    "self".to_string()
                } else {
                    s.other_querier.map_or("?".into(), |a| a.to_string())
                }
            });
            rows.push(json!({
                "name": i.name, "ifindex": i.ifindex, "vif": vif, "address": i.address,
                "owner": owner, "igmp": igmp, "querier": querier,
                "in_packets": vc.in_packets, "out_packets": vc.out_packets,
                "in_bytes": vc.in_bytes, "out_bytes": vc.out_bytes,
            }));
            t += &format!(
                "{:<10} {:>7} {:>4} {:<16} {:<8} {:<6} {:>10} {:>10}\n",
                i.name,
                i.ifindex,
                vif.map_or("-".into(), |v| v.to_string()),
                i.address.map_or("-".into(), |a| a.to_string()),
                owner,
                igmp,
                vc.in_packets,
                vc.out_packets
            );
        }
        (Value::Array(rows), t)
    }

    fn memberships(&self) -> (Value, String) {
        let mut rows = Vec::new();
        let mut t = format!("{:<10} {:<36} {:<8}\n", "INTERFACE", "SELECTOR", "PROTOCOL");
        for m in self.mgm.memberships() {
            let name = self.name(m.interface.index);
            let p = Self::proto_name(Some(m.protocol));
            rows.push(json!({"interface": name, "ifindex": m.interface.index,
                "selector": m.selector.to_string(), "protocol": p}));
            t += &format!("{:<10} {:<36} {:<8}\n", name, m.selector.to_string(), p);
        }
        (Value::Array(rows), t)
    }

    fn mfes(&self) -> (Value, String) {
        let mut rows = Vec::new();
        let mut t = format!(
            "{:<16} {:<16} {:<8} {:<20} {:>9} {:>11} {:>9} {:>8}\n",
            "SOURCE", "GROUP", "IIF", "OIFS", "K_PKTS", "K_BYTES", "K_WRONG", "EXPIRY"
        );
        let stats = match self.fwd.stats() {
            Ok(s) => s,
            Err(e) => return (json!({"error": e.to_string()}), format!("{e}\n")),
        };
        for s in stats {
            let m = &s.engine.mfe;
            let k = s.kernel.unwrap_or_default();
            let oifs: Vec<String> = m.oifs.iter().map(|o| self.name(o.index)).collect();
            rows.push(json!({
                "source": m.source, "group": m.group, "iif": self.name(m.iif.index),
                "oifs": oifs, "upstream": m.upstream,
                "expiry": m.expiry.map(|e| e.as_secs_f64()),
                "up_time": m.up_time.as_secs_f64(),
                "engine": {"in_packets": s.engine.in_packets, "in_octets": s.engine.in_octets,
                    "different_if": s.engine.different_if, "negative": s.engine.negative},
                "kernel": s.kernel.map(|k| json!({"packets": k.packets, "bytes": k.bytes, "wrong_if": k.wrong_if})),
            }));
            t += &format!(
                "{:<16} {:<16} {:<8} {:<20} {:>9} {:>11} {:>9} {:>8}\n",
                m.source.to_string(),
                m.group.to_string(),
                self.name(m.iif.index),
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
        }
        (Value::Array(rows), t)
    }

    fn igmp_state(&self) -> (Value, String) {
        let now = self.now();
        let mut rows = Vec::new();
        let mut t = String::new();
        for (ifindex, st) in self.igmp.router().interfaces() {
            let name = self.name(*ifindex);
            t += &format!(
                "{name}: address {}, querier {}\n",
                st.address,
                if st.querier {
                    "self".to_string()
                } else {
                    st.other_querier.map_or("?".into(), |a| a.to_string())
                }
            );
            let mut groups = Vec::new();
            for (g, gs) in &st.groups {
                let left = gs.group_timer.map(|x| x.saturating_sub(now).as_secs_f64());
                let srcs: Vec<String> = gs.sources.keys().map(|s| s.to_string()).collect();
                t += &format!(
                    "  {g}: {} {}{}\n",
                    left.map_or("INCLUDE".to_string(), |l| format!("EXCLUDE {l:.1}s")),
                    if srcs.is_empty() {
                        String::new()
                    } else {
                        format!("sources {}", srcs.join(","))
                    },
                    if gs.old_host_until.is_some() {
                        " (IGMPv1/v2 host present)"
                    } else {
                        ""
                    }
                );
                groups.push(json!({"group": g, "exclude_timer": left, "sources": srcs,
                    "old_host": gs.old_host_until.is_some()}));
            }
            let c = &st.counters;
            t += &format!(
                "  received {}, accepted {}; dropped: own {}, malformed {}, ttl {}, no router alert {}, off-subnet reports {}, off-subnet queries {}\n  refused: invalid groups {}, invalid sources {}, group limit {}, source limit {}, host limit {}\n",
                c.received, c.accepted, c.own, c.malformed, c.bad_ttl, c.no_router_alert,
                c.off_subnet_report, c.off_subnet_query, c.invalid_groups, c.invalid_sources,
                c.group_limit, c.source_limit, c.host_limit
            );
            let counters = json!({"received": c.received, "accepted": c.accepted, "own": c.own,
                "malformed": c.malformed, "bad_ttl": c.bad_ttl, "no_router_alert": c.no_router_alert,
                "off_subnet_report": c.off_subnet_report, "off_subnet_query": c.off_subnet_query,
                "invalid_groups": c.invalid_groups, "invalid_sources": c.invalid_sources,
                "group_limit": c.group_limit, "source_limit": c.source_limit,
                "host_limit": c.host_limit});
            let subnets: Vec<String> = st
                .subnets
                .iter()
                .map(|s| format!("{}/{}", s.address, s.prefix_len))
                .collect();
            rows.push(
                json!({"interface": name, "address": st.address, "querier": st.querier,
                "other_querier": st.other_querier, "groups": groups, "subnets": subnets,
                "counters": counters}),
            );
        }
        (Value::Array(rows), t)
    }
}
