//! End to end on the real kernel: `scripts/e2e.sh` builds sender, router and receiver network
//! namespaces, runs `mgmd` (and smcroute, for comparison) as the router, and checks delivery,
//! leave latency, wrong-interface reports and a clean kernel after SIGTERM; `e2e_overload`
//! runs `scripts/e2e_overload.sh` (hostile control clients, a miss storm, 32 interfaces);
//! `e2e_igmp_input` runs `scripts/e2e_igmp.sh` (forged and oversized IGMP, floods over the
//! limits); `e2e_fast_leave` runs `scripts/e2e_fast_leave.sh` (two receivers on one link,
//! fast leave with explicit host tracking); `e2e_systemd` runs `scripts/e2e_systemd.sh`
//! (readiness notification, pid file, the refusal of a second multicast router);
//! `e2e_control` runs `scripts/e2e_control.sh` (SIGHUP and `mgmctl reload`, valid and not,
//! runtime mroutes, flush and the static (S,G) that never expires, with flows' loss counted);
//! `e2e_links` runs `scripts/e2e_links.sh` (interfaces deleted and re-created, absent at start,
//! set down and up, renumbered, with a flow running); `e2e_ipv6` runs `scripts/e2e_ipv6.sh`
//! (mgmd as an IPv6 router with MLD, beside IPv4 and alone: delivery, SSM, late join, leave
//! and fast leave latencies, wrong MIF, a clean kernel after SIGTERM); `e2e_proxy` runs
//! `scripts/e2e_proxy.sh` (an mgmd proxy behind an mgmd router, IPv4 and IPv6: the report
//! upstream, late join, a second member through the first's leave, the prune upstream after
//! the last leave, fast leave, the leave of every group at SIGTERM).
//!
//! Runs as root, or unprivileged where `unshare -Urnm` works; otherwise it prints that it was
//! skipped. With `CI=true` it must run: a missing prerequisite fails the test. The one
//! exception is a kernel built without multicast routing (no `/proc/net/ip_mr_vif`), which no
//! package installs: every script is then skipped, and says why. The scripts run
//! one at a time (they measure latencies, and the test harness would run them side by side).
#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::sync::Mutex;

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

/// The scripts that run mgmd as an IPv6 router too (the others need IPv4 only).
const WITH_IPV6: [&str; 2] = ["e2e_ipv6.sh", "e2e_proxy.sh"];

/// Why the kernel cannot run `script`, if it cannot: built without multicast routing in a
/// family the script forwards. Not a prerequisite CI can install (the kernel's build decides),
/// so it skips the script, loudly, under `CI=true` too.
fn kernel_lacks(script: &str) -> Option<String> {
    use mgm_linux::{Mroute6Socket, MrouteSocket};
    if !MrouteSocket::in_kernel() {
        return Some("this kernel has no IPv4 multicast routing (CONFIG_IP_MROUTE)".into());
    }
    if WITH_IPV6.contains(&script) && !Mroute6Socket::in_kernel() {
        return Some("this kernel has no IPv6 multicast routing (CONFIG_IPV6_MROUTE)".into());
    }
    None
}

/// Held while a script runs.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `scripts/<script>` with the binaries' paths and `env`, unless the prerequisites are
/// missing (then it says so, or fails under `CI=true`) or the kernel cannot forward what the
/// script forwards (then it says so). True when it ran.
fn run_script(test: &str, script: &str, env: &[(&str, String)]) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if let Err(why) = prerequisites() {
        assert!(!ci, "CI=true but {test} cannot run: {why}");
        eprintln!("{test} SKIPPED: {why}");
        return false;
    }
    if let Some(why) = kernel_lacks(script) {
        eprintln!("{test} SKIPPED: {why}: nothing can be forwarded through it");
        return false;
    }
    // A script that failed in another test poisons the lock; this one may still run.
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = format!("{}/scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("bash")
        .arg(&path)
        .env("MGMD", env!("CARGO_BIN_EXE_mgmd"))
        .env("MGMCTL", env!("CARGO_BIN_EXE_mgmctl"))
        .env("PYTHON", "python3")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {path}: {e}"));
    assert!(status.success(), "scripts/{script} failed: {status}");
    true
}

#[test]
fn e2e_netns() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let smcroute = quiet(Command::new("sh").args(["-c", "command -v smcrouted"]));
    assert!(
        smcroute || !ci,
        "CI=true but smcrouted is missing (apt-get install -y smcroute)"
    );
    run_script("e2e_netns", "e2e.sh", &[]);
}

