//! Images from the real tools, loaded and run by mini-docker: `podman
//! save` (docker-archive and OCI archive), `skopeo copy` (an OCI layout,
//! a zstd-compressed OCI archive), `docker save` of an imported image and
//! of a five-layer image `docker build` made from it (a whiteout, a
//! replaced directory); then hand-made hostile archives, interrupted loads
//! and `rmi` of an image in use.
//!
//! Every archive is built offline here: a busybox root file system
//! tarball (tests/src/clients.rs) imported with `--change` for ENV,
//! WORKDIR, USER, ENTRYPOINT and CMD. podman and skopeo run isolated (their
//! own storage under the test's directory, vfs, cgroupfs, in a throwaway
//! network and mount namespace: [`Sandbox`]); Docker images get a tag
//! unique to the test and are removed by that tag at the end.
//!
//! The archives are made as root; mini-docker then loads them as root and
//! rootless (uid 65534), each in a lab of its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nslab_tests::As;
use nslab_tests::clients::{self, LIMIT, Ran, Sandbox, Scratch};
use nslab_tests::mini_docker::{Lab, chmod};
use sha2::Digest;

const BINARIES: [&str; 2] = [env!("CARGO_BIN_EXE_mini-docker"), env!("CARGO_BIN_EXE_probe")];

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A name no other test (or test run) uses at the same time.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), UNIQUE.fetch_add(1, Ordering::Relaxed))
}

/// What the `--change`s set, as the default command prints it: the
/// entrypoint is `sh -c`, the command prints the image's env, workdir and
/// user.
const CHANGES: [&str; 5] = [
    r#"ENV GREETING="hello from the image""#,
    "WORKDIR /work",
    "USER 1000",
    r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
    r#"CMD ["echo $GREETING; pwd; id -u"]"#,
];

/// The default command's output: as root the image's USER; rootless a
/// container maps one ID only, so the test runs it as `-u 0`.
fn expected(who: As) -> &'static str {
    match who {
        As::Root => "hello from the image\n/work\n1000\n",
        _ => "hello from the image\n/work\n0\n",
    }
}

fn default_run(lab: &Lab, who: As, image: &str) -> Ran {
    match who {
        As::Root => lab.run(&["run", "--rm", image]),
        _ => lab.run(&["run", "--rm", "-u", "0", image]),
    }
}

/// The lab's store: its layers and configs, and any staging leftover.
fn stored(lab: &Lab) -> Vec<String> {
    let mut names = Vec::new();
    for dir in ["layers", "configs", ".staging"] {
        let Ok(entries) = std::fs::read_dir(lab.dir.join("data/images").join(dir)) else {
            continue;
        };
        names.extend(
            entries.map(|e| format!("{dir}/{}", e.expect("e").file_name().to_string_lossy())),
        );
    }
    names.sort();
    names
}

fn layers(lab: &Lab) -> usize {
    stored(lab).iter().filter(|n| n.starts_with("layers/")).count()
}

/// Makes everything under `dir` readable by uid 65534 (a rootless lab
/// loads these files).
fn world_readable(dir: &Path) {
    chmod(dir, 0o755);
    for entry in std::fs::read_dir(dir).expect("ls").map(|e| e.expect("entry")) {
        let meta = entry.metadata().expect("meta");
        if meta.is_dir() {
            world_readable(&entry.path());
        } else if meta.is_file() {
            chmod(&entry.path(), 0o644);
        }
    }
}

