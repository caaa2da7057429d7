//! `mini-docker inspect NAME…`: what the host knows about a container, as
//! JSON, read from its state directory and from `/proc` (the host sees
//! every container's processes and namespaces: claim SEC-3).
//!
//! From the state directory: the bundle `run` wrote (`config.json`, see
//! bundle.rs), the settings it recorded for `exec` (`exec.json`, see
//! mini-runc's container/tenant.rs), the bridge address and published
//! ports (`network`, see network/mod.rs), the limits and their cgroups
//! (`cgroups`, see mini-runc's cgroups/mod.rs), the image's name and the
//! defaults it brought (`image.json`, see run.rs: its exposed ports and
//! labels are shown, as `docker inspect` shows them, and nothing more is
//! done with them). The network and the cgroups exist while the container
//! runs; a field it does not have is `null`.
//!
//! Beside its own fields, it gives a few in Docker's spelling, which
//! scripts name in templates: `Id`, `Name` and `State` (`Status`,
//! `Running`, `Pid`, `ExitCode`, `StartedAt`, `FinishedAt`, recorded by
//! lifecycle.rs). `-f TEMPLATE` prints a template of them (format.rs).

use mini_runc::container::state::StateDir;
use mini_runc::container::tenant;
use serde_json::{Map, Value, json};

use crate::bundle;
use crate::commands::format::Template;
use crate::commands::run::IMAGE_RECORD;
use crate::commands::{Dirs, Error};
use crate::lifecycle::{Lifecycle, rfc3339};

/// Prints what is known of each container (with `-f`, the template
/// applied to each, one line each); a name that finds none is reported and
/// the others are still printed, as Docker's `inspect` does (status 1).
pub fn inspect(dirs: &Dirs, containers: &[String], format: Option<&str>) -> Result<u8, Error> {
    let template = format.map(Template::parse).transpose()?;
    let mut all = Vec::new();
    let status = crate::commands::for_each(containers, |key| {
        all.push(describe(&crate::commands::find(dirs, key)?));
        Ok(())
    });
    match template {
        Some(template) => {
            for value in &all {
                say!("{}", template.render(value)?);
            }
        }
        None => say!("{}", serde_json::to_string_pretty(&Value::Array(all)).unwrap_or_default()),
    }
    Ok(status)
}

/// Docker's `State`, in its spelling, so that `-f '{{.State.Pid}}'` works
/// as it does with Docker: `Pid` is the command's, as the host numbers it
/// (0 once it has ended), `ExitCode` 0 until it has ended.
fn docker_state(state: &StateDir, command: &Value) -> Value {
    let life = Lifecycle::read(state);
    let status = state.status();
    let running = status == "running";
    json!({
        "Status": status,
        "Running": running,
        "Dead": status == "dead",
        "Pid": if running { command.as_i64().unwrap_or(0) } else { 0 },
        "ExitCode": life.exit_code.unwrap_or(0),
        "StartedAt": rfc3339(life.started_at),
        "FinishedAt": rfc3339(life.finished_at),
    })
}

