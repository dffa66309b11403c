//! PKCS#12: written by minica itself (`p12edit`), read through the
//! p12-keystore crate. Default protection is what Java 17 and OpenSSL 3
//! write (PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC, HMAC-SHA256 MAC), so
//! OpenSSL 3 needs no `-legacy`; other profiles: [`P12Profile`].
//! Trusted certificates carry Java's trusted-key-usage attribute (OID
//! 2.16.840.1.113894.746875.1.1): without it Java sees an empty truststore.

use std::path::Path;

use p12_keystore::Pkcs12Archive;
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::p12edit::{MacDigest, Pkcs12File, Protection};
use super::pbe::Scheme;
use super::{Contents, KeyEntry, MAX_ITERATIONS, P12Profile, Pkcs12Options, TrustedEntry};
use crate::error::{Error, Result};

/// The most key-derivation work (PBKDF2 / PKCS#12-KDF iterations, scrypt
/// N·r·p) that reading one PKCS#12 file may cost, summed over the MAC and
/// every encrypted safe and key bag. A store minica writes at the highest
/// `--iterations` costs 3 × MAX_ITERATIONS (MAC, certificates, key).
pub const MAX_KDF_WORK: u64 = 4 * MAX_ITERATIONS as u64;
/// The most DER elements a PKCS#12 file may hold, and how deep they may
/// nest (a store of 6,000 certificates has about 3 million).
const MAX_DER_NODES: usize = 4_000_000;
const MAX_DER_DEPTH: usize = 40;
/// The most memory scrypt may ask for (128·r·N bytes).
pub(super) const MAX_SCRYPT_MEMORY: u64 = 256 << 20;

const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
/// 1.2.840.113549.1.12.1.x: the PKCS#12 PBE schemes (3DES, RC2, RC4).
const OID_PKCS12_PBE_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// 1.2.840.113549.1.5.x PBES1 (PBE-MD5/SHA1-DES...), {salt, iterations} too.
const OID_PBES1_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];
const OID_SCRYPT: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b];
/// 1.2.840.113549.1.7.1 (PKCS#7 data), and 1.2.840.113549.1.5.13 (PBES2).
pub(super) const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];

/// Why a walk stopped.
const OVER_BUDGET: &str = "over budget";

use crate::x509::der_tlv as tlv;

/// One DER element: tag byte(s), and the content.
pub(super) struct Tlv<'a> {
    pub(super) constructed: bool,
    /// The first tag byte.
    pub(super) tag: u8,
    pub(super) content: &'a [u8],
    /// The whole element, tag and length included.
    pub(super) raw: &'a [u8],
}

/// The header of the element at the start of `data`: the tag's length in
/// bytes, the content's length (None: BER's indefinite form), and the
/// header's length. None when it is cut short or longer than 4 GiB.
pub(super) fn header(data: &[u8]) -> Option<(usize, Option<usize>, usize)> {
    let mut i = 1;
    if *data.first()? & 0x1f == 0x1f {
        while *data.get(i)? & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    let tag_len = i;
    let first = *data.get(i)?;
    i += 1;
    let len = match first {
        0x80 => None,
        f if f < 0x80 => Some(f as usize),
        f => {
            let n = (f & 0x7f) as usize;
            if n > 4 {
                return None;
            }
            let bytes = data.get(i..i + n)?;
            i += n;
            Some(bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize))
        }
    };
    Some((tag_len, len, i))
}

/// Splits `data` into its DER elements; None when it is not DER.
pub(super) fn tlvs(mut data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let tag = data[0];
        let (_, len, i) = header(data)?;
        let len = len?;
        let content = data.get(i..i.checked_add(len)?)?;
        out.push(Tlv {
            constructed: tag & 0x20 != 0,
            tag,
            content,
            raw: &data[..i + len],
        });
        data = &data[i + len..];
    }
    Some(out)
}

/// An INTEGER's value, saturated at u64::MAX; 0 for negative or empty.
pub(super) fn uint(t: &Tlv<'_>) -> Option<u64> {
    if t.tag != 0x02 {
        return None;
    }
    if t.content.first().is_none_or(|b| b & 0x80 != 0) {
        return Some(0);
    }
    let c = &t.content[t.content.iter().take_while(|b| **b == 0).count()..];
    Some(if c.len() > 8 {
        u64::MAX
    } else {
        c.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
    })
}

/// What reading a PKCS#12 file will cost, found before any key is derived.
#[derive(Debug, Default)]
pub struct Cost {
    /// Total KDF work: iterations, and N·r·p for scrypt.
    pub work: u64,
    /// The largest single KDF.
    pub largest: u64,
    /// The largest scrypt memory asked for, in bytes.
    pub scrypt_memory: u64,
    /// Whether the file has a MAC (password integrity) at all.
    pub has_mac: bool,
    nodes: usize,
}

