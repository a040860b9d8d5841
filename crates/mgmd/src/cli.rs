//! The command lines of `mgmd` and `mgmctl`, and the man pages and shell completions made from
//! them.
//!
//! Both binaries parse their arguments with these definitions, and `mgmctl generate` writes
//! the man pages (`mgmd.8`, `mgmctl.8`) and the completion scripts from the same ones, so
//! what `--help` says, what the man page says and what the shell completes cannot drift
//! apart:
//!
//! ```text
//! mgmctl generate man DIR                 # DIR/mgmd.8 and DIR/mgmctl.8
//! mgmctl generate completions SHELL DIR   # bash, zsh, fish, elvish or powershell
//! ```

use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use std::net::IpAddr;

use crate::control::{
    Command, JoinSpec, MrouteKey, MrouteSpec, Prefix, RouteSpec, DEFAULT_PAGE, MAX_PAGE,
};

/// The control socket's path when neither the configuration nor the command line names one.
pub const DEFAULT_SOCKET: &str = "/run/mgmd.sock";

/// `mgmd`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "mgmd",
    version,
    about = "Multicast router on the Linux kernel's forwarding plane, built on the mgm engine",
    long_about = "Multicast router on the Linux kernel's forwarding plane, built on the mgm \
engine. It owns the configured interfaces (a VIF each), routes toward sources for RPF from \
its configuration, runs the IGMP querier on them, keeps static (S,G) and (*,G) forwarding, \
installs the engine's forwarding entries in the kernel, and answers mgmctl on a unix control \
socket.\n\nOn SIGHUP it reads the configuration again and applies the difference (an \
invalid file changes nothing). On SIGTERM or SIGINT it removes every forwarding entry and VIF \
it made and exits 0.",
    after_help = "The configuration's keys are documented in mgmd.example.toml, which ships \
with the sources. Exit status: 0 on a clean stop or a configuration that passes --check, 1 \
when the configuration or the kernel refuses, 2 for a bad command line."
)]
pub struct MgmdArgs {
    /// The TOML configuration file.
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        required_unless_present = "probe"
    )]
    pub config: Option<PathBuf>,
    /// The control socket's path (overrides `control_socket` of the configuration; default
    /// /run/mgmd.sock).
    #[arg(short = 'u', long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// How much to log, on standard error.
    #[arg(short = 'l', long, value_name = "LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log: LogLevel,
    /// Read and check the configuration, print `FILE: ok` and exit, touching nothing.
    #[arg(long)]
    pub check: bool,
    /// Write mgmd's pid to this file once it is ready, and remove it at exit. A file that
    /// holds the pid of a running mgmd is refused.
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Check that the kernel can do IPv4 and IPv6 multicast routing here: open both mroute
    /// sockets, give the interfaces MIFs and, with two or more, install and remove an IPv6
    /// entry; then exit. Takes the interface names that follow it.
    #[arg(long, value_name = "IFNAME", num_args = 0.., conflicts_with_all = ["config", "check", "pid_file"])]
    pub probe: Option<Vec<String>>,
}

/// A log level of `--log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Start-up, interfaces, joins and leaves, upcalls (rate-limited).
    Info,
    /// Every IGMP message and query.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The `tracing` level.
    pub fn level(self) -> tracing::Level {
        match self {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// `mgmctl`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "mgmctl",
    version,
    about = "Asks a running mgmd over its unix control socket",
    long_about = "Asks a running mgmd over its unix control socket. Text tables by default, \
JSON with --json. `mfes`, `memberships` and `igmp` are fetched a page at a time and printed \
as they come, so neither mgmd nor mgmctl holds a large table in memory; with --json the pages \
print as one array.",
    after_help = "Exit status: 0 when mgmd did what was asked (its reply's status is ok), 1 \
when it refused or failed (the reply's error is printed), 2 for a bad command line, 3 when \
mgmd could not be reached or its reply could not be read."
)]
pub struct MgmctlArgs {
    /// The options every command takes.
    #[command(flatten)]
    pub global: MgmctlGlobal,
    /// What to ask (status when none is given).
    #[command(subcommand)]
    pub command: Option<MgmctlCommand>,
}

/// `mgmctl`'s options, accepted before or after the command.
#[derive(Debug, Args)]
pub struct MgmctlGlobal {
    /// mgmd's control socket.
    #[arg(
        short = 'u',
        long,
        value_name = "PATH",
        env = "MGMD_SOCKET",
        default_value = DEFAULT_SOCKET,
        value_hint = clap::ValueHint::FilePath,
        global = true
    )]
    pub socket: String,
    /// Print JSON instead of text tables.
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    /// Rows fetched per request by `mfes` and `memberships` (groups by `igmp`).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE, value_parser = page_size, global = true)]
    pub page: usize,
}

