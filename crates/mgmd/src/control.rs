//! The control protocol between `mgmctl` and `mgmd`: one request line per connection, one
//! reply line, then the connection closes. Both binaries use the types of this module.
//!
//! # Requests
//!
//! A request is a line of at most [`MAX_REQUEST`] bytes, in one of two forms, a JSON object
//! (what `mgmctl` sends, [`Request::to_line`]) or words (for a person at `socat`,
//! [`Request::to_text`]):
//!
//! ```text
//! {"command": "mfes", "json": true, "after": "198.51.100.2,239.1.2.3", "max": 500}
//! mfes json after 198.51.100.2,239.1.2.3 max 200
//! {"command": "mroute-add", "group": "239.1.2.3", "source": "198.51.100.2", "from": "rsnd", "to": ["rrcv1", "rrcv2"]}
//! mroute-add group 239.1.2.3 source 198.51.100.2 from rsnd to rrcv1 to rrcv2
//! ```
//!
//! In the word form each field is a word and its value (`to` may repeat; `json` stands
//! alone); in the JSON form it is a member of the object (`to` an array, `max` a number,
//! `json` a boolean, the others strings). The commands and their fields:
//!
//! | command | fields | does |
//! |---|---|---|
//! | `status`, `interfaces`, `events`, `routes` | | reads |
//! | `mfes`, `memberships` | `after`, `max` | reads one page (at most [`MAX_PAGE`] rows) |
//! | `igmp` | `after`, `max` | reads one page (at most [`MAX_PAGE`] groups) |
//! | `mroute-add` | `group`, `source`?, `from`?, `to` (one or more) | adds a static mroute |
//! | `mroute-del` | `group`, `source`?, `from`? | removes the static mroutes of (S,G) or (*,G) (with `from`: only those) |
//! | `route-add` | `prefix`, `interface`, `upstream`? | adds an RPF route |
//! | `route-del` | `prefix` | removes the RPF route of the prefix |
//! | `join`, `leave` | `interface`, `group`, `source`? | a static membership |
//! | `flush` | | deletes every forwarding entry but the static (S,G) ones |
//! | `reload` | | reads the configuration file again and applies the difference |
//!
//! `json` (any command) asks for the result as data rather than text; `after` and `max` page
//! through the three answers that grow with the tables (the page starts after the key
//! `after`). An empty line asks for `status`.
//!
//! # Replies
//!
//! Every reply is one line, an [`Envelope`]:
//! `{"schema": 2, "status": "ok", "error": null, "result": ...}` or
//! `{"schema": 2, "status": "error", "error": "why", "result": null}`. Success is the
//! status, nothing else. The result of a request without `json` is [`Text`] (a page:
//! [`Page`] with `text`); with `json`, the command's data (a page: [`Page`] with `rows`).
//!
//! [`parse_request`] is a plain function of the bytes read, so it can be tested and fuzzed
//! without a socket. Its errors never repeat what was sent: a client that sends a
//! mebibyte of garbage gets a short, fixed message back.

use std::fmt;
use std::io::{self, Read};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The longest request line accepted, newline included.
pub const MAX_REQUEST: usize = 4096;
/// The largest page one request gets: `mfes` or `memberships` rows, or `igmp` groups.
pub const MAX_PAGE: usize = 500;
/// The page size when a request names none.
pub const DEFAULT_PAGE: usize = 200;
/// The version of the replies' shape ([`Envelope::schema`]): raised when a field changes
/// its name, its type or its meaning. Schema 2: `igmp` is paged.
pub const SCHEMA: u32 = 2;

/// Where a page of memberships resumes: the last membership of the page before, written as
/// (ifindex, group, source, protocol, component), with the unspecified address of the
/// membership's family (0.0.0.0 or ::) for a wildcard. mgmd lists
/// memberships in the engine's walk order (interface, then selector: (*,*), (*,G), (S,G),
/// then protocol), and a key that no longer exists resumes at the next greater one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MembershipKey {
    /// The interface's ifindex.
    pub ifindex: u32,
    /// The group (unspecified for all groups).
    pub group: IpAddr,
    /// The source (unspecified for any source).
    pub source: IpAddr,
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

/// An IPv4 or IPv6 prefix, `A.B.C.D/LEN` or `X:X::X/LEN` (its host bits are the
/// configuration check's to refuse).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix {
    /// The address.
    pub address: IpAddr,
    /// The length, 0 to 32 (IPv4) or 128 (IPv6).
    pub len: u8,
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.len)
    }
}

