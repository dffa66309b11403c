//! Key types, key generation, and private keys in and out as PKCS#8 PEM.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::FileKey;

/// The key types minica generates. ECDSA P-256 is the default: every TLS
/// stack in use accepts it, and it is fast to make and to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    #[serde(rename = "ecdsa-p256")]
    #[value(name = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    #[value(name = "ecdsa-p384")]
    EcdsaP384,
    Ed25519,
    #[serde(rename = "rsa-2048")]
    #[value(name = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    #[value(name = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// Generates a new key of this type. An RSA key's primes are searched
    /// for on every idle core at once (see [`search_threads`]).
    pub fn generate(self) -> Result<KeyPair> {
        self.generate_on(None)
    }

    /// Generates a new key of this type on this thread only: for callers
    /// that already keep every core busy (a batch).
    pub fn generate_here(self) -> Result<KeyPair> {
        self.generate_on(Some(1))
    }

    /// A new key that signs (a CA's): made by ring and kept in ring alone
    /// when ring makes this type (see [`FileKey`]).
    pub fn generate_signing(self) -> Result<FileKey> {
        let alg = self.signature_algorithm();
        if self.rsa_bits().is_none()
            && let Some(der) = crate::rng::generate_pkcs8(alg)
            && let Some(key) = crate::rng::RingSigner::from_pkcs8(alg, &der)
        {
            return Ok(FileKey::Ring(key));
        }
        Ok(FileKey::AwsLc(crate::rng::Signer::new(self.generate()?)))
    }

    /// A new key for a certificate of its own (see [`LeafKey`]). An RSA
    /// key's primes are searched for on every idle core at once.
    pub fn generate_leaf(self) -> Result<LeafKey> {
        self.generate_leaf_on(None)
    }

    /// [`KeyType::generate_leaf`] on this thread only (a batch keeps every
    /// core busy already).
    pub fn generate_leaf_here(self) -> Result<LeafKey> {
        self.generate_leaf_on(Some(1))
    }

    /// `threads`: how many an RSA prime search may use, None for
    /// [`search_threads`]. Only RSA asks: counting idle cores reads four
    /// files under /proc and /sys (perf: 2.5% of a P-256 `issue`).
    fn generate_on(self, threads: Option<usize>) -> Result<KeyPair> {
        let pkcs8 = match self.rsa_bits() {
            Some(bits) => {
                crate::rsa_keygen::generate(bits, threads.unwrap_or_else(search_threads))?.pkcs8
            }
            // From the OS CSPRNG, not aws-lc's (src/rng.rs says why).
            None => zeroize::Zeroizing::new(
                crate::rng::generate_pkcs8(self.signature_algorithm())
                    .ok_or_else(|| Error::Crypto(format!("cannot make a {self} key")))?,
            ),
        };
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_slice());
        Ok(KeyPair::from_pkcs8_der_and_sign_algo(
            &der,
            self.signature_algorithm(),
        )?)
    }

    fn generate_leaf_on(self, threads: Option<usize>) -> Result<LeafKey> {
        match self.rsa_bits() {
            Some(bits) => {
                let key =
                    crate::rsa_keygen::generate(bits, threads.unwrap_or_else(search_threads))?;
                Ok(LeafKey {
                    alg: self.signature_algorithm(),
                    public: key.public,
                    pkcs8: key.pkcs8,
                })
            }
            None => LeafKey::from_ring(self),
        }
    }

    fn rsa_bits(self) -> Option<u32> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            _ => None,
        }
    }
}

/// How many threads an RSA prime search uses: one per idle core (the cores
/// this process may use, less the tasks running on the system now other
/// than this one), at most [`MAX_SEARCHERS`]. Searching on cores that are
/// busy loses: measured with hyperfine at a load of 9 on 2 cores, raced
/// RSA-2048 issuance took 240 to 265 ms against 112 to 167 ms for one
/// search, the searchers only splitting the share one search would have
/// had.
///
/// Running tasks now (the fourth field of /proc/loadavg), not the one-minute
/// load average: that counts tasks waiting in the kernel too, and on this
/// project's VM it stays above 1 with both cores idle (kernel threads in
/// uninterruptible sleep), so a quiet machine never searched in parallel.
fn search_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let running = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| running_tasks(&l))
        .unwrap_or(1);
    // This process's own thread is one of the tasks counted.
    cores
        .saturating_sub(running.saturating_sub(1))
        .clamp(1, MAX_SEARCHERS)
}