fn page_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(format!("expected a number of rows from 1 to {MAX_PAGE}")),
    }
}

/// What `mgmctl` asks.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum MgmctlCommand {
    /// Counters, limits, upcall delays and uptime.
    Status,
    /// The configured interfaces: ifindex, VIF, address, owner, IGMP, packet counts.
    Interfaces,
    /// Every membership (static and IGMP), by interface, page after page.
    Memberships,
    /// Every forwarding entry with its kernel counters and expiry, page after page.
    Mfes,
    /// The recent events: upcalls, joins and leaves, wrong-interface reports, errors.
    Events,
    /// The IGMP (and MLD) querier's state per interface: groups, sources, timers, counters,
    /// page after page.
    Igmp,
    /// The RPF routes (the configured ones and the host routes of (S,G) mroutes), the static
    /// mroutes and the static memberships in force.
    Routes,
    /// Add or remove a static mroute, checked as the configuration is (until the next reload
    /// or restart).
    Mroute {
        /// What to do.
        #[command(subcommand)]
        action: MrouteAction,
    },
    /// Add or remove an RPF route, checked as the configuration is (until the next reload or
    /// restart).
    Route {
        /// What to do.
        #[command(subcommand)]
        action: RouteAction,
    },
    /// Forward a group, or one source of it, onto an interface whatever IGMP hears there (a
    /// static membership, until the next reload or restart).
    Join(JoinArgs),
    /// Remove a static membership made by join.
    Leave(JoinArgs),
    /// Delete every dynamic forwarding entry (the next packet of each flow builds it again);
    /// the static (S,G) ones stay.
    Flush,
    /// Read the configuration file again and apply the difference, as SIGHUP does; an invalid
    /// file changes nothing and the reply says why.
    Reload,
    /// Write the man pages or the shell completions of mgmd and mgmctl (for packaging).
    #[command(hide = true)]
    Generate {
        /// What to write.
        #[command(subcommand)]
        what: Generate,
    },
}

impl MgmctlCommand {
    /// The control request of a command that asks mgmd (`None` for `generate`); the pages of
    /// `mfes` and `memberships` hold `page` rows, those of `igmp` `page` groups.
    pub fn request(&self, page: usize) -> Option<Command> {
        Some(match self {
            MgmctlCommand::Status => Command::Status,
            MgmctlCommand::Interfaces => Command::Interfaces,
            MgmctlCommand::Memberships => Command::Memberships {
                after: None,
                max: page,
            },
            MgmctlCommand::Mfes => Command::Mfes {
                after: None,
                max: page,
            },
            MgmctlCommand::Events => Command::Events,
            MgmctlCommand::Igmp => Command::Igmp {
                after: None,
                max: page,
            },
            MgmctlCommand::Routes => Command::Routes,
            MgmctlCommand::Mroute {
                action:
                    MrouteAction::Add {
                        from,
                        source,
                        group,
                        to,
                    },
            } => Command::MrouteAdd(MrouteSpec {
                from: from.clone(),
                source: *source,
                group: *group,
                to: to.clone(),
            }),
            MgmctlCommand::Mroute {
                action:
                    MrouteAction::Del {
                        from,
                        source,
                        group,
                    },
            } => Command::MrouteDel(MrouteKey {
                from: from.clone(),
                source: *source,
                group: *group,
            }),
            MgmctlCommand::Route {
                action:
                    RouteAction::Add {
                        prefix,
                        interface,
                        upstream,
                    },
            } => Command::RouteAdd(RouteSpec {
                prefix: *prefix,
                interface: interface.clone(),
                upstream: *upstream,
            }),
            MgmctlCommand::Route {
                action: RouteAction::Del { prefix },
            } => Command::RouteDel(*prefix),
            MgmctlCommand::Join(j) => Command::Join(j.spec()),
            MgmctlCommand::Leave(j) => Command::Leave(j.spec()),
            MgmctlCommand::Flush => Command::Flush,
            MgmctlCommand::Reload => Command::Reload,
            MgmctlCommand::Generate { .. } => return None,
        })
    }
}

/// `mgmctl mroute`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum MrouteAction {
    /// Forward GROUP (from one source with --source) onto the interfaces TO.
    Add {
        /// The incoming interface (the RPF routes decide without it).
        #[arg(long, value_name = "IFNAME", value_parser = ifname)]
        from: Option<String>,
        /// Only this source: an (S,G) mroute, whose entry never expires.
        #[arg(long, value_name = "ADDRESS")]
        source: Option<IpAddr>,
        /// The group.
        group: IpAddr,
        /// The outgoing interfaces.
        #[arg(required = true, value_name = "TO", value_parser = ifname)]
        to: Vec<String>,
    },
    /// Remove the static mroutes of GROUP (of one source with --source; from one interface
    /// with --from).
    Del {
        /// Only the mroutes with this incoming interface.
        #[arg(long, value_name = "IFNAME", value_parser = ifname)]
        from: Option<String>,
        /// The source of an (S,G) mroute.
        #[arg(long, value_name = "ADDRESS")]
        source: Option<IpAddr>,
        /// The group.
        group: IpAddr,
    },
}

