//! Compiles Docker's default seccomp profile for Docker's default
//! capabilities once, when mini-runc is built, with the same code that
//! compiles profiles at run time (`src/security/seccomp.rs` and the files
//! it uses, included here as modules of this script). The result,
//! `$OUT_DIR/seccomp_default.rs`, is included by
//! `src/security/precompiled.rs`.

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/security/capabilities.rs"]
mod capabilities;
#[allow(dead_code)]
#[path = "src/security/seccomp.rs"]
mod seccomp;
#[allow(dead_code)]
#[path = "src/security/seccomp_bpf.rs"]
mod seccomp_bpf;
#[allow(dead_code)]
#[path = "src/security/syscall_table.rs"]
mod syscall_table;

/// What the included files reach as `crate::security`.
mod security {
    pub(crate) use super::{seccomp_bpf, syscall_table};

    /// The errors the included files make (the crate's own type also says
    /// how to show them; a build script only stops on them).
    #[allow(dead_code)]
    #[derive(Debug)]
    pub enum SecurityError {
        UnknownCapability(String),
        Profile { path: std::path::PathBuf, why: String },
        Seccomp(String),
        Capabilities(String),
    }
}

fn main() {
    for file in [
        "src/security/seccomp-default.json",
        "src/security/seccomp.rs",
        "src/security/seccomp_bpf.rs",
        "src/security/syscall_table.rs",
        "src/security/capabilities.rs",
    ] {
        println!("cargo::rerun-if-changed={file}");
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let caps = capabilities::mask(&capabilities::DEFAULT);
    // The tables and the profile's architectures are this script's own
    // machine's: compiled here only when it is the program's as well.
    let text = if target == std::env::consts::ARCH {
        let (oci, program, newest) =
            seccomp::precompile(caps).unwrap_or_else(|e| panic!("the default profile: {e:?}"));
        let instructions: Vec<String> =
            program.iter().map(|i| format!("({}, {}, {}, {})", i.code, i.jt, i.jf, i.k)).collect();
        format!(
            "pub const AVAILABLE: bool = true;\n\
             pub const CAPS: u64 = {caps};\n\
             pub const MIN_KERNEL: (u32, u32) = ({}, {});\n\
             pub const OCI: &str = {oci:?};\n\
             pub const PROGRAM: &[(u16, u8, u8, u32)] = &[{}];\n",
            newest.0,
            newest.1,
            instructions.join(", ")
        )
    } else {
        format!(
            "pub const AVAILABLE: bool = false;\n\
             pub const CAPS: u64 = {caps};\n\
             pub const MIN_KERNEL: (u32, u32) = (0, 0);\n\
             pub const OCI: &str = \"\";\n\
             pub const PROGRAM: &[(u16, u8, u8, u32)] = &[];\n"
        )
    };
    std::fs::write(out.join("seccomp_default.rs"), text).expect("writing seccomp_default.rs");
}
