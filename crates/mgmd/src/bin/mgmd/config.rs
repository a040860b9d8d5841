//! mgmd's TOML configuration. `crates/mgmd/mgmd.example.toml` documents every key, with its
//! default; [`Config::parse`] reads and checks a file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use mgm::Family;
use serde::Deserialize;

/// The whole file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Path of the unix control socket (default `/run/mgmd.sock`; `--socket` overrides).
    pub control_socket: Option<PathBuf>,
    /// IGMP timers.
    #[serde(default)]
    pub igmp: IgmpSection,
    /// MLD timers (RFC 3810: the same keys and defaults as `[igmp]`).
    #[serde(default)]
    pub mld: IgmpSection,
    /// Bounds on the tables, the control socket and the log.
    #[serde(default)]
    pub limits: LimitsSection,
    /// Interfaces the routing client owns (each gets a VIF).
    #[serde(default, rename = "interface")]
    pub interfaces: Vec<InterfaceConf>,
    /// Static routes toward sources, used for RPF.
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConf>,
    /// Static (S,G) / (*,G) forwarding, as smcroute's `mroute`.
    #[serde(default, rename = "mroute")]
    pub mroutes: Vec<MrouteConf>,
}

/// `[igmp]`: RFC 3376 defaults.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IgmpSection {
    /// Robustness variable.
    pub robustness: u8,
    /// Query interval, seconds.
    pub query_interval: f64,
    /// Query response interval, seconds.
    pub query_response_interval: f64,
    /// Last member query interval, seconds.
    pub last_member_query_interval: f64,
    /// Last member query count (default: robustness).
    pub last_member_query_count: Option<u8>,
    /// Act on leaves at once, without last member queries: a group or source goes when the
    /// last host tracked in it on the link leaves, and stays while another host holds it.
    pub fast_leave: bool,
    /// Drop IGMP messages without the Router Alert option (default true; false for links
    /// with old IGMPv1/v2 hosts).
    pub require_router_alert: bool,
    /// Drop IGMP messages whose IP TTL is not 1 (default true).
    pub require_ttl_one: bool,
    /// Groups with state per interface (default 2048).
    pub max_groups_per_interface: usize,
    /// INCLUDE-mode sources per group (default 128).
    pub max_sources_per_group: usize,
    /// Unexpired memberships per host address and interface (default 512).
    pub max_memberships_per_host: usize,
    /// Host addresses with memberships per interface (default 4096).
    pub max_hosts_per_interface: usize,
}

impl Default for IgmpSection {
    fn default() -> Self {
        IgmpSection {
            robustness: 2,
            query_interval: 125.0,
            query_response_interval: 10.0,
            last_member_query_interval: 1.0,
            last_member_query_count: None,
            fast_leave: false,
            require_router_alert: true,
            require_ttl_one: true,
            max_groups_per_interface: 2048,
            max_sources_per_group: 128,
            max_memberships_per_host: 512,
            max_hosts_per_interface: 4096,
        }
    }
}

impl IgmpSection {
    /// The state machine's configuration, from `[igmp]`.
    pub fn to_config(&self) -> Result<mgm_igmp::IgmpConfig, String> {
        self.to_config_of("igmp")
    }

    /// The state machine's configuration, the errors naming the keys in `section`
    /// (`igmp` or `mld`).
    pub fn to_config_of(&self, section: &str) -> Result<mgm_igmp::IgmpConfig, String> {
        let d = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1e6 {
                Ok(Duration::from_secs_f64(v))
            } else {
                Err(format!("{section}.{what} = {v}: expected seconds > 0"))
            }
        };
        let limit = |what: &str, v: usize| {
            if v >= 1 {
                Ok(v)
            } else {
                Err(format!("{section}.{what} = {v}: expected at least 1"))
            }
        };
        if self.robustness == 0 || self.robustness > 7 {
            return Err(format!(
                "{section}.robustness = {}: expected 1..=7",
                self.robustness
            ));
        }
        Ok(mgm_igmp::IgmpConfig {
            robustness: self.robustness,
            query_interval: d("query_interval", self.query_interval)?,
            query_response_interval: d("query_response_interval", self.query_response_interval)?,
            last_member_query_interval: d(
                "last_member_query_interval",
                self.last_member_query_interval,
            )?,
            last_member_query_count: self.last_member_query_count.unwrap_or(self.robustness),
            fast_leave: self.fast_leave,
            input: mgm_igmp::InputPolicy {
                require_ttl_one: self.require_ttl_one,
                require_router_alert: self.require_router_alert,
            },
            limits: mgm_igmp::IgmpLimits {
                groups_per_interface: limit(
                    "max_groups_per_interface",
                    self.max_groups_per_interface,
                )?,
                sources_per_group: limit("max_sources_per_group", self.max_sources_per_group)?,
                memberships_per_host: limit(
                    "max_memberships_per_host",
                    self.max_memberships_per_host,
                )?,
                hosts_per_interface: limit(
                    "max_hosts_per_interface",
                    self.max_hosts_per_interface,
                )?,
            },
        })
    }
}