/// "running/total" in /proc/loadavg ("0.52 0.58 0.59 3/467 12345").
fn running_tasks(loadavg: &str) -> Option<usize> {
    loadavg
        .split_whitespace()
        .nth(3)?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// The most threads one RSA prime search runs on.
const MAX_SEARCHERS: usize = 4;

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<_> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
                Error::usage(format!(
                    "unknown key type {s:?}; choose one of {}",
                    all.join(", ")
                ))
            })
    }
}

/// Whether a loaded key is RSA (for the keyEncipherment rule).
pub fn is_rsa(key: &impl PublicKeyData) -> bool {
    key.algorithm() == &rcgen::PKCS_RSA_SHA256
        || key.algorithm() == &rcgen::PKCS_RSA_SHA384
        || key.algorithm() == &rcgen::PKCS_RSA_SHA512
}

/// An Ed25519 PKCS#8 key after its outer SEQUENCE header: version, the
/// algorithm identifier (1.3.101.112) and the 32-byte seed's header. aws-lc
/// writes version 1 (RFC 5958 "v2", with the public key appended), which
/// OpenSSL before 3.5 cannot read; version 0 (RFC 8410) without the public
/// key is read by everything.
const ED25519_PKCS8_BODY_PREFIX: [u8; 14] = [
    0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The key as PKCS#8 DER, in the form the widest range of software reads.
pub fn pkcs8_der(key: &KeyPair) -> Vec<u8> {
    widely_read(key.algorithm(), key.serialize_der())
}

/// PKCS#8 DER of an `alg` key in the form the widest range of software
/// reads (an Ed25519 key without its public half, see above).
pub(crate) fn widely_read(alg: &SignatureAlgorithm, der: Vec<u8>) -> Vec<u8> {
    if alg == &rcgen::PKCS_ED25519
        && der.len() >= 48
        && der[0] == 0x30
        && der[2..16] == ED25519_PKCS8_BODY_PREFIX
    {
        let mut v1 = Vec::with_capacity(48);
        v1.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
        v1.extend_from_slice(&der[16..48]);
        return v1;
    }
    der
}

/// The key as a "PRIVATE KEY" PEM block with LF line endings.
pub fn pkcs8_pem(key: &KeyPair) -> String {
    pem_encode("PRIVATE KEY", pkcs8_der(key))
}

/// A certificate's own key as minica writes it out: its PKCS#8 (in the
/// form the widest range of software reads) and the public half and
/// algorithm a certificate needs. Not a key that signs: a leaf's key only
/// has to be certified and written, so a new one is never loaded into
/// aws-lc, whose parse checks the key by recomputing its public half
/// (callgrind: 280k of an issue's 2.7 million instructions, and as much
/// again per leaf of a batch).
pub struct LeafKey {
    alg: &'static SignatureAlgorithm,
    public: Vec<u8>,
    pkcs8: zeroize::Zeroizing<Vec<u8>>,
}

impl LeafKey {
    /// The key of a loaded key pair (an RSA key, or one read from a file).
    pub fn of(key: &KeyPair) -> LeafKey {
        LeafKey {
            alg: key.algorithm(),
            public: key.der_bytes().to_vec(),
            pkcs8: zeroize::Zeroizing::new(pkcs8_der(key)),
        }
    }

    /// A new ECDSA or Ed25519 key from ring, its public half taken from the
    /// PKCS#8 ring wrote (ring computed it when it made the key).
    fn from_ring(key_type: KeyType) -> Result<LeafKey> {
        let alg = key_type.signature_algorithm();
        let der = crate::rng::generate_pkcs8(alg)
            .ok_or_else(|| Error::Crypto(format!("cannot make a {key_type} key")))?;
        match public_key_in_pkcs8(alg, &der) {
            Some(public) => Ok(LeafKey {
                alg,
                public,
                pkcs8: zeroize::Zeroizing::new(widely_read(alg, der)),
            }),
            // Not the layout expected: let aws-lc read it.
            None => {
                let der = rustls_pki_types::PrivatePkcs8KeyDer::from(der);
                Ok(LeafKey::of(&KeyPair::from_pkcs8_der_and_sign_algo(
                    &der, alg,
                )?))
            }
        }
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", self.pkcs8.to_vec())
    }
}

impl PublicKeyData for LeafKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// The public key a PKCS#8 document carries (RFC 5958 OneAsymmetricKey's
/// `[1] publicKey` for Ed25519, RFC 5915 ECPrivateKey's `[1] publicKey` for
/// ECDSA), checked for the size and form `alg` expects.
fn public_key_in_pkcs8(alg: &SignatureAlgorithm, der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::der_parser::asn1_rs::{Any, Class, FromDer};
    fn items(mut b: &[u8]) -> Option<Vec<Any<'_>>> {
        let mut v = Vec::new();
        while !b.is_empty() {
            let (rest, a) = Any::from_der(b).ok()?;
            v.push(a);
            b = rest;
        }
        Some(v)
    }
    let tagged_1 = |a: &&Any| a.class() == Class::ContextSpecific && a.tag().0 == 1;
    let (_, top) = Any::from_der(der).ok()?;
    let outer = items(top.data)?;
    // A BIT STRING's content: the count of unused bits (0), then the key.
    let bits = match alg {
        a if a == &rcgen::PKCS_ED25519 => outer.iter().find(tagged_1)?.data,
        _ => {
            let (_, ec) = Any::from_der(outer.get(2)?.data).ok()?;
            let inner = items(ec.data)?;
            let (_, bit_string) = Any::from_der(inner.iter().find(tagged_1)?.data).ok()?;
            bit_string.data
        }
    };
    let (&unused, key) = bits.split_first()?;
    let expected = match alg {
        a if a == &rcgen::PKCS_ED25519 => 32,
        a if a == &rcgen::PKCS_ECDSA_P256_SHA256 => 65,
        a if a == &rcgen::PKCS_ECDSA_P384_SHA384 => 97,
        _ => return None,
    };
    let point_ok = alg == &rcgen::PKCS_ED25519 || key.first() == Some(&0x04);
    (unused == 0 && key.len() == expected && point_ok).then(|| key.to_vec())
}