impl Cost {
    fn add(&mut self, work: u64) {
        self.work = self.work.saturating_add(work);
        self.largest = self.largest.max(work);
    }

    fn within_budget(&self) -> bool {
        self.largest <= u64::from(MAX_ITERATIONS)
            && self.work <= MAX_KDF_WORK
            && self.scrypt_memory <= MAX_SCRYPT_MEMORY
    }

    /// Walks the DER, descending into OCTET STRINGs that hold DER (the
    /// authenticated safe, plain safes, extension values), and adds every
    /// KDF it finds: an AlgorithmIdentifier whose parameters count
    /// iterations. With the password, a PBES2-encrypted safe is decrypted
    /// (once its own KDF is counted and within budget) and its content
    /// walked too, so key bags hidden inside it count as well.
    fn walk(
        &mut self,
        elems: &[Tlv<'_>],
        depth: usize,
        password: Option<&str>,
    ) -> std::result::Result<(), &'static str> {
        if depth > MAX_DER_DEPTH {
            return Err("its DER nests too deep");
        }
        self.nodes += elems.len();
        if self.nodes > MAX_DER_NODES {
            return Err("it holds too many DER elements");
        }
        if let [oid, params, ..] = elems
            && oid.tag == 0x06
            && params.tag == 0x30
        {
            self.algorithm(oid.content, params.content);
        }
        for e in elems {
            let holds_der = e.constructed || (e.tag == 0x04 && e.content.first() == Some(&0x30));
            let inner = if holds_der { tlvs(e.content) } else { None };
            if let Some(inner) = inner {
                self.walk(&inner, depth + 1, password)?;
            }
        }
        if !self.within_budget() {
            return Err(OVER_BUDGET);
        }
        // EncryptedContentInfo ::= SEQUENCE { data, AlgorithmIdentifier, [0] content }
        if let (Some(pw), [oid, alg, enc, ..]) = (password, elems)
            && oid.tag == 0x06
            && oid.content == OID_DATA
            && alg.tag == 0x30
            && enc.tag == 0x80
            && alg.content.starts_with(&tlv(0x06, OID_PBES2))
        {
            use pkcs8::der::Decode;
            let plain = pkcs8::pkcs5::EncryptionScheme::from_der(&tlv(0x30, alg.content))
                .ok()
                .and_then(|scheme| scheme.decrypt(pw.as_bytes(), enc.content).ok())
                .map(Zeroizing::new);
            if let Some(plain) = plain
                && let Some(inner) = tlvs(&plain)
            {
                self.walk(&inner, depth + 1, password)?;
            }
        }
        Ok(())
    }

    fn algorithm(&mut self, oid: &[u8], params: &[u8]) {
        let Some(p) = tlvs(params) else { return };
        let is_pbe = oid == OID_PBKDF2
            || (oid.len() == OID_PKCS12_PBE_PREFIX.len() + 1
                && oid.starts_with(OID_PKCS12_PBE_PREFIX))
            || (oid.len() == OID_PBES1_PREFIX.len() + 1
                && oid.starts_with(OID_PBES1_PREFIX)
                && matches!(oid[OID_PBES1_PREFIX.len()], 1 | 3 | 4 | 6 | 10 | 11));
        if is_pbe {
            // {salt OCTET STRING, iterationCount INTEGER, ...}
            if let [salt, iter, ..] = p.as_slice()
                && salt.tag == 0x04
                && let Some(n) = uint(iter)
            {
                self.add(n);
            }
        } else if oid == OID_SCRYPT
            && let [_, n, r, par, ..] = p.as_slice()
            && let (Some(n), Some(r), Some(par)) = (uint(n), uint(r), uint(par))
        {
            self.add(n.saturating_mul(r).saturating_mul(par));
            let memory = n.saturating_mul(128).saturating_mul(r);
            self.scrypt_memory = self.scrypt_memory.max(memory);
        }
    }
}

/// The cost of opening `bytes`, or why it is refused before any work:
/// Err for a file whose KDFs exceed the budget (each at most
/// MAX_ITERATIONS, all together MAX_KDF_WORK) or whose DER is too large.
/// A file that is not DER at all gets Ok with no cost (the decoder then
/// says it is corrupt).
pub fn cost(path: &Path, bytes: &[u8]) -> Result<Cost> {
    cost_opening(path, bytes, None)
}

