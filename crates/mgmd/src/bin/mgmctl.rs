//! `mgmctl`: asks a running `mgmd` over its unix control socket.
//!
//! ```text
//! mgmctl [--socket PATH] [--json] [--page N] [status|interfaces|memberships|mfes|events|igmp|routes]
//! mgmctl mroute add [--from IF] [--source S] GROUP TO...   mgmctl mroute del [--from IF] [--source S] GROUP
//! mgmctl route add PREFIX IF [--upstream A]               mgmctl route del PREFIX
//! mgmctl join|leave IF GROUP [--source S]                 mgmctl flush | reload
//! ```
//!
//! Text tables by default, JSON with `--json`. `mfes`, `memberships` and `igmp` are fetched
//! page after page (N rows each, or for `igmp` N groups, 200 by default) and printed as they
//! come, so neither mgmd nor mgmctl holds a large table's dump in memory; with `--json` the
//! pages print as one array (an interface of `igmp` whose groups span pages as one row).
//! The command line is [`mgmd::cli::MgmctlArgs`]; `mgmctl generate` writes the man pages
//! and shell completions of both binaries.
//!
//! Requests and replies are the types of [`mgmd::control`]: mgmctl sends the JSON form of
//! the request and reads the reply's envelope, and only its `status` tells success from
//! failure. With `--json` it prints the envelope's `result`. Exit status: 0 when the status
//! is ok, 1 when it is error (the message goes to standard error), 2 for a bad command
//! line, 3 when mgmd cannot be reached or its reply cannot be read (another schema among
//! them).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use mgmd::cli::{Generate, MgmctlArgs, MgmctlCommand};
use mgmd::control::{self, Command, Envelope, Page, Request, Text};
use mgmd::igmp_page::RowJoiner;
use serde_json::Value;

/// mgmd answered, and refused or failed the request.
const EXIT_REFUSED: i32 = 1;
/// mgmd could not be reached, or its reply could not be read.
const EXIT_UNREACHABLE: i32 = 3;

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("mgmctl: {msg}");
    std::process::exit(code)
}

/// `mgmctl generate`: writes the files and names them.
fn generate(what: &Generate) {
    match what.write() {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
        }
        Err(e) => fail(EXIT_REFUSED, &format!("generate: {e}")),
    }
}

/// Sends one request and reads its reply: the result of an ok reply; an error reply ends
/// mgmctl with [`EXIT_REFUSED`] and its message, anything else with [`EXIT_UNREACHABLE`].
fn ask<T: serde::de::DeserializeOwned>(socket: &str, req: &Request, wait: Duration) -> T {
    let unreachable = |m: String| -> ! { fail(EXIT_UNREACHABLE, &m) };
    let mut stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| unreachable(format!("cannot reach mgmd at {socket}: {e}")));
    let _ = stream.set_read_timeout(Some(wait));
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
        (Err(e), _) | (_, Err(e)) => unreachable(format!("mgmd at {socket}: {e}")),
        (Ok(()), Ok(_)) => unreachable("mgmd closed the connection without a reply".into()),
    }
    // The schema first: a reply of another shape is named as such, not misread.
    let head: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| unreachable(format!("mgmd's reply is not JSON: {e}")));
    match head.get("schema").and_then(Value::as_u64) {
        Some(n) if n == u64::from(control::SCHEMA) => {}
        other => unreachable(format!(
            "mgmd replies in schema {}, this mgmctl reads schema {}: use the mgmctl of the running mgmd",
            other.map_or("(none)".to_string(), |n| n.to_string()),
            control::SCHEMA
        )),
    }
    let envelope: Envelope<T> = serde_json::from_value(head)
        .unwrap_or_else(|e| unreachable(format!("mgmd's reply has an unexpected shape: {e}")));
    envelope
        .into_result()
        .unwrap_or_else(|e| fail(EXIT_REFUSED, &format!("mgmd: {e}")))
}

/// How long a reply may take: a reload reads the configuration and changes the kernel's
/// state, the rest is quick.
fn reply_wait(command: &Command) -> Duration {
    if command.changes() {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(15)
    }
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
    let paged = matches!(
        command,
        Command::Mfes { .. } | Command::Memberships { .. } | Command::Igmp { .. }
    );
    if !paged {
        let wait = reply_wait(&command);
        let req = Request { command, json };
        if json {
            let v: Value = ask(&socket, &req, wait);
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        } else {
            let t: Text = ask(&socket, &req, wait);
            print!("{}", t.text);
        }
        return;
    }
    // Stdout is line-buffered: a pretty-printed page would cost a write per line.
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut next: Option<String> = None;
    let mut first_row = true;
    // Only `igmp` cuts a row over pages; the other lists' rows pass straight through.
    let mut joiner = matches!(command, Command::Igmp { .. }).then(RowJoiner::default);
    let mut print_row = |out: &mut dyn Write, row: &Value| {
        let sep = if first_row { "\n" } else { ",\n" };
        first_row = false;
        let _ = write!(
            out,
            "{sep}{}",
            serde_json::to_string_pretty(row).unwrap_or_default()
        );
    };
    if json {
        let _ = write!(out, "[");
    }
    loop {
        // The next page's request: the first one's command, resumed after the key mgmd gave,
        // read back through the request parser as any key is.
        let name = command.name();
        let line = match &next {
            Some(k) => format!("{name} after {k} max {page}"),
            None => format!("{name} max {page}"),
        };
        let command = match control::parse_request(line.as_bytes()) {
            Ok(r) => r.command,
            Err(_) => fail(EXIT_UNREACHABLE, "mgmd gave a page key that cannot be read"),
        };
        let req = Request { command, json };
        let v: Page<Value> = ask(&socket, &req, reply_wait(&req.command));
        if json {
            for row in v.rows.unwrap_or_default() {
                match &mut joiner {
                    Some(j) => {
                        if let Some(whole) = j.push(row) {
                            print_row(&mut out, &whole);
                        }
                    }
                    None => print_row(&mut out, &row),
                }
            }
        } else {
            let _ = write!(out, "{}", v.text.as_deref().unwrap_or_default());
        }
        let _ = out.flush();
        next = v.next;
        if !v.more || next.is_none() {
            break;
        }
    }
    if let Some(last) = joiner.as_mut().and_then(RowJoiner::finish) {
        print_row(&mut out, &last);
    }
    if json {
        let _ = writeln!(out, "{}]", if first_row { "" } else { "\n" });
    }
    let _ = out.flush();
}
