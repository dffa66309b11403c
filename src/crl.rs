//! Certificate revocation lists as `verify --crl` reads them: PEM (one or
//! more "X509 CRL" blocks) or DER. Revocation itself is checked by
//! rustls-webpki during path building; this module reads the files and
//! pulls out what minica's own CRL checks need.

use std::path::Path;

use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{Error, Result};
use crate::text::escape;
use crate::verify::rfc5280::CrlFacts;

const OID_CRL_NUMBER: &str = "2.5.29.20";

/// The CRLs in `bytes` (PEM or DER), each as DER.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = || {
        Error::bad_file_fix(
            path,
            "is not a CRL (neither PEM \"X509 CRL\" blocks nor a DER CertificateList)",
            "give the CRL file the CA published (`openssl crl -in FILE -noout -text` shows it)",
        )
    };
    let is_der = bytes.first() == Some(&0x30);
    if !is_der {
        let mut out = Vec::new();
        for item in CertificateRevocationListDer::pem_slice_iter(bytes) {
            let der = item.map_err(|_| bad())?;
            out.push(der.as_ref().to_vec());
        }
        if out.is_empty() {
            return Err(bad());
        }
        for d in &out {
            check(path, d)?;
        }
        return Ok(out);
    }
    check(path, bytes)?;
    Ok(vec![bytes.to_vec()])
}

fn check(path: &Path, der: &[u8]) -> Result<()> {
    match CertificateRevocationList::from_der(der) {
        Ok((&[], _)) => Ok(()),
        _ => Err(Error::bad_file_fix(
            path,
            "holds a CRL that cannot be parsed (truncated or corrupt)",
            "regenerate it, or give the CRL file the CA published",
        )),
    }
}

/// Reads the CRL file at `path`.
pub fn read(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = crate::fsx::read(path)?;
    parse(path, &bytes)
}

/// What the path checks need of one CRL; None if it does not parse.
pub fn facts(der: &[u8]) -> Option<CrlFacts> {
    let (_, crl) = CertificateRevocationList::from_der(der).ok()?;
    Some(CrlFacts {
        issuer_raw: crl.issuer().as_raw().to_vec(),
        has_crl_number: crl
            .extensions()
            .iter()
            .any(|e| e.oid.to_id_string() == OID_CRL_NUMBER),
        crl_number_critical: crl
            .extensions()
            .iter()
            .any(|e| e.critical && e.oid.to_id_string() == OID_CRL_NUMBER),
        issuer_text: escape(&crl.issuer().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_a_clear_error() {
        let e = parse(Path::new("x.crl"), b"not a crl").unwrap_err();
        assert!(e.to_string().contains("is not a CRL"), "{e}");
        let e = parse(Path::new("x.crl"), &[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap_err();
        assert!(e.to_string().contains("cannot be parsed"), "{e}");
    }
}
