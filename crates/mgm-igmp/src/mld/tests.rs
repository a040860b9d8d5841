use super::*;

fn a(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn query(group: &str, sources: &[&str], version: u8) -> Query<Ipv6Addr> {
    Query {
        group: a(group),
        sources: sources.iter().map(|s| a(s)).collect(),
        max_response: Duration::from_secs(10),
        s_flag: false,
        qrv: 2,
        qqi: Duration::from_secs(125),
        version,
    }
}

#[test]
fn v1_messages_round_trip() {
    let g = a("ff0e::1234");
    assert_eq!(parse(&encode_v1(V1_REPORT, g)), Ok(Message::V1Report(g)));
    assert_eq!(parse(&encode_v1(V1_DONE, g)), Ok(Message::V1Done(g)));
    let q = Query {
        max_response: Duration::from_millis(65_535),
        qrv: 0,
        qqi: Duration::ZERO,
        ..query("::", &[], 1)
    };
    let b = q.encode();
    assert_eq!(b.len(), 24, "the MLDv1 form");
    assert_eq!(&b[4..6], &[0xff, 0xff], "delay in milliseconds");
    assert_eq!(parse(&b), Ok(Message::Query(q)));
}

#[test]
fn an_mldv1_query_carries_at_most_65535_ms() {
    let q = Query {
        max_response: Duration::from_secs(100),
        ..query("ff0e::1", &[], 1)
    };
    let Ok(Message::Query(back)) = parse(&q.encode()) else {
        panic!()
    };
    assert_eq!(back.max_response, Duration::from_millis(65_535));
}

#[test]
fn v2_queries_round_trip() {
    for q in [
        query("::", &[], 2),
        Query {
            s_flag: true,
            qrv: 7,
            max_response: Duration::from_secs(1),
            ..query("ff0e::1", &[], 2)
        },
        query(
            "ff3e::8000:1",
            &["2001:db8::1", "2001:db8::2", "2001:db8:1::3"],
            2,
        ),
    ] {
        let b = q.encode();
        assert_eq!(b.len(), 28 + 16 * q.sources.len());
        assert_eq!(parse(&b), Ok(Message::Query(q)));
    }
}

#[test]
fn maximum_response_codes_are_exact_below_32768_ms_and_close_above() {
    for ms in [0u128, 1, 1000, 10_000, 32_767] {
        assert_eq!(u128::from(decode_mrc(encode_mrc(ms))), ms);
    }
    for ms in [32_768u128, 40_000, 100_000, 1_000_000, 8_000_000] {
        let c = encode_mrc(ms);
        assert!(c & 0x8000 != 0, "{ms}: exponential form");
        let back = u128::from(decode_mrc(c));
        // Rounded down by less than one mantissa step (1/4096 of the value).
        assert!(
            back <= ms && ms - back <= ms / 4096 + 1,
            "{ms} -> {c:#x} -> {back}"
        );
    }
    assert_eq!(decode_mrc(0xffff), (0x1fff << 10), "the longest");
    assert_eq!(encode_mrc(u128::MAX), 0xffff, "saturates");
    // A long QQI uses the IGMPv3 code, like MLD's QQIC.
    let q = Query {
        qqi: Duration::from_secs(1000),
        ..query("::", &[], 2)
    };
    let Ok(Message::Query(back)) = parse(&q.encode()) else {
        panic!()
    };
    assert!(back.qqi <= q.qqi && back.qqi >= Duration::from_secs(900));
}

#[test]
fn every_rfc3810_record_type_round_trips() {
    let g = a("ff3e::8000:1");
    let s = [a("2001:db8::1"), a("2001:db8::2")];
    let records: Vec<GroupRecord<Ipv6Addr>> = (1..=6)
        .map(|kind| GroupRecord {
            kind,
            group: g,
            sources: s[..usize::from(kind % 3)].to_vec(),
        })
        .collect();
    let b = encode_v2_report(&records);
    assert_eq!(parse(&b), Ok(Message::V2Report(records)));
    assert_eq!(parse(&encode_v2_report(&[])), Ok(Message::V2Report(vec![])));
}

#[test]
fn auxiliary_data_is_skipped() {
    let g = a("ff0e::1");
    let mut b = encode_v2_report(&[GroupRecord {
        kind: 4,
        group: g,
        sources: vec![],
    }]);
    b[9] = 2; // two words of auxiliary data
    b.extend_from_slice(&[0xaa; 8]);
    let next = encode_v2_report(&[GroupRecord {
        kind: 2,
        group: g,
        sources: vec![],
    }]);
    b.extend_from_slice(&next[8..]);
    b[7] = 2;
    let Ok(Message::V2Report(recs)) = parse(&b) else {
        panic!("{:?}", parse(&b))
    };
    assert_eq!(recs.iter().map(|r| r.kind).collect::<Vec<_>>(), [4, 2]);
    // Without the last word of auxiliary data the second record is cut short.
    b.truncate(b.len() - 4);
    assert!(matches!(
        parse(&b),
        Err(ParseError::RecordTruncated { index: 1, .. })
    ));
}

#[test]
fn truncated_messages_are_refused_with_what_is_missing() {
    let report = encode_v2_report(&[GroupRecord {
        kind: 1,
        group: a("ff0e::1"),
        sources: vec![a("2001:db8::1")],
    }]);
    for len in 0..report.len() {
        assert!(parse(&report[..len]).is_err(), "report cut at {len}");
    }
    let q = query("ff0e::1", &["2001:db8::1"], 2).encode();
    for len in 0..q.len() {
        let r = parse(&q[..len]);
        match len {
            0 => assert_eq!(r, Err(ParseError::Empty)),
            1..=23 => assert_eq!(
                r,
                Err(ParseError::Truncated {
                    kind: QUERY,
                    len,
                    needed: 24
                })
            ),
            24 => assert!(matches!(r, Ok(Message::Query(Query { version: 1, .. })))),
            25..=27 => assert_eq!(r, Err(ParseError::QueryLength(len))),
            _ => assert_eq!(r, Err(ParseError::QuerySources { count: 1, len })),
        }
    }
    for kind in [V1_REPORT, V1_DONE] {
        let m = encode_v1(kind, a("ff0e::1"));
        assert!(parse(&m[..23]).is_err());
    }
    assert_eq!(
        parse(&report[..5]),
        Err(ParseError::Truncated {
            kind: V2_REPORT,
            len: 5,
            needed: 8
        })
    );
}

#[test]
fn malformed_messages_name_the_fault() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "empty MLD message"),
        (vec![135, 0, 0, 0], "ICMPv6 type 135 is not an MLD message"),
        (vec![128; 24], "ICMPv6 type 128 is not an MLD message"),
        (
            vec![130; 26],
            "MLD query of 26 bytes: neither MLDv1 (24 bytes) nor MLDv2 (28 bytes or more)",
        ),
        (
            {
                let mut q = query("::", &[], 2).encode();
                q[26..28].copy_from_slice(&[0xff, 0xff]);
                q
            },
            "MLDv2 query of 28 bytes claims 65535 sources (1048588 bytes)",
        ),
        (
            vec![143, 0, 0, 0, 0, 0, 0xff, 0xff],
            "MLDv2 report of 8 bytes ends inside record 1 of 65535",
        ),
        (
            vec![131, 0, 0, 0],
            "MLD message of 4 bytes, too short for a type 131 message (24 bytes)",
        ),
    ];
    for (b, want) in cases {
        assert_eq!(parse(&b).unwrap_err().to_string(), want, "{b:?}");
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A fixed xorshift stream: every length up to 200, MLD type bytes most of the time.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut ok = 0;
    for len in 0..200usize {
        for _ in 0..50 {
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(t) = b.first_mut() {
                *t = [QUERY, V1_REPORT, V1_DONE, V2_REPORT, *t][(next() % 5) as usize];
            }
            if len > 7 && next() % 2 == 0 {
                // Small counts, so that some records fit.
                b[6] = 0;
                b[7] %= 3;
                if len > 27 {
                    b[26] = 0;
                    b[27] %= 3;
                }
            }
            ok += usize::from(parse(&b).is_ok());
        }
    }
    assert!(ok > 100, "some inputs parse: {ok}");
}

