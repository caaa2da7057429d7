//! Rootless containers with the user's subordinate IDs (`/etc/subuid`,
//! `/etc/subgid`, written by `newuidmap` and `newgidmap`), and without.
//!
//! As uid 65534 (`nobody`, to whom `.ci/run` gives a range), a container
//! maps 0 to the user and 1..N to the range: `/proc/self/uid_map` shows
//! both lines; an image whose config names a non-root user runs as that
//! user, and the image's files keep their owners, because its layers were
//! unpacked in a user namespace with the same map. Without the helpers (a
//! PATH that lacks them) or without a range (a user /etc/subuid does not
//! name) the container maps the user only, after one line that says why.

use std::process::{Command, Stdio};

use nslab_tests::mini_docker::{LIMIT, Lab, Ran, finish};
use nslab_tests::{As, NOBODY, skip};

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

/// A rootless lab whose user has a subordinate range; `None` (a failure
/// under CI=true, which sets it up) without one or without the helpers.
fn lab_with_range(test: &str) -> Option<(Lab, (u32, u32, u32))> {
    let lab = Lab::new(test, As::Rootless, &BINARIES)?;
    if lab.host_uid != NOBODY {
        skip(test, "runs as uid 65534: run the tests as root");
        return None;
    }
    let Some(range) = nslab_tests::nobody_subordinate() else {
        skip(
            test,
            "needs newuidmap/newgidmap (uidmap) and a line for nobody in /etc/subuid and \
             /etc/subgid (see .ci/run)",
        );
        return None;
    };
    Some((lab, range))
}

/// The lines of a `uid_map`, padding squeezed.
fn squeezed(text: &str) -> Vec<String> {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

#[test]
fn the_user_and_its_range_are_mapped() {
    let Some((lab, (uid, gid, count))) = lab_with_range("mini-docker rootless full map") else {
        return;
    };
    let ran = lab.container(
        &[],
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo; cat /proc/self/gid_map; cat /proc/self/setgroups",
        ],
    );
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{}", ran.stdout);
    let (uids, rest) = ran.stdout.split_once("\n\n").expect("two maps");
    assert_eq!(squeezed(uids), [format!("0 {NOBODY} 1"), format!("1 {uid} {count}")]);
    let gids: Vec<String> = squeezed(rest);
    assert_eq!(gids, [format!("0 {NOBODY} 1"), format!("1 {gid} {count}"), "allow".to_owned()]);
    let text = ran
        .stdout
        .replace(&format!("{uid:>10}"), "[SUBUID]")
        .replace(&format!("{gid:>10}"), "[SUBGID]")
        .replace(&format!("{count:>10}"), "[COUNT]");
    insta::assert_snapshot!("full-map", text);
}

/// The image's root filesystem: busybox, a user `user` (1000) whose home
/// and a file in it are the user's, and a file of an owner (70000) beyond
/// a 65536-ID range.
fn image_tarball(path: &std::path::Path) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).expect("tarball"));
    let mut add = |name: &str, kind: tar::EntryType, mode: u32, owner: u64, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_mtime(0);
        tar.append_data(&mut header, name, data).expect("entry");
    };
    use tar::EntryType as T;
    for dir in ["bin", "etc", "home", "tmp"] {
        add(dir, T::Directory, 0o755, 0, b"");
    }
    let busybox = std::fs::read(nslab_tests::clients::busybox()).expect("busybox");
    add("bin/busybox", T::Regular, 0o755, 0, &busybox);
    let passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
    add("etc/passwd", T::Regular, 0o644, 0, passwd.as_bytes());
    add("etc/group", T::Regular, 0o644, 0, b"root:x:0:\nuser:x:1000:\n");
    add("home/user", T::Directory, 0o700, 1000, b"");
    add("home/user/notes", T::Regular, 0o600, 1000, b"the user's\n");
    add("far", T::Regular, 0o644, 70_000, b"beyond the range\n");
    for applet in ["sh", "id", "stat", "cat", "touch"] {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(T::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox").expect("applet");
    }
    tar.into_inner().expect("finish the tarball");
}

fn tool(program: &str, args: &[&str]) -> Ran {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    finish(cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}")), LIMIT)
}

/// Docker's copy of the image, removed by its unique tag on drop.
struct DockerImage(String);

impl Drop for DockerImage {
    fn drop(&mut self) {
        let _ = tool("docker", &["rmi", "-f", &self.0]);
    }
}

