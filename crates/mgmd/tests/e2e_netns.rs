//! End to end on the real kernel: `scripts/e2e.sh` builds sender, router and receiver network
//! namespaces, runs `mgmd` (and smcroute, for comparison) as the router, and checks delivery,
//! leave latency, wrong-interface reports and a clean kernel after SIGTERM.
//!
//! Runs as root, or unprivileged where `unshare -Urnm` works; otherwise it prints that it was
//! skipped. With `CI=true` it must run: a missing prerequisite fails the test.
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn prerequisites() -> Result<(), String> {
    if !quiet(Command::new("ip").arg("-V")) {
        return Err("the `ip` command (iproute2) is missing".into());
    }
    if !quiet(Command::new("python3").arg("-c").arg("pass")) {
        return Err("python3 is missing".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid == "0" {
        return Ok(());
    }
    if quiet(Command::new("unshare").args(["-Urnm", "true"])) {
        return Ok(());
    }
    Err("not root and `unshare -Urnm` is not allowed here".into())
}

#[test]
fn e2e_netns() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if let Err(why) = prerequisites() {
        assert!(!ci, "CI=true but the e2e test cannot run: {why}");
        eprintln!("e2e_netns SKIPPED: {why}");
        return;
    }
    let smcroute = quiet(Command::new("sh").args(["-c", "command -v smcrouted"]));
    assert!(
        smcroute || !ci,
        "CI=true but smcrouted is missing (apt-get install -y smcroute)"
    );
    let status = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/e2e.sh"))
        .env("MGMD", env!("CARGO_BIN_EXE_mgmd"))
        .env("MGMCTL", env!("CARGO_BIN_EXE_mgmctl"))
        .env("PYTHON", "python3")
        .stdin(Stdio::null())
        .status()
        .expect("running scripts/e2e.sh");
    assert!(status.success(), "scripts/e2e.sh failed: {status}");
}

/// IGMP input checks and limits on the real kernel: `scripts/e2e_igmp.sh` forges IGMP from a
/// host namespace (`scripts/igmp_forge.py`: off-subnet query, TTL 64 and no-Router-Alert
/// reports, a 2,408-byte report on an MTU 9000 link, floods over the per-host and
/// per-interface limits) and reads mgmd's verdicts from `mgmctl --json igmp`.
#[test]
fn e2e_igmp_input() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if let Err(why) = prerequisites() {
        assert!(!ci, "CI=true but the e2e IGMP test cannot run: {why}");
        eprintln!("e2e_igmp_input SKIPPED: {why}");
        return;
    }
    let status = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/e2e_igmp.sh"))
        .env("MGMD", env!("CARGO_BIN_EXE_mgmd"))
        .env("MGMCTL", env!("CARGO_BIN_EXE_mgmctl"))
        .env("PYTHON", "python3")
        .stdin(Stdio::null())
        .status()
        .expect("running scripts/e2e_igmp.sh");
    assert!(status.success(), "scripts/e2e_igmp.sh failed: {status}");
}