/// `[limits]`: what a miss storm or a crowd of control clients can take.
///
/// The defaults suit a home gateway and an IPTV head end alike: 32768 forwarding entries is
/// several times the channels × sources of a large IPTV line-up, and bounds a miss storm to
/// some tens of megabytes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// At most this many forwarding entries (the engine's `max_mfes`); further misses are
    /// refused and counted (`mgmctl status`).
    pub max_mfes: usize,
    /// At most this many control clients served at once; one more gets an error line.
    pub control_clients: usize,
    /// Upcall, wrong-interface and refused-miss log lines: at most this many a second of
    /// each kind, then one line with the count left out.
    pub log_lines_per_second: u32,
    /// Kernel counters copied into the engine per second, round-robin over the entries.
    pub counter_sync_per_second: usize,
}

/// The largest `limits.max_mfes` accepted.
pub const MAX_MFES_LIMIT: usize = 16 << 20;

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_mfes: 32768,
            control_clients: 128,
            log_lines_per_second: 20,
            counter_sync_per_second: 4096,
        }
    }
}

impl LimitsSection {
    /// Checks the values.
    pub fn check(&self) -> Result<(), String> {
        if self.max_mfes == 0 || self.max_mfes > MAX_MFES_LIMIT {
            return Err(format!(
                "limits.max_mfes = {}: expected 1..={MAX_MFES_LIMIT}",
                self.max_mfes
            ));
        }
        if self.control_clients == 0 || self.control_clients > 4096 {
            return Err(format!(
                "limits.control_clients = {}: expected 1..=4096",
                self.control_clients
            ));
        }
        if self.counter_sync_per_second > 1 << 20 {
            return Err(format!(
                "limits.counter_sync_per_second = {}: expected at most {}",
                self.counter_sync_per_second,
                1 << 20
            ));
        }
        Ok(())
    }
}

/// `[[interface]]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConf {
    /// The interface name.
    pub name: String,
    /// Run IGMP on it (default true) while IPv4 runs.
    #[serde(default = "yes")]
    pub igmp: bool,
    /// Run MLD on it while IPv6 runs (default true then); `mld = true` on any interface
    /// turns IPv6 on ([`Config::families`]).
    pub mld: Option<bool>,
    /// This link's `igmp.require_router_alert` (default: the `[igmp]` value, for MLD the
    /// `[mld]` one): false for a link with old IGMPv1/v2 or MLDv1 hosts that send no Router
    /// Alert, keeping the check on the others. Only where IGMP or MLD runs.
    pub require_router_alert: Option<bool>,
    /// This link's `igmp.require_ttl_one` (the hop limit for MLD; default: the section's
    /// value). Only where IGMP or MLD runs.
    pub require_ttl_one: Option<bool>,
    /// Proxy mode (RFC 4605): this is the upstream interface, in each family that its
    /// `igmp` and `mld` keys give it. There mgmd is a host, not a router: it reports the
    /// union of every other interface's memberships to the upstream querier and answers
    /// its queries; the others are downstream, where mgmd is the querier. Traffic from
    /// every source arrives on it (a default route through it, unless a `[[route]]` to
    /// `0.0.0.0/0` or `::/0` says otherwise). At most one per family; `require_router_alert`
    /// and `require_ttl_one` apply to the queries heard there.
    #[serde(default)]
    pub upstream: bool,
}

