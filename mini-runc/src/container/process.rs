//! Becoming the user's process: the last steps before `execve`, one path
//! for the command `run` starts (the container's first process itself, or
//! the child of `--init`'s reaper, see `init.rs`) and for a process `exec` starts in a running container (a
//! tenant, see `tenant.rs`; the mini-runc binary's `exec` is one too).
//!
//! ```text
//!  1. signals: nothing blocked, every disposition the default
//!  2. PR_SET_DUMPABLE 0
//!  3. stdio: the pty's slave as the controlling terminal (-t), or
//!     stdin from /dev/null (without -i)
//!  4. joined from outside (a tenant): the bounding set and
//!     no_new_privs (security::confine_exec)
//!  5. umask (an OCI process's user.umask)
//!  6. identity: setgroups, setresgid, setresuid, then PR_SET_PDEATHSIG
//!     (die with the caller; a UID change clears it)
//!  7. chdir
//!  8. the program: the container's PATH searched as execvp(3) does
//!  9. capabilities, then the seccomp filter (security::confine_command)
//! 10. execve
//! ```
//! Steps 4, 6 and 9 keep the order `security/mod.rs` explains: each needs
//! a privilege the next one takes away.
//!
//! Whatever fails, the process prints one line (prefixed with the
//! program's name, see [`crate::error::program`]) and exits with Docker's
//! code for it ([`ProcessError::exit_code`]): 127 when the program does
//! not exist, 126 when it cannot be run, 125 when the runtime failed
//! before it could try. `run -d`'s foreground learns that status through
//! the start report (see `start_report.rs`).
//!
//! It imports `error.rs`, `security/`, `tty.rs` and `start_report.rs`;
//! `init.rs`, `tenant.rs` and `child.rs` (for its own identity switch)
//! import it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::{Gid, Uid, execve, setgroups, setresgid, setresuid};

use crate::container::{start_report, tty};
use crate::error::{ProcessError, UsageError};
use crate::security::Security;

/// Docker's PATH for a container whose environment sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the user's process is made of, decided before the fork.
#[derive(Debug)]
pub struct Process<'a> {
    /// The program and its arguments; `args[0]` is searched in the PATH.
    pub args: &'a [String],
    /// `KEY=VALUE` entries (see [`check_env`]), the whole environment.
    pub env: &'a [String],
    pub cwd: &'a str,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups besides `gid` (an OCI `user.additionalGids`).
    pub additional_gids: &'a [u32],
    /// Whether `setgroups` may be called: not in a user namespace that
    /// maps one ID only, where it is denied (user_namespaces(7)).
    pub may_set_groups: bool,
    pub umask: Option<u32>,
    pub stdio: Stdio<'a>,
    /// The container's confinement, which this process takes.
    pub security: &'a Security,
    pub confinement: Confinement,
    /// `PR_SET_PDEATHSIG`: die when the process that forked it does.
    pub die_with_parent: bool,
    /// `PR_SET_DUMPABLE` 0 until `execve` (which makes it dumpable again).
    pub not_dumpable: bool,
}

/// Where the process's stdin, stdout and stderr come from.
#[derive(Debug, Clone, Copy)]
pub enum Stdio<'a> {
    /// `-t`: the pty's slave, also the controlling terminal.
    Terminal(&'a OwnedFd),
    /// `-i`: the caller's, as they are.
    Inherited,
    /// Without `-i` (as `docker run`): stdin reads /dev/null, stdout and
    /// stderr are the caller's.
    NullStdin,
}

/// Which steps of confinement are this process's own (see
/// `security/mod.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// The container's first process (or the child `--init`'s reaper
    /// forked), which reduced the bounding set and set `no_new_privs`
    /// already (`confine_init`): the process only takes the command's
    /// capabilities and seccomp filter.
    Started,
    /// Joined the container from outside with every capability (`exec`):
    /// the bounding set and `no_new_privs` first, then as above.
    Joined,
}

// ANCHOR: exec
/// In the forked process: the steps of the module's table, then `execve`.
/// Never returns: the program runs, or the process exits with one line.
pub fn exec(process: &Process) -> ! {
    // A fresh start for signals: nothing blocked, every disposition the
    // default. The caller may have ignored SIGINT (a background job), and
    // Rust ignores SIGPIPE; neither belongs to the program.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    for sig in 1..libc::SIGRTMIN() {
        // SAFETY: setting a default disposition (fails harmlessly for
        // SIGKILL and SIGSTOP).
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    if process.not_dumpable {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    }
    let error = match become_and_exec(process) {
        Err(error) => error,
        Ok(never) => match never {},
    };
    fail(&error)
}