/// PEM with LF line endings (the `pem` crate defaults to CRLF).
pub fn pem_encode(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Reads a private key from PEM (PKCS#8, SEC1 or PKCS#1), naming the file on error.
pub fn load_pem(path: &Path, bytes: &[u8]) -> Result<KeyPair> {
    match pem_key(path, bytes)? {
        rustls_pki_types::PrivateKeyDer::Pkcs8(p) => from_pkcs8(path, &p),
        der => KeyPair::try_from(&der).map_err(|_| unsupported_key(path)),
    }
}

/// [`load_pem`] for a key that signs: read by ring alone when it can be
/// (see [`FileKey`]).
pub fn load_signing_pem(path: &Path, bytes: &[u8]) -> Result<FileKey> {
    match pem_key(path, bytes)? {
        rustls_pki_types::PrivateKeyDer::Pkcs8(p) => {
            signing_from_pkcs8_der(path, p.secret_pkcs8_der())
        }
        der => Ok(FileKey::AwsLc(crate::rng::Signer::new(
            KeyPair::try_from(&der).map_err(|_| unsupported_key(path))?,
        ))),
    }
}

/// [`from_pkcs8_der`] for a key that signs (see [`FileKey`]).
pub fn signing_from_pkcs8_der(path: &Path, der: &[u8]) -> Result<FileKey> {
    FileKey::from_pkcs8(pkcs8_algorithm(der), der, || from_pkcs8_der(path, der))
}

/// The one private key in a PEM file.
fn pem_key(path: &Path, bytes: &[u8]) -> Result<rustls_pki_types::PrivateKeyDer<'static>> {
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let text = std::str::from_utf8(bytes).ok();
    if text.is_some_and(|t| t.contains("ENCRYPTED PRIVATE KEY")) {
        return Err(Error::bad_file_fix(
            path,
            "the private key is encrypted",
            "decrypt it first (`openssl pkey -in KEY -out PLAIN`)",
        ));
    }
    PrivateKeyDer::from_pem_slice(bytes).map_err(|_| {
        Error::bad_file_fix(
            path,
            "no private key found",
            "expected a PEM \"PRIVATE KEY\" block",
        )
    })
}

/// Reads a private key from PKCS#8 DER (out of a keystore, or decrypted).
pub fn from_pkcs8_der(path: &Path, der: &[u8]) -> Result<KeyPair> {
    from_pkcs8(
        path,
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec()),
    )
}

