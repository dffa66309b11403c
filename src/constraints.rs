//! Name constraints (RFC 5280 §4.2.1.10) on a root: which names it may
//! certify. minica checks a request against them before signing, with the
//! same matching rules verifiers apply, so a refused name never becomes a
//! certificate that clients would reject anyway.
//!
//! Four forms: DNS suffixes, IP ranges, email domains (`@corp.test`, an
//! rfc822Name constraint) and URI hosts (`spiffe://cluster.test`, a URI
//! constraint on the host part; the scheme cannot be encoded, so minica
//! enforces it only where it knows it: `policy.names` and the `permit`
//! list of ca.toml). Who enforces what, checked in their sources:
//! OpenSSL 3.0 (crypto/x509/v3_ncons.c nc_email, nc_uri) and Go enforce
//! email and URI constraints; rustls-webpki 0.103 (subject_name/mod.rs)
//! does not implement them and fails closed: under a root with email or
//! URI constraints it rejects every leaf that carries a name of that form,
//! matching or not.

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
    /// An rfc822Name constraint as RFC 5280 writes it: "corp.test" (every
    /// mailbox at that host), ".corp.test" (at any host below it), or
    /// "alice@corp.test" (that mailbox). Given as "@corp.test",
    /// "@.corp.test" or "alice@corp.test".
    Email(String),
    /// A URI constraint on the host ("cluster.test", or ".cluster.test"
    /// for hosts below it), and the scheme when minica knows it.
    Uri {
        scheme: Option<String>,
        host: String,
    },
}

impl fmt::Display for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permit::Dns(s) => f.write_str(s),
            Permit::Ip(ip, len) => write!(f, "{ip}/{len}"),
            Permit::Email(e) if e.contains('@') => f.write_str(e),
            Permit::Email(e) => write!(f, "@{e}"),
            Permit::Uri { scheme, host } => {
                write!(f, "{}://{host}", scheme.as_deref().unwrap_or("*"))
            }
        }
    }
}

impl Permit {
    pub fn parse(input: &str) -> Result<Permit> {
        let bad = |why: &str| {
            Error::usage(format!(
                "invalid name constraint {input:?}: {why} (use a DNS suffix like .test or example.test, a CIDR range like 127.0.0.0/8, an email domain like @corp.test, or a URI scheme and host like spiffe://cluster.test)"
            ))
        };
        // A domain "example.test" or ".test", lower-cased.
        let domain = |d: &str| -> Result<String> {
            let (dot, rest) = match d.strip_prefix('.') {
                Some(rest) => (".", rest),
                None => ("", d),
            };
            match Name::parse(rest) {
                Ok(Name::Dns(d)) if !d.contains('*') => Ok(format!("{dot}{d}")),
                _ => Err(bad("not a DNS name")),
            }
        };
        if let Some((scheme, rest)) = input.split_once("://") {
            let scheme_ok = scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if !scheme_ok {
                return Err(bad("not a URI scheme before ://"));
            }
            let host = rest.strip_suffix('/').unwrap_or(rest);
            if host.contains(['/', '@', ':', '?', '#']) {
                return Err(bad(
                    "a URI constraint is a scheme and a host only (RFC 5280 constrains the host), as in spiffe://cluster.test",
                ));
            }
            return Ok(Permit::Uri {
                scheme: Some(scheme.to_ascii_lowercase()),
                host: domain(host)?,
            });
        }
        if let Some((local, host)) = input.rsplit_once('@') {
            if local.is_empty() {
                return Ok(Permit::Email(domain(host)?));
            }
            return match Name::parse(input) {
                Ok(Name::Email(e)) => Ok(Permit::Email(e)),
                _ => Err(bad("not an email address or @domain")),
            };
        }
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
        domain(input).map(Permit::Dns)
    }

