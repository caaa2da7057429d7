#!/usr/bin/env python3
"""Start-up time of mini-docker and mini-runc next to crun, runc, bwrap and
unshare.

Each round runs every tool once, back to back, in the same order (A B C ...
A B C ...; with --shuffle, in an order of the round's own), so slow moments
of the machine hit all of them; the report gives each tool's median and its
median *paired* ratio to crun (ratio within a round, then the median of
those), plus the peak RSS of the tool's own process (wait4's ru_maxrss;
children not included).

Same work for everyone: a busybox-static root filesystem, /bin/true, new
PID, mount, UTS, IPC, network and cgroup namespaces, as root; the network
namespace has only `lo` (`--net none`: as root mini-docker's default is the
bridge, which crun's config.json has no equivalent of). runc and crun also
create a cgroup for the container (mini-docker only with limits), which is
part of what they cost. Two more rows: `mini-docker --net bridge`
(a veth pair on the bridge minid0, an address lease, a default route) and
mini-docker with `--memory 64m --pids-limit 100` (cgroups made, joined,
removed), next to `crun-limits`, crun with the same two limits in its
config.json. And three rows on one and the same config.json: mini-runc
(the runtime under mini-docker, as a binary with runc's command line), crun
and runc, each `run --bundle B ID`; the bundle is `runc spec`'s, as above,
less `process.capabilities.ambient`, which mini-runc refuses (runc spec
lists ambient capabilities that are not inheritable). bench/README.md says
in one table what each row does.

Usage (as root, after `bench/build.sh`, the static-pie release build):
    apt-get install runc crun bubblewrap busybox-static time
    bench/startup.py [ROUNDS] [--shuffle]

With --shuffle, each round runs the tools in an order of its own (random,
seeded with the round's number, so a run can be repeated). A tool's time
depends on the one before it: in the fixed order crun always follows
mini-docker, and it ran 5 to 9 ms slower than the same work right after
mini-runc; shuffled, every row follows a mix of the others
(bench/README.md, "Order matters").

The whole run happens in a private mount namespace where a tmpfs hides
/sys/fs/cgroup/unified: crun 1.8 refuses this machine's hybrid cgroup
layout otherwise; and in a throwaway network namespace, where mini-docker's
bridge and veth pairs are made and die with it (the machine's own network
is never touched). mini-docker's state goes to a tmpfs, as /run is on most
machines.
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# bench/build.sh's static-pie release build, in target/<host triple>/release.
HOST = subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                      check=True).stdout.split("host: ")[1].split()[0]
RELEASE = os.path.join(HERE, "..", "target", HOST, "release")
MINI_DOCKER = os.path.join(RELEASE, "mini-docker")
MINI_RUNC = os.path.join(RELEASE, "mini-runc")


def private_mount_namespace():
    """Re-runs this script in a private mount namespace (once)."""
    if os.environ.get("BENCH_IN_NS") == "1":
        if os.path.isdir("/sys/fs/cgroup/unified"):
            subprocess.run(["mount", "-t", "tmpfs", "none", "/sys/fs/cgroup/unified"], check=True)
        return
    env = dict(os.environ, BENCH_IN_NS="1")
    cmd = ["unshare", "--mount", "--propagation", "private", "--net", sys.executable] + sys.argv
    sys.exit(subprocess.run(cmd, env=env).returncode)


def busybox_rootfs(top):
    rootfs = os.path.join(top, "rootfs")
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"]:
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for name in ["sh", "true"]:
        os.symlink("busybox", os.path.join(rootfs, "bin", name))
    for name in ["hostname", "hosts", "resolv.conf"]:
        open(os.path.join(rootfs, "etc", name), "w").close()
    return rootfs


def oci_bundle(top, rootfs, limits=False, ambient=True):
    """`runc spec`, changed to run /bin/true with mini-docker's namespaces
    (and, with `limits`, a 64 MiB memory limit and a 100 pids limit;
    without `ambient`, no `process.capabilities.ambient`: runc spec lists
    ambient capabilities that are not inheritable, which capabilities(7)
    does not allow; crun and runc drop them, mini-runc refuses the field,
    so the bundle it shares with crun and runc goes without it)."""
    subprocess.run(["runc", "spec"], cwd=top, check=True)
    path = os.path.join(top, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["root"] = {"path": "rootfs" if os.path.dirname(rootfs) == top else rootfs,
                    "readonly": False}
    if limits:
        spec["linux"]["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 100}}
    if not ambient:
        del spec["process"]["capabilities"]["ambient"]
    spec["linux"]["namespaces"] = [
        {"type": t} for t in ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    ]
    with open(path, "w") as f:
        json.dump(spec, f)
    return top


def timed(argv):
    """Milliseconds of one run."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        sys.exit(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def peak_rss(argv):
    """Peak RSS (KiB) of the tool's own process, through GNU time: a child
    forked from this Python process would count Python's pages too."""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    done = subprocess.run(["/usr/bin/time", "-f", "%M"] + argv,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, timeout=30)
    return int(done.stderr.decode().strip().splitlines()[-1])


