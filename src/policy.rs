//! The CA's policy (`[policy]` in ca.toml): which names, keys and lifetimes
//! it agrees to certify. Checked for every leaf, whether minica made the key
//! or a CSR brought it; a refusal names the rule and the offending value.

use std::path::Path;

use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::config::PolicySection;
use crate::constraints::Permit;
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::Name;

/// Key algorithm names as policy.allowed_keys spells them.
pub const KEY_ALGORITHMS: [&str; 5] = ["rsa", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "ed25519"];

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// What kind of public key a certificate would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// One of KEY_ALGORITHMS, or a description of something else.
    pub algorithm: String,
    pub bits: u32,
    /// An RSA key's public exponent (saturated at u64::MAX); None for
    /// other keys.
    pub rsa_exponent: Option<u64>,
}

/// A key description (`KeyInfo`'s text, "RSA-2048") as `--json` spells
/// key types: lower-case, as `--key-type` takes them.
pub fn type_name(description: &str) -> String {
    description.to_ascii_lowercase()
}

/// Serializes a key description as [`type_name`].
pub fn serialize_type_name<S: serde::Serializer>(
    description: &str,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&type_name(description))
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.algorithm == "rsa" {
            write!(f, "RSA-{}", self.bits)
        } else {
            f.write_str(&self.algorithm)
        }
    }
}

impl KeyInfo {
    /// The type as `--key-type` and `--json` spell it: rsa-2048,
    /// ecdsa-p256, ed25519 (the text for people says "RSA-2048").
    pub fn type_name(&self) -> String {
        type_name(&self.to_string())
    }

    pub fn of_type(k: KeyType) -> KeyInfo {
        let (algorithm, bits) = match k {
            KeyType::EcdsaP256 => ("ecdsa-p256", 256),
            KeyType::EcdsaP384 => ("ecdsa-p384", 384),
            KeyType::Ed25519 => ("ed25519", 256),
            KeyType::Rsa2048 => ("rsa", 2048),
            KeyType::Rsa3072 => ("rsa", 3072),
            KeyType::Rsa4096 => ("rsa", 4096),
        };
        KeyInfo {
            algorithm: algorithm.into(),
            bits,
            // aws-lc (and every mainstream generator) uses F4.
            rsa_exponent: (algorithm == "rsa").then_some(RSA_F4),
        }
    }

    pub fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> KeyInfo {
        let alg = spki.algorithm.algorithm.to_id_string();
        let param = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o| o.to_id_string());
        let mut rsa_exponent = None;
        let (algorithm, bits) = match (alg.as_str(), param.as_deref()) {
            (OID_RSA, _) => {
                let bits = match spki.parsed() {
                    Ok(PublicKey::RSA(rsa)) => {
                        rsa_exponent = Some(exponent_value(rsa.exponent));
                        modulus_bits(rsa.modulus)
                    }
                    _ => {
                        rsa_exponent = Some(0);
                        0
                    }
                };
                ("rsa".to_string(), bits)
            }
            (OID_EC, Some(OID_P256)) => ("ecdsa-p256".into(), 256),
            (OID_EC, Some(OID_P384)) => ("ecdsa-p384".into(), 384),
            (OID_EC, Some(OID_P521)) => ("ecdsa-p521".into(), 521),
            (OID_EC, Some(curve)) => (format!("ECDSA on curve {curve}"), 0),
            (OID_ED25519, _) => ("ed25519".into(), 256),
            (other, _) => (format!("a key of algorithm {other}"), 0),
        };
        KeyInfo {
            algorithm,
            bits,
            rsa_exponent,
        }
    }
}

/// 65537, the RSA public exponent every mainstream generator uses.
pub const RSA_F4: u64 = 65_537;

/// An RSA exponent (big-endian bytes) as a number, u64::MAX when larger.
fn exponent_value(e: &[u8]) -> u64 {
    let e: &[u8] = match e.iter().position(|b| *b != 0) {
        Some(i) => &e[i..],
        None => return 0,
    };
    if e.len() > 8 {
        return u64::MAX;
    }
    e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Bits in an RSA modulus (big-endian, maybe with leading zero bytes).
fn modulus_bits(m: &[u8]) -> u32 {
    let m: &[u8] = match m.iter().position(|b| *b != 0) {
        Some(i) => &m[i..],
        None => return 0,
    };
    (m.len() as u32 - 1) * 8 + (8 - m[0].leading_zeros())
}

pub struct Policy<'a> {
    pub rules: &'a PolicySection,
    /// ca.toml, for messages.
    pub file: &'a Path,
}

