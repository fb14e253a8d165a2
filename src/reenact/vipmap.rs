//! `--vip-map`: which VIP port stands for which server of a capture.
//!
//! `IP:PORT=VIP:PORT` maps one server; `*:PORT=VIP:PORT` maps every server on that port. The
//! most specific entry wins (an exact address before `*`), then the first given.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

/// One `--vip-map` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VipMapping {
    /// The server's address in the capture; `None` for `*`.
    pub server_ip: Option<Ipv4Addr>,
    pub server_port: u16,
    pub vip: SocketAddrV4,
}

impl FromStr for VipMapping {
    type Err = String;

    fn from_str(s: &str) -> Result<VipMapping, String> {
        let (from, to) = s.split_once('=').ok_or_else(|| format!("`{s}`: expected ORIG:PORT=VIP:PORT"))?;
        let (ip, port) = from.rsplit_once(':').ok_or_else(|| format!("`{from}`: expected IP:PORT or *:PORT"))?;
        let server_ip = match ip {
            "*" => None,
            ip => Some(ip.parse().map_err(|_| format!("`{ip}`: not an IPv4 address (or `*`)"))?),
        };
        let server_port = port.parse().map_err(|_| format!("`{port}`: not a port number"))?;
        let vip = to.parse().map_err(|_| format!("`{to}`: expected VIP:PORT, an IPv4 address and a port"))?;
        Ok(VipMapping { server_ip, server_port, vip })
    }
}

impl fmt::Display for VipMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.server_ip {
            Some(ip) => write!(f, "{ip}:{}={}", self.server_port, self.vip),
            None => write!(f, "*:{}={}", self.server_port, self.vip),
        }
    }
}

/// Every `--vip-map` entry, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VipMap {
    pub entries: Vec<VipMapping>,
}

impl VipMap {
    pub fn new(entries: Vec<VipMapping>) -> VipMap {
        VipMap { entries }
    }

    /// The VIP port that stands for `server`, if any entry maps it.
    pub fn lookup(&self, server: SocketAddrV4) -> Option<SocketAddrV4> {
        let on_port = || self.entries.iter().filter(|e| e.server_port == server.port());
        let exact = on_port().find(|e| e.server_ip == Some(*server.ip()));
        exact.or_else(|| on_port().find(|e| e.server_ip.is_none())).map(|e| e.vip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[&str]) -> VipMap {
        VipMap::new(entries.iter().map(|e| e.parse().unwrap()).collect())
    }

    #[test]
    fn an_exact_server_wins_over_a_wildcard_whatever_the_order() {
        let m = map(&["*:80=198.18.0.100:80", "10.0.0.5:80=198.18.0.100:8080", "*:443=198.18.0.100:80"]);
        let vip = |s: &str| m.lookup(s.parse().unwrap()).map(|v| v.to_string());
        assert_eq!(vip("10.0.0.5:80").as_deref(), Some("198.18.0.100:8080"));
        assert_eq!(vip("10.0.0.6:80").as_deref(), Some("198.18.0.100:80"));
        assert_eq!(vip("10.0.0.6:443").as_deref(), Some("198.18.0.100:80"));
        assert_eq!(vip("10.0.0.6:8443"), None);
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let err = |s: &str| s.parse::<VipMapping>().unwrap_err();
        assert!(err("10.0.0.5:80").contains("expected ORIG:PORT=VIP:PORT"));
        assert!(err("10.0.0.300:80=198.18.0.100:80").contains("not an IPv4 address"));
        assert!(err("*:http=198.18.0.100:80").contains("not a port number"));
        assert!(err("*:80=198.18.0.100").contains("expected VIP:PORT"));
        let ok: VipMapping = "*:80=198.18.0.100:80".parse().unwrap();
        assert_eq!(ok.to_string(), "*:80=198.18.0.100:80");
    }
}
