//! # ipc-demo: IPC namespaces
//!
//! The article (section 二.5) says an IPC namespace gives a container its own
//! semaphores, message queues and shared memory, and that the host can reach
//! every container's IPC objects; section 四 adds that memory shared through
//! `/dev/shm` is a risk. An IPC namespace holds the System V objects (keys and
//! IDs of `shmget`, `semget`, `msgget`) and the POSIX message queues. It does
//! not hold POSIX shared memory: that is a file in the tmpfs on `/dev/shm`,
//! which belongs to the mount namespace. The experiments show each of these
//! from both sides, and what the host must do to see inside (`setns`).
//!
//! Read: man 7 ipc_namespaces, man 7 sysvipc, man 7 shm_overview,
//! man 7 mq_overview, man 5 proc (`/proc/sysvipc`), man 2 shmget, man 2 semget,
//! man 2 msgget, man 2 setns.
//!
//! Run: `cargo run -p ipc-demo` (as root or not), `--list`, `--only NAME`,
//! `--control` (the same steps without the namespace under test), `--hold`, `--json`.
//!
//! Safety: every experiment first moves its own process into a scratch IPC
//! namespace and a private mount namespace with a tmpfs of its own on
//! `/dev/shm`, and plays "the host" from there (`scratch_host`). So every
//! object the demo creates lives in a namespace the demo made, and the kernel
//! destroys it when the demo's processes end, even if they are killed: the
//! machine's real IPC objects, `/dev/shm` and mount table are never touched,
//! not even by a `--control` run. Each object is still removed explicitly
//! (`IPC_RMID`, `mq_unlink`, `shm_unlink`) when its owner goes out of scope,
//! as a program sharing the machine must.

use std::fs::{self, File};
use std::io::{Read, Write};

use anyhow::{Context, Result};
use lab::{Experiment, Facts, Lab, Observed, Verdict, clone_child, fork_child, ns, ok_or_errno};
use libc::{IPC_CREAT, IPC_EXCL, c_int, key_t};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::mqueue::{MQ_OFlag, MqAttr, MqdT, mq_close, mq_open, mq_unlink};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;
use nix::unistd::getpid;

