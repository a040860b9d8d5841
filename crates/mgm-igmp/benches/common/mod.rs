//! The table the router's bench and the `report_costs` example both measure: one interface,
//! N groups in EXCLUDE mode reported by 250 hosts, the limits raised so that it holds them.
use std::net::Ipv4Addr;
use std::time::Duration;

use mgm_igmp::{encode_v2, IgmpConfig, IgmpLimits, IgmpRouter, Subnet};

/// The interface.
pub const IF: u32 = 3;
/// The router's address on it.
pub const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// The i-th group: 239.x.y.z from i.
pub fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(0xef00_0000 | (i & 0x00ff_ffff))
}

/// The host that reports the i-th group.
pub fn host(i: u32) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, (i % 250) as u8 + 2)
}

/// A router with `n` (*,G) memberships on [`IF`], reported at 1 s.
pub fn filled(n: u32) -> IgmpRouter {
    let mut r = IgmpRouter::new(IgmpConfig {
        limits: IgmpLimits {
            groups_per_interface: 1 << 20,
            sources_per_group: 128,
            memberships_per_host: 1 << 20,
            hosts_per_interface: 1 << 20,
        },
        ..IgmpConfig::default()
    });
    r.add_interface(IF, ME, Duration::ZERO)
        .expect("the bench interface is valid");
    r.set_subnets(IF, &[Subnet::new(ME, 16)]);
    let t = Duration::from_secs(1);
    for i in 0..n {
        r.receive(IF, host(i), &encode_v2(0x16, group(i)), t);
    }
    assert_eq!(r.memberships(IF).len(), n as usize);
    r
}
