//! The control requests that change mgmd's static state (`mroute-add`, `route-del`, `join`,
//! `reload`, ...) and `flush`: each change is made to a copy of the configuration in force,
//! checked with the rules of `mgmd --check`, and applied as the difference from the state
//! in force ([`mgmd::plan`]), wholly or not at all. `flush` deletes the dynamic entries a
//! slice at a time, so the main loop goes on reading the mroute socket meanwhile.

use std::net::IpAddr;
use std::time::Instant;

use mgm::Family;
use mgmd::config::{Config, MrouteConf, RouteConf};
use mgmd::control::{self, Changed, Command, JoinSpec};
use mgmd::plan::{self, Wanted};
use mgmd::ratelimit::LogLimiter;
use mgmd::reply;
use tracing::info;

use super::family::Fam;
use super::{server, timing, Daemon, Step, Work, CLOCK_EVERY};

impl<A: Fam> Daemon<A> {
    /// The settings of `new` that differ from those in force and cannot change live.
    pub(super) fn restart_notes(&self, new: &Config) -> Vec<String> {
        let (old, mut notes) = (&self.config, Vec::new());
        if new.control_socket != old.control_socket {
            notes.push("control_socket".into());
        }
        if new.limits.max_mfes != self.max_mfes {
            notes.push(format!("limits.max_mfes ({} in force)", self.max_mfes));
        }
        if new.limits.control_clients != old.limits.control_clients {
            notes.push(format!(
                "limits.control_clients ({} in force)",
                old.limits.control_clients
            ));
        }
        notes
    }

    /// Applies a checked configuration and joins (this family's share of them): the
    /// difference from the state in force, or, when a step fails, nothing (what was done is
    /// undone).
    pub(super) fn apply(
        &mut self,
        config: Config,
        joins: Vec<JoinSpec>,
        restart_needed: Vec<String>,
    ) -> Result<Changed, String> {
        let target = Wanted::<A>::of(&config, &joins)?;
        let upstream = self.proxy.as_ref().map(|p| p.name.clone());
        if target.upstream != upstream {
            let show = |u: &Option<String>| u.as_ref().map_or("none".into(), |n| format!("{n:?}"));
            return Err(format!(
                "the {} proxy's upstream interface would change ({} in force, {} asked): it changes only at a restart; nothing changed",
                A::PROTOCOL,
                show(&upstream),
                show(&target.upstream)
            ));
        }
        let before = self.applied.clone();
        let mut changes = match self.converge(&target) {
            Ok(c) => c,
            Err(e) => {
                return Err(match self.converge(&before) {
                    Ok(_) => format!("{e}; nothing changed"),
                    Err(undo) => {
                        tracing::error!("undoing a failed change: {undo}");
                        format!("{e}; undoing the steps done failed too: {undo}")
                    }
                });
            }
        };
        // The limits that can change live.
        let l = &config.limits;
        if l.counter_sync_per_second != self.sync_per_second {
            self.sync_per_second = l.counter_sync_per_second;
            changes.push(format!(
                "limits.counter_sync_per_second = {}",
                l.counter_sync_per_second
            ));
        }
        if l.log_lines_per_second != self.config.limits.log_lines_per_second {
            self.flush_logs(Instant::now() + std::time::Duration::from_secs(1));
            for limiter in [
                &mut self.upcall_log,
                &mut self.wrong_if_log,
                &mut self.routing_log,
                &mut self.error_log,
            ] {
                *limiter = LogLimiter::new(l.log_lines_per_second);
            }
            changes.push(format!(
                "limits.log_lines_per_second = {}",
                l.log_lines_per_second
            ));
        }
        self.config = config;
        self.joins = joins;
        for c in &changes {
            self.record("control", c.clone());
        }
        Ok(Changed {
            changes,
            restart_needed,
        })
    }

