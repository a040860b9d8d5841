//! MLDv1 and MLDv2 (RFC 2710, RFC 3810): the ICMPv6 message codec and the address checks of
//! the MLD router, [`crate::MldRouter`] — the same state machine as IGMP's, over IPv6.
//!
//! | ICMPv6 type | message | [`Message`] |
//! |---|---|---|
//! | 130 | Multicast Listener Query (MLDv1: 24 bytes, MLDv2: 28 bytes and more) | [`Message::Query`] |
//! | 131 | MLDv1 Multicast Listener Report | [`Message::V1Report`] |
//! | 132 | MLDv1 Multicast Listener Done | [`Message::V1Done`] |
//! | 143 | MLDv2 Multicast Listener Report | [`Message::V2Report`] |
//!
//! The six MLDv2 record types are IGMPv3's, with the same numbers, in a
//! [`GroupRecord<Ipv6Addr>`](crate::GroupRecord).
//!
//! # The checksum
//!
//! The ICMPv6 checksum covers a pseudo-header with the IPv6 source and destination, which the
//! message alone does not carry. On a raw `IPPROTO_ICMPV6` socket the Linux kernel computes
//! the checksum of every message sent and verifies the checksum of every message received,
//! dropping bad ones before they are read (RFC 3542 section 3.1: always, with no
//! `IPV6_CHECKSUM` to set). So this codec builds messages with a zero checksum field for the
//! kernel to fill, [`parse`] does not look at the field, and the router takes what the socket
//! delivered. A caller that gets MLD some other way (a packet socket, a capture) checks it
//! first with [`checksum`], and [`set_checksum`] fills it for sending the same way.
//!
//! # The IP header
//!
//! Every MLD message is sent from a link-local address (a report also from `::` while the
//! host's link-local address is tentative, RFC 3590), with hop limit 1 and a Router Alert
//! hop-by-hop option (RFC 2711, value 0). The router drops what breaks these rules: the hop
//! limit and the option as [`crate::InputPolicy`] says (for MLD, `require_ttl_one` is about
//! the hop limit), the source always.
//!
//! ```
//! use mgm_igmp::mld::{encode_v1, parse, Message, V1_REPORT};
//! use std::net::Ipv6Addr;
//! let g: Ipv6Addr = "ff0e::1".parse().unwrap();
//! let report = encode_v1(V1_REPORT, g);
//! assert_eq!(report.len(), 24);
//! assert_eq!(parse(&report), Ok(Message::V1Report(g)));
//! assert_eq!(parse(&report[..20]).unwrap_err().to_string(),
//!            "MLD message of 20 bytes, too short for a type 131 message (24 bytes)");
//! ```

use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use mgm::Family;

use crate::{decode_code, decode_float, encode_code, encode_float, GroupRecord, Query};

/// ff02::1, all nodes: destination of general queries.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// ff02::2, all routers: destination of MLDv1 done messages.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ff02::16, all MLDv2-capable routers: destination of MLDv2 reports.
pub const MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// ICMPv6 type of a Multicast Listener Query (both versions).
pub const QUERY: u8 = 130;
/// ICMPv6 type of an MLDv1 report.
pub const V1_REPORT: u8 = 131;
/// ICMPv6 type of an MLDv1 done.
pub const V1_DONE: u8 = 132;
/// ICMPv6 type of an MLDv2 report.
pub const V2_REPORT: u8 = 143;

/// The ICMPv6 header and the fields every MLD message has before its address: type, code,
/// checksum, maximum response code, reserved.
const HEADER: usize = 8;
/// An MLDv1 message, and the part an MLDv2 query shares with it.
const V1_LEN: usize = HEADER + 16;
/// The fixed part of an MLDv2 query.
const V2_QUERY_LEN: usize = V1_LEN + 4;
/// The fixed part of an MLDv2 multicast address record.
const RECORD_LEN: usize = 4 + 16;

/// A parsed MLD message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A query: `version` 1 for the 24-byte MLDv1 form, 2 for MLDv2.
    Query(Query<Ipv6Addr>),
    /// An MLDv1 report for the address.
    V1Report(Ipv6Addr),
    /// An MLDv1 done for the address.
    V1Done(Ipv6Addr),
    /// An MLDv2 report.
    V2Report(Vec<GroupRecord<Ipv6Addr>>),
}

