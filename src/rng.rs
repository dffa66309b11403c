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
        let ring = RingKey::from_pkcs8(key.algorithm(), &key.serialize_der())?;
        (ring.public() == key.der_bytes()).then_some(ring)
    }

    /// An `alg` key from its PKCS#8 (RSA also from PKCS#1), if ring reads
    /// it. ring checks that an ECDSA key's public half is its private
    /// half's; an Ed25519 key minica writes has no public half (src/keys.rs).
    fn from_pkcs8(alg: &SignatureAlgorithm, der: &[u8]) -> Option<RingKey> {
        let ring = if alg == &rcgen::PKCS_ED25519 {
            RingKey::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).ok()?)
        } else if let Some(padding) = rsa_padding(alg) {
            let pair = RsaKeyPair::from_pkcs8(der)
                .or_else(|_| RsaKeyPair::from_der(der))
                .ok()?;
            RingKey::Rsa(pair, padding)
        } else {
            let pair = EcdsaKeyPair::from_pkcs8(ecdsa_alg(alg)?, der, &SystemRandom::new());
            RingKey::Ecdsa(pair.ok()?)
        };
        Some(ring)
    }

    /// The raw public key, as a certificate carries it.
    fn public(&self) -> &[u8] {
        match self {
            RingKey::Ecdsa(k) => k.public_key().as_ref(),
            RingKey::Ed25519(k) => k.public_key().as_ref(),
            RingKey::Rsa(k, _) => k.public().as_ref(),
        }
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

/// A CA's key read from its file (or just made for one): by ring alone
/// when ring reads it, which is every key minica makes but an RSA one, else
/// by aws-lc through rcgen. ring alone, aws-lc is never started in an
/// `issue` or an `init`: its parse of an EC key recomputes the public half
/// and its first use probes the CPU, which ring does too (perf: 0.07 ms of
/// an `issue`'s 2 ms in `main`, and `init` parsed its new key in both).
pub enum FileKey {
    Ring(RingSigner),
    AwsLc(Signer),
}

impl FileKey {
    /// The key a PKCS#8 document holds, by ring when it reads the algorithm
    /// the document names (`alg`, when known), else by `aws_lc`.
    pub fn from_pkcs8(
        alg: Option<&'static SignatureAlgorithm>,
        der: &[u8],
        aws_lc: impl FnOnce() -> crate::error::Result<KeyPair>,
    ) -> crate::error::Result<FileKey> {
        match alg.and_then(|alg| RingSigner::from_pkcs8(alg, der)) {
            Some(k) => Ok(FileKey::Ring(k)),
            None => Ok(FileKey::AwsLc(Signer::new(aws_lc()?))),
        }
    }

    /// The key as PKCS#8 DER, in the form minica writes (src/keys.rs).
    pub fn pkcs8_der(&self) -> zeroize::Zeroizing<Vec<u8>> {
        match self {
            FileKey::Ring(k) => k.pkcs8.clone(),
            FileKey::AwsLc(k) => zeroize::Zeroizing::new(crate::keys::pkcs8_der(k)),
        }
    }

    /// The key as a "PRIVATE KEY" PEM block.
    pub fn pkcs8_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(match self {
            FileKey::Ring(k) => crate::keys::pem_encode("PRIVATE KEY", k.pkcs8.to_vec()),
            FileKey::AwsLc(k) => crate::keys::pkcs8_pem(k),
        })
    }
}

impl PublicKeyData for FileKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            FileKey::Ring(k) => k.der_bytes(),
            FileKey::AwsLc(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            FileKey::Ring(k) => k.algorithm(),
            FileKey::AwsLc(k) => k.algorithm(),
        }
    }
}

impl SigningKey for FileKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            FileKey::Ring(k) => k.key.sign(msg),
            FileKey::AwsLc(k) => k.sign(msg),
        }
    }
}

/// A key ring read from its PKCS#8, with what rcgen needs of it.
pub struct RingSigner {
    // Boxed: ring's key pairs hold their precomputed tables inline.
    key: Box<RingKey>,
    alg: &'static SignatureAlgorithm,
    public: Vec<u8>,
    /// As minica writes it (an Ed25519 key without its public half).
    pkcs8: zeroize::Zeroizing<Vec<u8>>,
}

