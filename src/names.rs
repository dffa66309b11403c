//! Names a certificate is for, told apart by their form: DNS names (and `*.`
//! wildcards), IPv4 and IPv6 addresses, email addresses, and URIs.
//!
//! Every name goes into the subjectAltName: browsers and rustls ignore the
//! CommonName (RFC 6125 §6.4.4, Chrome since 58), so a certificate without a
//! SAN is useless for TLS.

use std::fmt;
use std::net::IpAddr;

use rcgen::SanType;
use serde::Serialize;

use crate::error::{Error, Result};

/// The most names one certificate may carry. Browsers and CAs stay far
/// below (Let's Encrypt: 100); the cap bounds the work and the size of what
/// a CSR or a command line can make minica sign.
pub const MAX_NAMES: usize = 1000;

/// The longest directory name `dir_name` produces, in bytes: Linux, macOS
/// and Windows allow 255 per path component; longer names are shortened
/// and made unique with a hash.
pub const MAX_DIR_NAME: usize = 120;

/// A name minica made or was asked for. It serializes as a [`Tagged`]
/// name, like every name `--json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Name {
    /// A DNS name, lower-cased, possibly a `*.` wildcard.
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
}

/// A name as `--json` prints it everywhere, whatever it was read from (a
/// [`Name`], a certificate's subjectAltName or name constraints, a CSR, a
/// record line): `{"type": "dns", "value": "a.test"}`. Issue #17 found
/// three shapes (this one, plain strings and OpenSSL's "DNS:a.test"); this
/// is the one. Types: dns, ip (an address, or address/prefix in a name
/// constraint), email, uri, dirname, registered_id, other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Tagged {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: String,
}

impl Tagged {
    pub fn new(kind: &'static str, value: impl Into<String>) -> Tagged {
        Tagged {
            kind,
            value: value.into(),
        }
    }

    /// A name kept as text (the record, `revoke`): classified by its form as
    /// `minica issue` would; text that is no name minica makes is "other".
    pub fn from_text(s: &str) -> Tagged {
        match Name::parse(s) {
            Ok(n) => Tagged::from(&n),
            Err(_) => Tagged::new("other", s),
        }
    }
}

impl From<&Name> for Tagged {
    fn from(n: &Name) -> Tagged {
        let kind = match n {
            Name::Dns(_) => "dns",
            Name::Ip(_) => "ip",
            Name::Email(_) => "email",
            Name::Uri(_) => "uri",
        };
        Tagged::new(kind, n.to_string())
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Tagged::from(self).serialize(s)
    }
}

