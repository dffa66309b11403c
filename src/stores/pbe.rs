//! Password-based encryption of PKCS#12 safes and key bags: PBES2 (RFC
//! 8018; PBKDF2 or scrypt with AES, what OpenSSL 3 and Java 12+ write) and
//! the PKCS#12 PBE schemes of RFC 7292 Appendix C (3DES and 40-bit RC2 with
//! SHA-1, what old macOS, Android and Java 8 read).
//!
//! A scheme is parsed from its AlgorithmIdentifier, and `fresh` gives the
//! same scheme (cipher, KDF, iterations) with a new salt and IV, for
//! re-encrypting a safe after an edit without weakening or changing its
//! protection.

use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use pkcs8::der::{Decode, Encode};
use pkcs8::pkcs5;
use zeroize::Zeroizing;

use super::p12edit::pkcs12_kdf;
use crate::x509::der_tlv as tlv;

/// 1.2.840.113549.1.12.1.3: pbeWithSHAAnd3-KeyTripleDES-CBC.
pub const OID_PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
/// 1.2.840.113549.1.12.1.6: pbeWithSHAAnd40BitRC2-CBC.
pub const OID_PBE_SHA1_RC2_40: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    Tdes,
    Rc2_40,
}

/// One encryption scheme, with its parameters.
#[derive(Debug, Clone)]
pub enum Scheme {
    Pbes2(Box<pkcs5::pbes2::Parameters>),
    Legacy {
        cipher: Legacy,
        salt: Vec<u8>,
        iterations: u32,
    },
}

fn random(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    crate::rng::fill(&mut b).expect("the system random generator");
    b
}

impl Scheme {
    /// PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC: OpenSSL 3's and Java's default.
    pub fn modern(iterations: u32) -> Scheme {
        let salt: [u8; 16] = random(16).try_into().expect("16 bytes");
        let iv: [u8; 16] = random(16).try_into().expect("16 bytes");
        Scheme::Pbes2(Box::new(
            pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(iterations, &salt, iv)
                .expect("valid PBKDF2 parameters"),
        ))
    }

    pub fn legacy(cipher: Legacy, iterations: u32) -> Scheme {
        Scheme::Legacy {
            cipher,
            salt: random(8),
            iterations,
        }
    }

    /// The scheme an AlgorithmIdentifier (DER) names; None if unknown.
    pub fn parse(alg: &[u8]) -> Option<Scheme> {
        if let Ok(pkcs5::EncryptionScheme::Pbes2(p)) = pkcs5::EncryptionScheme::from_der(alg) {
            return Some(Scheme::Pbes2(Box::new(p)));
        }
        let fields = super::pkcs12::tlvs(alg)?;
        let seq = super::pkcs12::tlvs(fields.first()?.content)?;
        let [oid, params] = seq.as_slice() else {
            return None;
        };
        let cipher = match oid.content {
            OID_PBE_SHA1_3DES => Legacy::Tdes,
            OID_PBE_SHA1_RC2_40 => Legacy::Rc2_40,
            _ => return None,
        };
        let p = super::pkcs12::tlvs(params.content)?;
        let [salt, iter] = p.as_slice() else {
            return None;
        };
        Some(Scheme::Legacy {
            cipher,
            salt: salt.content.to_vec(),
            iterations: u32::try_from(super::pkcs12::uint(iter)?).ok()?,
        })
    }

