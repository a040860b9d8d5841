//! The control protocol between `mgmctl` and `mgmd`: one request line per connection, one
//! reply, then the connection closes.
//!
//! A request is a line of at most [`MAX_REQUEST`] bytes, in one of two forms:
//!
//! ```text
//! mfes json after 198.51.100.2,239.1.2.3 max 200
//! {"command": "mfes", "json": true, "after": "198.51.100.2,239.1.2.3", "max": 500}
//! ```
//!
//! `json` asks for a JSON reply instead of text; `after` and `max` page through the two
//! commands whose answers grow with the tables, `mfes` and `memberships` (the page starts
//! after the key `after`, and holds at most `max` rows, at most [`MAX_PAGE`]). An empty line
//! asks for `status`.
//!
//! [`parse_request`] is a plain function of the bytes read, so it can be tested and fuzzed
//! without a socket. Its errors never repeat what was sent: a client that sends a
//! mebibyte of garbage gets a short, fixed message back.

use std::fmt;
use std::io::{self, Read};
use std::net::Ipv4Addr;

use serde::Deserialize;

/// The longest request line accepted, newline included.
pub const MAX_REQUEST: usize = 4096;
/// The largest page of `mfes` or `memberships` rows one request gets.
pub const MAX_PAGE: usize = 500;
/// The page size when a request names none.
pub const DEFAULT_PAGE: usize = 200;

/// Where a page of memberships resumes: the last membership of the page before, written as
/// (ifindex, group, source, protocol, component), with 0.0.0.0 for a wildcard. mgmd lists
/// memberships in the engine's walk order (interface, then selector: (*,*), (*,G), (S,G),
/// then protocol), and a key that no longer exists resumes at the next greater one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MembershipKey {
    /// The interface's ifindex.
    pub ifindex: u32,
    /// The group (0.0.0.0 for all groups).
    pub group: Ipv4Addr,
    /// The source (0.0.0.0 for any source).
    pub source: Ipv4Addr,
    /// The member's protocol id.
    pub protocol: u32,
    /// The member's component id.
    pub component: u32,
}

impl fmt::Display for MembershipKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},{}",
            self.ifindex, self.group, self.source, self.protocol, self.component
        )
    }
}

/// What is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Counters, limits and uptime.
    Status,
    /// The configured interfaces.
    Interfaces,
    /// One page of memberships.
    Memberships {
        /// Resume after this key (from the start when `None`).
        after: Option<MembershipKey>,
        /// At most this many rows (1..=[`MAX_PAGE`]).
        max: usize,
    },
    /// One page of forwarding entries.
    Mfes {
        /// Resume after this (source, group) (from the start when `None`).
        after: Option<(Ipv4Addr, Ipv4Addr)>,
        /// At most this many rows (1..=[`MAX_PAGE`]).
        max: usize,
    },
    /// The recent events.
    Events,
    /// The IGMP router's state.
    Igmp,
}

/// A parsed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// What is asked.
    pub command: Command,
    /// A JSON reply rather than text.
    pub json: bool,
}

impl Request {
    /// The request's line in the text form, newline included: what `mgmctl` sends.
    ///
    /// ```
    /// use mgmd::control::{parse_request, Command, Request};
    /// let r = Request { command: Command::Mfes { after: None, max: 10 }, json: true };
    /// assert_eq!(r.to_line(), "mfes json max 10\n");
    /// assert_eq!(parse_request(r.to_line().as_bytes()).unwrap(), r);
    /// ```
    pub fn to_line(&self) -> String {
        let json = if self.json { " json" } else { "" };
        match self.command {
            Command::Status => format!("status{json}\n"),
            Command::Interfaces => format!("interfaces{json}\n"),
            Command::Events => format!("events{json}\n"),
            Command::Igmp => format!("igmp{json}\n"),
            Command::Mfes { after, max } => match after {
                Some((s, g)) => format!("mfes{json} after {s},{g} max {max}\n"),
                None => format!("mfes{json} max {max}\n"),
            },
            Command::Memberships { after, max } => match after {
                Some(k) => format!("memberships{json} after {k} max {max}\n"),
                None => format!("memberships{json} max {max}\n"),
            },
        }
    }
}

