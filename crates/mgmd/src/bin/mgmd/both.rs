//! The families together: mgmd runs one [`Daemon`] per family configured (IPv4, IPv6, or
//! both), each with its engine, forwarder, mroute socket and IGMP or MLD router, in one main
//! loop. Control requests are answered here: a change is checked once and applied to each
//! family, wholly or not at all; `mfes`, `memberships` and `igmp` page through IPv4 then
//! IPv6; the other answers put both families' together.

use std::io::Read;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use mgm_linux::net;
use mgmd::config::Config;
use mgmd::control::{self, Changed, Command, Request};
use mgmd::reply;
use serde_json::{json, Value};
use tracing::{error, info};

use super::family::Fam;
use super::{changes, server, Daemon, Work};

/// The families mgmd runs; at least one of them.
pub(super) struct Mgmd {
    /// IPv4, when configured.
    pub(super) v4: Option<Daemon<Ipv4Addr>>,
    /// IPv6, when configured.
    pub(super) v6: Option<Daemon<Ipv6Addr>>,
}

impl Mgmd {
    /// Starts each family the configuration asks for ([`Config::families`]): a family
    /// with nothing configured opens no socket. On an error, what was started is shut down.
    pub(super) fn start(config: &Config, path: std::path::PathBuf) -> Result<Self, String> {
        let f = config.families();
        let v4 = if f.ipv4 {
            Some(Daemon::start(config, path.clone(), f.ipv6)?)
        } else {
            None
        };
        let v6 = if f.ipv6 {
            match Daemon::start(config, path, false) {
                Ok(d) => Some(d),
                Err(e) => {
                    if let Some(d) = v4 {
                        let _ = d.shutdown();
                    }
                    return Err(e);
                }
            }
        } else {
            None
        };
        Ok(Mgmd { v4, v6 })
    }

    /// The configuration in force (every family holds the same).
    pub(super) fn config(&self) -> &Config {
        match (&self.v4, &self.v6) {
            (Some(d), _) => &d.config,
            (None, Some(d)) => &d.config,
            (None, None) => unreachable!("mgmd runs at least one family"),
        }
    }

    /// The joins of `mgmctl join` in force.
    fn joins(&self) -> &[control::JoinSpec] {
        match (&self.v4, &self.v6) {
            (Some(d), _) => &d.joins,
            (None, Some(d)) => &d.joins,
            (None, None) => &[],
        }
    }

    /// Where the configuration is read from.
    pub(super) fn config_path(&self) -> &Path {
        match (&self.v4, &self.v6) {
            (Some(d), _) => &d.config_path,
            (None, Some(d)) => &d.config_path,
            (None, None) => Path::new(""),
        }
    }

    /// The control server's counters, which `status` shows.
    pub(super) fn set_control(&mut self, stats: &Arc<server::Stats>) {
        if let Some(d) = &mut self.v4 {
            d.control = Some(stats.clone());
        }
        if let Some(d) = &mut self.v6 {
            d.control = Some(stats.clone());
        }
    }

    /// Drops the requests still being answered (at shutdown: their clients end at once).
    pub(super) fn drop_work(&mut self) {
        if let Some(d) = &mut self.v4 {
            d.work.clear();
        }
        if let Some(d) = &mut self.v6 {
            d.work.clear();
        }
    }

    /// Shuts every family down: no MFC, VIF, MF6C or MIF is left.
    pub(super) fn shutdown(self) -> Result<(), String> {
        let r4 = self.v4.map_or(Ok(()), Daemon::shutdown);
        let r6 = self.v6.map_or(Ok(()), Daemon::shutdown);
        r4.and(r6)
    }

