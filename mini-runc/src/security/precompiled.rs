//! Docker's default seccomp profile, settled and compiled when mini-runc
//! was built (`build.rs`), so a container's start loads a program instead
//! of reading some 800 lines of JSON, settling its rules and compiling
//! them: about half a millisecond of every `mini-docker run` otherwise.
//! The settled profile comes as the very text `build.rs` wrote, which the
//! engine reads once, into the type its `config.json` holds.
//!
//! The program is the one `seccomp.rs` compiles at run time, for Docker's
//! default capabilities (`capabilities::DEFAULT`) on this architecture;
//! `build.rs` runs that very code. Any other profile or capability set is
//! compiled at run time, as are the profiles of bundles `mini-runc run`
//! reads. The unit test below checks that both ways give the same program.
//!
//! It imports only its `security/` siblings.

use crate::security::SecurityError;
use crate::security::seccomp::{self, Profile, Settled};

/// What `build.rs` wrote: `AVAILABLE` (false in a cross build, where the
/// build script's architecture is not the program's), `CAPS` (the set it
/// was settled for), `MIN_KERNEL` (the newest `minKernel` of the profile:
/// its rules are kept, so the program fits no older kernel), `OCI` (the
/// settled profile as OCI JSON) and `PROGRAM` (its instructions).
mod built {
    include!(concat!(env!("OUT_DIR"), "/seccomp_default.rs"));
}

// ANCHOR: settle
/// [`seccomp::settle`], with the precompiled program where it fits.
pub fn settle(profile: &Profile, caps: u64) -> Result<Option<Settled>, SecurityError> {
    let fits =
        built::AVAILABLE && caps == built::CAPS && seccomp::kernel_version() >= built::MIN_KERNEL;
    if let (Profile::Default, true) = (profile, fits) {
        let program =
            built::PROGRAM.iter().map(|&(code, jt, jf, k)| libc::sock_filter { code, jt, jf, k });
        return Ok(Some(Settled { oci: built::OCI.to_owned(), filters: vec![program.collect()] }));
    }
    seccomp::settle(profile, caps)
}
// ANCHOR_END: settle

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::capabilities;

    /// The program and profile built in are what run-time compiling gives.
    #[test]
    fn built_in_matches_compiled_now() {
        const { assert!(built::AVAILABLE, "a native build has the program") };
        let caps = capabilities::mask(&capabilities::DEFAULT);
        assert_eq!(built::CAPS, caps);
        let built = settle(&Profile::Default, caps).expect("settle").expect("a profile");
        let now = seccomp::settle(&Profile::Default, caps).expect("settle").expect("a profile");
        assert_eq!(built.oci, now.oci);
        let plain = |s: &Settled| -> Vec<(u16, u8, u8, u32)> {
            s.filters.iter().flatten().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
        };
        assert_eq!(plain(&built), plain(&now));
    }
}
