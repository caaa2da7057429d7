#!/bin/sh
# The release build the benchmarks measure: mini-docker and mini-runc as
# static-pie executables (glibc linked in, `-C target-feature=+crt-static`),
# with the functions a start runs laid out first (hot-functions.txt).
#
# Why static: a dynamically linked program pays, at every start, for the
# loader mapping libc.so and relocating against it, and those pages count in
# its RSS: a hello-world peaks at about 1.8 MiB dynamic and 1.0 MiB static
# here. Neither binary needs what only a dynamic glibc gives (NSS modules,
# dlopen): user and group names are read from the image's own files.
#
# Why an order: the kernel maps code in 64 KiB windows around each page a
# process touches, so code a start runs, spread over the whole executable,
# maps nearly all of it. hot-functions.txt (made by hot-functions.py, which
# explains it) lists those functions; lld's --symbol-ordering-file puts them
# first. Names it does not find (another compiler's) are skipped.
#
# The symbol tables stay (CARGO_PROFILE_RELEASE_STRIP=false): they are not
# loaded at run time, and hot-functions.py reads them.
#
# `--target` is spelled out because with it cargo applies RUSTFLAGS to the
# binaries only; without it the flag would reach the proc-macro crates too
# (serde_derive, clap_derive), which cannot be built static. The binaries
# land in target/<host triple>/release/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
flags="-C target-feature=+crt-static"
order="$here/hot-functions.txt"
if [ -f "$order" ]; then
    flags="$flags -C link-arg=-Wl,--symbol-ordering-file=$order"
    flags="$flags -C link-arg=-Wl,--no-warn-symbol-ordering"
    # A new list changes no source file: remove the two executables (and
    # cargo's copies of them), which cargo then links again.
    release="$here/../target/$host/release"
    if [ -f "$release/mini-docker" ] && [ "$order" -nt "$release/mini-docker" ]; then
        rm -f "$release/mini-docker" "$release/mini-runc"
        find "$release/deps" -maxdepth 1 -type f \( -name 'mini_docker-*' -o -name 'mini_runc-*' \) \
            ! -name '*.*' -delete
    fi
fi
CARGO_PROFILE_RELEASE_STRIP=false RUSTFLAGS="${RUSTFLAGS:-} $flags" \
    exec cargo build --release --target "$host" -p mini-docker -p mini-runc "$@"