/// Steps 3 to 10; returns only with what failed.
fn become_and_exec(process: &Process) -> Result<std::convert::Infallible, ProcessError> {
    match process.stdio {
        Stdio::Terminal(slave) => tty::become_terminal(slave).map_err(ProcessError::Terminal)?,
        Stdio::Inherited => {}
        Stdio::NullStdin => {
            if let Ok(null) = std::fs::File::open("/dev/null") {
                // SAFETY: dup2 on two valid descriptors.
                unsafe { libc::dup2(null.as_raw_fd(), 0) };
            }
        }
    }
    if process.confinement == Confinement::Joined {
        crate::security::confine_exec(process.security)?;
    }
    if let Some(mask) = process.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask as libc::mode_t));
    }
    // (Also asked of the kernel: a user namespace joined by path may deny
    // it, whatever its maps.)
    let may_set_groups = process.may_set_groups && may_set_groups();
    if !may_set_groups && !process.additional_gids.is_empty() {
        // Not dropped in silence: setgroups(2) is denied where one group
        // is mapped (user_namespaces(7)).
        return Err(ProcessError::Groups(process.additional_gids.to_vec()));
    }
    let mut groups = vec![process.gid];
    groups.extend_from_slice(process.additional_gids);
    switch_identity(process.uid, process.gid, may_set_groups.then_some(&groups))?;
    if process.die_with_parent {
        // After the switch: a change of UID or GID clears the setting
        // (prctl(2), PR_SET_PDEATHSIG); `execve` keeps it (but for a
        // set-user-ID program or one with file capabilities).
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) };
    }
    std::env::set_current_dir(process.cwd)
        .map_err(|source| ProcessError::Chdir { dir: process.cwd.to_owned(), source })?;
    let program = process.args.first().ok_or(UsageError::NoCommand)?;
    let path = find_program(program, process.env)?;
    let path = path.to_string_lossy().into_owned();
    let c_path = c_string(&path)?;
    let args = process.args.iter().map(|a| c_string(a)).collect::<Result<Vec<_>, _>>()?;
    let env = process.env.iter().map(|e| c_string(e)).collect::<Result<Vec<_>, _>>()?;
    // The program's capabilities, then its seccomp filter: the last step
    // before execve (see security/mod.rs for the order).
    crate::security::confine_command(process.security, process.uid)?;
    let errno = match execve(&c_path, &args, &env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    };
    Err(ProcessError::Execve { path, errno })
}
// ANCHOR_END: exec

fn c_string(text: &str) -> Result<CString, ProcessError> {
    CString::new(text).map_err(|_| ProcessError::Nul(text.to_owned()))
}

/// Whether this process may call setgroups(2): not where its user
/// namespace's `setgroups` file says "deny" (user_namespaces(7): written
/// before a `gid_map` that maps one group only). A file that cannot be
/// read says nothing against it.
pub fn may_set_groups() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |text| text.trim() != "deny")
}

// ANCHOR: identity
/// `setgroups` (unless `groups` is `None`), `setresgid`, `setresuid`: in
/// this order, since changing the UID away from 0 takes the capabilities
/// the other two need (capabilities(7)). Also the container's first
/// process, becoming root of its user namespace (see `child.rs`).
pub fn switch_identity(uid: u32, gid: u32, groups: Option<&[u32]>) -> Result<(), ProcessError> {
    if let Some(groups) = groups {
        let list: Vec<Gid> = groups.iter().map(|&g| Gid::from_raw(g)).collect();
        setgroups(&list).map_err(ProcessError::identity(format!("setgroups({groups:?})")))?;
    }
    let g = Gid::from_raw(gid);
    setresgid(g, g, g)
        .map_err(ProcessError::identity(format!("setresgid({gid}, {gid}, {gid})")))?;
    let u = Uid::from_raw(uid);
    setresuid(u, u, u).map_err(ProcessError::identity(format!("setresuid({uid}, {uid}, {uid})")))
}
// ANCHOR_END: identity

// ANCHOR: find-program
/// `execvp(3)`'s search, done here because it must read the *container's*
/// PATH (Docker's [`DEFAULT_PATH`] when it sets none; an empty entry is
/// the working directory, as for the shell): the first `DIR/program` that
/// is an executable file, else the first that is a file at all (whose
/// `execve` then answers EACCES: 126). A `program` with a `/` is not
/// searched.
pub fn find_program(program: &str, env: &[String]) -> Result<PathBuf, ProcessError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let search = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let mut not_executable = None;
    for dir in search.split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(program);
        match std::fs::metadata(&candidate) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return Ok(candidate);
            }
            Ok(meta) if meta.is_file() => {
                not_executable.get_or_insert(candidate);
            }
            _ => {}
        }
    }
    not_executable.ok_or_else(|| ProcessError::NotFound(program.to_owned()))
}
// ANCHOR_END: find-program

