//! `mgmd.service`, the systemd unit: `Type=notify`, SIGHUP for reload, a pid file, command
//! lines that mgmd's own parser takes, and (where `systemd-analyze` is installed) a unit that
//! systemd accepts.

use clap::Parser;
use mgmd::cli::MgmdArgs;

const UNIT: &str = include_str!("../mgmd.service");

/// The value of `key=` in the unit (the first, outside comments).
fn value(key: &str) -> Option<&'static str> {
    UNIT.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn the_unit_is_a_notify_service_reloaded_by_sighup() {
    assert_eq!(value("Type"), Some("notify"));
    assert_eq!(value("ExecReload"), Some("/bin/kill -HUP $MAINPID"));
    assert_eq!(value("KillSignal"), Some("SIGTERM"));
    let start = MgmdArgs::try_parse_from(value("ExecStart").unwrap().split_whitespace())
        .unwrap_or_else(|e| panic!("ExecStart: {e}"));
    let pid_file = start.pid_file.expect("ExecStart names a pid file");
    assert_eq!(Some(pid_file.to_str().unwrap()), value("PIDFile"));
    assert!(!start.check);
    let pre = MgmdArgs::try_parse_from(value("ExecStartPre").unwrap().split_whitespace())
        .unwrap_or_else(|e| panic!("ExecStartPre: {e}"));
    assert!(pre.check, "ExecStartPre checks the configuration");
    assert_eq!(pre.config, start.config);
}

#[test]
fn systemd_accepts_the_unit() {
    let dir = std::env::temp_dir().join(format!("mgmd-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The binary as built; no Documentation= (the man pages are not installed here).
    let unit: String = UNIT
        .lines()
        .filter(|l| !l.starts_with("Documentation="))
        .map(|l| l.replace("/usr/sbin/mgmd", env!("CARGO_BIN_EXE_mgmd")) + "\n")
        .collect();
    let path = dir.join("mgmd.service");
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    match out {
        Ok(o) => assert!(
            o.status.success(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("systemd-analyze not run ({e}): the unit was checked by its keys only"),
    }
}