/// Why a request was refused. The message names what was wrong, never the bytes sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The line is longer than [`MAX_REQUEST`] bytes.
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// The line is not UTF-8.
    NotUtf8,
    /// The line starts with `{` but is not JSON.
    BadJson {
        /// Where the JSON parser stopped (1-based).
        line: usize,
        /// Where the JSON parser stopped (1-based).
        column: usize,
    },
    /// JSON, but not a request object.
    BadJsonShape,
    /// No such command.
    UnknownCommand,
    /// A word or field the command does not take, or a bad value.
    BadArgument {
        /// What was wrong.
        what: &'static str,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooLong { limit } => {
                write!(f, "request longer than {limit} bytes")
            }
            RequestError::NotUtf8 => write!(f, "request is not UTF-8"),
            RequestError::BadJson { line, column } => {
                write!(f, "request is not valid JSON (line {line}, column {column})")
            }
            RequestError::BadJsonShape => write!(
                f,
                "JSON request must be an object with \"command\" (a string) and optionally \"json\" (a boolean), \"after\" (a string) and \"max\" (a number)"
            ),
            RequestError::UnknownCommand => write!(
                f,
                "unknown command: expected status, interfaces, memberships, mfes, events or igmp"
            ),
            RequestError::BadArgument { what } => write!(f, "bad request: {what}"),
        }
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    /// One of each kind, for tests that check messages.
    pub fn examples() -> Vec<RequestError> {
        let mut v = vec![
            RequestError::TooLong { limit: MAX_REQUEST },
            RequestError::NotUtf8,
            RequestError::BadJson { line: 1, column: 1 },
            RequestError::BadJsonShape,
            RequestError::UnknownCommand,
        ];
        v.extend(
            ARGUMENT_ERRORS
                .iter()
                .map(|what| RequestError::BadArgument { what }),
        );
        v
    }
}

const ARG_AFTER_MFES: &str = "mfes: after takes SOURCE,GROUP (two IPv4 addresses)";
const ARG_AFTER_MEMBERSHIPS: &str =
    "memberships: after takes IFINDEX,GROUP,SOURCE,PROTOCOL,COMPONENT";
const ARG_AFTER_OTHER: &str = "only mfes and memberships take after and max";
const ARG_MAX: &str = "max takes a number from 1 to 500";
const ARG_MISSING: &str = "after and max each need a value";
const ARG_UNKNOWN: &str = "unknown word: expected json, after KEY or max N";
const ARG_TWICE: &str = "a word given twice";
const ARGUMENT_ERRORS: [&str; 7] = [
    ARG_AFTER_MFES,
    ARG_AFTER_MEMBERSHIPS,
    ARG_AFTER_OTHER,
    ARG_MAX,
    ARG_MISSING,
    ARG_UNKNOWN,
    ARG_TWICE,
];

const COMMANDS: [&str; 6] = [
    "status",
    "interfaces",
    "memberships",
    "mfes",
    "events",
    "igmp",
];

fn bad(what: &'static str) -> RequestError {
    RequestError::BadArgument { what }
}

/// The JSON form of a request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    command: String,
    #[serde(default)]
    json: bool,
    after: Option<String>,
    max: Option<u64>,
}

/// Parses one request line (with or without its newline).
///
/// # Errors
/// [`RequestError`]: too long, not UTF-8, bad JSON, unknown command or bad argument. The
/// message never contains the request.
///
/// ```
/// use mgmd::control::{parse_request, Command, RequestError};
/// assert_eq!(parse_request(b"status\n").unwrap().command, Command::Status);
/// assert_eq!(parse_request(b"{\"command\": \"igmp\"}").unwrap().command, Command::Igmp);
/// assert_eq!(parse_request(b"\xff\n"), Err(RequestError::NotUtf8));
/// assert_eq!(parse_request(b"reboot"), Err(RequestError::UnknownCommand));
/// ```
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST {
        return Err(RequestError::TooLong { limit: MAX_REQUEST });
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| RequestError::NotUtf8)?;
    let text = text.trim();
    if text.starts_with('{') {
        let j: JsonRequest = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => RequestError::BadJsonShape,
            _ => RequestError::BadJson {
                line: e.line(),
                column: e.column(),
            },
        })?;
        let max = match j.max {
            None => None,
            Some(m) => Some(usize::try_from(m).map_err(|_| bad(ARG_MAX))?),
        };
        return build(&j.command, j.json, j.after.as_deref(), max);
    }
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("status");
    if !COMMANDS.contains(&command) {
        return Err(RequestError::UnknownCommand);
    }
    let (mut json, mut after, mut max) = (false, None, None);
    while let Some(w) = words.next() {
        match w {
            "json" if !json => json = true,
            "after" if after.is_none() => after = Some(words.next().ok_or(bad(ARG_MISSING))?),
            "max" if max.is_none() => {
                let m = words.next().ok_or(bad(ARG_MISSING))?;
                max = Some(m.parse::<usize>().map_err(|_| bad(ARG_MAX))?);
            }
            "json" | "after" | "max" => return Err(bad(ARG_TWICE)),
            _ => return Err(bad(ARG_UNKNOWN)),
        }
    }
    build(command, json, after, max)
}

