//! The Java KeyStore format (JKS), written and read by hand: it is small,
//! and the one crate for it encodes non-ASCII passwords wrongly.
//!
//! ```text
//! u32 0xFEEDFEED, u32 version 2, u32 entry count
//! entry: u32 tag (1 private key, 2 trusted certificate), UTF alias, u64 date (ms)
//!   tag 1: u32 len + EncryptedPrivateKeyInfo, u32 chain length, certificates
//!   tag 2: certificate
//! certificate: UTF "X.509", u32 len + DER
//! trailer: SHA-1(password as UTF-16BE || "Mighty Aphrodite" || everything above)
//! ```
//! Private keys are protected with Sun's KeyProtector (OID
//! 1.3.6.1.4.1.42.2.17.1.1): a SHA-1 keystream XORed over the PKCS#8, with
//! a SHA-1 check value. UTF is Java's DataOutput.writeUTF: u16 length +
//! modified UTF-8.

use std::path::Path;

use aws_lc_rs::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, digest};
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

use super::{Contents, KeyEntry, TrustedEntry};
use crate::error::{Error, Result};

pub const MAGIC: u32 = 0xFEED_FEED;
const VERSION: u32 = 2;
const TAG_KEY: u32 = 1;
const TAG_TRUSTED: u32 = 2;
const WHITENER: &[u8] = b"Mighty Aphrodite";
/// 1.3.6.1.4.1.42.2.17.1.1, DER-encoded (Sun JDK KeyProtector).
const KEY_PROTECTOR_OID: &[u8] = &[
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x2a, 0x02, 0x11, 0x01, 0x01,
];
const SALT_LEN: usize = 20;
/// Bounds on what a JKS file may declare, checked before the work: the
/// entries and a key's chain (each entry still has to fit in the file).
pub const MAX_ENTRIES: u32 = 100_000;
pub const MAX_CHAIN: u32 = 64;
const DIGEST_LEN: usize = 20;

/// Java's char[] as bytes: each UTF-16 unit big-endian.
fn password_bytes(password: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        password
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect(),
    )
}

