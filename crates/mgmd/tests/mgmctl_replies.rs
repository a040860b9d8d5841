//! `mgmctl` against a stand-in for mgmd's control socket, which answers each connection with
//! a given reply line: success is the envelope's `status` and nothing else (an interface
//! named `error` is no failure), and each kind of failure has its exit status.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output};

use mgmd::control::{self, parse_request, Command as Ask};

const MGMCTL: &str = env!("CARGO_BIN_EXE_mgmctl");

/// Runs `mgmctl ARGS` against a socket that answers `reply`; returns its output and the
/// request line it sent.
fn against(reply: &str, args: &[&str]) -> (Output, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!(
        "mgmctl-replies-{}-{}",
        std::process::id(),
        args.join("-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("s");
    let listener = UnixListener::bind(&path).unwrap();
    let reply = reply.to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while s.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            line.push(b[0]);
        }
        let _ = s.write_all(reply.as_bytes());
        line
    });
    let out = Command::new(MGMCTL)
        .arg("--socket")
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    let sent = server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (out, sent)
}

#[test]
fn an_ok_reply_that_mentions_error_is_a_success() {
    let rows = serde_json::json!([{"name": "error", "ifindex": 3}]);
    let (o, sent) = against(&control::ok_reply(&rows), &["--json", "interfaces"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, rows, "--json prints the result");
    let req = parse_request(&sent).unwrap();
    assert_eq!((req.command, req.json), (Ask::Interfaces, true));
    let text = control::Text {
        text: "error 3\n".into(),
    };
    let (o, _) = against(&control::ok_reply(&text), &["interfaces"]);
    assert_eq!(
        (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
        (Some(0), "error 3\n")
    );
}

#[test]
fn an_error_reply_exits_1_with_its_message() {
    let (o, _) = against(&control::error_reply("no such route"), &["status"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such route"));
    assert!(o.stdout.is_empty());
}

#[test]
fn an_unreadable_reply_or_another_schema_exits_3() {
    for reply in [
        "not json\n".to_string(),
        "{\"error\": \"the old shape\"}\n".to_string(),
        "{\"schema\": 99, \"status\": \"ok\", \"error\": null, \"result\": {}}\n".to_string(),
        // The right schema, a status that is neither ok nor error.
        "{\"schema\": 1, \"status\": \"fine\", \"error\": null, \"result\": {}}\n".to_string(),
    ] {
        let (o, _) = against(&reply, &["status"]);
        assert_eq!(o.status.code(), Some(3), "{reply}: {o:?}");
    }
    let o = Command::new(MGMCTL)
        .args(["--socket", "/nonexistent/mgmd.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot reach mgmd"));
}