fn describe(state: &StateDir) -> Value {
    let read = |name: &str| std::fs::read_to_string(state.dir.join(name)).unwrap_or_default();
    let id = state.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let init = tenant::ready_init(state);
    let mut namespaces = Map::new();
    let mut cgroup = Vec::new();
    let mut command = Value::Null;
    let mut mounts = Vec::new();
    if let Some(init) = init {
        let holder = tenant::namespace_holder(init);
        // Each mount of the container: where, and which file system.
        mounts = std::fs::read_to_string(format!("/proc/{holder}/mountinfo"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (left, right) = line.split_once(" - ")?;
                let target = left.split(' ').nth(4)?;
                Some(json!({ "target": target, "fstype": right.split(' ').next()? }))
            })
            .collect();
        for ns in ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"] {
            if let Ok(link) = std::fs::read_link(format!("/proc/{holder}/ns/{ns}")) {
                namespaces.insert(ns.to_owned(), json!(link.to_string_lossy()));
            }
        }
        cgroup = std::fs::read_to_string(format!("/proc/{init}/cgroup"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        command = tenant::command_pid(state, init).map_or(Value::Null, |p| p.as_raw().into());
    }
    let recorded = tenant::recorded(state);
    let annotations = crate::commands::annotations(state);
    let image = serde_json::from_str::<Value>(&read(IMAGE_RECORD)).unwrap_or(Value::Null);
    let caps = recorded["caps"].as_u64().unwrap_or(0);
    let cap_names: Vec<String> =
        mini_runc::security::capabilities::list(caps).iter().map(|c| c.to_string()).collect();
    let name = read("name").trim().to_owned();
    json!({
        // Docker's names for these, which scripts' templates use.
        "Id": id,
        "Name": format!("/{name}"),
        "State": docker_state(state, &command),
        "id": id,
        "name": name,
        "state": state.status(),
        "pids": { "mini_docker": read("owner").split_whitespace().next().and_then(|p| p.parse::<u32>().ok()),
                  "init": init.map(|p| p.as_raw()), "command": command },
        "namespaces": namespaces,
        "cgroup": cgroup,
        "mounts": mounts,
        "rootfs": state.rootfs(),
        // The bundle `run` wrote and the runtime read (see bundle.rs).
        "bundle": {
            "path": state.dir,
            "config": serde_json::from_str::<Value>(&read("config.json")).unwrap_or(Value::Null),
        },
        "image": image["name"],
        "config": {
            "user": recorded["user"], "workdir": recorded["workdir"], "env": recorded["env"],
            "groups": recorded["groups"],
            "entrypoint": image["config"]["Entrypoint"], "cmd": image["config"]["Cmd"],
            "exposed_ports": image["config"]["ExposedPorts"], "labels": labels(state, &image),
            "stop_signal": annotations.get(bundle::STOP_SIGNAL_ANNOTATION),
            "stop_timeout": annotations.get(bundle::STOP_TIMEOUT_ANNOTATION)
                .and_then(|t| t.as_str()?.parse::<u64>().ok()),
        },
        "security": {
            "privileged": recorded["privileged"],
            "capabilities": cap_names,
            "no_new_privs": recorded["no_new_privs"],
            "seccomp": recorded["seccomp"],
        },
        "network": network(state, &recorded["net"]),
        "limits": limits(state),
    })
}

/// The image's labels, then the container's own (`run --label`, kept as
/// annotations of its bundle) over them, as Docker merges them.
fn labels(state: &StateDir, image: &Value) -> Value {
    let mut labels = image["config"]["Labels"].as_object().cloned().unwrap_or_default();
    for (key, value) in crate::commands::annotations(state) {
        if !key.starts_with(bundle::ANNOTATION_PREFIX) {
            labels.insert(key, value);
        }
    }
    Value::Object(labels)
}

/// The network mode (bridge, pasta, none, host, container) and, on the
/// bridge, what `run` made for the container (with pasta: its PID).
fn network(state: &StateDir, mode: &Value) -> Value {
    let record = crate::network::Record::read(&state.dir);
    let ports: Vec<Value> = record
        .publish
        .iter()
        .map(|p| {
            let ip = p.host_ip.to_string();
            json!({ "host_ip": ip, "host_port": p.host_port, "port": p.port, "proto": p.proto.word() })
        })
        .collect();
    // --network pasta: `none` to the runtime, which made the namespace.
    let mode = record.mode.as_deref().map_or(mode.clone(), |m| json!(m));
    json!({
        "mode": mode,
        "pasta_pid": record.pasta.map(|(pid, _)| pid.as_raw()),
        "address": record.address.map(|a| a.to_string()),
        "prefix": record.address.map(|_| record.prefix),
        "gateway": record.gateway.map(|g| g.to_string()),
        "veth": record.veth,
        "ports": ports,
    })
}

/// The limits asked for (`null` each one not asked) and the cgroups made
/// for them; `null` when the container has no limit (it has no cgroup of
/// its own then).
fn limits(state: &StateDir) -> Value {
    let Some(recorded) = mini_runc::cgroups::read_record(&state.dir) else { return Value::Null };
    let limits = &recorded.limits;
    // With --memory, no total of memory and swap means unlimited swap: -1.
    let memory_swap = match (limits.memory, limits.memory_swap) {
        (Some(_), None) => json!(-1),
        (_, swap) => json!(swap),
    };
    json!({
        "memory": limits.memory,
        "memory_swap": memory_swap,
        "pids": limits.pids,
        "cpus": limits.cpus,
        "cpu_shares": limits.cpu_shares,
        "cpuset_cpus": limits.cpuset_cpus,
        "cgroups": recorded.dirs,
    })
}
