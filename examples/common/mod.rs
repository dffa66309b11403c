//! What the example server and client share: loading minica's outputs
//! (PEM files or keystores) into rustls, the protocol versions, and the XML
//! login messages of the program this project grew from.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minica::password::{Purpose, STORE_PASSWORD_ENV, Source};
use minica::stores;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub type Fallible<T> = Result<T, String>;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS 1.2 only with `--tls12`, as the original program did; else 1.3 and 1.2.
pub fn versions(tls12_only: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS12_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    if tls12_only {
        &TLS12_ONLY
    } else {
        rustls::DEFAULT_VERSIONS
    }
}

fn store_password(file: Option<&PathBuf>) -> Fallible<minica::password::Secret> {
    Source {
        file: file.cloned(),
        ..Source::default()
    }
    .get(&Purpose {
        what: "store password",
        default_env: STORE_PASSWORD_ENV,
        confirm: false,
    })
    .map_err(|e| e.to_string())
}

/// A certificate chain and its key: from PEM files (`cert` + `key`), or from
/// a PKCS#12/JKS keystore (`cert` alone).
pub fn load_identity(
    cert: &Path,
    key: Option<&Path>,
    store_password_file: Option<&PathBuf>,
) -> Fallible<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let bytes = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    match (stores::Format::detect(&bytes), key) {
        (Some(stores::Format::Pem), Some(key)) => {
            let chain = minica::certs::read(cert).map_err(|e| e.to_string())?;
            let key_bytes = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
            use rustls_pki_types::pem::PemObject;
            let key = PrivateKeyDer::from_pem_slice(&key_bytes)
                .map_err(|_| format!("{}: no private key found", key.display()))?;
            Ok((chain, key))
        }
        (Some(stores::Format::Pem), None) => {
            Err(format!("{}: a PEM certificate needs --key", cert.display()))
        }
        _ => {
            let pw = store_password(store_password_file)?;
            let contents = stores::read(cert, &bytes, Some(&pw)).map_err(|e| e.to_string())?;
            let (Some((_, chain)), Some(key)) = (
                contents.keys.into_iter().next(),
                contents.key_pkcs8.into_iter().next(),
            ) else {
                return Err(format!("{}: no key entry in this keystore", cert.display()));
            };
            Ok((
                chain,
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
            ))
        }
    }
}

/// Trust anchors from a PEM file or a truststore.
pub fn load_roots(path: &Path, store_password_file: Option<&PathBuf>) -> Fallible<RootCertStore> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let certs = match stores::Format::detect(&bytes) {
        Some(stores::Format::Pem) | None => minica::certs::read(path).map_err(|e| e.to_string())?,
        _ => {
            let pw = store_password(store_password_file)?;
            let contents = stores::read(path, &bytes, Some(&pw)).map_err(|e| e.to_string())?;
            contents.trusted.into_iter().map(|t| t.cert).collect()
        }
    };
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots
            .add(c)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The login request: `<Body><UserName>U</UserName><Password>P</Password></Body>`.
pub fn login_request(user: &str, password: &str) -> String {
    format!(
        "<Body><UserName>{}</UserName><Password>{}</Password></Body>",
        xml_escape(user),
        xml_escape(password)
    )
}

fn element<'a>(s: &'a str, tag: &str) -> Option<(&'a str, &'a str)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let rest = s.strip_prefix(open.as_str())?;
    let end = rest.find(close.as_str())?;
    let value = &rest[..end];
    if value.contains(['<', '>']) {
        return None;
    }
    Some((value, &rest[end + close.len()..]))
}

/// Parses a login; None when the message is not exactly that shape.
/// Returns the user name (the password is checked for form, never echoed).
pub fn parse_login(msg: &str) -> Option<String> {
    let body = msg.trim().strip_prefix("<Body>")?.strip_suffix("</Body>")?;
    let (user, rest) = element(body, "UserName")?;
    let (password, rest) = element(rest, "Password")?;
    if !rest.is_empty() || user.is_empty() || password.is_empty() {
        return None;
    }
    Some(user.to_string())
}

/// The server's answer to a message, given the client certificate's subject
/// under mutual TLS.
pub fn answer(msg: &str, client_subject: Option<&str>) -> String {
    match parse_login(msg) {
        Some(user) => {
            let client = client_subject
                .map(|s| format!("<ClientCertificate>{}</ClientCertificate>", xml_escape(s)))
                .unwrap_or_default();
            format!(
                "<Body><Status>OK</Status><UserName>{user}</UserName>{client}<Server>minica tls_server</Server></Body>"
            )
        }
        None => "Invalid Message".to_string(),
    }
}
