//! Random bytes, ECDSA/Ed25519 key generation and signing from the
//! operating system's CSPRNG (ring, through getrandom), never from aws-lc's.
//!
//! Why (issue #17 section 4): aws-lc seeds its DRBG from a CPU-jitter
//! entropy collector the first time a process asks it for a random byte,
//! which costs ~38 ms of CPU: four fifths of a `minica issue`. The only way
//! to turn that off is `AWS_LC_SYS_NO_JITTER_ENTROPY=1` when aws-lc-sys is
//! *built* (no Cargo feature, no run-time switch: aws/aws-lc#3180,
//! aws/aws-lc-rs#1140), which a `cargo install` does not get. So the paths
//! that run on every command never ask aws-lc for randomness: random
//! serials, salts and IVs come from `fill`, new ECDSA and Ed25519 keys from
//! `generate_pkcs8`, and signatures (ECDSA draws a nonce; RSA blinding
//! draws too) from `Signer`. aws-lc still parses keys, hashes and verifies,
//! none of which draws. RSA keys are made by src/rsa_keygen.rs on aws-lc's
//! arithmetic (which draws nothing) with bytes from `fill`. Keys
//! ring will not read (SEC1 without the public key, P-521, RSA-PSS) sign
//! through aws-lc as before: correct, just slower to start.

use std::borrow::Borrow;
use std::ops::Deref;

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

/// Fills `buf` from the OS CSPRNG (getrandom(2) on Linux).
pub fn fill(buf: &mut [u8]) -> crate::error::Result<()> {
    SystemRandom::new().fill(buf).map_err(|_| {
        crate::error::Error::Crypto("the system random number generator failed".into())
    })
}

/// A new ECDSA or Ed25519 key as PKCS#8 DER (with its public key, as
/// aws-lc writes it), or None for an algorithm ring does not generate.
pub fn generate_pkcs8(alg: &'static SignatureAlgorithm) -> Option<Vec<u8>> {
    let rng = SystemRandom::new();
    let doc = if alg == &rcgen::PKCS_ED25519 {
        Ed25519KeyPair::generate_pkcs8(&rng)
    } else {
        EcdsaKeyPair::generate_pkcs8(ecdsa_alg(alg)?, &rng)
    };
    doc.ok().map(|d| d.as_ref().to_vec())
}

fn ecdsa_alg(alg: &SignatureAlgorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING)
    } else {
        None
    }
}

fn rsa_padding(alg: &SignatureAlgorithm) -> Option<&'static dyn signature::RsaEncoding> {
    if alg == &rcgen::PKCS_RSA_SHA256 {
        Some(&signature::RSA_PKCS1_SHA256)
    } else if alg == &rcgen::PKCS_RSA_SHA384 {
        Some(&signature::RSA_PKCS1_SHA384)
    } else if alg == &rcgen::PKCS_RSA_SHA512 {
        Some(&signature::RSA_PKCS1_SHA512)
    } else {
        None
    }
}

enum RingKey {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
}

impl RingKey {
    /// The same key in ring, if ring reads it and it is the same public key.
    fn of(key: &KeyPair) -> Option<RingKey> {
        let der = key.serialize_der();
        let alg = key.algorithm();
        let ring = if alg == &rcgen::PKCS_ED25519 {
            RingKey::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).ok()?)
        } else if let Some(padding) = rsa_padding(alg) {
            let pair = RsaKeyPair::from_pkcs8(&der)
                .or_else(|_| RsaKeyPair::from_der(&der))
                .ok()?;
            RingKey::Rsa(pair, padding)
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(ecdsa_alg(alg)?, &der, &SystemRandom::new());
            RingKey::Ecdsa(pair.ok()?)
        };
        let public = match &ring {
            RingKey::Ecdsa(k) => k.public_key().as_ref(),
            RingKey::Ed25519(k) => k.public_key().as_ref(),
            RingKey::Rsa(k, _) => k.public().as_ref(),
        };
        (public == key.der_bytes()).then_some(ring)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let rng = SystemRandom::new();
        match self {
            RingKey::Ecdsa(k) => Ok(k
                .sign(&rng, msg)
                .map_err(|_| rcgen::Error::RingUnspecified)?
                .as_ref()
                .to_vec()),
            RingKey::Ed25519(k) => Ok(k.sign(msg).as_ref().to_vec()),
            RingKey::Rsa(k, padding) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(*padding, &rng, msg, &mut sig)
                    .map_err(|_| rcgen::Error::RingUnspecified)?;
                Ok(sig)
            }
        }
    }
}

/// An rcgen key that signs through ring when ring reads it, else through
/// aws-lc (rcgen's own `KeyPair::sign`). It derefs to the key it wraps.
pub struct Signer<K = KeyPair> {
    key: K,
    // Boxed: ring's key pairs hold their precomputed tables inline.
    ring: Option<Box<RingKey>>,
}

impl<K: Borrow<KeyPair>> Signer<K> {
    pub fn new(key: K) -> Self {
        let ring = RingKey::of(key.borrow()).map(Box::new);
        Signer { key, ring }
    }
}

impl<K> Deref for Signer<K> {
    type Target = K;
    fn deref(&self) -> &K {
        &self.key
    }
}

impl<K: Borrow<KeyPair>> PublicKeyData for Signer<K> {
    fn der_bytes(&self) -> &[u8] {
        self.key.borrow().der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.key.borrow().algorithm()
    }
}

impl<K: Borrow<KeyPair>> SigningKey for Signer<K> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.ring {
            Some(k) => k.sign(msg),
            None => self.key.borrow().sign(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;

    /// Each key type minica makes signs through ring, and aws-lc verifies
    /// the signature against the certificate's public key.
    #[test]
    fn ring_signs_what_aws_lc_verifies() {
        use aws_lc_rs::signature as v;
        let cases: [(KeyType, &dyn v::VerificationAlgorithm); 4] = [
            (KeyType::EcdsaP256, &v::ECDSA_P256_SHA256_ASN1),
            (KeyType::EcdsaP384, &v::ECDSA_P384_SHA384_ASN1),
            (KeyType::Ed25519, &v::ED25519),
            (KeyType::Rsa2048, &v::RSA_PKCS1_2048_8192_SHA256),
        ];
        for (kt, verify) in cases {
            let signer = Signer::new(kt.generate().unwrap());
            assert!(signer.ring.is_some(), "{kt}: ring did not read the key");
            let sig = signer.sign(b"minica").unwrap();
            v::UnparsedPublicKey::new(verify, signer.der_bytes())
                .verify(b"minica", &sig)
                .unwrap_or_else(|_| panic!("{kt}: the signature does not verify"));
        }
    }

    /// A key ring refuses still signs, through aws-lc.
    #[test]
    fn a_key_ring_refuses_signs_through_aws_lc() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let signer = Signer::new(&key);
        assert!(signer.ring.is_none());
        assert!(!signer.sign(b"minica").unwrap().is_empty());
    }
}