/// The one rule for an entry of the environment the runtime is handed,
/// for `run` and `exec` alike: `KEY=VALUE`, `KEY` not empty, no NUL byte
/// (`execve` takes C strings). A bare `KEY` ("copy my value", Docker's
/// `-e KEY`) is the engine's to resolve before it gets here.
pub fn check_env(entry: &str) -> Result<(), UsageError> {
    match entry.split_once('=') {
        Some((key, _)) if !key.is_empty() && !entry.contains('\0') => Ok(()),
        _ => Err(UsageError::BadEnvEntry(entry.to_owned())),
    }
}

/// Sets `entry` (checked by [`check_env`]) in `env`, in place of an entry
/// with the same key: a later value of a key wins, as with `docker run -e`.
pub fn set_env(env: &mut Vec<String>, entry: &str) -> Result<(), UsageError> {
    check_env(entry)?;
    let key = entry.split_once('=').map_or(entry, |(key, _)| key);
    env.retain(|e| e.split_once('=').map(|(k, _)| k) != Some(key));
    env.push(entry.to_owned());
    Ok(())
}

/// Prints what failed, in one line, and exits with its code.
fn fail(error: &ProcessError) -> ! {
    let code = error.exit_code();
    say_err!("{}: {error}", crate::error::program());
    // run -d: the status, for the foreground still waiting (mini-docker's
    // monitor.rs); a tenant holds no start report, and this does nothing.
    start_report::failed(code);
    // SAFETY: ends this process at once, without running the caller's
    // atexit handlers or flushing its copies of buffers.
    unsafe { libc::_exit(code.into()) }
}

// ANCHOR: release-unused-memory
/// Gives back to the kernel the memory that a process which only waits
/// from now on (mini-docker's monitor of `run -d`, `--init`'s reaper)
/// holds from the work it did before: both are copies of a mini-docker
/// that parsed a command line, an image and a bundle, and both live as
/// long as their container, one per container.
/// - The heap's free memory: `malloc_trim(0)` (malloc_trim(3): glibc
///   hands back the free pages inside the heap, not only at its top).
/// - On the main thread's stack (`[stack]` in /proc/self/maps), the part
///   below the caller's frames, which the deepest calls of the start used:
///   nothing below the stack pointer is live, and madvise(2)'s
///   `MADV_DONTNEED` makes those pages zero pages again, which cost
///   nothing until touched. [`STACK_KEPT`] below the caller stays for the
///   calls of the wait. Any other stack (the reaper runs on the one
///   `clone` was given, an allocation of the heap's or a mapping the
///   kernel may have merged with its neighbours) is left alone: only
///   `[stack]` is known to hold nothing else.
pub fn release_unused_memory() {
    // (A local, not `&0u8`, which the compiler would make a static.)
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let stack = std::fs::read_to_string("/proc/self/maps").ok().and_then(|maps| {
        let line = maps.lines().find(|line| line.ends_with("[stack]"))?;
        let (low, rest) = line.split_once('-')?;
        let high = rest.split(' ').next()?;
        let low = usize::from_str_radix(low, 16).ok()?;
        let high = usize::from_str_radix(high, 16).ok()?;
        (low <= here && here < high).then_some(low)
    });
    // SAFETY: sysconf with a valid name.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    if let Some(low) = stack {
        let end = here.saturating_sub(STACK_KEPT) & !(page - 1);
        if end > low {
            // SAFETY: [low, end) is the main thread's stack below the
            // frames in use, with a margin: no live value is there.
            unsafe { libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED) };
        }
    }
    // SAFETY: malloc_trim only hands free memory back; nothing in use moves.
    unsafe { libc::malloc_trim(0) };
}
// ANCHOR_END: release-unused-memory

/// How much of the stack below [`release_unused_memory`]'s caller stays.
const STACK_KEPT: usize = 16 * 1024;

