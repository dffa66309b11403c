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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum Name {
    /// A DNS name, lower-cased, possibly a `*.` wildcard.
    Dns(String),
    Ip(IpAddr),
    Email(String),
    Uri(String),
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
            return Err(invalid(
                input,
                "it is not ASCII; write internationalized domain names in their punycode (xn--) form",
            ));
        }
        let bracketless = input
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(input);
        if let Ok(ip) = bracketless.parse::<IpAddr>() {
            return Ok(Name::Ip(ip));
        }
        // A URI needs "scheme://" (or "urn:"), so that "host:8080" is not
        // mistaken for one.
        if let Some((scheme, rest)) = input.split_once(':')
            && is_uri_scheme(scheme)
            && (rest.len() > 2 && rest.starts_with("//") || scheme.eq_ignore_ascii_case("urn"))
        {
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
    pub fn dir_name(&self) -> String {
        let s = self.to_string().replace('*', "_wildcard");
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
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

/// Parses every name, refusing duplicates (after normalisation).
pub fn parse_all<S: AsRef<str>>(inputs: &[S]) -> Result<Vec<Name>> {
    let mut names: Vec<Name> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let name = Name::parse(input.as_ref())?;
        if !names.contains(&name) {
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
            "exämple.test",
            "a@",
            "@example.test",
            "tab\there",
            "a@*.example",
            "localhost:8080",
            "https://",
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
    fn duplicates_collapse() {
        let names = parse_all(&["a.test", "A.test", "b.test"]).unwrap();
        assert_eq!(names.len(), 2);
    }
}
