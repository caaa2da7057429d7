#!/usr/bin/env python3
"""Lists the functions a container's start runs, in the order they first
run, into bench/hot-functions.txt, which bench/build.sh hands to the linker
(lld's --symbol-ordering-file) so that they lie together at the front of
the executable's code.

Why: the kernel maps an executable's code in windows of 64 KiB around each
page a process touches (fault-around), and the few hundred kilobytes a
start runs were spread over nearly all of mini-docker's 2.5 MB of code, so
nearly all of it was mapped, and counted in its peak RSS, at every start.

How: a uprobe (uprobetracer.rst in the kernel's documentation) on the
entry of every function of bench/build.sh's executables, which keep their
symbol tables; then, in a private mount namespace and a throwaway network
namespace of its own, the starts bench/startup.py measures (mini-docker
with --net none, --net bridge and limits; mini-runc on runc spec's bundle),
and the trace says which probes fired. glibc's AVX-512 and EVEX string
functions get no probe: with probes on every function the start hung
here, after a probe in an AVX-512 memset had fired; without them it runs.

Run it as root after bench/build.sh, then build again:

    bench/build.sh && sudo bench/hot-functions.py && bench/build.sh

The names carry the compiler's hashes: another rustc, or other versions of
the crates, give other names, which the linker then skips (the order is
lost, nothing else). Regenerate the list when they change.
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import startup  # noqa: E402  (its build paths, root file system, bundle)

TRACING = "/sys/kernel/tracing"
OUT = os.path.join(HERE, "hot-functions.txt")


def tracefs(path, text, append=False):
    flags = os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(os.path.join(TRACING, path), flags)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def functions(binary):
    """The names of the functions with a size, from the symbol table, and
    beside them their file offsets, where the kernel puts a uprobe."""
    loads = []
    headers = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True,
                             check=True).stdout
    for line in headers.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            loads.append((int(f[2], 16), int(f[1], 16), int(f[4], 16)))  # vaddr, offset, size
    found = {}
    symbols = subprocess.run(["readelf", "-sW", binary], capture_output=True, text=True,
                             check=True).stdout
    for line in symbols.splitlines():
        f = line.split()  # Num: Value Size Type Bind Vis Ndx Name
        if len(f) < 8 or f[3] != "FUNC" or f[6] == "UND" or int(f[2], 0) == 0:
            continue
        if "avx512" in f[7] or "evex" in f[7]:
            continue
        address = int(f[1], 16)
        for vaddr, offset, size in loads:
            if vaddr <= address < vaddr + size:
                found.setdefault(address - vaddr + offset, f[7])
                break
    return list(found.values()), list(found.keys())


def main():
    if os.geteuid() != 0:
        sys.exit("run as root")
    binaries = [startup.MINI_DOCKER, startup.MINI_RUNC]
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            sys.exit("build first: bench/build.sh")
    startup.private_mount_namespace()
    top = tempfile.mkdtemp(prefix="mini-docker-hot-")
    state = os.path.join(top, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "none", state], check=True)
    rootfs = startup.busybox_rootfs(top)
    bundle = os.path.join(top, "shared")
    os.makedirs(bundle)
    startup.oci_bundle(bundle, rootfs, ambient=False)
    md = [startup.MINI_DOCKER, "--root", state, "run", "--rm"]
    starts = [
        md + ["--net", "none", rootfs, "/bin/true"],
        md + ["--net", "bridge", rootfs, "/bin/true"],
        md + ["--net", "none", "-m", "64m", "--pids-limit", "100", rootfs, "/bin/true"],
        [startup.MINI_RUNC, "--root", state, "run", "--bundle", bundle, "hot"],
    ]
    # Where tracefs is not mounted (perf mounts it only while it runs):
    # mounted here, in this script's private mount namespace, so it goes
    # when the script ends.
    if not os.path.exists(os.path.join(TRACING, "tracing_on")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACING], check=True)
    names = []
    tracefs("tracing_on", "0")
    tracefs("uprobe_events", "")
    tracefs("trace", "")
    tracefs("buffer_size_kb", "65536")
    try:
        for b, binary in enumerate(binaries):
            these, offsets = functions(binary)
            for i, offset in enumerate(offsets):
                tracefs("uprobe_events", f"p:hot/b{b}f{i} {binary}:0x{offset:x}\n", append=True)
            names.append(these)
        tracefs("events/hot/enable", "1")
        tracefs("tracing_on", "1")
        for argv in starts:
            subprocess.run(argv, stdout=subprocess.DEVNULL, timeout=60, check=True)
        tracefs("tracing_on", "0")
        with open(os.path.join(TRACING, "trace")) as f:
            trace = f.read()
    finally:
        tracefs("tracing_on", "0")
        tracefs("events/hot/enable", "0")
        tracefs("uprobe_events", "")
        subprocess.run(["umount", state], check=False)
    order, seen = [], set()
    # "  mini-docker-123  [001] ...  4316.646155: b0f552: (0x7ffa2159cfb0)":
    # binary 0, function 552.
    for b, i in re.findall(r": b(\d+)f(\d+): \(", trace):
        name = names[int(b)][int(i)]
        if name not in seen:
            seen.add(name)
            order.append(name)
    with open(OUT, "w") as f:
        f.write("".join(name + "\n" for name in order))
    print(f"{len(order)} functions ran, of {sum(len(n) for n in names)}: {OUT}")


if __name__ == "__main__":
    main()
