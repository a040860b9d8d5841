//! The command lines as a user and a packager meet them: `--help` and `--version` exit 0 and
//! list everything, a bad command line exits 2 with a message, and `mgmctl generate` writes
//! man pages that groff reads without a warning and completion scripts that the shell parses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("MGMD_SOCKET")
        .output()
        .unwrap_or_else(|e| panic!("running {bin}: {e}"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const MGMD: &str = env!("CARGO_BIN_EXE_mgmd");
const MGMCTL: &str = env!("CARGO_BIN_EXE_mgmctl");

const MGMD_OPTIONS: [&str; 8] = [
    "--config",
    "--socket",
    "--log",
    "--check",
    "--pid-file",
    "--probe",
    "--help",
    "--version",
];
const MGMCTL_WORDS: [&str; 18] = [
    "--socket",
    "--json",
    "--page",
    "--help",
    "--version",
    "status",
    "interfaces",
    "memberships",
    "mfes",
    "events",
    "igmp",
    "routes",
    "mroute",
    "route",
    "join",
    "leave",
    "flush",
    "reload",
];

#[test]
fn help_lists_every_option_and_exits_0() {
    for (bin, words) in [(MGMD, &MGMD_OPTIONS[..]), (MGMCTL, &MGMCTL_WORDS[..])] {
        for flag in ["--help", "-h"] {
            let o = run(bin, &[flag]);
            assert_eq!(o.status.code(), Some(0), "{bin} {flag}");
            let text = stdout(&o);
            for w in words {
                assert!(
                    text.contains(w),
                    "{bin} {flag} does not mention {w}:\n{text}"
                );
            }
        }
        let o = run(bin, &["--version"]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            stdout(&o).trim().split_once(' ').map(|(_, v)| v),
            Some(env!("CARGO_PKG_VERSION"))
        );
    }
    // The packaging command stays out of the help.
    assert!(!stdout(&run(MGMCTL, &["--help"])).contains("generate"));
}

#[test]
fn a_bad_command_line_says_why_and_exits_2() {
    for (bin, args, says) in [
        (MGMD, &[][..], "--config"),
        (MGMD, &["--config"], "--config"),
        (MGMD, &["--config", "x", "--log", "loud"], "loud"),
        (MGMD, &["--config", "x", "--bogus"], "--bogus"),
        (
            MGMD,
            &["--probe", "eth0", "--config", "x"],
            "cannot be used with",
        ),
        (MGMCTL, &["--page", "0"], "1 to 500"),
        (MGMCTL, &["reboot"], "reboot"),
        (MGMCTL, &["route", "add", "198.51.100.0/33", "rsnd"], "LEN"),
        (MGMCTL, &["status", "extra"], "extra"),
    ] {
        let o = run(bin, args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bin} {args:?}: {err}");
        assert!(err.contains(says), "{bin} {args:?}: {err}");
        assert!(o.stdout.is_empty());
    }
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("mgmd-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// Runs `mgmctl generate ARGS DIR`; returns the files it named, each checked to exist and
/// to be non-empty.
fn generate(args: &[&str], dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<&str> = vec!["generate"];
    all.extend(args);
    let d = dir.to_str().unwrap();
    all.push(d);
    let o = run(MGMCTL, &all);
    assert_eq!(o.status.code(), Some(0), "{all:?}: {o:?}");
    let files: Vec<PathBuf> = stdout(&o).lines().map(PathBuf::from).collect();
    assert_eq!(files.len(), 2, "one file per binary: {files:?}");
    for f in &files {
        assert!(f.starts_with(dir), "{f:?}");
        let len = std::fs::metadata(f).unwrap().len();
        assert!(len > 100, "{f:?} has {len} bytes");
    }
    files
}

#[test]
fn man_pages_render_without_warnings() {
    let d = dir("man");
    let files = generate(&["man"], &d.0);
    for (f, words) in files.iter().zip([&MGMD_OPTIONS[..], &MGMCTL_WORDS[..]]) {
        let name = f.file_stem().unwrap().to_str().unwrap();
        assert!(f.ends_with(format!("{name}.8")));
        let roff = std::fs::read_to_string(f).unwrap();
        assert!(roff.contains(&format!(".TH {name} 8")), "{roff}");
        for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"] {
            assert!(roff.contains(section), "{name}: no {section}");
        }
        for w in words
            .iter()
            .filter(|w| !matches!(**w, "--help" | "--version"))
        {
            assert!(
                roff.contains(&w.replace('-', "\\-")),
                "{name}.8 does not mention {w}"
            );
        }
        // groff reads the page; -ww turns every warning on and they go to stderr.
        match Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(f)
            .output()
        {
            Ok(o) => {
                assert!(o.status.success(), "groff on {f:?}: {o:?}");
                assert!(
                    o.stderr.is_empty(),
                    "groff warns on {f:?}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            Err(e) => eprintln!("groff not run ({e}): {name}.8 checked for its sections only"),
        }
    }
}

#[test]
fn completions_parse_in_their_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let d = dir(shell);
        let files = generate(&["completions", shell], &d.0);
        for (f, name) in files.iter().zip(["mgmd", "mgmctl"]) {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.contains(name), "{f:?}");
        }
        if shell == "bash" {
            for f in &files {
                let o = Command::new("bash").arg("-n").arg(f).output().unwrap();
                assert!(o.status.success(), "bash -n {f:?}: {o:?}");
            }
            // Sourced, it registers a completion function for each binary.
            let script = format!(
                "source {} && source {} && complete -p mgmd && complete -p mgmctl",
                files[0].display(),
                files[1].display()
            );
            let o = Command::new("bash").args(["-c", &script]).output().unwrap();
            assert!(o.status.success(), "{o:?}");
        }
    }
}

#[test]
fn generate_refuses_a_missing_directory() {
    let o = run(MGMCTL, &["generate", "man", "/nonexistent/mgmd-man"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("generate"));
}