#[test]
fn the_checksum_covers_the_pseudo_header() {
    let (src, dst) = (a("fe80::2"), MLDV2_ROUTERS);
    let mut b = encode_v2_report(&[GroupRecord {
        kind: 4,
        group: a("ff0e::1"),
        sources: vec![],
    }]);
    assert_eq!(&b[2..4], &[0, 0], "left for the kernel");
    set_checksum(&mut b, src, dst);
    assert_eq!(checksum(&b, src, dst), 0);
    assert_ne!(checksum(&b, src, ALL_ROUTERS), 0, "another destination");
    b[20] ^= 1;
    assert_ne!(checksum(&b, src, dst), 0, "a corrupted byte");
    // The parser leaves the field to the kernel: a wrong checksum still parses.
    assert!(parse(&b).is_ok());
    // By hand for an MLDv1 done from fe80::1 to ff02::2: the 16-bit words of source,
    // destination, length 24, next header 58, type 132 and the group ff0e::1.
    let done = encode_v1(V1_DONE, a("ff0e::1"));
    let words: u32 = 0xfe80 + 1 + 0xff02 + 2 + 24 + 58 + (132 << 8) + 0xff0e + 1;
    let folded = (words & 0xffff) + (words >> 16);
    assert_eq!(checksum(&done, a("fe80::1"), ALL_ROUTERS), !(folded as u16));
    let mut short = [130u8, 0];
    set_checksum(&mut short, src, dst);
    assert_eq!(short, [130, 0], "too short to hold a checksum: untouched");
}

#[test]
fn address_checks() {
    assert!(is_link_local(a("fe80::1")) && is_link_local(a("febf::1")));
    assert!(!is_link_local(a("fec0::1")) && !is_link_local(a("::")));
    for g in ["ff03::1", "ff05::2", "ff0e::1", "ff1e::1", "ff3e::1"] {
        assert!(is_routable_group(a(g)), "{g}");
    }
    for g in [
        "ff00::1", "ff01::1", "ff02::1", "ff02::16", "ff0f::1", "fe80::1",
    ] {
        assert!(!is_routable_group(a(g)), "{g}");
    }
}