impl InterfaceConf {
    /// The IGMP input checks of this link: `global` (from `[igmp]`) with this interface's
    /// keys over it.
    ///
    /// ```
    /// use mgmd::config::Config;
    /// let c = Config::parse("[[interface]]\nname = \"old\"\nrequire_router_alert = false").unwrap();
    /// let p = c.interfaces[0].input_policy(c.igmp.to_config().unwrap().input);
    /// assert!(!p.require_router_alert && p.require_ttl_one);
    /// ```
    pub fn input_policy(&self, global: mgm_igmp::InputPolicy) -> mgm_igmp::InputPolicy {
        mgm_igmp::InputPolicy {
            require_ttl_one: self.require_ttl_one.unwrap_or(global.require_ttl_one),
            require_router_alert: self
                .require_router_alert
                .unwrap_or(global.require_router_alert),
        }
    }
}

fn yes() -> bool {
    true
}

/// `[[route]]`: `prefix = "198.51.100.0/24"` (or an IPv6 one, `"2001:db8:1::/48"`),
/// `interface = "rsnd"`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConf {
    /// Prefix in CIDR form.
    pub prefix: String,
    /// Interface toward it.
    pub interface: String,
    /// Upstream neighbour (of the prefix's family).
    pub upstream: Option<IpAddr>,
}

impl RouteConf {
    /// (prefix, length).
    pub fn parse(&self) -> Result<(IpAddr, u8), String> {
        let (a, l) = self.prefix.split_once('/').ok_or_else(|| {
            format!(
                "route prefix {:?}: expected A.B.C.D/LEN or X:X::X/LEN",
                self.prefix
            )
        })?;
        let a: IpAddr = a
            .parse()
            .map_err(|e| format!("route prefix {:?}: {e}", self.prefix))?;
        let (network, multicast, bits) = match a {
            IpAddr::V4(v4) => {
                let l = prefix_len(&self.prefix, l, 32)?;
                (IpAddr::V4(network(v4, l)), v4.is_multicast_prefix(l), l)
            }
            IpAddr::V6(v6) => {
                let l = prefix_len(&self.prefix, l, 128)?;
                (IpAddr::V6(network(v6, l)), v6.is_multicast_prefix(l), l)
            }
        };
        if network != a {
            return Err(format!(
                "route prefix {:?}: host bits set (the prefix is {network}/{bits})",
                self.prefix
            ));
        }
        if multicast {
            return Err(format!(
                "route prefix {:?}: in multicast space; routes lead toward sources",
                self.prefix
            ));
        }
        Ok((a, bits))
    }
}

/// The length of a prefix, at most `most`.
fn prefix_len(prefix: &str, l: &str, most: u8) -> Result<u8, String> {
    l.parse()
        .ok()
        .filter(|l| *l <= most)
        .ok_or_else(|| format!("route prefix {prefix:?}: bad length (0 to {most})"))
}

/// The network of `a` under a prefix of `len` bits.
fn network<A: Family>(a: A, len: u8) -> A {
    let all = u128::MAX >> (128 - A::BITS);
    // The host bits: none for a full-length prefix.
    let host = all.checked_shr(u32::from(len)).unwrap_or(0);
    let mask = all & !host;
    A::from_bits(a.to_bits() & mask)
}

/// The address families that run: each has its engine, forwarder and mroute socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Families {
    /// IPv4 (IGMP, VIFs).
    pub ipv4: bool,
    /// IPv6 (MLD, MIFs).
    pub ipv6: bool,
}

impl Config {
    /// Which families run. IPv6 runs when an interface says `mld = true` or a route or an
    /// mroute is IPv6; IPv4 runs when an interface runs IGMP (`igmp`, true by default), a
    /// route or an mroute is IPv4, or IPv6 does not run (a file without IPv6 is IPv4's, as
    /// it always was). A family that does not run has no engine and opens no socket.
    ///
    /// ```
    /// use mgmd::config::Config;
    /// let v4 = Config::parse("[[interface]]\nname = \"a\"\n").unwrap().families();
    /// assert!(v4.ipv4 && !v4.ipv6);
    /// let v6 = Config::parse("[[interface]]\nname = \"a\"\nigmp = false\nmld = true\n").unwrap();
    /// assert!(!v6.families().ipv4 && v6.families().ipv6);
    /// ```
    pub fn families(&self) -> Families {
        let routes = self
            .routes
            .iter()
            .filter_map(|r| r.parse().ok().map(|(a, _)| a));
        let groups = self.mroutes.iter().map(|m| m.group);
        let addrs: Vec<IpAddr> = routes.chain(groups).collect();
        let ipv6 = self.interfaces.iter().any(|i| i.mld == Some(true))
            || addrs.iter().any(IpAddr::is_ipv6);
        let ipv4 =
            self.interfaces.iter().any(|i| i.igmp) || addrs.iter().any(IpAddr::is_ipv4) || !ipv6;
        Families { ipv4, ipv6 }
    }
}