impl std::str::FromStr for Prefix {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (a, l) = s.split_once('/').ok_or(())?;
        let address: IpAddr = a.parse().map_err(|_| ())?;
        // Digits only: `+8` and ` 8` are not lengths.
        if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        let most = if address.is_ipv4() { 32 } else { 128 };
        let len = l.parse().ok().filter(|l| *l <= most).ok_or(())?;
        Ok(Prefix { address, len })
    }
}

/// A static mroute as `mroute-add` gives it (the fields of `[[mroute]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MrouteSpec {
    /// The incoming interface (the RIB's answer when `None`).
    pub from: Option<String>,
    /// The source ((*,G) when `None`).
    pub source: Option<IpAddr>,
    /// The group.
    pub group: IpAddr,
    /// The outgoing interfaces (at least one).
    pub to: Vec<String>,
}

/// The static mroutes `mroute-del` removes: those of (S,G) or (*,G), and with `from`, only
/// those from that interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MrouteKey {
    /// Only the rules with this incoming interface (any when `None`).
    pub from: Option<String>,
    /// The source ((*,G) when `None`).
    pub source: Option<IpAddr>,
    /// The group.
    pub group: IpAddr,
}

/// An RPF route as `route-add` gives it (the fields of `[[route]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// The prefix toward the sources.
    pub prefix: Prefix,
    /// The interface toward them.
    pub interface: String,
    /// The upstream neighbour.
    pub upstream: Option<IpAddr>,
}

/// A static membership (`join`, `leave`): the group, or one source of it, forwarded onto
/// the interface whatever IGMP hears there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinSpec {
    /// The interface.
    pub interface: String,
    /// The group.
    pub group: IpAddr,
    /// One source of the group ((*,G) when `None`).
    pub source: Option<IpAddr>,
}

/// What is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        after: Option<(IpAddr, IpAddr)>,
        /// At most this many rows (1..=[`MAX_PAGE`]).
        max: usize,
    },
    /// The recent events.
    Events,
    /// One page of the IGMP (and MLD) router's state: interfaces in ifindex order, each
    /// with its groups in address order.
    Igmp {
        /// Resume after this (ifindex, group): after that group of that interface, or,
        /// when the group is the unspecified address, after the whole interface (from the
        /// start when `None`; `0,::` starts MLD's).
        after: Option<(u32, IpAddr)>,
        /// At most this many groups (1..=[`MAX_PAGE`]); an interface without groups counts
        /// as one.
        max: usize,
    },
    /// The RPF routes, static mroutes and static memberships in force.
    Routes,
    /// Adds a static mroute.
    MrouteAdd(MrouteSpec),
    /// Removes static mroutes.
    MrouteDel(MrouteKey),
    /// Adds an RPF route.
    RouteAdd(RouteSpec),
    /// Removes the RPF route of a prefix.
    RouteDel(Prefix),
    /// Adds a static membership.
    Join(JoinSpec),
    /// Removes a static membership.
    Leave(JoinSpec),
    /// Deletes every forwarding entry but the static (S,G) ones.
    Flush,
    /// Reads the configuration file again and applies the difference.
    Reload,
}

impl Command {
    /// The command's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::Interfaces => "interfaces",
            Command::Memberships { .. } => "memberships",
            Command::Mfes { .. } => "mfes",
            Command::Events => "events",
            Command::Igmp { .. } => "igmp",
            Command::Routes => "routes",
            Command::MrouteAdd(_) => "mroute-add",
            Command::MrouteDel(_) => "mroute-del",
            Command::RouteAdd(_) => "route-add",
            Command::RouteDel(_) => "route-del",
            Command::Join(_) => "join",
            Command::Leave(_) => "leave",
            Command::Flush => "flush",
            Command::Reload => "reload",
        }
    }

    /// True for the commands that change mgmd's state.
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Command::MrouteAdd(_)
                | Command::MrouteDel(_)
                | Command::RouteAdd(_)
                | Command::RouteDel(_)
                | Command::Join(_)
                | Command::Leave(_)
                | Command::Flush
                | Command::Reload
        )
    }
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// What is asked.
    pub command: Command,
    /// A JSON result rather than text.
    pub json: bool,
}

