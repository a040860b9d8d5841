//! The results of the control requests asked with `json` (`mgmctl --json`): one type per
//! reply, built by mgmd and read by whoever asks, so a field has one name and one type
//! everywhere. Absent values are null (never `"-"` or `0.0.0.0`); a time is given twice, as
//! an age or a countdown in seconds (a number) and as the wall-clock moment in RFC 3339 UTC
//! (`2026-12-02T01:58:01.250Z`, a string). The README's section on `mgmctl --json` lists
//! them; the tests below pin every name and type.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The address family a row or a set of counters is of: mgmd runs one engine, one
/// forwarder and one kernel table per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// IPv4: IGMP, VIFs, the kernel's MFC.
    Ipv4,
    /// IPv6: MLD, MIFs, the kernel's MF6C.
    Ipv6,
}

impl AddressFamily {
    /// `ipv4` or `ipv6`, as the replies write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::Ipv4 => "ipv4",
            AddressFamily::Ipv6 => "ipv6",
        }
    }
}

/// `status`: the counters of one family (IPv4's when it runs, else IPv6's), and with both
/// running, IPv6's in `ipv6`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// The family of the engine, forwarder and kernel counters below.
    pub family: AddressFamily,
    /// Seconds since mgmd started.
    pub uptime: f64,
    /// When mgmd started.
    pub started_at: String,
    /// Forwarding entries now.
    pub mfes: u64,
    /// Entries being created.
    pub pending: u64,
    /// The entries' limit (`limits.max_mfes`).
    pub max_mfes: u64,
    /// Misses refused at the limit.
    pub refused_misses: u64,
    /// Entries created.
    pub created: u64,
    /// Entries deleted.
    pub deleted: u64,
    /// Wrong-interface reports passed on.
    pub wrong_if_notified: u64,
    /// NOCACHE upcalls.
    pub upcalls_nocache: u64,
    /// WRONGVIF upcalls.
    pub upcalls_wrongvif: u64,
    /// MRT_ADD_MFC calls.
    pub mfc_adds: u64,
    /// MRT_DEL_MFC calls.
    pub mfc_dels: u64,
    /// Kernel errors.
    pub errors: u64,
    /// The longest upcall handling delay, microseconds.
    pub upcall_delay_max_us: u64,
    /// The last upcall handling delay, microseconds.
    pub upcall_delay_last_us: u64,
    /// Upcalls timed.
    pub upcalls_timed: u64,
    /// The longest control step, microseconds.
    pub control_reply_max_us: u64,
    /// The longest time the mroute socket went unwatched, microseconds.
    pub unwatched_max_us: u64,
    /// The upper edges of the buckets below, microseconds (the last bucket: above).
    pub delay_bucket_edges_us: Vec<u64>,
    /// Upcall delays by bucket.
    pub upcall_delay_buckets: Vec<u64>,
    /// Control steps by bucket.
    pub control_step_buckets: Vec<u64>,
    /// Unwatched times by bucket.
    pub unwatched_buckets: Vec<u64>,
    /// Control clients served.
    pub control_served: u64,
    /// Control clients refused, too many at once.
    pub control_refused_busy: u64,
    /// Control requests refused as bad.
    pub control_bad_requests: u64,
    /// Control clients cut off by a deadline.
    pub control_timed_out: u64,
    /// Log lines left out by the rate limit.
    pub log_lines_left_out: u64,
    /// The static mroutes in force (of this family).
    pub static_mroutes: Vec<Mroute>,
    /// The IPv6 family's status when both families run (null otherwise, and within it).
    pub ipv6: Option<Box<Status>>,
    /// Proxy mode: the host side on the upstream interface (null without one).
    #[serde(default)]
    pub proxy: Option<Proxy>,
}

