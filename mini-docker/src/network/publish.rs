//! `-p [IP:]HOSTPORT:PORT[/tcp|udp]`: a port of the host (on one of its
//! addresses, or on all) that leads to a port of the container.
//!
//! Two ways exist. Docker programs the kernel's NAT (iptables/nftables
//! DNAT rules) and also runs a userspace `docker-proxy` for what NAT
//! cannot reach (the host's own 127.0.0.1). mini-docker does only the
//! second: mini-docker itself, which waits for the container anyway,
//! listens on `0.0.0.0:HOSTPORT` and copies bytes to and from
//! `CONTAINER:PORT`. That needs no firewall rules (which would change the
//! host's configuration and outlive a killed mini-docker), works for
//! 127.0.0.1 and is gone when mini-docker is. Its costs: every byte is
//! copied through one more process, and the server sees mini-docker's
//! address (the bridge's), not the client's.
//!
//! The ports are bound before the container starts (a port in use is a
//! clear error, exit 125) and served by threads started once it runs.
//!
//! It imports only `network/`'s error type.

use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::NetworkError;

/// How long a connection to the container may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// UDP: at most this many client addresses at once (each costs a socket
/// and a thread until the container ends).
const UDP_CLIENTS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn word(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The host address listened on: 0.0.0.0 (every one) unless given.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub port: u16,
    pub proto: Proto,
}

/// `8080:80/tcp`, `127.0.0.1:8080:80/tcp`: the flag as [`parse`] reads it.
impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.host_ip.is_unspecified() {
            write!(f, "{}:", self.host_ip)?;
        }
        write!(f, "{}:{}/{}", self.host_port, self.port, self.proto.word())
    }
}

/// `8080:80`, `8080:80/tcp`, `5353:53/udp`, `127.0.0.1:8080:80`. (Not
/// Docker's `-p 80`, a host port of the kernel's choosing, nor an IPv6
/// address: the bridge is IPv4 only.)
pub fn parse(text: &str) -> Result<Publish, String> {
    let bad = || format!("{text:?} is not a port mapping: use [IP:]HOSTPORT:PORT[/tcp|udp]");
    let (ports, proto) = match text.split_once('/') {
        Some((ports, "tcp")) => (ports, Proto::Tcp),
        Some((ports, "udp")) => (ports, Proto::Udp),
        Some(_) => return Err(bad()),
        None => (text, Proto::Tcp),
    };
    let (host_ip, host, port) = match ports.split(':').collect::<Vec<_>>().as_slice() {
        [host, port] => (Ipv4Addr::UNSPECIFIED, *host, *port),
        [ip, host, port] => (ip.parse().map_err(|_| bad())?, *host, *port),
        _ => return Err(bad()),
    };
    let number = |s: &str| s.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
    Ok(Publish { host_ip, host_port: number(host)?, port: number(port)?, proto })
}

/// A bound host socket and where its traffic goes.
enum Bound {
    Tcp(TcpListener, SocketAddr),
    Udp(UdpSocket, SocketAddr),
}

/// The sockets bound by [`bind`], waiting for [`start`]. (One container
/// per mini-docker process, so one list.)
static BOUND: Mutex<Vec<Bound>> = Mutex::new(Vec::new());

/// Binds every published port on its host address (all of them unless
/// the flag named one), before the container exists.
pub fn bind(publish: &[Publish], container: Ipv4Addr) -> Result<(), NetworkError> {
    let mut bound = Vec::new();
    for p in publish {
        let host = SocketAddr::from((p.host_ip, p.host_port));
        let target = SocketAddr::from((container, p.port));
        let spec = p.to_string();
        let failed = |source| NetworkError::Bind { spec: spec.clone(), source };
        bound.push(match p.proto {
            Proto::Tcp => Bound::Tcp(TcpListener::bind(host).map_err(failed)?, target),
            Proto::Udp => Bound::Udp(UdpSocket::bind(host).map_err(failed)?, target),
        });
    }
    BOUND.lock().unwrap_or_else(|e| e.into_inner()).extend(bound);
    Ok(())
}

/// Binds every published port and lets it go again: whether it is free
/// (`--network pasta`, whose pasta binds them itself, a moment later).
pub fn try_bind(publish: &[Publish]) -> Result<(), NetworkError> {
    for p in publish {
        let host = SocketAddr::from((p.host_ip, p.host_port));
        let failed = |source| NetworkError::Bind { spec: p.to_string(), source };
        match p.proto {
            Proto::Tcp => drop(TcpListener::bind(host).map_err(failed)?),
            Proto::Udp => drop(UdpSocket::bind(host).map_err(failed)?),
        }
    }
    Ok(())
}

