//! `probe try CALL [ARG]`: one system call, for the security tests
//! (claims SEC-1, SEC-5). Prints `{"call": CALL, "result": "ok" | ERRNO}`.
//!
//! The arguments are chosen so that an *allowed* call fails harmlessly
//! with another error than EPERM (`reboot` with a bad magic number gives
//! EINVAL, `swapon("/nonexistent")` ENOENT) or succeeds without touching
//! the host (`mount` on the container's own `/tmp`, `unshare` of a new UTS
//! namespace). So EPERM means "refused by seccomp or for lack of a
//! capability", and anything else means "the kernel got to work on it".
//!
//! Every system call number used here exists on x86_64 and on arm64. arm64's
//! generic table has no `open` or `mknod`: the C library's functions of
//! those names call `openat` and `mknodat` there, so the probe works on both.

use serde_json::{Value, json};

/// Runs `try CALL [ARG]` when `args` (after the program name) asks for it.
pub fn main_if_asked(args: &[String]) -> Option<i32> {
    match (args.first().map(String::as_str), args.get(1)) {
        (Some("try"), Some(call)) => {
            let report = try_call(call, args.get(2).map(String::as_str));
            let text = format!("{report}\n");
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            Some(0)
        }
        _ => None,
    }
}

/// One system call by name; see the module's documentation.
fn try_call(call: &str, arg: Option<&str>) -> Value {
    use std::ffi::CString;
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let (missing, tmp, tmpfs, empty) = (c("/nonexistent"), c("/tmp"), c("tmpfs"), c(""));
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: each call gets valid NUL-terminated strings, or null pointers
    // the kernel checks (EFAULT); none is given memory it could write to.
    let result: libc::c_long = unsafe {
        match call {
            // KEYCTL_GET_KEYRING_ID of KEY_SPEC_SESSION_KEYRING
            "keyctl" => libc::syscall(libc::SYS_keyctl, 0, -3, 0),
            "mount" => {
                libc::mount(tmpfs.as_ptr(), tmp.as_ptr(), tmpfs.as_ptr(), 0, null.cast()).into()
            }
            "umount2" => libc::umount2(missing.as_ptr(), 0).into(),
            "pivot_root" => libc::syscall(libc::SYS_pivot_root, missing.as_ptr(), missing.as_ptr()),
            "unshare" => libc::unshare(libc::CLONE_NEWUTS).into(),
            "unshare-user" => libc::unshare(libc::CLONE_NEWUSER).into(),
            "setns" => {
                let fd = libc::open(c("/proc/self/ns/uts").as_ptr(), libc::O_RDONLY);
                libc::setns(fd, libc::CLONE_NEWUTS).into()
            }
            // A raw clone, with or without a namespace flag: what the
            // filter's argument check tells apart.
            "clone-newuts" | "fork" => {
                let flags = if call == "fork" { 0 } else { libc::CLONE_NEWUTS };
                let flags = libc::c_long::from(flags | libc::SIGCHLD);
                let pid = libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0);
                if pid == 0 {
                    libc::_exit(0);
                }
                if pid > 0 {
                    libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
                }
                pid.min(0)
            }
            "init_module" => libc::syscall(libc::SYS_init_module, null, 0, empty.as_ptr()),
            "finit_module" => libc::syscall(libc::SYS_finit_module, -1, empty.as_ptr(), 0),
            // An unknown flag: EINVAL when allowed (never unloads anything).
            "kexec_load" => libc::syscall(libc::SYS_kexec_load, 0, 0, null, 0xffff_0000u32),
            // A bad magic number: EINVAL when allowed.
            "reboot" => libc::syscall(libc::SYS_reboot, 0, 0, 0, null),
            "swapon" => libc::syscall(libc::SYS_swapon, missing.as_ptr(), 0),
            "acct" => libc::acct(missing.as_ptr()).into(),
            // The monotonic clock cannot be set: EINVAL when allowed.
            "clock_settime" => {
                let ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                libc::clock_settime(libc::CLOCK_MONOTONIC, &ts).into()
            }
            "open_by_handle_at" => libc::syscall(libc::SYS_open_by_handle_at, -1, null, 0),
            "perf_event_open" => libc::syscall(libc::SYS_perf_event_open, null, 0, -1, -1, 0),
            "bpf" => libc::syscall(libc::SYS_bpf, 9999, null, 0),
            "userfaultfd" => libc::syscall(libc::SYS_userfaultfd, 0),
            "mknod" => {
                let path = c("/tmp/probe-mknod");
                let made = libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3));
                if made == 0 {
                    libc::unlink(path.as_ptr()); // (keeps errno when it failed)
                }
                made.into()
            }
            "sethostname" => {
                let name = arg.unwrap_or("probe");
                libc::sethostname(name.as_ptr().cast(), name.len()).into()
            }
            "kill" => libc::kill(arg.and_then(|p| p.parse().ok()).unwrap_or(0), 0).into(),
            _ => return json!({ "call": call, "result": "unknown call" }),
        }
    };
    let result = if result < 0 {
        crate::errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        "ok".to_owned()
    };
    json!({ "call": call, "result": result })
}
