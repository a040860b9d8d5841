//! The one error type of the crate, and the Win32 codes MGM would have returned.

use std::fmt;
use std::net::IpAddr;

use crate::addr::InterfaceId;

/// `NO_ERROR`'s siblings: the Win32 codes MGM returns (spec section 2).
pub mod win32 {
    /// `ERROR_NOT_ENOUGH_MEMORY`
    pub const NOT_ENOUGH_MEMORY: u32 = 8;
    /// `ERROR_INVALID_PARAMETER`
    pub const INVALID_PARAMETER: u32 = 87;
    /// `ERROR_INSUFFICIENT_BUFFER`
    pub const INSUFFICIENT_BUFFER: u32 = 122;
    /// `ERROR_ALREADY_EXISTS`
    pub const ALREADY_EXISTS: u32 = 183;
    /// `ERROR_MORE_DATA`
    pub const MORE_DATA: u32 = 234;
    /// `ERROR_NO_MORE_ITEMS`
    pub const NO_MORE_ITEMS: u32 = 259;
    /// `ERROR_CAN_NOT_COMPLETE`
    pub const CAN_NOT_COMPLETE: u32 = 1003;
    /// `ERROR_NOT_FOUND`
    pub const NOT_FOUND: u32 = 1168;
}

/// Which kind of handle was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum HandleKind {
    /// A protocol registration handle.
    Protocol,
    /// A group-enumeration handle.
    Enumeration,
}

