//! `mgmctl`: asks a running `mgmd` over its unix control socket.
//!
//! ```text
//! mgmctl [--socket PATH] [--json] [--page N] [status|interfaces|memberships|mfes|events|igmp]
//! ```
//!
//! Text tables by default, JSON with `--json`. `mfes` and `memberships` are fetched page
//! after page (N rows each, 200 by default) and printed as they come, so neither mgmd nor
//! mgmctl holds a large table's dump in memory; with `--json` the pages print as one array.
//! The command line is [`mgmd::cli::MgmctlArgs`]; `mgmctl generate` writes the man pages
//! and shell completions of both binaries.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mgmd::cli::{Generate, MgmctlArgs, MgmctlCommand};
use mgmd::control::{self, Command, Request};
use serde_json::Value;

fn fail(msg: &str) -> ! {
    eprintln!("mgmctl: {msg}");
    std::process::exit(1)
}

/// `mgmctl generate`: writes the files and names them.
fn generate(what: &Generate) {
    match what.write() {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
        }
        Err(e) => fail(&format!("generate: {e}")),
    }
}

/// Sends one request and reads the whole reply.
fn ask(socket: &str, req: &Request) -> String {
    let mut stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| fail(&format!("cannot reach mgmd at {socket}: {e}")));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(15)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // A refused client's request may meet a closed socket: the reply, an error line, is
    // still there to read.
    let sent = stream.write_all(req.to_line().as_bytes());
    let mut out = String::new();
    let read = stream.read_to_string(&mut out);
    match (sent, read) {
        // A whole reply, even when the connection was then reset (mgmd closes a refused
        // client's socket with its request unread).
        _ if out.ends_with('\n') => {}
        (Err(e), _) | (_, Err(e)) => fail(&e.to_string()),
        (Ok(()), Ok(_)) => fail("mgmd closed the connection without a reply"),
    }
    if out.starts_with("{\"error\"") {
        let v: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        fail(&format!(
            "mgmd: {}",
            v["error"].as_str().unwrap_or(out.trim())
        ));
    }
    out
}

fn main() {
    let args = <MgmctlArgs as clap::Parser>::parse();
    let (socket, json, page) = (args.global.socket, args.global.json, args.global.page);
    let asked = args.command.unwrap_or(MgmctlCommand::Status);
    let Some(command) = asked.request(page) else {
        // Only `generate` asks nothing of mgmd.
        if let MgmctlCommand::Generate { what } = &asked {
            generate(what);
        }
        return;
    };
    let paged = matches!(command, Command::Mfes { .. } | Command::Memberships { .. });
    if !paged {
        print!("{}", ask(&socket, &Request { command, json }));
        return;
    }
    // Stdout is line-buffered: a pretty-printed page would cost a write per line.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut next: Option<String> = None;
    let mut first_row = true;
    if json {
        let _ = write!(out, "[");
    }
    loop {
        let command = match (command, &next) {
            (Command::Mfes { .. }, n) => {
                let after = n.as_deref().map(|n| {
                    let (s, g) = n.split_once(',').unwrap_or_else(|| fail("bad page key"));
                    match (s.parse(), g.parse()) {
                        (Ok(s), Ok(g)) => (s, g),
                        _ => fail("bad page key"),
                    }
                });
                Command::Mfes { after, max: page }
            }
            (_, n) => {
                let line = match n {
                    Some(k) => format!("memberships after {k}"),
                    None => "memberships".into(),
                };
                match control::parse_request(line.as_bytes()) {
                    Ok(Request {
                        command: Command::Memberships { after, .. },
                        ..
                    }) => Command::Memberships { after, max: page },
                    _ => fail("bad page key"),
                }
            }
        };
        let reply = ask(&socket, &Request { command, json });
        let v: Value = serde_json::from_str(reply.trim())
            .unwrap_or_else(|e| fail(&format!("reply is not a page: {e}")));
        if json {
            for row in v["rows"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let sep = if first_row { "\n" } else { ",\n" };
                first_row = false;
                let _ = write!(
                    out,
                    "{sep}{}",
                    serde_json::to_string_pretty(row).unwrap_or_default()
                );
            }
        } else {
            let _ = write!(out, "{}", v["text"].as_str().unwrap_or(""));
        }
        let _ = out.flush();
        next = v["next"].as_str().map(str::to_string);
        if !v["more"].as_bool().unwrap_or(false) || next.is_none() {
            break;
        }
    }
    if json {
        let _ = writeln!(out, "{}]", if first_row { "" } else { "\n" });
    }
    let _ = out.flush();
}
