//! System call names and numbers, so a seccomp profile (which names system
//! calls) can be turned into a filter (which matches numbers). Every
//! architecture numbers its calls its own way; the tables come from the
//! `syscalls` crate, generated from the kernel's own `syscall.tbl` files and
//! `asm-generic/unistd.h`, and kept current with each kernel release
//! (version 0.8.1 knows Linux 6.17's calls, up to `file_setattr`, number 469
//! on x86_64).
//!
//! Why it matters that the table is current: a profile that names a call the
//! table does not know cannot allow it. mini-runc's earlier hand-made table
//! stopped at Linux 6.1 (number 450); with an allow-list that would refuse
//! `cachestat`, `fchmodat2`, `futex_wait`… which Docker's profile allows.
//!
//! Three tables: the machine's own (x86_64 or arm64, the native ABI of a
//! 64-bit program), and on x86_64 the 32-bit one (i386: a program that makes
//! calls with `int 0x80`, or a 32-bit binary; the kernel reports it with
//! another `seccomp_data.arch`, `AUDIT_ARCH_I386`, and other numbers: `getpid`
//! is 39 natively, 20 there). arm64's 32-bit ABI (`SCMP_ARCH_ARM`) has no
//! table here: see `seccomp.rs`.
//!
//! It imports nothing of mini-runc.

/// An ABI a filter can answer for: what the kernel puts in
/// `seccomp_data.arch` (the `AUDIT_ARCH_*` constants of linux/audit.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    X86_64,
    /// 32-bit x86 on an x86_64 kernel (`CONFIG_IA32_EMULATION`).
    I386,
    Aarch64,
}

impl Abi {
    /// `seccomp_data.arch` for this ABI (linux/audit.h: the ELF machine,
    /// with bits for 64-bit and little-endian).
    pub fn audit_arch(self) -> u32 {
        const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;
        const AUDIT_ARCH_LE: u32 = 0x4000_0000;
        const EM_386: u32 = 3;
        const EM_X86_64: u32 = 62;
        const EM_AARCH64: u32 = 183;
        match self {
            Abi::X86_64 => EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Abi::I386 => EM_386 | AUDIT_ARCH_LE,
            Abi::Aarch64 => EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
        }
    }

    /// The name a seccomp profile gives it (`architectures`, `archMap`).
    pub fn scmp_name(self) -> &'static str {
        match self {
            Abi::X86_64 => "SCMP_ARCH_X86_64",
            Abi::I386 => "SCMP_ARCH_X86",
            Abi::Aarch64 => "SCMP_ARCH_AARCH64",
        }
    }

    /// The ABI of a profile's name, when there is a table for it here.
    pub fn from_scmp_name(name: &str) -> Option<Abi> {
        [Abi::X86_64, Abi::I386, Abi::Aarch64].into_iter().find(|a| a.scmp_name() == name)
    }

    /// The machine's own ABI (what a program built for it uses).
    pub fn native() -> Option<Abi> {
        if cfg!(target_arch = "x86_64") {
            Some(Abi::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Abi::Aarch64)
        } else {
            None
        }
    }

    /// The ABIs a filter on this machine can answer for: the native one
    /// first, then the 32-bit one the kernel runs beside it.
    pub fn supported() -> &'static [Abi] {
        if cfg!(target_arch = "x86_64") {
            &[Abi::X86_64, Abi::I386]
        } else if cfg!(target_arch = "aarch64") {
            &[Abi::Aarch64]
        } else {
            &[]
        }
    }

    /// The system call `name`'s number in this ABI; `None` when the ABI
    /// has no such call (arm64 has no `open`, x86_64 no `socketcall`).
    pub fn number(self, name: &str) -> Option<u32> {
        let table = self.by_name();
        let at = table.binary_search_by(|(known, _)| (*known).cmp(name)).ok()?;
        Some(table[at].1)
    }

    /// This ABI's names, sorted, with their numbers: made once per
    /// process. The crate's own `FromStr` is a `match` over some 460 names,
    /// which at `opt-level = "z"` compares them one after the other; a
    /// profile names about 370 calls for each of two ABIs, and that came to
    /// a tenth of a container's start.
    fn by_name(self) -> &'static [(&'static str, u32)] {
        use std::sync::OnceLock;
        type Table = Vec<(&'static str, u32)>;
        // Every number from the crate's first call to its last (its own
        // `Sysno::iter` stops one short of the last).
        macro_rules! sorted {
            ($sysno:ty) => {
                || {
                    let ids = <$sysno>::first().id()..=<$sysno>::last().id();
                    let mut table: Table = ids
                        .filter_map(|id| <$sysno>::new(usize::try_from(id).ok()?))
                        .filter_map(|call| Some((call.name(), u32::try_from(call.id()).ok()?)))
                        .collect();
                    table.sort_unstable();
                    table
                }
            };
        }
        static TABLES: [OnceLock<Table>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let (slot, make): (usize, fn() -> Table) = match self {
            #[cfg(target_arch = "x86_64")]
            Abi::X86_64 => (0, sorted!(syscalls::x86_64::Sysno)),
            #[cfg(target_arch = "x86_64")]
            Abi::I386 => (1, sorted!(syscalls::x86::Sysno)),
            #[cfg(target_arch = "aarch64")]
            Abi::Aarch64 => (2, sorted!(syscalls::aarch64::Sysno)),
            #[allow(unreachable_patterns)] // the tables of other machines
            _ => return &[],
        };
        TABLES[slot].get_or_init(make)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_newer_than_linux_6_1_resolve() {
        let Some(native) = Abi::native() else { return };
        for name in ["cachestat", "fchmodat2", "mseal", "open_tree_attr", "file_setattr"] {
            assert!(native.number(name).is_some(), "{name}");
        }
        assert_eq!(native.number("no_such_call"), None);
        if native == Abi::X86_64 {
            assert_eq!(Abi::X86_64.number("getpid"), Some(39));
            assert_eq!(Abi::I386.number("getpid"), Some(20));
            assert_eq!(Abi::I386.number("socketcall"), Some(102));
            assert_eq!(Abi::X86_64.number("socketcall"), None);
            assert_eq!(Abi::X86_64.audit_arch(), 0xc000_003e);
            assert_eq!(Abi::I386.audit_arch(), 0x4000_0003);
        }
    }

    /// The sorted tables answer as the crate's own `FromStr` does, name for
    /// name, the last call of each table included.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn sorted_tables_agree_with_the_crate() {
        use std::str::FromStr;
        use syscalls::{x86, x86_64};
        for id in x86_64::Sysno::first().id()..=x86_64::Sysno::last().id() {
            let Some(call) = x86_64::Sysno::new(id as usize) else { continue };
            let crate_says = x86_64::Sysno::from_str(call.name()).map(|c| c.id() as u32);
            assert_eq!(Abi::X86_64.number(call.name()), crate_says.ok(), "{}", call.name());
        }
        for id in x86::Sysno::first().id()..=x86::Sysno::last().id() {
            let Some(call) = x86::Sysno::new(id as usize) else { continue };
            let crate_says = x86::Sysno::from_str(call.name()).map(|c| c.id() as u32);
            assert_eq!(Abi::I386.number(call.name()), crate_says.ok(), "{}", call.name());
        }
        assert_eq!(Abi::X86_64.number(x86_64::Sysno::last().name()), Some(469));
    }
}