/// `mgmctl route`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum RouteAction {
    /// Sources in PREFIX come in on INTERFACE.
    Add {
        /// The prefix, A.B.C.D/LEN or X:X::X/LEN.
        #[arg(value_parser = prefix)]
        prefix: Prefix,
        /// The interface toward it.
        #[arg(value_parser = ifname)]
        interface: String,
        /// The upstream neighbour.
        #[arg(long, value_name = "ADDRESS")]
        upstream: Option<IpAddr>,
    },
    /// Remove the route of PREFIX.
    Del {
        /// The prefix, A.B.C.D/LEN or X:X::X/LEN.
        #[arg(value_parser = prefix)]
        prefix: Prefix,
    },
}

/// `mgmctl join` and `mgmctl leave`.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct JoinArgs {
    /// The interface.
    #[arg(value_parser = ifname)]
    pub interface: String,
    /// The group.
    pub group: IpAddr,
    /// Only this source of the group.
    #[arg(long, value_name = "ADDRESS")]
    pub source: Option<IpAddr>,
}

impl JoinArgs {
    fn spec(&self) -> JoinSpec {
        JoinSpec {
            interface: self.interface.clone(),
            group: self.group,
            source: self.source,
        }
    }
}

fn ifname(s: &str) -> Result<String, String> {
    crate::config::check_ifname(s)?;
    Ok(s.to_string())
}

fn prefix(s: &str) -> Result<Prefix, String> {
    s.parse()
        .map_err(|()| "expected A.B.C.D/LEN (LEN 0 to 32) or X:X::X/LEN (LEN 0 to 128)".to_string())
}

/// `mgmctl generate`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum Generate {
    /// The man pages mgmd.8 and mgmctl.8, in roff.
    Man {
        /// The directory to write them to (it must exist).
        dir: PathBuf,
    },
    /// A completion script for each binary, named as the shell expects (mgmd.bash, _mgmd,
    /// mgmd.fish, ...).
    Completions {
        /// The shell.
        shell: Shell,
        /// The directory to write them to (it must exist).
        dir: PathBuf,
    },
}

impl Generate {
    /// Writes the files; returns their paths.
    ///
    /// # Errors
    /// The directory cannot be written to.
    ///
    /// ```
    /// use mgmd::cli::Generate;
    /// let dir = std::env::temp_dir().join(format!("mgmd-gen-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let files = Generate::Man { dir: dir.clone() }.write().unwrap();
    /// assert!(files.iter().any(|f| f.ends_with("mgmd.8")));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn write(&self) -> io::Result<Vec<PathBuf>> {
        let commands = [MgmdArgs::command(), MgmctlArgs::command()];
        let mut written = Vec::new();
        for mut cmd in commands {
            match self {
                Generate::Man { dir } => written.push(write_man(cmd, dir)?),
                Generate::Completions { shell, dir } => {
                    let name = cmd.get_name().to_string();
                    written.push(clap_complete::generate_to(*shell, &mut cmd, name, dir)?);
                }
            }
        }
        Ok(written)
    }
}

