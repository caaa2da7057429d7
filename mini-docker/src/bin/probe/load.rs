//! `probe alloc|forks|spin`: bounded loads for the resource-limit tests
//! (claim SEC-4). Each prints one JSON object with what it managed to do;
//! std only, like the rest of the probe.
//!
//! - `probe alloc MIB`: allocate MIB mebibytes and touch every page (a
//!   memory limit below that gets the process OOM-killed: exit 137);
//! - `probe forks N`: start up to N processes that stay alive until the
//!   probe ends, and count how many the kernel allowed (pids.max);
//! - `probe spin SECONDS`: a busy loop for SECONDS of wall time, counting
//!   its iterations (a CPU quota lowers the count).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bounds, so a typo cannot hurt the machine.
const MAX_MIB: usize = 1024;
const MAX_FORKS: usize = 1000;
const MAX_SECONDS: f64 = 30.0;

/// Runs the subcommand named in `args` (after the program name); `None`
/// when `args` names none of these.
pub fn main_if_asked(args: &[String]) -> Option<i32> {
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<f64>().ok());
    let (text, code) = match (args.first().map(String::as_str), number(1)) {
        (Some("alloc"), Some(mib)) => (alloc((mib as usize).min(MAX_MIB)), 0),
        (Some("forks"), Some(n)) => (forks((n as usize).min(MAX_FORKS)), 0),
        (Some("spin"), Some(s)) => (spin(s.clamp(0.0, MAX_SECONDS)), 0),
        // A child of `forks`: wait until the probe closes our stdin.
        (Some("forks-child"), _) => {
            let _ = std::io::stdin().read(&mut [0u8; 1]);
            return Some(0);
        }
        _ => return None,
    };
    let _ = std::io::stdout().write_all(format!("{text}\n").as_bytes());
    Some(code)
}

fn alloc(mib: usize) -> String {
    let page = 4096;
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(mib);
    for _ in 0..mib {
        let mut chunk = vec![0u8; 1 << 20];
        // Touch each page: untouched pages are not charged.
        for i in (0..chunk.len()).step_by(page) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
    format!("{{\"allocated_mib\": {}}}", chunks.len())
}

fn forks(n: usize) -> String {
    let me = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let mut children = Vec::new();
    let mut error = String::new();
    for _ in 0..n {
        match Command::new(&me).arg("forks-child").stdin(Stdio::piped()).spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                error = e.to_string();
                break;
            }
        }
    }
    let started = children.len();
    for mut child in children {
        drop(child.stdin.take()); // EOF: the child exits
        let _ = child.wait();
    }
    format!("{{\"started\": {started}, \"error\": {error:?}}}")
}

fn spin(seconds: f64) -> String {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut iterations: u64 = 0;
    while Instant::now() < end {
        for _ in 0..1000 {
            iterations = std::hint::black_box(iterations + 1);
        }
    }
    format!("{{\"iterations\": {iterations}}}")
}