    /// Whether `name` falls under this entry; None when it is another kind
    /// of name (an IP address against a DNS suffix).
    pub fn covers(&self, name: &Name) -> Option<bool> {
        match (self, name) {
            (Permit::Dns(c), Name::Dns(d)) => Some(dns_matches(c, d)),
            (Permit::Ip(net, len), Name::Ip(ip)) => {
                Some(net.is_ipv4() == ip.is_ipv4() && mask(*ip, *len) == *net)
            }
            (Permit::Email(c), Name::Email(addr)) => Some(email_matches(c, addr)),
            (Permit::Uri { scheme, host }, Name::Uri(_)) => {
                // A URN has no host: OpenSSL refuses it under URI constraints.
                let Some(h) = name.uri_host() else {
                    return Some(false);
                };
                let scheme_ok = scheme
                    .as_deref()
                    .is_none_or(|s| name.uri_scheme().as_deref() == Some(s));
                Some(scheme_ok && host_matches(host, &h))
            }
            _ => None,
        }
    }

    /// The rcgen form; None for a URI constraint, which rcgen 0.14 cannot
    /// encode (see `Constraints::to_custom_extension`).
    fn to_subtree(&self) -> Option<GeneralSubtree> {
        Some(match self {
            Permit::Dns(d) => GeneralSubtree::DnsName(dns_constraint(d).to_string()),
            Permit::Ip(ip, len) => {
                GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *len))
            }
            Permit::Email(e) => GeneralSubtree::Rfc822Name(e.clone()),
            Permit::Uri { .. } => return None,
        })
    }

    /// The GeneralName of this subtree's base, DER.
    fn general_name_der(&self) -> Vec<u8> {
        match self {
            Permit::Dns(d) => tlv(0x82, dns_constraint(d).as_bytes()),
            Permit::Email(e) => tlv(0x81, e.as_bytes()),
            Permit::Uri { host, .. } => tlv(0x86, host.as_bytes()),
            Permit::Ip(ip, len) => {
                let mut body = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                let width = body.len() * 8;
                let all = (0..width).map(|i| i < usize::from(*len));
                let mut maskb = vec![0u8; body.len()];
                for (i, set) in all.enumerate() {
                    if set {
                        maskb[i / 8] |= 0x80 >> (i % 8);
                    }
                }
                body.extend(maskb);
                tlv(0x87, &body)
            }
        }
    }
}

use crate::x509::der_tlv as tlv;

/// RFC 5280 rfc822Name matching, as OpenSSL's nc_email does it: a mailbox
/// constraint matches that mailbox (local part exact, host any case); a
/// host matches every mailbox at that host; ".domain" every host below it.
fn email_matches(constraint: &str, addr: &str) -> bool {
    let Some((local, host)) = addr.rsplit_once('@') else {
        return false;
    };
    match constraint.rsplit_once('@') {
        Some((c_local, c_host)) => c_local == local && c_host.eq_ignore_ascii_case(host),
        None => host_matches(constraint, host),
    }
}

/// "host" matches that host only; ".domain" matches hosts below it.
fn host_matches(constraint: &str, host: &str) -> bool {
    let c = constraint.to_ascii_lowercase();
    let h = host.to_ascii_lowercase();
    if c.starts_with('.') {
        h.ends_with(&c)
    } else {
        h == c
    }
}