/// podman and skopeo in a world of their own (see the module's doc).
struct Podman {
    sandbox: Sandbox,
    scratch: Scratch,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        clients::require(test, &["podman", "skopeo"])?;
        Some(Podman { sandbox: Sandbox::new(), scratch: Scratch::new("mini-docker-images-podman") })
    }

    fn path(&self, name: &str) -> String {
        self.scratch.dir.join(name).display().to_string()
    }

    fn run(&self, program: &str, args: &[String]) -> Ran {
        let mut cmd = Command::new(program);
        cmd.args(args);
        let tmp = self.scratch.dir.join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        cmd.env("TMPDIR", tmp).env_remove("XDG_RUNTIME_DIR").current_dir("/");
        self.sandbox.enter(&mut cmd);
        clients::run_in(&self.scratch.dir, cmd, LIMIT)
    }

    fn podman(&self, args: &[&str]) -> Ran {
        let mut argv: Vec<String> = Vec::new();
        for (flag, value) in [
            ("--root", self.path("storage")),
            ("--runroot", self.path("run")),
            ("--tmpdir", self.path("tmp")),
            ("--storage-driver", "vfs".into()),
            ("--cgroup-manager", "cgroupfs".into()),
            ("--events-backend", "file".into()),
        ] {
            argv.push(flag.into());
            argv.push(value);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        self.run("podman", &argv)
    }

    /// `skopeo copy [--dest-compress-format F] containers-storage:IMAGE DEST`,
    /// from this podman's storage.
    fn skopeo_copy(&self, image: &str, dest: &str, zstd: bool) -> Ran {
        let source = format!(
            "containers-storage:[vfs@{}+{}]{image}",
            self.path("storage"),
            self.path("run")
        );
        let mut argv: Vec<String> = vec!["copy".into()];
        if zstd {
            argv.extend(["--dest-compress-format".into(), "zstd".into()]);
        }
        argv.extend([source, dest.to_owned()]);
        self.run("skopeo", &argv)
    }
}

fn ok(ran: &Ran, what: &str) {
    assert_eq!(ran.code, 0, "{what}: {ran:?}");
}

/// podman's archives, each loaded into an empty store, run, removed.
fn podman_archives(who: As) {
    let test = "mini-docker load (podman, skopeo)";
    let Some(podman) = Podman::new(test) else { return };
    let Some(lab) = Lab::new(test, who, &BINARIES) else { return };
    let files = podman.scratch.dir.join("files");
    std::fs::create_dir_all(&files).expect("files");
    let tarball = files.join("rootfs.tar");
    clients::busybox_tarball(&tarball);
    let image = format!("localhost/{}:1", unique("nslab-load"));
    let mut import: Vec<&str> = vec!["import"];
    for change in &CHANGES {
        import.extend(["--change", change]);
    }
    import.extend([tarball.to_str().expect("path"), &image]);
    ok(&podman.podman(&import), "podman import");
    let file = |name: &str| files.join(name).display().to_string();
    ok(&podman.podman(&["save", "-o", &file("docker.tar"), &image]), "podman save");
    ok(
        &podman.podman(&["save", "--format", "oci-archive", "-o", &file("oci.tar"), &image]),
        "podman save --format oci-archive",
    );
    let layout = format!("oci:{}:1", file("layout"));
    ok(&podman.skopeo_copy(&image, &layout, false), "skopeo copy oci:");
    let zstd = format!("oci-archive:{}:{image}", file("zstd.tar"));
    ok(&podman.skopeo_copy(&image, &zstd, true), "skopeo copy --dest-compress-format zstd");
    world_readable(&files);
    // skopeo wrote the layer zstd-compressed, as asked.
    let member = |name: &str| tar_member(&files.join("zstd.tar"), name);
    let index: serde_json::Value = serde_json::from_slice(&member("index.json")).expect("index");
    let digest = index["manifests"][0]["digest"].as_str().expect("digest").replace(':', "/");
    let manifest: serde_json::Value =
        serde_json::from_slice(&member(&format!("blobs/{digest}"))).expect("manifest");
    let media = manifest["layers"][0]["mediaType"].as_str().expect("media type");
    assert_eq!(media, "application/vnd.oci.image.layer.v1.tar+zstd");

    for (name, how) in [
        ("docker.tar", "-i"),
        ("oci.tar", "-i"),
        ("layout", "-i"),
        ("zstd.tar", "-i"),
        ("docker.tar", "pipe"),
    ] {
        let what = format!("{name} by {how}");
        let ran = match how {
            "pipe" => load_from_pipe(&lab, &std::fs::read(file(name)).expect("archive")),
            _ => lab.run(&["load", "-i", &file(name)]),
        };
        assert_eq!(ran.code, 0, "{what}: {}", ran.stderr);
        // skopeo's `oci:DIR:1` names a tag, no repository: loaded untagged.
        let reference = if name == "layout" {
            let id = ran.stdout.trim().strip_prefix("Loaded image ID: sha256:");
            id.unwrap_or_else(|| panic!("{what}: {}", ran.stdout))[..12].to_owned()
        } else {
            assert_eq!(ran.stdout, format!("Loaded image: {image}\n"), "{what}");
            image.clone()
        };
        assert_eq!(layers(&lab), 1, "{what}: {:?}", stored(&lab));
        let ran = default_run(&lab, who, &reference);
        assert_eq!((ran.code, ran.stdout.as_str()), (0, expected(who)), "{what}: {}", ran.stderr);
        // Arguments replace CMD and keep the ENTRYPOINT.
        let ran = lab.run(&["run", "--rm", "-u", "0", &reference, "echo $GREETING again"]);
        assert_eq!(ran.stdout, "hello from the image again\n", "{what}: {}", ran.stderr);
        let ran = lab.run(&["rmi", &reference]);
        assert_eq!(ran.code, 0, "{what}: {}", ran.stderr);
        assert!(stored(&lab).is_empty(), "{what} left {:?}", stored(&lab));
    }
}