/// `[[mroute]]`: `from` (optional incoming interface), `source` (optional: (*,G) without
/// it), `group`, `to` (outgoing interfaces).
///
/// The (*,G) rules of one group share one `from` (their `to` lists add up), and the rules of
/// one (S,G) too: [`Config::parse`] refuses rules that clash, naming both. An (S,G) rule's
/// `from` wins over its group's (*,G) rules for its source.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MrouteConf {
    /// Incoming interface; overrides the RIB's answer for matching entries.
    pub from: Option<String>,
    /// Source of an (S,G) route (of the group's family).
    pub source: Option<IpAddr>,
    /// Group (IPv4 or IPv6).
    pub group: IpAddr,
    /// Outgoing interfaces.
    pub to: Vec<String>,
}

impl MrouteConf {
    /// `(198.51.100.2, 239.1.2.3) from "rsnd"`: the entry in a message.
    fn describe(&self) -> String {
        let source = self.source.map_or("*".to_string(), |s| s.to_string());
        match &self.from {
            Some(f) => format!("({source}, {}) from {f:?}", self.group),
            None => format!("({source}, {})", self.group),
        }
    }
}

#[path = "config_check.rs"]
mod check;
pub use check::{check_ifname, host_len};

impl Config {
    /// Parses and checks a config file's text: everything that would stop mgmd's start-up
    /// other than the machine itself (an interface that does not exist, a kernel that
    /// refuses) is refused here, so `mgmd --check` catches it.
    ///
    /// # Errors
    /// TOML syntax and unknown keys as the TOML parser words them (line, column, the key);
    /// otherwise one line per problem, each naming the line and the entry (`[[route]] #2`)
    /// and saying what is wrong.
    ///
    /// ```
    /// let e = mgmd::config::Config::parse(
    ///     "[[interface]]\nname = \"eth0\"\n[[route]]\nprefix = \"198.51.100.7/24\"\ninterface = \"eth0\"\n",
    /// )
    /// .unwrap_err();
    /// assert!(e.contains("line 3: [[route]] #1") && e.contains("198.51.100.0/24"), "{e}");
    /// ```
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        let lines = check::Lines::of(text);
        let problems = c.problems(&lines);
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(problems.join("\n"))
        }
    }
}