def main():
    args = [a for a in sys.argv[1:] if a != "--shuffle"]
    shuffle = "--shuffle" in sys.argv[1:]
    rounds = int(args[0]) if args else 200
    if os.geteuid() != 0:
        sys.exit("run as root")
    for tool in ["runc", "crun", "bwrap", "unshare"]:
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install runc crun bubblewrap")
    if not (os.access(MINI_DOCKER, os.X_OK) and os.access(MINI_RUNC, os.X_OK)):
        sys.exit("build first: bench/build.sh")
    private_mount_namespace()
    top = tempfile.mkdtemp(prefix="mini-docker-bench-")
    state = os.path.join(top, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "none", state], check=True)
    try:
        rootfs = busybox_rootfs(top)
        bundle = oci_bundle(top, rootfs)
        limited_bundle = os.path.join(top, "limited")
        os.makedirs(limited_bundle)
        oci_bundle(limited_bundle, rootfs, limits=True)
        # The one bundle all three runtimes accept (see oci_bundle).
        shared_bundle = os.path.join(top, "shared")
        os.makedirs(shared_bundle)
        oci_bundle(shared_bundle, rootfs, ambient=False)
        tools = {
            "mini-docker": lambda i: [MINI_DOCKER, "--root", state, "run", "--rm", "--net", "none",
                                      rootfs, "/bin/true"],
            # crun and runc keep their state on the same tmpfs as mini-docker's,
            # not in the host's /run: an interrupted run leaves nothing there.
            "crun": lambda i: ["crun", "--root", state, "run", "--bundle", bundle,
                               f"bench-crun-{os.getpid()}-{i}"],
            "md --net bridge": lambda i: [MINI_DOCKER, "--root", state, "run", "--rm",
                                          "--net", "bridge", rootfs, "/bin/true"],
            "md limits": lambda i: [MINI_DOCKER, "--root", state, "run", "--rm", "--net", "none",
                                    "-m", "64m", "--pids-limit", "100", rootfs, "/bin/true"],
            "crun-limits": lambda i: ["crun", "--root", state, "run", "--bundle", limited_bundle,
                                      f"bench-crunl-{os.getpid()}-{i}"],
            "runc": lambda i: ["runc", "--root", state, "run", "--bundle", bundle,
                               f"bench-runc-{os.getpid()}-{i}"],
            # The runtime under mini-docker, as a binary with runc's command
            # line, next to crun and runc on the very same config.json.
            "mini-runc": lambda i: [MINI_RUNC, "--root", state, "run", "--bundle", shared_bundle,
                                    f"bench-mrunc-{os.getpid()}-{i}"],
            "crun, shared": lambda i: ["crun", "--root", state, "run", "--bundle", shared_bundle,
                                       f"bench-cruns-{os.getpid()}-{i}"],
            "runc, shared": lambda i: ["runc", "--root", state, "run", "--bundle", shared_bundle,
                                       f"bench-runcs-{os.getpid()}-{i}"],
            "bwrap": lambda i: ["bwrap", "--unshare-all", "--bind", rootfs, "/", "--proc", "/proc",
                                "--dev", "/dev", "/bin/true"],
            # -C: a cgroup namespace too, as every other row makes.
            "unshare": lambda i: ["unshare", "-fpmuinC", "chroot", rootfs, "/bin/true"],
        }
        times = {name: [] for name in tools}
        for i in range(rounds):
            order = list(tools)
            if shuffle:
                random.Random(i).shuffle(order)
            for name in order:
                times[name].append(timed(tools[name](i)))
        peaks = {name: peak_rss(argv(rounds)) for name, argv in tools.items()}
        print(f"{rounds} rounds{', shuffled' if shuffle else ''}, busybox rootfs, /bin/true, "
              "medians")
        print(f"{'tool':<16} {'median ms':>10} {'vs crun':>8} {'peak RSS':>10}")
        for name in tools:
            ratios = [a / b for a, b in zip(times[name], times["crun"])]
            print(f"{name:<16} {statistics.median(times[name]):>10.2f} "
                  f"{statistics.median(ratios):>8.2f} {peaks[name] or '?':>7} KiB")

        def paired(a, b):
            return statistics.median(x / y for x, y in zip(times[a], times[b]))

        print("one config.json for all three: "
              f"mini-runc vs crun {paired('mini-runc', 'crun, shared'):.2f}, "
              f"vs runc {paired('mini-runc', 'runc, shared'):.2f} (paired medians)")
    finally:
        subprocess.run(["umount", state])
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