/// The member `name` of the tar file `path`.
fn tar_member(path: &Path, name: &str) -> Vec<u8> {
    use std::io::Read;
    let mut archive = tar::Archive::new(std::fs::File::open(path).expect("archive"));
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path") == Path::new(name) {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            return bytes;
        }
    }
    panic!("{name} not in {path:?}");
}

/// `cat ARCHIVE | mini-docker load`: the archive on a pipe, not a file.
fn load_from_pipe(lab: &Lab, archive: &[u8]) -> Ran {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
    let mut cmd = lab.command(&["load"]);
    cmd.stdin(std::process::Stdio::from(read));
    let running = lab.spawn_command(cmd);
    let bytes = archive.to_vec();
    let writer = std::thread::spawn(move || {
        let mut pipe = std::fs::File::from(write);
        let _ = pipe.write_all(&bytes);
    });
    let ran = running.finish();
    writer.join().expect("writer");
    ran
}

#[test]
fn podman_archives_as_root() {
    podman_archives(As::Root);
}

#[test]
fn podman_archives_rootless() {
    podman_archives(As::Rootless);
}

/// Docker images this test made, removed by their exact tags at the end.
struct DockerTags(Vec<String>);

impl Drop for DockerTags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = Command::new("docker").args(["rmi", tag]).output();
        }
    }
}

fn docker(dir: &Path, args: &[&str]) -> Ran {
    let mut cmd = Command::new("docker");
    cmd.args(args).env("DOCKER_BUILDKIT", "0");
    clients::run_in(dir, cmd, Duration::from_secs(120))
}

/// The Dockerfile of a many-layer image (the base's USER is 1000: the
/// steps run as root): the imported base, then a layer
/// that adds files, one that deletes one (a whiteout), one that replaces
/// a directory (an opaque directory, or a whiteout per old file,
/// depending on Docker's storage driver), one more file.
const DOCKERFILE: &str = "FROM BASE
USER 0
RUN mkdir -p /d && echo a > /d/a && echo old > /etc/old
RUN rm /etc/old
RUN rm -rf /d && mkdir /d && echo b > /d/b
RUN echo five > /five
";