/// Java's modified UTF-8 (DataOutput.writeUTF).
fn put_utf(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let mut enc = Vec::with_capacity(s.len());
    for u in s.encode_utf16() {
        match u {
            0x0001..=0x007f => enc.push(u as u8),
            0x0000 | 0x0080..=0x07ff => {
                enc.push(0xc0 | (u >> 6) as u8);
                enc.push(0x80 | (u & 0x3f) as u8);
            }
            _ => {
                enc.push(0xe0 | (u >> 12) as u8);
                enc.push(0x80 | ((u >> 6) & 0x3f) as u8);
                enc.push(0x80 | (u & 0x3f) as u8);
            }
        }
    }
    let len = u16::try_from(enc.len()).map_err(|_| Error::usage("alias too long for JKS"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&enc);
    Ok(())
}

fn put_cert(out: &mut Vec<u8>, der: &[u8]) -> Result<()> {
    put_utf(out, "X.509")?;
    out.extend_from_slice(&(der.len() as u32).to_be_bytes());
    out.extend_from_slice(der);
    Ok(())
}

use crate::x509::der_tlv;

/// The keystream of Sun's KeyProtector: SHA-1(password || previous), seeded
/// with the salt.
fn keystream(pw: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut stream = Zeroizing::new(Vec::with_capacity(len + DIGEST_LEN));
    let mut prev = salt.to_vec();
    while stream.len() < len {
        let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(pw);
        ctx.update(&prev);
        prev = ctx.finish().as_ref().to_vec();
        stream.extend_from_slice(&prev);
    }
    stream.truncate(len);
    stream
}

fn protect_key(pkcs8: &[u8], pw: &[u8]) -> Result<Vec<u8>> {
    let mut salt = [0u8; SALT_LEN];
    crate::rng::fill(&mut salt)?;
    let stream = keystream(pw, &salt, pkcs8.len());
    let mut check = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    check.update(pw);
    check.update(pkcs8);
    let mut body = Vec::with_capacity(SALT_LEN + pkcs8.len() + DIGEST_LEN);
    body.extend_from_slice(&salt);
    body.extend(pkcs8.iter().zip(stream.iter()).map(|(a, b)| a ^ b));
    body.extend_from_slice(check.finish().as_ref());
    let mut alg = KEY_PROTECTOR_OID.to_vec();
    alg.extend_from_slice(&[0x05, 0x00]);
    let mut info = der_tlv(0x30, &alg);
    info.extend(der_tlv(0x04, &body));
    Ok(der_tlv(0x30, &info))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Writes a JKS with private key entries and trusted certificates.
pub fn write(
    keys: &[KeyEntry],
    trusted: &[TrustedEntry],
    password: &str,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut entries = Vec::with_capacity(keys.len() + trusted.len());
    for k in keys {
        entries.push(key_raw(k, password)?);
    }
    for t in trusted {
        entries.push(trusted_raw(&t.alias, &t.cert)?);
    }
    Ok(Zeroizing::new(encode_raw(&entries, password)))
}

/// A private key entry: the key under Sun's KeyProtector, and its chain.
pub fn key_raw(k: &KeyEntry, password: &str) -> Result<RawEntry> {
    let pw = password_bytes(password);
    let mut b = Vec::new();
    b.extend_from_slice(&TAG_KEY.to_be_bytes());
    put_utf(&mut b, &k.alias)?;
    b.extend_from_slice(&now_ms().to_be_bytes());
    let protected = protect_key(&k.key_pkcs8, &pw)?;
    b.extend_from_slice(&(protected.len() as u32).to_be_bytes());
    b.extend_from_slice(&protected);
    b.extend_from_slice(&(k.chain.len() as u32).to_be_bytes());
    for c in &k.chain {
        put_cert(&mut b, c)?;
    }
    Ok(RawEntry {
        alias: k.alias.clone(),
        cert: None,
        bytes: b,
    })
}

fn integrity(pw: &[u8], body: &[u8]) -> Vec<u8> {
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(pw);
    ctx.update(WHITENER);
    ctx.update(body);
    ctx.finish().as_ref().to_vec()
}

/// A cursor over the store that turns running off the end into an error.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Error::bad_file(
                self.path,
                "is not a valid JKS file (truncated or corrupt)",
            )),
        }
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn utf(&mut self) -> Result<String> {
        let n = self.u16()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn cert(&mut self) -> Result<CertificateDer<'static>> {
        let kind = self.utf()?;
        if kind != "X.509" {
            return Err(Error::bad_file(
                self.path,
                format!("holds a {kind:?} certificate; only X.509 is supported"),
            ));
        }
        let n = self.u32()? as usize;
        Ok(CertificateDer::from(self.take(n)?.to_vec()))
    }
}

/// Reads a JKS, checking its integrity with the password first.
pub fn read(path: &Path, bytes: &[u8], password: &str) -> Result<Contents> {
    let body = check_integrity(path, bytes, password)?;
    let pw = password_bytes(password);
    let count = entry_count(path, body)?;
    let mut r = Reader {
        data: body,
        pos: 12,
        path,
    };
    let mut out = Contents::default();
    for _ in 0..count {
        let tag = r.u32()?;
        let alias = r.utf()?;
        r.take(8)?;
        match tag {
            TAG_KEY => {
                let n = r.u32()? as usize;
                let protected = r.take(n)?;
                out.key_pkcs8.push(unprotect_key(path, protected, &pw)?);
                let chain_len = r.u32()?;
                if chain_len > MAX_CHAIN {
                    return Err(Error::bad_file(
                        path,
                        format!(
                            "holds a key whose chain has {chain_len} certificates; minica reads at most {MAX_CHAIN}"
                        ),
                    ));
                }
                let chain = (0..chain_len)
                    .map(|_| r.cert())
                    .collect::<Result<Vec<_>>>()?;
                out.keys.push((alias, chain));
            }
            TAG_TRUSTED => {
                let cert = r.cert()?;
                out.trusted.push(TrustedEntry { alias, cert });
            }
            other => {
                return Err(Error::bad_file(
                    path,
                    format!("holds an entry of unknown kind {other}"),
                ));
            }
        }
    }
    if r.pos != body.len() {
        return Err(Error::bad_file(
            path,
            "is not a valid JKS file (extra data after the entries)",
        ));
    }
    Ok(out)
}

