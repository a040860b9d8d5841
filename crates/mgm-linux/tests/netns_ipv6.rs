//! IPv6 through the kernel's multicast forwarding plane, end to end in network namespaces:
//!
//! ```text
//!  netns <P>snd                       this test's own netns (the router)       netns <P>rcv
//!  snd0 2001:db8:1::2/64 ── rsnd 2001:db8:1::1/64 (MIF 0)
//!                           rrcv 2001:db8:2::1/64 (MIF 1) ── rcv0 2001:db8:2::2/64
//! ```
//!
//! The router is a [`Forwarder`] over a [`Mroute6Socket`], fed by an engine with a (*,G)
//! membership of ff0e::1:2 and an (S,G) membership of (2001:db8:1::2, ff3e::8000:1) on rrcv.
//! In order it checks that:
//!
//! 1. the receiver's MLDv2 report (its kernel's, on joining) reaches the router's socket with
//!    its interface, link-local source, destination ff02::16, hop limit 1 and router alert;
//! 2. the first datagram of each flow gives one `MRT6MSG_NOCACHE` upcall from MIF 0, which
//!    the engine turns into an MF6C entry toward MIF 1, and every datagram (the ones the
//!    kernel held meanwhile included) reaches the receiver;
//! 3. `SIOCGETSGCNT_IN6` and `SIOCGETMIFCNT_IN6` count them, and the engine gets the counts;
//! 4. a datagram of (S, ff0e::1:2) arriving on MIF 1 gives an `MRT6MSG_WRONGMIF` upcall;
//! 5. after shutdown, and again after the socket is closed, `/proc/net/ip6_mr_vif` and
//!    `ip6_mr_cache` are empty.
//!
//! The test runs itself in a private network and mount namespace (`unshare -nm` as root,
//! `unshare -Urnm` otherwise), with a tmpfs on `/run/netns` so that the namespaces it names
//! stay private too; sender and receiver are this test binary again, run by `ip netns exec`
//! in their namespaces with a role in the environment. Without root or unprivileged user
//! namespaces it says it was skipped; with `CI=true` that fails.
#![cfg(target_os = "linux")]

use std::io::{self, Read};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mgm::{DefaultHooks, IfKey, Mgm, MissOutcome, Route, Selector, Sg, JOIN, MS_IP_IGMP};
use mgm_linux::mroute::{Received6, MLDV2_ROUTERS, MLD_ALL_ROUTERS};
use mgm_linux::{
    net, Forwarder, GroupMemberships, Mroute6Socket, Upcall, UpcallKind, UpcallOutcome,
};

/// This test's name, for running the binary again with `--exact`.
const TEST: &str = "ipv6_forwarding_through_the_kernel";
/// The environment variable naming the role of a run of this binary.
const ROLE: &str = "MGM_LINUX_NETNS_ROLE";
/// The UDP port of the flows.
const PORT: u16 = 5000;
/// Datagrams per flow.
const N: usize = 20;

