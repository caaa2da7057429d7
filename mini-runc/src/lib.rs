//! mini-runc: the container runtime under mini-docker, as runc is the one
//! under Docker. It turns a container's settings into a running process:
//! new namespaces, ID maps, cgroups, a root filesystem, `pivot_root`,
//! confinement, and an init as PID 1. It knows no image, no network, no
//! container name on a command line: those are the engine's (mini-docker),
//! which decides everything first and hands this crate a bundle (a state
//! directory holding a `config.json`), with what crosses beside it
//! ([`container::in_process::InProcess`]).
//!
//! Read it in the order a container starts:
//! 1. `container/parent.rs`: one `clone` with the new namespaces (on
//!    cgroup v2 with limits, `clone3` straight into its cgroup), the ID
//!    maps written by the parent while the child waits on the sync channel;
//! 2. `container/child.rs`: in the child (by default PID 1 of a new PID
//!    namespace), `rootfs/` builds the root filesystem (overlayfs, volumes,
//!    /proc, /sys, /dev) and `pivot_root`s into it, `security/` confines
//!    it, then `container/init.rs` `execve`s the command in its place
//!    (PID 1, as under runc), or with `--init` forks it and reaps.
//!
//! The modules form two layers, and a module imports only from its own
//! layer or the lower one, never in a cycle (`tests/tests/layers.rs`
//! checks both):
//! 1. the process model, what an OCI runtime does: `container/` (parent,
//!    child, init, tenant, state, lock, sharing…);
//! 2. the parts that talk to the kernel and know nothing of containers:
//!    `rootfs/`, `cgroups/`, `security/`, `userns.rs` (ID maps: who may
//!    write them, `/etc/subuid`, `newuidmap`), and `error.rs`, the errors
//!    both layers share.
//!
//! Every container starts from an OCI bundle: `container/spec.rs` turns a
//! `config.json` (typed by the `oci-spec` crate) into a
//! [`container::Config`], for mini-docker in-process and for the
//! `mini-runc` binary (`src/bin/mini-runc/`), which
//! speaks runc's command line (`create`, `start`, `state`, `kill`,
//! `delete`, `exec`, `run`, `spec`, `features`), so Docker and containerd's
//! shim can drive it as they drive runc.
//!
//! Nothing here may import the engine: mini-docker depends on this crate,
//! not the other way round, so such an import does not compile. What the
//! engine does in the middle of a start (its network) reaches the process
//! model as [`container::Hooks`], closures run at the moments the OCI
//! runtime specification names (createRuntime, createContainer,
//! poststart).

/// `eprintln!` that cannot panic (a closed stderr is no reason to crash).
macro_rules! say_err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod cgroups;
pub mod container;
pub mod error;
pub mod rfc3339;
pub mod rootfs;
pub mod security;
pub mod userns;
