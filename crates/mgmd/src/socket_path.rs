//! The control socket's path: mgmd binds it only where nothing else is, and removes only a
//! stale socket of its own kind.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Makes `path` free for a new control socket.
///
/// * nothing there: nothing to do;
/// * a socket nobody answers on (connect refused: a stale socket left by a stopped mgmd):
///   it is removed;
/// * a socket something answers on (another mgmd): refused;
/// * anything else (a file, a directory, a link): refused, and left as it is.
///
/// # Errors
/// A message that says what is at the path and why mgmd will not replace it.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("mgmd-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let file = dir.join("not-a-socket");
/// std::fs::write(&file, b"data").unwrap();
/// assert!(mgmd::socket_path::prepare(&file).is_err());
/// assert_eq!(std::fs::read(&file).unwrap(), b"data", "left as it was");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn prepare(path: &Path) -> Result<(), String> {
    let shown = path.display();
    check_length(path).map_err(|e| format!("control socket {shown}: {e}"))?;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("control socket {shown}: {e}")),
    };
    let ft = meta.file_type();
    if !ft.is_socket() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_symlink() {
            "a symbolic link"
        } else if ft.is_file() {
            "a regular file"
        } else {
            "not a socket"
        };
        return Err(format!(
            "control socket {shown} exists and is {what}: mgmd replaces only a stale socket; remove it or choose another control_socket"
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "control socket {shown}: another process (another mgmd?) answers on it: refusing to start"
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => std::fs::remove_file(path)
            .map_err(|e| format!("control socket {shown}: removing the stale socket: {e}")),
        Err(e) => Err(format!("control socket {shown}: {e}")),
    }
}

/// The longest path a unix socket takes (`sun_path` holds 108 bytes with the final zero).
pub const MAX_PATH: usize = 107;

/// A path a unix socket can be bound to: 1 to [`MAX_PATH`] bytes.
///
/// # Errors
/// What is wrong with its length.
///
/// ```
/// use mgmd::socket_path::check_length;
/// assert!(check_length("/run/mgmd.sock".as_ref()).is_ok());
/// assert!(check_length(format!("/{}", "x".repeat(107)).as_ref()).is_err());
/// ```
pub fn check_length(path: &Path) -> Result<(), String> {
    match path.as_os_str().len() {
        0 => Err("empty path".into()),
        n if n > MAX_PATH => Err(format!(
            "{n} bytes: a unix socket's path has at most {MAX_PATH}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("mgmd-sock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    #[test]
    fn a_path_too_long_for_a_socket_is_refused_before_anything_else() {
        let d = dir("long");
        let long = d.0.join("s".repeat(MAX_PATH));
        let e = prepare(&long).unwrap_err();
        assert!(e.contains("at most 107"), "{e}");
        assert!(prepare(Path::new("")).unwrap_err().contains("empty"));
    }

    #[test]
    fn a_free_path_is_fine() {
        let d = dir("free");
        assert_eq!(prepare(&d.0.join("s")), Ok(()));
    }

    #[test]
    fn a_regular_file_or_directory_is_never_removed() {
        let d = dir("file");
        let f = d.0.join("s");
        std::fs::write(&f, b"keep me").unwrap();
        let e = prepare(&f).unwrap_err();
        assert!(e.contains("regular file"), "{e}");
        assert_eq!(std::fs::read(&f).unwrap(), b"keep me");
        let sub = d.0.join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(prepare(&sub).unwrap_err().contains("directory"));
        assert!(sub.is_dir());
        let link = d.0.join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(prepare(&link).unwrap_err().contains("symbolic link"));
        assert!(link.symlink_metadata().is_ok());
    }

    #[test]
    fn a_live_socket_is_refused_and_a_stale_one_removed() {
        let d = dir("live");
        let p = d.0.join("s");
        let listener = UnixListener::bind(&p).unwrap();
        let e = prepare(&p).unwrap_err();
        assert!(e.contains("answers on it"), "{e}");
        assert!(p.exists());
        drop(listener); // the socket file stays, nobody listens: stale
        assert!(p.exists());
        assert_eq!(prepare(&p), Ok(()));
        assert!(!p.exists());
    }
}