const EXPERIMENTS: &[Experiment] = &[
    Experiment {
        name: "host-objects-absent-inside",
        title: "System V shared memory, semaphores and message queues of the host are absent inside",
        claims: &["IPC-1"],
        isolation: true,
        explanation: "The host side created a shared memory segment, a semaphore set and a \
            message queue under the key 0x6e736c62. The child, cloned with CLONE_NEWIPC, finds \
            none of them: shmget(), semget() and msgget() of that key fail with ENOENT, and \
            /proc/sysvipc lists nothing. It read the very same procfs as the host (no remount): \
            /proc/sysvipc shows the IPC namespace of the process that opens it, not of the \
            procfs mount. Keys and IDs are names inside one IPC namespace (ipc_namespaces(7), \
            sysvipc(7)).",
        run: host_objects_absent_inside,
    },
    Experiment {
        name: "same-key-both-sides",
        title: "The same System V key names different objects on the two sides, at the same time",
        claims: &["IPC-1"],
        isolation: true,
        explanation: "Inside, shmget(), semget() and msgget() with IPC_CREAT|IPC_EXCL and the \
            host's key all succeeded: no object of that key exists there, so no EEXIST. While \
            both sets are alive each side lists only its own (sizes and counts differ); the host \
            never sees the namespace's objects. Even the IDs may be equal, since each namespace \
            numbers its objects from zero: two containers can run the same program with the same \
            hard-coded key.",
        run: same_key_both_sides,
    },
    Experiment {
        name: "host-needs-setns",
        title: "The host sees a namespace's System V objects only after setns() into it",
        claims: &["IPC-4", "MECH-3"],
        isolation: true,
        explanation: "The article says the host can access every container's IPC resources. Not \
            from where it stands: from its own IPC namespace the host finds no segment with the \
            key the container used (ENOENT) and its /proc/sysvipc/shm is empty. A process of the \
            host that joins the container's namespace with setns(CLONE_NEWIPC), as nsenter -i and \
            docker exec do, then lists the segment in the same /proc file and reads what the \
            container wrote. Root on the host can always do that, which is the article's real \
            point; but it must enter first.",
        run: host_needs_setns,
    },
    Experiment {
        name: "posix-mqueue-per-namespace",
        title: "A POSIX message queue of the host is absent from a fresh mqueue mount inside",
        claims: &["IPC-2"],
        isolation: true,
        explanation: "POSIX message queues belong to the IPC namespace too (mq_overview(7)). The \
            host side's queue /nslab-ipc-demo is absent inside: mq_open() fails with ENOENT and a \
            fresh mount of the mqueue filesystem lists nothing. Note the trap: the mqueue mount \
            the child inherited still listed the host's queue, because an mqueue mount shows the \
            IPC namespace of whoever mounted it. mq_open() never uses a mount; it always goes to \
            the caller's own namespace.",
        run: posix_mqueue_per_namespace,
    },
    Experiment {
        name: "dev-shm-crosses-ipc-ns",
        title: "A new IPC namespace hides the host's System V segment but not its /dev/shm object",
        claims: &["IPC-3", "SEC-2"],
        isolation: true,
        explanation: "The child is in a new IPC namespace but the same mount namespace. It cannot \
            find the host's System V segment (ENOENT), yet shm_open() of the host's POSIX \
            shared memory object succeeds and reads the host's text. POSIX shared memory is a \
            file in the tmpfs mounted on /dev/shm (shm_overview(7)): the IPC namespace has no say \
            over it, the mount namespace does. The article files /dev/shm under the IPC \
            namespace; that is wrong, and it is why sharing /dev/shm between containers shares \
            memory whatever their IPC namespaces.",
        run: dev_shm_crosses_ipc_ns,
    },
    Experiment {
        name: "private-dev-shm",
        title: "A tmpfs of its own on /dev/shm, in its own mount namespace, stops the sharing",
        claims: &["IPC-3", "SEC-2"],
        isolation: true,
        explanation: "Both processes are in different IPC namespaces throughout; the namespace \
            under test here is the mount namespace. A new mount namespace alone is not enough: \
            it starts with a copy of the host's /dev/shm mount, the same tmpfs, so the child \
            still read the host's object. After mounting a tmpfs of its own on /dev/shm (what a \
            container runtime does for each container) the host's object is gone from its view, \
            and the object it creates under the same name stays invisible to the host. Docker \
            shares one /dev/shm only when asked (--ipc=host, --ipc=container:X for an X started \
            with --ipc=shareable, or a bind of /dev/shm): that, not the IPC namespace, is the \
            attack surface of section 四.",
        run: private_dev_shm,
    },
];

fn main() -> std::process::ExitCode {
    lab::main(&lab::Demo {
        name: "ipc-demo",
        about: "IPC namespaces: System V IPC and POSIX message queues of its own, /dev/shm is the mount's",
        man: "ipc_namespaces",
        experiments: EXPERIMENTS,
        makes_own_user_namespaces: false,
    })
}

// ANCHOR: names
/// The System V key of every object this demo creates: the bytes "nslb".
const KEY: key_t = 0x6e73_6c62;
/// The name of its POSIX message queue and POSIX shared memory object.
const NAME: &str = "/nslab-ipc-demo";
/// Create, and fail with EEXIST if the key is already taken here. Owner read/write only.
const CREATE: c_int = IPC_CREAT | IPC_EXCL | 0o600;
/// Size of the shared memory segments the demo creates.
const SHM_SIZE: usize = 4096;
const HOST_TEXT: &str = "written on the host side";
const INSIDE_TEXT: &str = "written inside the namespace";
// ANCHOR_END: names

// ANCHOR: scratch_host
/// Plays "the host" without touching the machine: moves this experiment's
/// process into a new IPC namespace and a private mount namespace, with a
/// tmpfs of its own on /dev/shm. Whatever it creates from here dies with the
/// demo's processes, even killed ones (man 7 ipc_namespaces: the objects of
/// an IPC namespace are destroyed with it). This is a helper, not the
/// namespace under test: a --control run makes it too.
fn scratch_host() -> Result<Facts> {
    unshare(CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNS)
        .context("unshare(CLONE_NEWIPC|CLONE_NEWNS) for the scratch host side")?;
    // Mounts made below stay in this mount namespace (systemd makes `/` shared).
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .context("mount(MS_REC|MS_PRIVATE) on /")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("nslab-shm"), "/dev/shm", Some("tmpfs"), flags, Some("size=64k,mode=1777"))
        .context("mount tmpfs on /dev/shm")?;
    Ok(Facts::new()
        .with("host_side", "a scratch IPC and mount namespace, not the machine's")
        .with("ipc_ns", ns::link(None, "ipc")?))
}
// ANCHOR_END: scratch_host