/// Reads a PKCS#8 key with the algorithm it names, where that is one rcgen
/// takes without guessing. Guessing, rcgen tries Ed25519 first, and aws-lc
/// parses and checks a whole EC key in that failed attempt (callgrind: 248k
/// of the 528k instructions loading a P-256 CA key).
fn from_pkcs8(path: &Path, der: &rustls_pki_types::PrivatePkcs8KeyDer) -> Result<KeyPair> {
    if let Some(alg) = pkcs8_algorithm(der.secret_pkcs8_der())
        && let Ok(key) = KeyPair::from_pkcs8_der_and_sign_algo(der, alg)
    {
        return Ok(key);
    }
    KeyPair::try_from(der).map_err(|_| unsupported_key(path))
}

/// The signature algorithm for a PKCS#8 key's AlgorithmIdentifier, for
/// the ECDSA curves and Ed25519 (RSA keys are left to rcgen to read).
fn pkcs8_algorithm(der: &[u8]) -> Option<&'static SignatureAlgorithm> {
    use x509_parser::der_parser::asn1_rs::{FromDer, Integer, Sequence};
    let (_, seq) = Sequence::from_der(der).ok()?;
    let (rest, _version) = Integer::from_der(seq.content.as_ref()).ok()?;
    let (_, alg) = x509_parser::x509::AlgorithmIdentifier::from_der(rest).ok()?;
    let params = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
    match (
        alg.algorithm.to_id_string().as_str(),
        params.map(|p| p.to_id_string()).as_deref(),
    ) {
        ("1.2.840.10045.2.1", Some("1.2.840.10045.3.1.7")) => Some(&rcgen::PKCS_ECDSA_P256_SHA256),
        ("1.2.840.10045.2.1", Some("1.3.132.0.34")) => Some(&rcgen::PKCS_ECDSA_P384_SHA384),
        ("1.3.101.112", None) => Some(&rcgen::PKCS_ED25519),
        _ => None,
    }
}

