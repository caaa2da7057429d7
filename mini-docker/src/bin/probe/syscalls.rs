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
//! The calls newer than the `libc` crate's constants use their numbers,
//! which are the same on every architecture from Linux 5.1's `pidfd_send_signal`
//! (424) on; `i386-*` and `x32-*` are x86_64's other ABIs ("unknown call"
//! elsewhere).

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
            "getpid" => libc::syscall(libc::SYS_getpid),
            // A datagram socket that is closed at once: ok, or
            // EAFNOSUPPORT when the kernel lacks the family.
            "socket-inet" | "socket-alg" | "socket-vsock" => {
                let (family, kind) = match call {
                    "socket-inet" => (libc::AF_INET, libc::SOCK_DGRAM),
                    "socket-alg" => (libc::AF_ALG, libc::SOCK_SEQPACKET),
                    _ => (libc::AF_VSOCK, libc::SOCK_STREAM),
                };
                let fd = libc::socket(family, kind, 0);
                if fd >= 0 {
                    libc::close(fd);
                }
                fd.into()
            }
            // 0xffffffff only asks for the current persona.
            "personality-query" => libc::personality(0xffff_ffff).into(),
            // What `setarch -R` does: address space randomization off (for
            // this process only, which exits right after).
            "personality-aslr" => {
                let current = libc::personality(0xffff_ffff);
                let set = libc::personality(libc::ADDR_NO_RANDOMIZE as libc::c_ulong);
                if set >= 0 {
                    libc::personality(current as libc::c_ulong);
                }
                set.into()
            }
            // No arguments at all: EFAULT when allowed.
            "clone3" => libc::syscall(libc::SYS_clone3, null, 0),
            "chroot" => libc::chroot(missing.as_ptr()).into(),
            // No vectors: reads nothing from itself, returns 0.
            "process_vm_readv" => {
                libc::syscall(libc::SYS_process_vm_readv, libc::getpid(), null, 0, null, 0, 0)
            }
            // No such process: ESRCH when allowed.
            "ptrace" => libc::syscall(libc::SYS_ptrace, libc::PTRACE_PEEKDATA, 0x7fff_fff0, 0, 0),
            // A null parameter block: EFAULT when allowed.
            "io_uring_setup" => libc::syscall(libc::SYS_io_uring_setup, 1, null),
            // An empty node mask for this process: a no-op when allowed.
            "migrate_pages" => libc::syscall(libc::SYS_migrate_pages, 0, 0, null, null),
            // Linux 6.10 and 6.15: zero length / a bad descriptor.
            "mseal" => libc::syscall(462, 0, 0, 0),
            "open_tree_attr" => libc::syscall(467, -1, empty.as_ptr(), 0, null, 0),
            "file_setattr" => libc::syscall(469, -1, empty.as_ptr(), null, 0, 0),
            "lsm_list_modules" => libc::syscall(460, null, null, 0),
            "i386-getpid" | "i386-keyctl" => return int80(call),
            // getpid's x86_64 number, with the x32 ABI's bit.
            "x32-getpid" if cfg!(target_arch = "x86_64") => libc::syscall(39 | 0x4000_0000),
            // open(2) of a path, read-only: a device node the devices
            // cgroup refuses gives EPERM.
            "open" => {
                let path = c(arg.unwrap_or("/nonexistent"));
                let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
                if fd >= 0 {
                    libc::close(fd);
                }
                fd.into()
            }
            // A block device node of a major no driver has (240, for local
            // and experimental use: opened, it says ENXIO, and nothing is
            // probed), made, opened and removed again: what a devices
            // cgroup stops is the open.
            "block-node" => return block_node(call),
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

/// `i386-getpid` and `i386-keyctl`: the call through the 32-bit ABI
/// (`int 0x80`, numbers of arch/x86/entry/syscalls/syscall_32.tbl: getpid
/// 20, keyctl 288), which a 64-bit process may use too; the kernel tells
/// seccomp it is `AUDIT_ARCH_I386`.
#[cfg(target_arch = "x86_64")]
fn int80(call: &str) -> Value {
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
    let (nr, first, second): (u32, u64, u32) =
        if call == "i386-getpid" { (20, 0, 0) } else { (288, 0, (-3i32) as u32) };
    let ret: u32;
    // SAFETY: int 0x80 with integer arguments only; rbx (the first
    // argument) is LLVM's, so it is swapped in and out around the call,
    // and r8-r11 are given up (older kernels clear them on this path).
    unsafe {
        std::arch::asm!(
            "xchg {first}, rbx",
            "int 0x80",
            "xchg {first}, rbx",
            first = inout(reg) first => _,
            inlateout("eax") nr => ret,
            in("ecx") second,
            in("edx") 0u32,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    // The 32-bit ABI returns -errno in eax.
    let ret = ret as i32;
    let result = if ret < 0 { crate::errno_name(-ret) } else { "ok".to_owned() };
    json!({ "call": call, "result": result })
}

#[cfg(not(target_arch = "x86_64"))]
fn int80(call: &str) -> Value {
    json!({ "call": call, "result": "unknown call" })
}

/// `block-node`: `mknod /dev/probe-block b 240 0`, then `open` of it:
/// `{"result": "mknod ok, open EPERM"}`.
fn block_node(call: &str) -> Value {
    let path = std::ffi::CString::new("/dev/probe-block").unwrap_or_default();
    let last = || crate::errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    // SAFETY: a NUL-terminated path; the node is removed before returning.
    let result = unsafe {
        if libc::mknod(path.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(240, 0)) != 0 {
            format!("mknod {}", last())
        } else {
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK);
            let opened = if fd < 0 { last() } else { "ok".to_owned() };
            if fd >= 0 {
                libc::close(fd);
            }
            libc::unlink(path.as_ptr());
            format!("mknod ok, open {opened}")
        }
    };
    json!({ "call": call, "result": result })
}