// ANCHOR: sysv
/// shmget(2): the ID of the segment with `key`, created if `flags` say so.
fn shmget(key: key_t, size: usize, flags: c_int) -> nix::Result<c_int> {
    // SAFETY: integers in, an ID or -1 out.
    Errno::result(unsafe { libc::shmget(key, size, flags) })
}

/// semget(2): the ID of the semaphore set with `key`.
fn semget(key: key_t, nsems: c_int, flags: c_int) -> nix::Result<c_int> {
    // SAFETY: integers in, an ID or -1 out.
    Errno::result(unsafe { libc::semget(key, nsems, flags) })
}

/// msgget(2): the ID of the message queue with `key`.
fn msgget(key: key_t, flags: c_int) -> nix::Result<c_int> {
    // SAFETY: integers in, an ID or -1 out.
    Errno::result(unsafe { libc::msgget(key, flags) })
}

/// msgsnd(2): queue one message of type 1 without blocking.
fn msgsnd(id: c_int, text: &str) -> nix::Result<()> {
    // The kernel reads a `long` message type, then the text.
    #[repr(C)]
    struct MsgBuf {
        mtype: libc::c_long,
        mtext: [u8; 64],
    }
    let mut msg = MsgBuf { mtype: 1, mtext: [0; 64] };
    let len = text.len().min(msg.mtext.len());
    msg.mtext[..len].copy_from_slice(&text.as_bytes()[..len]);
    // SAFETY: `msg` is a msgbuf whose text holds at least `len` bytes.
    let res = unsafe { libc::msgsnd(id, (&raw const msg).cast(), len, libc::IPC_NOWAIT) };
    Errno::result(res).map(drop)
}

/// shmat(2) the segment `id`, copy `text` to its start, shmdt(2).
fn shmat_write(id: c_int, text: &str) -> Result<()> {
    assert!(text.len() < SHM_SIZE, "the text fits in a segment of this demo");
    // SAFETY: the kernel maps the whole segment, or returns (void *)-1.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    if addr as isize == -1 {
        return Err(Errno::last()).context("shmat");
    }
    // SAFETY: the mapping is SHM_SIZE bytes long (this demo made the segment)
    // and the text is shorter; the segment starts zeroed, so it stays NUL-ended.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), addr.cast::<u8>(), text.len()) };
    // SAFETY: `addr` is the address shmat returned.
    Errno::result(unsafe { libc::shmdt(addr) }).context("shmdt")?;
    Ok(())
}

/// shmat(2) the segment `id` read-only, read the text at its start, shmdt(2).
fn shmat_read(id: c_int) -> Result<String> {
    // SAFETY: as in shmat_write.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), libc::SHM_RDONLY) };
    if addr as isize == -1 {
        return Err(Errno::last()).context("shmat(SHM_RDONLY)");
    }
    // SAFETY: the segment is at least 64 bytes long (this demo made it).
    let bytes = unsafe { std::slice::from_raw_parts(addr.cast::<u8>(), 64) };
    let text = bytes.split(|b| *b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(text).into_owned();
    // SAFETY: `addr` is the address shmat returned; `bytes` is not used after this.
    Errno::result(unsafe { libc::shmdt(addr) }).context("shmdt")?;
    Ok(text)
}

/// A System V object this process created, removed with IPC_RMID (shmctl(2),
/// semctl(2), msgctl(2)) when dropped: at the end, on an early `?` return,
/// on a panic. Like an `OwnedFd`, it only ever holds an ID we were given.
struct OwnedShm(c_int);
struct OwnedSem(c_int);
struct OwnedMsq(c_int);

impl Drop for OwnedShm {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::shmctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

impl Drop for OwnedSem {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID ignores the semaphore number and takes no argument.
        unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
    }
}

impl Drop for OwnedMsq {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::msgctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

/// What /proc/sysvipc/{shm,sem,msg} list for the process that reads them,
/// one fact per file: each object's key (in hex), ID, and its size, number
/// of semaphores or number of queued messages.
fn sysvipc() -> Result<Facts> {
    let mut facts = Facts::new();
    for (kind, id, detail) in
        [("shm", "shmid", "size"), ("sem", "semid", "nsems"), ("msg", "msqid", "qnum")]
    {
        let path = format!("/proc/sysvipc/{kind}");
        let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let mut rows = text.lines().map(|line| line.split_whitespace().collect::<Vec<_>>());
        let header = rows.next().unwrap_or_default();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .with_context(|| format!("{path}: no {name} column"))
        };
        let (id_at, detail_at) = (column(id)?, column(detail)?);
        let objects: Vec<String> = rows
            .filter(|row| row.len() > id_at.max(detail_at))
            .map(|row| {
                // The kernel prints the key as a signed decimal number.
                let key =
                    row[0].parse::<i32>().map_or(row[0].to_owned(), |k| format!("{:#x}", k as u32));
                format!("key {key} {id} {} {detail} {}", row[id_at], row[detail_at])
            })
            .collect();
        facts.set(&path, if objects.is_empty() { "nothing".into() } else { objects.join("; ") });
    }
    Ok(facts)
}
// ANCHOR_END: sysv

// ANCHOR: posix
/// A POSIX message queue this process created: closed and removed with
/// mq_unlink(3) when dropped.
struct OwnedMq(Option<MqdT>);

impl Drop for OwnedMq {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            let _ = mq_close(queue);
        }
        let _ = mq_unlink(NAME);
    }
}