fn unsupported_key(path: &Path) -> Error {
    Error::bad_file(
        path,
        "unsupported or corrupt private key (minica reads ECDSA P-256/P-384, Ed25519 and RSA keys)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_is_written_as_pkcs8_v1_and_reads_back() {
        let key = KeyType::Ed25519.generate().unwrap();
        let der = pkcs8_der(&key);
        assert_eq!(der.len(), 48);
        assert_eq!(der[..16], ED25519_PKCS8_V1_PREFIX);
        let pem = pkcs8_pem(&key);
        let back = load_pem(Path::new("k"), pem.as_bytes()).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
    }

    /// Read with the algorithm its identifier names, each key comes back as
    /// rcgen's guessing reads it: same algorithm, same public key; and a
    /// key whose identifier is not one of those is still read by guessing.
    #[test]
    fn keys_read_by_their_identifier_match_keys_read_by_guessing() {
        for kt in KeyType::ALL {
            let key = kt.generate_here().unwrap();
            let der = pkcs8_der(&key);
            let guessed = KeyPair::try_from(der.as_slice()).unwrap();
            let named = from_pkcs8_der(Path::new("k"), &der).unwrap();
            assert_eq!(named.algorithm(), guessed.algorithm(), "{kt}");
            assert_eq!(named.public_key_raw(), guessed.public_key_raw(), "{kt}");
            assert_eq!(pkcs8_algorithm(&der).is_some(), !kt.is_rsa(), "{kt}");
        }
        // A curve it does not name (the last arc of prime256v1 changed) is
        // left to guessing, and garbage is still refused.
        let p256 = pkcs8_der(&KeyType::EcdsaP256.generate_here().unwrap());
        let mut lying = p256.clone();
        let at = lying
            .windows(10)
            .position(|w| w == [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07])
            .unwrap();
        assert_eq!(
            pkcs8_algorithm(&lying),
            Some(&rcgen::PKCS_ECDSA_P256_SHA256)
        );
        lying[at + 9] = 0x08; // prime256v1 -> an unknown curve arc
        assert_eq!(pkcs8_algorithm(&lying), None);
        assert!(from_pkcs8_der(Path::new("k"), b"not a key").is_err());
    }

    /// A new leaf key made without aws-lc is the key aws-lc reads from its
    /// PKCS#8: same public half, same algorithm, same bytes written.
    #[test]
    fn a_leaf_key_is_what_aws_lc_reads_from_it() {
        for kt in KeyType::ALL.into_iter().filter(|k| !k.is_rsa()) {
            for _ in 0..20 {
                let leaf = kt.generate_leaf_here().unwrap();
                let read = from_pkcs8_der(Path::new("k"), leaf.pkcs8_der()).unwrap();
                assert_eq!(leaf.der_bytes(), read.der_bytes(), "{kt}");
                assert_eq!(leaf.algorithm(), read.algorithm(), "{kt}");
                assert_eq!(leaf.pkcs8_der(), pkcs8_der(&read).as_slice(), "{kt}");
            }
        }
        // A document that is not laid out as expected yields no public key
        // (and the key is then read by aws-lc instead).
        for kt in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
            let alg = kt.signature_algorithm();
            let doc = crate::rng::generate_pkcs8(alg).unwrap();
            assert!(public_key_in_pkcs8(alg, &doc).is_some(), "{kt}: not read");
        }
        let p256 = crate::rng::generate_pkcs8(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        assert!(public_key_in_pkcs8(&rcgen::PKCS_ECDSA_P384_SHA384, &p256).is_none());
        assert!(public_key_in_pkcs8(&rcgen::PKCS_ECDSA_P256_SHA256, &p256[..100]).is_none());
        assert!(public_key_in_pkcs8(&rcgen::PKCS_ED25519, b"\x30\x00").is_none());
    }

    #[test]
    fn running_tasks_come_from_the_fourth_field() {
        assert_eq!(running_tasks("1.26 1.35 1.46 1/84 22738"), Some(1));
        assert_eq!(running_tasks("9.00 8.00 7.00 12/300 1"), Some(12));
        assert_eq!(running_tasks("garbage"), None);
    }

    #[test]
    fn pem_uses_lf_only() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let pem = pkcs8_pem(&key);
        assert!(!pem.contains('\r'));
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }

    /// An RSA key from the prime search is a whole, new key of the size
    /// asked for, which aws-lc reads back to the same public key, and
    /// whose LeafKey form carries the public key aws-lc computes.
    #[test]
    fn rsa_keys_are_whole_and_new() {
        let a = KeyType::Rsa2048.generate().unwrap();
        let b = KeyType::Rsa2048.generate_here().unwrap();
        assert!(is_rsa(&a) && is_rsa(&b));
        assert_ne!(a.public_key_raw(), b.public_key_raw());
        let back = load_pem(Path::new("k"), pkcs8_pem(&a).as_bytes()).unwrap();
        assert_eq!(back.public_key_raw(), a.public_key_raw());
        // RSAPublicKey DER: a 2048-bit modulus makes it 270 bytes.
        assert_eq!(a.public_key_raw().len(), 270);
        let leaf = KeyType::Rsa3072.generate_leaf().unwrap();
        let loaded = load_pem(Path::new("k"), leaf.pkcs8_pem().as_bytes()).unwrap();
        assert_eq!(loaded.der_bytes(), leaf.der_bytes());
        assert_eq!(loaded.algorithm(), leaf.algorithm());
        // A 3072-bit modulus: 398 bytes of RSAPublicKey.
        assert_eq!(leaf.der_bytes().len(), 398);
    }

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(k.as_str().parse::<KeyType>().unwrap(), k);
        }
        assert!("rsa-1024".parse::<KeyType>().is_err());
    }

    #[test]
    fn garbage_key_is_a_bad_file_error() {
        let err = load_pem(Path::new("/x/key.pem"), b"hello").unwrap_err();
        assert!(err.to_string().contains("/x/key.pem"), "{err}");
    }
}