impl RingSigner {
    /// `der`, the PKCS#8 of an `alg` key, if ring reads it.
    pub fn from_pkcs8(alg: &'static SignatureAlgorithm, der: &[u8]) -> Option<RingSigner> {
        let key = Box::new(RingKey::from_pkcs8(alg, der)?);
        let public = key.public().to_vec();
        Some(RingSigner {
            key,
            alg,
            public,
            pkcs8: zeroize::Zeroizing::new(crate::keys::widely_read(alg, der.to_vec())),
        })
    }
}

impl PublicKeyData for RingSigner {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
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

    /// A CA key of each type minica makes is kept in ring alone except an
    /// RSA one; either way its signature verifies in aws-lc against its
    /// public half, what it writes aws-lc reads back as the same key, and
    /// read back it is in ring alone again. A key ring refuses (P-521)
    /// falls back to aws-lc.
    #[test]
    fn ca_keys_stay_in_ring_and_write_what_aws_lc_reads() {
        use aws_lc_rs::signature as v;
        let cases: [(KeyType, &dyn v::VerificationAlgorithm); 4] = [
            (KeyType::EcdsaP256, &v::ECDSA_P256_SHA256_ASN1),
            (KeyType::EcdsaP384, &v::ECDSA_P384_SHA384_ASN1),
            (KeyType::Ed25519, &v::ED25519),
            (KeyType::Rsa2048, &v::RSA_PKCS1_2048_8192_SHA256),
        ];
        let path = std::path::Path::new("ca-key.pem");
        for (kt, verify) in cases {
            let key = kt.generate_signing().unwrap();
            let rsa = kt == KeyType::Rsa2048;
            assert_eq!(matches!(key, FileKey::Ring(_)), !rsa, "{kt}");
            let sig = key.sign(b"minica").unwrap();
            v::UnparsedPublicKey::new(verify, key.der_bytes())
                .verify(b"minica", &sig)
                .unwrap_or_else(|_| panic!("{kt}: the signature does not verify"));
            let pem = key.pkcs8_pem();
            let aws_lc = crate::keys::load_pem(path, pem.as_bytes()).unwrap();
            assert_eq!(aws_lc.der_bytes(), key.der_bytes(), "{kt}");
            assert_eq!(aws_lc.algorithm(), key.algorithm(), "{kt}");
            assert_eq!(crate::keys::pkcs8_der(&aws_lc), *key.pkcs8_der(), "{kt}");
            let back = crate::keys::load_signing_pem(path, pem.as_bytes()).unwrap();
            assert_eq!(matches!(back, FileKey::Ring(_)), !rsa, "{kt}");
            assert_eq!(back.der_bytes(), key.der_bytes(), "{kt}");
            assert_eq!(
                back.subject_public_key_info(),
                aws_lc.subject_public_key_info()
            );
        }
        let p521 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        let back = crate::keys::signing_from_pkcs8_der(path, &p521.serialize_der()).unwrap();
        assert!(matches!(back, FileKey::AwsLc(_)));
        assert_eq!(back.der_bytes(), p521.der_bytes());
    }

    /// An ECDSA key whose public half is not its private half's is refused
    /// by ring; aws-lc then refuses it too, so the file is an error.
    #[test]
    fn a_key_whose_halves_disagree_is_refused() {
        let a = KeyType::EcdsaP256.generate_signing().unwrap();
        let b = KeyType::EcdsaP256.generate_signing().unwrap();
        let mut der = a.pkcs8_der().to_vec();
        let pa = a.der_bytes().to_vec();
        let at = der
            .windows(pa.len())
            .position(|w| w == pa.as_slice())
            .unwrap();
        der[at..at + pa.len()].copy_from_slice(b.der_bytes());
        assert!(RingSigner::from_pkcs8(&rcgen::PKCS_ECDSA_P256_SHA256, &der).is_none());
        assert!(crate::keys::signing_from_pkcs8_der(std::path::Path::new("k"), &der).is_err());
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