impl Policy<'_> {
    fn refuse(&self, rule: &str, what: String) -> Error {
        Error::Refused(format!("{what} (policy.{rule} in {})", self.file.display()))
    }

    pub fn check_key(&self, key: &KeyInfo) -> Result<()> {
        if !self.rules.allowed_keys.contains(&key.algorithm) {
            return Err(self.refuse(
                "allowed_keys",
                format!(
                    "{key} is not an accepted key type (accepted: {})",
                    self.rules.allowed_keys.join(", ")
                ),
            ));
        }
        if let Some(e) = key.rsa_exponent
            && !self.rules.rsa_exponents.contains(&e)
        {
            // e = 3 is the exponent of Bleichenbacher's 2006 signature
            // forgery and of cube-root attacks on unpadded messages; CA/B
            // Forum BR 6.1.6 and NIST SP 800-89 demand e ≥ 65537.
            let shown = if e == u64::MAX {
                "more than 64 bits long".to_string()
            } else {
                e.to_string()
            };
            let accepted: Vec<String> = self
                .rules
                .rsa_exponents
                .iter()
                .map(u64::to_string)
                .collect();
            return Err(self.refuse(
                "rsa_exponents",
                format!(
                    "the RSA key's public exponent is {shown}; this CA accepts only {} (make the key again with the default exponent)",
                    accepted.join(", ")
                ),
            ));
        }
        if key.algorithm == "rsa" && key.bits < self.rules.min_rsa_bits {
            return Err(self.refuse(
                "min_rsa_bits",
                format!(
                    "the key is {key}, weaker than the {} bits required",
                    self.rules.min_rsa_bits
                ),
            ));
        }
        Ok(())
    }

    /// Every name, emails and URIs included, must fall under an entry of
    /// policy.names of its own form ("@corp.test", "spiffe://cluster.test").
    pub fn check_name(&self, name: &Name) -> Result<()> {
        if self.rules.names.is_empty() {
            return Ok(());
        }
        let covered = self
            .rules
            .names
            .iter()
            .filter_map(|p| Permit::parse(p).ok())
            .any(|p| p.covers(name) == Some(true));
        if covered {
            return Ok(());
        }
        Err(self.refuse(
            "names",
            format!(
                "{name} is not a name this CA certifies (allowed: {})",
                self.rules.names.join(", ")
            ),
        ))
    }

    pub fn check_days(&self, days: u32) -> Result<()> {
        match self.rules.max_days {
            Some(max) if days > max => Err(self.refuse(
                "max_days",
                format!("{days} days is longer than the {max} days allowed"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PolicySection {
        PolicySection {
            names: vec![".test".into(), "10.0.0.0/8".into()],
            max_days: Some(90),
            ..PolicySection::default()
        }
    }

    #[test]
    fn names_keys_and_days() {
        let r = rules();
        let p = Policy {
            rules: &r,
            file: Path::new("/ca/ca.toml"),
        };
        assert!(p.check_name(&Name::parse("a.test").unwrap()).is_ok());
        assert!(p.check_name(&Name::parse("10.1.1.1").unwrap()).is_ok());
        let e = p
            .check_name(&Name::parse("a.example").unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("policy.names in /ca/ca.toml"), "{e}");
        assert!(p.check_name(&Name::parse("192.168.0.1").unwrap()).is_err());
        // Emails and URIs need entries of their own form.
        assert!(p.check_name(&Name::parse("a@x.test").unwrap()).is_err());
        assert!(
            p.check_name(&Name::parse("spiffe://x.test/a").unwrap())
                .is_err()
        );
        let r2 = PolicySection {
            names: vec!["@corp.test".into(), "spiffe://cluster.test".into()],
            ..PolicySection::default()
        };
        let p2 = Policy {
            rules: &r2,
            file: Path::new("/ca/ca.toml"),
        };
        assert!(p2.check_name(&Name::parse("a@corp.test").unwrap()).is_ok());
        assert!(p2.check_name(&Name::parse("a@gmail.com").unwrap()).is_err());
        assert!(
            p2.check_name(&Name::parse("spiffe://cluster.test/a").unwrap())
                .is_ok()
        );
        assert!(
            p2.check_name(&Name::parse("spiffe://evil.test/a").unwrap())
                .is_err()
        );
        assert!(
            p2.check_name(&Name::parse("https://cluster.test/a").unwrap())
                .is_err()
        );
        assert!(p.check_key(&KeyInfo::of_type(KeyType::Rsa2048)).is_ok());
        let weak = KeyInfo {
            algorithm: "rsa".into(),
            bits: 1024,
            rsa_exponent: Some(RSA_F4),
        };
        assert!(
            p.check_key(&weak)
                .unwrap_err()
                .to_string()
                .contains("RSA-1024")
        );
        let p521 = KeyInfo {
            algorithm: "ecdsa-p521".into(),
            bits: 521,
            rsa_exponent: None,
        };
        assert!(p.check_key(&p521).is_err());
        assert!(p.check_days(90).is_ok());
        assert!(p.check_days(91).is_err());
    }

    #[test]
    fn rsa_exponents_other_than_f4_are_refused() {
        let r = rules();
        let p = Policy {
            rules: &r,
            file: Path::new("/ca/ca.toml"),
        };
        let key = |e| KeyInfo {
            algorithm: "rsa".into(),
            bits: 2048,
            rsa_exponent: Some(e),
        };
        assert!(p.check_key(&key(RSA_F4)).is_ok());
        for e in [3, 17, 0, u64::MAX] {
            let err = p.check_key(&key(e)).unwrap_err().to_string();
            assert!(err.contains("policy.rsa_exponents"), "{err}");
        }
        let lax = PolicySection {
            rsa_exponents: vec![3, RSA_F4],
            ..PolicySection::default()
        };
        let p = Policy {
            rules: &lax,
            file: Path::new("/ca/ca.toml"),
        };
        assert!(p.check_key(&key(3)).is_ok());
        assert_eq!(exponent_value(&[0, 1, 0, 1]), RSA_F4);
        assert_eq!(exponent_value(&[1; 9]), u64::MAX);
    }

    #[test]
    fn modulus_bits_ignores_leading_zeros() {
        assert_eq!(modulus_bits(&[0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0]), 9);
        assert_eq!(modulus_bits(&[]), 0);
    }
}
