//! Small X.509 helpers shared by the root and the leaves: serials, validity
//! windows, time formatting.

use std::net::IpAddr;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{ExtendedKeyUsage, GeneralName, KeyUsage};

use crate::names::Tagged;

use crate::error::{Error, Result};

/// Now, to the second (X.509 times carry no fractions).
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
}

/// How far notBefore is set back: a certificate used at once on another
/// machine (a VM, a container, a phone) whose clock runs a little behind
/// would otherwise be "not yet valid".
pub const BACKDATE: Duration = Duration::minutes(1);

/// The longest lifetime minica writes: 100 years. X.509 times end in 9999,
/// and no client needs more; beyond it `--days` is a typo, not a wish.
pub const MAX_DAYS: u32 = 36_525;

/// Checks a lifetime in days: 1 to [`MAX_DAYS`].
pub fn check_days(days: u32) -> Result<u32> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(Error::usage(format!(
            "a lifetime of {days} days is out of range: give 1 to {MAX_DAYS} days"
        )))
    }
}

/// notBefore and notAfter for a certificate of `days` made at `now`.
pub fn validity_window(now: OffsetDateTime, days: u32) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let days = check_days(days)?;
    let not_after = now
        .checked_add(Duration::days(days.into()))
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| Error::usage(format!("{days} days from now is past the year 9999")))?;
    Ok((now - BACKDATE, not_after))
}

/// A random positive serial of 16 bytes: 126 bits of entropy, well over the
/// 64 the CA/Browser Forum requires (BR 7.1). rcgen's default is derived
/// from the public key, so re-issuing for one key would repeat a serial.
pub fn random_serial() -> Result<Vec<u8>> {
    let mut serial = vec![0u8; 16];
    crate::rng::fill(&mut serial)?;
    // Top bit clear: DER INTEGERs are signed, and a serial must be positive.
    // Next bit set: no leading zero byte, so every serial has the same length.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

/// A DER element with a short or long length.
pub fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(body);
    out
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC times always format")
}

pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// The date part, for people.
pub fn date(t: OffsetDateTime) -> String {
    rfc3339(t)[..10].to_string()
}

/// Whole days from `now` until `t` (negative once past).
pub fn days_left(t: OffsetDateTime, now: OffsetDateTime) -> i64 {
    (t - now).whole_days()
}

/// An IP address from a subjectAltName entry's OCTET STRING (4 or 16 bytes).
pub fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// An address range from a name constraint's OCTET STRING: the address,
/// then its mask (8 or 32 bytes). Returns the address and prefix length.
pub fn ip_range_from_bytes(b: &[u8]) -> Option<(IpAddr, u8)> {
    if b.len() != 8 && b.len() != 32 {
        return None;
    }
    let (addr, mask) = b.split_at(b.len() / 2);
    let len = mask.iter().map(|m| m.count_ones()).sum::<u32>() as u8;
    Some((ip_from_bytes(addr)?, len))
}

/// A general name as text, in OpenSSL's spelling: DNS:, IP:, email:, URI:.
pub fn general_name(n: &GeneralName<'_>) -> String {
    tagged(n).to_string()
}

/// A general name as `--json` shows names (see [`Tagged`]).
pub fn tagged(n: &GeneralName<'_>) -> Tagged {
    match n {
        GeneralName::DNSName(d) => Tagged::new("dns", *d),
        GeneralName::RFC822Name(e) => Tagged::new("email", *e),
        GeneralName::URI(u) => Tagged::new("uri", *u),
        GeneralName::IPAddress(b) => Tagged::new(
            "ip",
            match (ip_from_bytes(b), ip_range_from_bytes(b)) {
                (Some(ip), _) => ip.to_string(),
                (None, Some((ip, len))) => format!("{ip}/{len}"),
                (None, None) => "?".into(),
            },
        ),
        GeneralName::DirectoryName(d) => Tagged::new("dirname", d.to_string()),
        GeneralName::RegisteredID(o) => Tagged::new("registered_id", o.to_id_string()),
        other => Tagged::new("other", format!("{other}")),
    }
}

/// Key usage bits by their RFC 5280 names, spelled as profiles spell them
/// (templates/*.toml: digitalSignature, keyEncipherment), not as
/// x509-parser prints them ("Digital Signature").
pub fn key_usage_names(ku: &KeyUsage) -> Vec<&'static str> {
    [
        (ku.digital_signature(), "digitalSignature"),
        (ku.non_repudiation(), "contentCommitment"),
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ]
    .into_iter()
    .filter_map(|(on, n)| on.then_some(n))
    .collect()
}

/// Extended key usages by their RFC 5280 names; others by OID.
pub fn eku_names(e: &ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut names: Vec<String> = [
        (e.any, "anyExtendedKeyUsage"),
        (e.server_auth, "serverAuth"),
        (e.client_auth, "clientAuth"),
        (e.code_signing, "codeSigning"),
        (e.email_protection, "emailProtection"),
        (e.time_stamping, "timeStamping"),
        (e.ocsp_signing, "OCSPSigning"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| n.to_string())
    .collect();
    names.extend(e.other.iter().map(|o| o.to_id_string()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_fixed_length_and_distinct() {
        let a = random_serial().unwrap();
        let b = random_serial().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0 && a[0] & 0x40 != 0);
    }

    #[test]
    fn window_is_backdated_and_days_long() {
        let now = now();
        let (nb, na) = validity_window(now, 10).unwrap();
        assert_eq!(now - nb, BACKDATE);
        assert_eq!((na - now).whole_days(), 10);
    }

    #[test]
    fn lifetimes_out_of_range_are_errors_not_panics() {
        let now = now();
        for days in [0, MAX_DAYS + 1, 3_000_000, u32::MAX] {
            assert!(validity_window(now, days).is_err(), "{days} days");
        }
        assert!(validity_window(now, MAX_DAYS).is_ok());
    }
}
