//! Runs the `mgm-sim` binary briefly for both address families: it must exit successfully and
//! its account must show the shutdown checks of spec 6.4 passing.

use std::process::Command;

fn run_sim(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mgm-sim"))
        .args(["--duration", "1", "--seed", "3"])
        .args(extra)
        .output()
        .expect("run mgm-sim");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "mgm-sim {extra:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// `gmp` is the hosts' protocol as the output names it: "IGMP" or "MLD".
fn assert_shutdown_passed(stdout: &str, gmp: &str, host_lans: &[&str], all: &[&str]) {
    assert!(!stdout.contains('✗'), "a check failed:\n{stdout}");
    for k in all {
        let line = format!("✓ {k}: released; 0 entries with iif {k} remain");
        assert!(stdout.contains(&line), "missing `{line}`:\n{stdout}");
    }
    for k in host_lans {
        let line = format!("✓ {k}: {gmp} got DisableIgmp then EnableIgmp");
        assert!(stdout.contains(&line), "missing `{line}`:\n{stdout}");
        assert!(
            stdout.contains(&format!("✓ {k}: {gmp} released")),
            "{stdout}"
        );
    }
    for line in [
        "✓ PIM deregistered".to_string(),
        "✓ PIM's stale handle refused: take_interface(if1) → Err(InvalidHandle), win32 87".into(),
        "✓ PIM's event channel closed".into(),
        format!("✓ {gmp} deregistered"),
        "✓ engine empty: 0 entries, 0 interfaces, 0 memberships".into(),
    ] {
        assert!(stdout.contains(&line), "missing `{line}`:\n{stdout}");
    }
    assert!(stdout.contains(", 0 failed"), "{stdout}");
}

#[test]
fn ipv4_run_shuts_down_cleanly() {
    let stdout = run_sim(&[]);
    assert!(stdout.contains("IPv4"), "{stdout}");
    assert!(
        stdout.contains("worker 0:") && stdout.contains("worker 1:") && stdout.contains("total:"),
        "the per-worker lookup rates are missing:\n{stdout}"
    );
    assert_shutdown_passed(
        &stdout,
        "IGMP",
        &["if3", "if4", "if5"],
        &["if1", "if2", "if3", "if4", "if5", "if6"],
    );
}

#[test]
fn ipv6_run_shuts_down_cleanly() {
    let stdout = run_sim(&["--ipv6", "--interfaces", "4", "--workers", "2"]);
    assert!(
        stdout.contains("IPv6") && stdout.contains("2001:db8:"),
        "{stdout}"
    );
    assert_shutdown_passed(&stdout, "MLD", &["if3"], &["if1", "if2", "if3", "if4"]);
    // IPv6 hosts speak MLD: IGMP appears only in the engine's event names.
    let igmp: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.replace("DisableIgmp", "")
                .replace("EnableIgmp", "")
                .contains("IGMP")
        })
        .collect();
    assert!(igmp.is_empty(), "IGMP in an IPv6 run: {igmp:?}");
    assert!(
        stdout.contains("protocol_on_interface(if3) before PIM: MLD/"),
        "{stdout}"
    );
}

#[test]
fn quiet_run_still_prints_the_checks() {
    let stdout = run_sim(&[
        "--quiet",
        "--interfaces",
        "3",
        "--sources",
        "2",
        "--groups",
        "4",
    ]);
    assert!(!stdout.contains("scenario"), "{stdout}");
    assert_shutdown_passed(&stdout, "IGMP", &["if3"], &["if1", "if2", "if3"]);
}