/// Writes `NAME.8` for one command into `dir`.
fn write_man(cmd: clap::Command, dir: &Path) -> io::Result<PathBuf> {
    let path = dir.join(format!("{}.8", cmd.get_name()));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).section("8").render(&mut out)?;
    std::fs::write(&path, out)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_hold_together() {
        MgmdArgs::command().debug_assert();
        MgmctlArgs::command().debug_assert();
    }

    #[test]
    fn mgmd_takes_what_the_scripts_give_it() {
        let a = MgmdArgs::try_parse_from(["mgmd", "--config", "x.toml", "--log", "debug"]).unwrap();
        assert_eq!(
            (a.config.as_deref(), a.log, a.check),
            (Some(Path::new("x.toml")), LogLevel::Debug, false)
        );
        let a = MgmdArgs::try_parse_from(["mgmd", "-f", "x.toml", "--check"]).unwrap();
        assert!(a.check);
        let a = MgmdArgs::try_parse_from(["mgmd", "--probe", "rsnd", "rrcv1", "rrcv2"]).unwrap();
        assert_eq!(
            a.probe.as_deref(),
            Some(&["rsnd".to_string(), "rrcv1".into(), "rrcv2".into()][..])
        );
        for bad in [
            &["mgmd"][..],
            &["mgmd", "--config"],
            &["mgmd", "--config", "x", "--log", "loud"],
            &["mgmd", "--config", "x", "--bogus"],
            &["mgmd", "--config", "x", "extra"],
        ] {
            let e = MgmdArgs::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
    }

    #[test]
    fn mgmctl_takes_options_before_and_after_the_command() {
        let a = MgmctlArgs::try_parse_from(["mgmctl", "--socket", "/s", "--json", "mfes"]).unwrap();
        assert_eq!((a.global.socket.as_str(), a.global.json), ("/s", true));
        assert_eq!(
            a.command.unwrap().request(a.global.page),
            Some(Command::Mfes {
                after: None,
                max: DEFAULT_PAGE
            })
        );
        let a =
            MgmctlArgs::try_parse_from(["mgmctl", "memberships", "--page", "64", "-j"]).unwrap();
        assert_eq!(
            a.command.unwrap().request(a.global.page),
            Some(Command::Memberships {
                after: None,
                max: 64
            })
        );
        let a = MgmctlArgs::try_parse_from(["mgmctl", "igmp", "--page", "3"]).unwrap();
        assert_eq!(
            a.command.unwrap().request(a.global.page),
            Some(Command::Igmp {
                after: None,
                max: 3
            })
        );
        assert_eq!(
            MgmctlArgs::try_parse_from(["mgmctl"]).unwrap().command,
            None
        );
        for bad in [
            &["mgmctl", "--page", "0", "mfes"][..],
            &["mgmctl", "--page", "501"],
            &["mgmctl", "route"],
            &["mgmctl", "mroute", "add", "239.1.2.3"],
            &["mgmctl", "route", "add", "198.51.100.0/33", "rsnd"],
            &["mgmctl", "join", "a/b", "239.1.2.3"],
            &["mgmctl", "status", "extra"],
        ] {
            let e = MgmctlArgs::try_parse_from(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_commands_that_change_mgmd_make_their_requests() {
        let request = |args: &[&str]| {
            MgmctlArgs::try_parse_from(args)
                .unwrap()
                .command
                .unwrap()
                .request(DEFAULT_PAGE)
                .unwrap()
        };
        let wire = |line: &str| {
            crate::control::parse_request(line.as_bytes())
                .unwrap()
                .command
        };
        for (args, line) in [
            (
                &[
                    "mgmctl",
                    "mroute",
                    "add",
                    "--from",
                    "rsnd",
                    "--source",
                    "198.51.100.2",
                    "239.1.2.3",
                    "rrcv1",
                    "rrcv2",
                ][..],
                "mroute-add group 239.1.2.3 source 198.51.100.2 from rsnd to rrcv1 to rrcv2",
            ),
            (
                &["mgmctl", "mroute", "del", "239.1.2.3"],
                "mroute-del group 239.1.2.3",
            ),
            (
                &[
                    "mgmctl",
                    "route",
                    "add",
                    "198.51.100.0/24",
                    "rsnd",
                    "--upstream",
                    "198.51.100.254",
                ],
                "route-add prefix 198.51.100.0/24 interface rsnd upstream 198.51.100.254",
            ),
            (
                &["mgmctl", "route", "del", "0.0.0.0/0"],
                "route-del prefix 0.0.0.0/0",
            ),
            (
                &[
                    "mgmctl",
                    "join",
                    "rrcv1",
                    "239.1.2.3",
                    "--source",
                    "198.51.100.2",
                ],
                "join interface rrcv1 group 239.1.2.3 source 198.51.100.2",
            ),
            (
                &["mgmctl", "leave", "rrcv1", "239.1.2.3"],
                "leave interface rrcv1 group 239.1.2.3",
            ),
            // IPv6 wherever IPv4 is taken.
            (
                &[
                    "mgmctl",
                    "mroute",
                    "add",
                    "--from",
                    "rsnd",
                    "--source",
                    "2001:db8:1::2",
                    "ff3e::1:3",
                    "rrcv1",
                ][..],
                "mroute-add group ff3e::1:3 source 2001:db8:1::2 from rsnd to rrcv1",
            ),
            (
                &[
                    "mgmctl",
                    "route",
                    "add",
                    "2001:db8:1::/48",
                    "rsnd",
                    "--upstream",
                    "fe80::1",
                ],
                "route-add prefix 2001:db8:1::/48 interface rsnd upstream fe80::1",
            ),
            (
                &["mgmctl", "join", "rrcv1", "ff0e::1"],
                "join interface rrcv1 group ff0e::1",
            ),
            (&["mgmctl", "routes"], "routes"),
            (&["mgmctl", "flush"], "flush"),
            (&["mgmctl", "reload"], "reload"),
        ] {
            assert_eq!(request(args), wire(line), "{args:?}");
        }
    }
}
