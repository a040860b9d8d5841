//! mgmd's configuration parser on any text: it returns a configuration or an error, never
//! panics, and what it accepts holds together (every interface a route or an mroute names is
//! configured, every mroute group is multicast, the limits are within their bounds).
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
    for m in &c.mroutes {
        assert!(m.group.is_multicast(), "non-multicast mroute accepted");
        assert!(m.from.iter().chain(&m.to).all(|n| known(n)));
    }
    assert!((1..=MAX_MFES_LIMIT).contains(&c.limits.max_mfes));
    assert!(c.limits.control_clients >= 1);
    c.igmp.to_config().expect("accepted IGMP settings convert");
});
