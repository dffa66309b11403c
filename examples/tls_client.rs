//! A TLS client for minica's certificates (rustls, no OpenSSL): it checks
//! the server's certificate for `--host`, optionally presents its own, sends
//! an XML login and prints the server's reply.
//!
//! ```text
//! cargo run --example tls_client -- --ca localhost/ca.pem --host localhost --port 8443 --user alice
//! cargo run --example tls_client -- --ca localhost/ca.pem --host localhost --port 8443 \
//!     --cert alice/chain.pem --key alice/key.pem --user alice
//! ```
//! The login password is read from `--password-file` or MINICA_LOGIN_PASSWORD
//! (never from the command line); without either a demo value is sent.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Fallible, load_identity, load_roots, login_request, provider, versions};
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use rustls_pki_types::ServerName;

#[derive(Parser)]
#[command(about = "TLS client for minica certificates: sends an XML login")]
struct Args {
    /// The CA to trust (PEM) or a truststore (PKCS#12/JKS)
    #[arg(long)]
    ca: PathBuf,
    /// The name the server's certificate must carry (also sent as SNI)
    #[arg(long, default_value = "localhost")]
    host: String,
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// The address to connect to
    #[arg(long, default_value = "127.0.0.1")]
    connect: String,
    /// Our certificate chain (PEM) or keystore, for mutual TLS
    #[arg(long)]
    cert: Option<PathBuf>,
    /// Our private key (PEM), with a PEM chain
    #[arg(long)]
    key: Option<PathBuf>,
    /// Password file for keystores and truststores [default: MINICA_STORE_PASSWORD]
    #[arg(long)]
    store_password_file: Option<PathBuf>,
    #[arg(long, default_value = "minica")]
    user: String,
    /// File holding the login password (first line)
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Send this text instead of a login (to see "Invalid Message")
    #[arg(long)]
    message: Option<String>,
    /// TLS 1.2 only
    #[arg(long)]
    tls12: bool,
    /// Check the server's chain against this CRL (PEM); repeatable: give one
    /// per CA of the path, or the handshake fails as "status unknown"
    #[arg(long)]
    crl: Vec<PathBuf>,
}

fn login_password(args: &Args) -> Fallible<String> {
    if let Some(f) = &args.password_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    Ok(std::env::var("MINICA_LOGIN_PASSWORD").unwrap_or_else(|_| "demo-password".into()))
}

fn run(args: &Args) -> Fallible<String> {
    let roots = load_roots(&args.ca, args.store_password_file.as_ref())?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(args.tls12))
        .map_err(|e| e.to_string())?;
    let builder = if args.crl.is_empty() {
        builder.with_root_certificates(roots)
    } else {
        use rustls_pki_types::CertificateRevocationListDer;
        use rustls_pki_types::pem::PemObject;
        let mut crls = Vec::new();
        for f in &args.crl {
            let bytes = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
            for c in CertificateRevocationListDer::pem_slice_iter(&bytes) {
                crls.push(c.map_err(|e| format!("{}: {e}", f.display()))?);
            }
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .with_crls(crls)
        .build()
        .map_err(|e| e.to_string())?;
        builder.with_webpki_verifier(verifier)
    };
    let config = match &args.cert {
        Some(cert) => {
            let (chain, key) =
                load_identity(cert, args.key.as_deref(), args.store_password_file.as_ref())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from(args.host.clone())
        .map_err(|e| format!("--host {}: {e}", args.host))?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let sock = TcpStream::connect((args.connect.as_str(), args.port))
        .map_err(|e| format!("cannot connect to {}:{}: {e}", args.connect, args.port))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("handshake failed: {e}"))?;
    }
    let msg = match &args.message {
        Some(m) => m.clone(),
        None => login_request(&args.user, &login_password(args)?),
    };
    tls.write_all(format!("{msg}\n").as_bytes())
        .map_err(|e| format!("write failed: {e}"))?;
    tls.flush().map_err(|e| e.to_string())?;
    // One line back: the server may keep the connection open (openssl s_server -rev).
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tls.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => reply.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !reply.is_empty() => break,
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
    if reply.is_empty() {
        return Err("the server closed the connection without answering".into());
    }
    let version = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    eprintln!("tls_client: connected with {version}");
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

fn main() {
    let args = Args::parse();
    match run(&args) {
        Ok(reply) => println!("{reply}"),
        Err(e) => {
            eprintln!("tls_client: {e}");
            std::process::exit(1);
        }
    }
}
