//! The checks of a parsed configuration: everything that would stop mgmd's start-up, each
//! problem named with its line and entry.

use std::net::IpAddr;

use mgm::Family;
use serde::Deserialize;

use super::Config;

impl Config {
    /// Every problem of a parsed configuration, in the order of the file.
    pub(super) fn problems(&self, lines: &Lines) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(p) = &self.control_socket {
            if let Err(e) = crate::socket_path::check_length(p) {
                out.push(format!("control_socket {:?}: {e}", p.display()));
            }
        }
        if let Err(e) = self.igmp.to_config() {
            out.push(e);
        }
        if let Err(e) = self.mld.to_config_of("mld") {
            out.push(e);
        }
        if let Err(e) = self.limits.check() {
            out.push(e);
        }
        self.interface_problems(lines, &mut out);
        self.route_problems(lines, &mut out);
        self.mroute_problems(lines, &mut out);
        out
    }

    fn interface_problems(&self, lines: &Lines, out: &mut Vec<String>) {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        let ipv6 = self.families().ipv6;
        for (n, i) in self.interfaces.iter().enumerate() {
            let at = lines.entry("interface", n);
            if let Err(e) = check_ifname(&i.name) {
                out.push(format!("{at} (name = {:?}): {e}", i.name));
            }
            match seen.iter().find(|(name, _)| *name == i.name) {
                Some((_, first)) => out.push(format!(
                    "{at}: interface {:?} is already {}; each interface is listed once",
                    i.name,
                    lines.entry("interface", *first)
                )),
                None => seen.push((&i.name, n)),
            }
            let mld = ipv6 && i.mld != Some(false);
            if i.upstream && !i.igmp && !mld {
                out.push(format!(
                    "{at} ({:?}): upstream = true, but it is the proxy's upstream in no family (igmp = false, and no MLD): say igmp = true or mld = true",
                    i.name
                ));
            }
            if !i.igmp && !mld && (i.require_router_alert.is_some() || i.require_ttl_one.is_some())
            {
                out.push(format!(
                    "{at} ({:?}): require_router_alert and require_ttl_one are IGMP and MLD checks, and neither runs there (igmp = false, and no MLD)",
                    i.name
                ));
            }
        }
        for (family, runs, on) in [
            ("IPv4", true, self.upstreams_of(false)),
            ("IPv6", ipv6, self.upstreams_of(true)),
        ] {
            if runs && on.len() > 1 {
                let names: Vec<String> = on
                    .iter()
                    .map(|n| format!("{:?}", self.interfaces[*n].name))
                    .collect();
                out.push(format!(
                    "{}: {} interfaces are the {family} proxy's upstream ({}): a proxy has one upstream interface per family (say `igmp = false` or `mld = false` on the others)",
                    lines.entry("interface", on[1]),
                    on.len(),
                    names.join(", ")
                ));
            }
        }
        if seen.len() > mgm_linux::mroute::MAXVIFS {
            out.push(format!(
                "{} interfaces: the kernel has at most {} VIFs (MAXVIFS)",
                seen.len(),
                mgm_linux::mroute::MAXVIFS
            ));
        }
    }

    /// The positions of the interfaces that are the proxy's upstream in a family.
    fn upstreams_of(&self, ipv6: bool) -> Vec<usize> {
        self.interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.upstream && if ipv6 { i.mld != Some(false) } else { i.igmp })
            .map(|(n, _)| n)
            .collect()
    }

    fn known(&self, name: &str) -> bool {
        self.interfaces.iter().any(|i| i.name == name)
    }

    fn route_problems(&self, lines: &Lines, out: &mut Vec<String>) {
        let mut seen: Vec<((IpAddr, u8), usize)> = Vec::new();
        for (n, r) in self.routes.iter().enumerate() {
            let at = format!("{} (prefix = {:?})", lines.entry("route", n), r.prefix);
            if !self.known(&r.interface) {
                out.push(format!(
                    "{at}: interface {:?} is not an [[interface]]",
                    r.interface
                ));
            }
            if let Some(u) = r.upstream.filter(|u| !u.is_unspecified() && !is_source(*u)) {
                out.push(format!(
                    "{at}: upstream {u} is not a unicast address a neighbour can have"
                ));
            }
            let key = match r.parse() {
                Ok(k) => k,
                Err(e) => {
                    // The message names the prefix.
                    out.push(format!("{}: {e}", lines.entry("route", n)));
                    continue;
                }
            };
            if let Some(u) = r.upstream.filter(|u| u.is_ipv4() != key.0.is_ipv4()) {
                out.push(format!(
                    "{at}: upstream {u} is not of the prefix's address family"
                ));
            }
            match seen.iter().find(|(k, _)| *k == key) {
                Some((_, first)) => out.push(format!(
                    "{at}: the same prefix as {}; a prefix has one route",
                    lines.entry("route", *first)
                )),
                None => seen.push((key, n)),
            }
        }
    }

    fn mroute_problems(&self, lines: &Lines, out: &mut Vec<String>) {
        for (n, m) in self.mroutes.iter().enumerate() {
            let at = format!("{} ({})", lines.entry("mroute", n), m.describe());
            if !m.group.is_multicast() {
                out.push(format!(
                    "{at}: group {} is not multicast ({})",
                    m.group,
                    if m.group.is_ipv4() {
                        "224.0.0.0/4"
                    } else {
                        "ff00::/8"
                    }
                ));
            }
            if let Some(s) = m.source.filter(|s| s.is_ipv4() != m.group.is_ipv4()) {
                out.push(format!(
                    "{at}: source {s} and group {} are of different address families",
                    m.group
                ));
            }
            if let Some(s) = m.source.filter(|s| !is_source(*s)) {
                out.push(format!(
                    "{at}: source {s} cannot send multicast (multicast, unspecified, loopback or class E)"
                ));
            }
            for name in m.from.iter().chain(&m.to) {
                if !self.known(name) {
                    out.push(format!("{at}: interface {name:?} is not an [[interface]]"));
                }
            }
            if let Some(from) = m.from.as_ref().filter(|f| m.to.contains(f)) {
                out.push(format!(
                    "{at}: {from:?} is both `from` and in `to`; the kernel never forwards a packet out of the interface it came in on"
                ));
            }
            if let Some((first, other)) = self.mroutes[..n]
                .iter()
                .enumerate()
                .find(|(_, o)| o.source == m.source && o.group == m.group && o.from != m.from)
            {
                let rule = if m.source.is_some() {
                    "an (S,G) has one incoming interface"
                } else {
                    "the (*,G) rules of a group share one incoming interface (`from`): \
                     give each upstream's sources (S,G) rules of their own"
                };
                out.push(format!(
                    "{at} clashes with {} ({}): {rule}",
                    lines.entry("mroute", first),
                    other.describe(),
                ));
            }
            if let (Some(s), Some(from)) = (m.source, &m.from) {
                let pinned = self
                    .routes
                    .iter()
                    .enumerate()
                    .find(|(_, r)| r.parse() == Ok((s, host_len(s))) && r.interface != *from);
                if let Some((k, r)) = pinned {
                    out.push(format!(
                        "{at}: {} routes {s}/{} through {:?}, but this mroute takes {s} from {from:?}",
                        lines.entry("route", k),
                        host_len(s),
                        r.interface
                    ));
                }
            }
        }
    }
}