/// A request's fields as they travel: the JSON form's object, and what the word form is
/// read into.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest {
    /// The command's name.
    pub command: String,
    /// A JSON result.
    #[serde(default, skip_serializing_if = "is_false")]
    pub json: bool,
    /// Page key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// A group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// A source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// An incoming interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Outgoing interfaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// An interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// A prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// An upstream neighbour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl Request {
    /// The request's fields.
    fn wire(&self) -> WireRequest {
        let mut w = WireRequest {
            command: self.command.name().into(),
            json: self.json,
            ..WireRequest::default()
        };
        let s = |a: Option<IpAddr>| a.map(|a| a.to_string());
        match &self.command {
            Command::Mfes { after, max } => {
                w.after = after.map(|(s, g)| format!("{s},{g}"));
                w.max = Some(*max as u64);
            }
            Command::Memberships { after, max } => {
                w.after = after.map(|k| k.to_string());
                w.max = Some(*max as u64);
            }
            Command::Igmp { after, max } => {
                w.after = after.map(|(i, g)| format!("{i},{g}"));
                w.max = Some(*max as u64);
            }
            Command::MrouteAdd(m) => {
                w.group = Some(m.group.to_string());
                w.source = s(m.source);
                w.from = m.from.clone();
                w.to = Some(m.to.clone());
            }
            Command::MrouteDel(m) => {
                w.group = Some(m.group.to_string());
                w.source = s(m.source);
                w.from = m.from.clone();
            }
            Command::RouteAdd(r) => {
                w.prefix = Some(r.prefix.to_string());
                w.interface = Some(r.interface.clone());
                w.upstream = s(r.upstream);
            }
            Command::RouteDel(p) => w.prefix = Some(p.to_string()),
            Command::Join(j) | Command::Leave(j) => {
                w.interface = Some(j.interface.clone());
                w.group = Some(j.group.to_string());
                w.source = s(j.source);
            }
            Command::Status
            | Command::Interfaces
            | Command::Events
            | Command::Routes
            | Command::Flush
            | Command::Reload => {}
        }
        w
    }

    /// The request's line in the JSON form, newline included: what `mgmctl` sends.
    ///
    /// ```
    /// use mgmd::control::{parse_request, Command, Request};
    /// let r = Request { command: Command::Mfes { after: None, max: 10 }, json: true };
    /// assert_eq!(r.to_line(), "{\"command\":\"mfes\",\"json\":true,\"max\":10}\n");
    /// assert_eq!(parse_request(r.to_line().as_bytes()).unwrap(), r);
    /// ```
    pub fn to_line(&self) -> String {
        // A struct of strings, numbers and booleans always serializes.
        serde_json::to_string(&self.wire()).unwrap_or_default() + "\n"
    }

    /// The request's line in the word form, newline included.
    ///
    /// ```
    /// use mgmd::control::{parse_request, Command, JoinSpec, Request};
    /// let j = JoinSpec { interface: "rrcv1".into(), group: "239.1.2.3".parse().unwrap(), source: None };
    /// let r = Request { command: Command::Join(j), json: false };
    /// assert_eq!(r.to_text(), "join group 239.1.2.3 interface rrcv1\n");
    /// assert_eq!(parse_request(r.to_text().as_bytes()).unwrap(), r);
    /// ```
    pub fn to_text(&self) -> String {
        let w = self.wire();
        let mut t = w.command;
        if w.json {
            t += " json";
        }
        let pairs = [
            ("after", w.after),
            ("max", w.max.map(|m| m.to_string())),
            ("group", w.group),
            ("source", w.source),
            ("from", w.from),
            ("interface", w.interface),
            ("prefix", w.prefix),
            ("upstream", w.upstream),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                t += &format!(" {k} {v}");
            }
        }
        for to in w.to.iter().flatten() {
            t += &format!(" to {to}");
        }
        t + "\n"
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
                write!(
                    f,
                    "request is not valid JSON (line {line}, column {column})"
                )
            }
            RequestError::BadJsonShape => write!(
                f,
                "JSON request must be an object: \"command\" (a string) and the command's fields \
                 (json a boolean, max a number, to an array of strings, the others strings)"
            ),
            RequestError::UnknownCommand => write!(
                f,
                "unknown command: expected one of {}",
                COMMANDS.join(", ")
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

const ARG_AFTER_MFES: &str = "mfes: after takes SOURCE,GROUP (two addresses of one family)";
const ARG_AFTER_MEMBERSHIPS: &str =
    "memberships: after takes IFINDEX,GROUP,SOURCE,PROTOCOL,COMPONENT";
const ARG_AFTER_IGMP: &str = "igmp: after takes IFINDEX,GROUP";
const ARG_MAX: &str = "max takes a number from 1 to 500";
const ARG_MISSING: &str = "every field but json needs a value";
const ARG_UNKNOWN: &str =
    "unknown word: expected json or a field (after, max, group, source, from, to, interface, prefix, upstream)";
const ARG_TWICE: &str = "a field given twice (only to may repeat)";
const ARG_NOT_TAKEN: &str = "a field this command does not take";
const ARG_GROUP: &str = "group takes an IPv4 or IPv6 address";
const ARG_SOURCE: &str = "source takes an IPv4 or IPv6 address";
const ARG_UPSTREAM: &str = "upstream takes an IPv4 or IPv6 address";
const ARG_PREFIX: &str = "prefix takes A.B.C.D/LEN (LEN 0 to 32) or X:X::X/LEN (LEN 0 to 128)";
const ARG_IFNAME: &str =
    "from, to and interface take interface names (1 to 15 bytes, no '/', ':' or white space)";
const ARG_NEEDS_GROUP: &str = "this command needs group";
const ARG_NEEDS_TO: &str = "mroute-add needs at least one to";
const ARG_NEEDS_PREFIX: &str = "this command needs prefix";
const ARG_NEEDS_INTERFACE: &str = "this command needs interface";
const ARGUMENT_ERRORS: [&str; 17] = [
    ARG_AFTER_MFES,
    ARG_AFTER_MEMBERSHIPS,
    ARG_AFTER_IGMP,
    ARG_MAX,
    ARG_MISSING,
    ARG_UNKNOWN,
    ARG_TWICE,
    ARG_NOT_TAKEN,
    ARG_GROUP,
    ARG_SOURCE,
    ARG_UPSTREAM,
    ARG_PREFIX,
    ARG_IFNAME,
    ARG_NEEDS_GROUP,
    ARG_NEEDS_TO,
    ARG_NEEDS_PREFIX,
    ARG_NEEDS_INTERFACE,
];

/// Every command's name, as the wire spells it.
pub const COMMANDS: [&str; 15] = [
    "status",
    "interfaces",
    "memberships",
    "mfes",
    "events",
    "igmp",
    "routes",
    "mroute-add",
    "mroute-del",
    "route-add",
    "route-del",
    "join",
    "leave",
    "flush",
    "reload",
];

fn bad(what: &'static str) -> RequestError {
    RequestError::BadArgument { what }
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
/// assert_eq!(parse_request(b"{\"command\": \"events\"}").unwrap().command, Command::Events);
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
        let w: WireRequest = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => RequestError::BadJsonShape,
            _ => RequestError::BadJson {
                line: e.line(),
                column: e.column(),
            },
        })?;
        return build(w);
    }
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("status");
    if !COMMANDS.contains(&command) {
        return Err(RequestError::UnknownCommand);
    }
    let mut w = WireRequest {
        command: command.into(),
        ..WireRequest::default()
    };
    let mut json_seen = false;
    while let Some(word) = words.next() {
        if word == "json" {
            if json_seen {
                return Err(bad(ARG_TWICE));
            }
            json_seen = true;
            w.json = true;
            continue;
        }
        let mut value = || words.next().map(str::to_string).ok_or(bad(ARG_MISSING));
        let slot = match word {
            "after" => &mut w.after,
            "group" => &mut w.group,
            "source" => &mut w.source,
            "from" => &mut w.from,
            "interface" => &mut w.interface,
            "prefix" => &mut w.prefix,
            "upstream" => &mut w.upstream,
            "to" => {
                let v = value()?;
                w.to.get_or_insert_with(Vec::new).push(v);
                continue;
            }
            "max" => {
                if w.max.is_some() {
                    return Err(bad(ARG_TWICE));
                }
                let m = value()?;
                w.max = Some(m.parse::<u64>().map_err(|_| bad(ARG_MAX))?);
                continue;
            }
            _ => return Err(bad(ARG_UNKNOWN)),
        };
        if slot.is_some() {
            return Err(bad(ARG_TWICE));
        }
        *slot = Some(value()?);
    }
    build(w)
}

