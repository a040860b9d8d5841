//! The parts of `mgmd` that need no socket and no kernel, shared by the daemon, `mgmctl`, the
//! tests and the fuzz targets: the configuration file, the control protocol's request parser,
//! the log rate limiter, the control socket's path rule, and both binaries' command lines.

pub mod cli;
#[path = "bin/mgmd/config.rs"]
pub mod config;
pub mod control;
pub mod ratelimit;
pub mod socket_path;