/// A POSIX shared memory object this process created: removed with
/// shm_unlink(3) when dropped.
struct OwnedShmObject;

impl Drop for OwnedShmObject {
    fn drop(&mut self) {
        let _ = shm_unlink(NAME);
    }
}

/// shm_open(3) with O_CREAT|O_EXCL, then write `text` into the new object.
/// Programs usually mmap(2) it; the bytes are the same, because on Linux the
/// object is the file /dev/shm/nslab-ipc-demo in a tmpfs (shm_overview(7)).
fn shm_create(text: &str) -> Result<OwnedShmObject> {
    let flags = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR;
    let fd = shm_open(NAME, flags, Mode::S_IRUSR | Mode::S_IWUSR)
        .context("shm_open(NAME, O_CREAT|O_EXCL|O_RDWR)")?;
    let owned = OwnedShmObject; // from here on, removed on every path
    File::from(fd).write_all(text.as_bytes()).context("write to the shared memory object")?;
    Ok(owned)
}

/// shm_open(3) the object read-only and read it: its text, or the errno.
fn shm_read() -> String {
    let fd = match shm_open(NAME, OFlag::O_RDONLY, Mode::empty()) {
        Ok(fd) => fd,
        Err(errno) => return format!("{errno:?}"),
    };
    let mut text = String::new();
    match File::from(fd).read_to_string(&mut text) {
        Ok(_) => text,
        Err(e) => e.to_string(),
    }
}

/// The names in a directory (a tmpfs or an mqueue mount), sorted, or "nothing".
fn listing(dir: &str) -> Result<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .with_context(|| format!("listing {dir}"))?
        .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(if names.is_empty() { "nothing".into() } else { names.join(" ") })
}
// ANCHOR_END: posix