/// For people: OpenSSL's spelling (DNS:a.test, IP:127.0.0.1, email:, URI:).
impl fmt::Display for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.kind {
            "dns" => "DNS",
            "ip" => "IP",
            "email" => "email",
            "uri" => "URI",
            "dirname" => "DirName",
            "registered_id" => "RID",
            _ => return f.write_str(&self.value),
        };
        write!(f, "{prefix}:{}", self.value)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Dns(s) | Name::Email(s) | Name::Uri(s) => f.write_str(s),
            Name::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidName {
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The punycode form of a Unicode host name; None for anything else.
fn to_a_label(input: &str) -> Option<String> {
    if input.contains(['@', ':', '/', '[']) {
        return None;
    }
    let (wildcard, host) = match input.strip_prefix("*.") {
        Some(h) => ("*.", h),
        None => ("", input),
    };
    let ascii = idna::domain_to_ascii(host).ok()?;
    (ascii.is_ascii() && !ascii.is_empty()).then(|| format!("{wildcard}{ascii}"))
}

/// For each name given in Unicode, "unicode (written as a-label)": what
/// the certificate holds is not what was typed, so both are shown.
pub fn converted<S: AsRef<str>>(inputs: &[S]) -> Vec<String> {
    inputs
        .iter()
        .map(AsRef::as_ref)
        .filter(|i| !i.is_ascii())
        .filter_map(|i| to_a_label(i).map(|a| format!("{i} is written as {a} (IDNA)")))
        .collect()
}

impl Name {
    /// Parses one name as given on the command line.
    pub fn parse(input: &str) -> Result<Name> {
        if input.is_empty() {
            return Err(invalid(input, "a name cannot be empty"));
        }
        if let Some(c) = input.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(
                input,
                format!("it contains {c:?}; names cannot hold spaces or control characters"),
            ));
        }
        if !input.is_ascii() {
            // A Unicode host name goes into the certificate as its A-label
            // (RFC 5280 7.2: dNSName holds the punycode form; UTS #46
            // mapping, as browsers do). Emails and URIs stay ASCII-only.
            return match to_a_label(input) {
                Some(ascii) => Name::parse(&ascii),
                None => Err(invalid(
                    input,
                    "it is not ASCII and not an internationalized host name; write emails and URIs in ASCII",
                )),
            };
        }
        let bracketless = input
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(input);
        if let Ok(ip) = bracketless.parse::<IpAddr>() {
            return Ok(Name::Ip(ip));
        }
        // A URI needs "scheme://host" (or "urn:NID:NSS"), so that
        // "host:8080" is not mistaken for one.
        if let Some((scheme, rest)) = input.split_once(':')
            && is_uri_scheme(scheme)
            && (rest.starts_with("//") || scheme.eq_ignore_ascii_case("urn"))
        {
            if scheme.eq_ignore_ascii_case("urn") {
                check_urn(rest).map_err(|why| invalid(input, why))?;
            } else if uri_host(input).is_none() {
                return Err(invalid(
                    input,
                    format!(
                        "a URI needs a host after \"{scheme}://\", as in {scheme}://cluster.test/path"
                    ),
                ));
            }
            return Ok(Name::Uri(input.to_string()));
        }
        if let Some((local, domain)) = input.rsplit_once('@') {
            if local.is_empty() || local.contains('@') {
                return Err(invalid(
                    input,
                    "an email address needs one @ with text before it",
                ));
            }
            let domain = dns_name(domain).map_err(|reason| {
                invalid(input, format!("the domain part is invalid: {reason}"))
            })?;
            if domain.starts_with('*') {
                return Err(invalid(input, "an email domain cannot be a wildcard"));
            }
            return Ok(Name::Email(format!("{local}@{domain}")));
        }
        dns_name(input)
            .map(Name::Dns)
            .map_err(|reason| invalid(input, reason))
    }

    pub fn to_san(&self) -> Result<SanType> {
        let ia5 = |s: &str| {
            s.to_string()
                .try_into()
                .map_err(|_| invalid(s, "not a valid IA5 string"))
        };
        Ok(match self {
            Name::Dns(s) => SanType::DnsName(ia5(s)?),
            Name::Ip(ip) => SanType::IpAddress(*ip),
            Name::Email(s) => SanType::Rfc822Name(ia5(s)?),
            Name::Uri(s) => SanType::URI(ia5(s)?),
        })
    }

    /// A directory name for this certificate's files: `*` becomes `_wildcard`,
    /// and anything but letters, digits, `.`, `-`, `_` and `@` becomes `_`.
    /// A name longer than MAX_DIR_NAME bytes (a 300-character email or
    /// URI) is cut and given the first 16 hex digits of its SHA-256, so the
    /// directory can be made on any file system and two long names that
    /// share a beginning still get different directories.
    pub fn dir_name(&self) -> String {
        let s = self.to_string().replace('*', "_wildcard");
        let safe: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.len() <= MAX_DIR_NAME {
            return safe;
        }
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
        let hex: String = hash.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // `safe` is ASCII: any byte index is a char boundary.
        format!("{}-{hex}", &safe[..MAX_DIR_NAME - 17])
    }

    /// The host of a URI name (lower-cased), for URI name constraints
    /// (RFC 5280 4.2.1.10 constrains the host part); None for other names
    /// and for URNs, which have no host.
    pub fn uri_host(&self) -> Option<String> {
        match self {
            Name::Uri(u) => uri_host(u),
            _ => None,
        }
    }

    /// The scheme of a URI name, lower-cased.
    pub fn uri_scheme(&self) -> Option<String> {
        match self {
            Name::Uri(u) => u.split_once(':').map(|(s, _)| s.to_ascii_lowercase()),
            _ => None,
        }
    }
}

