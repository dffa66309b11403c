//! Name constraints (RFC 5280 §4.2.1.10) on a root: which names it may
//! certify. minica checks a request against them before signing, with the
//! same matching rules verifiers apply, so a refused name never becomes a
//! certificate that clients would reject anyway.

use std::fmt;
use std::net::IpAddr;

use rcgen::{CidrSubnet, GeneralSubtree, NameConstraints};
use x509_parser::extensions::{GeneralName, ParsedExtension};

use crate::error::{Error, Result};
use crate::names::Name;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// "example.test" (the domain and below) or ".test" (below only).
    Dns(String),
    /// An address range: network address and prefix length.
    Ip(IpAddr, u8),
}

impl fmt::Display for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permit::Dns(s) => f.write_str(s),
            Permit::Ip(ip, len) => write!(f, "{ip}/{len}"),
        }
    }
}

impl Permit {
    pub fn parse(input: &str) -> Result<Permit> {
        let bad = |why: &str| {
            Error::usage(format!(
                "invalid name constraint {input:?}: {why} (use a DNS suffix like .test or example.test, or a CIDR range like 127.0.0.0/8)"
            ))
        };
        if let Some((addr, len)) = input.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
            let len: u8 = len.parse().map_err(|_| bad("bad prefix length"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if len > max {
                return Err(bad("prefix length too long"));
            }
            return Ok(Permit::Ip(mask(ip, len), len));
        }
        if input.parse::<IpAddr>().is_ok() {
            return Err(bad("an address needs a prefix length"));
        }
        let (dot, rest) = match input.strip_prefix('.') {
            Some(rest) => (".", rest),
            None => ("", input),
        };
        match Name::parse(rest) {
            Ok(Name::Dns(d)) if !d.contains('*') => Ok(Permit::Dns(format!("{dot}{d}"))),
            _ => Err(bad("not a DNS name")),
        }
    }

    /// Whether `name` falls under this entry; None when it is another kind
    /// of name (an IP address against a DNS suffix).
    pub fn covers(&self, name: &Name) -> Option<bool> {
        match (self, name) {
            (Permit::Dns(c), Name::Dns(d)) => Some(dns_matches(c, d)),
            (Permit::Ip(net, len), Name::Ip(ip)) => {
                Some(net.is_ipv4() == ip.is_ipv4() && mask(*ip, *len) == *net)
            }
            _ => None,
        }
    }

    fn to_subtree(&self) -> GeneralSubtree {
        match self {
            Permit::Dns(d) => GeneralSubtree::DnsName(d.clone()),
            Permit::Ip(ip, len) => {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *len))
            }
        }
    }
}

fn mask(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

fn dns_matches(constraint: &str, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let c = constraint.to_ascii_lowercase();
    match c.strip_prefix('.') {
        Some(_) => name.ends_with(&c),
        None => name == c || name.ends_with(&format!(".{c}")),
    }
}

/// The permitted subtrees of a root, as minica writes them: DNS suffixes and
/// IP ranges. With DNS suffixes but no IP range, all IP addresses are
/// excluded, so a root limited to `.test` cannot certify `10.0.0.1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    pub permitted: Vec<Permit>,
    /// Set when every IP address is excluded.
    pub excludes_all_ips: bool,
}