    /// One slice of a `flush`: deletes the dynamic entries of a stretch of the walk.
    pub(super) fn flush_step(
        &mut self,
        job: server::Job,
        cursor: Option<mgm::Sg<A>>,
        deleted: usize,
    ) -> Step<A> {
        let start = Instant::now();
        let (mut cursor, mut deleted) = (cursor, deleted);
        loop {
            let page = match self.mgm.mfes(cursor, CLOCK_EVERY) {
                Ok(p) => p,
                Err(e) => {
                    let r = control::error_reply(&format!("flush: {e}"));
                    return Step::Done(job, Box::new(move || r));
                }
            };
            for m in &page.items {
                if self.applied.pinned.contains_key(&(m.source, m.group)) {
                    continue;
                }
                if self.mgm.delete_mfe(self.routing, m.source, m.group).is_ok() {
                    deleted += 1;
                }
            }
            cursor = page.items.last().map(|m| m.sg()).or(cursor);
            if !page.more {
                break;
            }
            if timing::slice_over(start) {
                return Step::More(Box::new(Work::Flush {
                    job,
                    cursor,
                    deleted,
                }));
            }
        }
        self.housekeeping();
        if self.family_follows {
            return Step::Flushed(job, deleted);
        }
        let line = format!("{deleted} dynamic forwarding entries deleted");
        info!("control: flush: {line}");
        self.record("control", line.clone());
        let c = Changed {
            changes: vec![line],
            restart_needed: Vec::new(),
        };
        let reply = if job.request.json {
            control::ok_reply(&c)
        } else {
            control::ok_reply(&control::Text { text: c.text() })
        };
        Step::Done(job, Box::new(move || reply))
    }

    /// `routes`: the engine's RPF routes, the static mroutes and the static memberships.
    pub(super) fn routes(&self) -> (reply::Routes, String) {
        let mut t = format!(
            "{:<20} {:<10} {:<16} {:<7}\n",
            "PREFIX", "INTERFACE", "UPSTREAM", "ORIGIN"
        );
        let mut routes = Vec::new();
        for r in self.mgm.routes() {
            let key = (r.prefix, r.len);
            let origin = self
                .applied
                .routes
                .get(&key)
                .map_or("other".to_string(), |w| w.origin.to_string());
            let upstream = Some(r.upstream).filter(|u| *u != A::UNSPECIFIED);
            let name = self.name(r.iif.index);
            t += &format!(
                "{:<20} {:<10} {:<16} {:<7}\n",
                format!("{}/{}", r.prefix, r.len),
                name,
                upstream.map_or("-".into(), |u| u.to_string()),
                origin
            );
            routes.push(reply::Route {
                prefix: format!("{}/{}", r.prefix, r.len),
                interface: name,
                upstream: upstream.map(Into::into),
                origin,
            });
        }
        t += &format!(
            "\n{:<20} {:<16} {:<10} {}\n",
            "MROUTE SOURCE", "GROUP", "FROM", "TO"
        );
        let mut mroutes = Vec::new();
        for m in self
            .config
            .mroutes
            .iter()
            .filter(|m| A::of(m.group).is_some())
        {
            t += &format!(
                "{:<20} {:<16} {:<10} {}\n",
                m.source.map_or("*".into(), |s| s.to_string()),
                m.group.to_string(),
                m.from.as_deref().unwrap_or("-"),
                m.to.join(",")
            );
            mroutes.push(mroute_row(m));
        }
        t += &format!("\n{:<20} {:<16} {}\n", "JOIN INTERFACE", "GROUP", "SOURCE");
        let mut joins = Vec::new();
        for j in self.joins.iter().filter(|j| A::of(j.group).is_some()) {
            t += &format!(
                "{:<20} {:<16} {}\n",
                j.interface,
                j.group.to_string(),
                j.source.map_or("*".into(), |s| s.to_string())
            );
            joins.push(reply::Join {
                interface: j.interface.clone(),
                group: j.group,
                source: j.source,
            });
        }
        let v = reply::Routes {
            routes,
            mroutes,
            joins,
        };
        (v, t)
    }
}