// ANCHOR: host_objects_absent_inside
fn host_objects_absent_inside(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    // One object of each System V kind, on the host side, under our key.
    // Each is removed (IPC_RMID) when its owner goes out of scope, on every path.
    let _shm =
        OwnedShm(shmget(KEY, SHM_SIZE, CREATE).context("shmget(KEY, 4096, IPC_CREAT|IPC_EXCL)")?);
    let _sem = OwnedSem(semget(KEY, 1, CREATE).context("semget(KEY, 1, IPC_CREAT|IPC_EXCL)")?);
    let msq = OwnedMsq(msgget(KEY, CREATE).context("msgget(KEY, IPC_CREAT|IPC_EXCL)")?);
    msgsnd(msq.0, HOST_TEXT).context("msgsnd")?;
    host.extend(sysvipc()?);

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWIPC), |chan| {
        // Look the key up (size 0, no IPC_CREAT: find, never create) ...
        let mut inside = Facts::new()
            .with("ipc_ns", ns::link(None, "ipc")?)
            .with("shmget(KEY, 0, 0)", ok_or_errno(&shmget(KEY, 0, 0)))
            .with("semget(KEY, 0, 0)", ok_or_errno(&semget(KEY, 0, 0)))
            .with("msgget(KEY, 0)", ok_or_errno(&msgget(KEY, 0)));
        // ... and read the host's own /proc: this process did not remount it.
        inside.extend(sysvipc()?);
        chan.send(&inside)?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-i ipcs"),
            format!("{}   # the demo's host side", lab.nsenter(getpid(), "-i ipcs")),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.get("ipc_ns") != host.get("ipc_ns")
            && ["shmget(KEY, 0, 0)", "semget(KEY, 0, 0)", "msgget(KEY, 0)"]
                .iter()
                .all(|call| inside.text(call) == Some("ENOENT"))
            && ["shm", "sem", "msg"]
                .iter()
                .all(|kind| inside.text(&format!("/proc/sysvipc/{kind}")) == Some("nothing")),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: host_objects_absent_inside

// ANCHOR: same_key_both_sides
fn same_key_both_sides(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    let _shm =
        OwnedShm(shmget(KEY, SHM_SIZE, CREATE).context("shmget(KEY, 4096, IPC_CREAT|IPC_EXCL)")?);
    let _sem = OwnedSem(semget(KEY, 1, CREATE).context("semget(KEY, 1, IPC_CREAT|IPC_EXCL)")?);
    let msq = OwnedMsq(msgget(KEY, CREATE).context("msgget(KEY, IPC_CREAT|IPC_EXCL)")?);
    msgsnd(msq.0, HOST_TEXT).context("msgsnd")?;

    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWIPC), |chan| {
        // The host's key again, with IPC_EXCL: EEXIST if that key is taken here.
        // Different sizes, so the listings show whose object is whose.
        let shm = shmget(KEY, 2 * SHM_SIZE, CREATE).map(OwnedShm);
        let sem = semget(KEY, 2, CREATE).map(OwnedSem);
        let msq = msgget(KEY, CREATE).map(OwnedMsq);
        let mut inside = Facts::new()
            .with("ipc_ns", ns::link(None, "ipc")?)
            .with("shmget(KEY, 8192, IPC_CREAT|IPC_EXCL)", ok_or_errno(&shm))
            .with("semget(KEY, 2, IPC_CREAT|IPC_EXCL)", ok_or_errno(&sem))
            .with("msgget(KEY, IPC_CREAT|IPC_EXCL)", ok_or_errno(&msq));
        inside.extend(sysvipc()?);
        chan.send(&inside)?;
        chan.wait_go() // our objects stay while the host looks; dropped (IPC_RMID) after
    })?;
    let inside: Facts = child.chan.recv()?;
    host.extend(sysvipc()?); // both sets exist right now
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-i ipcs"),
            format!("{}   # the demo's host side", lab.nsenter(getpid(), "-i ipcs")),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let created_inside = [
        "shmget(KEY, 8192, IPC_CREAT|IPC_EXCL)",
        "semget(KEY, 2, IPC_CREAT|IPC_EXCL)",
        "msgget(KEY, IPC_CREAT|IPC_EXCL)",
    ]
    .iter()
    .all(|call| inside.text(call) == Some("ok"));
    let only = |facts: &Facts, kind: &str, what: &str| {
        facts
            .text(&format!("/proc/sysvipc/{kind}"))
            .is_some_and(|l| l.ends_with(what) && !l.contains(';'))
    };
    let verdict = Verdict::check(
        created_inside
            && only(&host, "shm", "size 4096")
            && only(&host, "sem", "nsems 1")
            && only(&host, "msg", "qnum 1")
            && only(&inside, "shm", "size 8192")
            && only(&inside, "sem", "nsems 2")
            && only(&inside, "msg", "qnum 0"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: same_key_both_sides

// ANCHOR: host_needs_setns
fn host_needs_setns(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    let mut container = clone_child(lab.isolate(CloneFlags::CLONE_NEWIPC), |chan| {
        let shm = OwnedShm(
            shmget(KEY, SHM_SIZE, CREATE).context("shmget(KEY, 4096, IPC_CREAT|IPC_EXCL)")?,
        );
        shmat_write(shm.0, INSIDE_TEXT)?;
        chan.send(&ns::link(None, "ipc")?)?;
        chan.wait_go() // keep the namespace and its segment alive while the host looks
    })?;
    let container_ipc: String = container.chan.recv()?;

    // The host looks from its own IPC namespace ...
    host.set("shmget(KEY, 0, 0)", ok_or_errno(&shmget(KEY, 0, 0)));
    host.set("/proc/sysvipc/shm", sysvipc()?.get("/proc/sysvipc/shm"));
    // ... then a process of the host's joins the container's, as nsenter -i does.
    let target = format!("/proc/{}/ns/ipc", container.pid);
    let mut joiner = fork_child(|chan| {
        let file = File::open(&target).with_context(|| format!("open {target}"))?;
        setns(&file, CloneFlags::CLONE_NEWIPC).context("setns(CLONE_NEWIPC)")?;
        let id = shmget(KEY, 0, 0);
        let read = match id {
            Ok(id) => shmat_read(id)?,
            Err(errno) => format!("{errno:?}"),
        };
        chan.send(
            &Facts::new()
                .with("joiner_ipc_ns", ns::link(None, "ipc")?)
                .with("joiner_shmget(KEY, 0, 0)", ok_or_errno(&id))
                .with("joiner_reads_/proc/sysvipc/shm", sysvipc()?.get("/proc/sysvipc/shm"))
                .with("joiner_shmat_reads", read),
        )
    })?;
    let joined: Facts = joiner.chan.recv()?;
    joiner.wait_success()?;
    lab.hold(
        container.pid,
        &[
            lab.nsenter(container.pid, "-i ipcs -m"),
            format!("{}   # the demo's host side", lab.nsenter(getpid(), "-i ipcs -m")),
        ],
    );
    container.chan.go()?;
    container.wait_success()?;

    host.set("setns_target", &target);
    let mut inside = Facts::new().with("container_ipc_ns", &container_ipc);
    inside.extend(joined);
    let verdict = Verdict::check(
        host.text("shmget(KEY, 0, 0)") == Some("ENOENT")
            && host.text("/proc/sysvipc/shm") == Some("nothing")
            && inside.text("joiner_ipc_ns") == Some(container_ipc.as_str())
            && inside.text("joiner_shmat_reads") == Some(INSIDE_TEXT),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: host_needs_setns

// ANCHOR: posix_mqueue_per_namespace
fn posix_mqueue_per_namespace(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    // A mount point that exists nowhere else (many machines have no
    // /dev/mqueue): a scratch tmpfs on /tmp, in our private mount namespace.
    let dir = "/tmp/mqueue";
    mount(Some("nslab-tmp"), "/tmp", Some("tmpfs"), MsFlags::empty(), Some("size=16k"))
        .context("mount tmpfs on /tmp")?;
    fs::create_dir(dir).with_context(|| format!("mkdir {dir}"))?;
    let mqueue_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some("mqueue"), dir, Some("mqueue"), mqueue_flags, None::<&str>)
        .context("mount mqueue")?;

    let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_WRONLY;
    // Room for 4 messages of 64 bytes. (Pass the attributes: nix 0.32's
    // mq_open drops the mode when they are None, and O_CREAT then fails.)
    let attr = MqAttr::new(0, 4, 64, 0);
    let queue = mq_open(NAME, flags, Mode::S_IRUSR | Mode::S_IWUSR, Some(&attr))
        .context("mq_open(NAME, O_CREAT|O_EXCL)")?;
    let _queue = OwnedMq(Some(queue)); // closed and unlinked on every path
    host.set("mqueue_mount_lists", listing(dir)?);

    // A private mount namespace too, so the child's mqueue mount stays its own.
    let flags = lab.isolate(CloneFlags::CLONE_NEWIPC) | CloneFlags::CLONE_NEWNS;
    let mut child = clone_child(flags, |chan| {
        // The mount we inherited was made by the host side ...
        let inherited = listing(dir)?;
        // ... a fresh one on top shows the IPC namespace of its mounter: ours.
        // (The kernel refuses, EBUSY, to stack the same namespace's mqueue on itself.)
        let remount = mount(Some("mqueue"), dir, Some("mqueue"), mqueue_flags, None::<&str>);
        let opened = mq_open(NAME, MQ_OFlag::O_RDONLY, Mode::empty(), None);
        chan.send(
            &Facts::new()
                .with("ipc_ns", ns::link(None, "ipc")?)
                .with("inherited_mount_lists", inherited)
                .with("mount(mqueue)_on_top", ok_or_errno(&remount))
                .with("top_mount_lists", listing(dir)?)
                .with("mq_open(NAME, O_RDONLY)", ok_or_errno(&opened)),
        )?;
        if let Ok(opened) = opened {
            mq_close(opened).context("mq_close")?;
        }
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, &format!("-m ls {dir}")),
            format!("{}   # the demo's host side", lab.nsenter(getpid(), &format!("-m ls {dir}"))),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        host.text("mqueue_mount_lists") == Some("nslab-ipc-demo")
            && inside.text("mount(mqueue)_on_top") == Some("ok")
            && inside.text("top_mount_lists") == Some("nothing")
            && inside.text("mq_open(NAME, O_RDONLY)") == Some("ENOENT"),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: posix_mqueue_per_namespace

// ANCHOR: dev_shm_crosses_ipc_ns
fn dev_shm_crosses_ipc_ns(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    // The same text behind both kinds of shared memory.
    let segment =
        OwnedShm(shmget(KEY, SHM_SIZE, CREATE).context("shmget(KEY, 4096, IPC_CREAT|IPC_EXCL)")?);
    shmat_write(segment.0, HOST_TEXT)?;
    let _object = shm_create(HOST_TEXT)?;
    host.set("mnt_ns", ns::link(None, "mnt")?);
    host.set("dev_shm_lists", listing("/dev/shm")?);

    // A new IPC namespace; the mount namespace, and so /dev/shm, is shared.
    let mut child = clone_child(lab.isolate(CloneFlags::CLONE_NEWIPC), |chan| {
        chan.send(
            &Facts::new()
                .with("ipc_ns", ns::link(None, "ipc")?)
                .with("mnt_ns", ns::link(None, "mnt")?)
                .with("shmget(KEY, 0, 0)", ok_or_errno(&shmget(KEY, 0, 0)))
                .with("shm_open(NAME)", shm_read()),
        )?;
        chan.wait_go()
    })?;
    let inside: Facts = child.chan.recv()?;
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-i ipcs -m"),
            lab.nsenter(child.pid, "-m cat /dev/shm/nslab-ipc-demo"),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.get("ipc_ns") != host.get("ipc_ns")
            && inside.text("shmget(KEY, 0, 0)") == Some("ENOENT")
            && inside.text("shm_open(NAME)") == Some(HOST_TEXT),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: dev_shm_crosses_ipc_ns

// ANCHOR: private_dev_shm
fn private_dev_shm(lab: &Lab) -> Result<Observed> {
    let mut host = scratch_host()?;
    let _object = shm_create(HOST_TEXT)?;

    // Different IPC namespaces in both runs; the mount namespace is under test.
    let flags = CloneFlags::CLONE_NEWIPC | lab.isolate(CloneFlags::CLONE_NEWNS);
    let mut child = clone_child(flags, |chan| {
        // A new mount namespace starts with a copy of the host's mounts:
        // the same tmpfs on /dev/shm.
        let before = shm_read();
        // What a runtime does for each container (runc: "shm" tmpfs, nosuid,
        // nodev, noexec, mode=1777): a tmpfs of its own there.
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("nslab-shm"), "/dev/shm", Some("tmpfs"), flags, Some("size=64k,mode=1777"))
            .context("mount tmpfs on /dev/shm")?;
        let after = shm_read();
        let _mine = shm_create(INSIDE_TEXT)?; // the same name, a different object
        chan.send(
            &Facts::new()
                .with("mnt_ns", ns::link(None, "mnt")?)
                .with("shm_open(NAME)_before_mount", before)
                .with("shm_open(NAME)_after_mount", after)
                .with("shm_open(NAME, O_CREAT|O_EXCL)", "ok"),
        )?;
        chan.wait_go() // keep our object while the host looks
    })?;
    let inside: Facts = child.chan.recv()?;
    host.set("mnt_ns", ns::link(None, "mnt")?);
    host.set("shm_open(NAME)", shm_read()); // while both objects exist
    lab.hold(
        child.pid,
        &[
            lab.nsenter(child.pid, "-m cat /dev/shm/nslab-ipc-demo"),
            format!(
                "{}   # the demo's host side",
                lab.nsenter(getpid(), "-m cat /dev/shm/nslab-ipc-demo")
            ),
        ],
    );
    child.chan.go()?;
    child.wait_success()?;

    let verdict = Verdict::check(
        inside.text("shm_open(NAME)_before_mount") == Some(HOST_TEXT)
            && inside.text("shm_open(NAME)_after_mount") == Some("ENOENT")
            && host.text("shm_open(NAME)") == Some(HOST_TEXT),
    );
    Ok(Observed::new(verdict, host, inside))
}
// ANCHOR_END: private_dev_shm