/// The proxy's host side on its upstream interface, in `status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxy {
    /// The upstream interface.
    pub upstream: String,
    /// Its ifindex (null while it has no link).
    pub ifindex: Option<u32>,
    /// Reports go out: the upstream is attached and has an address of the family.
    pub live: bool,
    /// The proxy's address there: the source of its reports (null until it has one).
    pub address: Option<IpAddr>,
    /// The version spoken upstream: IGMP 3, 2 or 1; MLD 2 or 1 (an older querier's).
    pub version: u8,
    /// The querier last heard upstream (null: none yet).
    pub querier: Option<IpAddr>,
    /// Groups reported upstream: the union of the downstream memberships.
    pub groups: u64,
    /// Messages sent upstream.
    pub sent: u64,
    /// Messages not sent: the socket refused them, or the upstream was not live.
    pub unsent: u64,
}

/// A row of `interfaces`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// The family of the row (an interface has a row per family that runs).
    pub family: AddressFamily,
    /// The name.
    pub name: String,
    /// The ifindex of its link (null while there is no link of that name).
    pub ifindex: Option<u32>,
    /// Where its link is: `up` (attached: a VIF, owned, forwarding), `down` or `absent`.
    pub state: LinkState,
    /// The VIF, or for IPv6 the MIF (null without one).
    pub vif: Option<u16>,
    /// The first IPv4 address, or for IPv6 the link-local address MLD uses (null without
    /// one).
    pub address: Option<IpAddr>,
    /// The routing protocol that owns it (`static`; null for none).
    pub owner: Option<String>,
    /// The group membership protocol present there (`igmp` for IGMP and for MLD alike:
    /// the engine's name; null for none).
    pub igmp: Option<String>,
    /// The querier: `self`, another router's address, or null (no IGMP there, or none
    /// heard yet).
    pub querier: Option<String>,
    /// Packets in (the kernel's VIF counters).
    pub in_packets: u64,
    /// Packets out.
    pub out_packets: u64,
    /// Bytes in.
    pub in_bytes: u64,
    /// Bytes out.
    pub out_bytes: u64,
}

/// Where a configured interface's link is, as mgmd follows it through rtnetlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// No link of that name.
    Absent,
    /// A link, not up (`IFF_UP` or `IFF_RUNNING` missing).
    Down,
    /// Up, with its carrier.
    Up,
}

impl LinkState {
    /// `up`, `down` or `absent`, as the JSON has it.
    ///
    /// ```
    /// use mgmd::reply::LinkState;
    /// assert_eq!(LinkState::Absent.as_str(), "absent");
    /// assert_eq!(serde_json::to_value(LinkState::Down).unwrap(), "down");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Absent => "absent",
            LinkState::Down => "down",
            LinkState::Up => "up",
        }
    }
}

/// A row of `memberships`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// The family of the membership.
    pub family: AddressFamily,
    /// The interface's name.
    pub interface: String,
    /// Its ifindex.
    pub ifindex: u32,
    /// `(*,*)`, `(*,G)` or `(S,G)`.
    pub selector: String,
    /// `igmp`, `static` or `0xID/COMPONENT`.
    pub protocol: String,
}

/// The engine's counters of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineCounters {
    /// Packets in.
    pub in_packets: u64,
    /// Bytes in.
    pub in_octets: u64,
    /// Packets on another interface.
    pub different_if: u64,
    /// Packets dropped by a negative entry.
    pub negative: u64,
}

/// The kernel's counters of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelCounters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Packets on a wrong interface.
    pub wrong_if: u64,
}

/// A row of `mfes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mfe {
    /// The family of the entry.
    pub family: AddressFamily,
    /// The source.
    pub source: IpAddr,
    /// The group.
    pub group: IpAddr,
    /// The incoming interface's name.
    pub iif: String,
    /// The outgoing interfaces' names (empty: a negative entry).
    pub oifs: Vec<String>,
    /// The upstream neighbour (null when directly connected or unknown).
    pub upstream: Option<IpAddr>,
    /// Seconds until it expires (null: never).
    pub expiry: Option<f64>,
    /// When it expires (null: never).
    pub expires_at: Option<String>,
    /// Seconds since it was created.
    pub up_time: f64,
    /// When it was created.
    pub created_at: String,
    /// The engine's counters.
    pub engine: EngineCounters,
    /// The kernel's counters (null when not in the kernel).
    pub kernel: Option<KernelCounters>,
}