/// True for an address that can send multicast.
fn is_source(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_source(),
        IpAddr::V6(v6) => v6.is_source(),
    }
}

/// A static mroute as the replies show it.
pub(super) fn mroute_row(m: &MrouteConf) -> reply::Mroute {
    reply::Mroute {
        source: m.source,
        group: m.group,
        from: m.from.clone(),
        to: m.to.clone(),
    }
}

/// Makes the change of `command` to copies of the configuration and joins; returns what it
/// is, for the log. Refuses a removal of what is not there, and a join that is not valid
/// (the configuration's check covers the rest).
pub(super) fn edit(
    config: &mut Config,
    joins: &mut Vec<JoinSpec>,
    command: &Command,
) -> Result<String, String> {
    Ok(match command {
        Command::MrouteAdd(m) => {
            config.mroutes.push(MrouteConf {
                from: m.from.clone(),
                source: m.source,
                group: m.group,
                to: m.to.clone(),
            });
            format!("mroute {} add", plan::show_sel(&(m.source, m.group)))
        }
        Command::MrouteDel(k) => {
            let before = config.mroutes.len();
            config.mroutes.retain(|m| {
                !(m.source == k.source
                    && m.group == k.group
                    && k.from.as_ref().is_none_or(|f| m.from.as_ref() == Some(f)))
            });
            let sel = plan::show_sel(&(k.source, k.group));
            if config.mroutes.len() == before {
                let from = k
                    .from
                    .as_ref()
                    .map_or(String::new(), |f| format!(" from {f}"));
                return Err(format!("no static mroute of {sel}{from}"));
            }
            format!("mroute {sel} del")
        }
        Command::RouteAdd(r) => {
            config.routes.push(RouteConf {
                prefix: r.prefix.to_string(),
                interface: r.interface.clone(),
                upstream: r.upstream,
            });
            format!("route {} add", r.prefix)
        }
        Command::RouteDel(p) => {
            let before = config.routes.len();
            config
                .routes
                .retain(|r| r.parse() != Ok((p.address, p.len)));
            if config.routes.len() == before {
                return Err(format!(
                    "no route for {p} (the host routes of (S,G) mroutes go with their mroute)"
                ));
            }
            format!("route {p} del")
        }
        Command::Join(j) => {
            if !config.interfaces.iter().any(|i| i.name == j.interface) {
                return Err(format!(
                    "interface {:?} is not one of mgmd's (an [[interface]])",
                    j.interface
                ));
            }
            if !j.group.is_multicast() {
                let space = if j.group.is_ipv4() {
                    "224.0.0.0/4"
                } else {
                    "ff00::/8"
                };
                return Err(format!("group {} is not multicast ({space})", j.group));
            }
            if let Some(s) = j.source.filter(|s| s.is_ipv4() != j.group.is_ipv4()) {
                return Err(format!(
                    "source {s} and group {} are of different address families",
                    j.group
                ));
            }
            if let Some(s) = j.source.filter(|s| !is_source(*s)) {
                return Err(format!(
                    "source {s} cannot send multicast (multicast, unspecified, loopback or class E)"
                ));
            }
            if joins.contains(j) {
                return Err(format!(
                    "{} is already joined on {}",
                    plan::show_sel(&(j.source, j.group)),
                    j.interface
                ));
            }
            joins.push(j.clone());
            format!(
                "join {} on {}",
                plan::show_sel(&(j.source, j.group)),
                j.interface
            )
        }
        Command::Leave(j) => {
            let before = joins.len();
            joins.retain(|x| x != j);
            let sel = plan::show_sel(&(j.source, j.group));
            if joins.len() == before {
                return Err(format!(
                    "no static membership {sel} on {} (mgmctl join adds one; an mroute's `to` goes with the mroute)",
                    j.interface
                ));
            }
            format!("leave {sel} on {}", j.interface)
        }
        other => return Err(format!("internal: {} changes nothing", other.name())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "[[interface]]\nname = \"up\"\n[[interface]]\nname = \"down\"\n\
             [[route]]\nprefix = \"198.51.100.0/24\"\ninterface = \"up\"\n",
        )
        .unwrap()
    }

    fn req(line: &str) -> Command {
        control::parse_request(line.as_bytes()).unwrap().command
    }

    /// The edit and the check a control request goes through before anything is applied.
    fn edited(line: &str) -> Result<(Config, Vec<JoinSpec>), String> {
        let (mut c, mut j) = (config(), Vec::new());
        edit(&mut c, &mut j, &req(line))?;
        c.check()?;
        Ok((c, j))
    }

    #[test]
    fn changes_are_checked_as_the_configuration_is() {
        let (c, _) =
            edited("mroute-add group 239.1.2.3 source 198.51.100.2 from up to down").unwrap();
        assert_eq!(c.mroutes.len(), 1);
        let e = edited("mroute-add group 239.1.2.3 from down to down").unwrap_err();
        assert!(e.contains("both `from` and in `to`"), "{e}");
        let e = edited("mroute-add group 239.1.2.3 to eth9").unwrap_err();
        assert!(e.contains("\"eth9\" is not an [[interface]]"), "{e}");
        let e = edited("route-add prefix 198.51.100.7/24 interface up").unwrap_err();
        assert!(e.contains("host bits set"), "{e}");
        let e = edited("route-add prefix 198.51.100.0/24 interface down").unwrap_err();
        assert!(e.contains("a prefix has one route"), "{e}");
        let e = edited("route-del prefix 203.0.113.0/24").unwrap_err();
        assert!(e.contains("no route for 203.0.113.0/24"), "{e}");
        let (c, _) = edited("route-del prefix 198.51.100.0/24").unwrap();
        assert!(c.routes.is_empty());
        let e = edited("mroute-del group 239.1.2.3").unwrap_err();
        assert!(e.contains("no static mroute of (*, 239.1.2.3)"), "{e}");
        let (_, j) = edited("join interface down group 239.1.2.3").unwrap();
        assert_eq!(j.len(), 1);
        for (line, says) in [
            ("join interface eth9 group 239.1.2.3", "not one of mgmd's"),
            ("join interface down group 198.51.100.9", "not multicast"),
            (
                "join interface down group 239.1.2.3 source 127.0.0.1",
                "cannot send multicast",
            ),
            (
                "leave interface down group 239.1.2.3",
                "no static membership",
            ),
        ] {
            let e = edited(line).unwrap_err();
            assert!(e.contains(says), "{line}: {e}");
        }
        // The same join twice.
        let (mut c, mut j) = (config(), Vec::new());
        edit(&mut c, &mut j, &req("join interface down group 239.1.2.3")).unwrap();
        let e = edit(&mut c, &mut j, &req("join interface down group 239.1.2.3")).unwrap_err();
        assert!(e.contains("already joined"), "{e}");
    }

    #[test]
    fn an_mroute_del_takes_only_the_rules_it_names() {
        let (mut c, mut j) = (config(), Vec::new());
        for line in [
            "mroute-add group 239.1.2.3 from up to down",
            "mroute-add group 239.1.2.3 source 198.51.100.2 from up to down",
            "mroute-add group 239.1.2.4 to down",
        ] {
            edit(&mut c, &mut j, &req(line)).unwrap();
        }
        edit(&mut c, &mut j, &req("mroute-del group 239.1.2.3")).unwrap();
        let left: Vec<_> = c.mroutes.iter().map(|m| (m.source, m.group)).collect();
        assert_eq!(
            left,
            vec![
                (
                    Some("198.51.100.2".parse().unwrap()),
                    "239.1.2.3".parse().unwrap()
                ),
                (None, "239.1.2.4".parse().unwrap())
            ]
        );
        let e = edit(&mut c, &mut j, &req("mroute-del group 239.1.2.4 from up")).unwrap_err();
        assert!(e.contains("from up"), "{e}");
    }
}