impl Config {
    /// Checks a configuration built or changed in memory (a control request's), with the
    /// rules of [`Config::parse`]; the entries are named by their place (`[[mroute]] #3`).
    ///
    /// # Errors
    /// One line per problem.
    pub fn check(&self) -> Result<(), String> {
        let problems = self.problems(&check::Lines::default());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_example() {
        let c = Config::parse(
            r#"
            control_socket = "/tmp/x.sock"
            [igmp]
            last_member_query_interval = 0.5
            [[interface]]
            name = "rsnd"
            igmp = false
            [[interface]]
            name = "rrcv"
            [[route]]
            prefix = "198.51.100.0/24"
            interface = "rsnd"
            [[mroute]]
            from = "rsnd"
            source = "198.51.100.2"
            group = "239.1.2.3"
            to = ["rrcv"]
            "#,
        )
        .unwrap();
        assert_eq!(c.interfaces.len(), 2);
        assert!(!c.interfaces[0].igmp && c.interfaces[1].igmp);
        let ic = c.igmp.to_config().unwrap();
        assert_eq!(ic.last_member_query_time(), Duration::from_secs(1));
        assert!(
            Config::parse("[[route]]\nprefix = \"198.51.100.0/24\"\ninterface = \"x\"").is_err()
        );
        assert!(Config::parse("bogus = 1").is_err());
        assert_eq!(ic.limits, mgm_igmp::IgmpLimits::default());
        assert_eq!(ic.input, mgm_igmp::InputPolicy::default());
        let old = Config::parse(
            "[igmp]\nrequire_router_alert = false\nmax_groups_per_interface = 10\nmax_sources_per_group = 4\nmax_memberships_per_host = 3",
        )
        .unwrap();
        let oc = old.igmp.to_config().unwrap();
        assert!(!oc.input.require_router_alert && oc.input.require_ttl_one);
        assert_eq!(
            (
                oc.limits.groups_per_interface,
                oc.limits.sources_per_group,
                oc.limits.memberships_per_host
            ),
            (10, 4, 3)
        );
        let e = Config::parse("[igmp]\nmax_sources_per_group = 0").unwrap_err();
        assert!(e.contains("max_sources_per_group"), "{e}");
    }

    #[test]
    fn old_hosts_are_set_per_interface() {
        let c = Config::parse(
            r#"
            [igmp]
            require_ttl_one = false
            [[interface]]
            name = "old"
            require_router_alert = false
            [[interface]]
            name = "strict"
            require_ttl_one = true
            [[interface]]
            name = "plain"
            "#,
        )
        .unwrap();
        let global = c.igmp.to_config().unwrap().input;
        let policy: Vec<(bool, bool)> = c
            .interfaces
            .iter()
            .map(|i| i.input_policy(global))
            .map(|p| (p.require_ttl_one, p.require_router_alert))
            .collect();
        // (TTL 1, Router Alert): the old link drops the Router Alert check, the strict one
        // puts the TTL check back, the plain one keeps [igmp]'s.
        assert_eq!(policy, vec![(false, false), (true, true), (false, true)]);
        let e = Config::parse(
            "[[interface]]\nname = \"up\"\nigmp = false\nrequire_router_alert = false",
        )
        .unwrap_err();
        assert!(e.contains("\"up\"") && e.contains("igmp = false"), "{e}");
        let e = Config::parse("[[interface]]\nname = \"x\"\nrequire_ttl_one = 1").unwrap_err();
        assert!(e.contains("require_ttl_one"), "{e}");
        let e =
            Config::parse("[[interface]]\nname = \"x\"\n[[interface]]\nname = \"x\"").unwrap_err();
        assert!(e.contains("listed once"), "{e}");
    }

    #[test]
    fn limits_have_defaults_and_are_checked() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.limits.max_mfes, 32768);
        let c = Config::parse("[limits]\nmax_mfes = 100\ncontrol_clients = 2").unwrap();
        assert_eq!((c.limits.max_mfes, c.limits.control_clients), (100, 2));
        for bad in [
            "[limits]\nmax_mfes = 0",
            "[limits]\nmax_mfes = 100000000",
            "[limits]\ncontrol_clients = 0",
            "[limits]\ncounter_sync_per_second = 100000000",
            "[limits]\nmax_mfes = -1",
            "[limits]\nbogus = 1",
        ] {
            let e = Config::parse(bad).unwrap_err();
            assert!(
                e.contains("limits") || e.contains("max_mfes") || e.contains("bogus"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn one_proxy_upstream_per_family() {
        let two = "[[interface]]\nname = \"a\"\nupstream = true\n[[interface]]\nname = \"b\"\nupstream = true\n";
        let e = Config::parse(two).unwrap_err();
        assert!(
            e.contains("2 interfaces are the IPv4 proxy's upstream") && e.contains("\"a\", \"b\""),
            "{e}"
        );
        // One upstream per family, on two interfaces: fine.
        let split = "[[interface]]\nname = \"a\"\nupstream = true\nmld = false\n[[interface]]\nname = \"b\"\nupstream = true\nigmp = false\nmld = true\n";
        let c = Config::parse(split).unwrap();
        assert!(c.interfaces.iter().all(|i| i.upstream));
        // Without IPv6, an upstream with `igmp = false` is the upstream of nothing.
        let v4 = "[[interface]]\nname = \"a\"\nupstream = true\n[[interface]]\nname = \"b\"\nupstream = true\nigmp = false\n";
        let e = Config::parse(v4).unwrap_err();
        assert!(e.contains("\"b\"") && e.contains("in no family"), "{e}");
        let e = Config::parse("[[interface]]\nname = \"a\"\nupstream = true\nigmp = false\nmld = false\n[[interface]]\nname = \"b\"\nmld = true").unwrap_err();
        assert!(e.contains("in no family"), "{e}");
        let e = Config::parse("[[interface]]\nname = \"a\"\nupstream = 1").unwrap_err();
        assert!(e.contains("upstream"), "{e}");
    }
}
