//! A PKCS#12 file edited in place, for stores minica did not write (the
//! JDK's `cacerts` since JDK 18 is a PKCS#12 with no password, no MAC and
//! no encryption: JDK-8275252).
//!
//! The file is read down to its safe bags, each kept as its bytes; an
//! encrypted safe is opened with the password (PBES2, or the PKCS#12 PBE
//! schemes: [`super::pbe`]). An edit appends a safe or drops bags. Every
//! safe not edited keeps its bytes; a bag dropped from an encrypted safe
//! has the safe re-encrypted under the same scheme with a new salt and IV,
//! every other bag in it byte for byte. The MAC, when the file has one, is
//! recomputed with the file's own digest, salt and iteration count (RFC
//! 7292 B.2 key derivation, the "traditional" MAC every reader checks).
//!
//! minica's own PKCS#12 files are built here too ([`build`]), so each
//! entry has one alias in every bag, and a profile can mix protections
//! (RC2-40 certificates with a 3DES key, as old readers want).
//!
//! ```text
//! PFX ::= SEQUENCE { version 3, authSafe ContentInfo(data), macData OPTIONAL }
//! AuthenticatedSafe ::= SEQUENCE OF ContentInfo (data | encryptedData)
//! SafeContents ::= SEQUENCE OF SafeBag { bagId, [0] bagValue, bagAttributes SET OPTIONAL }
//! ```

use std::path::Path;

use aws_lc_rs::{digest, hmac};

use zeroize::Zeroizing;

use super::pbe::Scheme;
use super::pkcs12::{OID_DATA, Tlv, tlvs, uint};
use crate::error::{Error, Result};
use crate::x509::der_tlv as tlv;

/// 1.2.840.113549.1.12.10.1.3: certBag.
const OID_CERT_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03,
];
/// 1.2.840.113549.1.12.10.1.1 and .2: keyBag, pkcs8ShroudedKeyBag.
const OID_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01,
];
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
/// 1.2.840.113549.1.9.21: localKeyId.
const OID_LOCAL_KEY_ID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x15];
/// 1.2.840.113549.1.9.22.1: x509Certificate.
const OID_X509_CERT: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
/// 1.2.840.113549.1.9.20: friendlyName (the alias).
const OID_FRIENDLY_NAME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x14];
/// 2.16.840.1.113894.746875.1.1: Oracle's trusted key usage. Java loads a
/// certificate bag with no key as a trusted entry only when it has this.
const OID_JAVA_TRUSTED: &[u8] = &[
    0x60, 0x86, 0x48, 0x01, 0x86, 0xf9, 0x66, 0xad, 0xca, 0x7b, 0x01, 0x01,
];
/// 2.5.29.37.0: anyExtendedKeyUsage, the value Java writes for it.
const OID_ANY_EKU: &[u8] = &[0x55, 0x1d, 0x25, 0x00];

const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BagKind {
    Cert,
    /// pkcs8ShroudedKeyBag: an EncryptedPrivateKeyInfo.
    ShroudedKey,
    /// keyBag: a PrivateKeyInfo in the clear.
    Key,
    Other,
}

/// One safe bag, kept as its bytes.
#[derive(Debug, Clone)]
pub struct Bag {
    pub bytes: Vec<u8>,
    pub kind: BagKind,
    /// Its friendlyName attribute.
    pub alias: Option<String>,
    /// Its localKeyId attribute: ties a key to its certificate.
    pub local_key_id: Option<Vec<u8>>,
    /// The certificate, for a certificate bag.
    pub cert: Option<Vec<u8>>,
    /// The key bag's value: EncryptedPrivateKeyInfo or PrivateKeyInfo.
    pub key: Option<Vec<u8>>,
    /// Whether Java reads it as a trusted certificate entry.
    pub java_trusted: bool,
}