/// Why a message is not MLD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No bytes at all.
    Empty,
    /// Shorter than its type needs.
    Truncated {
        /// The ICMPv6 type.
        kind: u8,
        /// The bytes there are.
        len: usize,
        /// The bytes the type needs.
        needed: usize,
    },
    /// A query of 25 to 27 bytes: neither MLDv1 (24) nor MLDv2 (28 and more), which RFC 3810
    /// section 8.1 says to ignore.
    QueryLength(usize),
    /// An MLDv2 query whose sources run past its end.
    QuerySources {
        /// The number of sources it claims.
        count: usize,
        /// The bytes there are.
        len: usize,
    },
    /// An MLDv2 report whose record runs past its end.
    RecordTruncated {
        /// The record's index, from 0.
        index: usize,
        /// The records the report claims.
        count: usize,
        /// The bytes there are.
        len: usize,
    },
    /// An ICMPv6 type that is not MLD.
    UnknownType(u8),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Empty => f.write_str("empty MLD message"),
            ParseError::Truncated { kind, len, needed } => write!(
                f,
                "MLD message of {len} bytes, too short for a type {kind} message ({needed} bytes)"
            ),
            ParseError::QueryLength(len) => write!(
                f,
                "MLD query of {len} bytes: neither MLDv1 (24 bytes) nor MLDv2 (28 bytes or more)"
            ),
            ParseError::QuerySources { count, len } => write!(
                f,
                "MLDv2 query of {len} bytes claims {count} sources ({} bytes)",
                V2_QUERY_LEN + 16 * count
            ),
            ParseError::RecordTruncated { index, count, len } => write!(
                f,
                "MLDv2 report of {len} bytes ends inside record {} of {count}",
                index + 1
            ),
            ParseError::UnknownType(t) => write!(f, "ICMPv6 type {t} is not an MLD message"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Encodes a delay as an MLDv2 maximum response code (RFC 3810 5.1.3): milliseconds, exact
/// below 32,768 ms, then a 3-bit exponent and 12-bit mantissa (rounded down; the longest
/// is about 8,387 s).
fn encode_mrc(ms: u128) -> u16 {
    encode_float(ms, 12) as u16
}

/// The delay an MLDv2 maximum response code stands for, in milliseconds.
fn decode_mrc(c: u16) -> u64 {
    decode_float(c.into(), 12)
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&b[..16]);
    Ipv6Addr::from(o)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The `count` addresses from `at` (the caller has checked they are there).
fn addrs(b: &[u8], at: usize, count: usize) -> Vec<Ipv6Addr> {
    b[at..at + 16 * count].chunks_exact(16).map(addr).collect()
}

impl Query<Ipv6Addr> {
    /// The MLD query message: the 24-byte MLDv1 form when `version` is 1 (only the group
    /// and the maximum response delay, up to 65,535 ms), else MLDv2 with the sources, S
    /// flag, QRV and QQIC. The checksum is left zero for the kernel (see the module
    /// documentation).
    ///
    /// ```
    /// use mgm_igmp::{mld, Query};
    /// use std::{net::Ipv6Addr, time::Duration};
    /// let g: Ipv6Addr = "ff0e::1".parse().unwrap();
    /// let s: Ipv6Addr = "2001:db8::2".parse().unwrap();
    /// let q = Query { group: g, sources: vec![s], max_response: Duration::from_secs(1),
    ///                 s_flag: true, qrv: 2, qqi: Duration::from_secs(125), version: 2 };
    /// let bytes = q.encode();
    /// assert_eq!(bytes.len(), 28 + 16);
    /// assert_eq!((bytes[0], bytes[4], bytes[5]), (mld::QUERY, 0x03, 0xe8), "1,000 ms");
    /// assert_eq!(mld::parse(&bytes), Ok(mld::Message::Query(q)));
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let ms = self.max_response.as_millis();
        let code = if self.version == 1 {
            ms.min(u128::from(u16::MAX)) as u16
        } else {
            encode_mrc(ms)
        };
        let mut b = Vec::with_capacity(V2_QUERY_LEN + 16 * self.sources.len());
        b.extend_from_slice(&[QUERY, 0, 0, 0]);
        b.extend_from_slice(&code.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.group.octets());
        if self.version == 1 {
            return b;
        }
        b.push((u8::from(self.s_flag) << 3) | self.qrv.min(7));
        b.push(encode_code(self.qqi.as_secs().into()));
        // More sources than fit in a count cannot go in one query: the rest are not sent.
        let n = self.sources.len().min(usize::from(u16::MAX));
        b.extend_from_slice(&(n as u16).to_be_bytes());
        for s in &self.sources[..n] {
            b.extend_from_slice(&s.octets());
        }
        b
    }
}