    /// The AlgorithmIdentifier, DER.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Scheme::Pbes2(p) => pkcs5::EncryptionScheme::Pbes2((**p).clone())
                .to_der()
                .expect("PBES2 parameters encode"),
            Scheme::Legacy {
                cipher,
                salt,
                iterations,
            } => {
                let oid = match cipher {
                    Legacy::Tdes => OID_PBE_SHA1_3DES,
                    Legacy::Rc2_40 => OID_PBE_SHA1_RC2_40,
                };
                let mut params = tlv(0x04, salt);
                params.extend(tlv(0x02, &uint_bytes(*iterations)));
                let mut b = tlv(0x06, oid);
                b.extend(tlv(0x30, &params));
                tlv(0x30, &b)
            }
        }
    }

    /// The same scheme with a new salt and IV.
    pub fn fresh(&self) -> Scheme {
        match self {
            Scheme::Pbes2(p) => {
                let mut p = (**p).clone();
                if let pkcs5::pbes2::Kdf::Pbkdf2(k) = &mut p.kdf
                    && let Ok(s) = pkcs5::pbes2::Salt::new(random(16))
                {
                    k.salt = s;
                }
                if let pkcs5::pbes2::Kdf::Scrypt(k) = &mut p.kdf
                    && let Ok(s) = pkcs5::pbes2::Salt::new(random(16))
                {
                    k.salt = s;
                }
                use pkcs5::pbes2::EncryptionScheme as E;
                p.encryption = match p.encryption {
                    E::Aes128Cbc { .. } => E::Aes128Cbc {
                        iv: random(16).try_into().expect("16"),
                    },
                    E::Aes192Cbc { .. } => E::Aes192Cbc {
                        iv: random(16).try_into().expect("16"),
                    },
                    E::Aes256Cbc { .. } => E::Aes256Cbc {
                        iv: random(16).try_into().expect("16"),
                    },
                    other => other,
                };
                Scheme::Pbes2(Box::new(p))
            }
            Scheme::Legacy {
                cipher, iterations, ..
            } => Scheme::legacy(*cipher, *iterations),
        }
    }

    /// What deriving its key costs: (iterations, or N·r·p for scrypt; and
    /// the memory scrypt asks for, in bytes).
    pub fn work(&self) -> (u64, u64) {
        match self {
            Scheme::Pbes2(p) => match &p.kdf {
                pkcs5::pbes2::Kdf::Pbkdf2(k) => (u64::from(k.iteration_count), 0),
                pkcs5::pbes2::Kdf::Scrypt(k) => {
                    let (n, r, par) = (
                        k.cost_parameter,
                        u64::from(k.block_size),
                        u64::from(k.parallelization),
                    );
                    (
                        n.saturating_mul(r).saturating_mul(par),
                        n.saturating_mul(128).saturating_mul(r),
                    )
                }
                // A KDF pkcs5 adds later: count it as over any budget.
                _ => (u64::MAX, 0),
            },
            Scheme::Legacy { iterations, .. } => (u64::from(*iterations), 0),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Scheme::Pbes2(_) => "PBES2",
            Scheme::Legacy {
                cipher: Legacy::Tdes,
                ..
            } => "PBE-SHA1-3DES",
            Scheme::Legacy {
                cipher: Legacy::Rc2_40,
                ..
            } => "PBE-SHA1-RC2-40",
        }
    }

    pub fn decrypt(&self, password: &str, data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            // PKCS#12 gives PBES2 the password as UTF-8 (RFC 9579 2; what
            // OpenSSL and Java do).
            Scheme::Pbes2(p) => p
                .decrypt(password.as_bytes(), data)
                .ok()
                .map(Zeroizing::new),
            Scheme::Legacy {
                cipher,
                salt,
                iterations,
            } => {
                let (key, iv) = legacy_key_iv(*cipher, password, salt, *iterations);
                let out = match cipher {
                    Legacy::Tdes => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                        .ok()?
                        .decrypt_padded_vec::<Pkcs7>(data)
                        .ok()?,
                    Legacy::Rc2_40 => cbc::Decryptor::<rc2::Rc2>::new_from_slices(&key, &iv)
                        .ok()?
                        .decrypt_padded_vec::<Pkcs7>(data)
                        .ok()?,
                };
                Some(Zeroizing::new(out))
            }
        }
    }

    pub fn encrypt(&self, password: &str, data: &[u8]) -> Vec<u8> {
        match self {
            Scheme::Pbes2(p) => p
                .encrypt(password.as_bytes(), data)
                .expect("PBES2 encryption with valid parameters"),
            Scheme::Legacy {
                cipher,
                salt,
                iterations,
            } => {
                let (key, iv) = legacy_key_iv(*cipher, password, salt, *iterations);
                match cipher {
                    Legacy::Tdes => cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                        .expect("24-byte key, 8-byte IV")
                        .encrypt_padded_vec::<Pkcs7>(data),
                    Legacy::Rc2_40 => cbc::Encryptor::<rc2::Rc2>::new_from_slices(&key, &iv)
                        .expect("5-byte key, 8-byte IV")
                        .encrypt_padded_vec::<Pkcs7>(data),
                }
            }
        }
    }
}

/// RFC 7292 B.2 with SHA-1: the key (ID 1) and the IV (ID 2).
fn legacy_key_iv(
    cipher: Legacy,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> (Zeroizing<Vec<u8>>, Vec<u8>) {
    let alg = &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY;
    let len = match cipher {
        Legacy::Tdes => 24,
        Legacy::Rc2_40 => 5,
    };
    let key = pkcs12_kdf(alg, password, salt, u64::from(iterations), 1, len);
    let iv = pkcs12_kdf(alg, password, salt, u64::from(iterations), 2, 8);
    (Zeroizing::new(key), iv)
}

/// An INTEGER's content octets for a non-negative value.
pub fn uint_bytes(n: u32) -> Vec<u8> {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(3);
    let mut out = b[skip..].to_vec();
    if out[0] & 0x80 != 0 {
        out.insert(0, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme_round_trips_and_survives_its_own_encoding() {
        for s in [
            Scheme::modern(2048),
            Scheme::legacy(Legacy::Tdes, 2048),
            Scheme::legacy(Legacy::Rc2_40, 2048),
        ] {
            let ct = s.encrypt("pässword", b"some secret bytes");
            let parsed = Scheme::parse(&s.to_der()).unwrap();
            assert_eq!(
                &*parsed.decrypt("pässword", &ct).unwrap(),
                b"some secret bytes"
            );
            assert!(
                parsed
                    .decrypt("wrong", &ct)
                    .is_none_or(|p| &*p != b"some secret bytes")
            );
            let f = s.fresh();
            assert_ne!(f.to_der(), s.to_der(), "a fresh salt");
            assert_eq!(f.describe(), s.describe());
        }
    }
}