fn source() -> Ipv6Addr {
    "2001:db8:1::2".parse().expect("literal")
}
fn asm_group() -> Ipv6Addr {
    "ff0e::1:2".parse().expect("literal")
}
fn ssm_group() -> Ipv6Addr {
    "ff3e::8000:1".parse().expect("literal")
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

#[test]
fn ipv6_forwarding_through_the_kernel() {
    match std::env::var(ROLE).as_deref() {
        Ok("router") => router(),
        Ok("send") => send(),
        Ok("receive") => receive(),
        _ => outer(),
    }
}

/// Skips (or, under `CI=true`, fails) with `why`.
fn skip(why: &str) {
    assert!(!ci(), "CI=true but {TEST} cannot run: {why}");
    eprintln!("{TEST} SKIPPED: {why}");
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs this binary again as the router, in a private network and mount namespace.
fn outer() {
    if !Mroute6Socket::in_kernel() {
        // Not a prerequisite CI can install: the kernel's build decides. Skipped under
        // `CI=true` too, and said so loudly.
        eprintln!(
            "{TEST} SKIPPED: this kernel has no IPv6 multicast routing (CONFIG_IPV6_MROUTE; no \
             /proc/net/ip6_mr_vif), so nothing can be forwarded through it"
        );
        return;
    }
    if !succeeds(Command::new("ip").arg("-V")) {
        return skip("the `ip` command (iproute2) is missing");
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let flags = if root { "-nm" } else { "-Urnm" };
    if !succeeds(Command::new("unshare").args([flags, "true"])) {
        return skip(&format!("`unshare {flags}` is not allowed here"));
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = Command::new("unshare")
        .arg(flags)
        .arg(&exe)
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE, "router")
        .stdin(Stdio::null())
        .status()
        .expect("run the router under unshare");
    assert!(status.success(), "the router run failed: {status}");
}

fn sh(cmd: &str) {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The two named namespaces and the processes started in them; dropping it stops the
/// processes by PID and deletes the namespaces (and with them their ends of the veths).
struct Topology {
    prefix: String,
    children: Vec<Child>,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in ["snd", "rcv"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}{n}", self.prefix)])
                .status();
        }
    }
}

impl Topology {
    fn build() -> Topology {
        // The namespace files live on a tmpfs of this mount namespace only.
        sh(
            "mount --make-rprivate / && { [ -d /run/netns ] || mkdir -p /run/netns; } \
            && mount -t tmpfs tmpfs /run/netns",
        );
        let t = Topology {
            prefix: format!("mgml6{}", std::process::id()),
            children: Vec::new(),
        };
        let p = &t.prefix;
        // No duplicate address detection: addresses are usable at once.
        let no_dad = "echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad \
                      && echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad && ip link set lo up";
        sh(no_dad);
        for n in ["snd", "rcv"] {
            sh(&format!(
                "ip netns add {p}{n} && ip netns exec {p}{n} sh -c '{no_dad}'"
            ));
        }
        sh(&format!(
            "ip link add rsnd type veth peer name snd0 netns {p}snd \
             && ip link add rrcv type veth peer name rcv0 netns {p}rcv \
             && ip addr add 2001:db8:1::1/64 dev rsnd nodad && ip link set rsnd up \
             && ip addr add 2001:db8:2::1/64 dev rrcv nodad && ip link set rrcv up \
             && ip -n {p}snd addr add 2001:db8:1::2/64 dev snd0 nodad \
             && ip -n {p}snd link set snd0 up \
             && ip -n {p}snd route add default via 2001:db8:1::1 \
             && ip -n {p}rcv addr add 2001:db8:2::2/64 dev rcv0 nodad \
             && ip -n {p}rcv link set rcv0 up"
        ));
        t
    }

    /// Starts this binary in namespace `<prefix><ns>` as `role`, with `args` in
    /// `MGM_LINUX_NETNS_ARGS`; its stdout is piped.
    fn start(&mut self, ns: &str, role: &str, args: &str) -> usize {
        let exe = std::env::current_exe().expect("the test binary's path");
        let child = Command::new("ip")
            .args(["netns", "exec", &format!("{}{ns}", self.prefix)])
            .arg(exe)
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env("MGM_LINUX_NETNS_ARGS", args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the {role} in {ns}: {e}"));
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits for process `i` to end (at most `limit`) and returns its stdout.
    fn finish(&mut self, i: usize, limit: Duration) -> String {
        let c = &mut self.children[i];
        let until = Instant::now() + limit;
        while c.try_wait().expect("wait for a child").is_none() {
            assert!(Instant::now() < until, "a child ran past {limit:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = c.wait().expect("the child's status");
        let mut out = String::new();
        if let Some(mut o) = c.stdout.take() {
            o.read_to_string(&mut out).expect("the child's output");
        }
        assert!(status.success(), "a child failed ({status}): {out}");
        out
    }

    fn running(&mut self, i: usize) -> bool {
        self.children[i]
            .try_wait()
            .expect("wait for a child")
            .is_none()
    }
}

/// The rows of a `/proc/net/ip6_mr_*` table (its header line dropped).
fn proc_rows(table: &str) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/net/{table}"))
        .unwrap_or_else(|e| panic!("/proc/net/{table}: {e}"))
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

type Router = Forwarder<Ipv6Addr, Mroute6Socket>;

/// Reads every queued message of the router's socket, waiting up to `ms` for the first.
fn drain(f: &Router, ms: i32) -> Vec<Received6> {
    let mut out = Vec::new();
    if net::poll_readable(&[f.kernel().as_raw_fd()], ms).expect("poll")[0] {
        while let Some(m) = f.kernel().recv().expect("recv on the mroute socket") {
            out.push(m);
        }
    }
    out
}

/// Reads the queued messages as [`drain`] and hands every upcall among them to the
/// forwarder; returns the upcalls with their outcomes.
fn handle(f: &mut Router, ms: i32) -> Vec<(Upcall<Ipv6Addr>, UpcallOutcome<Ipv6Addr>)> {
    let mut out = Vec::new();
    for m in drain(f, ms) {
        if let Received6::Upcall(up) = m {
            let o = f
                .handle_upcall(&up)
                .expect("the forwarder handles the upcall");
            out.push((up, o));
        }
    }
    out
}

fn router() {
    let mut topo = Topology::build();
    let (rsnd, rrcv) = (
        net::interface_index("rsnd").expect("rsnd"),
        net::interface_index("rrcv").expect("rrcv"),
    );
    let (s, g_asm, g_ssm) = (source(), asm_group(), ssm_group());
    let mgm = Mgm::<Ipv6Addr>::default();
    let (mld, _events) = mgm
        .register(MS_IP_IGMP, 1, Arc::new(DefaultHooks))
        .expect("register MLD");
    mgm.take_interface(mld, IfKey::new(rrcv))
        .expect("take rrcv");
    let net1 = "2001:db8:1::".parse().expect("literal");
    mgm.add_route(Route::new(net1, 64, IfKey::new(rsnd)))
        .expect("route toward the sender");
    mgm.add_membership(mld, Selector::Group(g_asm), IfKey::new(rrcv), JOIN)
        .expect("(*,G)");
    let ssm = Selector::Source {
        source: s,
        group: g_ssm,
    };
    mgm.add_membership(mld, ssm, IfKey::new(rrcv), JOIN)
        .expect("(S,G)");
    let sock = match Mroute6Socket::open() {
        Ok(sock) => sock,
        Err(e) => return skip(&format!("no IPv6 multicast routing here: MRT6_INIT: {e}")),
    };
    let mut f = Forwarder::new(mgm.clone(), sock).expect("the forwarder");
    assert_eq!(f.add_interface(rsnd).expect("MRT6_ADD_MIF rsnd"), 0);
    assert_eq!(f.add_interface(rrcv).expect("MRT6_ADD_MIF rrcv"), 1);
    assert_eq!(proc_rows("ip6_mr_vif").len(), 2, "two MIFs in the kernel");
    let mut groups = GroupMemberships::<Ipv6Addr>::default();
    groups
        .join(rrcv, &[MLDV2_ROUTERS, MLD_ALL_ROUTERS])
        .expect("join ff02::16 and ff02::2 on rrcv");

    // 1. The receiver joins both groups: its kernel reports them with MLDv2.
    let rcv = topo.start("rcv", "receive", &format!("{g_asm} {g_ssm} {}", 2 * N));
    let until = Instant::now() + Duration::from_secs(3);
    let report = loop {
        assert!(
            Instant::now() < until,
            "no MLDv2 report of {g_asm} within 3 s"
        );
        let found = drain(&f, 100).into_iter().find_map(|m| match m {
            Received6::Mld {
                ifindex,
                ref payload,
                ..
            } if ifindex == rrcv && payload[0] == 143 && holds(payload, g_asm) => Some(m),
            _ => None,
        });
        if let Some(m) = found {
            break m;
        }
    };
    let Received6::Mld {
        source: from,
        destination,
        hop_limit,
        router_alert,
        ..
    } = report
    else {
        unreachable!("found as MLD")
    };
    assert!(
        from.is_unicast_link_local(),
        "an MLD source is link-local: {from}"
    );
    assert_eq!(
        (destination, hop_limit, router_alert),
        (MLDV2_ROUTERS, 1, true)
    );

    // 2. The sender starts both flows; the first datagram of each misses the kernel's cache.
    let snd = topo.start("snd", "send", &format!("{s} {g_asm} {g_ssm} {N}"));
    let mut upcalls = Vec::new();
    while topo.running(snd) {
        upcalls.extend(handle(&mut f, 10));
    }
    upcalls.extend(handle(&mut f, 100));
    let received = topo.finish(rcv, Duration::from_secs(10));
    topo.finish(snd, Duration::from_secs(1));
    let nocache: Vec<_> = upcalls
        .iter()
        .filter(|(u, _)| u.kind == UpcallKind::NoCache)
        .collect();
    assert_eq!(nocache.len(), 2, "one NOCACHE per flow: {upcalls:?}");
    for g in [g_asm, g_ssm] {
        let (up, outcome) = nocache
            .iter()
            .find(|(u, _)| u.group == g)
            .unwrap_or_else(|| panic!("no NOCACHE for {g}: {upcalls:?}"));
        assert_eq!((up.vif, up.source), (0, s), "from MIF 0 (rsnd), source {s}");
        assert!(
            matches!(outcome, UpcallOutcome::Miss(MissOutcome::Created(_))),
            "{outcome:?}"
        );
        assert_eq!(f.installed()[&Sg::new(s, g)].oifs, [1], "toward MIF 1");
        // libtest writes "test ... " before the first line, without a newline.
        let prefix = format!("RECEIVED {g} ");
        let got: Vec<usize> = received
            .lines()
            .filter_map(|l| Some(&l[l.find(&prefix)? + prefix.len()..]))
            .map(|seq| seq.parse().expect("a sequence number"))
            .collect();
        let every: Vec<usize> = (0..N).collect();
        assert_eq!(got, every, "every datagram of {g}, in order");
    }
    assert_eq!(proc_rows("ip6_mr_cache").len(), 2, "two MF6C entries");

    // 3. The kernel counted them, per entry and per MIF; the engine gets the counts.
    for g in [g_asm, g_ssm] {
        let c = f
            .kernel_counters(Sg::new(s, g))
            .expect("SIOCGETSGCNT_IN6 finds the entry");
        assert_eq!((c.packets, c.wrong_if), (N as u64, 0), "{g}: {c:?}");
        // IPv6 and UDP headers, then the payload.
        assert!(c.bytes >= c.packets * 48, "{g}: {c:?}");
    }
    let (inc, out) = (
        f.vif_counters(rsnd).expect("SIOCGETMIFCNT_IN6 of MIF 0"),
        f.vif_counters(rrcv).expect("SIOCGETMIFCNT_IN6 of MIF 1"),
    );
    assert!(inc.in_packets >= 2 * N as u64, "{inc:?}");
    assert!(out.out_packets >= 2 * N as u64, "{out:?}");
    assert_eq!(f.sync_counters(), 2);
    assert_eq!(
        mgm.mfe_stats(s, g_asm).expect("the entry").in_packets,
        N as u64
    );

    // 4. Datagrams of (S, ff0e::1:2) sent on the receiver's link arrive on MIF 1, an oif of
    // their entry: the kernel reports the wrong MIF (once: it rate-limits per entry).
    let p = topo.prefix.clone();
    sh(&format!("ip -n {p}rcv addr add {s}/128 dev rcv0 nodad"));
    let wrong = topo.start("rcv", "send", &format!("{s} {g_asm} {g_asm} 3"));
    let mut upcalls = Vec::new();
    while topo.running(wrong) {
        upcalls.extend(handle(&mut f, 10));
    }
    upcalls.extend(handle(&mut f, 100));
    topo.finish(wrong, Duration::from_secs(1));
    let (up, outcome) = upcalls
        .iter()
        .find(|(u, _)| u.kind == UpcallKind::WrongVif)
        .unwrap_or_else(|| panic!("no WRONGMIF upcall: {upcalls:?}"));
    assert_eq!((up.vif, up.source, up.group), (1, s, g_asm));
    assert!(
        matches!(outcome, UpcallOutcome::WrongInterface(_)),
        "{outcome:?}"
    );
    // The kernel counts every packet that matched the entry, the wrong-MIF ones too; none
    // was forwarded (MIF 0, the only other one, never sent a packet).
    let c = f.kernel_counters(Sg::new(s, g_asm)).expect("the entry");
    assert_eq!((c.packets, c.wrong_if), (N as u64 + 3, 3), "{c:?}");
    let back = f.vif_counters(rsnd).expect("SIOCGETMIFCNT_IN6 of MIF 0");
    assert_eq!(back.out_packets, 0, "{back:?}");

    // 5. Shutdown deletes every entry and MIF; closing the socket leaves the table empty.
    let errors = f.shutdown();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(proc_rows("ip6_mr_vif"), Vec::<String>::new(), "no MIF left");
    assert_eq!(
        proc_rows("ip6_mr_cache"),
        Vec::<String>::new(),
        "no MF6C left"
    );
    drop(f);
    drop(groups);
    assert_eq!(proc_rows("ip6_mr_vif"), Vec::<String>::new());
    assert_eq!(proc_rows("ip6_mr_cache"), Vec::<String>::new());
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/mc_forwarding")
        .expect("mc_forwarding");
    assert_eq!(forwarding.trim(), "0", "the kernel stopped forwarding");
}

/// True when the MLDv2 report `report` has a record for `group`.
fn holds(report: &[u8], group: Ipv6Addr) -> bool {
    let mut at = 8; // type, code, checksum, reserved, record count
    while let Some(rec) = report.get(at..at + 20) {
        if rec[4..20] == group.octets() {
            return true;
        }
        let sources = usize::from(u16::from_be_bytes([rec[2], rec[3]]));
        at += 20 + 16 * sources + 4 * usize::from(rec[1]);
    }
    false
}

fn args() -> Vec<String> {
    std::env::var("MGM_LINUX_NETNS_ARGS")
        .expect("MGM_LINUX_NETNS_ARGS")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// SOURCE GROUP1 GROUP2 COUNT: sends COUNT datagrams to each group in turn, 5 ms apart, hop
/// limit 8, each carrying "GROUP SEQ".
fn send() {
    let a = args();
    let s: Ipv6Addr = a[0].parse().expect("source");
    let groups: Vec<Ipv6Addr> = [&a[1], &a[2]]
        .iter()
        .map(|g| g.parse().expect("group"))
        .collect();
    let n: usize = a[3].parse().expect("count");
    let sock = UdpSocket::bind(SocketAddr::from((s, 0))).expect("bind the source");
    net::set_multicast_hops_v6(&sock, 8).expect("IPV6_MULTICAST_HOPS");
    for g in groups
        .iter()
        .take(if groups[0] == groups[1] { 1 } else { 2 })
    {
        for seq in 0..n {
            sock.send_to(
                format!("{g} {seq}").as_bytes(),
                SocketAddr::from((*g, PORT)),
            )
            .expect("send");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// GROUP1 GROUP2 TOTAL: joins both groups on rcv0, prints "RECEIVED <payload>" per datagram,
/// and ends with TOTAL received, or after 2 s without one.
fn receive() {
    let a = args();
    let ifindex = net::interface_index("rcv0").expect("rcv0");
    let sock = UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT))).expect("bind");
    for g in &a[..2] {
        let g: Ipv6Addr = g.parse().expect("group");
        sock.join_multicast_v6(&g, ifindex).expect("join");
    }
    let total: usize = a[2].parse().expect("total");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    for _ in 0..total {
        match sock.recv(&mut buf) {
            Ok(n) => println!("RECEIVED {}", String::from_utf8_lossy(&buf[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // 2 s without a datagram: after the join, the flows would have begun.
                break;
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}