/// Closes every descriptor but 0, 1, 2 and `keep`, in a copy of the program
/// (a cloned or forked child) that holds its parent's descriptors and never
/// runs an `execve` that would close them. `close_range(2)` (Linux 5.9)
/// closes a range in one call; where it is missing (or refused by a
/// seccomp filter around the program), each descriptor `/proc/self/fd`
/// lists is closed.
///
/// # Safety
/// The caller never again runs code that owns one of the descriptors
/// closed (it ends by an exit system call, not by returning or unwinding
/// into its parent's frames): nothing closes them a second time or uses
/// their numbers for something else.
pub unsafe fn close_all_but(keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<u32> = keep.iter().filter_map(|&fd| u32::try_from(fd).ok()).collect();
    keep.retain(|&fd| fd > 2);
    keep.sort_unstable();
    let mut first = 3u32;
    for &fd in keep.iter().chain([&u32::MAX]) {
        if fd > first {
            // The last range ends at ~0: every descriptor above the kept ones.
            let last = if fd == u32::MAX { u32::MAX } else { fd - 1 };
            // SAFETY: the caller's promise (see above).
            let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
            match Errno::result(ret) {
                Ok(_) => {}
                // SAFETY: the caller's promise.
                Err(Errno::ENOSYS | Errno::EPERM) => return unsafe { close_listed(&keep) },
                Err(errno) => return Err(errno),
            }
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// [`close_all_but`] without `close_range`: one `close` per descriptor.
///
/// # Safety
/// As [`close_all_but`].
unsafe fn close_listed(keep: &[u32]) -> Result<(), Errno> {
    let listed: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in listed.into_iter().filter(|fd| *fd > 2 && !keep.contains(fd)) {
        // SAFETY: the caller's promise; the listing's own descriptor,
        // closed by now, answers EBADF.
        unsafe { libc::close(fd as RawFd) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own under the system's temp dir, removed at the end.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("mini-runc-process-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch dir");
            Scratch(dir)
        }

        fn file(&self, path: &str, mode: u32) -> PathBuf {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            std::fs::write(&path, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_path_is_searched_in_order_for_an_executable_file() {
        let dir = Scratch::new("search");
        let plain = dir.file("a/tool", 0o644);
        let runnable = dir.file("b/tool", 0o755);
        std::fs::create_dir_all(dir.0.join("c/tool")).expect("a directory named tool");
        let path = format!("PATH={0}/c:{0}/a:{0}/b", dir.0.display());
        let env = vec!["A=1".to_owned(), path];
        assert_eq!(find_program("tool", &env).expect("found"), runnable, "executable first");
        let only_plain = vec![format!("PATH={0}/c:{0}/a", dir.0.display())];
        assert_eq!(find_program("tool", &only_plain).expect("a file"), plain, "then any file");
        let none = vec![format!("PATH={0}/c", dir.0.display())];
        let missing = find_program("tool", &none).expect_err("not found");
        assert_eq!(missing.to_string(), "\"tool\": executable file not found in $PATH");
        assert_eq!(missing.exit_code(), 127);
        // A slash: taken as it is, not searched.
        assert_eq!(find_program("./tool", &env).expect("as is"), Path::new("./tool"));
    }

    #[test]
    fn an_empty_path_entry_is_the_working_directory() {
        let found = find_program("tool", &["PATH=/nonexistent::".to_owned()]);
        // Relative to the working directory at execve: "./tool", if it
        // existed in the test's working directory (it does not).
        assert!(matches!(found, Err(ProcessError::NotFound(_))), "{found:?}");
        let dir = Scratch::new("empty-entry");
        dir.file("tool", 0o755);
        let env = [format!("PATH=/nonexistent:{}:", dir.0.display())];
        assert_eq!(find_program("tool", &env).expect("found"), dir.0.join("tool"));
        // No PATH at all: Docker's default, which has /bin (or /usr/bin).
        let true_ = find_program("true", &[]).expect("true, in the default PATH");
        assert!(true_.is_absolute() && true_.ends_with("true"), "{true_:?}");
    }

    #[test]
    fn exit_codes_follow_errno() {
        let execve = |errno| ProcessError::Execve { path: "/x".into(), errno };
        assert_eq!(execve(nix::errno::Errno::ENOENT).exit_code(), 127);
        assert_eq!(execve(nix::errno::Errno::EACCES).exit_code(), 126);
        assert_eq!(execve(nix::errno::Errno::ENOEXEC).exit_code(), 126);
        let identity = ProcessError::identity("setresuid(7, 7, 7)")(nix::errno::Errno::EINVAL);
        assert_eq!(identity.exit_code(), 125);
        assert_eq!(
            identity.to_string(),
            "setresuid(7, 7, 7): EINVAL: Invalid argument (is it mapped?)"
        );
    }

    #[test]
    fn one_rule_for_environment_entries() {
        for good in ["A=1", "A=", "PATH=/bin:/usr/bin", "A==b"] {
            assert!(check_env(good).is_ok(), "{good}");
        }
        for bad in ["A", "=1", "", "A=b\0c", "A\0=b"] {
            assert!(matches!(check_env(bad), Err(UsageError::BadEnvEntry(_))), "{bad:?}");
        }
        let mut env = vec!["A=1".to_owned(), "B=2".to_owned()];
        set_env(&mut env, "A=3").expect("replaces");
        assert_eq!(env, ["B=2", "A=3"]);
        assert!(set_env(&mut env, "C").is_err(), "a bare KEY is the engine's to resolve");
        assert_eq!(env, ["B=2", "A=3"], "unchanged by a refused entry");
    }
}
