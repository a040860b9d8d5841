//! Readiness and status for a service manager, as systemd's `sd_notify` protocol has them: one
//! datagram of `KEY=VALUE` lines to the unix socket named by `NOTIFY_SOCKET`, a path, or an
//! abstract address when it starts with `@`.
//!
//! mgmd sends `READY=1` (with `STATUS=`) once every configured interface has its VIF and the
//! control socket listens, and `STOPPING=1` when it begins to shut down. Without
//! `NOTIFY_SOCKET` (not started by a service manager with `Type=notify`) nothing is sent.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable that names the service manager's socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (`KEY=VALUE` lines) to the socket `NOTIFY_SOCKET` names; `Ok(false)` when
/// the variable is not set.
///
/// # Errors
/// The address is malformed, or the datagram cannot be sent.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(addr) if !addr.is_empty() => {
            let addr = addr
                .into_string()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not UTF-8"))?;
            notify_to(&addr, state).map(|()| true)
        }
        _ => Ok(false),
    }
}

/// Sends `state` to `addr`: a socket path, or `@name` for an abstract address.
///
/// # Errors
/// The address is malformed, or the datagram cannot be sent.
///
/// ```
/// use std::os::unix::net::UnixDatagram;
/// let path = std::env::temp_dir().join(format!("mgmd-notify-doc-{}", std::process::id()));
/// let manager = UnixDatagram::bind(&path).unwrap();
/// mgmd::notify::notify_to(path.to_str().unwrap(), "READY=1\nSTATUS=up").unwrap();
/// let mut buf = [0u8; 64];
/// let n = manager.recv(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"READY=1\nSTATUS=up");
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn notify_to(addr: &str, state: &str) -> io::Result<()> {
    let to = address(addr)?;
    let sock = UnixDatagram::unbound()?;
    let sent = sock.send_to_addr(state.as_bytes(), &to)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("{sent} of {} bytes sent", state.len()),
        ));
    }
    Ok(())
}

fn address(addr: &str) -> io::Result<SocketAddr> {
    match addr.strip_prefix('@') {
        Some(name) => abstract_address(name),
        None if addr.starts_with('/') => SocketAddr::from_pathname(addr),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "expected an absolute path or @name",
        )),
    }
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_: &str) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket addresses are Linux's",
    ))
}

/// Characters that would break the `KEY=VALUE` line of a status text, replaced by spaces.
pub fn status_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_datagram_reaches_a_path() {
        let path = std::env::temp_dir().join(format!("mgmd-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let manager = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), "READY=1\nSTATUS=forwarding").unwrap();
        assert_eq!(recv(&manager), "READY=1\nSTATUS=forwarding");
        std::fs::remove_file(&path).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_datagram_reaches_an_abstract_address() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("mgmd-notify-test-{}", std::process::id());
        let manager =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        notify_to(&format!("@{name}"), "STOPPING=1").unwrap();
        assert_eq!(recv(&manager), "STOPPING=1");
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert_eq!(
            notify_to("relative/path", "READY=1").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let gone = std::env::temp_dir().join(format!("mgmd-notify-gone-{}", std::process::id()));
        assert!(notify_to(gone.to_str().unwrap(), "READY=1").is_err());
    }

    #[test]
    fn a_status_stays_on_its_line() {
        assert_eq!(status_line("a\nREADY=1\tb"), "a READY=1 b");
    }
}