/// The fields a command takes, by name.
fn takes(command: &str) -> &'static [&'static str] {
    match command {
        "mfes" | "memberships" | "igmp" => &["after", "max"],
        "mroute-add" => &["group", "source", "from", "to"],
        "mroute-del" => &["group", "source", "from"],
        "route-add" => &["prefix", "interface", "upstream"],
        "route-del" => &["prefix"],
        "join" | "leave" => &["interface", "group", "source"],
        _ => &[],
    }
}

fn address(v: Option<&str>, what: &'static str) -> Result<Option<IpAddr>, RequestError> {
    v.map(|v| v.parse().map_err(|_| bad(what))).transpose()
}

fn ifname(v: &str) -> Result<String, RequestError> {
    crate::config::check_ifname(v).map_err(|_| bad(ARG_IFNAME))?;
    Ok(v.to_string())
}

fn build(w: WireRequest) -> Result<Request, RequestError> {
    if !COMMANDS.contains(&w.command.as_str()) {
        return Err(RequestError::UnknownCommand);
    }
    let given = [
        ("after", w.after.is_some()),
        ("max", w.max.is_some()),
        ("group", w.group.is_some()),
        ("source", w.source.is_some()),
        ("from", w.from.is_some()),
        ("to", w.to.is_some()),
        ("interface", w.interface.is_some()),
        ("prefix", w.prefix.is_some()),
        ("upstream", w.upstream.is_some()),
    ];
    let allowed = takes(&w.command);
    if given.iter().any(|(k, on)| *on && !allowed.contains(k)) {
        return Err(bad(ARG_NOT_TAKEN));
    }
    let page = match w.max {
        None => DEFAULT_PAGE,
        Some(m) => usize::try_from(m)
            .ok()
            .filter(|m| (1..=MAX_PAGE).contains(m))
            .ok_or(bad(ARG_MAX))?,
    };
    let group = || address(w.group.as_deref(), ARG_GROUP)?.ok_or(bad(ARG_NEEDS_GROUP));
    let source = || address(w.source.as_deref(), ARG_SOURCE);
    let from = || w.from.as_deref().map(ifname).transpose();
    let interface = || ifname(w.interface.as_deref().ok_or(bad(ARG_NEEDS_INTERFACE))?);
    let prefix = || -> Result<Prefix, RequestError> {
        w.prefix
            .as_deref()
            .ok_or(bad(ARG_NEEDS_PREFIX))?
            .parse()
            .map_err(|()| bad(ARG_PREFIX))
    };
    let join = || -> Result<JoinSpec, RequestError> {
        Ok(JoinSpec {
            interface: interface()?,
            group: group()?,
            source: source()?,
        })
    };
    let command = match w.command.as_str() {
        "status" => Command::Status,
        "interfaces" => Command::Interfaces,
        "events" => Command::Events,
        "routes" => Command::Routes,
        "flush" => Command::Flush,
        "reload" => Command::Reload,
        "mfes" => Command::Mfes {
            after: w.after.as_deref().map(parse_sg).transpose()?,
            max: page,
        },
        "memberships" => Command::Memberships {
            after: w.after.as_deref().map(parse_membership_key).transpose()?,
            max: page,
        },
        "igmp" => Command::Igmp {
            after: w.after.as_deref().map(parse_igmp_key).transpose()?,
            max: page,
        },
        "mroute-add" => {
            let to =
                w.to.as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|t| ifname(t))
                    .collect::<Result<Vec<_>, _>>()?;
            if to.is_empty() {
                return Err(bad(ARG_NEEDS_TO));
            }
            Command::MrouteAdd(MrouteSpec {
                from: from()?,
                source: source()?,
                group: group()?,
                to,
            })
        }
        "mroute-del" => Command::MrouteDel(MrouteKey {
            from: from()?,
            source: source()?,
            group: group()?,
        }),
        "route-add" => Command::RouteAdd(RouteSpec {
            prefix: prefix()?,
            interface: interface()?,
            upstream: address(w.upstream.as_deref(), ARG_UPSTREAM)?,
        }),
        "route-del" => Command::RouteDel(prefix()?),
        "join" => Command::Join(join()?),
        _ => Command::Leave(join()?),
    };
    Ok(Request {
        command,
        json: w.json,
    })
}