    /// One turn of the main loop: waits for a socket (each family's mroute and rtnetlink
    /// sockets, the control server's wake-up) or a timer, reads what came, takes the control
    /// requests, does a slice of each family's work and runs the timers.
    pub(super) fn turn(
        &mut self,
        wake: &UnixStream,
        jobs: &mpsc::Receiver<server::Job>,
    ) -> Result<(), String> {
        let wait = [
            self.v4.as_ref().map(Daemon::wait_ms),
            self.v6.as_ref().map(Daemon::wait_ms),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(100);
        let mut r4 = look(&mut self.v4)?;
        let mut r6 = look(&mut self.v6)?;
        let mut woken = net::poll_readable(&[wake.as_raw_fd()], 0).map_err(poll_error)?[0];
        if wait > 0 && !woken && !r4.iter().chain(&r6).any(|r| *r) {
            let mut fds = vec![wake.as_raw_fd()];
            fds.extend(fds_of(&self.v4));
            fds.extend(fds_of(&self.v6));
            net::poll_readable(&fds, wait).map_err(poll_error)?;
            if let Some(d) = &mut self.v4 {
                d.watch.woke();
            }
            if let Some(d) = &mut self.v6 {
                d.watch.woke();
            }
            r4 = look(&mut self.v4)?;
            r6 = look(&mut self.v6)?;
            woken = net::poll_readable(&[wake.as_raw_fd()], 0).map_err(poll_error)?[0];
        }
        read(&mut self.v4, &r4);
        read(&mut self.v6, &r6);
        if woken {
            let mut buf = [0u8; 256];
            while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
            while let Ok(job) = jobs.try_recv() {
                self.dispatch(job);
            }
        }
        if let Some(d) = &mut self.v4 {
            for (job, deleted) in d.work_turn()? {
                // IPv4's part of a flush is done: IPv6 goes on with the count.
                match &mut self.v6 {
                    Some(d6) => d6.work.push_back(Work::Flush {
                        job,
                        cursor: None,
                        deleted,
                    }),
                    None => {
                        let r = control::error_reply("internal: a flush handed to no family");
                        let _ = job.reply.send(Box::new(move || r));
                    }
                }
            }
        }
        if let Some(d) = &mut self.v6 {
            // The last family: it hands nothing on.
            let _ = d.work_turn()?;
        }
        if let Some(d) = &mut self.v4 {
            d.timers();
        }
        if let Some(d) = &mut self.v6 {
            d.timers();
        }
        Ok(())
    }

    /// Takes a request: a change is made at once, `mfes`, `memberships`, `igmp` and `flush`
    /// go to the family that answers them (by the family of their `after` key), the others
    /// are answered from both families.
    fn dispatch(&mut self, job: server::Job) {
        let command = job.request.command.clone();
        let paged = matches!(
            command,
            Command::Mfes { .. }
                | Command::Memberships { .. }
                | Command::Igmp { .. }
                | Command::Flush
        );
        if paged {
            // The family of the `after` key, if there is one: a page goes on in its family.
            let key_v6 = match &command {
                Command::Mfes {
                    after: Some((s, _)),
                    ..
                } => Some(s.is_ipv6()),
                Command::Memberships { after: Some(k), .. } => Some(k.group.is_ipv6()),
                Command::Igmp {
                    after: Some((_, g)),
                    ..
                } => Some(g.is_ipv6()),
                _ => None,
            };
            let refused = match (key_v6, &mut self.v4, &mut self.v6) {
                (None | Some(false), Some(d), _) => {
                    d.work.push_back(Work::New(job));
                    return;
                }
                (None | Some(true), _, Some(d)) => {
                    d.work.push_back(Work::New(job));
                    return;
                }
                (Some(true), _, None) => Ipv6Addr::NAME,
                (_, None, _) => Ipv4Addr::NAME,
            };
            let r = control::error_reply(&format!(
                "no {refused} family runs here: the page's key is not one of this mgmd's"
            ));
            let _ = job.reply.send(Box::new(move || r));
            return;
        }
        let reply = if command.changes() {
            let r = self.change(&command);
            match r {
                Ok(c) if job.request.json => control::ok_reply(&c),
                Ok(c) => control::ok_reply(&control::Text { text: c.text() }),
                Err(e) => control::error_reply(&e),
            }
        } else {
            self.merged(&job.request)
        };
        let _ = job.reply.send(Box::new(move || reply));
    }

    /// Answers a command that changes the static state; on an error, nothing has changed.
    fn change(&mut self, command: &Command) -> Result<Changed, String> {
        if *command == Command::Reload {
            return self.reload();
        }
        let mut config = self.config().clone();
        let mut joins = self.joins().to_vec();
        let what = changes::edit(&mut config, &mut joins, command)?;
        config.check()?;
        let v6 = match command {
            Command::MrouteAdd(m) => m.group.is_ipv6(),
            Command::MrouteDel(m) => m.group.is_ipv6(),
            Command::RouteAdd(r) => r.prefix.address.is_ipv6(),
            Command::RouteDel(p) => p.address.is_ipv6(),
            Command::Join(j) | Command::Leave(j) => j.group.is_ipv6(),
            _ => false,
        };
        let (name, runs) = if v6 {
            (Ipv6Addr::NAME, self.v6.is_some())
        } else {
            (Ipv4Addr::NAME, self.v4.is_some())
        };
        if !runs {
            let e = format!(
                "{what}: {name} is not running (nothing of it was configured at start): put it in the configuration file and restart mgmd"
            );
            info!("control: {e}");
            return Err(e);
        }
        let r = self.apply(config, joins, Vec::new());
        match &r {
            Ok(c) => info!(changes = ?c.changes, "control: {what}"),
            Err(e) => info!("control: {what} refused: {e}"),
        }
        r
    }

    /// Reads the configuration file again and applies the difference to each family
    /// (SIGHUP and `mgmctl reload`). An unreadable or invalid file changes nothing; the
    /// changes made with control requests since the last start or reload are replaced by
    /// the file's. A family the file starts or stops asking for waits for a restart.
    pub(super) fn reload(&mut self) -> Result<Changed, String> {
        let path = self.config_path().display().to_string();
        let r = std::fs::read_to_string(self.config_path())
            .map_err(|e| format!("reload: cannot read {path}: {e}; nothing changed"))
            .and_then(|text| {
                Config::parse(&text)
                    .map_err(|e| format!("reload: {path} is not valid, nothing changed:\n{e}"))
            })
            .and_then(|config| {
                let mut notes = match (&self.v4, &self.v6) {
                    (Some(d), _) => d.restart_notes(&config),
                    (None, Some(d)) => d.restart_notes(&config),
                    (None, None) => Vec::new(),
                };
                let wanted = config.families();
                for (name, wants, runs) in [
                    (Ipv4Addr::NAME, wanted.ipv4, self.v4.is_some()),
                    (Ipv6Addr::NAME, wanted.ipv6, self.v6.is_some()),
                ] {
                    if wants != runs {
                        notes.push(format!(
                            "{name} ({} until a restart)",
                            if runs { "running" } else { "not running" }
                        ));
                    }
                }
                self.apply(config, Vec::new(), notes)
            });
        match &r {
            Ok(c) if c.changes.is_empty() => info!("reload: {path}: nothing changed"),
            Ok(c) => {
                for line in &c.changes {
                    info!("reload: {line}");
                }
            }
            Err(e) => {
                for line in e.lines() {
                    error!("{line}");
                }
            }
        }
        for n in r.iter().flat_map(|c| &c.restart_needed) {
            info!("reload: not applied until mgmd restarts: {n}");
        }
        r
    }

    /// Applies a checked configuration and joins to every family: wholly, or, when one
    /// family refuses, not at all (IPv4's changes are undone).
    fn apply(
        &mut self,
        config: Config,
        joins: Vec<control::JoinSpec>,
        restart_needed: Vec<String>,
    ) -> Result<Changed, String> {
        let (old_config, old_joins) = (self.config().clone(), self.joins().to_vec());
        let mut changes: Vec<String> = Vec::new();
        let mut add = |c: Changed, tag: &str, both: bool| {
            for line in c.changes {
                // The settings both families share are said once.
                let line = if both && !line.starts_with("limits.") {
                    format!("{tag}: {line}")
                } else {
                    line
                };
                if !changes.contains(&line) {
                    changes.push(line);
                }
            }
        };
        let both = self.v4.is_some() && self.v6.is_some();
        if let Some(d) = &mut self.v4 {
            add(
                d.apply(config.clone(), joins.clone(), Vec::new())?,
                Ipv4Addr::NAME,
                both,
            );
        }
        if let Some(d) = &mut self.v6 {
            match d.apply(config, joins, Vec::new()) {
                Ok(c) => add(c, Ipv6Addr::NAME, both),
                Err(e) => {
                    let undo = self
                        .v4
                        .as_mut()
                        .map(|d4| d4.apply(old_config, old_joins, Vec::new()));
                    return Err(match undo {
                        Some(Err(u)) => {
                            error!("undoing IPv4's part of a failed change: {u}");
                            format!(
                                "{}: {e}; undoing IPv4's part failed too: {u}",
                                Ipv6Addr::NAME
                            )
                        }
                        _ => format!("{}: {e}", Ipv6Addr::NAME),
                    });
                }
            }
        }
        Ok(Changed {
            changes,
            restart_needed,
        })
    }

    /// The answer to a request that is not paged, both families' together: `status` is
    /// IPv4's with IPv6's in `ipv6`; the lists are IPv4's rows then IPv6's.
    fn merged(&self, req: &Request) -> String {
        let both = self.v4.is_some() && self.v6.is_some();
        let title = |name: &str, t: String| {
            if both {
                format!("{name}:\n{t}")
            } else {
                t
            }
        };
        let (value, text) = match &req.command {
            Command::Status => {
                let s4 = self.v4.as_ref().map(Daemon::status);
                let s6 = self.v6.as_ref().map(Daemon::status);
                let text: String = [s4.as_ref(), s6.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|(_, t)| t.as_str())
                    .collect();
                let v = match (s4, s6) {
                    (Some((mut s, _)), six) => {
                        s.ipv6 = six.map(|(s6, _)| Box::new(s6));
                        s
                    }
                    (None, Some((s, _))) => s,
                    (None, None) => return control::error_reply("no family runs"),
                };
                (json!(v), text)
            }
            Command::Interfaces => {
                let of = |v: (Value, String), name: &str| (v.0, title(name, v.1));
                let parts: Vec<(Value, String)> = [
                    self.v4.as_ref().map(|d| of(d.interfaces(), Ipv4Addr::NAME)),
                    self.v6.as_ref().map(|d| of(d.interfaces(), Ipv6Addr::NAME)),
                ]
                .into_iter()
                .flatten()
                .collect();
                let mut rows = Vec::new();
                let mut text = String::new();
                for (v, t) in parts {
                    if let Value::Array(a) = v {
                        rows.extend(a);
                    }
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text += &t;
                }
                (Value::Array(rows), text)
            }
            Command::Events => {
                // Each family counts its events' times from its own start, and IPv6 starts
                // after IPv4: both are put on the first family's clock before they are merged.
                let base = self.v4.as_ref().map(|d| d.start);
                let base = base.or_else(|| self.v6.as_ref().map(|d| d.start));
                let shift = |start: Instant| {
                    base.map_or(0.0, |b| start.saturating_duration_since(b).as_secs_f64())
                };
                let mut events: Vec<reply::Event> = Vec::new();
                if let Some(d) = &self.v4 {
                    events.extend(shifted(&d.events, shift(d.start)));
                }
                if let Some(d) = &self.v6 {
                    events.extend(shifted(&d.events, shift(d.start)));
                }
                events.sort_by(|a, b| a.time.total_cmp(&b.time));
                let mut t = String::new();
                for e in &events {
                    t += &format!("{:>10.3}  {:<14} {}\n", e.time, e.kind, e.detail);
                }
                (json!(events), t)
            }
            Command::Routes => {
                let mut all = reply::Routes {
                    routes: Vec::new(),
                    mroutes: Vec::new(),
                    joins: Vec::new(),
                };
                let mut text = String::new();
                for (r, t, name) in [
                    self.v4.as_ref().map(|d| (d.routes(), Ipv4Addr::NAME)),
                    self.v6.as_ref().map(|d| (d.routes(), Ipv6Addr::NAME)),
                ]
                .into_iter()
                .flatten()
                .map(|((r, t), name)| (r, t, name))
                {
                    all.routes.extend(r.routes);
                    all.mroutes.extend(r.mroutes);
                    all.joins.extend(r.joins);
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text += &title(name, t);
                }
                (json!(all), text)
            }
            other => {
                return control::error_reply(&format!(
                    "internal: {} is answered in steps",
                    other.name()
                ))
            }
        };
        if req.json {
            control::ok_reply(&value)
        } else {
            control::ok_reply(&control::Text { text })
        }
    }
}

fn poll_error(e: std::io::Error) -> String {
    format!("poll: {e}")
}

/// The family's mroute and rtnetlink sockets.
fn fds_of<A: Fam>(d: &Option<Daemon<A>>) -> Vec<std::os::fd::RawFd> {
    d.as_ref().map_or(Vec::new(), |d| {
        vec![d.fwd.kernel().as_raw_fd(), d.links.monitor.as_raw_fd()]
    })
}

/// Which of the family's sockets are readable now (mroute, rtnetlink), through its watch.
fn look<A: Fam>(d: &mut Option<Daemon<A>>) -> Result<Vec<bool>, String> {
    let fds = fds_of(d);
    match d {
        Some(d) => d.watch.look(&fds, 0).map_err(poll_error),
        None => Ok(Vec::new()),
    }
}

/// Reads the family's readable sockets.
fn read<A: Fam>(d: &mut Option<Daemon<A>>, ready: &[bool]) {
    let Some(d) = d else {
        return;
    };
    if ready.first() == Some(&true) {
        d.read_socket();
    }
    if ready.get(1) == Some(&true) {
        d.read_links();
    }
}

/// A family's events with `by` seconds added to their times.
fn shifted(
    events: &std::collections::VecDeque<reply::Event>,
    by: f64,
) -> impl Iterator<Item = reply::Event> + '_ {
    events.iter().cloned().map(move |mut e| {
        e.time += by;
        e
    })
}
