//! cgroup v2's device controller: a BPF program, not a file.
//!
//! cgroup v1 has `devices.allow` and `devices.deny` (see `v1.rs`); cgroup
//! v2 has no device file at all. Instead a program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE` is attached to the cgroup, and the kernel
//! runs it whenever a process in the cgroup (or below it) opens or
//! `mknod`s a device node: it returns 1 to allow, 0 to refuse with
//! `EPERM` (Documentation/admin-guide/cgroup-v2.rst, "Device controller";
//! bpf(2)). Such a program works on any cgroup2 cgroup, whichever
//! controllers are switched on.
//!
//! The program is built here from the rules, instruction by instruction
//! (`struct bpf_insn`, include/uapi/linux/bpf.h), loaded with
//! `bpf(BPF_PROG_LOAD)` and attached with `bpf(BPF_PROG_ATTACH)`; the
//! cgroup holds it from then on, and it goes with the cgroup's `rmdir`.
//! No crate: two system calls and a dozen opcodes, each named below.
//!
//! The rules keep v1's meaning, as runc's emulation of them does: they are
//! read in order and a later rule wins over an earlier one, access by
//! access (`r`, `w`, `m`); a device no rule covers is allowed, as in a new
//! v1 cgroup (a bundle that means to allow a few devices starts its list
//! with `a *:* rwm` denied, as Docker's and runc's do).
//!
//! It imports only `cgroups/`'s error.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::CgroupError;

/// `struct bpf_cgroup_dev_ctx`'s values (include/uapi/linux/bpf.h): the
/// device type in the low 16 bits of `access_type`, the access in the high.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// The bpf(2) commands, program type and attach type used.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Other programs may sit on the same cgroup and above it; a device must
/// pass all of them (what systemd and runc attach with).
const BPF_F_ALLOW_MULTI: u32 = 2;

/// One rule, as `devices.allow` writes it: `c 1:3 rwm`, `a *:* rwm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// `None`: every type (`a`).
    kind: Option<i32>,
    major: Option<u32>,
    minor: Option<u32>,
    access: i32,
}

fn parse(allow: bool, text: &str) -> Option<Rule> {
    let mut parts = text.split_whitespace();
    let kind = match parts.next()? {
        "a" => None,
        "c" => Some(DEV_CHAR),
        "b" => Some(DEV_BLOCK),
        _ => return None,
    };
    let (major, minor) = parts.next().unwrap_or("*:*").split_once(':')?;
    let number = |n: &str| if n == "*" { Ok(None) } else { n.parse().map(Some) };
    let mut access = 0;
    for c in parts.next().unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return None,
        };
    }
    Some(Rule { allow, kind, major: number(major).ok()?, minor: number(minor).ok()?, access })
}

/// `struct bpf_insn`: an opcode, two registers (destination in the low
/// nibble), a jump offset and an immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

/// The opcodes used (BPF_CLASS | BPF_OP | BPF_SRC, include/uapi/linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const AND64_K: u8 = 0x57; // dst &= imm
const RSH64_K: u8 = 0x77; // dst >>= imm
const JNE_K: u8 = 0x55; // if dst != imm: skip off instructions
const JEQ_K: u8 = 0x15; // if dst == imm: skip off instructions
const EXIT: u8 = 0x95; // return r0

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

// ANCHOR: program
/// The program: r1 holds the context; r2 the access still to decide, r3
/// the device type, r4 and r5 the major and minor numbers. The rules are
/// tested last first: a deny rule that covers some access still undecided
/// returns 0; an allow rule decides the access it covers, and returns 1
/// once all is decided. Past the first rule: 1, v1's default.
fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),    // r2 = ctx->access_type
        insn(MOV64_X, 3, 2, 0, 0),      // r3 = r2
        insn(AND64_K, 3, 0, 0, 0xffff), // r3 = the type
        insn(RSH64_K, 2, 0, 0, 16),     // r2 = the access asked for
        insn(LDX_MEM_W, 4, 1, 4, 0),    // r4 = ctx->major
        insn(LDX_MEM_W, 5, 1, 8, 0),    // r5 = ctx->minor
    ];
    for rule in rules.iter().rev() {
        // Which of type, major and minor the rule names; each test jumps
        // past the rest of the block when the device differs.
        let tests: Vec<(u8, i32)> =
            [(3, rule.kind), (4, rule.major.map(|n| n as i32)), (5, rule.minor.map(|n| n as i32))]
                .into_iter()
                .filter_map(|(reg, value)| value.map(|v| (reg, v)))
                .collect();
        let verdict = if rule.allow {
            vec![
                insn(AND64_K, 2, 0, 0, !rule.access), // r2 &= ~access: decided
                insn(JNE_K, 2, 0, 2, 0),              // anything left? next rule
                insn(MOV64_K, 0, 0, 0, 1),
                insn(EXIT, 0, 0, 0, 0),
            ]
        } else {
            vec![
                insn(MOV64_X, 6, 2, 0, 0),           // r6 = r2
                insn(AND64_K, 6, 0, 0, rule.access), // r6 &= access: denied now?
                insn(JEQ_K, 6, 0, 2, 0),             // none of it: next rule
                insn(MOV64_K, 0, 0, 0, 0),
                insn(EXIT, 0, 0, 0, 0),
            ]
        };
        let block = tests.len() + verdict.len();
        for (i, (reg, value)) in tests.iter().enumerate() {
            prog.push(insn(JNE_K, *reg, 0, (block - i - 1) as i16, *value));
        }
        prog.extend(verdict);
    }
    prog.push(insn(MOV64_K, 0, 0, 0, 1));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}