fn parse_sg(s: &str) -> Result<(IpAddr, IpAddr), RequestError> {
    let (a, b) = s.split_once(',').ok_or(bad(ARG_AFTER_MFES))?;
    let a: IpAddr = a.parse().map_err(|_| bad(ARG_AFTER_MFES))?;
    let b: IpAddr = b.parse().map_err(|_| bad(ARG_AFTER_MFES))?;
    if a.is_ipv4() != b.is_ipv4() {
        return Err(bad(ARG_AFTER_MFES));
    }
    Ok((a, b))
}

fn parse_igmp_key(s: &str) -> Result<(u32, IpAddr), RequestError> {
    let (i, g) = s.split_once(',').ok_or(bad(ARG_AFTER_IGMP))?;
    let i = i.parse().map_err(|_| bad(ARG_AFTER_IGMP))?;
    let g = g.parse().map_err(|_| bad(ARG_AFTER_IGMP))?;
    Ok((i, g))
}

fn parse_membership_key(s: &str) -> Result<MembershipKey, RequestError> {
    let e = || bad(ARG_AFTER_MEMBERSHIPS);
    let mut it = s.split(',');
    let mut next = || it.next().ok_or_else(e);
    let ifindex = next()?.parse().map_err(|_| e())?;
    let group: IpAddr = next()?.parse().map_err(|_| e())?;
    let source: IpAddr = next()?.parse().map_err(|_| e())?;
    if group.is_ipv4() != source.is_ipv4() {
        return Err(e());
    }
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

/// Whether mgmd did what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Done: `result` holds the answer.
    Ok,
    /// Refused or failed: `error` says why, `result` is null.
    Error,
}