/// A DNS name constraint as written into a certificate: without a leading
/// dot. RFC 5280 4.2.1.10 gives the dot a meaning only for URI and email
/// constraints; for DNS names "test" already means "test and every name
/// below it", pkilint flags ".test" as an error, and pyca/cryptography
/// refuses a whole chain that carries it. minica still refuses the bare
/// name itself at issuance when the permit was ".test".
fn dns_constraint(d: &str) -> &str {
    d.trim_start_matches('.')
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

    /// Whether any permit is of the form of `name`.
    fn has_form_of(&self, name: &Name) -> bool {
        self.permitted.iter().any(|p| p.covers(name).is_some())
    }

    /// The nameConstraints extension (OID 2.5.29.30, critical) for every
    /// form, URI constraints included, which rcgen's own `NameConstraints`
    /// cannot encode. Use it in place of `to_rcgen` (not beside it: one
    /// extension per certificate).
    pub fn to_custom_extension(&self) -> Option<rcgen::CustomExtension> {
        if self.is_empty() {
            return None;
        }
        let subtrees = |permits: &[Permit]| -> Vec<u8> {
            permits
                .iter()
                .flat_map(|p| tlv(0x30, &p.general_name_der()))
                .collect()
        };
        let mut body = Vec::new();
        if !self.permitted.is_empty() {
            body.extend(tlv(0xa0, &subtrees(&self.permitted)));
        }
        if self.excludes_all_ips {
            let all = [
                Permit::Ip(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
                Permit::Ip(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0),
            ];
            body.extend(tlv(0xa1, &subtrees(&all)));
        }
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], tlv(0x30, &body));
        ext.set_criticality(true);
        Some(ext)
    }

    /// What verifiers will do with these constraints that a user should
    /// know: rustls (and so `minica verify`) rejects every leaf with an
    /// email or URI name under a root constrained for that form.
    pub fn verifier_warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        let email = self.permitted.iter().any(|p| matches!(p, Permit::Email(_)));
        let uri = self
            .permitted
            .iter()
            .any(|p| matches!(p, Permit::Uri { .. }));
        if email || uri {
            let forms = match (email, uri) {
                (true, true) => "email or URI",
                (true, false) => "email",
                _ => "URI",
            };
            w.push(format!(
                "OpenSSL, Go and Java enforce {forms} name constraints, but rustls-webpki does not implement them and rejects every certificate with an {forms} name under this root, allowed or not"
            ));
        }
        if uri {
            w.push("a URI constraint limits the host only (RFC 5280); the scheme is enforced by minica when it issues, not by verifiers".to_string());
        }
        w
    }

    /// Restores what ca.toml's `permit` list says and the certificate cannot:
    /// the schemes of URI constraints (it holds hosts only), so that minica
    /// refuses `https://cluster.test` under `spiffe://cluster.test`, and the
    /// "below only" dot of DNS constraints.
    pub fn with_schemes(mut self, permits: &[String]) -> Constraints {
        for p in &mut self.permitted {
            // A DNS constraint is written without its dot (see
            // `dns_constraint`); "below only" is what the CA was asked for.
            if let Permit::Dns(d) = p
                && !d.starts_with('.')
                && permits
                    .iter()
                    .any(|q| q.strip_prefix('.') == Some(d.as_str()))
                && !permits.iter().any(|q| q == d)
            {
                *d = format!(".{d}");
            }
            if let Permit::Uri { scheme, host } = p
                && scheme.is_none()
            {
                let schemes: Vec<String> = permits
                    .iter()
                    .filter_map(|s| Permit::parse(s).ok())
                    .filter_map(|q| match q {
                        Permit::Uri {
                            scheme: Some(s),
                            host: h,
                        } if h == *host => Some(s),
                        _ => None,
                    })
                    .collect();
                if let [only] = schemes.as_slice() {
                    *scheme = Some(only.clone());
                }
            }
        }
        self
    }

    /// The rcgen form, for DNS, IP and email constraints. URI constraints
    /// are left out (rcgen 0.14 has no URI subtree): a root with any must be
    /// made with `to_custom_extension`.
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
            permitted_subtrees: self
                .permitted
                .iter()
                .filter_map(Permit::to_subtree)
                .collect(),
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
                    GeneralName::RFC822Name(e) => out.permitted.push(Permit::Email(e.to_string())),
                    GeneralName::URI(h) => out.permitted.push(Permit::Uri {
                        scheme: None,
                        host: h.to_string(),
                    }),
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
        // the other forms. minica is stricter for emails and URIs: a root
        // with constraints certifies them only under a permit of their own
        // form, since no encoding can exclude all of them the way all IP
        // addresses are excluded.
        let verdicts: Vec<bool> = self
            .permitted
            .iter()
            .filter_map(|p| p.covers(name))
            .collect();
        let allowed = match name {
            Name::Ip(_) if verdicts.is_empty() => !self.excludes_all_ips,
            Name::Email(_) | Name::Uri(_) if !self.is_empty() && !self.has_form_of(name) => {
                let (form, example) = match name {
                    Name::Email(_) => ("email addresses", "@corp.test"),
                    _ => ("URIs", "spiffe://cluster.test"),
                };
                return Err(Error::Refused(format!(
                    "{name} is outside the CA's name constraints: it may certify only {}, and no {form} (a CA for them needs `minica init --permit {example}`)",
                    self.permitted_list()
                )));
            }
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
    fn email_and_uri_permits() {
        let cs = c(&[
            ".test",
            "@corp.test",
            "@.mail.test",
            "bob@x.test",
            "spiffe://cluster.test",
        ]);
        assert!(ok(&cs, "alice@corp.test"));
        assert!(ok(&cs, "alice@CORP.test"));
        assert!(
            !ok(&cs, "alice@a.corp.test"),
            "a host constraint is that host only"
        );
        assert!(ok(&cs, "alice@a.mail.test"));
        assert!(!ok(&cs, "alice@mail.test"));
        assert!(ok(&cs, "bob@x.test"));
        assert!(!ok(&cs, "eve@x.test"));
        assert!(!ok(&cs, "alice@gmail.com"));
        assert!(ok(&cs, "spiffe://cluster.test/ns/a/sa/b"));
        assert!(!ok(&cs, "https://cluster.test/"), "the scheme is checked");
        assert!(!ok(&cs, "spiffe://evil.test/ns/a"));
        assert!(!ok(&cs, "urn:uuid:1234"));
        // Only DNS permits: emails and URIs are refused, not waved through.
        let dns = c(&[".test"]);
        assert!(!ok(&dns, "alice@a.test"));
        assert!(!ok(&dns, "spiffe://a.test/x"));
        assert!(ok(&Constraints::default(), "alice@gmail.com"));
        // Read back from the extension, the scheme is unknown until ca.toml adds it.
        let back = Constraints {
            permitted: vec![Permit::Uri {
                scheme: None,
                host: "cluster.test".into(),
            }],
            excludes_all_ips: false,
        };
        assert!(ok(&back, "https://cluster.test/"));
        let back = back.with_schemes(&["spiffe://cluster.test".into()]);
        assert!(!ok(&back, "https://cluster.test/"));
        assert!(ok(&back, "spiffe://cluster.test/x"));
    }

    #[test]
    fn custom_extension_matches_rcgen_and_reads_back() {
        use x509_parser::prelude::FromDer;
        let permits = [".test", "localhost", "10.0.0.0/8", "::1/128", "@corp.test"];
        let cs = c(&permits);
        let key = rcgen::KeyPair::generate().unwrap();
        let mut a = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        a.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut b = a.clone();
        a.name_constraints = cs.to_rcgen();
        b.custom_extensions.push(cs.to_custom_extension().unwrap());
        let (ca, cb) = (a.self_signed(&key).unwrap(), b.self_signed(&key).unwrap());
        let ext = |der: &[u8]| {
            let (_, x) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
            let e = x
                .extensions()
                .iter()
                .find(|e| e.oid.to_id_string() == "2.5.29.30")
                .unwrap();
            (e.critical, e.value.to_vec(), Constraints::from_cert(&x))
        };
        let (ea, eb) = (ext(ca.der()), ext(cb.der()));
        assert_eq!(ea, eb, "same DER as rcgen writes");
        // ".test" is written "test" (RFC 5280 4.2.1.10: no leading dot for DNS).
        assert_eq!(
            ea.2,
            c(&["test", "localhost", "10.0.0.0/8", "::1/128", "@corp.test"])
        );
        assert!(
            ea.1.windows(6).any(|w| w == b"\x82\x04test"),
            "dNSName \"test\""
        );
        let with_uri = c(&["spiffe://cluster.test"]);
        let mut u = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        u.custom_extensions
            .push(with_uri.to_custom_extension().unwrap());
        let back = ext(u.self_signed(&key).unwrap().der()).2;
        assert_eq!(
            back.permitted,
            [Permit::Uri {
                scheme: None,
                host: "cluster.test".into()
            }]
        );
    }

    #[test]
    fn bad_permits() {
        for bad in [
            "",
            "127.0.0.1",
            "10.0.0.0/33",
            "*.test",
            "a b",
            "x/8",
            "@",
            "@*.test",
            "spiffe://",
            "spiffe://a.test/path",
            "://a.test",
            "1x://a.test",
            "a@@b.test",
        ] {
            assert!(Permit::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Permit::parse("10.1.2.3/8").unwrap(),
            Permit::Ip("10.0.0.0".parse().unwrap(), 8)
        );
    }
}
