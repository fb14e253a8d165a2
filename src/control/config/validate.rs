//! The checks a config passes before anything uses it, one section at a time. Each error
//! names the key, its line and the reason.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{line_of, on_link, Config, ConfigError, PortMode, RuleConfig, VipPortConfig, MAX_WORKERS};
use crate::engine::service::NatMode;

/// The config being checked and its text (for line numbers).
pub(super) struct Checker<'a> {
    config: &'a Config,
    text: &'a str,
}

type Checked = Result<(), ConfigError>;

impl<'a> Checker<'a> {
    pub(super) fn new(config: &'a Config, text: &'a str) -> Checker<'a> {
        Checker { config, text }
    }

    /// Every check, in the order a reader meets the sections.
    pub(super) fn all(&self) -> Checked {
        self.workers()?;
        self.ports()?;
        self.local_addresses()?;
        self.vips()?;
        self.real_servers()?;
        self.admin()?;
        self.health()?;
        self.tables()?;
        for (v, vip) in self.config.vips.iter().enumerate() {
            for (i, p) in vip.ports.iter().enumerate() {
                self.vip_port(v, i, p)?;
            }
        }
        self.neighbours()
    }

    fn err(&self, span: Range<usize>, key: String, reason: String) -> ConfigError {
        ConfigError { file: None, line: (span.end > 0).then(|| line_of(self.text, span.start)), key, reason }
    }

    fn workers(&self) -> Checked {
        if let Some(nice) = &self.config.worker_nice {
            if !(-20..=19).contains(nice.get_ref()) {
                let reason = format!("must be between -20 and 19, not {}", nice.get_ref());
                return Err(self.err(nice.span(), "worker_nice".into(), reason));
            }
        }
        let super::Workers::Count(workers) = *self.config.workers.get_ref() else { return Ok(()) };
        if workers == 0 || workers > MAX_WORKERS {
            let reason = format!("must be between 1 and {MAX_WORKERS}, not {workers}");
            return Err(self.err(self.config.workers.span(), "workers".into(), reason));
        }
        Ok(())
    }

    fn ports(&self) -> Checked {
        let ports = &self.config.ports;
        if ports.is_empty() {
            return Err(self.err(0..0, "port".into(), "at least one [[port]] is needed".into()));
        }
        for (i, p) in ports.iter().enumerate() {
            let key = |k: &str| format!("port[{i}].{k}");
            if p.name.get_ref().is_empty() {
                return Err(self.err(p.name.span(), key("name"), "must not be empty".into()));
            }
            if let Some(j) = ports[..i].iter().position(|q| q.name.get_ref() == p.name.get_ref()) {
                let reason = format!("`{}` is already the name of port[{j}]", p.name.get_ref());
                return Err(self.err(p.name.span(), key("name"), reason));
            }
            if let Some(j) = ports[..i].iter().position(|q| q.ip.get_ref().ip == p.ip.get_ref().ip) {
                let reason = format!("{} is already port[{j}]'s address", p.ip.get_ref().ip);
                return Err(self.err(p.ip.span(), key("ip"), reason));
            }
            if let Some(mac) = &p.mac {
                if !mac.get_ref().0.is_unicast() {
                    return Err(self.err(mac.span(), key("mac"), "must be a unicast address".into()));
                }
            }
        }
        Ok(())
    }

    fn local_addresses(&self) -> Checked {
        let c = self.config;
        for (i, p) in c.ports.iter().enumerate() {
            for (k, a) in p.local_addresses.iter().enumerate() {
                let ip = *a.get_ref();
                let key = format!("port[{i}].local_addresses[{k}]");
                if !on_link(p, ip) {
                    return Err(self.err(a.span(), key, format!("{ip} is not on the port's subnet")));
                }
                let taken = c.ports.iter().any(|q| q.ip.get_ref().ip == ip)
                    || c.vips.iter().any(|v| *v.ip.get_ref() == ip)
                    || c.ports.iter().enumerate().any(|(j, q)| {
                        q.local_addresses.iter().enumerate().any(|(l, b)| (j, l) < (i, k) && *b.get_ref() == ip)
                    });
                if taken {
                    let reason = format!("{ip} is already a port's, a VIP's or a local address");
                    return Err(self.err(a.span(), key, reason));
                }
            }
        }
        Ok(())
    }

    fn vips(&self) -> Checked {
        let c = self.config;
        for (i, v) in c.vips.iter().enumerate() {
            let ip = *v.ip.get_ref();
            if c.ports.iter().any(|p| p.ip.get_ref().ip == ip) {
                return Err(self.err(v.ip.span(), format!("vip[{i}].ip"), format!("{ip} is a port's own address")));
            }
            let same = |w: &super::VipConfig| *w.ip.get_ref() == ip || w.name.get_ref() == v.name.get_ref();
            if let Some(j) = c.vips[..i].iter().position(same) {
                return Err(self.err(v.ip.span(), format!("vip[{i}]"), format!("same name or address as vip[{j}]")));
            }
        }
        let n_services: usize = c.vips.iter().map(|v| v.ports.len()).sum();
        if n_services > 255 {
            return Err(self.err(0..0, "vip.port".into(), format!("{n_services} VIP ports; at most 255 are served")));
        }
        Ok(())
    }

    fn real_servers(&self) -> Checked {
        let c = self.config;
        if c.real_servers.len() > usize::from(u16::MAX) {
            return Err(self.err(0..0, "real_server".into(), "too many real servers".into()));
        }
        for (i, r) in c.real_servers.iter().enumerate() {
            let key = |k: &str| format!("real_server[{i}].{k}");
            let earlier = &c.real_servers[..i];
            if let Some(j) = earlier.iter().position(|s| s.name.get_ref() == r.name.get_ref()) {
                let reason = format!("`{}` is already the name of real_server[{j}]", r.name.get_ref());
                return Err(self.err(r.name.span(), key("name"), reason));
            }
            let ip = *r.ip.get_ref();
            if !c.ports.iter().any(|p| on_link(p, ip)) && !c.ports.iter().any(|p| p.gateway.is_some()) {
                let reason = format!("{ip} is on no port's subnet and no port has a gateway");
                return Err(self.err(r.ip.span(), key("ip"), reason));
            }
            if let Some(id) = &r.server_id {
                cookie_value(id.get_ref()).map_err(|reason| self.err(id.span(), key("server_id"), reason))?;
                let same = |s: &super::RealServerConfig| s.server_id() == id.get_ref().as_str();
                if let Some(j) = earlier.iter().position(same) {
                    let reason = format!("`{}` is already real_server[{j}]'s server id", id.get_ref());
                    return Err(self.err(id.span(), key("server_id"), reason));
                }
            }
            if let Some(route) = &r.jvm_route {
                cookie_value(route.get_ref()).map_err(|reason| self.err(route.span(), key("jvm_route"), reason))?;
                if route.get_ref().contains('.') {
                    let reason = "a jvmRoute cannot hold a `.` (Tomcat puts it after the last one)".into();
                    return Err(self.err(route.span(), key("jvm_route"), reason));
                }
                let same =
                    |s: &super::RealServerConfig| s.jvm_route.as_ref().map(|j| j.get_ref()) == Some(route.get_ref());
                if let Some(j) = earlier.iter().position(same) {
                    let reason = format!("`{}` is already real_server[{j}]'s jvmRoute", route.get_ref());
                    return Err(self.err(route.span(), key("jvm_route"), reason));
                }
            }
        }
        Ok(())
    }

    /// The admin API listens somewhere, with a file mode that makes sense.
    fn admin(&self) -> Checked {
        let Some(admin) = &self.config.admin else { return Ok(()) };
        let a = admin.get_ref();
        if a.listen.is_none() && a.socket.is_none() {
            return Err(self.err(
                admin.span(),
                "admin".into(),
                "needs `listen` (TCP) or `socket` (Unix), or both".into(),
            ));
        }
        let mode = a.socket_mode.get_ref();
        let valid = !mode.is_empty() && mode.len() <= 4 && u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o777);
        if !valid {
            let reason = format!("`{mode}` is not a file mode in octal, as in \"660\"");
            return Err(self.err(a.socket_mode.span(), "admin.socket_mode".into(), reason));
        }
        if let Some(path) = &a.socket {
            if !path.get_ref().is_absolute() {
                return Err(self.err(path.span(), "admin.socket".into(), "must be an absolute path".into()));
            }
        }
        Ok(())
    }

    /// Every server's health check, as the checker will run it.
    fn health(&self) -> Checked {
        let c = self.config;
        let numbers = |h: &super::HealthConfig| -> Result<(), String> {
            let secs = [("interval", h.interval), ("timeout", h.timeout)];
            for (name, v) in secs.into_iter().filter_map(|(n, v)| Some((n, v?))) {
                if !(v.is_finite() && v > 0.0 && v <= 3600.0) {
                    return Err(format!("{name} must be above 0 and at most 3600 seconds, not {v}"));
                }
            }
            match h.slow_start {
                Some(v) if !(v.is_finite() && (0.0..=3600.0).contains(&v)) => {
                    Err(format!("slow_start must be between 0 and 3600 seconds, not {v}"))
                }
                _ => Ok(()),
            }
        };
        if let Some(h) = &c.health {
            numbers(h.get_ref()).map_err(|reason| self.err(h.span(), "health".into(), reason))?;
        }
        for (i, r) in c.real_servers.iter().enumerate() {
            let (span, key) = match &r.health {
                Some(h) => {
                    numbers(h.get_ref())
                        .map_err(|reason| self.err(h.span(), format!("real_server[{i}].health"), reason))?;
                    (h.span(), format!("real_server[{i}].health"))
                }
                None => (c.health.as_ref().map_or(0..0, |h| h.span()), "health".to_string()),
            };
            let Some((check, port, timing)) = c.server_health(r).check else { continue };
            let target = crate::health::Target { server: i as u16, ip: *r.ip.get_ref(), port, check };
            if let Err(e) = crate::health::validate_target(&target, &timing) {
                let reason = match e {
                    crate::health::ConfigError::Target { what, .. } => what.to_string(),
                    other => other.to_string(),
                };
                return Err(self.err(span, key, format!("{} (server `{}`)", reason, r.name.get_ref())));
            }
        }
        Ok(())
    }

    fn tables(&self) -> Checked {
        let t = &self.config.tables;
        let flows = *t.flows.get_ref();
        if !(2..=crate::engine::flow::MAX_CAPACITY).contains(&flows) {
            let reason = format!("must be between 2 and {}", crate::engine::flow::MAX_CAPACITY);
            return Err(self.err(t.flows.span(), "tables.flows".into(), reason));
        }
        let maglev = *t.maglev.get_ref();
        if let Err(e) = crate::engine::maglev::validate_table_size(maglev, self.config.real_servers.len()) {
            return Err(self.err(t.maglev.span(), "tables.maglev".into(), e.to_string()));
        }
        let heads = *t.head_buffers.get_ref();
        if heads > flows {
            let reason = format!("{heads} is more than the {flows} flows a worker tracks");
            return Err(self.err(t.head_buffers.span(), "tables.head_buffers".into(), reason));
        }
        Ok(())
    }

    fn vip_port(&self, v: usize, i: usize, p: &VipPortConfig) -> Checked {
        let c = self.config;
        let key = |k: &str| format!("vip[{v}].port[{i}].{k}");
        let same_port = |q: &VipPortConfig| q.port.get_ref() == p.port.get_ref() && q.protocol == p.protocol;
        if let Some(j) = c.vips[v].ports[..i].iter().position(same_port) {
            let reason = format!("{} is already served by vip[{v}].port[{j}]", p.port.get_ref());
            return Err(self.err(p.port.span(), key("port"), reason));
        }
        let len = *p.sticky_prefix_len.get_ref();
        if !(1..=32).contains(&len) {
            let reason = format!("must be between 1 and 32, not {len}");
            return Err(self.err(p.sticky_prefix_len.span(), key("sticky_prefix_len"), reason));
        }
        if c.real_servers.is_empty() {
            return Err(self.err(p.port.span(), key("port"), "no [[real_server]] to serve it".into()));
        }
        if let Some(names) = &p.servers {
            if names.get_ref().is_empty() {
                return Err(self.err(names.span(), key("servers"), "must name at least one real server".into()));
            }
            if let Some(name) = names.get_ref().iter().find(|n| !c.real_servers.iter().any(|r| r.name.get_ref() == *n))
            {
                return Err(self.err(names.span(), key("servers"), format!("no real server is named `{name}`")));
            }
        }
        self.nat(p, &key)?;
        self.l7(p, &key)
    }

    /// What the NAT mode of a port asks of its servers.
    fn nat(&self, p: &VipPortConfig, key: &dyn Fn(&str) -> String) -> Checked {
        let c = self.config;
        let (nat, span) = match &p.nat {
            Some(nat) => (*nat.get_ref(), nat.span()),
            None if p.mode == PortMode::L7 => (NatMode::Full, p.port.span()),
            None => {
                return Err(self.err(p.port.span(), key("nat"), "an l4 port needs `nat` (full, gateway or dsr)".into()))
            }
        };
        if p.mode == PortMode::L7 && nat != NatMode::Full {
            let reason = "an l7 port splices its own connection to the server: only `full` NAT".into();
            return Err(self.err(span, key("nat"), reason));
        }
        if p.protocol != crate::engine::service::Protocol::Tcp && p.mode == PortMode::L7 {
            return Err(self.err(p.port.span(), key("protocol"), "an l7 port is TCP".into()));
        }
        match nat {
            NatMode::Dsr => {
                if let Some(r) = c.service_servers(p).find(|r| r.port != *p.port.get_ref()) {
                    let reason = format!(
                        "dsr cannot change the port: real server `{}` listens on {}, the VIP port is {}",
                        r.name.get_ref(),
                        r.port,
                        p.port.get_ref()
                    );
                    return Err(self.err(span, key("nat"), reason));
                }
                // Explicitly asked for (a default has an empty span).
                let cookies = &p.syn_cookies;
                if !cookies.span().is_empty() && *cookies.get_ref() != crate::engine::service::SynCookies::Never {
                    let reason = "a dsr port cannot use SYN cookies: the server's answers bypass the switch, so \
                                  it could never splice a handshake it answered itself; the servers' own SYN \
                                  cookies (Linux's tcp_syncookies) protect them, and the switch's half-open \
                                  limits protect its table"
                        .into();
                    return Err(self.err(cookies.span(), key("syn_cookies"), reason));
                }
            }
            NatMode::Full => {
                let off_link =
                    |r: &&super::RealServerConfig| !c.ports.iter().any(|port| on_link(port, *r.ip.get_ref()));
                if let Some(r) = c.service_servers(p).find(off_link) {
                    let reason = format!(
                        "full NAT needs real server `{}` on a port's subnet (the switch's address there is the source towards it)",
                        r.name.get_ref()
                    );
                    return Err(self.err(span, key("nat"), reason));
                }
            }
            NatMode::Gateway => {}
        }
        Ok(())
    }

    /// The L7 keys: only on an l7 port, with cookie names a browser would send.
    fn l7(&self, p: &VipPortConfig, key: &dyn Fn(&str) -> String) -> Checked {
        if p.mode == PortMode::L4 {
            if let Some(rule) = p.rules.first() {
                return Err(self.err(rule.kind.span(), key("rule"), "affinity rules need `mode = \"l7\"`".into()));
            }
            return Ok(());
        }
        let limit = *p.head_limit.get_ref();
        if !(256..=65535).contains(&limit) {
            let reason = format!("must be between 256 and 65535 bytes, not {limit}");
            return Err(self.err(p.head_limit.span(), key("head_limit"), reason));
        }
        for (r, rule) in p.rules.iter().enumerate() {
            let rule_key = format!("rule[{r}].cookie");
            if let Some(name) = &rule.cookie {
                cookie_name(name.get_ref()).map_err(|reason| self.err(name.span(), key(&rule_key), reason))?;
            }
            let earlier = |q: &RuleConfig| q.kind.get_ref() == rule.kind.get_ref();
            if p.rules[..r].iter().any(earlier) {
                let reason = format!("a second `{}` rule would never match", rule.kind.get_ref().name());
                return Err(self.err(rule.kind.span(), key(&format!("rule[{r}].match")), reason));
            }
        }
        Ok(())
    }

    fn neighbours(&self) -> Checked {
        let c = self.config;
        for (i, n) in c.neighbours.iter().enumerate() {
            let Some(port) = c.ports.iter().find(|p| p.name.get_ref() == n.port.get_ref()) else {
                let reason = format!("no port is named `{}`", n.port.get_ref());
                return Err(self.err(n.port.span(), format!("neighbour[{i}].port"), reason));
            };
            let ip: Ipv4Addr = *n.ip.get_ref();
            if !on_link(port, ip) {
                let reason = format!("{ip} is not on port `{}`'s subnet", n.port.get_ref());
                return Err(self.err(n.ip.span(), format!("neighbour[{i}].ip"), reason));
            }
        }
        Ok(())
    }
}

/// A cookie name: an RFC 6265 token (no separators, no spaces or controls).
fn cookie_name(name: &str) -> Result<(), String> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    if name.is_empty() || name.len() > 64 {
        return Err(format!("`{name}` is not a cookie name (1 to 64 characters)"));
    }
    match name.bytes().find(|b| !b.is_ascii_graphic() || SEPARATORS.contains(b)) {
        Some(b) => Err(format!("`{name}` is not a cookie name: `{}` is not allowed in one", b as char)),
        None => Ok(()),
    }
}

/// A value the switch puts in or reads from a cookie (a server id, a jvmRoute): printable
/// ASCII without `;`, `,`, spaces, quotes or backslashes (RFC 6265 cookie-octet).
fn cookie_value(value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 64 {
        return Err(format!("`{value}` must be 1 to 64 characters"));
    }
    match value.bytes().find(|&b| !b.is_ascii_graphic() || b";,\"\\".contains(&b)) {
        Some(b) => Err(format!("`{value}`: `{}` cannot be in a cookie value", b as char)),
        None => Ok(()),
    }
}