/// A row of `events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Seconds since mgmd started.
    pub time: f64,
    /// When it happened.
    pub at: String,
    /// `upcall`, `igmp`, `igmp-event`, `routing-event`, `control` or `error`.
    pub kind: String,
    /// What happened.
    pub detail: String,
}

/// A group of an `igmp` interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgmpGroup {
    /// The group.
    pub group: IpAddr,
    /// Seconds left on its EXCLUDE-mode timer (null: INCLUDE mode).
    pub exclude_timer: Option<f64>,
    /// When that timer runs out (null: INCLUDE mode).
    pub exclude_until: Option<String>,
    /// The sources with state.
    pub sources: Vec<IpAddr>,
    /// An IGMPv1/v2 host is present.
    pub old_host: bool,
}

/// The IGMP input counters of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct IgmpCounters {
    pub received: u64,
    pub accepted: u64,
    pub own: u64,
    pub malformed: u64,
    pub bad_ttl: u64,
    pub no_router_alert: u64,
    pub off_subnet_report: u64,
    pub off_subnet_query: u64,
    pub invalid_groups: u64,
    pub invalid_sources: u64,
    pub group_limit: u64,
    pub source_limit: u64,
    pub host_limit: u64,
}

/// An interface of `igmp`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgmpInterface {
    /// `ipv4` for IGMP, `ipv6` for MLD.
    pub family: AddressFamily,
    /// The interface's name.
    pub interface: String,
    /// mgmd's address there.
    pub address: IpAddr,
    /// The querier: `self`, another router's address, or null (none heard yet); as in
    /// `interfaces`.
    pub querier: Option<String>,
    /// The other querier heard (null when mgmd is the querier).
    pub other_querier: Option<IpAddr>,
    /// The groups with state.
    pub groups: Vec<IgmpGroup>,
    /// The link's subnets, `A.B.C.D/LEN` (empty for MLD, which checks that sources are
    /// link-local instead).
    pub subnets: Vec<String>,
    /// Messages need TTL 1.
    pub require_ttl_one: bool,
    /// Messages need the Router Alert option.
    pub require_router_alert: bool,
    /// The input counters.
    pub counters: IgmpCounters,
}

/// A static mroute (`status`, `routes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mroute {
    /// The source (null: a (*,G) rule).
    pub source: Option<IpAddr>,
    /// The group.
    pub group: IpAddr,
    /// The incoming interface (null: the routes decide).
    pub from: Option<String>,
    /// The outgoing interfaces.
    pub to: Vec<String>,
}

/// An RPF route of `routes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `A.B.C.D/LEN`.
    pub prefix: String,
    /// The interface toward it.
    pub interface: String,
    /// The upstream neighbour (null when directly connected).
    pub upstream: Option<IpAddr>,
    /// `route` (configured or added), `mroute` (the host route of an (S,G) mroute) or
    /// `other`.
    pub origin: String,
}

/// A static membership of `routes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    /// The interface.
    pub interface: String,
    /// The group.
    pub group: IpAddr,
    /// The source (null: the whole group).
    pub source: Option<IpAddr>,
}

/// `routes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routes {
    /// The engine's RPF routes.
    pub routes: Vec<Route>,
    /// The static mroutes.
    pub mroutes: Vec<Mroute>,
    /// The static memberships of `mgmctl join`.
    pub joins: Vec<Join>,
}

/// `t` in RFC 3339, UTC, to the millisecond: `2026-12-02T01:58:01.250Z`. Before 1970 (a
/// clock set wrong) it is the epoch.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_millis(1_796_176_681_250);
/// assert_eq!(mgmd::reply::rfc3339(t), "2026-12-02T01:58:01.250Z");
/// ```
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        d.subsec_millis()
    )
}