impl Bag {
    /// The private key (PKCS#8 DER) of a key bag.
    pub fn private_key(&self, password: &str) -> Option<Zeroizing<Vec<u8>>> {
        let value = self.key.as_deref()?;
        match self.kind {
            BagKind::Key => Some(Zeroizing::new(value.to_vec())),
            BagKind::ShroudedKey => {
                // EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }
                let t = tlvs(value)?;
                let f = seq(t.first()?)?;
                let [alg, data] = f.as_slice() else {
                    return None;
                };
                Scheme::parse(alg.raw)?.decrypt(password, data.content)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Safe {
    /// A data ContentInfo: its bags, and its bytes while unchanged.
    Plain {
        bags: Vec<Bag>,
        bytes: Option<Vec<u8>>,
    },
    /// An encryptedData ContentInfo, opened with the password: its bags, its
    /// scheme, and its bytes while unchanged.
    Sealed {
        bags: Vec<Bag>,
        scheme: Scheme,
        bytes: Option<Vec<u8>>,
    },
    /// One that could not be opened (enveloped, or an unknown scheme),
    /// carried through as it is.
    Opaque(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Mac {
    /// The DigestInfo's AlgorithmIdentifier, as written.
    algorithm: Vec<u8>,
    hash: Hash,
    salt: Vec<u8>,
    /// The iterations element as written (absent means 1).
    iterations_raw: Option<Vec<u8>>,
    iterations: u64,
}

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &[u8]) -> Option<Hash> {
        Some(match oid {
            SHA1 => Hash::Sha1,
            SHA256 => Hash::Sha256,
            SHA384 => Hash::Sha384,
            SHA512 => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Hash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => hmac::HMAC_SHA256,
            Hash::Sha384 => hmac::HMAC_SHA384,
            Hash::Sha512 => hmac::HMAC_SHA512,
        }
    }
}

/// A PKCS#12 file as safes and bags.
#[derive(Debug, Clone)]
pub struct Pkcs12File {
    /// The PFX version element, as written.
    version: Vec<u8>,
    safes: Vec<Safe>,
    mac: Option<Mac>,
}

impl Pkcs12File {
    /// Reads `data`; the MAC, if any, is checked with `password` first.
    pub fn parse(path: &Path, data: &[u8], password: &str) -> Result<Pkcs12File> {
        let corrupt =
            || Error::bad_file(path, "is not a valid PKCS#12 file (truncated or corrupt)");
        // NSS's pk12util (and Windows) write BER: indefinite lengths, and
        // strings in pieces. Read as DER; DER comes back unchanged.
        let data = &ber_to_der(data).ok_or_else(corrupt)?;
        // Bounds the MAC's and any other KDF's work before doing any.
        super::pkcs12::cost(path, data)?;
        let top = tlvs(data).ok_or_else(corrupt)?;
        let [pfx] = top.as_slice() else {
            return Err(corrupt());
        };
        let fields = seq(pfx).ok_or_else(corrupt)?;
        let (version, auth_safe, mac) = match fields.as_slice() {
            [v, a] => (v, a, None),
            [v, a, m] => (v, a, Some(m)),
            _ => return Err(corrupt()),
        };
        if version.tag != 0x02 {
            return Err(corrupt());
        }
        let content = data_content(auth_safe).ok_or_else(corrupt)?;
        let mac = mac.map(|m| parse_mac(m).ok_or_else(corrupt)).transpose()?;
        if let Some(mac) = &mac
            && compute_mac(mac, password, content) != mac_digest(data).ok_or_else(corrupt)?
        {
            return Err(Error::bad_file_fix(
                path,
                "wrong password, or the file is corrupt (the PKCS#12 integrity check failed)",
                "give the store's password (the JDK's cacerts uses changeit)",
            ));
        }
        // The MAC covered the content as written; its own structure may be BER too.
        let content = &ber_to_der(content).ok_or_else(corrupt)?;
        let list = tlvs(content).ok_or_else(corrupt)?;
        let [list] = list.as_slice() else {
            return Err(corrupt());
        };
        let mut safes = Vec::new();
        for ci in seq(list).ok_or_else(corrupt)? {
            match data_content(&ci) {
                Some(contents) => {
                    let bags = parse_safe_contents(contents).ok_or_else(corrupt)?;
                    safes.push(Safe::Plain {
                        bags,
                        bytes: Some(ci.raw.to_vec()),
                    });
                }
                None if ci.tag == 0x30 => safes.push(match open_sealed(&ci, password) {
                    Some((scheme, contents)) => {
                        let bags = parse_safe_contents(&contents).ok_or_else(corrupt)?;
                        Safe::Sealed {
                            bags,
                            scheme,
                            bytes: Some(ci.raw.to_vec()),
                        }
                    }
                    None => Safe::Opaque(ci.raw.to_vec()),
                }),
                None => return Err(corrupt()),
            }
        }
        let file = Pkcs12File {
            version: version.raw.to_vec(),
            safes,
            mac,
        };
        file.check_key_work(path)?;
        Ok(file)
    }

    /// The profile whose form this file has, so that a rewrite keeps it
    /// readable by what needed it.
    pub fn profile(&self) -> super::P12Profile {
        use super::P12Profile as P;
        match &self.mac {
            None => P::Passwordless,
            Some(_) if self.schemes().contains(&"PBE-SHA1-RC2-40") => P::LegacyRc2,
            Some(Mac {
                hash: Hash::Sha1, ..
            }) => P::Legacy3des,
            Some(_) => P::Modern,
        }
    }

    /// Key bags inside encrypted safes were out of sight of the cost check
    /// made before anything was derived: bound them now, before any is
    /// opened, as that check bounds the rest (each KDF and their sum).
    fn check_key_work(&self, path: &Path) -> Result<()> {
        use super::pkcs12::{MAX_KDF_WORK, MAX_SCRYPT_MEMORY};
        let mut total = 0u64;
        for b in self.bags().filter(|b| b.kind == BagKind::ShroudedKey) {
            let Some(scheme) = b.key.as_deref().and_then(|k| {
                let t = tlvs(k)?;
                let f = seq(t.first()?)?;
                Scheme::parse(f.first()?.raw)
            }) else {
                continue;
            };
            let (work, memory) = scheme.work();
            total = total.saturating_add(work);
            if work > u64::from(super::MAX_ITERATIONS)
                || memory > MAX_SCRYPT_MEMORY
                || total > MAX_KDF_WORK
            {
                return Err(Error::bad_file_fix(
                    path,
                    "holds private keys whose key derivation would take more work than minica spends on one store",
                    "re-export the store with ordinary settings (`openssl pkcs12 -export -iter 10000`)",
                ));
            }
        }
        Ok(())
    }

    /// Every bag that could be read (plain, or in a safe the password opened).
    pub fn bags(&self) -> impl Iterator<Item = &Bag> {
        self.safes.iter().flat_map(|s| match s {
            Safe::Plain { bags, .. } | Safe::Sealed { bags, .. } => bags.as_slice(),
            Safe::Opaque(_) => &[],
        })
    }

    /// Bags not inside an encrypted safe.
    pub fn plain_bags(&self) -> impl Iterator<Item = &Bag> {
        self.safes.iter().flat_map(|s| match s {
            Safe::Plain { bags, .. } => bags.as_slice(),
            _ => &[],
        })
    }

    /// How many safes are encrypted.
    pub fn sealed_safes(&self) -> usize {
        self.safes
            .iter()
            .filter(|s| matches!(s, Safe::Sealed { .. } | Safe::Opaque(_)))
            .count()
    }

    /// How many safes could not be opened (their bags are not seen here).
    pub fn opaque_safes(&self) -> usize {
        self.safes
            .iter()
            .filter(|s| matches!(s, Safe::Opaque(_)))
            .count()
    }

    /// The schemes protecting the file's encrypted safes and key bags.
    pub fn schemes(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in &self.safes {
            if let Safe::Sealed { scheme, .. } = s {
                out.push(scheme.describe());
            }
        }
        for b in self.bags() {
            if b.kind == BagKind::ShroudedKey
                && let Some(alg) = b.key.as_deref().and_then(|k| {
                    let t = tlvs(k)?;
                    let f = seq(t.first()?)?;
                    Scheme::parse(f.first()?.raw)
                })
            {
                out.push(alg.describe());
            }
        }
        out
    }

    /// Appends `der` as a trusted certificate under `alias`, in a plain safe
    /// of its own (certificates are public; Java 18+ writes them so).
    pub fn push_trusted(&mut self, alias: &str, der: &[u8]) {
        self.push_safe(vec![trusted_bag(alias, der)], None);
    }

    /// Appends a safe of `bags`, sealed with `scheme` if given.
    pub fn push_safe(&mut self, bags: Vec<Bag>, scheme: Option<Scheme>) {
        self.safes.push(match scheme {
            None => Safe::Plain { bags, bytes: None },
            Some(scheme) => Safe::Sealed {
                bags,
                scheme,
                bytes: None,
            },
        });
    }

    /// Drops the bags `drop` picks, from plain and opened safes; a safe
    /// left empty goes too. Returns how many were dropped.
    pub fn remove(&mut self, mut drop: impl FnMut(&Bag) -> bool) -> usize {
        let mut n = 0;
        for safe in &mut self.safes {
            if let Safe::Plain { bags, bytes } | Safe::Sealed { bags, bytes, .. } = safe {
                let before = bags.len();
                bags.retain(|b| !drop(b));
                if bags.len() != before {
                    n += before - bags.len();
                    *bytes = None;
                }
            }
        }
        self.safes.retain(|s| match s {
            Safe::Plain { bags, bytes: None }
            | Safe::Sealed {
                bags, bytes: None, ..
            } => !bags.is_empty(),
            _ => true,
        });
        n
    }

    /// Drops certificate bags with neither alias nor localKeyId that are no
    /// longer in the chain of any key's certificate: the CA certificates of
    /// an entry just removed. Certificates anything still chains to stay.
    pub fn remove_orphan_chain_certs(&mut self) {
        let issuers_needed: Vec<Vec<u8>> = self
            .bags()
            .filter(|b| b.kind == BagKind::Cert && (b.alias.is_some() || b.local_key_id.is_some()))
            .filter_map(|b| b.cert.clone())
            .collect();
        // Everything reachable upward from a named certificate.
        let all: Vec<Vec<u8>> = self.bags().filter_map(|b| b.cert.clone()).collect();
        let mut keep: Vec<Vec<u8>> = issuers_needed.clone();
        let mut frontier = issuers_needed;
        while let Some(c) = frontier.pop() {
            let Some((subject, issuer)) = crate::certs::subject_and_issuer(&c) else {
                continue;
            };
            if subject == issuer {
                continue;
            }
            for cand in &all {
                if !keep.contains(cand)
                    && crate::certs::subject_and_issuer(cand).is_some_and(|(s, _)| s == issuer)
                {
                    keep.push(cand.clone());
                    frontier.push(cand.clone());
                }
            }
        }
        self.remove(|b| {
            b.kind == BagKind::Cert
                && b.alias.is_none()
                && b.local_key_id.is_none()
                && b.cert.as_ref().is_some_and(|c| !keep.contains(c))
        });
    }

    /// The file, its MAC (if it had one) recomputed with `password`.
    pub fn encode(&self, password: &str) -> Vec<u8> {
        let list: Vec<u8> = self
            .safes
            .iter()
            .flat_map(|s| match s {
                Safe::Opaque(b)
                | Safe::Plain { bytes: Some(b), .. }
                | Safe::Sealed { bytes: Some(b), .. } => b.clone(),
                Safe::Plain { bags, bytes: None } => data_info(&bag_list(bags)),
                Safe::Sealed {
                    bags,
                    scheme,
                    bytes: None,
                } => sealed_info(&bag_list(bags), &scheme.fresh(), password),
            })
            .collect();
        let content = tlv(0x30, &list);
        let mut body = self.version.clone();
        body.extend(data_info(&content));
        if let Some(mac) = &self.mac {
            let digest = compute_mac(mac, password, &content);
            let mut digest_info = mac.algorithm.clone();
            digest_info.extend(tlv(0x04, &digest));
            let mut m = tlv(0x30, &digest_info);
            m.extend(tlv(0x04, &mac.salt));
            if let Some(it) = &mac.iterations_raw {
                m.extend_from_slice(it);
            }
            body.extend(tlv(0x30, &m));
        }
        tlv(0x30, &body)
    }
}

fn seq<'a>(t: &Tlv<'a>) -> Option<Vec<Tlv<'a>>> {
    (t.tag == 0x30).then(|| tlvs(t.content)).flatten()
}

/// The OCTET STRING inside a ContentInfo of type data.
fn data_content<'a>(ci: &Tlv<'a>) -> Option<&'a [u8]> {
    let f = seq(ci)?;
    let [oid, explicit] = f.as_slice() else {
        return None;
    };
    if oid.tag != 0x06 || oid.content != OID_DATA || explicit.tag != 0xa0 {
        return None;
    }
    let inner = tlvs(explicit.content)?;
    match inner.as_slice() {
        [o] if o.tag == 0x04 => Some(o.content),
        _ => None,
    }
}

fn data_info(content: &[u8]) -> Vec<u8> {
    let mut b = tlv(0x06, OID_DATA);
    b.extend(tlv(0xa0, &tlv(0x04, content)));
    tlv(0x30, &b)
}

/// Re-encodes BER as DER where they differ: indefinite lengths become
/// definite, and an OCTET STRING in pieces becomes one. DER comes back as
/// it was (its lengths are already minimal). None for what is not BER.
pub fn ber_to_der(data: &[u8]) -> Option<Vec<u8>> {
    // DER (what nearly every writer makes) is returned without rebuilding.
    if is_der(data, 0) {
        return Some(data.to_vec());
    }
    let mut out = Vec::with_capacity(data.len());
    let mut pos = 0;
    while pos < data.len() {
        pos += ber_element(&data[pos..], 0, &mut out)?;
    }
    Some(out)
}

/// Whether `data` has only definite lengths and no string in pieces.
fn is_der(data: &[u8], depth: usize) -> bool {
    depth <= BER_DEPTH
        && tlvs(data).is_some_and(|elems| {
            elems
                .iter()
                .all(|e| e.tag != 0x24 && (!e.constructed || is_der(e.content, depth + 1)))
        })
}

/// How deep BER is rebuilt: each level holds a copy of what is below it,
/// so this bounds the memory to this many times the (capped) file.
const BER_DEPTH: usize = 16;

/// Appends one element of `data` as DER to `out`; returns the bytes read.
fn ber_element(data: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<usize> {
    if depth > BER_DEPTH {
        return None;
    }
    let (tag_len, len, i) = super::pkcs12::header(data)?;
    let tag = &data[..tag_len];
    let constructed = data[0] & 0x20 != 0;
    let (body, used) = match len {
        None => {
            if !constructed {
                return None;
            }
            // Children up to the end-of-contents octets.
            let mut children = Vec::new();
            let mut p = i;
            while data.get(p..p + 2)? != [0, 0] {
                p += ber_element(&data[p..], depth + 1, &mut children)?;
            }
            (children, p + 2)
        }
        Some(len) => {
            let content = data.get(i..i.checked_add(len)?)?;
            if constructed {
                let mut children = Vec::new();
                let mut p = 0;
                while p < content.len() {
                    p += ber_element(&content[p..], depth + 1, &mut children)?;
                }
                (children, i + len)
            } else {
                (content.to_vec(), i + len)
            }
        }
    };
    if data[0] == 0x24 {
        // A constructed OCTET STRING: its pieces' contents, joined.
        let joined: Vec<u8> = tlvs(&body)?
            .iter()
            .flat_map(|t| t.content.to_vec())
            .collect();
        out.extend(tlv(0x04, &joined));
    } else {
        let mut e = tlv(0, &body);
        e.splice(0..1, tag.iter().copied());
        out.extend(e);
    }
    Some(used)
}

fn bag_list(bags: &[Bag]) -> Vec<u8> {
    tlv(
        0x30,
        &bags
            .iter()
            .flat_map(|b| b.bytes.clone())
            .collect::<Vec<_>>(),
    )
}

/// 1.2.840.113549.1.7.6: encryptedData.
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];

/// An encryptedData ContentInfo's scheme and plaintext, if the password opens it.
fn open_sealed(ci: &Tlv<'_>, password: &str) -> Option<(Scheme, Zeroizing<Vec<u8>>)> {
    let f = seq(ci)?;
    let [oid, explicit] = f.as_slice() else {
        return None;
    };
    if oid.content != OID_ENCRYPTED_DATA || explicit.tag != 0xa0 {
        return None;
    }
    // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo }
    let ed = tlvs(explicit.content)?;
    let edf = seq(ed.first()?)?;
    // EncryptedContentInfo ::= SEQUENCE { contentType, alg, [0] IMPLICIT OCTET STRING }
    let eci = seq(edf.get(1)?)?;
    let [_, alg, content] = eci.as_slice() else {
        return None;
    };
    // [0] IMPLICIT OCTET STRING: primitive, or in BER constructed of pieces.
    let ciphertext: Vec<u8> = match content.tag {
        0x80 => content.content.to_vec(),
        0xa0 => tlvs(content.content)?
            .iter()
            .filter(|t| t.tag == 0x04)
            .flat_map(|t| t.content.to_vec())
            .collect(),
        _ => return None,
    };
    let scheme = Scheme::parse(alg.raw)?;
    let plain = scheme.decrypt(password, &ciphertext)?;
    Some((scheme, plain))
}

fn sealed_info(contents: &[u8], scheme: &Scheme, password: &str) -> Vec<u8> {
    let mut eci = tlv(0x06, OID_DATA);
    eci.extend(scheme.to_der());
    eci.extend(tlv(0x80, &scheme.encrypt(password, contents)));
    let mut ed = tlv(0x02, &[0]);
    ed.extend(tlv(0x30, &eci));
    let mut b = tlv(0x06, OID_ENCRYPTED_DATA);
    b.extend(tlv(0xa0, &tlv(0x30, &ed)));
    tlv(0x30, &b)
}

fn parse_mac(m: &Tlv<'_>) -> Option<Mac> {
    let f = seq(m)?;
    let (digest_info, salt, iterations) = match f.as_slice() {
        [d, s] => (d, s, None),
        [d, s, i] => (d, s, Some(i)),
        _ => return None,
    };
    let di = seq(digest_info)?;
    let [alg, _digest] = di.as_slice() else {
        return None;
    };
    let alg_fields = seq(alg)?;
    let hash = Hash::from_oid(alg_fields.first().filter(|o| o.tag == 0x06)?.content)?;
    if salt.tag != 0x04 {
        return None;
    }
    Some(Mac {
        algorithm: alg.raw.to_vec(),
        hash,
        salt: salt.content.to_vec(),
        iterations_raw: iterations.map(|i| i.raw.to_vec()),
        iterations: match iterations {
            Some(i) => uint(i).filter(|n| *n > 0)?,
            None => 1,
        },
    })
}

/// The MAC value written in the file.
fn mac_digest(data: &[u8]) -> Option<Vec<u8>> {
    let top = tlvs(data)?;
    let f = seq(top.first()?)?;
    let m = seq(f.get(2)?)?;
    let di = seq(m.first()?)?;
    Some(di.get(1).filter(|d| d.tag == 0x04)?.content.to_vec())
}

/// SafeContents (BER or DER): its bags.
fn parse_safe_contents(contents: &[u8]) -> Option<Vec<Bag>> {
    let contents = ber_to_der(contents)?;
    let top = tlvs(&contents)?;
    let [list] = top.as_slice() else {
        return None;
    };
    seq(list)?.iter().map(parse_bag).collect()
}

fn parse_bag(b: &Tlv<'_>) -> Option<Bag> {
    let f = seq(b)?;
    let (id, value, attrs) = match f.as_slice() {
        [i, v] => (i, v, None),
        [i, v, a] => (i, v, Some(a)),
        _ => return None,
    };
    if id.tag != 0x06 || value.tag != 0xa0 {
        return None;
    }
    let mut bag = Bag {
        bytes: b.raw.to_vec(),
        kind: match id.content {
            OID_CERT_BAG => BagKind::Cert,
            OID_SHROUDED_KEY_BAG => BagKind::ShroudedKey,
            OID_KEY_BAG => BagKind::Key,
            _ => BagKind::Other,
        },
        alias: None,
        local_key_id: None,
        cert: None,
        key: None,
        java_trusted: false,
    };
    if matches!(bag.kind, BagKind::ShroudedKey | BagKind::Key) {
        bag.key = Some(tlvs(value.content)?.first()?.raw.to_vec());
    }
    if id.content == OID_CERT_BAG {
        // CertBag ::= SEQUENCE { certId, certValue [0] EXPLICIT OCTET STRING }
        let inner = tlvs(value.content)?;
        let cb = seq(inner.first()?)?;
        if let [cid, cv] = cb.as_slice()
            && cid.content == OID_X509_CERT
            && cv.tag == 0xa0
        {
            let o = tlvs(cv.content)?;
            bag.cert = Some(o.first().filter(|o| o.tag == 0x04)?.content.to_vec());
        }
    }
    if let Some(attrs) = attrs {
        if attrs.tag != 0x31 {
            return None;
        }
        for a in tlvs(attrs.content)? {
            let af = seq(&a)?;
            let [oid, values] = af.as_slice() else {
                return None;
            };
            let vals = tlvs(values.content)?;
            if oid.content == OID_FRIENDLY_NAME
                && let Some(v) = vals.first().filter(|v| v.tag == 0x1e)
            {
                let units: Vec<u16> = v
                    .content
                    .chunks(2)
                    .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                    .collect();
                bag.alias = Some(String::from_utf16_lossy(&units));
            } else if oid.content == OID_JAVA_TRUSTED {
                bag.java_trusted = true;
            } else if oid.content == OID_LOCAL_KEY_ID
                && let Some(v) = vals.first().filter(|v| v.tag == 0x04)
            {
                bag.local_key_id = Some(v.content.to_vec());
            }
        }
    }
    Some(bag)
}

/// A certificate bag as Java writes a trusted certificate entry: the
/// alias as friendlyName, and the trusted-key-usage attribute.
pub fn trusted_bag(alias: &str, der: &[u8]) -> Bag {
    cert_bag(der, Some(alias), None, true)
}

fn attribute(oid: &[u8], value: Vec<u8>) -> Vec<u8> {
    let mut a = tlv(0x06, oid);
    a.extend(tlv(0x31, &value));
    tlv(0x30, &a)
}

/// The bag attributes: friendlyName, localKeyId, Java's trusted usage.
fn attributes(alias: Option<&str>, local_key_id: Option<&[u8]>, java_trusted: bool) -> Vec<u8> {
    let mut attrs = Vec::new();
    if let Some(alias) = alias {
        let bmp: Vec<u8> = alias.encode_utf16().flat_map(u16::to_be_bytes).collect();
        attrs.push(attribute(OID_FRIENDLY_NAME, tlv(0x1e, &bmp)));
    }
    if let Some(id) = local_key_id {
        attrs.push(attribute(OID_LOCAL_KEY_ID, tlv(0x04, id)));
    }
    if java_trusted {
        attrs.push(attribute(OID_JAVA_TRUSTED, tlv(0x06, OID_ANY_EKU)));
    }
    // DER orders a SET OF by encoding.
    attrs.sort();
    if attrs.is_empty() {
        Vec::new()
    } else {
        tlv(0x31, &attrs.concat())
    }
}

/// A certificate bag.
pub fn cert_bag(
    der: &[u8],
    alias: Option<&str>,
    local_key_id: Option<&[u8]>,
    java_trusted: bool,
) -> Bag {
    let mut cert_bag = tlv(0x06, OID_X509_CERT);
    cert_bag.extend(tlv(0xa0, &tlv(0x04, der)));
    let mut b = tlv(0x06, OID_CERT_BAG);
    b.extend(tlv(0xa0, &tlv(0x30, &cert_bag)));
    b.extend(attributes(alias, local_key_id, java_trusted));
    Bag {
        bytes: tlv(0x30, &b),
        kind: BagKind::Cert,
        alias: alias.map(str::to_string),
        local_key_id: local_key_id.map(<[u8]>::to_vec),
        cert: Some(der.to_vec()),
        key: None,
        java_trusted,
    }
}

/// A pkcs8ShroudedKeyBag: the key encrypted under `scheme`.
pub fn shrouded_key_bag(
    pkcs8: &[u8],
    alias: &str,
    local_key_id: &[u8],
    scheme: &Scheme,
    password: &str,
) -> Bag {
    let mut epki = scheme.to_der();
    epki.extend(tlv(0x04, &scheme.encrypt(password, pkcs8)));
    let epki = tlv(0x30, &epki);
    let mut b = tlv(0x06, OID_SHROUDED_KEY_BAG);
    b.extend(tlv(0xa0, &epki));
    b.extend(attributes(Some(alias), Some(local_key_id), false));
    Bag {
        bytes: tlv(0x30, &b),
        kind: BagKind::ShroudedKey,
        alias: Some(alias.to_string()),
        local_key_id: Some(local_key_id.to_vec()),
        cert: None,
        key: Some(epki),
        java_trusted: false,
    }
}

/// How a new PKCS#12 file is protected.
#[derive(Debug, Clone)]
pub struct Protection {
    /// Certificates' safe: sealed with this, or plain.
    pub certs: Option<Scheme>,
    /// Key bags.
    pub keys: Scheme,
    /// The MAC's digest and iterations; None: no MAC (password-less).
    pub mac: Option<(MacDigest, u32)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacDigest {
    Sha1,
    Sha256,
}

impl Pkcs12File {
    /// An empty file, with a MAC of this kind or none.
    pub fn empty(mac: Option<(MacDigest, u32)>) -> Pkcs12File {
        let mac = mac.map(|(d, iterations)| {
            let (oid, hash) = match d {
                MacDigest::Sha1 => (SHA1, Hash::Sha1),
                MacDigest::Sha256 => (SHA256, Hash::Sha256),
            };
            let mut alg = tlv(0x06, oid);
            alg.extend([0x05, 0x00]);
            let salt: Vec<u8> = {
                let mut b = vec![0u8; 16];
                crate::rng::fill(&mut b).expect("the system random generator");
                b
            };
            Mac {
                algorithm: tlv(0x30, &alg),
                hash,
                salt,
                iterations_raw: Some(tlv(0x02, &super::pbe::uint_bytes(iterations))),
                iterations: u64::from(iterations),
            }
        });
        Pkcs12File {
            version: vec![0x02, 0x01, 0x03],
            safes: Vec::new(),
            mac,
        }
    }

