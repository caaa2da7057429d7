//! `spec` and `features` (runc-spec(8), runc-features(8)): what a client
//! or a learner asks a runtime before giving it a bundle.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use crate::Failure;

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// A user namespace mapping the caller's IDs, no network namespace.
    #[arg(long)]
    rootless: bool,
    /// Where to write config.json.
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
}

/// Writes `config.json` (`oci-spec`'s default, less what mini-runc
/// refuses, see `mini_runc::container::spec::default_spec`).
pub fn spec(args: &SpecArgs) -> Result<(), Failure> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        return Err(format!("file {path:?} exists: remove it first"));
    }
    let spec = mini_runc::container::spec::default_spec(args.rootless);
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("writing {path:?}: {e}"))
}

/// The features JSON (features.md of the runtime specification): what a
/// client may put in `config.json`.
pub fn features() -> Result<(), Failure> {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let mut caps = caps;
    caps.sort();
    let features = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": [
            "bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec",
            "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": { "org.opencontainers.runtime-spec.features.name": "mini-runc" }
    });
    println!("{}", serde_json::to_string_pretty(&features).map_err(|e| e.to_string())?);
    Ok(())
}
