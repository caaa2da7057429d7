//! What an engine in the same process hands the process model beside a
//! bundle.
//!
//! Docker's engine hands runc a bundle (a root filesystem and a
//! `config.json`) and, beside it, what no `config.json` can hold: the
//! container's stdio, a console socket, a PID file, and, for its network,
//! a hook that calls back into the engine. mini-docker's engine writes a
//! bundle the same way (its `bundle.rs`), and the process model reads it
//! with the same [`spec::plan`] the `mini-runc` binary uses; what it hands
//! over beside the bundle is [`InProcess`]:
//! - the image's layer: the root becomes an overlay of it with the state
//!   directory's `upper/`, mounted inside the container's own mount
//!   namespace on `root.path`, where Docker mounts its overlay on the host
//!   before it calls runc (so the host's mount table is never touched);
//! - the engine's bookkeeping: the name, `--rm`, whether stdin stays open;
//! - its work at the steps of the start, as closures ([`Hooks`]), where
//!   Docker's would be programs;
//! - the other containers' namespaces of `--ipc`, `--net` and `--pid
//!   container:NAME`, held open since the engine checked the name: the
//!   paths `config.json` gives for them (`/proc/PID/ns/KIND`, as Docker
//!   writes) could by the time of the start name another process's
//!   namespaces if that container ended and its PID was reused;
//! - the seccomp filter it compiled already ([`Plan::seccomp_settled`]).
//!
//! It imports `container/`'s types and [`spec::Plan`]. The engine calls
//! it; the `mini-runc` binary, only for [`Plan::compile_seccomp`], the
//! one way a bundle's own `linux.seccomp` is compiled.

use std::path::{Path, PathBuf};

use crate::container::spec::Plan;
use crate::container::{Hooks, IpcMode, Joined, Lower, NetMode};
use crate::security::{SecurityError, seccomp};

// ANCHOR: in-process
/// The parts of a container an engine in the same process hands over
/// beside its `config.json` (see the module's documentation).
#[derive(Debug)]
pub struct InProcess {
    pub name: Option<String>,
    /// `--rm`: the state directory goes when the container ends.
    pub remove: bool,
    /// `-i`: the command reads the engine's stdin (else `/dev/null`).
    pub interactive: bool,
    /// `--init`: the runtime's reaper as PID 1, the command its child (see
    /// `init.rs`). Docker writes its reaper (`docker-init`, a static tini
    /// bound into the container) into `process.args`; mini-runc's reaper
    /// is its own code, already in the container's first process, so the
    /// choice crosses beside the bundle.
    pub init: bool,
    /// The image: the overlay's lower layer on `root.path`.
    pub lower: Lower,
    /// See [`Config::idmap_lower`](crate::container::Config::idmap_lower).
    pub idmap_lower: bool,
    pub hooks: Hooks,
    pub ipc_mode: IpcMode,
    pub net_mode: NetMode,
    pub pid_join: Option<Joined>,
    /// The name `/etc/hostname` and `/etc/hosts` carry: the bundle's
    /// `hostname`, or the engine's choice when the container shares the
    /// host's UTS namespace (and the bundle may name none).
    pub hostname: String,
    /// `--privileged`, for the record `exec` and `inspect` read; the file
    /// already says what it means.
    pub privileged: bool,
}
// ANCHOR_END: in-process

impl Plan {
    /// The bundle's plan, with what the engine handed over beside it.
    pub fn in_process(mut self, parts: InProcess) -> Plan {
        let config = &mut self.config;
        config.name = parts.name;
        config.remove = parts.remove;
        config.interactive = parts.interactive;
        config.init = parts.init;
        config.lower = parts.lower;
        config.idmap_lower = parts.idmap_lower;
        self.extras.bind_root = false;
        // The engine's hooks, and its held namespaces, replace the joins by
        // path the plan would make (the paths name the same namespaces).
        config.hooks = parts.hooks;
        config.namespaces.ipc = parts.ipc_mode.new_namespace();
        config.namespaces.net = parts.net_mode.new_namespace();
        config.ipc_mode = parts.ipc_mode;
        config.net_mode = parts.net_mode;
        config.pid_join = parts.pid_join;
        config.hostname = parts.hostname;
        config.security.privileged = parts.privileged;
        // mini-docker makes cgroups only for a limit: without one there is
        // nothing to enforce, and a cgroup costs time at start and at exit.
        // They go where its containers' always go, `mini-docker/<id>`, below
        // the hierarchy's root as root and below the user's delegated
        // subtree rootless (cgroups/v2.rs `base`); the path the bundle
        // names as root is that same place, and rootless it names none.
        self.limits.own = false;
        self.limits.path = None;
        self.limits.parent = Some(crate::cgroups::ENGINE_PARENT);
        self
    }

    /// Compiles `linux.seccomp` for the container's capabilities, from a
    /// copy in the state directory `dir`, which a later `exec` compiles
    /// again (its process gets the same filter).
    pub fn compile_seccomp(&mut self, dir: &Path) -> Result<(), SecurityError> {
        let Some(text) = self.seccomp.take() else { return Ok(()) };
        let copy = SeccompCopy { path: dir.join(SECCOMP_COPY), text };
        copy.write()?;
        let security = &mut self.config.security;
        let profile = seccomp::Profile::File(copy.path);
        security.filters = seccomp::compile(&profile, security.caps)?;
        security.seccomp = profile;
        Ok(())
    }

    /// The engine's seccomp profile, settled already (`seccomp::settle`):
    /// the program it compiled is the container's filter, and the text is
    /// `linux.seccomp`, which the plan was made without (so it is neither
    /// read nor compiled a second time). The copy for a later `exec` is
    /// handed back unwritten: the engine writes it while the container
    /// sets up, with the other files only later commands read (`exec`
    /// cannot come before the command has started).
    pub fn seccomp_settled(&mut self, dir: &Path, settled: seccomp::Settled) -> SeccompCopy {
        let path = dir.join(SECCOMP_COPY);
        let security = &mut self.config.security;
        security.filters = settled.filters;
        security.seccomp = seccomp::Profile::File(path.clone());
        SeccompCopy { path, text: settled.oci }
    }
}

/// The file in the state directory that holds the container's
/// `linux.seccomp`.
const SECCOMP_COPY: &str = "seccomp.json";

/// The container's `linux.seccomp`, to be written where its record says
/// (`exec` compiles it again for its process).
#[derive(Debug)]
pub struct SeccompCopy {
    pub path: PathBuf,
    pub text: String,
}

impl SeccompCopy {
    pub fn write(&self) -> Result<(), SecurityError> {
        std::fs::write(&self.path, &self.text)
            .map_err(|e| SecurityError::Seccomp(format!("writing {:?}: {e}", self.path)))
    }
}
