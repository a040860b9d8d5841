//! mgmd's configuration parser on any text: it returns a configuration or an error, never
//! panics, and what it accepts holds together (every interface a route or an mroute names is
//! configured, once; every mroute group is multicast; the rules of one (S,G) or one group's
//! (*,G) rules share one incoming interface; the limits are within their bounds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgmd::config::{Config, MAX_MFES_LIMIT};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Config::parse(text) else {
        return;
    };
    let known = |n: &str| c.interfaces.iter().any(|i| i.name == n);
    for r in &c.routes {
        assert!(known(&r.interface), "route to an unknown interface accepted");
        let (_, len) = r.parse().expect("accepted routes parse");
        assert!(len <= 32);
    }
    for (n, i) in c.interfaces.iter().enumerate() {
        assert!(
            c.interfaces[..n].iter().all(|o| o.name != i.name),
            "a duplicate interface accepted"
        );
    }
    for (n, m) in c.mroutes.iter().enumerate() {
        assert!(m.group.is_multicast(), "non-multicast mroute accepted");
        assert!(m.from.iter().chain(&m.to).all(|n| known(n)));
        assert!(
            c.mroutes[..n]
                .iter()
                .all(|o| (o.source, o.group) != (m.source, m.group) || o.from == m.from),
            "clashing mroutes accepted"
        );
    }
    assert!((1..=MAX_MFES_LIMIT).contains(&c.limits.max_mfes));
    assert!(c.limits.control_clients >= 1);
    c.igmp.to_config().expect("accepted IGMP settings convert");
});
