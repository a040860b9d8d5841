//! `--pid-file`: mgmd's pid, written once it is ready and removed at exit.
//!
//! [`check`] runs before mgmd touches the kernel: a file that holds the pid of a running
//! program of the same name (another mgmd) is refused, as is a file that is not a pid file
//! (it is left as it is). A file whose pid is gone, or belongs to another program (the pid
//! was reused), is stale and is replaced by [`PidFile::write`]. The file is written under a
//! temporary name and renamed, so a reader never sees half of it; [`PidFile`] removes it when
//! dropped, if it still holds this process's pid.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether `path` may be taken for this process's pid.
///
/// # Errors
/// A message that says what is at the path and why mgmd will not replace it.
///
/// ```
/// let path = std::env::temp_dir().join(format!("mgmd-pid-doc-{}", std::process::id()));
/// std::fs::write(&path, "not a pid\n").unwrap();
/// assert!(mgmd::pid_file::check(&path).unwrap_err().contains("not a pid file"));
/// std::fs::remove_file(&path).unwrap();
/// ```
pub fn check(path: &Path) -> Result<(), String> {
    check_as(path, std::process::id(), program("self").as_deref())
}

/// [`check`] for a process with pid `own` running `ours` (its `/proc/PID/comm`).
fn check_as(path: &Path, own: u32, ours: Option<&str>) -> Result<(), String> {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("pid file {shown}: {e}")),
    };
    let pid: u32 = match text.trim() {
        "" => return Ok(()),
        t => t.parse().map_err(|_| {
            format!("pid file {shown} exists and is not a pid file: mgmd leaves it as it is")
        })?,
    };
    // This process's own pid is stale too: a restarted mgmd in a container is pid 1 again.
    if pid != own && ours.is_some() && program(&pid.to_string()).as_deref() == ours {
        return Err(format!(
            "pid file {shown}: another mgmd (pid {pid}) is running with it: refusing to start"
        ));
    }
    Ok(())
}

/// The program name of a running process (`self` or a pid), as the kernel has it.
fn program(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()
}

/// A written pid file, removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Writes this process's pid to `path` (after [`check`] said it may).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(path: &Path) -> Result<PidFile, String> {
        let pid = std::process::id();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".{pid}.tmp"));
        let tmp = PathBuf::from(tmp);
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(format!("{pid}\n").as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("pid file {}: {e}", path.display()));
        }
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let ours =
            std::fs::read_to_string(&self.path).is_ok_and(|t| t.trim().parse() == Ok(self.pid));
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("mgmd-pid-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn written_then_removed() {
        let p = path("write");
        assert_eq!(check(&p), Ok(()));
        let f = PidFile::write(&p).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(f.path(), p);
        drop(f);
        assert!(!p.exists());
    }

    /// A `sleep 30` child, once the kernel shows it as `sleep`. `spawn` returns when the
    /// child's exec has replaced its memory, which is a moment before the kernel renames it:
    /// until then its `comm` is still this test program's.
    fn sleeper() -> std::process::Child {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while program(&child.id().to_string()).as_deref() != Some("sleep\n") {
            assert!(
                std::time::Instant::now() < deadline,
                "the child never showed as sleep"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        child
    }

    #[test]
    fn a_running_process_of_the_same_program_is_refused_until_it_is_gone() {
        // `sleep` stands for another mgmd: checked as if this process ran `sleep` too.
        let mut other = sleeper();
        let p = path("live");
        std::fs::write(&p, format!("{}\n", other.id())).unwrap();
        let as_sleep = check_as(&p, std::process::id(), Some("sleep\n"));
        let as_itself = check_as(&p, other.id(), Some("sleep\n"));
        let _ = other.kill();
        let _ = other.wait();
        let e = as_sleep.unwrap_err();
        assert!(
            e.contains(&format!("another mgmd (pid {})", other.id())),
            "{e}"
        );
        assert_eq!(as_itself, Ok(()), "a process's own pid is stale");
        assert_eq!(
            check_as(&p, std::process::id(), Some("sleep\n")),
            Ok(()),
            "gone"
        );
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_reused_pid_of_another_program_is_stale() {
        let mut sleeper = sleeper();
        let p = path("other");
        std::fs::write(&p, format!("{}\n", sleeper.id())).unwrap();
        let verdict = check(&p);
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert_eq!(verdict, Ok(()));
        let f = PidFile::write(&p).unwrap();
        drop(f);
        assert!(!p.exists());
    }

    #[test]
    fn what_is_not_a_pid_file_is_kept() {
        let p = path("text");
        std::fs::write(&p, "keep me\n").unwrap();
        assert!(check(&p).unwrap_err().contains("not a pid file"));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me\n");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_file_replaced_by_another_is_not_removed() {
        let p = path("replaced");
        let f = PidFile::write(&p).unwrap();
        std::fs::write(&p, "1\n").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "1\n");
        std::fs::remove_file(&p).unwrap();
    }
}
