//! Real TLS handshakes with minica's certificates: `openssl s_server`
//! presents them, `openssl s_client` checks them.

mod common;
use common::*;

/// Starts `openssl s_server -www` on a free port with the certificate in
/// `dir` and `extra` flags. `-www` answers a GET with a status page, so a
/// client can tell a completed, accepted session from one the server
/// aborted (with TLS 1.3 the server judges the client's certificate after
/// the client considers the handshake done).
fn s_server(env: &Env, dir: &str, extra: &[String]) -> (Background, u16) {
    let port = free_port();
    let mut args: Vec<String> = [
        "s_server",
        "-www",
        "-4",
        "-accept",
        &port.to_string(),
        "-cert",
        &env.s(&format!("{dir}/chain.pem")),
        "-key",
        &env.s(&format!("{dir}/key.pem")),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend_from_slice(extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Background::spawn("openssl", &args);
    server.wait_for_port(port);
    (server, port)
}

/// Connects, checks the server's certificate for `host` against `ca`, sends
/// a GET, and reads until the server closes.
fn s_client(port: u16, ca: &str, host: &str, extra: &[&str]) -> Run {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        host,
        "-ign_eof",
        "-verify_return_error",
        "-verify_hostname",
        host,
        "-CAfile",
        ca,
    ];
    args.extend_from_slice(extra);
    run_with_input("openssl", &args, b"GET / HTTP/1.0\r\n\r\n")
}

fn served(r: &Run) -> bool {
    r.stdout.contains("HTTP/1.0 200 ok")
}

#[test]
fn server_certificate_handshake() {
    let env = Env::new();
    env.minica(&["issue", "localhost", "127.0.0.1"]).ok();
    let (_server, port) = s_server(&env, "localhost", &[]);
    let r = s_client(port, &env.s("localhost/ca.pem"), "localhost", &[]).ok();
    assert!(
        r.stdout.contains("Verify return code: 0 (ok)"),
        "{}",
        r.stdout
    );
    assert!(served(&r), "{}", r.stdout);

    // The same server, checked against another CA: the handshake fails.
    let other = Env::new();
    other.minica(&["init"]).ok();
    let r = s_client(
        port,
        &other.ca_dir().join("ca.pem").to_string_lossy(),
        "localhost",
        &[],
    );
    assert_ne!(
        r.code, 0,
        "a certificate from another CA must not be accepted"
    );
    assert!(!served(&r));

    // And for a host name the certificate does not carry.
    let r = s_client(port, &env.s("localhost/ca.pem"), "elsewhere.test", &[]);
    assert_ne!(
        r.code, 0,
        "a certificate for another host must not be accepted"
    );
}

#[test]
fn mutual_tls_handshake() {
    let env = Env::new();
    env.minica(&["issue", "localhost"]).ok();
    env.minica(&["issue", "--client", "alice"]).ok();
    let ca = env.s("localhost/ca.pem");
    let (_server, port) = s_server(
        &env,
        "localhost",
        &[
            "-Verify".into(),
            "1".into(),
            "-verify_return_error".into(),
            "-CAfile".into(),
            ca.clone(),
        ],
    );
    let good = s_client(
        port,
        &ca,
        "localhost",
        &[
            "-cert",
            &env.s("alice/cert.pem"),
            "-key",
            &env.s("alice/key.pem"),
        ],
    )
    .ok();
    assert!(
        served(&good),
        "an accepted client gets the page: {}",
        good.stdout
    );

    // A client certificate from another CA is refused by the server.
    let other = Env::new();
    other.minica(&["issue", "--client", "mallory"]).ok();
    let bad = s_client(
        port,
        &ca,
        "localhost",
        &[
            "-cert",
            &other.s("mallory/cert.pem"),
            "-key",
            &other.s("mallory/key.pem"),
        ],
    );
    assert!(
        !served(&bad),
        "a client cert from another CA must be refused: {}",
        bad.stdout
    );
    assert!(bad.stderr.contains("alert"), "{}", bad.stderr);

    // No client certificate at all, when one is required.
    let none = s_client(port, &ca, "localhost", &[]);
    assert!(
        !served(&none),
        "a client without a certificate must be refused: {}",
        none.stdout
    );

    // A server certificate is not a client certificate.
    let srv = s_client(
        port,
        &ca,
        "localhost",
        &[
            "-cert",
            &env.s("localhost/cert.pem"),
            "-key",
            &env.s("localhost/key.pem"),
        ],
    );
    assert!(
        !served(&srv),
        "a serverAuth-only certificate must not authenticate a client: {}",
        srv.stdout
    );
}