/// `cost`, and with the password, the cost of what PBES2-encrypted safes
/// hold too (decrypting each once more; see `Cost::walk`).
pub fn cost_opening(path: &Path, bytes: &[u8], password: Option<&str>) -> Result<Cost> {
    let mut cost = Cost::default();
    let Some(top) = tlvs(bytes) else {
        return Ok(cost);
    };
    let refuse = |why: String| {
        Error::bad_file_fix(
            path,
            why,
            "re-export the store with ordinary settings (`minica keystore`/`truststore`, or `openssl pkcs12 -export -iter 10000`)",
        )
    };
    // PFX ::= SEQUENCE { version, authSafe ContentInfo, macData MacData OPTIONAL }
    if let [pfx] = top.as_slice()
        && pfx.tag == 0x30
        && let Some(fields) = tlvs(pfx.content)
    {
        if let Some(mac) = fields.get(2)
            && let Some(mac) = tlvs(mac.content)
        {
            cost.has_mac = true;
            // MacData ::= SEQUENCE { DigestInfo, macSalt, iterations INTEGER DEFAULT 1 }
            cost.add(mac.get(2).and_then(uint).unwrap_or(1));
        }
        match cost.walk(&fields[..fields.len().min(2)], 1, password) {
            Err(why) if why != OVER_BUDGET => {
                return Err(refuse(format!(
                    "is too large to read as a PKCS#12 file: {why}"
                )));
            }
            _ => {}
        }
    }
    if cost.largest > u64::from(MAX_ITERATIONS) {
        return Err(refuse(format!(
            "asks for {} key-derivation iterations in one step, more than the {MAX_ITERATIONS} minica reads or writes",
            cost.largest
        )));
    }
    if cost.scrypt_memory > MAX_SCRYPT_MEMORY {
        return Err(refuse(format!(
            "asks scrypt for {} MiB of memory; minica allows {} MiB",
            cost.scrypt_memory >> 20,
            MAX_SCRYPT_MEMORY >> 20
        )));
    }
    if cost.work > MAX_KDF_WORK {
        return Err(refuse(format!(
            "would take {} key-derivation iterations to open, more than the {MAX_KDF_WORK} minica spends on one store",
            cost.work
        )));
    }
    Ok(cost)
}

/// What protects each part of a new file under `opts`.
pub(super) fn protection(opts: Pkcs12Options) -> Protection {
    use super::pbe::Legacy;
    let n = opts.iterations;
    match opts.profile {
        P12Profile::Modern => Protection {
            certs: Some(Scheme::modern(n)),
            keys: Scheme::modern(n),
            mac: Some((MacDigest::Sha256, n)),
        },
        P12Profile::Legacy3des => Protection {
            certs: Some(Scheme::legacy(Legacy::Tdes, n)),
            keys: Scheme::legacy(Legacy::Tdes, n),
            mac: Some((MacDigest::Sha1, n)),
        },
        P12Profile::LegacyRc2 => Protection {
            certs: Some(Scheme::legacy(Legacy::Rc2_40, n)),
            keys: Scheme::legacy(Legacy::Tdes, n),
            mac: Some((MacDigest::Sha1, n)),
        },
        P12Profile::Passwordless => Protection {
            certs: None,
            keys: Scheme::modern(n),
            mac: None,
        },
    }
}

/// A PKCS#12 file of private key entries and trusted certificates, each
/// under one alias in every bag (see `p12edit::Pkcs12File::push_key`).
pub fn write(
    keys: &[KeyEntry],
    trusted: &[TrustedEntry],
    password: &str,
    opts: Pkcs12Options,
) -> Result<Zeroizing<Vec<u8>>> {
    opts.check()?;
    if opts.profile == P12Profile::Passwordless && !keys.is_empty() {
        return Err(Error::usage(
            "a password-less PKCS#12 holds certificates only: a private key needs a password (use --profile modern)",
        ));
    }
    let p = protection(opts);
    let mut file = Pkcs12File::empty(p.mac);
    for k in keys {
        let chain: Vec<&[u8]> = k.chain.iter().map(|c| c.as_ref()).collect();
        if chain.is_empty() {
            return Err(Error::usage("a keystore needs at least the certificate"));
        }
        file.push_key(&k.alias, &k.key_pkcs8, &chain, &p, password);
    }
    if !trusted.is_empty() {
        let bags = trusted
            .iter()
            .map(|t| super::p12edit::trusted_bag(&t.alias, &t.cert))
            .collect();
        file.push_safe(bags, p.certs.clone());
    }
    Ok(Zeroizing::new(file.encode(password)))
}

pub fn write_keystore(
    entry: &KeyEntry,
    password: &str,
    opts: Pkcs12Options,
) -> Result<Zeroizing<Vec<u8>>> {
    write(std::slice::from_ref(entry), &[], password, opts)
}