/// Parses an MLD message (the ICMPv6 message, from its type byte); the error says what is
/// wrong. The checksum is not verified (see the module documentation); bytes after the
/// message's last field are ignored, as RFC 2710 and RFC 3810 ask.
///
/// ```
/// use mgm_igmp::mld::{encode_v2_report, parse, Message, ParseError};
/// use mgm_igmp::GroupRecord;
/// use std::net::Ipv6Addr;
/// let join = GroupRecord { kind: 4, group: "ff0e::1".parse::<Ipv6Addr>().unwrap(), sources: vec![] };
/// let b = encode_v2_report(&[join.clone()]);
/// assert_eq!(parse(&b), Ok(Message::V2Report(vec![join])));
/// assert_eq!(parse(&b[..20]), Err(ParseError::RecordTruncated { index: 0, count: 1, len: 20 }));
/// assert_eq!(parse(&[135, 0, 0, 0]), Err(ParseError::UnknownType(135)), "neighbour solicitation");
/// ```
///
/// # Errors
/// [`ParseError`]: too short for its type, a query of an impossible length, sources or
/// records past the end, or an ICMPv6 type that is not MLD.
pub fn parse(b: &[u8]) -> Result<Message, ParseError> {
    let Some(&kind) = b.first() else {
        return Err(ParseError::Empty);
    };
    let short = |needed: usize| ParseError::Truncated {
        kind,
        len: b.len(),
        needed,
    };
    if b.len() < HEADER {
        return Err(if matches!(kind, QUERY | V1_REPORT | V1_DONE) {
            short(V1_LEN)
        } else if kind == V2_REPORT {
            short(HEADER)
        } else {
            ParseError::UnknownType(kind)
        });
    }
    match kind {
        QUERY => parse_query(b),
        V1_REPORT | V1_DONE => {
            if b.len() < V1_LEN {
                return Err(short(V1_LEN));
            }
            let g = addr(&b[HEADER..]);
            Ok(if kind == V1_REPORT {
                Message::V1Report(g)
            } else {
                Message::V1Done(g)
            })
        }
        V2_REPORT => parse_v2_report(b),
        other => Err(ParseError::UnknownType(other)),
    }
}

fn parse_query(b: &[u8]) -> Result<Message, ParseError> {
    let len = b.len();
    if len < V1_LEN {
        return Err(ParseError::Truncated {
            kind: QUERY,
            len,
            needed: V1_LEN,
        });
    }
    let group = addr(&b[HEADER..]);
    let code = be16(b, 4);
    if len == V1_LEN {
        return Ok(Message::Query(Query {
            group,
            sources: Vec::new(),
            max_response: Duration::from_millis(code.into()),
            s_flag: false,
            qrv: 0,
            qqi: Duration::ZERO,
            version: 1,
        }));
    }
    if len < V2_QUERY_LEN {
        return Err(ParseError::QueryLength(len));
    }
    let count = usize::from(be16(b, V1_LEN + 2));
    if len < V2_QUERY_LEN + 16 * count {
        return Err(ParseError::QuerySources { count, len });
    }
    Ok(Message::Query(Query {
        group,
        sources: addrs(b, V2_QUERY_LEN, count),
        max_response: Duration::from_millis(decode_mrc(code)),
        s_flag: b[V1_LEN] & 0x08 != 0,
        qrv: b[V1_LEN] & 0x07,
        qqi: Duration::from_secs(decode_code(b[V1_LEN + 1])),
        version: 2,
    }))
}

fn parse_v2_report(b: &[u8]) -> Result<Message, ParseError> {
    let len = b.len();
    let count = usize::from(be16(b, 6));
    // The packet bounds the room, not its count field.
    let mut records = Vec::with_capacity(count.min(len / RECORD_LEN));
    let mut off = HEADER;
    for index in 0..count {
        let truncated = ParseError::RecordTruncated { index, count, len };
        if len < off + RECORD_LEN {
            return Err(truncated);
        }
        let sources = usize::from(be16(b, off + 2));
        let aux = usize::from(b[off + 1]) * 4;
        let end = off + RECORD_LEN + 16 * sources + aux;
        if len < end {
            return Err(truncated);
        }
        records.push(GroupRecord {
            kind: b[off],
            group: addr(&b[off + 4..]),
            sources: addrs(b, off + RECORD_LEN, sources),
        });
        off = end;
    }
    Ok(Message::V2Report(records))
}

