//! The parts of `mgmd` that need no socket and no kernel, shared by the daemon, `mgmctl`, the
//! tests and the fuzz targets: the configuration file, the control protocol's request parser,
//! the log rate limiter and the control socket's path rule.

#[path = "bin/mgmd/config.rs"]
pub mod config;
pub mod control;
pub mod ratelimit;
pub mod socket_path;
