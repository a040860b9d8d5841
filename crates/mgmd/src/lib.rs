//! The parts of `mgmd` that need no socket and no kernel, shared by the daemon, `mgmctl`, the
//! tests and the fuzz targets: the configuration file, the control protocol's request parser,
//! the static state and its differences (reload, runtime changes), the pages of `igmp`, the log
//! rate limiter, the control socket's path rule, both binaries' command lines, the pid file and
//! the service manager's readiness notification.

pub mod cli;
#[path = "bin/mgmd/config.rs"]
pub mod config;
pub mod control;
pub mod igmp_page;
pub mod notify;
pub mod pid_file;
pub mod plan;
pub mod ratelimit;
pub mod reply;
pub mod socket_path;
