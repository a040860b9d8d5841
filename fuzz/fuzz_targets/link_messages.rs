//! The rtnetlink monitor's decoding (`mgm_linux::link`): arbitrary datagrams, split into
//! netlink messages, parsed by `netlink-packet-route` and turned into link events by the
//! link table. Nothing may panic; every event must agree with the table it leaves: a link
//! added, up, down or renamed is there under its name and ifindex, a removed one is gone
//! with its addresses, an address added is there, a removed one is not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgm_linux::link::{decode, Decoded, LinkEvent, LinkTable};

fuzz_target!(|data: &[u8]| {
    let mut table = LinkTable::default();
    // Datagrams: each a 2-byte little-endian length and that many bytes.
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (datagram, tail) = rest[2..].split_at(n);
        rest = tail;
        for m in decode(datagram) {
            let Ok(Decoded::Route(_, msg)) = m else { continue };
            let Ok(events) = table.apply(&msg) else { continue };
            // Each event as the table stood once the message was taken: only the last event
            // about a link or an address is checked against it.
            if let Some(e) = events.last() {
                match e {
                    LinkEvent::Added(l) | LinkEvent::Up(l) | LinkEvent::Down(l) => {
                        assert_eq!(table.link(l.ifindex), Some(l));
                        assert!(!matches!(e, LinkEvent::Up(_)) || l.is_up());
                        assert!(!matches!(e, LinkEvent::Down(_)) || !l.is_up());
                    }
                    LinkEvent::Renamed { link, .. } => assert_eq!(table.link(link.ifindex), Some(link)),
                    LinkEvent::Removed(l) => {
                        assert!(table.link(l.ifindex).is_none());
                        assert_eq!(table.addresses(l.ifindex).count(), 0);
                    }
                    LinkEvent::AddressAdded { address, .. } => {
                        assert!(table.addresses(address.ifindex).any(|a| a == address));
                    }
                    LinkEvent::AddressRemoved { address, .. } => {
                        assert!(!table.addresses(address.ifindex).any(|a| a == address));
                    }
                }
            }
        }
    }
});