fn build(
    command: &str,
    json: bool,
    after: Option<&str>,
    max: Option<usize>,
) -> Result<Request, RequestError> {
    let page = |max: Option<usize>| match max {
        None => Ok(DEFAULT_PAGE),
        Some(m) if (1..=MAX_PAGE).contains(&m) => Ok(m),
        Some(_) => Err(bad(ARG_MAX)),
    };
    let command = match command {
        "mfes" => Command::Mfes {
            after: after.map(parse_sg).transpose()?,
            max: page(max)?,
        },
        "memberships" => Command::Memberships {
            after: after.map(parse_membership_key).transpose()?,
            max: page(max)?,
        },
        "status" | "interfaces" | "events" | "igmp" => {
            if after.is_some() || max.is_some() {
                return Err(bad(ARG_AFTER_OTHER));
            }
            match command {
                "status" => Command::Status,
                "interfaces" => Command::Interfaces,
                "events" => Command::Events,
                _ => Command::Igmp,
            }
        }
        _ => return Err(RequestError::UnknownCommand),
    };
    Ok(Request { command, json })
}

fn parse_sg(s: &str) -> Result<(Ipv4Addr, Ipv4Addr), RequestError> {
    let (a, b) = s.split_once(',').ok_or(bad(ARG_AFTER_MFES))?;
    let a = a.parse().map_err(|_| bad(ARG_AFTER_MFES))?;
    let b = b.parse().map_err(|_| bad(ARG_AFTER_MFES))?;
    Ok((a, b))
}

fn parse_membership_key(s: &str) -> Result<MembershipKey, RequestError> {
    let e = || bad(ARG_AFTER_MEMBERSHIPS);
    let mut it = s.split(',');
    let mut next = || it.next().ok_or_else(e);
    let ifindex = next()?.parse().map_err(|_| e())?;
    let group = next()?.parse().map_err(|_| e())?;
    let source = next()?.parse().map_err(|_| e())?;
    let protocol = next()?.parse().map_err(|_| e())?;
    let component = next()?.parse().map_err(|_| e())?;
    if it.next().is_some() {
        return Err(e());
    }
    Ok(MembershipKey {
        ifindex,
        group,
        source,
        protocol,
        component,
    })
}

/// What reading a request line met.
#[derive(Debug)]
pub enum ReadError {
    /// More than `limit` bytes came without a newline.
    TooLong,
    /// The read failed (a timeout among them).
    Io(io::Error),
}