/// Every reply: `{"schema": 2, "status": "ok"|"error", "error": null|"why", "result": ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// The reply shape's version, [`SCHEMA`].
    pub schema: u32,
    /// Success or not: the only thing a client looks at to tell.
    pub status: Status,
    /// Why it failed (null on success).
    pub error: Option<String>,
    /// The answer (null on failure).
    pub result: Option<T>,
}

impl<T> Envelope<T> {
    /// The result of a reply that says ok, or the error it carries.
    ///
    /// # Errors
    /// The reply's `error` (or a fixed message when it has none, or says ok without a
    /// result).
    pub fn into_result(self) -> Result<T, String> {
        match (self.status, self.result) {
            (Status::Ok, Some(r)) => Ok(r),
            (Status::Ok, None) => Err("mgmd said ok without a result".into()),
            (Status::Error, _) => Err(self
                .error
                .unwrap_or_else(|| "mgmd said error without saying why".into())),
        }
    }
}

/// The result of a request without `json`: text for a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    /// The text, lines ending in newlines.
    pub text: String,
}

/// The result of a `mfes` or `memberships` request: one page, as rows (`json`) or text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page<R> {
    /// The rows (with `json`; null otherwise).
    pub rows: Option<Vec<R>>,
    /// The rows as text (without `json`; null otherwise); the first page has a header.
    pub text: Option<String>,
    /// Whether rows follow this page.
    pub more: bool,
    /// The key to ask the next page `after` (null when the page is empty).
    pub next: Option<String>,
}

/// The result of a command that changes mgmd's state (`mroute-add`, `reload`, ...): what
/// changed, a line each (empty when nothing had to), and what waits for a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changed {
    /// What changed.
    pub changes: Vec<String>,
    /// Settings that changed in the file but take effect only when mgmd starts again.
    pub restart_needed: Vec<String>,
}

impl Changed {
    /// As text: a line per change, or `nothing changed`.
    pub fn text(&self) -> String {
        let mut t: String = self.changes.iter().map(|c| format!("{c}\n")).collect();
        if self.changes.is_empty() {
            t = "nothing changed\n".into();
        }
        for r in &self.restart_needed {
            t += &format!("not applied until mgmd restarts: {r}\n");
        }
        t
    }
}

/// The ok reply line carrying `result`, newline included.
pub fn ok_reply<T: Serialize>(result: &T) -> String {
    let e = Envelope {
        schema: SCHEMA,
        status: Status::Ok,
        error: None,
        result: Some(result),
    };
    match serde_json::to_string(&e) {
        Ok(s) => s + "\n",
        Err(err) => error_reply(&format!("internal: reply not serializable: {err}")),
    }
}