/// Encodes an MLDv1 report ([`V1_REPORT`]) or done ([`V1_DONE`]) for `group`, with a zero
/// checksum for the kernel.
///
/// ```
/// use mgm_igmp::mld::{encode_v1, V1_DONE};
/// let done = encode_v1(V1_DONE, "ff0e::1".parse().unwrap());
/// assert_eq!(&done[..8], &[132, 0, 0, 0, 0, 0, 0, 0]);
/// assert_eq!(&done[8..10], &[0xff, 0x0e]);
/// ```
pub fn encode_v1(kind: u8, group: Ipv6Addr) -> Vec<u8> {
    let mut b = vec![kind, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(&group.octets());
    b
}

/// Encodes an MLDv2 report, with a zero checksum for the kernel. More records, or more
/// sources in a record, than a 16-bit count holds are not sent.
///
/// ```
/// use mgm_igmp::{mld, GroupRecord};
/// use std::net::Ipv6Addr;
/// let g: Ipv6Addr = "ff3e::8000:1".parse().unwrap();
/// let s: Ipv6Addr = "2001:db8::2".parse().unwrap();
/// let b = mld::encode_v2_report(&[GroupRecord { kind: 5, group: g, sources: vec![s] }]);
/// assert_eq!(b.len(), 8 + 20 + 16);
/// assert_eq!((b[0], u16::from_be_bytes([b[6], b[7]])), (mld::V2_REPORT, 1));
/// assert_eq!(&b[8..12], &[5, 0, 0, 1], "ALLOW, no aux data, one source");
/// ```
pub fn encode_v2_report(records: &[GroupRecord<Ipv6Addr>]) -> Vec<u8> {
    let records = &records[..records.len().min(usize::from(u16::MAX))];
    let mut b = vec![V2_REPORT, 0, 0, 0, 0, 0];
    b.extend_from_slice(&(records.len() as u16).to_be_bytes());
    for r in records {
        let n = r.sources.len().min(usize::from(u16::MAX));
        b.extend_from_slice(&[r.kind, 0]);
        b.extend_from_slice(&(n as u16).to_be_bytes());
        b.extend_from_slice(&r.group.octets());
        for s in &r.sources[..n] {
            b.extend_from_slice(&s.octets());
        }
    }
    b
}

/// The ICMPv6 checksum of `msg` (RFC 4443 2.3) sent from `source` to `destination`: the
/// Internet checksum over the pseudo-header (source, destination, length, next header 58)
/// and the message. A message carrying a correct checksum sums to 0.
///
/// ```
/// use mgm_igmp::mld::{checksum, encode_v1, set_checksum, V1_REPORT};
/// use std::net::Ipv6Addr;
/// let (src, g): (Ipv6Addr, Ipv6Addr) = ("fe80::2".parse().unwrap(), "ff0e::1".parse().unwrap());
/// let mut report = encode_v1(V1_REPORT, g);
/// set_checksum(&mut report, src, g);
/// assert_ne!(&report[2..4], &[0, 0]);
/// assert_eq!(checksum(&report, src, g), 0);
/// assert_ne!(checksum(&report, "fe80::3".parse().unwrap(), g), 0, "another source");
/// ```
pub fn checksum(msg: &[u8], source: Ipv6Addr, destination: Ipv6Addr) -> u16 {
    let mut pseudo = Vec::with_capacity(40 + msg.len());
    pseudo.extend_from_slice(&source.octets());
    pseudo.extend_from_slice(&destination.octets());
    pseudo.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(msg);
    crate::checksum(&pseudo)
}

/// Fills the checksum field of `msg` (at least 4 bytes; shorter is left alone) for sending
/// from `source` to `destination` where the kernel does not.
pub fn set_checksum(msg: &mut [u8], source: Ipv6Addr, destination: Ipv6Addr) {
    if msg.len() < 4 {
        return;
    }
    msg[2..4].fill(0);
    let c = checksum(msg, source, destination);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
}

/// True for a link-local unicast address (fe80::/10): the source of every MLD message.
///
/// ```
/// use mgm_igmp::mld::is_link_local;
/// assert!(is_link_local("fe80::1".parse().unwrap()));
/// assert!(!is_link_local("2001:db8::1".parse().unwrap()));
/// ```
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// True for a group the MLD router tracks: a multicast address of a scope wider than the
/// link (RFC 4291 2.7: 3 realm-local up to 0xe global). Scopes 0 and 0xf are reserved, 1
/// (interface-local) and 2 (link-local, with ff02::1 and the solicited-node groups) are
/// never routed.
///
/// ```
/// use mgm_igmp::mld::is_routable_group;
/// assert!(is_routable_group("ff0e::1".parse().unwrap()));
/// assert!(is_routable_group("ff3e::8000:1".parse().unwrap()), "SSM, global scope");
/// assert!(!is_routable_group("ff02::1:ff00:1".parse().unwrap()), "solicited-node");
/// assert!(!is_routable_group("2001:db8::1".parse().unwrap()));
/// ```
pub fn is_routable_group(g: Ipv6Addr) -> bool {
    g.is_multicast() && (3..=0xe).contains(&(g.octets()[1] & 0x0f))
}

/// True when `a` may be a source in an MLDv2 record: a unicast address that is not
/// unspecified, loopback or link-local (a link-local source's traffic is never routed).
///
/// ```
/// use mgm_igmp::mld::is_valid_source;
/// assert!(is_valid_source("2001:db8::2".parse().unwrap()));
/// for bad in ["::", "::1", "fe80::2", "ff0e::1"] {
///     assert!(!is_valid_source(bad.parse().unwrap()), "{bad}");
/// }
/// ```
pub fn is_valid_source(a: Ipv6Addr) -> bool {
    a.is_source() && !is_link_local(a)
}

#[cfg(test)]
mod tests;