/// The host of "scheme://[userinfo@]host[:port][/...]", lower-cased, or
/// None when there is none. An IPv6 literal keeps its brackets off.
pub fn uri_host(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// RFC 8141: "urn:" NID ":" NSS, the NID 2 to 32 letters, digits or '-'.
fn check_urn(rest: &str) -> std::result::Result<(), String> {
    let usage = "a URN is urn:NID:NSS, as in urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66";
    let (nid, nss) = rest.split_once(':').ok_or(usage)?;
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !nid.starts_with('-');
    if !nid_ok || nss.is_empty() {
        return Err(usage.into());
    }
    Ok(())
}

fn is_uri_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Validates a DNS name (RFC 1123 host names, `*.` only as the whole leftmost
/// label, the one wildcard form browsers and rustls accept) and lower-cases it.
fn dns_name(input: &str) -> std::result::Result<String, String> {
    let name = input
        .strip_suffix('.')
        .unwrap_or(input)
        .to_ascii_lowercase();
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > 253 {
        return Err("a DNS name is at most 253 characters".into());
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err("it has an empty label (two dots in a row, or a leading dot)".into());
        }
        if label.contains('*') {
            if i != 0 || *label != "*" {
                return Err(
                    "a wildcard must be the whole leftmost label, as in *.example.test".into(),
                );
            }
            if labels.len() < 2 {
                return Err("a wildcard needs a domain after it, as in *.example.test".into());
            }
            continue;
        }
        if label.len() > 63 {
            return Err(format!("the label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "{c:?} is not allowed in a DNS name (letters, digits, '-' and '_' only)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the label {label:?} starts or ends with '-', which DNS forbids"
            ));
        }
    }
    let last = labels[labels.len() - 1];
    if last.chars().all(|c| c.is_ascii_digit()) {
        return Err("it looks like an IP address but is not a valid one".into());
    }
    Ok(name)
}

/// The error for more than MAX_NAMES names.
pub fn too_many(count: usize) -> Error {
    Error::usage(format!(
        "{count} names is more than the {MAX_NAMES} one certificate may carry; split them over several certificates"
    ))
}

/// A subjectAltName entry read from a certificate or CSR, as a name; None
/// for the kinds minica does not issue (directory names, OIDs, others).
pub fn from_general_name(gn: &x509_parser::extensions::GeneralName<'_>) -> Option<Result<Name>> {
    use x509_parser::extensions::GeneralName;
    match gn {
        GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
            Some(Name::parse(s))
        }
        GeneralName::IPAddress(b) => crate::x509::ip_from_bytes(b).map(|ip| Ok(Name::Ip(ip))),
        _ => None,
    }
}