/// One entry of a JKS kept as its bytes, for editing a store minica did
/// not write (the JDK's cacerts) without touching its other entries.
#[derive(Debug, Clone)]
pub struct RawEntry {
    pub alias: String,
    /// The certificate of a trusted-certificate entry.
    pub cert: Option<Vec<u8>>,
    pub bytes: Vec<u8>,
}

/// A JKS as raw entries, its integrity checked with the password. Key
/// entries are walked, not decrypted.
pub fn parse_raw(path: &Path, bytes: &[u8], password: &str) -> Result<Vec<RawEntry>> {
    let body = check_integrity(path, bytes, password)?;
    let mut r = Reader {
        data: body,
        pos: 12,
        path,
    };
    let count = entry_count(path, body)?;
    let mut out = Vec::with_capacity(count.min(1024) as usize);
    for _ in 0..count {
        let start = r.pos;
        let tag = r.u32()?;
        let alias = r.utf()?;
        r.take(8)?;
        let cert = match tag {
            TAG_KEY => {
                let n = r.u32()? as usize;
                r.take(n)?;
                let chain_len = r.u32()?;
                if chain_len > MAX_CHAIN {
                    return Err(Error::bad_file(path, "holds a key with too long a chain"));
                }
                for _ in 0..chain_len {
                    r.cert()?;
                }
                None
            }
            TAG_TRUSTED => Some(r.cert()?.to_vec()),
            other => {
                return Err(Error::bad_file(
                    path,
                    format!("holds an entry of unknown kind {other}"),
                ));
            }
        };
        out.push(RawEntry {
            alias,
            cert,
            bytes: body[start..r.pos].to_vec(),
        });
    }
    if r.pos != body.len() {
        return Err(Error::bad_file(
            path,
            "is not a valid JKS file (extra data after the entries)",
        ));
    }
    Ok(out)
}

/// Raw entries back as a JKS under `password`.
pub fn encode_raw(entries: &[RawEntry], password: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.bytes);
    }
    let mac = integrity(&password_bytes(password), &out);
    out.extend_from_slice(&mac);
    out
}

/// A trusted-certificate entry for `der` under `alias`.
pub fn trusted_raw(alias: &str, der: &[u8]) -> Result<RawEntry> {
    let mut b = Vec::new();
    b.extend_from_slice(&TAG_TRUSTED.to_be_bytes());
    put_utf(&mut b, alias)?;
    b.extend_from_slice(&now_ms().to_be_bytes());
    put_cert(&mut b, der)?;
    Ok(RawEntry {
        alias: alias.to_string(),
        cert: Some(der.to_vec()),
        bytes: b,
    })
}

/// The body before the SHA-1 trailer, once the trailer matches.
fn check_integrity<'a>(path: &Path, bytes: &'a [u8], password: &str) -> Result<&'a [u8]> {
    if bytes.len() < 12 + DIGEST_LEN || !bytes.starts_with(&MAGIC.to_be_bytes()) {
        return Err(Error::bad_file(
            path,
            "is not a valid JKS file (truncated or corrupt)",
        ));
    }
    let (body, mac) = bytes.split_at(bytes.len() - DIGEST_LEN);
    if integrity(&password_bytes(password), body) != mac {
        return Err(Error::bad_file_fix(
            path,
            "wrong password, or the file is corrupt (the JKS integrity check failed)",
            "give the password the store was written with (the JDK's cacerts uses changeit)",
        ));
    }
    Ok(body)
}