/// Serves the bound ports from threads of their own. The threads are
/// started only now, after `clone`: the clone's child gets a copy of this
/// process's memory, which is only safe while no other thread can hold a
/// lock in it (see mini-runc's `container/parent.rs`), and a process with
/// threads may not enter some namespaces (setns(2): user and mount). They
/// inherit the blocked signal mask, so signals still reach the main
/// thread's `sigwait`.
// ANCHOR: forward
pub fn start() {
    let bound = std::mem::take(&mut *BOUND.lock().unwrap_or_else(|e| e.into_inner()));
    for b in bound {
        match b {
            Bound::Tcp(listener, target) => {
                std::thread::spawn(move || {
                    for client in listener.incoming().flatten() {
                        // Counted before the thread runs, so that `drain`
                        // cannot miss a connection just accepted.
                        let relay = Relay::begin();
                        std::thread::spawn(move || {
                            relay_tcp(client, target);
                            drop(relay);
                        });
                    }
                });
            }
            Bound::Udp(socket, target) => {
                std::thread::spawn(move || relay_udp(socket, target));
            }
        }
    }
}

/// TCP relays under way (see [`drain`]), and a wake-up when one ends.
static RELAYS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// One relay under way, counted in [`RELAYS`] while it lives.
struct Relay;

impl Relay {
    fn begin() -> Relay {
        *RELAYS.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Relay
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let mut active = RELAYS.0.lock().unwrap_or_else(|e| e.into_inner());
        *active = active.saturating_sub(1);
        RELAYS.1.notify_all();
    }
}

/// Once the container has ended: waits, at most `limit`, for the relays
/// still copying what the container said last to their clients (a server
/// that answers and exits at once leaves its answer in flight). Without
/// this, mini-docker could exit first, and with it the relay's thread:
/// the client would read nothing.
pub fn drain(limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut active = RELAYS.0.lock().unwrap_or_else(|e| e.into_inner());
    while *active > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        active = match RELAYS.1.wait_timeout(active, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

/// One TCP connection: a connection to the container, and the bytes
/// copied both ways until each side has closed its half.
fn relay_tcp(client: TcpStream, target: SocketAddr) {
    let Ok(server) = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) else { return };
    let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Write);
    });
    let (mut server_in, mut client_out) = (server, client);
    let _ = std::io::copy(&mut server_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = upstream.join();
}
// ANCHOR_END: forward

/// UDP has no connections: each client address gets a socket of its own
/// towards the container, whose answers go back to that client. A datagram
/// that arrives before the container's server is listening earns an ICMP
/// "port unreachable", which the kernel reports on the next `recv` of that
/// socket as ECONNREFUSED: not a reason to stop relaying.
fn relay_udp(socket: UdpSocket, target: SocketAddr) {
    let mut clients: Vec<(SocketAddr, UdpSocket)> = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        let known = clients.iter().position(|(addr, _)| *addr == from);
        let index = match known {
            Some(i) => i,
            None if clients.len() >= UDP_CLIENTS => continue,
            None => {
                let Ok(upstream) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else { continue };
                if upstream.connect(target).is_err() {
                    continue;
                }
                let (Ok(back), Ok(reply_to)) = (socket.try_clone(), upstream.try_clone()) else {
                    continue;
                };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    loop {
                        match reply_to.recv(&mut buf) {
                            Ok(n) => {
                                let _ = back.send_to(&buf[..n], from);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                            Err(_) => break,
                        }
                    }
                });
                clients.push((from, upstream));
                clients.len() - 1
            }
        };
        let _ = clients[index].1.send(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings() {
        let any = Ipv4Addr::UNSPECIFIED;
        assert_eq!(
            parse("8080:80"),
            Ok(Publish { host_ip: any, host_port: 8080, port: 80, proto: Proto::Tcp })
        );
        assert_eq!(parse("53:53/udp").map(|p| p.proto), Ok(Proto::Udp));
        let local = parse("127.0.0.1:8080:80/udp").expect("with an address");
        assert_eq!((local.host_ip, local.proto), (Ipv4Addr::LOCALHOST, Proto::Udp));
        // What the network record writes is read back the same.
        for text in ["127.0.0.1:8080:80/udp", "8080:80/tcp"] {
            assert_eq!(parse(text).expect(text).to_string(), text);
        }
        for bad in ["80", "0:80", "80:0", "a:80", "80:80/sctp", "99999:1", "1.2.3:1:1", "::1:1:1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
