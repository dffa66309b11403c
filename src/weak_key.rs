//! The one key minica makes only when asked to make something wrong: an
//! RSA-1024 key, for `apply`'s `weak_key` negative fixture.
//!
//! aws-lc-rs (like ring) generates RSA keys of 2048 bits and more only, and
//! rcgen's `RsaKeySize` follows it; minica's own RSA key generation
//! (src/rsa_keygen.rs, on aws-lc's arithmetic) makes any size from 1024
//! bits, so the weak key comes from the same code as every other RSA key.

use std::ptr;

use aws_lc_sys as sys;
use zeroize::Zeroizing;

use crate::error::Result;

/// The size the CA/Browser Forum, NIST (SP 800-131A) and OpenSSL at its
/// default security level 2 have refused since 2014 or so.
pub const WEAK_RSA_BITS: u32 = 1024;

/// A new RSA-1024 key: its PKCS#8 DER and its SubjectPublicKeyInfo DER.
pub fn generate_rsa_1024() -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    let key = crate::rsa_keygen::generate(WEAK_RSA_BITS, 1)?;
    Ok((key.pkcs8, key.spki))
}

/// The SubjectPublicKeyInfo of a PKCS#8 private key (of any type aws-lc
/// reads), to tell whether a key file still belongs to its certificate.
pub fn spki_of_pkcs8(pkcs8: &[u8]) -> Option<Vec<u8>> {
    // SAFETY: the CBS borrows `pkcs8` for the call only; the EVP_PKEY is
    // freed on every path.
    unsafe {
        let mut cbs = std::mem::MaybeUninit::<sys::CBS>::zeroed();
        sys::CBS_init(cbs.as_mut_ptr(), pkcs8.as_ptr(), pkcs8.len());
        let pkey = sys::EVP_parse_private_key(cbs.as_mut_ptr());
        if pkey.is_null() {
            return None;
        }
        let spki = marshal(|cbb| sys::EVP_marshal_public_key(cbb, pkey));
        sys::EVP_PKEY_free(pkey);
        spki.map(|s| s.to_vec())
    }
}

/// What `write` puts into a fresh CBB, copied out (and the copy wiped on
/// drop, as it may be a private key).
///
/// # Safety
/// `write` must only write into the CBB it is given.
pub(crate) unsafe fn marshal(
    write: impl FnOnce(*mut sys::CBB) -> i32,
) -> Option<Zeroizing<Vec<u8>>> {
    let mut cbb = std::mem::MaybeUninit::<sys::CBB>::zeroed();
    // SAFETY: the CBB is initialised before use and cleaned up on every path.
    unsafe {
        if sys::CBB_init(cbb.as_mut_ptr(), 1024) != 1 {
            return None;
        }
        if write(cbb.as_mut_ptr()) != 1 {
            sys::CBB_cleanup(cbb.as_mut_ptr());
            return None;
        }
        let mut data: *mut u8 = ptr::null_mut();
        let mut len: usize = 0;
        if sys::CBB_finish(cbb.as_mut_ptr(), &mut data, &mut len) != 1 || data.is_null() {
            sys::CBB_cleanup(cbb.as_mut_ptr());
            return None;
        }
        let out = Zeroizing::new(std::slice::from_raw_parts(data, len).to_vec());
        sys::OPENSSL_cleanse(data.cast(), len);
        sys::OPENSSL_free(data.cast());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_1024_bit_rsa_key() {
        let (pkcs8, spki) = generate_rsa_1024().unwrap();
        use x509_parser::prelude::FromDer;
        let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki).unwrap();
        let key = crate::policy::KeyInfo::from_spki(&info);
        assert_eq!((key.algorithm.as_str(), key.bits), ("rsa", 1024));
        assert!(
            pkcs8.len() > 600,
            "a PKCS#8 RSA-1024 key is about 630 bytes"
        );
        assert_eq!(spki_of_pkcs8(&pkcs8), Some(spki));
        assert_eq!(spki_of_pkcs8(b"not a key"), None);
    }
}