/// `scripts/e2e_overload.sh`: 100 misbehaving control clients while new flows cause upcalls
/// (every upcall handled within the budget, every first packet delivered, `mgmctl status`
/// within 1 s, no growth by a 64 MiB request line), a miss storm against `max_mfes = 200`
/// (the limit holds, refused misses counted, a small log), the client bound and the socket
/// path rule, and IGMP on 32 interfaces.
#[test]
fn e2e_overload() {
    // 1 ms for an optimised build (`cargo test --release`); a debug build is about ten
    // times slower at everything, so it gets ten times the budget.
    let budget_us: u32 = if cfg!(debug_assertions) {
        10_000
    } else {
        1_000
    };
    run_script(
        "e2e_overload",
        "e2e_overload.sh",
        &[("BUDGET_US", budget_us.to_string())],
    );
}

/// IGMP input checks and limits on the real kernel: `scripts/e2e_igmp.sh` forges IGMP from a
/// host namespace (`scripts/igmp_forge.py`: off-subnet query, TTL 64 and no-Router-Alert
/// reports, a 2,408-byte report on an MTU 9000 link, floods over the per-host and
/// per-interface limits) and reads mgmd's verdicts from `mgmctl --json igmp`.
#[test]
fn e2e_igmp_input() {
    run_script("e2e_igmp_input", "e2e_igmp.sh", &[]);
}

/// Fast leave with explicit host tracking: `scripts/e2e_fast_leave.sh` puts two receivers on
/// one downstream link (a bridge) and makes them leave, one after the other, while a flow
/// runs: at the first leave the other receiver loses no datagram, at the second the link's
/// traffic stops within 20 ms.
#[test]
fn e2e_fast_leave() {
    run_script("e2e_fast_leave", "e2e_fast_leave.sh", &[]);
}

/// mgmd as a service manager runs it: `scripts/e2e_systemd.sh` gives it a `NOTIFY_SOCKET`
/// and checks that `READY=1` (with `STATUS=`) arrives once the VIFs exist and `STOPPING=1` at
/// shutdown, that `--pid-file` is written, refused to a second mgmd and removed at exit,
/// and that a second mgmd is refused with a message while the first holds the kernel's
/// multicast routing socket.
#[test]
fn e2e_systemd() {
    run_script("e2e_systemd", "e2e_systemd.sh", &[]);
}

/// Reload and runtime control with flows running: `scripts/e2e_control.sh` checks that a
/// SIGHUP with the file unchanged, a reload adding a downstream interface (which then gets
/// the flow) and `mgmctl flush` lose no datagram of a static (S,G) flow, that a reload of an
/// invalid file changes nothing and says why (exit status 1), that `mgmctl mroute add` and
/// `del` start and stop a second flow within 0.5 s, and that the static (S,G) shows no expiry.
#[test]
fn e2e_control() {
    run_script("e2e_control", "e2e_control.sh", &[]);
}

/// Interfaces followed live: `scripts/e2e_links.sh` deletes and re-creates a downstream veth
/// (the flow back on it within 1 s of its link up, the other downstream link losing nothing),
/// brings up an interface absent at start (it gets the flow), sets a link down and up (its
/// VIF leaves and rejoins the entry's outgoing list in /proc/net/ip_mr_cache), and changes
/// an address (the IGMP querier's address and subnets follow).
#[test]
fn e2e_links() {
    run_script("e2e_links", "e2e_links.sh", &[]);
}

/// mgmd as an IPv6 router: `scripts/e2e_ipv6.sh` runs IPv4 and IPv6 in one mgmd, then IPv6
/// alone with fast leave, the hosts joining with their kernel's MLDv2: an IPv4 group and
/// `ff0e::1:3` and the SSM `(2001:db8:1::2, ff3e::1:3)` delivered (none of the source not
/// asked for), a late joiner with no datagram sent before its join, the group pruned from a
/// link 2 x 1 s after its last listener's leave (at most 2.1 s; fast leave: 20 ms, from the
/// kernel's timestamps), the wrong MIF reported, both families in `mgmctl`, IPv4 off when
/// not configured, and no MIF, MF6C, VIF or MFC after SIGTERM.
#[test]
fn e2e_ipv6() {
    run_script("e2e_ipv6", "e2e_ipv6.sh", &[]);
}

/// mgmd in proxy mode behind an mgmd router, both families at once: `scripts/e2e_proxy.sh`.
/// The proxy's report reaches the upstream link within 10 ms of the first downstream join; a
/// late joiner gets no datagram sent before its join; a member on a second downstream link
/// keeps every datagram while the first leaves; forwarding upstream stops within 2.1 s of the
/// last downstream leave (the proxy's last member queries, the upstream router's fast leave)
/// and within 20 ms with fast leave on both; the upstream router drops what the proxy held
/// within 1 s of its SIGTERM; no VIF, MFC, MIF or MF6C is left. Where igmpproxy is installed,
/// the IPv4 chain runs again with it as the proxy, and both are printed side by side.
#[test]
fn e2e_proxy() {
    run_script("e2e_proxy", "e2e_proxy.sh", &[]);
}