    /// Appends a private key entry: the key under `alias`, its chain (leaf
    /// first) with the leaf under the same alias and localKeyId, in a
    /// certificate safe (sealed as `p.certs` says) and a key safe. The
    /// localKeyId is the SHA-1 of the leaf, OpenSSL's convention.
    pub fn push_key(
        &mut self,
        alias: &str,
        pkcs8: &[u8],
        chain: &[&[u8]],
        p: &Protection,
        password: &str,
    ) {
        let Some(leaf) = chain.first() else { return };
        let id = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, leaf);
        let mut certs = vec![cert_bag(leaf, Some(alias), Some(id.as_ref()), false)];
        // CA certificates carry no alias (OpenSSL's form): a reader builds
        // the chain by issuer, and no second name appears for the entry.
        certs.extend(chain[1..].iter().map(|c| cert_bag(c, None, None, false)));
        self.push_safe(certs, p.certs.as_ref().map(Scheme::fresh));
        let key = shrouded_key_bag(pkcs8, alias, id.as_ref(), &p.keys.fresh(), password);
        self.push_safe(vec![key], None);
    }
}

/// HMAC over `content` with the key RFC 7292 B.2 derives (ID 3) from the
/// password, the salt and the iterations.
fn compute_mac(mac: &Mac, password: &str, content: &[u8]) -> Vec<u8> {
    let alg = mac.hash.digest();
    let key = pkcs12_kdf(
        alg,
        password,
        &mac.salt,
        mac.iterations,
        3,
        alg.output_len(),
    );
    let k = hmac::Key::new(mac.hash.hmac(), &key);
    hmac::sign(&k, content).as_ref().to_vec()
}

/// RFC 7292 Appendix B.2: the PKCS#12 key derivation.
pub(super) fn pkcs12_kdf(
    alg: &'static digest::Algorithm,
    password: &str,
    salt: &[u8],
    iterations: u64,
    id: u8,
    n: usize,
) -> Vec<u8> {
    let v = alg.block_len();
    let u = alg.output_len();
    // The password as a BMPString with its two-byte terminator.
    let mut pw: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    pw.extend([0, 0]);
    let fill = |s: &[u8]| -> Vec<u8> {
        if s.is_empty() {
            return Vec::new();
        }
        let len = v * s.len().div_ceil(v);
        s.iter().cycle().take(len).copied().collect()
    };
    let mut i: Vec<u8> = fill(salt);
    i.extend(fill(&pw));
    let d = vec![id; v];
    let mut out = Vec::with_capacity(n);
    loop {
        let mut ctx = digest::Context::new(alg);
        ctx.update(&d);
        ctx.update(&i);
        let mut a = ctx.finish().as_ref().to_vec();
        for _ in 1..iterations {
            a = digest::digest(alg, &a).as_ref().to_vec();
        }
        out.extend_from_slice(&a[..u.min(n - out.len())]);
        if out.len() >= n {
            return out;
        }
        let b: Vec<u8> = a.iter().cycle().take(v).copied().collect();
        for block in i.chunks_mut(v) {
            // block = (block + b + 1) mod 2^(8v)
            let mut carry = 1u16;
            for k in (0..v).rev() {
                let sum = u16::from(block[k]) + u16::from(b[k]) + carry;
                block[k] = sum as u8;
                carry = sum >> 8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{P12Profile, Pkcs12Options, TrustedEntry, pkcs12};
    use rustls_pki_types::CertificateDer;

    fn cert(cn: &str) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let k = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&k).unwrap().der().to_vec()
    }

    #[test]
    fn edits_keep_every_other_byte_and_the_mac_checks() {
        let a = TrustedEntry {
            alias: "a".into(),
            cert: CertificateDer::from(cert("a.test")),
        };
        for profile in [
            P12Profile::Modern,
            P12Profile::Legacy3des,
            P12Profile::LegacyRc2,
        ] {
            let opts = Pkcs12Options {
                profile,
                ..Default::default()
            };
            let orig = pkcs12::write_truststore(std::slice::from_ref(&a), "pw", opts).unwrap();
            let p = Path::new("t.p12");
            let mut f = Pkcs12File::parse(p, &orig, "pw").unwrap();
            // minica's own writer seals the certificates.
            assert_eq!(f.sealed_safes(), 1);
            assert_eq!(f.encode("pw"), orig, "an unedited file encodes to itself");
            let b = cert("b.test");
            f.push_trusted("minica-b", &b);
            let added = f.encode("pw");
            let read = pkcs12::read(p, &added, "pw").unwrap();
            let mut aliases: Vec<_> = read.trusted.iter().map(|t| t.alias.clone()).collect();
            aliases.sort();
            assert_eq!(aliases, ["a", "minica-b"]);
            assert!(Pkcs12File::parse(p, &added, "wrong").is_err());
            let mut g = Pkcs12File::parse(p, &added, "pw").unwrap();
            assert_eq!(g.remove(|b| b.alias.as_deref() == Some("minica-b")), 1);
            assert_eq!(
                g.encode("pw"),
                orig,
                "removing what was added restores the file"
            );
        }
    }

    #[test]
    fn kdf_matches_a_known_vector() {
        // From OpenSSL's test/pkcs12_format_test vectors via RFC 7292's KDF:
        // password "smeg", salt 0A58CF64530D823F, 1 iteration, SHA-1, ID 1, 24 bytes.
        let k = pkcs12_kdf(
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            "smeg",
            &[0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f],
            1,
            1,
            24,
        );
        assert_eq!(
            crate::x509::hex(&k),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
    }

    /// Key bags hidden in a cheaply sealed safe: refused before any is opened.
    #[test]
    fn key_work_inside_sealed_safes_is_bounded() {
        use crate::stores::MAX_ITERATIONS;
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let pkcs8 = crate::keys::pkcs8_der(&key);
        let heavy = Scheme::modern(MAX_ITERATIONS);
        let bags = (0..6u8)
            .map(|i| shrouded_key_bag(&pkcs8, &format!("k{i}"), &[i], &heavy, "pw"))
            .collect();
        let mut f = Pkcs12File::empty(Some((MacDigest::Sha256, 1)));
        f.push_safe(bags, Some(Scheme::modern(1)));
        let bytes = f.encode("pw");
        let start = std::time::Instant::now();
        let e = Pkcs12File::parse(Path::new("k.p12"), &bytes, "pw").unwrap_err();
        assert!(e.to_string().contains("more work"), "{e}");
        assert!(start.elapsed().as_secs() < 5);
    }

    /// Truncated, bit-flipped and spliced stores (DER and BER): an error or
    /// a store, never a panic, and no more work than the bounds allow.
    #[test]
    fn mangled_stores_are_errors_not_panics() {
        let a = TrustedEntry {
            alias: "a".into(),
            cert: CertificateDer::from(cert("a.test")),
        };
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let entry = crate::stores::KeyEntry {
            alias: "k".into(),
            key_pkcs8: Zeroizing::new(crate::keys::pkcs8_der(&key)),
            chain: vec![CertificateDer::from(cert("k.test"))],
        };
        let opts = Pkcs12Options {
            iterations: 1,
            ..Default::default()
        };
        let with_mac = pkcs12::write(
            std::slice::from_ref(&entry),
            std::slice::from_ref(&a),
            "pw",
            opts,
        )
        .unwrap();
        // No MAC: mangled bytes get past the integrity check, deep into the parser.
        let mut plain = Pkcs12File::empty(None);
        plain.push_safe(vec![trusted_bag("a", &a.cert)], None);
        let p = Protection {
            certs: None,
            keys: Scheme::modern(1),
            mac: None,
        };
        plain.push_key("k", &entry.key_pkcs8, &[entry.chain[0].as_ref()], &p, "pw");
        let without = plain.encode("pw");
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n.max(1)
        };
        for round in 0..3000 {
            let mut b = if (round / 4) % 2 == 0 {
                with_mac.to_vec()
            } else {
                without.clone()
            };
            match round % 4 {
                0 => b.truncate(next(b.len())),
                1 => {
                    for _ in 0..1 + next(4) {
                        let i = next(b.len());
                        b[i] ^= 1 << next(8);
                    }
                }
                2 => {
                    // A length byte turned into BER's indefinite form.
                    let i = next(b.len());
                    b[i] = 0x80;
                }
                _ => {
                    let (i, j) = (next(b.len()), next(b.len()));
                    let chunk = b[i.min(j)..i.max(j)].to_vec();
                    let at = next(b.len());
                    b.splice(at..at, chunk);
                }
            }
            let _ = ber_to_der(&b);
            if let Ok(f) = Pkcs12File::parse(Path::new("m.p12"), &b, "pw") {
                for bag in f.bags() {
                    let _ = bag.private_key("pw");
                }
                let _ = f.encode("pw");
            }
        }
    }
}
