//! A TLS server for minica's certificates (rustls, no OpenSSL): the server
//! half of the classic "secure client/server" program this project grew
//! from, done right.
//!
//! It answers a well-formed XML login
//! (`<Body><UserName>..</UserName><Password>..</Password></Body>`) with an
//! XML response naming the user (and, under mutual TLS, the client
//! certificate's subject), and anything else with "Invalid Message". It
//! speaks the raw protocol (one message, one answer) and, for curl, the
//! same over a minimal HTTP POST.
//!
//! ```text
//! cargo run --example tls_server -- --cert localhost/chain.pem --key localhost/key.pem --port 8443
//! cargo run --example tls_server -- --cert localhost/chain.pem --key localhost/key.pem --port 8443 --client-ca localhost/ca.pem
//! ```

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Fallible, answer, load_identity, load_roots, provider, versions};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

#[derive(Parser)]
#[command(about = "TLS server for minica certificates: answers XML logins")]
struct Args {
    /// The certificate chain (PEM, leaf first) or a PKCS#12/JKS keystore
    #[arg(long)]
    cert: PathBuf,
    /// The private key (PEM), with a PEM chain
    #[arg(long)]
    key: Option<PathBuf>,
    /// Port on 127.0.0.1; 0 picks a free one (printed)
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Demand a client certificate signed by this CA (PEM or truststore): mutual TLS
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Password file for keystores and truststores [default: MINICA_STORE_PASSWORD]
    #[arg(long)]
    store_password_file: Option<PathBuf>,
    /// TLS 1.2 only, as the original program
    #[arg(long)]
    tls12: bool,
}

/// The largest request read: a login is a few hundred bytes.
const MAX_REQUEST: usize = 16 * 1024;

fn config(args: &Args) -> Fallible<Arc<ServerConfig>> {
    let (chain, key) = load_identity(
        &args.cert,
        args.key.as_deref(),
        args.store_password_file.as_ref(),
    )?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(args.tls12))
        .map_err(|e| e.to_string())?;
    let builder = match &args.client_ca {
        Some(ca) => {
            let roots = load_roots(ca, args.store_password_file.as_ref())?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// Whether `text`, already received, can be nothing but a complete (if
/// wrong) message: not empty, and not the start of `<Body>...</Body>` or of
/// an HTTP request still arriving.
fn cannot_grow(text: &str) -> bool {
    let prefix_of = |whole: &str| whole.starts_with(text) || text.starts_with(whole);
    !text.is_empty() && !prefix_of("<Body>") && !prefix_of("POST ") && !prefix_of("GET ")
}

/// Reads one request: a raw message up to `</Body>`, or an HTTP request
/// with its body, or whatever came before the client stopped sending.
fn read_request(stream: &mut impl Read) -> std::io::Result<(bool, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf);
        let http = text.starts_with("POST ") || text.starts_with("GET ");
        if http {
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return Ok((true, text[end + 4..end + 4 + len].to_string()));
                }
            }
        } else if text.contains("</Body>") || text.ends_with('\n') || cannot_grow(&text) {
            // As the classic server: each TLS read is judged as it arrives
            // (a client may SSL_write one message without a newline and
            // wait), unless it is the start of a <Body> or of an HTTP request.
            return Ok((false, text.into_owned()));
        }
        if buf.len() > MAX_REQUEST {
            return Ok((http, String::new()));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok((http, text.into_owned())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e),
        }
    }
}

fn serve(sock: TcpStream, config: Arc<ServerConfig>) -> Fallible<String> {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut tls = StreamOwned::new(conn, sock);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| format!("handshake failed: {e}"))?;
    }
    let subject = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| minica::inspect::describe_cert(c, minica::x509::now()))
        .map(|i| i.subject);
    let (http, msg) = read_request(&mut tls).map_err(|e| format!("read failed: {e}"))?;
    let reply = answer(&msg, subject.as_deref());
    let out = if http {
        let status = if reply == "Invalid Message" {
            "400 Bad Request"
        } else {
            "200 OK"
        };
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
            reply.len()
        )
    } else {
        format!("{reply}\n")
    };
    tls.write_all(out.as_bytes()).map_err(|e| e.to_string())?;
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(format!(
        "{}: {}",
        subject.unwrap_or_else(|| "anonymous client".into()),
        if reply == "Invalid Message" {
            "invalid message"
        } else {
            "login answered"
        }
    ))
}

fn main() {
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tls_server: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", args.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tls_server: cannot listen on 127.0.0.1:{}: {e}", args.port);
            std::process::exit(2);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    println!(
        "listening on 127.0.0.1:{port}{}",
        if args.client_ca.is_some() {
            " (mutual TLS)"
        } else {
            ""
        }
    );
    let _ = std::io::stdout().flush();
    for sock in listener.incoming().flatten() {
        let config = config.clone();
        std::thread::spawn(move || match serve(sock, config) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("tls_server: {e}"),
        });
    }
}
