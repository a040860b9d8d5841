//! `mgmd.example.toml`, the commented example configuration, is a valid configuration; it
//! names every key the parser takes, and the defaults it shows in comments are the defaults.

use mgmd::config::Config;

const EXAMPLE: &str = include_str!("../mgmd.example.toml");

/// The example with each commented-out `# key = value` line put back.
fn uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_assignment(rest) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_assignment(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// The keys the parser takes where `prefix` leaves it, as its refusal of an unknown key
/// lists them.
fn keys_taken(prefix: &str) -> Vec<String> {
    let e = Config::parse(&format!("{prefix}no_such_key_here = 1\n")).unwrap_err();
    let list = e
        .split_once("expected one of ")
        .or_else(|| e.split_once("expected "))
        .unwrap_or_else(|| panic!("no list of keys in: {e}"))
        .1;
    let keys: Vec<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(!keys.is_empty(), "{e}");
    keys
}

#[test]
fn the_example_is_a_valid_configuration() {
    let c = Config::parse(EXAMPLE).unwrap_or_else(|e| panic!("mgmd.example.toml: {e}"));
    let names: Vec<&str> = c.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth0", "eth1", "eth2"]);
    assert_eq!(
        c.interfaces.iter().map(|i| i.igmp).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert_eq!((c.routes.len(), c.mroutes.len()), (1, 2));
    let u = Config::parse(&uncommented()).unwrap_or_else(|e| panic!("uncommented: {e}"));
    assert_eq!(u.control_socket.as_deref(), Some("/run/mgmd.sock".as_ref()));
    assert!(u.routes[0].upstream.is_some());
}

#[test]
fn the_defaults_in_comments_are_the_defaults() {
    let plain = Config::parse(EXAMPLE).unwrap();
    let spelled = Config::parse(&uncommented()).unwrap();
    assert_eq!(
        format!("{:?}", plain.igmp.to_config().unwrap()),
        format!("{:?}", spelled.igmp.to_config().unwrap())
    );
    assert_eq!(
        format!("{:?}", plain.mld.to_config().unwrap()),
        format!("{:?}", spelled.mld.to_config().unwrap())
    );
    assert_eq!(
        format!("{:?}", plain.limits),
        format!("{:?}", spelled.limits)
    );
    assert_eq!(
        spelled.control_socket.as_deref(),
        Some(mgmd::cli::DEFAULT_SOCKET.as_ref())
    );
}

#[test]
fn the_example_names_every_key() {
    let text = uncommented();
    let assigned = |key: &str| {
        text.lines()
            .any(|l| l.split_once(" = ").is_some_and(|(k, _)| k == key))
    };
    let entry = "name = \"x\"\n";
    for (prefix, table) in [
        ("", "top level"),
        ("[igmp]\n", "[igmp]"),
        ("[mld]\n", "[mld]"),
        ("[limits]\n", "[limits]"),
        (&format!("[[interface]]\n{entry}"), "[[interface]]"),
        ("[[route]]\n", "[[route]]"),
        ("[[mroute]]\n", "[[mroute]]"),
    ] {
        for key in keys_taken(prefix) {
            let shown = assigned(&key)
                || text.contains(&format!("[{key}]"))
                || text.contains(&format!("[[{key}]]"));
            assert!(shown, "{table} key {key} is not in mgmd.example.toml");
        }
    }
}

#[test]
fn mgmd_check_accepts_the_example() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/mgmd.example.toml");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_mgmd"))
        .args(["--config", path, "--check"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{path}: ok\n"));
}