/// The error reply line carrying `message`, newline included.
///
/// ```
/// use mgmd::control::{error_reply, Envelope, Status};
/// let e: Envelope<serde_json::Value> = serde_json::from_str(&error_reply("no")).unwrap();
/// assert_eq!((e.status, e.error.as_deref(), e.result), (Status::Error, Some("no"), None));
/// ```
pub fn error_reply(message: &str) -> String {
    let e: Envelope<()> = Envelope {
        schema: SCHEMA,
        status: Status::Error,
        error: Some(message.to_string()),
        result: None,
    };
    serde_json::to_string(&e).unwrap_or_default() + "\n"
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
    fn ipv6_addresses_prefixes_and_keys_are_taken() {
        let r = parse_request(b"mroute-add group ff3e::1:3 source 2001:db8:1::2 to rrcv1").unwrap();
        let Command::MrouteAdd(m) = r.command else {
            panic!("{r:?}")
        };
        assert_eq!(
            (m.source, m.group),
            (Some(a("2001:db8:1::2")), a("ff3e::1:3"))
        );
        let r = parse_request(b"route-add prefix 2001:db8::/32 interface rsnd upstream fe80::1")
            .unwrap();
        let Command::RouteAdd(rt) = r.command else {
            panic!("{r:?}")
        };
        assert_eq!(
            (rt.prefix.to_string(), rt.upstream),
            ("2001:db8::/32".into(), Some(a("fe80::1")))
        );
        assert!(parse_request(b"route-del prefix 2001:db8::/128").is_ok());
        assert_eq!(refused(b"route-del prefix 2001:db8::/129"), bad(ARG_PREFIX));
        assert_eq!(
            refused(b"route-del prefix 198.51.100.0/33"),
            bad(ARG_PREFIX)
        );
        let r = parse_request(b"mfes after ::,::").unwrap();
        assert_eq!(
            r.command,
            Command::Mfes {
                after: Some((a("::"), a("::"))),
                max: DEFAULT_PAGE
            }
        );
        assert_eq!(
            refused(b"mfes after 198.51.100.2,ff0e::1"),
            bad(ARG_AFTER_MFES)
        );
        assert!(parse_request(b"memberships after 0,::,::,0,0").is_ok());
        assert_eq!(
            refused(b"memberships after 3,ff0e::1,0.0.0.0,1,1"),
            bad(ARG_AFTER_MEMBERSHIPS)
        );
        // A request line prints back as itself.
        let r = parse_request(b"join interface rrcv1 group ff0e::1 source 2001:db8:1::2").unwrap();
        assert_eq!(parse_request(r.to_line().as_bytes()).unwrap(), r);
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
    fn igmp_pages_take_an_interface_and_group_key() {
        // The plain forms still parse: the first page, of the default size.
        let first = Command::Igmp {
            after: None,
            max: DEFAULT_PAGE,
        };
        assert_eq!(parse_request(b"igmp").unwrap().command, first);
        assert_eq!(
            parse_request(br#"{"command":"igmp","json":true}"#)
                .unwrap()
                .command,
            first
        );
        assert_eq!(
            parse_request(b"igmp after 7,239.1.2.3 max 5")
                .unwrap()
                .command,
            Command::Igmp {
                after: Some((7, a("239.1.2.3"))),
                max: 5
            }
        );
        // MLD's listing starts at `0,::`.
        assert_eq!(
            parse_request(br#"{"command":"igmp","after":"0,::"}"#)
                .unwrap()
                .command,
            Command::Igmp {
                after: Some((0, a("::"))),
                max: DEFAULT_PAGE
            }
        );
        for k in [
            &b"igmp after 7"[..],
            b"igmp after 7,",
            b"igmp after -1,239.1.2.3",
            b"igmp after 4294967296,239.1.2.3",
            b"igmp after 7,239.1.2.3,0.0.0.0",
            b"igmp after rrcv1,239.1.2.3",
        ] {
            assert_eq!(refused(k), bad(ARG_AFTER_IGMP), "{k:?}");
        }
        assert_eq!(refused(b"igmp max 501"), bad(ARG_MAX));
        assert_eq!(refused(b"igmp group 239.1.2.3"), bad(ARG_NOT_TAKEN));
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
            bad(ARG_NOT_TAKEN)
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

    fn a(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// One request of each command, with every field it takes.
    fn every_command() -> Vec<Request> {
        let j = JoinSpec {
            interface: "rrcv1".into(),
            group: a("239.1.2.3"),
            source: Some(a("198.51.100.2")),
        };
        let commands = vec![
            Command::Status,
            Command::Interfaces,
            Command::Events,
            Command::Igmp {
                after: None,
                max: DEFAULT_PAGE,
            },
            Command::Igmp {
                after: Some((4, a("ff0e::1"))),
                max: 3,
            },
            Command::Routes,
            Command::Flush,
            Command::Reload,
            Command::Mfes {
                after: Some((a("198.51.100.2"), a("239.1.2.3"))),
                max: 7,
            },
            Command::Memberships {
                after: Some(MembershipKey {
                    ifindex: 4,
                    group: a("239.1.2.3"),
                    source: a("0.0.0.0"),
                    protocol: 1,
                    component: 2,
                }),
                max: MAX_PAGE,
            },
            Command::MrouteAdd(MrouteSpec {
                from: Some("rsnd".into()),
                source: Some(a("198.51.100.2")),
                group: a("239.1.2.3"),
                to: vec!["rrcv1".into(), "rrcv2".into()],
            }),
            Command::MrouteAdd(MrouteSpec {
                from: None,
                source: None,
                group: a("239.1.2.3"),
                to: vec!["rrcv1".into()],
            }),
            Command::MrouteDel(MrouteKey {
                from: Some("rsnd".into()),
                source: None,
                group: a("239.1.2.3"),
            }),
            Command::RouteAdd(RouteSpec {
                prefix: Prefix {
                    address: a("198.51.100.0"),
                    len: 24,
                },
                interface: "rsnd".into(),
                upstream: Some(a("198.51.100.254")),
            }),
            Command::RouteDel(Prefix {
                address: a("0.0.0.0"),
                len: 0,
            }),
            Command::Join(j.clone()),
            Command::Leave(JoinSpec { source: None, ..j }),
        ];
        let mut v = Vec::new();
        for c in commands {
            v.push(Request {
                command: c.clone(),
                json: false,
            });
            v.push(Request {
                command: c,
                json: true,
            });
        }
        v
    }

    #[test]
    fn every_command_round_trips_through_both_forms() {
        let all = every_command();
        let names: std::collections::BTreeSet<&str> =
            all.iter().map(|r| r.command.name()).collect();
        assert_eq!(names.len(), COMMANDS.len(), "a command is left out");
        for r in all {
            assert_eq!(parse_request(r.to_line().as_bytes()).as_ref(), Ok(&r));
            assert_eq!(parse_request(r.to_text().as_bytes()).as_ref(), Ok(&r));
            assert!(r.to_line().starts_with('{') && r.to_line().ends_with("}\n"));
        }
    }

    #[test]
    fn the_new_commands_check_their_fields() {
        assert_eq!(
            parse_request(b"mroute-add group 239.1.2.3 from rsnd to a to b")
                .unwrap()
                .command,
            Command::MrouteAdd(MrouteSpec {
                from: Some("rsnd".into()),
                source: None,
                group: a("239.1.2.3"),
                to: vec!["a".into(), "b".into()]
            })
        );
        assert_eq!(
            refused(b"mroute-add group 239.1.2.3 from rsnd"),
            bad(ARG_NEEDS_TO)
        );
        assert_eq!(refused(b"mroute-add to rrcv1"), bad(ARG_NEEDS_GROUP));
        assert_eq!(
            refused(b"mroute-add group 239.1.2.300 to rrcv1"),
            bad(ARG_GROUP)
        );
        assert_eq!(
            refused(b"mroute-del group 239.1.2.3 to rrcv1"),
            bad(ARG_NOT_TAKEN)
        );
        assert_eq!(
            refused(b"route-add prefix 198.51.100.0/33 interface rsnd"),
            bad(ARG_PREFIX)
        );
        assert_eq!(
            refused(b"route-add prefix 198.51.100.0/+8 interface x"),
            bad(ARG_PREFIX)
        );
        assert_eq!(
            refused(b"route-add prefix 198.51.100.0/24"),
            bad(ARG_NEEDS_INTERFACE)
        );
        assert_eq!(refused(b"route-del"), bad(ARG_NEEDS_PREFIX));
        assert_eq!(
            refused(b"join interface an-interface-name-too-long group 239.1.2.3"),
            bad(ARG_IFNAME)
        );
        assert_eq!(
            refused(br#"{"command":"join","interface":"a b","group":"239.1.2.3"}"#),
            bad(ARG_IFNAME)
        );
        assert_eq!(
            refused(b"join interface x group 239.1.2.3 group 239.1.2.4"),
            bad(ARG_TWICE)
        );
        assert_eq!(
            refused(br#"{"command":"mroute-add","group":"239.1.2.3","to":"rrcv1"}"#),
            RequestError::BadJsonShape
        );
        assert_eq!(refused(b"flush everything-please"), bad(ARG_UNKNOWN));
        assert_eq!(refused(b"reload after 1,2"), bad(ARG_NOT_TAKEN));
        // Host bits are the configuration check's to refuse, with its message.
        assert!(parse_request(b"route-add prefix 198.51.100.7/24 interface rsnd").is_ok());
    }

    #[test]
    fn replies_are_envelopes_whose_status_decides() {
        let ok: Envelope<Text> = serde_json::from_str(&ok_reply(&Text {
            text: "error\n".into(),
        }))
        .unwrap();
        assert_eq!((ok.schema, ok.status), (SCHEMA, Status::Ok));
        assert_eq!(ok.into_result().unwrap().text, "error\n");
        let e: Envelope<Text> = serde_json::from_str(&error_reply("it failed")).unwrap();
        assert_eq!(e.into_result(), Err("it failed".to_string()));
        let v: serde_json::Value = serde_json::from_str(&error_reply("x")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schema": SCHEMA, "status": "error", "error": "x", "result": null})
        );
        // An ok status without a result, or an unknown status, is no success.
        let empty: Envelope<Text> =
            serde_json::from_str(r#"{"schema":1,"status":"ok","error":null,"result":null}"#)
                .unwrap();
        assert!(empty.into_result().is_err());
        assert!(serde_json::from_str::<Envelope<Text>>(
            r#"{"schema":1,"status":"fine","error":null,"result":null}"#
        )
        .is_err());
    }
}