// ANCHOR_END: program

/// The first fields of `union bpf_attr` for `BPF_PROG_LOAD`.
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The fields of `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

// ANCHOR: attach
/// Builds the program for `rules` (`(allow, "c 1:3 rwm")`, in order, as
/// `Limits::devices` holds them), loads it and attaches it to the cgroup
/// directory `dir`.
pub fn attach(dir: &Path, rules: &[(bool, String)]) -> Result<(), CgroupError> {
    let unsupported = CgroupError::Unsupported("linux.resources.devices: a malformed device rule");
    let rules: Vec<Rule> = rules
        .iter()
        .map(|(allow, text)| parse(*allow, text))
        .collect::<Option<_>>()
        .ok_or(unsupported)?;
    let prog = program(&rules);
    let fd = load(&prog).map_err(|(errno, log)| CgroupError::Io {
        what: "bpf(BPF_PROG_LOAD) of the device program for",
        path: dir.to_owned(),
        source: std::io::Error::other(format!("{errno}{log}")),
    })?;
    let cgroup = nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| super::io("opening", dir)(errno.into()))?;
    let attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: a valid bpf_attr prefix of the size given; the kernel reads
    // it and takes its own reference on the program and the cgroup.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attr, size_of_val(&attr)) };
    Errno::result(ret).map_err(|errno| CgroupError::Io {
        what: "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE) to",
        path: dir.to_owned(),
        source: errno.into(),
    })?;
    Ok(())
}
// ANCHOR_END: attach

/// `bpf(BPF_PROG_LOAD)`; on a refusal, loads again with the verifier's
/// log, for the error.
fn load(prog: &[Insn]) -> Result<OwnedFd, (Errno, String)> {
    let license = c"GPL";
    let mut log = vec![0u8; 64 * 1024];
    let try_load = |with_log: bool, log: &mut [u8]| {
        let mut name = [0u8; 16];
        name[..9].copy_from_slice(b"mini_runc");
        let attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: prog.len() as u32,
            insns: prog.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: u32::from(with_log),
            log_size: if with_log { log.len() as u32 } else { 0 },
            log_buf: if with_log { log.as_mut_ptr() as u64 } else { 0 },
            kern_version: 0,
            prog_flags: 0,
            prog_name: name,
            prog_ifindex: 0,
            expected_attach_type: BPF_CGROUP_DEVICE,
        };
        // SAFETY: a valid bpf_attr prefix of the size given, whose
        // pointers (instructions, license, log) outlive the call; the
        // kernel writes at most `log_size` bytes of log.
        let ret = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr, size_of_val(&attr)) };
        Errno::result(ret)
    };
    match try_load(false, &mut log) {
        // SAFETY: a new descriptor the kernel returned, owned by nothing else.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(errno) => {
            let _ = try_load(true, &mut log);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            Err((
                errno,
                if last.is_empty() { String::new() } else { format!(" (verifier: {last})") },
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        assert_eq!(
            parse(true, "c 1:3 rw"),
            Some(Rule {
                allow: true,
                kind: Some(DEV_CHAR),
                major: Some(1),
                minor: Some(3),
                access: 6
            })
        );
        assert_eq!(
            parse(false, "a *:* rwm"),
            Some(Rule { allow: false, kind: None, major: None, minor: None, access: 7 })
        );
        assert_eq!(parse(true, "c 136:* rwm").and_then(|r| r.minor), None);
        for bad in ["x 1:3 rwm", "c 1 rwm", "c 1:3 rwz", "c a:3 r"] {
            assert_eq!(parse(true, bad), None, "{bad}");
        }
    }

    #[test]
    fn jumps_stay_inside_the_program() {
        let rules: Vec<Rule> = [(false, "a *:* rwm"), (true, "c 1:3 r"), (true, "b 8:* m")]
            .iter()
            .filter_map(|(a, t)| parse(*a, t))
            .collect();
        let prog = program(&rules);
        for (i, insn) in prog.iter().enumerate() {
            if insn.code == JNE_K || insn.code == JEQ_K {
                let target = i as i64 + 1 + i64::from(insn.off);
                assert!(target > i as i64 && (target as usize) < prog.len(), "{i}: {insn:?}");
            }
        }
        assert_eq!(prog.last().map(|i| i.code), Some(EXIT));
    }
}