pub fn write_truststore(
    entries: &[TrustedEntry],
    password: &str,
    opts: Pkcs12Options,
) -> Result<Vec<u8>> {
    Ok(write(&[], entries, password, opts)?.to_vec())
}

/// Reads a PKCS#12 store. Its cost is bounded first (see `cost`), and a
/// file with no MAC is refused: without one, any password opens it and
/// nothing shows that it was not altered, so its certificates must not be
/// trusted (`openssl pkcs12 -export -nomac` writes such files).
pub fn read(path: &Path, bytes: &[u8], password: &str) -> Result<Contents> {
    let cost = cost_opening(path, bytes, Some(password))?;
    if !cost.has_mac && Pfx::looks_like(bytes) {
        return Err(Error::bad_file_fix(
            path,
            "has no integrity check (no MAC): any password opens it and no one can tell whether it was altered, so minica does not read it",
            "re-export it with a MAC (`openssl pkcs12 -export` without -nomac, or `minica truststore`)",
        ));
    }
    let archive = Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => Error::bad_file_fix(
            path,
            "wrong password (the PKCS#12 integrity check failed)",
            "give the password the store was written with",
        ),
        p12_keystore::error::Error::Pkcs5Error(_) | p12_keystore::error::Error::UnpadError => {
            Error::bad_file_fix(path, "wrong password (the contents do not decrypt)", "give the password the store was written with")
        }
        p12_keystore::error::Error::UnsupportedEncryptionScheme
        | p12_keystore::error::Error::UnsupportedMacAlgorithm => Error::bad_file(
            path,
            "uses a PKCS#12 encryption minica cannot read (RC2-40? re-export it with `openssl pkcs12 -legacy`)",
        ),
        p12_keystore::error::Error::InvalidParameters => Error::bad_file(
            path,
            format!("asks for key-derivation parameters beyond what minica reads (at most {MAX_ITERATIONS} iterations each)"),
        ),
        _ => Error::bad_file(path, "is not a valid PKCS#12 file (truncated or corrupt)"),
    })?;
    let mut out = Contents::default();
    let mut used = vec![false; archive.certs.len()];
    for key in &archive.keys {
        let alias = key.friendly_name.clone().unwrap_or_default();
        let mut chain = Vec::new();
        if let Some(id) = &key.local_key_id
            && let Some(i) = archive
                .certs
                .iter()
                .position(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
        {
            used[i] = true;
            chain.push(CertificateDer::from(
                archive.certs[i].cert.as_der().to_vec(),
            ));
            // Follow issuers among the untrusted bags, as Java does.
            let mut issuer = archive.certs[i].cert.issuer().to_string();
            while let Some(j) = archive
                .certs
                .iter()
                .enumerate()
                .position(|(j, c)| !used[j] && !c.trusted && c.cert.subject() == issuer)
            {
                used[j] = true;
                chain.push(CertificateDer::from(
                    archive.certs[j].cert.as_der().to_vec(),
                ));
                if archive.certs[j].cert.subject() == archive.certs[j].cert.issuer() {
                    break;
                }
                issuer = archive.certs[j].cert.issuer().to_string();
            }
        }
        out.key_pkcs8
            .push(Zeroizing::new(key.key.as_der().to_vec()));
        out.keys.push((alias, chain));
    }
    for (i, c) in archive.certs.iter().enumerate() {
        if used[i] {
            continue;
        }
        let der = CertificateDer::from(c.cert.as_der().to_vec());
        if c.trusted {
            out.trusted.push(TrustedEntry {
                alias: c.friendly_name.clone().unwrap_or_default(),
                cert: der,
            });
        } else {
            out.untrusted.push(der);
        }
    }
    Ok(out)
}

/// Whether bytes parse as the outer shape of a PFX (SEQUENCE { INTEGER 3,
/// SEQUENCE { OID, ... } }), so that "no MAC" is said only of a PKCS#12.
struct Pfx;

impl Pfx {
    fn looks_like(bytes: &[u8]) -> bool {
        let Some(top) = tlvs(bytes) else { return false };
        let [pfx] = top.as_slice() else { return false };
        let Some(fields) = tlvs(pfx.content) else {
            return false;
        };
        matches!(fields.as_slice(), [v, auth, ..] if uint(v) == Some(3) && auth.tag == 0x30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truststore(iterations: u32) -> Vec<u8> {
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".into()]).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        let entries = [TrustedEntry {
            alias: "a".into(),
            cert: cert.der().clone(),
        }];
        let opts = Pkcs12Options {
            profile: P12Profile::Modern,
            iterations,
        };
        write_truststore(&entries, "changeit", opts).unwrap()
    }