/// `docker save` of an imported image and of one built from it, in one
/// archive: both tags load, the shared layer is stored once, each image
/// runs with what its layers say, and `rmi` keeps a layer while another
/// image lists it.
fn docker_archives(who: As) {
    let test = "mini-docker load (docker save)";
    if clients::require(test, &["docker"]).is_none() {
        return;
    }
    let Some(lab) = Lab::new(test, who, &BINARIES) else { return };
    let scratch = Scratch::new("mini-docker-images-docker");
    let dir = &scratch.dir;
    let (base, built) = (format!("{}:1", unique("nslab-load-base")), unique("nslab-load-built"));
    let built = format!("{built}:1");
    let _tags = DockerTags(vec![built.clone(), base.clone()]);
    let tarball = dir.join("rootfs.tar");
    clients::busybox_tarball(&tarball);
    let mut import: Vec<&str> = vec!["import"];
    for change in &CHANGES {
        import.extend(["--change", change]);
    }
    import.extend([tarball.to_str().expect("path"), &base]);
    ok(&docker(dir, &import), "docker import");
    let context = dir.join("context");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(context.join("Dockerfile"), DOCKERFILE.replace("BASE", &base)).expect("write");
    let context = context.display().to_string();
    ok(&docker(dir, &["build", "-q", "--network", "none", "-t", &built, &context]), "docker build");
    let archive = dir.join("saved.tar").display().to_string();
    ok(&docker(dir, &["save", "-o", &archive, &base, &built]), "docker save");
    world_readable(dir);

    let ran = lab.run(&["load", "-i", &archive]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let mut loaded: Vec<&str> = ran.stdout.lines().collect();
    loaded.sort();
    let mut want = [format!("Loaded image: {base}"), format!("Loaded image: {built}")];
    want.sort();
    assert_eq!(loaded, want);
    // The built image's layers (the base's, one with the WORKDIR the
    // builder made, one per RUN), the base's stored once for both images.
    let count = docker(dir, &["image", "inspect", "-f", "{{len .RootFS.Layers}}", &built]).stdout;
    let count: usize = count.trim().parse().expect("a layer count");
    assert!(count >= 5, "{count} layers");
    assert_eq!(layers(&lab), count, "{:?}", stored(&lab));
    // The IDs Docker gives the same images.
    let images = lab.run(&["images"]).stdout;
    for tag in [&base, &built] {
        let id = docker(dir, &["image", "inspect", "-f", "{{.Id}}", tag]).stdout;
        let short = &id.trim().strip_prefix("sha256:").expect("an ID")[..12];
        let (repository, version) = tag.split_once(':').expect("a tag");
        let row = images.lines().find(|l| l.starts_with(repository)).expect(tag);
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..3], [repository, version, short], "{images}");
    }
    // The built image: the whiteout hides /etc/old, the replaced /d holds
    // only b, and the base's defaults still apply.
    let script = "ls /etc/old 2>&1; ls /d; cat /five; pwd; echo $GREETING";
    let ran = lab.run(&["run", "--rm", "-u", "0", &built, script]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(
        ran.stdout,
        "ls: /etc/old: No such file or directory\nb\nfive\n/work\nhello from the image\n"
    );
    let ran = default_run(&lab, who, &base);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, expected(who)), "{}", ran.stderr);
    if who == As::Root {
        // --userns auto: each layer is an idmapped lower, so the
        // container's root owns what every layer brought.
        let script = "ls -nd / /bin/busybox /d/b /five";
        let ran = lab.run(&["run", "--rm", "--userns", "auto", "-u", "0", &built, script]);
        let owners: Vec<&str> =
            ran.stdout.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
        assert_eq!(owners, ["0"; 4], "{}{}", ran.stdout, ran.stderr);
    }

    // The built image goes with its own layers; the base's stays.
    let ran = lab.run(&["rmi", &built]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.lines().filter(|l| l.starts_with("Deleted: ")).count(), count);
    assert_eq!(layers(&lab), 1);
    let ran = default_run(&lab, who, &base);
    assert_eq!(ran.stdout, expected(who), "{}", ran.stderr);
    assert_eq!(lab.run(&["rmi", &base]).code, 0);
    assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));

    // import keeps its meaning: this archive is not a root file system.
    let ran = lab.run(&["import", &archive, "nope"]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("use `mini-docker load -i"), "{}", ran.stderr);
    assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));
}

#[test]
fn docker_archives_as_root() {
    docker_archives(As::Root);
}

#[test]
fn docker_archives_rootless() {
    docker_archives(As::Rootless);
}

/// A tar entry for the hand-made archives.
enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    /// A file whose header declares this many bytes, with none after it.
    Declared(&'a str, u64),
}

