//! Ports for the processes tests and benchmarks start beside the emulator.

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const FIRST: u32 = 10_000;
const COUNT: u32 = 22_000;

/// A loopback port nobody listens on, for a child process to bind. It is taken below the
/// kernel's ephemeral range (32768-60999 on Linux), not from it: the kernel also hands
/// ephemeral ports to outgoing connections, and once one took a port returned from that range
/// before the exporter bound it ("Address already in use"). Each process starts at its own
/// pseudo-random point and checks each port by binding it first.
pub fn free_port() -> io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: OnceLock<u32> = OnceLock::new();
    let start = *START.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        std::process::id().wrapping_mul(7919).wrapping_add(nanos) % COUNT
    });
    (0..COUNT)
        .map(|_| FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT)
        .filter_map(|port| u16::try_from(port).ok())
        .find(|&port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port below 32000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bindable_distinct_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port().expect("a port")).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len());
        assert!(
            ports.iter().all(|&p| (10_000..32_000).contains(&p)),
            "{ports:?}"
        );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0]));
        assert!(listener.is_ok());
    }
}
