//! Reading certificates from files users give: PEM bundles (other text
//! around the blocks is skipped) or a single DER certificate.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::fsx;

/// Every certificate in `bytes` (read from `path`), in order, each checked
/// to parse as X.509. Fails when there is none.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let looks_pem = bytes.trim_ascii_start().starts_with(b"-----BEGIN");
    let certs: Vec<CertificateDer<'static>> = if looks_pem {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::bad_file(path, "is not valid PEM (truncated or corrupt)"))?
    } else if bytes.first() == Some(&0x30) {
        vec![CertificateDer::from(bytes.to_vec())]
    } else {
        Vec::new()
    };
    if certs.is_empty() {
        let what = if looks_pem {
            pem_kind(bytes)
                .map(|k| format!("holds a PEM {k:?} block but no certificate"))
                .unwrap_or_else(|| "holds no certificate".into())
        } else {
            "is not a certificate (expected PEM \"CERTIFICATE\" blocks or DER)".into()
        };
        return Err(Error::bad_file(path, what));
    }
    for (i, c) in certs.iter().enumerate() {
        match X509Certificate::from_der(c) {
            Ok((&[], _)) => {}
            _ => {
                return Err(Error::bad_file(
                    path,
                    format!("certificate {} is corrupt or truncated", i + 1),
                ));
            }
        }
    }
    Ok(certs)
}

/// Reads and parses a certificate file.
pub fn read(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    parse(path, &fsx::read(path)?)
}

/// The label of the first PEM block, for messages.
pub fn pem_kind(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = text[start..].find("-----")?;
    Some(text[start..start + end].to_string())
}

/// Whether a certificate is a CA (basicConstraints CA:TRUE). A leaf put in
/// a truststore becomes a trust anchor: Java, OpenSSL and rustls then
/// accept it (and, for rustls, anything it signs) without a CA check.
pub fn is_ca(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, c)| c.is_ca())
}

/// The CommonName of a certificate, else its first DNS name, for aliases.
pub fn display_name(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if let Some(cn) = cert.subject().iter_common_name().next()
        && let Ok(s) = cn.as_str()
    {
        return Some(s.to_string());
    }
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
        _ => None,
    })
}

/// A certificate's subject and issuer names, DER: how a chain is followed
/// by name (and a self-signed one told: the two are equal).
pub fn subject_and_issuer(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some((
        c.tbs_certificate.subject.as_raw().to_vec(),
        c.tbs_certificate.issuer.as_raw().to_vec(),
    ))
}

/// A certificate's subject (RFC 4514, escaped for a terminal) and notAfter.
pub struct Info {
    pub subject: String,
    pub not_after: time::OffsetDateTime,
}

pub fn info(der: &[u8]) -> Option<Info> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(Info {
        subject: crate::text::escape(&cert.subject().to_string()),
        not_after: cert.validity().not_after.to_datetime(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_content_is_named() {
        let p = Path::new("x.pem");
        let e = parse(
            p,
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("PRIVATE KEY"), "{e}");
        let e = parse(p, b"hello").unwrap_err();
        assert!(e.to_string().contains("not a certificate"), "{e}");
        let e = parse(p, &[0x30, 0x03, 0x01]).unwrap_err();
        assert!(e.to_string().contains("corrupt"), "{e}");
    }
}