/// A tar stream, names written raw (so `../x` and `/x` are possible).
fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let (name, data, size): (&str, &[u8], u64) = match entry {
            Entry::File(name, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                (name, data, data.len() as u64)
            }
            Entry::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_link_name(target).expect("link name");
                (name, b"", 0)
            }
            Entry::Declared(name, size) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                (name, b"", *size)
            }
        };
        let raw = &mut header.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(size);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A docker-archive of one image and one layer; the config's diff ID is
/// `claimed`'s digest (the layer's own, unless a test lies).
fn docker_archive(path: &Path, layer: &[u8], claimed: &[u8]) {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", sha256(claimed))] },
    })
    .to_string();
    let config_name = format!("{}.json", sha256(config.as_bytes()));
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["hostile:1"], "Layers": ["l/layer.tar"],
    }])
    .to_string();
    let mut builder = tar::Builder::new(std::fs::File::create(path).expect("archive"));
    for (name, data) in [
        ("l/layer.tar", layer),
        (config_name.as_str(), config.as_bytes()),
        ("manifest.json", manifest.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data).expect("append");
    }
    builder.finish().expect("finish");
}

/// Each hostile archive: one line, exit 1, nothing stored, nothing
/// written outside.
fn hostile_archives(who: As) {
    let Some(lab) = Lab::new("mini-docker load (hostile)", who, &BINARIES) else { return };
    let files = lab.scratch("files");
    let outside = lab.scratch("outside");
    let outside_path = outside.display().to_string();
    let good = tar_bytes(&[Entry::File("hello", b"hello\n")]);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>, &str)> = vec![
        ("corrupt", good.clone(), tar_bytes(&[Entry::File("hello", b"HELLO\n")]), "diff ID"),
        (
            "traversal",
            tar_bytes(&[Entry::File("a/../../evil", b"x")]),
            Vec::new(),
            "'..' component",
        ),
        ("absolute", tar_bytes(&[Entry::File("/evil", b"x")]), Vec::new(), "absolute path"),
        (
            "symlink",
            tar_bytes(&[Entry::Symlink("link", &outside_path), Entry::File("link/evil", b"x")]),
            Vec::new(),
            "goes through the symbolic link link",
        ),
        ("huge", tar_bytes(&[Entry::Declared("big", 1 << 50)]), Vec::new(), "declares"),
    ];
    for (name, layer, claimed, why) in cases {
        let archive = files.join(format!("{name}.tar"));
        let claimed = if claimed.is_empty() { layer.clone() } else { claimed };
        docker_archive(&archive, &layer, &claimed);
        chmod(&archive, 0o644);
        let ran = lab.run(&["load", "-i", archive.to_str().expect("path")]);
        assert_eq!(ran.code, 1, "{name}: {ran:?}");
        assert_eq!(ran.stderr.lines().count(), 1, "{name}: {}", ran.stderr);
        assert!(ran.stderr.starts_with("mini-docker: "), "{name}: {}", ran.stderr);
        assert!(ran.stderr.contains(why), "{name}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{name}: {}", ran.stdout);
        assert!(stored(&lab).is_empty(), "{name} left {:?}", stored(&lab));
        assert_eq!(std::fs::read_dir(&outside).expect("ls").count(), 0, "{name} wrote outside");
    }
    // An OCI layout whose descriptor declares more than its blob holds.
    let layout = files.join("layout");
    std::fs::create_dir_all(layout.join("blobs/sha256")).expect("mkdir");
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("w");
    let manifest = br#"{"schemaVersion":2,"layers":[]}"#;
    std::fs::write(layout.join("blobs/sha256").join(sha256(manifest)), manifest).expect("w");
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", sha256(manifest)), "size": 1u64 << 50 }] });
    std::fs::write(layout.join("index.json"), index.to_string()).expect("w");
    world_readable(&files);
    let ran = lab.run(&["load", "-i", layout.to_str().expect("path")]);
    assert_eq!(ran.code, 1, "{ran:?}");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(ran.stderr.contains("declares 1125899906842624 bytes"), "{}", ran.stderr);
    assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));
}

#[test]
fn hostile_archives_as_root() {
    hostile_archives(As::Root);
}

