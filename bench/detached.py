#!/usr/bin/env python3
"""What a detached container costs in resident helper processes, and their
memory: mini-docker's monitor (`run -d`), next to podman's conmon.

Starts N detached containers (default 20) running `sleep 600` from a
busybox-static root filesystem, with no network, under `mini-docker run -d`,
`mini-docker run -d --init`, and `podman run -d`; then, for each container,
finds the processes that stay on its behalf outside it and sums their PSS
(proportional set size: shared pages divided among the processes that map
them, so N copies of one binary are not counted N times), read from
/proc/PID/smaps_rollup. It prints, per tool, the helpers per container and
the median PSS per container, in KiB.

- mini-docker: the monitor (its `owner` file); with `--init`, also the
  reaper, the container's PID 1 (the command is its child).
- podman: conmon (`podman inspect --format {{.State.ConmonPid}}`).

Run it as root after `bench/build.sh` (the static-pie release build):

    bench/detached.py [N]

It runs in a private mount namespace and a throwaway network namespace of
its own, with a tmpfs over /run: podman's storage, run state and network
configuration, and mini-docker's state, live in a temporary directory and
go with it. podman (with runc) gets the `--ulimit`s a machine without
CAP_SYS_RESOURCE needs, and a cgroup parent of its own, removed at the end.
Every command is bounded at 60 s.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# bench/build.sh's static-pie release build, in target/<host triple>/release.
HOST = subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                      check=True).stdout.split("host: ")[1].split()[0]
RELEASE = os.path.join(HERE, "..", "target", HOST, "release")
MINI_DOCKER = os.path.join(RELEASE, "mini-docker")
LIMIT = 60
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# podman's containers' cgroups go under this one, removed at the end.
CGROUP = f"/nslab-bench-detached-{os.getpid()}"


def private_namespaces():
    """Re-runs this script in a private mount and network namespace (once),
    with a tmpfs over /run."""
    if os.environ.get("BENCH_IN_NS") == "1":
        subprocess.run(["mount", "-t", "tmpfs", "none", "/run"], check=True)
        return
    env = dict(os.environ, BENCH_IN_NS="1")
    cmd = ["unshare", "--mount", "--propagation", "private", "--net", sys.executable] + sys.argv
    sys.exit(subprocess.run(cmd, env=env).returncode)


def run(argv, **kw):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=LIMIT, **kw)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[:6])}… failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise ValueError(f"no Pss line for {pid}")


def busybox_rootfs(top):
    rootfs = os.path.join(top, "rootfs")
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"]:
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for name in ["sh", "sleep", "true"]:
        os.symlink("busybox", os.path.join(rootfs, "bin", name))
    for name in ["hostname", "hosts", "resolv.conf", "passwd", "group"]:
        open(os.path.join(rootfs, "etc", name), "w").close()
    return rootfs


def mini_docker(state, rootfs, n, init):
    """Per container: the PIDs of its helpers."""
    base = [MINI_DOCKER, "--root", state]
    ids = []
    for _ in range(n):
        flags = ["--init"] if init else []
        ids.append(run(base + ["run", "-d", "--net", "none"] + flags + [rootfs, "sleep", "600"])
                   .strip())
    helpers = []
    for cid in ids:
        with open(os.path.join(state, cid, "owner")) as f:
            monitor = int(f.read().split()[0])
        pids = [monitor]
        if init:
            # The reaper: the monitor's child (the command is the reaper's).
            with open(f"/proc/{monitor}/task/{monitor}/children") as f:
                pids += [int(p) for p in f.read().split()]
        helpers.append(pids)
    return ids, helpers


def podman_argv(top):
    d = lambda name: os.path.join(top, "podman", name)
    return ["podman", "--root", d("storage"), "--runroot", d("run"), "--tmpdir", d("tmp"),
            "--network-config-dir", d("networks"), "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"]


def podman(top, rootfs, n):
    base = podman_argv(top)
    env = dict(os.environ, TMPDIR=os.path.join(top, "podman", "tmp"))
    env.pop("XDG_RUNTIME_DIR", None)
    os.makedirs(env["TMPDIR"])
    tar = os.path.join(top, "rootfs.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    run(base + ["import", tar, "bench-busybox"], env=env)
    helpers = []
    for _ in range(n):
        cid = run(base + ["run", "-d", "--network", "none", "--cgroup-parent", CGROUP] + ULIMITS
                  + ["bench-busybox", "sleep", "600"], env=env).strip()
        conmon = run(base + ["inspect", "--format", "{{.State.ConmonPid}}", cid], env=env)
        helpers.append([int(conmon)])
    return base, env, helpers


def row(name, helpers):
    per_container = [sum(pss_kib(p) for p in pids) for pids in helpers]
    count = statistics.median(len(pids) for pids in helpers)
    print(f"| {name} | {count:g} | {statistics.median(per_container):.0f} |")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if os.geteuid() != 0:
        sys.exit("run as root")
    if not os.access(MINI_DOCKER, os.X_OK):
        sys.exit("build first: bench/build.sh")
    if not shutil.which("podman"):
        sys.exit("podman is missing: apt-get install podman")
    private_namespaces()
    top = tempfile.mkdtemp(prefix="mini-docker-detached-")
    state = os.path.join(top, "state")
    rootfs = busybox_rootfs(top)
    base = None
    print(f"{n} detached containers each, `sleep 600`, busybox rootfs, no network\n")
    print("| tool | resident helpers per container | PSS per container (KiB, median) |")
    print("|---|---|---|")
    try:
        ids, helpers = mini_docker(state, rootfs, n, init=False)
        row("mini-docker run -d (monitor)", helpers)
        run([MINI_DOCKER, "--root", state, "rm", "-f"] + ids)
        ids, helpers = mini_docker(state, rootfs, n, init=True)
        row("mini-docker run -d --init (monitor + reaper)", helpers)
        run([MINI_DOCKER, "--root", state, "rm", "-f"] + ids)
        base, env, helpers = podman(top, rootfs, n)
        row("podman run -d (conmon)", helpers)
    finally:
        if base is not None:
            subprocess.run(base + ["rm", "-f", "-a", "-t", "0"], env=env, capture_output=True,
                           timeout=LIMIT)
            # vfs layers: podman owns their removal (some are read-only).
            subprocess.run(base + ["system", "reset", "-f"], env=env, capture_output=True,
                           timeout=LIMIT)
        subprocess.run([MINI_DOCKER, "--root", state, "rm", "-f"]
                       + (os.listdir(state) if os.path.isdir(state) else []),
                       capture_output=True, timeout=LIMIT)
        shutil.rmtree(top, ignore_errors=True)
        remove_cgroups()


def remove_cgroups():
    """The cgroup parent podman's containers had, in every hierarchy,
    deepest first (podman removed its containers' own)."""
    for root, _, _ in sorted(os.walk("/sys/fs/cgroup"), key=lambda w: -len(w[0])):
        if CGROUP in root:
            try:
                os.rmdir(root)
            except OSError:
                pass


if __name__ == "__main__":
    main()