/// True for an address that may send multicast ([`Family::is_source`]).
fn is_source(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_source(),
        IpAddr::V6(v6) => v6.is_source(),
    }
}

/// The length of a host route to `a`: 32 or 128.
pub fn host_len(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// The first line of each `[[interface]]`, `[[route]]` and `[[mroute]]` entry, for messages.
#[derive(Default)]
pub(super) struct Lines {
    interface: Vec<usize>,
    route: Vec<usize>,
    mroute: Vec<usize>,
}

impl Lines {
    /// Reads the entries' places from the text (any that cannot be read have none).
    pub(super) fn of(text: &str) -> Lines {
        #[derive(Deserialize)]
        struct Places {
            #[serde(default)]
            interface: Vec<toml::Spanned<toml::Table>>,
            #[serde(default)]
            route: Vec<toml::Spanned<toml::Table>>,
            #[serde(default)]
            mroute: Vec<toml::Spanned<toml::Table>>,
        }
        let Ok(p) = toml::from_str::<Places>(text) else {
            return Lines::default();
        };
        let line = |e: &toml::Spanned<toml::Table>| {
            let at = e.span().start.min(text.len());
            text.as_bytes()[..at]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        };
        Lines {
            interface: p.interface.iter().map(line).collect(),
            route: p.route.iter().map(line).collect(),
            mroute: p.mroute.iter().map(line).collect(),
        }
    }

    /// `line 12: [[route]] #2` (entries counted from 1).
    fn entry(&self, table: &str, n: usize) -> String {
        let lines = match table {
            "interface" => &self.interface,
            "route" => &self.route,
            _ => &self.mroute,
        };
        match lines.get(n) {
            Some(l) => format!("line {l}: [[{table}]] #{}", n + 1),
            None => format!("[[{table}]] #{}", n + 1),
        }
    }
}

/// The kernel's rule for an interface name (`dev_valid_name`): 1 to 15 bytes, not `.` or
/// `..`, no `/`, `:` or white space.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err("an interface name has 1 to 15 bytes".into());
    }
    if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        return Err("an interface name has no '/', ':' or white space and is not . or ..".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The refusal of `text`, which must name every piece of `says`.
    fn refused(text: &str, says: &[&str]) -> String {
        let e = Config::parse(text).expect_err(text);
        for w in says {
            assert!(e.contains(w), "{text}\n-> {e}\n(expected {w:?})");
        }
        e
    }

    const TWO: &str = "[[interface]]\nname = \"up\"\n[[interface]]\nname = \"down\"\n";

    #[test]
    fn a_duplicate_interface_is_refused_with_both_lines() {
        refused(
            "[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth0\"\nigmp = false\n",
            &[
                "line 4: [[interface]] #2",
                "\"eth0\" is already line 1: [[interface]] #1",
            ],
        );
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        for bad in [
            "",
            "a-name-of-16-ch",
            "a-name-of-16-chr",
            "a/b",
            "a:1",
            "a b",
            "..",
        ] {
            let text = format!("[[interface]]\nname = {bad:?}\n");
            if bad.len() == 15 {
                // 15 bytes is the longest name the kernel takes.
                assert!(Config::parse(&text).is_ok(), "{bad}");
                continue;
            }
            refused(&text, &["line 1: [[interface]] #1", "interface name"]);
        }
        let many: String = (0..33)
            .map(|i| format!("[[interface]]\nname = \"v{i}\"\n"))
            .collect();
        refused(&many, &["33 interfaces", "32 VIFs"]);
    }

    #[test]
    fn a_route_with_host_bits_or_in_multicast_space_is_refused() {
        refused(
            &format!("{TWO}[[route]]\nprefix = \"198.51.100.7/24\"\ninterface = \"up\"\n"),
            &[
                "line 5: [[route]] #1",
                "host bits set (the prefix is 198.51.100.0/24)",
            ],
        );
        refused(
            &format!("{TWO}[[route]]\nprefix = \"239.0.0.0/8\"\ninterface = \"up\"\n"),
            &["[[route]] #1", "multicast space"],
        );
        for bad in ["198.51.100.0", "198.51.100.0/33", "198.51.100/24"] {
            let text = format!("{TWO}[[route]]\nprefix = {bad:?}\ninterface = \"up\"\n");
            refused(&text, &["line 5: [[route]] #1", bad]);
        }
        // A host route, and the default route, are fine.
        for good in ["198.51.100.7/32", "0.0.0.0/0"] {
            let text = format!("{TWO}[[route]]\nprefix = {good:?}\ninterface = \"up\"\n");
            assert!(Config::parse(&text).is_ok(), "{good}");
        }
    }

    #[test]
    fn routes_are_unique_lead_to_interfaces_and_have_unicast_neighbours() {
        let route = |p: &str, i: &str| format!("[[route]]\nprefix = {p:?}\ninterface = {i:?}\n");
        refused(
            &format!(
                "{TWO}{}{}",
                route("198.51.100.0/24", "up"),
                route("198.51.100.0/24", "down")
            ),
            &[
                "line 8: [[route]] #2",
                "the same prefix as line 5: [[route]] #1",
            ],
        );
        refused(
            &format!("{TWO}{}", route("198.51.100.0/24", "eth9")),
            &["[[route]] #1", "\"eth9\" is not an [[interface]]"],
        );
        refused(
            &format!(
                "{TWO}{}upstream = \"239.1.1.1\"\n",
                route("198.51.100.0/24", "up")
            ),
            &["[[route]] #1", "upstream 239.1.1.1"],
        );
    }

    #[test]
    fn ipv6_groups_sources_and_routes_are_taken_and_checked() {
        let ok = Config::parse(&format!(
            "{TWO}[[route]]\nprefix = \"2001:db8:1::/48\"\ninterface = \"up\"\nupstream = \"fe80::1\"\n\
             [[route]]\nprefix = \"198.51.100.0/24\"\ninterface = \"up\"\n\
             [[mroute]]\nfrom = \"up\"\nsource = \"2001:db8:1::2\"\ngroup = \"ff3e::1:3\"\nto = [\"down\"]\n\
             [[mroute]]\ngroup = \"ff0e::1\"\nto = [\"down\"]\n"
        ))
        .unwrap();
        let f = ok.families();
        assert!(f.ipv4 && f.ipv6, "{f:?}");
        assert_eq!(
            ok.routes[0].parse(),
            Ok(("2001:db8:1::".parse().unwrap(), 48))
        );
        let route = |p: &str| format!("{TWO}[[route]]\nprefix = {p:?}\ninterface = \"up\"\n");
        refused(
            &route("2001:db8:1::1/48"),
            &[
                "[[route]] #1",
                "host bits set (the prefix is 2001:db8:1::/48)",
            ],
        );
        refused(&route("ff0e::/16"), &["multicast space"]);
        refused(&route("2001:db8::/129"), &["bad length (0 to 128)"]);
        refused(
            &format!("{}upstream = \"198.51.100.1\"\n", route("2001:db8::/32")),
            &["upstream 198.51.100.1 is not of the prefix's address family"],
        );
        let mroute = |s: &str, g: &str| {
            format!("{TWO}[[mroute]]\nsource = {s:?}\ngroup = {g:?}\nto = [\"down\"]\n")
        };
        refused(
            &mroute("198.51.100.2", "ff0e::1"),
            &["of different address families"],
        );
        refused(
            &mroute("2001:db8::2", "2001:db8::3"),
            &["not multicast (ff00::/8)"],
        );
        refused(&mroute("ff02::1", "ff0e::1"), &["cannot send multicast"]);
        // An (S,G) rule's host route is /128 in IPv6.
        refused(
            &format!(
                "{}[[mroute]]\nfrom = \"up\"\nsource = \"2001:db8::2\"\ngroup = \"ff0e::1\"\nto = [\"down\"]\n",
                route("2001:db8::2/128").replace("\"up\"\n[[mroute", "\"down\"\n[[mroute")
                    .replace("interface = \"up\"", "interface = \"down\"")
            ),
            &["routes 2001:db8::2/128 through \"down\""],
        );
    }

    #[test]
    fn a_family_runs_only_when_configured() {
        let f = |text: &str| Config::parse(text).unwrap().families();
        let v4 = f(TWO);
        assert!(v4.ipv4 && !v4.ipv6, "an IPv4 file as before: {v4:?}");
        let v6 = f("[[interface]]\nname = \"a\"\nigmp = false\nmld = true\n");
        assert!(!v6.ipv4 && v6.ipv6, "{v6:?}");
        let both = f("[[interface]]\nname = \"a\"\nmld = true\n");
        assert!(both.ipv4 && both.ipv6, "{both:?}");
        // MLD's checks may be set where IGMP is off.
        assert!(Config::parse(
            "[[interface]]\nname = \"a\"\nigmp = false\nmld = true\nrequire_router_alert = false\n"
        )
        .is_ok());
        let e = Config::parse("[mld]\nrobustness = 9\n").unwrap_err();
        assert!(e.contains("mld.robustness = 9"), "{e}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        for (text, key, line) in [
            ("bogus = 1\n", "bogus", 1),
            ("[igmp]\nrobustnes = 3\n", "robustnes", 2),
            ("[limits]\nmax_mfe = 3\n", "max_mfe", 2),
            (
                &format!("{TWO}[[interface]]\nname = \"x\"\nigmpp = true\n"),
                "igmpp",
                7,
            ),
            (
                &format!(
                    "{TWO}[[mroute]]\ngroup = \"239.1.1.1\"\nto = [\"down\"]\nform = \"up\"\n"
                ),
                "form",
                8,
            ),
        ] {
            refused(
                text,
                &[&format!("line {line}"), &format!("unknown field `{key}`")],
            );
        }
    }

    #[test]
    fn mroute_addresses_are_checked() {
        let m = |body: &str| format!("{TWO}[[mroute]]\n{body}\nto = [\"down\"]\n");
        refused(
            &m("group = \"198.51.100.1\""),
            &["line 5: [[mroute]] #1 ((*, 198.51.100.1))", "not multicast"],
        );
        for s in ["239.1.1.1", "0.0.0.0", "127.0.0.1", "240.0.0.1"] {
            refused(
                &m(&format!("source = {s:?}\ngroup = \"239.1.1.1\"")),
                &[
                    "[[mroute]] #1",
                    &format!("source {s} cannot send multicast"),
                ],
            );
        }
        refused(
            &m("from = \"down\"\ngroup = \"239.1.1.1\""),
            &["\"down\" is both `from` and in `to`"],
        );
        refused(
            &m("from = \"eth7\"\ngroup = \"239.1.1.1\""),
            &["\"eth7\" is not an [[interface]]"],
        );
    }

    #[test]
    fn star_g_rules_of_one_group_from_different_interfaces_are_refused() {
        let three = format!("{TWO}[[interface]]\nname = \"other\"\n");
        let rule = |from: Option<&str>, source: Option<&str>, to: &str| {
            let mut r = String::from("[[mroute]]\ngroup = \"239.4.4.4\"\n");
            if let Some(f) = from {
                r += &format!("from = {f:?}\n");
            }
            if let Some(s) = source {
                r += &format!("source = {s:?}\n");
            }
            r + &format!("to = [{to:?}]\n")
        };
        let e = refused(
            &format!(
                "{three}{}{}",
                rule(Some("up"), None, "down"),
                rule(Some("other"), None, "down")
            ),
            &[
                "line 11: [[mroute]] #2 ((*, 239.4.4.4) from \"other\")",
                "clashes with line 7: [[mroute]] #1 ((*, 239.4.4.4) from \"up\")",
                "(S,G) rules",
            ],
        );
        assert_eq!(e.lines().count(), 1, "{e}");
        // A rule without `from` (the route decides) and one with it clash as well.
        refused(
            &format!(
                "{three}{}{}",
                rule(None, None, "down"),
                rule(Some("up"), None, "down")
            ),
            &["[[mroute]] #2", "clashes with"],
        );
        // Two (S,G) rules for one (S,G) from different interfaces.
        let s = Some("198.51.100.2");
        refused(
            &format!(
                "{three}{}{}",
                rule(Some("up"), s, "down"),
                rule(Some("other"), s, "down")
            ),
            &[
                "[[mroute]] #2 ((198.51.100.2, 239.4.4.4) from \"other\")",
                "one incoming interface",
            ],
        );
        // What is accepted: one `from` for the group's (*,G) rules (their `to` lists add
        // up), and (S,G) rules that give single sources another one.
        let ok = format!(
            "{three}{}{}{}",
            rule(Some("up"), None, "down"),
            rule(Some("up"), None, "other"),
            rule(Some("other"), s, "down")
        );
        let c = Config::parse(&ok).unwrap();
        assert_eq!(c.mroutes.len(), 3);
    }

    #[test]
    fn a_host_route_that_contradicts_an_sg_rule_is_refused() {
        let text = format!(
            "{TWO}[[route]]\nprefix = \"198.51.100.2/32\"\ninterface = \"down\"\n\
             [[mroute]]\nfrom = \"up\"\nsource = \"198.51.100.2\"\ngroup = \"239.1.1.1\"\nto = [\"down\"]\n"
        );
        refused(
            &text,
            &[
                "[[mroute]] #1",
                "line 5: [[route]] #1 routes 198.51.100.2/32 through \"down\"",
            ],
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = format!(
            "control_socket = \"/{}\"\n{TWO}[[interface]]\nname = \"up\"\n\
             [[route]]\nprefix = \"198.51.100.7/24\"\ninterface = \"up\"\n",
            "x".repeat(120)
        );
        let e = refused(
            &text,
            &["control_socket", "107", "[[interface]] #3", "host bits"],
        );
        assert_eq!(e.lines().count(), 3, "{e}");
    }
}