/// The entry count of a checked body, within bounds, of a known version.
fn entry_count(path: &Path, body: &[u8]) -> Result<u32> {
    let mut r = Reader {
        data: body,
        pos: 4,
        path,
    };
    let version = r.u32()?;
    if version != VERSION {
        return Err(Error::bad_file(
            path,
            format!("is a JKS version {version}; only version 2 is supported"),
        ));
    }
    let count = r.u32()?;
    if count > MAX_ENTRIES {
        return Err(Error::bad_file(
            path,
            format!("declares {count} entries, more than the {MAX_ENTRIES} minica reads"),
        ));
    }
    Ok(count)
}

fn unprotect_key(path: &Path, info: &[u8], pw: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let bad = || Error::bad_file(path, "holds a private key minica cannot read");
    // SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING body }: find the body.
    let oid_at = info
        .windows(KEY_PROTECTOR_OID.len())
        .position(|w| w == KEY_PROTECTOR_OID)
        .ok_or_else(bad)?;
    let mut i = oid_at + KEY_PROTECTOR_OID.len();
    if info.get(i..i + 2) == Some(&[0x05, 0x00]) {
        i += 2;
    }
    if info.get(i) != Some(&0x04) {
        return Err(bad());
    }
    i += 1;
    let first = *info.get(i).ok_or_else(bad)? as usize;
    i += 1;
    let len = if first < 0x80 {
        first
    } else {
        let n = first & 0x7f;
        let bytes = info.get(i..i + n).ok_or_else(bad)?;
        i += n;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize)
    };
    let body = info.get(i..i + len).ok_or_else(bad)?;
    if body.len() < SALT_LEN + DIGEST_LEN {
        return Err(bad());
    }
    let (salt, rest) = body.split_at(SALT_LEN);
    let (enc, check) = rest.split_at(rest.len() - DIGEST_LEN);
    let stream = keystream(pw, salt, enc.len());
    let plain = Zeroizing::new(
        enc.iter()
            .zip(stream.iter())
            .map(|(a, b)| a ^ b)
            .collect::<Vec<u8>>(),
    );
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(pw);
    ctx.update(&plain);
    if ctx.finish().as_ref() != check {
        return Err(Error::bad_file(
            path,
            "the private key does not decrypt with this password",
        ));
    }
    Ok(plain)
}

/// SHA-1 of some bytes, for fingerprints in tests and messages.
pub fn sha1(data: &[u8]) -> Vec<u8> {
    digest(&SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf8_matches_java() {
        let mut out = Vec::new();
        put_utf(&mut out, "aé\u{0}").unwrap();
        assert_eq!(out, [0, 5, b'a', 0xc3, 0xa9, 0xc0, 0x80]);
    }

    #[test]
    fn round_trip_and_wrong_password() {
        let key = crate::keys::KeyType::EcdsaP256.generate().unwrap();
        let entry = KeyEntry {
            alias: "srv".into(),
            key_pkcs8: Zeroizing::new(crate::keys::pkcs8_der(&key)),
            chain: vec![CertificateDer::from(vec![0x30, 0x00])],
        };
        let bytes = write(std::slice::from_ref(&entry), &[], "pässwörd").unwrap();
        let back = read(Path::new("s.jks"), &bytes, "pässwörd").unwrap();
        assert_eq!(back.keys[0].0, "srv");
        assert_eq!(back.key_pkcs8[0].as_slice(), entry.key_pkcs8.as_slice());
        let err = read(Path::new("s.jks"), &bytes, "passwörd").unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err}");
        let err = read(Path::new("s.jks"), &bytes[..bytes.len() - 30], "pässwörd").unwrap_err();
        assert!(err.to_string().contains("s.jks"), "{err}");
    }
}