/// Reads up to the first newline, at most `limit` bytes in all (newline included); the line
/// is returned with its newline, or without one when the peer closed first. Bytes after the
/// newline are dropped. Memory is bounded by `limit` whatever the peer sends.
///
/// # Errors
/// [`ReadError::TooLong`] past `limit`; [`ReadError::Io`] when a read fails or times out.
///
/// ```
/// use mgmd::control::{read_line_capped, ReadError};
/// let mut r: &[u8] = b"status\nrest";
/// assert_eq!(read_line_capped(&mut r, 64).unwrap(), b"status\n");
/// let mut long: &[u8] = &[b'x'; 100];
/// assert!(matches!(read_line_capped(&mut long, 64), Err(ReadError::TooLong)));
/// ```
pub fn read_line_capped(r: &mut impl Read, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(256.min(limit));
    let mut chunk = [0u8; 512];
    loop {
        let want = chunk.len().min(limit + 1 - buf.len());
        let n = match r.read(&mut chunk[..want]) {
            Ok(0) => return Ok(buf),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        if let Some(p) = chunk[..n].iter().position(|b| *b == b'\n') {
            if buf.len() + p + 1 > limit {
                return Err(ReadError::TooLong);
            }
            buf.extend_from_slice(&chunk[..=p]);
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > limit {
            return Err(ReadError::TooLong);
        }
    }
}

/// The one-line JSON error reply, `{"error": "..."}` and a newline.
pub fn error_reply(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of `input`, checked not to contain it.
    fn refused(input: &[u8]) -> RequestError {
        let e = parse_request(input).expect_err("must be refused");
        let msg = e.to_string();
        let shown = String::from_utf8_lossy(input);
        let shown = shown.trim();
        assert!(
            shown.len() < 4 || !msg.contains(shown),
            "{msg:?} echoes the request"
        );
        assert!(msg.len() < 200, "{msg:?}");
        e
    }

    #[test]
    fn both_forms_parse_to_the_same_request() {
        let t = parse_request(b"mfes json after 198.51.100.2,239.1.2.3 max 7\n").unwrap();
        let j = parse_request(
            br#"{"command":"mfes","json":true,"after":"198.51.100.2,239.1.2.3","max":7}"#,
        )
        .unwrap();
        assert_eq!(t, j);
        assert_eq!(
            t.command,
            Command::Mfes {
                after: Some((
                    "198.51.100.2".parse().unwrap(),
                    "239.1.2.3".parse().unwrap()
                )),
                max: 7
            }
        );
        assert!(t.json);
        assert_eq!(parse_request(b"\n").unwrap().command, Command::Status);
        assert_eq!(
            parse_request(b"events\r\n").unwrap().command,
            Command::Events
        );
        let m = parse_request(b"memberships after 4,239.1.2.3,0.0.0.0,1,2").unwrap();
        let Command::Memberships {
            after: Some(k),
            max,
        } = m.command
        else {
            panic!("{m:?}")
        };
        assert_eq!(
            (k.ifindex, k.protocol, k.component, max),
            (4, 1, 2, DEFAULT_PAGE)
        );
        assert_eq!(parse_request(m.to_line().as_bytes()).unwrap(), m);
    }

    #[test]
    fn an_oversized_request_is_refused_without_echo() {
        let mut long = b"status ".to_vec();
        long.resize(MAX_REQUEST + 1, b'a');
        assert_eq!(refused(&long), RequestError::TooLong { limit: MAX_REQUEST });
        // At the limit exactly, the line is parsed (and refused for its content).
        long.truncate(MAX_REQUEST);
        assert!(matches!(refused(&long), RequestError::BadArgument { .. }));
    }

    #[test]
    fn bad_utf8_is_refused_without_echo() {
        assert_eq!(refused(b"status \xff\xfe json\n"), RequestError::NotUtf8);
        assert_eq!(refused(b"\xc3\x28"), RequestError::NotUtf8);
    }

    #[test]
    fn bad_json_is_refused_without_echo() {
        assert!(matches!(
            refused(br#"{"command": "secret-token-abcdef"#),
            RequestError::BadJson { line: 1, .. }
        ));
        assert_eq!(
            refused(br#"{"command": "status", "password": "hunter2-hunter2"}"#),
            RequestError::BadJsonShape
        );
        assert_eq!(
            refused(br#"{"command": ["hunter2-hunter2"]}"#),
            RequestError::BadJsonShape
        );
        assert_eq!(
            refused(br#"{"command": "status", "max": 3}"#),
            bad(ARG_AFTER_OTHER)
        );
    }

    #[test]
    fn unknown_commands_and_words_are_refused_without_echo() {
        assert_eq!(
            refused(b"reboot-the-router now\n"),
            RequestError::UnknownCommand
        );
        assert_eq!(
            refused(br#"{"command": "reboot-the-router"}"#),
            RequestError::UnknownCommand
        );
        assert_eq!(refused(b"status please-echo-me"), bad(ARG_UNKNOWN));
        assert_eq!(refused(b"mfes after 198.51.100.2"), bad(ARG_AFTER_MFES));
        assert_eq!(refused(b"mfes max 0"), bad(ARG_MAX));
        assert_eq!(refused(b"mfes max 501"), bad(ARG_MAX));
        assert_eq!(refused(b"mfes max"), bad(ARG_MISSING));
        assert_eq!(refused(b"mfes json json"), bad(ARG_TWICE));
        assert_eq!(
            refused(b"memberships after 1,239.1.2.3,0.0.0.0,1,2,3"),
            bad(ARG_AFTER_MEMBERSHIPS)
        );
    }

    #[test]
    fn reading_stops_at_the_cap_and_at_the_newline() {
        let mut r: &[u8] = b"igmp json\nignored";
        assert_eq!(read_line_capped(&mut r, 16).unwrap(), b"igmp json\n");
        let mut r: &[u8] = b"status";
        assert_eq!(read_line_capped(&mut r, 16).unwrap(), b"status");
        // Exactly the limit, newline included: accepted; one more byte: refused.
        let mut r: &[u8] = b"0123456789abcde\n";
        assert_eq!(read_line_capped(&mut r, 16).unwrap().len(), 16);
        let mut r: &[u8] = b"0123456789abcdef\n";
        assert!(matches!(
            read_line_capped(&mut r, 16),
            Err(ReadError::TooLong)
        ));
        let big = vec![b'x'; 1 << 20];
        assert!(matches!(
            read_line_capped(&mut big.as_slice(), MAX_REQUEST),
            Err(ReadError::TooLong)
        ));
        assert!(error_reply("x \"y\"").ends_with("}\n"));
    }
}