/// Everything that can go wrong, each variant saying what was wrong.
///
/// [`Error::win32_code`] gives the code MGM returns in the same situation.
///
/// ```
/// use mgm::Error;
/// let e = Error::NoSuchMfe { source: "198.51.100.2".parse().unwrap(), group: "239.1.1.1".parse().unwrap() };
/// assert_eq!(e.win32_code(), 1168);
/// assert_eq!(e.to_string(), "no forwarding entry for (198.51.100.2, 239.1.1.1)");
/// ```
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Error {
    /// A handle that is stale (its protocol deregistered or its enumeration ended), forged, or
    /// of the wrong kind.
    InvalidHandle {
        /// The kind of handle the call expected.
        kind: HandleKind,
        /// The raw value passed.
        raw: u64,
    },
    /// A group that is not a multicast address.
    InvalidGroup {
        /// The address given.
        group: IpAddr,
    },
    /// A source that cannot send multicast (multicast, unspecified, loopback or class E).
    InvalidSource {
        /// The address given.
        source: IpAddr,
    },
    /// A next hop (an upstream neighbour, the link of a route's incoming interface) that is
    /// neither unspecified nor a unicast address that can be on a link.
    InvalidNextHop {
        /// The address given.
        next_hop: IpAddr,
    },
    /// Membership flags that are empty, carry unknown bits, or ask for forward state on a
    /// wildcard selector.
    InvalidFlags {
        /// The bits given.
        bits: u32,
        /// Why they were refused.
        reason: &'static str,
    },
    /// The caller may not act on this interface.
    NotOwner {
        /// The interface.
        interface: InterfaceId,
        /// Why not.
        reason: &'static str,
    },
    /// Only the owner of the entry's incoming interface may change it.
    NotIifOwner {
        /// The entry's source.
        source: IpAddr,
        /// The entry's group.
        group: IpAddr,
    },
    /// A protocol with this (protocol id, component id) is already registered.
    AlreadyRegistered {
        /// The protocol id.
        protocol: u32,
        /// The component id.
        component: u32,
    },
    /// Another routing protocol, or the caller itself, already owns the interface.
    InterfaceTaken {
        /// The interface.
        interface: InterfaceId,
        /// The protocol id of the current owner.
        owner: u32,
    },
    /// No protocol has taken this interface.
    UnknownInterface {
        /// The interface.
        interface: InterfaceId,
    },
    /// No forwarding entry exists for this (source, group).
    NoSuchMfe {
        /// The source.
        source: IpAddr,
        /// The group.
        group: IpAddr,
    },
    /// No route with this prefix is in the multicast RIB.
    NoSuchRoute {
        /// The prefix.
        prefix: IpAddr,
        /// The prefix length.
        len: u8,
    },
    /// A route prefix that is longer than the address or has host bits set.
    InvalidPrefix {
        /// The prefix.
        prefix: IpAddr,
        /// The prefix length.
        len: u8,
    },
    /// A route to a prefix in multicast space (one that overlaps 224.0.0.0/4 or ff00::/8 and
    /// holds no unicast address): routes lead toward sources, which are unicast.
    MulticastRoute {
        /// The prefix.
        prefix: IpAddr,
        /// The prefix length.
        len: u8,
    },
    /// The protocol still owns interfaces; release them before deregistering.
    StillOwnsInterfaces {
        /// How many it still owns.
        count: usize,
    },
    /// The forwarding table holds its configured maximum of entries; the miss was refused.
    TableFull {
        /// The configured limit.
        limit: usize,
    },
    /// Every forwarding-worker slot is taken.
    TooManyReaders {
        /// The configured number of slots.
        max: usize,
    },
    /// A burst lookup was given more keys than it takes, or fewer verdict slots than keys.
    BurstTooLarge {
        /// Keys given.
        len: usize,
        /// Keys accepted.
        max: usize,
    },
    /// An argument outside its range.
    OutOfRange {
        /// What the argument is.
        what: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The engine has been stopped; nothing more is done.
    Stopped,
}

impl Error {
    /// The Win32 code MGM returns in the same situation.
    ///
    /// ```
    /// use mgm::Error;
    /// assert_eq!(Error::Stopped.win32_code(), 1003);
    /// assert_eq!(Error::AlreadyRegistered { protocol: 1, component: 2 }.win32_code(), 183);
    /// ```
    pub fn win32_code(&self) -> u32 {
        use Error::*;
        match self {
            InvalidHandle { .. }
            | InvalidGroup { .. }
            | InvalidSource { .. }
            | InvalidNextHop { .. }
            | InvalidFlags { .. }
            | NotOwner { .. }
            | NotIifOwner { .. }
            | InvalidPrefix { .. }
            | MulticastRoute { .. }
            | BurstTooLarge { .. }
            | OutOfRange { .. } => win32::INVALID_PARAMETER,
            AlreadyRegistered { .. } | InterfaceTaken { .. } => win32::ALREADY_EXISTS,
            UnknownInterface { .. } | NoSuchMfe { .. } | NoSuchRoute { .. } => win32::NOT_FOUND,
            StillOwnsInterfaces { .. } | Stopped | TooManyReaders { .. } => win32::CAN_NOT_COMPLETE,
            TableFull { .. } => win32::NOT_ENOUGH_MEMORY,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            InvalidHandle { kind, raw } => {
                let k = match kind {
                    HandleKind::Protocol => "protocol",
                    HandleKind::Enumeration => "group-enumeration",
                };
                write!(
                    f,
                    "{k} handle {raw:#018x} is not live (stale, forged or of another kind)"
                )
            }
            InvalidGroup { group } => write!(f, "group {group} is not a multicast address"),
            InvalidSource { source } => write!(
                f,
                "source {source} cannot send multicast (it must be a unicast address)"
            ),
            InvalidNextHop { next_hop } => write!(
                f,
                "next hop {next_hop} is not a neighbour's address (multicast, loopback, broadcast or reserved)"
            ),
            InvalidFlags { bits, reason } => write!(f, "membership flags {bits:#x}: {reason}"),
            NotOwner { interface, reason } => write!(f, "interface {interface}: {reason}"),
            NotIifOwner { source, group } => write!(
                f,
                "only the owner of the incoming interface of ({source}, {group}) may change it"
            ),
            AlreadyRegistered {
                protocol,
                component,
            } => write!(
                f,
                "protocol {protocol:#010x} component {component} is already registered"
            ),
            InterfaceTaken { interface, owner } => write!(
                f,
                "interface {interface} is already owned by protocol {owner:#010x}"
            ),
            UnknownInterface { interface } => {
                write!(
                    f,
                    "interface {interface} is not known: no protocol has taken it"
                )
            }
            NoSuchMfe { source, group } => {
                write!(f, "no forwarding entry for ({source}, {group})")
            }
            NoSuchRoute { prefix, len } => write!(f, "no route for {prefix}/{len}"),
            InvalidPrefix { prefix, len } => write!(
                f,
                "{prefix}/{len} is not a prefix (length too long or host bits set)"
            ),
            MulticastRoute { prefix, len } => write!(
                f,
                "{prefix}/{len} is a multicast prefix; a route leads toward sources, which are unicast"
            ),
            StillOwnsInterfaces { count } => write!(
                f,
                "the protocol still owns {count} interface(s); release them first"
            ),
            TableFull { limit } => write!(
                f,
                "the forwarding table is full ({limit} entries); the miss was refused"
            ),
            TooManyReaders { max } => {
                write!(f, "all {max} forwarding-worker slots are taken")
            }
            BurstTooLarge { len, max } => write!(
                f,
                "burst of {len} keys: at most {max}, with a verdict slot for each"
            ),
            OutOfRange { what, expected } => write!(f, "{what} must be {expected}"),
            Stopped => f.write_str("the engine has been stopped"),
        }
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