/// The (year, month, day) of a count of days since 1970-01-01, in the proleptic Gregorian
/// calendar: counted in 400-year eras from 0000-03-01, so that February is a year's last
/// month and leap days fall at an era-year's end.
fn civil(days: u64) -> (u64, u64, u64) {
    // 1970-01-01 is day 719_468 from 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    /// `doc` parses as `T` (every name known, every type right) and prints back as itself
    /// (no field left out, none added, none of another type).
    fn pinned<T: DeserializeOwned + Serialize>(doc: Value) {
        let t: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}: {doc}"));
        assert_eq!(serde_json::to_value(&t).unwrap(), doc);
    }

    /// `doc` is refused as `T`.
    fn refused<T: DeserializeOwned>(doc: Value) {
        assert!(serde_json::from_value::<T>(doc.clone()).is_err(), "{doc}");
    }

    #[test]
    fn the_interfaces_row_is_pinned() {
        let row = json!({"family": "ipv4", "name": "rrcv1", "ifindex": 3, "state": "up", "vif": 1,
            "address": "203.0.113.1", "owner": "static", "igmp": "igmp", "querier": "self",
            "in_packets": 1, "out_packets": 2, "in_bytes": 3, "out_bytes": 4});
        pinned::<Interface>(row.clone());
        pinned::<Interface>(
            json!({"family": "ipv6", "name": "x", "ifindex": 3, "state": "down", "vif": null, "address": null,
            "owner": null, "igmp": null, "querier": null, "in_packets": 0, "out_packets": 0,
            "in_bytes": 0, "out_bytes": 0}),
        );
        // A link absent: no ifindex.
        pinned::<Interface>(
            json!({"family": "ipv4", "name": "y", "ifindex": null, "state": "absent", "vif": null,
            "address": null, "owner": null, "igmp": null, "querier": null, "in_packets": 0,
            "out_packets": 0, "in_bytes": 0, "out_bytes": 0}),
        );
        for (key, wrong) in [
            ("state", json!("gone")),
            ("state", json!(null)),
            ("ifindex", json!(0.5)),
            ("ifindex", json!("-")),
            ("family", json!("ipx")),
            ("address", json!("fe80::1%3")),
        ] {
            let mut bad = row.clone();
            bad[key] = wrong;
            refused::<Interface>(bad);
        }
        let mut bad = row.clone();
        bad.as_object_mut().unwrap().remove("state");
        refused::<Interface>(bad);
        // The old forms: "-" for none and a bool querier are no longer this type.
        let mut bad = row.clone();
        bad["querier"] = json!(true);
        refused::<Interface>(bad);
        let mut bad = row;
        bad["vif"] = json!("-");
        refused::<Interface>(bad);
    }

    #[test]
    fn the_mfes_row_is_pinned() {
        let row = json!({"family": "ipv4", "source": "198.51.100.2", "group": "239.1.2.3", "iif": "rsnd",
            "oifs": ["rrcv1"], "upstream": null, "expiry": null, "expires_at": null,
            "up_time": 12.5, "created_at": "2026-12-02T01:58:01.250Z",
            "engine": {"in_packets": 1, "in_octets": 2, "different_if": 0, "negative": 0},
            "kernel": {"packets": 5, "bytes": 6, "wrong_if": 0}});
        pinned::<Mfe>(row.clone());
        let mut dynamic = row.clone();
        dynamic["upstream"] = json!("198.51.100.254");
        dynamic["expiry"] = json!(887.5);
        dynamic["expires_at"] = json!("2026-12-02T02:12:48.750Z");
        dynamic["kernel"] = json!(null);
        pinned::<Mfe>(dynamic);
        let mut v6 = row.clone();
        v6["family"] = json!("ipv6");
        v6["source"] = json!("2001:db8:1::2");
        v6["group"] = json!("ff3e::1:3");
        v6["upstream"] = json!("fe80::9");
        pinned::<Mfe>(v6);
        let mut bad = row;
        bad["extra"] = json!(1);
        refused::<Mfe>(bad);
    }

    #[test]
    fn the_other_rows_are_pinned() {
        pinned::<Membership>(json!({"family": "ipv6", "interface": "rrcv1", "ifindex": 3,
            "selector": "(*,ff0e::1)", "protocol": "igmp"}));
        pinned::<Event>(json!({"time": 1.5, "at": "2026-12-02T01:58:01.250Z",
            "kind": "upcall", "detail": "NOCACHE"}));
        let counters = json!({"received": 1, "accepted": 1, "own": 0, "malformed": 0,
            "bad_ttl": 0, "no_router_alert": 0, "off_subnet_report": 0, "off_subnet_query": 0,
            "invalid_groups": 0, "invalid_sources": 0, "group_limit": 0, "source_limit": 0,
            "host_limit": 0});
        pinned::<IgmpInterface>(
            json!({"family": "ipv4", "interface": "rrcv1", "address": "203.0.113.1",
            "querier": "203.0.113.9", "other_querier": "203.0.113.9",
            "groups": [{"group": "239.1.2.3", "exclude_timer": 259.5,
                "exclude_until": "2026-12-02T02:02:20.750Z", "sources": [], "old_host": false},
                {"group": "239.1.2.4", "exclude_timer": null, "exclude_until": null,
                "sources": ["198.51.100.2"], "old_host": true}],
            "subnets": ["203.0.113.0/28"], "require_ttl_one": true,
            "require_router_alert": false, "counters": counters.clone()}),
        );
        pinned::<IgmpInterface>(json!({"family": "ipv6", "interface": "rrcv1",
            "address": "fe80::1", "querier": "self", "other_querier": null,
            "groups": [{"group": "ff0e::1", "exclude_timer": 259.5,
                "exclude_until": "2026-12-02T02:02:20.750Z", "sources": [], "old_host": false}],
            "subnets": [], "require_ttl_one": true, "require_router_alert": true,
            "counters": counters}));
        let mroute = json!({"source": null, "group": "239.1.2.3", "from": "rsnd",
            "to": ["rrcv1", "rrcv2"]});
        pinned::<Routes>(json!({
            "routes": [{"prefix": "198.51.100.0/24", "interface": "rsnd", "upstream": null,
                "origin": "route"}],
            "mroutes": [mroute],
            "joins": [{"interface": "rrcv1", "group": "239.1.2.3", "source": "198.51.100.2"}]}));
        pinned::<crate::control::Changed>(json!({"changes": ["interface rrcv3 added"],
            "restart_needed": ["limits.max_mfes (32768 in force)"]}));
        pinned::<crate::control::Page<Membership>>(json!({"rows": [], "text": null,
            "more": false, "next": null}));
        let status = |family: &str| {
            json!({"family": family, "uptime": 1.5, "started_at": "2026-12-02T01:58:01.250Z",
            "mfes": 1, "pending": 0, "max_mfes": 32768, "refused_misses": 0, "created": 1,
            "deleted": 0, "wrong_if_notified": 0, "upcalls_nocache": 1, "upcalls_wrongvif": 0,
            "mfc_adds": 1, "mfc_dels": 0, "errors": 0, "upcall_delay_max_us": 80,
            "upcall_delay_last_us": 80, "upcalls_timed": 1, "control_reply_max_us": 300,
            "unwatched_max_us": 900, "delay_bucket_edges_us": [100, 1000, 10000, 100000],
            "upcall_delay_buckets": [1, 0, 0, 0, 0], "control_step_buckets": [2, 0, 0, 0, 0],
            "unwatched_buckets": [5, 0, 0, 0, 0], "control_served": 2,
            "control_refused_busy": 0, "control_bad_requests": 0, "control_timed_out": 0,
            "log_lines_left_out": 0,
            "static_mroutes": [{"source": "198.51.100.2", "group": "239.1.2.3",
                "from": "rsnd", "to": ["rrcv1"]}], "ipv6": null, "proxy": null})
        };
        pinned::<Status>(status("ipv4"));
        let mut proxied = status("ipv4");
        proxied["proxy"] = json!({"upstream": "up0", "ifindex": 2, "live": true,
            "address": "203.0.113.2", "version": 3, "querier": "203.0.113.1", "groups": 1,
            "sent": 2, "unsent": 0});
        pinned::<Status>(proxied);
        let mut both = status("ipv4");
        both["ipv6"] = status("ipv6");
        pinned::<Status>(both);
    }

    #[test]
    fn wall_clock_times_are_rfc3339_utc() {
        let at = |ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // A leap day, the day after, a century that is not a leap year, and one that is.
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(at(1_709_164_800_000), "2024-02-29T00:00:00.000Z");
        assert_eq!(at(1_735_689_599_000), "2024-12-31T23:59:59.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
