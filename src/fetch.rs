//! What does a server actually send? `verify https://host:port` connects
//! with rustls, accepts whatever certificates the server presents (nothing
//! is verified during the fetch: the checks come after, all of them, on
//! what was sent), and hands them back in the order they came.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Error, Result};
use crate::text::escape;

/// Where to connect: a host (DNS name or IP address) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Endpoint {
    /// "https://host[:port][/path]" (port 443 by default) or "host:port".
    pub fn parse(s: &str) -> Result<Endpoint> {
        let bad = |why: &str| {
            Error::usage(format!(
                "{:?}: {why}; give https://HOST[:PORT] or HOST:PORT (an IPv6 address in brackets)",
                escape(s)
            ))
        };
        let (rest, default_port) = match s.strip_prefix("https://") {
            Some(r) => (r, Some(443)),
            None if s.contains("://") => return Err(bad("only https:// URLs can be fetched")),
            None => (s, None),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after the address")),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be a number from 1 to 65535"))?,
            (None, Some(d)) => d,
            (None, None) => return Err(bad("no port")),
        };
        ServerName::try_from(host.as_str())
            .map_err(|_| bad("the host is not a DNS name or IP address"))?;
        Ok(Endpoint { host, port })
    }
}

/// Accepts every certificate and signature: the fetch only records what the
/// server sends; `verify` judges it afterwards.
#[derive(Debug)]
struct RecordOnly(Vec<SignatureScheme>);

impl ServerCertVerifier for RecordOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// Connects to `ep`, completes a TLS handshake within `timeout` overall,
/// and returns the certificates the server sent, in its order.
pub fn fetch_chain(ep: &Endpoint, timeout: Duration) -> Result<Vec<CertificateDer<'static>>> {
    let failed = |what: String| Error::Crypto(format!("cannot fetch the chain of {ep}: {what}"));
    let start = Instant::now();
    let left = || {
        timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1))
    };
    // Name resolution blocks in the system resolver: run it aside, so that
    // it too is bounded by the timeout.
    let (tx, rx) = std::sync::mpsc::channel();
    let target = (ep.host.clone(), ep.port);
    std::thread::spawn(move || {
        let _ = tx.send(
            target
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<SocketAddr>>()),
        );
    });
    let addrs = match rx.recv_timeout(left()) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(failed(format!("the host name does not resolve ({e})"))),
        Err(_) => {
            return Err(failed(format!(
                "the host name did not resolve within {} s",
                timeout.as_secs()
            )));
        }
    };
    let mut sock = None;
    let mut last = String::from("no address");
    for a in &addrs {
        match TcpStream::connect_timeout(a, left()) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut sock = sock.ok_or_else(|| failed(format!("cannot connect ({last})")))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RecordOnly(schemes)))
        .with_no_client_auth();
    let name = ServerName::try_from(ep.host.clone()).map_err(|_| failed("bad host name".into()))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| failed(e.to_string()))?;
    while conn.is_handshaking() {
        if start.elapsed() >= timeout {
            return Err(failed(format!(
                "no TLS handshake within {} s",
                timeout.as_secs()
            )));
        }
        // Every read and write is bounded, so a silent or slow server
        // cannot hold `verify` beyond the timeout.
        sock.set_read_timeout(Some(left())).ok();
        sock.set_write_timeout(Some(left())).ok();
        if let Err(e) = conn.complete_io(&mut sock) {
            // The certificates may have arrived before the error (e.g. the
            // server refused the client's next message).
            if conn.peer_certificates().is_some() {
                break;
            }
            return Err(failed(match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    format!("no TLS handshake within {} s", timeout.as_secs())
                }
                std::io::ErrorKind::UnexpectedEof => {
                    "the server closed the connection during the handshake (is it a TLS port?)"
                        .into()
                }
                _ => format!("TLS handshake failed ({e})"),
            }));
        }
    }
    let certs = conn
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default();
    // Say goodbye politely; ignore errors, the chain is what matters.
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    let _ = sock.read(&mut [0u8; 0]);
    if certs.is_empty() {
        return Err(failed("the server sent no certificate".into()));
    }
    Ok(certs)
}

/// Remarks on the order of a chain as sent (leaf first): each certificate
/// should be followed by its issuer (RFC 5246 §7.4.2; TLS 1.3 relaxes it,
/// but older clients and Java 8 do not), and a root need not be sent.
pub fn order_notes(sent: &[CertificateDer<'_>]) -> Vec<String> {
    let parsed: Vec<Option<X509Certificate<'_>>> = sent
        .iter()
        .map(|d| X509Certificate::from_der(d).ok().map(|(_, x)| x))
        .collect();
    let mut notes = Vec::new();
    for i in 1..parsed.len() {
        let (Some(prev), Some(cur)) = (&parsed[i - 1], &parsed[i]) else {
            notes.push(format!("certificate {} cannot be parsed", i + 1));
            continue;
        };
        if prev.subject().as_raw() == prev.issuer().as_raw() {
            notes.push(format!(
                "certificate {} follows the self-signed certificate {i}: the chain should end at the root",
                i + 1
            ));
        } else if cur.subject().as_raw() != prev.issuer().as_raw() {
            let elsewhere = parsed
                .iter()
                .flatten()
                .any(|c| c.subject().as_raw() == prev.issuer().as_raw());
            notes.push(if elsewhere {
                format!(
                    "out of order: certificate {} (\"{}\") is not the issuer of certificate {i}; the issuer comes later; send each certificate followed by its issuer",
                    i + 1,
                    escape(&cur.subject().to_string())
                )
            } else {
                format!(
                    "certificate {} (\"{}\") is not the issuer of certificate {i}: an unrelated certificate is sent; remove it",
                    i + 1,
                    escape(&cur.subject().to_string())
                )
            });
        }
    }
    if let Some(Some(last)) = parsed.last()
        && parsed.len() > 1
        && last.subject().as_raw() == last.issuer().as_raw()
    {
        notes.push("the server sends the root too: clients ignore it (they must already trust it); it only costs bytes".into());
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = |s: &str| Endpoint::parse(s).unwrap();
        assert_eq!(e("https://localhost:8443/x").port, 8443);
        assert_eq!(e("https://example.test").port, 443);
        assert_eq!(e("example.test:8443").host, "example.test");
        assert_eq!(e("https://[::1]:4433").host, "::1");
        assert_eq!(e("127.0.0.1:1").to_string(), "127.0.0.1:1");
        assert!(Endpoint::parse("http://x:1").is_err());
        assert!(Endpoint::parse("https://x:0").is_err());
        assert!(Endpoint::parse("https://x:99999").is_err());
        assert!(Endpoint::parse("x").is_err());
        assert!(Endpoint::parse("https://u@x:1").is_err());
    }
}
