//! `mgmctl`: asks a running `mgmd` over its unix control socket.
//!
//! ```text
//! mgmctl [--socket PATH] [--json] interfaces|memberships|mfes|events|igmp|status
//! ```
//!
//! Text tables by default, JSON with `--json`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

fn usage() -> ! {
    eprintln!(
        "usage: mgmctl [--socket PATH] [--json] interfaces|memberships|mfes|events|igmp|status"
    );
    std::process::exit(2)
}

fn main() {
    let mut socket = std::env::var("MGMD_SOCKET").unwrap_or_else(|_| "/run/mgmd.sock".into());
    let mut json = false;
    let mut cmd: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--socket" | "-u" => socket = args.next().unwrap_or_else(|| usage()),
            "--json" | "-j" => json = true,
            "--help" | "-h" => usage(),
            c if !c.starts_with('-') && cmd.is_none() => cmd = Some(c.to_string()),
            _ => usage(),
        }
    }
    let cmd = cmd.unwrap_or_else(|| "status".into());
    let mut stream = match UnixStream::connect(&socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mgmctl: cannot reach mgmd at {socket}: {e}");
            std::process::exit(1);
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("{cmd}{}\n", if json { " json" } else { "" });
    if let Err(e) = stream.write_all(req.as_bytes()) {
        eprintln!("mgmctl: {e}");
        std::process::exit(1);
    }
    let mut out = String::new();
    if let Err(e) = stream.read_to_string(&mut out) {
        eprintln!("mgmctl: {e}");
        std::process::exit(1);
    }
    print!("{out}");
    if out.starts_with("unknown command") || out.contains("\"error\"") {
        std::process::exit(1);
    }
}