impl Constraints {
    pub fn from_permits(permits: Vec<Permit>) -> Constraints {
        let has_dns = permits.iter().any(|p| matches!(p, Permit::Dns(_)));
        let has_ip = permits.iter().any(|p| matches!(p, Permit::Ip(..)));
        Constraints {
            excludes_all_ips: has_dns && !has_ip,
            permitted: permits,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.permitted.is_empty() && !self.excludes_all_ips
    }

    pub fn has_dns(&self) -> bool {
        self.permitted.iter().any(|p| matches!(p, Permit::Dns(_)))
    }

    pub fn to_rcgen(&self) -> Option<NameConstraints> {
        if self.is_empty() {
            return None;
        }
        let excluded_subtrees = if self.excludes_all_ips {
            vec![
                GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix([0; 4], 0)),
                GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix([0; 16], 0)),
            ]
        } else {
            Vec::new()
        };
        Some(NameConstraints {
            permitted_subtrees: self.permitted.iter().map(Permit::to_subtree).collect(),
            excluded_subtrees,
        })
    }

    /// Reads the constraints of a CA certificate.
    pub fn from_cert(cert: &x509_parser::certificate::X509Certificate<'_>) -> Constraints {
        let mut out = Constraints::default();
        for ext in cert.extensions() {
            let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() else {
                continue;
            };
            for sub in nc.permitted_subtrees.iter().flatten() {
                match &sub.base {
                    GeneralName::DNSName(d) => out.permitted.push(Permit::Dns(d.to_string())),
                    GeneralName::IPAddress(b) => {
                        if let Some(p) = ip_subtree(b) {
                            out.permitted.push(p)
                        }
                    }
                    _ => {}
                }
            }
            for sub in nc.excluded_subtrees.iter().flatten() {
                if let GeneralName::IPAddress(b) = &sub.base
                    && ip_subtree(b).is_some_and(|p| matches!(p, Permit::Ip(_, 0)))
                {
                    out.excludes_all_ips = true;
                }
            }
        }
        out
    }

    /// Checks one name; the error names the constraint it breaks.
    pub fn check(&self, name: &Name) -> Result<()> {
        // RFC 5280: permitted subtrees of one name form say nothing about
        // the other forms. No email or URI subtrees are ever written.
        let verdicts: Vec<bool> = self
            .permitted
            .iter()
            .filter_map(|p| p.covers(name))
            .collect();
        let allowed = match name {
            Name::Ip(_) if verdicts.is_empty() => !self.excludes_all_ips,
            _ => verdicts.is_empty() || verdicts.contains(&true),
        };
        if allowed {
            return Ok(());
        }
        Err(Error::Refused(format!(
            "{name} is outside the CA's name constraints (it may certify only {})",
            self.permitted_list()
        )))
    }

    fn permitted_list(&self) -> String {
        let list: Vec<String> = self.permitted.iter().map(|p| p.to_string()).collect();
        list.join(", ")
    }
}

fn ip_subtree(bytes: &[u8]) -> Option<Permit> {
    crate::x509::ip_range_from_bytes(bytes).map(|(ip, len)| Permit::Ip(ip, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(permits: &[&str]) -> Constraints {
        Constraints::from_permits(permits.iter().map(|p| Permit::parse(p).unwrap()).collect())
    }

    fn ok(c: &Constraints, n: &str) -> bool {
        c.check(&Name::parse(n).unwrap()).is_ok()
    }

    #[test]
    fn dns_suffix_rules() {
        let cs = c(&[".test", "localhost"]);
        assert!(ok(&cs, "a.test"));
        assert!(ok(&cs, "*.a.test"));
        assert!(!ok(&cs, "test"), "a leading dot means below only");
        assert!(ok(&cs, "localhost"));
        assert!(ok(&cs, "x.localhost"));
        assert!(!ok(&cs, "example.com"));
        assert!(!ok(&cs, "nottest"));
        assert!(!ok(&cs, "127.0.0.1"), "DNS-only constraints exclude IPs");
    }

    #[test]
    fn ip_ranges() {
        let cs = c(&["localhost", "127.0.0.0/8", "::1/128"]);
        assert!(ok(&cs, "127.1.2.3"));
        assert!(ok(&cs, "::1"));
        assert!(!ok(&cs, "10.0.0.1"));
        assert!(!ok(&cs, "::2"));
    }

    #[test]
    fn bad_permits() {
        for bad in ["", "127.0.0.1", "10.0.0.0/33", "*.test", "a b", "x/8"] {
            assert!(Permit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Permit::parse("10.1.2.3/8").unwrap(),
            Permit::Ip("10.0.0.0".parse().unwrap(), 8)
        );
    }
}
