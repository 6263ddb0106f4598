//! The Host-header check against DNS rebinding.
//!
//! A rebinding attack points a name the attacker controls at 127.0.0.1, so the victim's
//! browser sends that name as `Host`. Only names that cannot be rebound are accepted: IP
//! literals and `localhost`, with the port the dashboard listens on.

use std::net::{IpAddr, SocketAddr};

/// The Host values this dashboard answers to.
#[derive(Debug)]
pub struct Allowed {
    port: u16,
    loopback_only: bool,
}

impl Allowed {
    pub fn new(local: SocketAddr) -> Self {
        Self {
            port: local.port(),
            loopback_only: local.ip().is_loopback(),
        }
    }

    pub fn permits(&self, host: &str) -> bool {
        let (name, port) = match split_host_port(host) {
            Some(parts) => parts,
            None => return false,
        };
        // A missing port means the default port of the scheme.
        let port_ok = match port {
            Some(p) => p == self.port,
            None => self.port == 80,
        };
        if !port_ok {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        match name.parse::<IpAddr>() {
            Ok(ip) => !self.loopback_only || ip.is_loopback(),
            Err(_) => false,
        }
    }
}

/// `name[:port]` or `[v6][:port]`; `None` when malformed.
fn split_host_port(host: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        return match after {
            "" => Some((inside, None)),
            p => Some((inside, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => Some((name, Some(port.parse().ok()?))),
        None => Some((host, None)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_dashboard_accepts_only_loopback_literals_and_localhost() {
        let a = Allowed::new("127.0.0.1:8080".parse().unwrap());
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(a.permits(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1.nip.io:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "10.0.0.5:8080",
            "localhost:notaport",
            "[::1",
            "",
        ] {
            assert!(!a.permits(bad), "{bad}");
        }
    }

    #[test]
    fn non_loopback_dashboard_accepts_any_ip_literal_but_no_name() {
        let a = Allowed::new("0.0.0.0:80".parse().unwrap());
        assert!(a.permits("10.0.0.5"));
        assert!(a.permits("10.0.0.5:80"));
        assert!(!a.permits("dashboard.corp:80"));
    }
}