/// Parses every name, dropping duplicates (after normalisation) in one
/// hashed pass, and refusing more than MAX_NAMES.
pub fn parse_all<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Name>> {
    if inputs.len() > MAX_NAMES {
        return Err(too_many(inputs.len()));
    }
    let mut names = Vec::with_capacity(inputs.len());
    let mut seen = std::collections::HashSet::with_capacity(inputs.len());
    for input in inputs {
        let name = Name::parse(input.as_ref())?;
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_told_apart_by_form() {
        assert_eq!(
            Name::parse("Example.TEST.").unwrap(),
            Name::Dns("example.test".into())
        );
        assert_eq!(
            Name::parse("*.example.test").unwrap(),
            Name::Dns("*.example.test".into())
        );
        assert_eq!(
            Name::parse("127.0.0.1").unwrap(),
            Name::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            Name::parse("[::1]").unwrap(),
            Name::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            Name::parse("alice@Example.test").unwrap(),
            Name::Email("alice@example.test".into())
        );
        assert_eq!(
            Name::parse("spiffe://cluster.local/ns/a/sa/b").unwrap(),
            Name::Uri("spiffe://cluster.local/ns/a/sa/b".into())
        );
        assert_eq!(
            Name::parse("localhost").unwrap(),
            Name::Dns("localhost".into())
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "exa mple",
            "*.*.example",
            "a\0b",
            "foo*.example",
            "*",
            "a..b",
            ".example",
            "-a.example",
            "a-.example",
            "1.2.3",
            "a@",
            "@example.test",
            "tab\there",
            "a@*.example",
            "localhost:8080",
            "https://",
            "urn:",
            "urn:x",
            "urn:uuid:",
            "https:///path",
            "spiffe://@/x",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long_label = format!("{}.test", "a".repeat(64));
        assert!(Name::parse(&long_label).is_err());
    }

    #[test]
    fn dir_names_are_safe() {
        assert_eq!(
            Name::parse("*.example.test").unwrap().dir_name(),
            "_wildcard.example.test"
        );
        assert_eq!(Name::parse("::1").unwrap().dir_name(), "__1");
        assert_eq!(
            Name::parse("https://a.test/x").unwrap().dir_name(),
            "https___a.test_x"
        );
    }

    #[test]
    fn long_names_get_short_unique_dirs() {
        let a = Name::parse(&format!("{}@corp.test", "a".repeat(60)))
            .unwrap()
            .dir_name();
        assert!(a.len() <= MAX_DIR_NAME, "{a}");
        let long = |c: &str| {
            Name::parse(&format!("https://x.test/{}{c}", "p".repeat(290)))
                .unwrap()
                .dir_name()
        };
        let (x, y) = (long("x"), long("y"));
        assert!(x.len() <= MAX_DIR_NAME && y.len() <= MAX_DIR_NAME, "{x}");
        assert_ne!(x, y);
        assert!(x.starts_with("https___x.test_ppp"), "{x}");
    }

    #[test]
    fn uri_hosts() {
        let h = |s: &str| Name::parse(s).unwrap().uri_host();
        assert_eq!(
            h("spiffe://Cluster.test/ns/a").as_deref(),
            Some("cluster.test")
        );
        assert_eq!(h("https://u@a.test:8443/x?q").as_deref(), Some("a.test"));
        assert_eq!(h("https://[::1]:8443/").as_deref(), Some("::1"));
        assert_eq!(h("urn:uuid:1234"), None);
    }

    #[test]
    fn too_many_names_are_refused_quickly() {
        let many: Vec<String> = (0..MAX_NAMES + 1).map(|i| format!("n{i}.test")).collect();
        assert!(parse_all(&many).is_err());
        let dupes: Vec<String> = (0..MAX_NAMES).map(|i| format!("n{}.test", i % 7)).collect();
        assert_eq!(parse_all(&dupes).unwrap().len(), 7);
    }

    #[test]
    fn duplicates_collapse() {
        let names = parse_all(&["a.test", "A.test", "b.test"]).unwrap();
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn unicode_host_names_become_a_labels() {
        let n = Name::parse("bücher.test").unwrap();
        assert_eq!(n.to_string(), "xn--bcher-kva.test");
        let w = Name::parse("*.bücher.test").unwrap();
        assert_eq!(w.to_string(), "*.xn--bcher-kva.test");
        // UTS #46 maps case as browsers do.
        assert_eq!(
            Name::parse("BÜCHER.test").unwrap().to_string(),
            "xn--bcher-kva.test"
        );
        for bad in [
            "ü@corp.test",
            "spiffe://bü.test/x",
            "bü cher.test",
            "a\u{202e}.test",
        ] {
            assert!(Name::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            converted(&["bücher.test", "plain.test"]),
            ["bücher.test is written as xn--bcher-kva.test (IDNA)"]
        );
    }
}
