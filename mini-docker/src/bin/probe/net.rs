//! `probe ip|serve|connect`: the network tests' two ends (claims NET-3,
//! NET-4). std only, like the rest of the probe; every wait is bounded.
//!
//! - `probe ip`: this namespace's IPv4 addresses (from /proc/net/fib_trie,
//!   the kernel's routing tables: each `/32 host LOCAL` entry is one);
//! - `probe serve PORT COUNT`: answer COUNT TCP connections on PORT with
//!   `hello from HOSTNAME`, then exit (at most 30 s);
//! - `probe connect ADDRESS:PORT`: connect (retrying for up to 10 s while
//!   the server starts) and print the line it answers;
//! - `probe udp-echo PORT COUNT`: send COUNT UDP datagrams back where they
//!   came from, prefixed with `echo `, then exit (at most 30 s).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

pub fn main_if_asked(args: &[String]) -> Option<i32> {
    let arg = |i: usize| args.get(i).map(String::as_str);
    let (text, code) = match (arg(0), arg(1), arg(2)) {
        (Some("ip"), _, _) => (format!("{{\"addresses\": {:?}}}", addresses()), 0),
        (Some("serve"), Some(port), count) => serve(port, count.unwrap_or("1")),
        (Some("connect"), Some(target), _) => connect(target),
        (Some("udp-echo"), Some(port), count) => udp_echo(port, count.unwrap_or("1")),
        _ => return None,
    };
    let _ = std::io::stdout().write_all(format!("{text}\n").as_bytes());
    Some(code)
}

fn addresses() -> Vec<String> {
    let trie = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let lines: Vec<&str> = trie.lines().collect();
    let mut found: Vec<String> = lines
        .windows(2)
        .filter(|w| w[1].trim() == "/32 host LOCAL")
        .filter_map(|w| w[0].trim().strip_prefix("|-- "))
        .filter(|ip| !ip.starts_with("127."))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

fn serve(port: &str, count: &str) -> (String, i32) {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let (Ok(port), Ok(count)) = (port.parse::<u16>(), count.parse::<usize>()) else {
        return ("{\"error\": \"usage: probe serve PORT COUNT\"}".into(), 2);
    };
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => return (format!("{{\"error\": {:?}}}", e.to_string()), 1),
    };
    let _ = listener.set_nonblocking(true);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut served = 0;
    while served < count && Instant::now() < deadline {
        match listener.accept() {
            Ok((mut client, _)) => {
                let _ = client.set_nonblocking(false);
                let _ = client.write_all(format!("hello from {}\n", hostname.trim()).as_bytes());
                served += 1;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (format!("{{\"served\": {served}}}"), if served == count { 0 } else { 1 })
}

fn connect(target: &str) -> (String, i32) {
    let Ok(addr) = target.parse::<SocketAddr>() else {
        return ("{\"error\": \"usage: probe connect ADDRESS:PORT\"}".into(), 2);
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => {
                let _ = stream.set_read_timeout(Some(WAIT));
                let mut line = String::new();
                let _ = BufReader::new(stream).read_line(&mut line);
                return (format!("{{\"answer\": {:?}}}", line.trim()), 0);
            }
            Err(e) if Instant::now() > deadline => {
                return (format!("{{\"error\": {:?}}}", e.to_string()), 1);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn udp_echo(port: &str, count: &str) -> (String, i32) {
    let (Ok(port), Ok(count)) = (port.parse::<u16>(), count.parse::<usize>()) else {
        return ("{\"error\": \"usage: probe udp-echo PORT COUNT\"}".into(), 2);
    };
    let socket = match UdpSocket::bind(("0.0.0.0", port)) {
        Ok(s) => s,
        Err(e) => return (format!("{{\"error\": {:?}}}", e.to_string()), 1),
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut echoed = 0;
    let mut buf = [0u8; 1500];
    while echoed < count && Instant::now() < deadline {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let mut answer = b"echo ".to_vec();
            answer.extend_from_slice(&buf[..n]);
            let _ = socket.send_to(&answer, from);
            echoed += 1;
        }
    }
    (format!("{{\"echoed\": {echoed}}}"), if echoed == count { 0 } else { 1 })
}