    #[test]
    fn the_writer_and_the_reader_agree_on_the_cap() {
        let at_cap = truststore(MAX_ITERATIONS);
        let c = cost(Path::new("t.p12"), &at_cap).unwrap();
        assert!(c.has_mac);
        assert_eq!(
            c.work,
            2 * u64::from(MAX_ITERATIONS),
            "MAC + certificate safe"
        );
        let back = read(Path::new("t.p12"), &at_cap, "changeit").unwrap();
        assert_eq!(back.trusted.len(), 1);
        let over = Pkcs12Options {
            profile: P12Profile::Modern,
            iterations: MAX_ITERATIONS + 1,
        };
        let e = write_truststore(&[], "changeit", over).unwrap_err();
        assert!(e.to_string().contains("--iterations"), "{e}");
    }

    /// Key bags hidden inside an encrypted safe count too: a store whose
    /// key safe (six shrouded keys of a million iterations each) is itself
    /// encrypted with one iteration looks cheap from outside; with the
    /// password, the reader sees inside and refuses before any key bag is
    /// derived.
    #[test]
    fn bags_inside_encrypted_safes_count() {
        use pkcs8::der::Encode;
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let pkcs8 = crate::keys::pkcs8_der(&key);
        let scheme = Scheme::modern(MAX_ITERATIONS);
        let bags = (0..6u8)
            .map(|i| {
                super::super::p12edit::shrouded_key_bag(
                    &pkcs8,
                    &format!("k{i}"),
                    &[i],
                    &scheme,
                    "changeit",
                )
            })
            .collect();
        let mut file = Pkcs12File::empty(Some((MacDigest::Sha256, 1)));
        file.push_safe(bags, None);
        let bytes = file.encode("changeit");
        assert!(
            cost(Path::new("k.p12"), &bytes).is_err(),
            "visible key bags"
        );
        // PFX { v, ContentInfo { data, [0] { OCTET STRING { SEQ OF ContentInfo } } }, mac }
        let top = tlvs(&bytes).unwrap();
        let fields = tlvs(top[0].content).unwrap();
        let auth = tlvs(fields[1].content).unwrap();
        let octets = tlvs(auth[1].content).unwrap();
        let safes = tlvs(octets[0].content).unwrap();
        let safes = tlvs(safes[0].content).unwrap();
        let mut rebuilt = Vec::new();
        for safe in &safes {
            let ci = tlvs(safe.content).unwrap();
            if ci[0].content != OID_DATA {
                rebuilt.extend(tlv(0x30, safe.content));
                continue;
            }
            // The plain key safe, encrypted with one PBKDF2 iteration.
            let inner = tlvs(tlvs(ci[1].content).unwrap()[0].content).unwrap();
            let safe_contents = tlv(0x30, inner[0].content);
            let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
                1, &[7; 16], [9; 16],
            )
            .unwrap();
            let scheme = pkcs8::pkcs5::EncryptionScheme::from(params);
            let enc = scheme.encrypt("changeit", &safe_contents).unwrap();
            let eci = [
                tlv(0x06, OID_DATA),
                scheme.to_der().unwrap(),
                tlv(0x80, &enc),
            ]
            .concat();
            let ed = [tlv(0x02, &[0]), tlv(0x30, &eci)].concat();
            let oid_encrypted_data = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
            let content = [tlv(0x06, &oid_encrypted_data), tlv(0xa0, &tlv(0x30, &ed))].concat();
            rebuilt.extend(tlv(0x30, &content));
        }
        let auth_safe = [
            tlv(0x06, OID_DATA),
            tlv(0xa0, &tlv(0x04, &tlv(0x30, &rebuilt))),
        ]
        .concat();
        // No MAC: the budget is checked first, whatever the MAC says.
        let pfx = tlv(0x30, &[tlv(0x02, &[3]), tlv(0x30, &auth_safe)].concat());
        let outside = cost(Path::new("k.p12"), &pfx).unwrap();
        // From outside: the one-iteration key safe.
        assert_eq!(outside.work, 1, "{outside:?}");
        let start = std::time::Instant::now();
        let e = read(Path::new("k.p12"), &pfx, "changeit").unwrap_err();
        assert!(e.to_string().contains("key-derivation iterations"), "{e}");
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn ordinary_stores_cost_what_they_say() {
        let c = cost(Path::new("t.p12"), &truststore(2048)).unwrap();
        assert_eq!(c.work, 4096);
        assert!(cost(Path::new("x"), b"not der").unwrap().work == 0);
    }
}