#[test]
fn hostile_archives_rootless() {
    hostile_archives(As::Rootless);
}

/// A load stopped halfway: SIGTERM leaves nothing; SIGKILL leaves its
/// staging directory, which the next command removes.
fn interrupted_load(who: As) {
    let Some(lab) = Lab::new("mini-docker load (interrupted)", who, &BINARIES) else { return };
    let staging = lab.dir.join("data/images/.staging");
    for signal in [nix::sys::signal::Signal::SIGTERM, nix::sys::signal::Signal::SIGKILL] {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
        let mut cmd = lab.command(&["load"]);
        cmd.stdin(std::process::Stdio::from(read));
        let running = lab.spawn_command(cmd);
        // Half an archive, and the pipe kept open: the load waits for more.
        let mut pipe = std::fs::File::from(write);
        pipe.write_all(&vec![0x41; 1 << 20]).expect("write");
        let start = Instant::now();
        let spooled = || {
            let Ok(mut dirs) = std::fs::read_dir(&staging) else { return false };
            dirs.any(|d| {
                let archive = d.expect("entry").path().join("archive.tar");
                archive.metadata().is_ok_and(|m| m.len() > 0)
            })
        };
        while !spooled() {
            assert!(start.elapsed() < LIMIT, "{signal}: the load never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        nix::sys::signal::kill(running.pid(), signal).expect("kill");
        let ran = running.finish();
        drop(pipe);
        if signal == nix::sys::signal::Signal::SIGTERM {
            assert_eq!(ran.code, 1, "{ran:?}");
            assert_eq!(ran.stderr, "mini-docker: interrupted by SIGTERM: nothing was stored\n");
            assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));
        } else {
            assert_eq!(ran.code, -1, "{ran:?}");
            assert_eq!(stored(&lab).len(), 1, "{:?}", stored(&lab));
            // The next command finds it unlocked, and removes it.
            assert_eq!(lab.run(&["images", "-q"]).code, 0);
            assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));
        }
    }
}

#[test]
fn interrupted_load_as_root() {
    interrupted_load(As::Root);
}

#[test]
fn interrupted_load_rootless() {
    interrupted_load(As::Rootless);
}

/// `rmi` of an image a kept container uses: refused; with -f untagged
/// and kept until the container goes; `import -` reads standard input.
fn rmi_in_use(who: As) {
    let Some(lab) = Lab::new("mini-docker rmi (in use)", who, &BINARIES) else { return };
    let files = lab.scratch("files");
    let tarball: PathBuf = files.join("rootfs.tar");
    clients::busybox_tarball(&tarball);
    chmod(&tarball, 0o644);
    let mut cmd = lab.command(&["import", "-", "bb"]);
    cmd.stdin(std::fs::File::open(&tarball).expect("tarball"));
    let ran = lab.spawn_command(cmd).finish();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stdout.trim().strip_prefix("sha256:").expect("an ID")[..12].to_owned();
    let ran = lab.run(&["run", "--name", "user", "bb", "/bin/sh", "-c", "true"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let ran = lab.run(&["rmi", "bb"]);
    assert_eq!(ran.code, 1);
    assert_eq!(
        ran.stderr,
        "mini-docker: image \"bb\" is used by container(s) user (exited): remove them first, or use rmi -f\n"
    );
    let ran = lab.run(&["rmi", "-f", "bb"]);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "Untagged: bb:latest\n"), "{}", ran.stderr);
    let images = lab.run(&["images"]).stdout;
    assert!(images.lines().any(|l| l.starts_with("<none>") && l.contains(&id)), "{images}");
    assert_eq!(layers(&lab), 1);
    assert_eq!(lab.run(&["rm", "user"]).code, 0);
    let ran = lab.run(&["rmi", &id]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(stored(&lab).is_empty(), "{:?}", stored(&lab));
    assert_eq!(lab.run(&["images", "-q"]).stdout, "");
}

#[test]
fn rmi_in_use_as_root() {
    rmi_in_use(As::Root);
}

#[test]
fn rmi_in_use_rootless() {
    rmi_in_use(As::Rootless);
}