#[test]
fn an_image_keeps_its_owners_and_user_rootless() {
    let test = "mini-docker rootless image owners";
    let Some((lab, (uid, _, count))) = lab_with_range(test) else { return };
    if nslab_tests::clients::require(test, &["docker"]).is_none() {
        return;
    }
    if tool("docker", &["info"]).code != 0 {
        skip(test, "needs a running Docker daemon");
        return;
    }
    // A docker-archive, as `docker save` writes it, of an image whose
    // config says USER user.
    let root = lab.dir.join("root.tar");
    image_tarball(&root);
    let tag = format!("localhost/nslab-owners:{}", std::process::id());
    let imported =
        tool("docker", &["import", "--change", "USER user", &root.display().to_string(), &tag]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let _docker = DockerImage(tag.clone());
    let archive = lab.dir.join("owners.tar");
    let saved = tool("docker", &["save", "-o", &archive.display().to_string(), &tag]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    std::os::unix::fs::chown(&archive, Some(NOBODY), Some(NOBODY)).expect("chown");

    let loaded = lab.run(&["load", "-i", &archive.display().to_string()]);
    assert_eq!(loaded.code, 0, "{}", loaded.stderr);
    // The one owner beyond the range is said once, and stays root's.
    assert_eq!(
        loaded.stderr,
        "mini-docker: 1 file(s) owned by IDs beyond your /etc/subuid or /etc/subgid range are \
         root's in the image\n"
    );
    // On disk, as unpacked in the user namespace: UID 1000 inside is the
    // range's 1000th ID outside.
    let stored = lab.dir.join("data/images/layers");
    let layer =
        std::fs::read_dir(&stored).expect("layers").next().expect("a layer").expect("entry");
    let home = layer.path().join("diff/home/user");
    let meta = std::fs::symlink_metadata(&home).expect("home/user");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), uid + 999);
    assert!(count >= 1001, "the range covers UID 1000");

    let ran = lab.run(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "id -u; id -g; stat -c '%u:%g %a %n' /home/user /home/user/notes /far /bin/busybox; \
         cat /home/user/notes; touch /home/user/new && stat -c '%u %n' /home/user/new",
    ]);
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{}", ran.stdout);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[..2], ["1000", "1000"], "the image's USER, not root");
    assert_eq!(lines[2], "1000:1000 700 /home/user");
    assert_eq!(lines[3], "1000:1000 600 /home/user/notes");
    assert_eq!(lines[4], "0:0 644 /far", "beyond the range: root's");
    insta::assert_snapshot!("image-owners", ran.stdout);

    // -u root overrides the image's user; root reads what UID 1000 owns.
    let ran = lab.run(&["run", "--rm", "-u", "0", &tag, "cat", "/home/user/notes"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "the user's\n"), "{}", ran.stderr);
    // Removing the image removes its mapped owners' files too.
    let removed = lab.run(&["rmi", &tag]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(std::fs::read_dir(&stored).expect("layers").count(), 0, "layers left behind");
    assert!(lab.state_entries().is_empty(), "{:?}", lab.state_entries());
}

/// The single-ID fallback: one line that says why and how to fix it, and
/// the container runs.
#[test]
fn without_helpers_or_range_one_notice_and_it_runs() {
    let test = "mini-docker rootless fallback";
    let Some(lab) = Lab::new(test, As::Rootless, &BINARIES) else { return };
    if lab.host_uid != NOBODY {
        skip(test, "runs as uid 65534: run the tests as root");
        return;
    }
    // No newuidmap on the PATH.
    let mut cmd = lab.command(&lab.run_args(&["--rm"], &["cat", "/proc/self/uid_map"]));
    cmd.env("PATH", "/nonexistent");
    let ran = lab.spawn_command(cmd).finish();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(squeezed(&ran.stdout), [format!("0 {NOBODY} 1")]);
    assert_eq!(
        ran.stderr,
        "mini-docker: notice: only your own ID is mapped in the container (root inside, no \
         other user): newuidmap and newgidmap not found (install the uidmap package)\n"
    );

    // A user /etc/subuid does not name (65533 has no passwd entry either):
    // the lab's directories handed to it.
    let other = 65_533;
    for dir in [lab.state(), lab.dir.join("data")] {
        std::os::unix::fs::chown(&dir, Some(other), Some(other)).expect("chown");
    }
    let mut cmd = lab.command(&lab.run_args(&["--rm"], &["cat", "/proc/self/uid_map"]));
    std::os::unix::process::CommandExt::uid(&mut cmd, other);
    std::os::unix::process::CommandExt::gid(&mut cmd, other);
    let ran = lab.spawn_command(cmd).finish();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(squeezed(&ran.stdout), [format!("0 {other} 1")]);
    assert_eq!(
        ran.stderr,
        "mini-docker: notice: only your own ID is mapped in the container (root inside, no \
         other user): no range for user uid 65533 in /etc/subuid (add a line such as \
         \"65533:100000:65536\" to /etc/subuid and /etc/subgid, see subuid(5))\n"
    );
}
