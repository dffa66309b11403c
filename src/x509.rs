//! Small X.509 helpers shared by the root and the leaves: serials, validity
//! windows, time formatting.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

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

/// notBefore and notAfter for a certificate of `days` made at `now`.
pub fn validity_window(now: OffsetDateTime, days: u32) -> (OffsetDateTime, OffsetDateTime) {
    (now - BACKDATE, now + Duration::days(days.into()))
}

/// A random positive serial of 16 bytes: 126 bits of entropy, well over the
/// 64 the CA/Browser Forum requires (BR 7.1). rcgen's default is derived
/// from the public key, so re-issuing for one key would repeat a serial.
pub fn random_serial() -> Result<Vec<u8>> {
    let mut serial = vec![0u8; 16];
    aws_lc_rs::rand::fill(&mut serial)
        .map_err(|_| Error::Crypto("the system random number generator failed".into()))?;
    // Top bit clear: DER INTEGERs are signed, and a serial must be positive.
    // Next bit set: no leading zero byte, so every serial has the same length.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
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
        let (nb, na) = validity_window(now, 10);
        assert_eq!(now - nb, BACKDATE);
        assert_eq!((na - now).whole_days(), 10);
    }
}
