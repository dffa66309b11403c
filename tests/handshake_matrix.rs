//! The handshake matrix: minica's certificates in real TLS connections, for
//! P-256, P-384, RSA-2048 and Ed25519. The example server (rustls) against
//! openssl s_client, curl, gnutls-cli, a JSSE client and the example client;
//! openssl s_server against the example client; mutual TLS both ways; and
//! the refusals. Servers bind to 127.0.0.1 on a free port and are killed
//! when the test ends, even when it fails.

mod common;
use common::*;

const LOGIN: &str = "<Body><UserName>alice</UserName><Password>pw</Password></Body>";
const PW: &str = "changeit";

fn answered(out: &str) -> bool {
    out.contains("<Status>OK</Status><UserName>alice</UserName>")
}

/// A CA of `key_type` with a server (localhost) and a client (alice)
/// certificate, and PKCS#12 stores for Java.
fn setup(key_type: &str) -> Env {
    let env = Env::new();
    std::fs::write(env.file("pw"), format!("{PW}\n")).unwrap();
    let pwf = env.s("pw");
    env.minica(&["init", "--key-type", key_type]).ok();
    env.minica(&[
        "issue",
        "localhost",
        "127.0.0.1",
        "--key-type",
        key_type,
        "--keystore",
        "--truststore",
        "--password-file",
        &pwf,
    ])
    .ok();
    env.minica(&[
        "issue",
        "--client",
        "alice",
        "--key-type",
        key_type,
        "--keystore",
        "--password-file",
        &pwf,
    ])
    .ok();
    env
}

/// Starts the example server; returns it and its port.
fn tls_server(args: &[&str]) -> (Background, String) {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let mut server = Background::spawn(&example("tls_server"), &all);
    let line = server.read_until("listening on 127.0.0.1:");
    let port = line.split_whitespace().next().unwrap().to_string();
    (server, port)
}

fn tls_client(env: &Env, port: &str, extra: &[&str]) -> Run {
    let ca = env.s("localhost/ca.pem");
    let mut args = vec![
        "--ca",
        &ca,
        "--host",
        "localhost",
        "--port",
        port,
        "--user",
        "alice",
    ];
    args.extend_from_slice(extra);
    run(&example("tls_client"), &args)
}

fn s_client(env: &Env, port: &str, extra: &[&str]) -> Run {
    let connect = format!("127.0.0.1:{port}");
    let ca = env.s("localhost/ca.pem");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-servername",
        "localhost",
        "-verify_return_error",
        "-verify_hostname",
        "localhost",
        "-CAfile",
        &ca,
        "-quiet",
        "-ign_eof",
    ];
    args.extend_from_slice(extra);
    run_with_input("openssl", &args, format!("{LOGIN}\n").as_bytes())
}

fn curl(env: &Env, port: &str, extra: &[&str]) -> Run {
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/");
    let ca = env.s("localhost/ca.pem");
    let mut args = vec![
        "-sS",
        "--resolve",
        &resolve,
        "--cacert",
        &ca,
        "--data-binary",
        LOGIN,
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    run("curl", &args)
}

fn matrix(key_type: &str, java_ok: bool) {
    let env = setup(key_type);
    let what = |peer: &str| format!("{key_type}, {peer}");

    // Server authentication only.
    let (_server, port) = tls_server(&[
        "--cert",
        &env.s("localhost/chain.pem"),
        "--key",
        &env.s("localhost/key.pem"),
    ]);
    let r = s_client(&env, &port, &[]).ok();
    assert!(answered(&r.stdout), "{}: {r:?}", what("openssl s_client"));
    let r = s_client(&env, &port, &["-tls1_2"]).ok();
    assert!(
        answered(&r.stdout),
        "{}: {r:?}",
        what("openssl s_client -tls1_2")
    );
    let r = curl(&env, &port, &[]).ok();
    assert!(answered(&r.stdout), "{}: {r:?}", what("curl"));
    let r = run_with_input(
        "gnutls-cli",
        &[
            "--x509cafile",
            &env.s("localhost/ca.pem"),
            "-p",
            &port,
            "localhost",
        ],
        format!("{LOGIN}\n").as_bytes(),
    );
    assert!(
        r.code == 0 && answered(&r.stdout),
        "{}: {r:?}",
        what("gnutls-cli")
    );
    if java_ok {
        let r = java(&[
            "client",
            "-",
            &env.s("localhost/truststore.p12"),
            &env.s("pw"),
            "localhost",
            &port,
            LOGIN,
        ])
        .ok();
        assert!(answered(&r.stdout), "{}: {r:?}", what("JSSE client"));
    }
    let r = tls_client(&env, &port, &[]).ok();
    assert!(answered(&r.stdout), "{}: {r:?}", what("example client"));
    assert!(r.stderr.contains("TLSv1_3"), "{}", r.stderr);
    let r = tls_client(&env, &port, &["--tls12"]).ok();
    assert!(
        answered(&r.stdout) && r.stderr.contains("TLSv1_2"),
        "{}: {r:?}",
        what("example client --tls12")
    );
    let r = tls_client(&env, &port, &["--message", "<Body>nonsense"]).ok();
    assert_eq!(r.stdout.trim(), "Invalid Message");
    // One message without a newline, and the client waits for the answer
    // (as the classic C client does: SSL_write, then SSL_read).
    let r = run(
        "python3",
        &[
            "-c",
            "import socket,ssl,sys\nctx=ssl.create_default_context(cafile=sys.argv[2])\ns=ctx.wrap_socket(socket.create_connection(('127.0.0.1',int(sys.argv[1]))),server_hostname='localhost')\ns.settimeout(3)\ns.sendall(b'garbage')\nprint(s.recv(1000).decode())",
            &port,
            &env.s("localhost/ca.pem"),
        ],
    )
    .ok();
    assert_eq!(r.stdout.trim(), "Invalid Message", "{r:?}");
    // Refused: a certificate checked for another host.
    let ca = env.s("localhost/ca.pem");
    let r = run(
        &example("tls_client"),
        &["--ca", &ca, "--host", "other.test", "--port", &port],
    );
    assert_ne!(r.code, 0, "{}: {r:?}", what("wrong host"));
    assert!(r.stderr.contains("handshake failed"), "{}", r.stderr);

    // Mutual TLS: the example server demands a client certificate.
    let (_mtls, mport) = tls_server(&[
        "--cert",
        &env.s("localhost/chain.pem"),
        "--key",
        &env.s("localhost/key.pem"),
        "--client-ca",
        &ca,
    ]);
    let alice = [
        "--cert",
        &*env.s("alice/chain.pem"),
        "--key",
        &*env.s("alice/key.pem"),
    ]
    .map(String::from);
    let alice: Vec<&str> = alice.iter().map(String::as_str).collect();
    let r = tls_client(&env, &mport, &alice).ok();
    assert!(
        answered(&r.stdout) && r.stdout.contains("CN=alice"),
        "{}: {r:?}",
        what("example client, mutual TLS")
    );
    let r = tls_client(
        &env,
        &mport,
        &[
            "--cert",
            &env.s("alice/keystore.p12"),
            "--store-password-file",
            &env.s("pw"),
        ],
    )
    .ok();
    assert!(
        answered(&r.stdout),
        "{}: {r:?}",
        what("example client with keystore.p12, mutual TLS")
    );
    let r = curl(
        &env,
        &mport,
        &[
            "--cert",
            &env.s("alice/cert.pem"),
            "--key",
            &env.s("alice/key.pem"),
        ],
    )
    .ok();
    assert!(answered(&r.stdout), "{}: {r:?}", what("curl, mutual TLS"));
    let r = s_client(
        &env,
        &mport,
        &[
            "-cert",
            &env.s("alice/cert.pem"),
            "-key",
            &env.s("alice/key.pem"),
        ],
    )
    .ok();
    assert!(
        answered(&r.stdout),
        "{}: {r:?}",
        what("openssl s_client, mutual TLS")
    );
    if java_ok {
        let r = java(&[
            "client",
            &env.s("alice/keystore.p12"),
            &env.s("localhost/truststore.p12"),
            &env.s("pw"),
            "localhost",
            &mport,
            LOGIN,
        ])
        .ok();
        assert!(
            answered(&r.stdout),
            "{}: {r:?}",
            what("JSSE client, mutual TLS")
        );
    }
    // Refused: no client certificate; one from another CA; a server certificate.
    let r = tls_client(&env, &mport, &[]);
    assert!(
        r.code != 0 && !answered(&r.stdout),
        "{}: {r:?}",
        what("no client certificate")
    );
    let other = Env::new();
    other
        .minica(&["issue", "--client", "mallory", "--key-type", key_type])
        .ok();
    let r = tls_client(
        &env,
        &mport,
        &[
            "--cert",
            &other.s("mallory/chain.pem"),
            "--key",
            &other.s("mallory/key.pem"),
        ],
    );
    assert!(
        r.code != 0 && !answered(&r.stdout),
        "{}: {r:?}",
        what("client certificate from another CA")
    );
    let r = tls_client(
        &env,
        &mport,
        &[
            "--cert",
            &env.s("localhost/chain.pem"),
            "--key",
            &env.s("localhost/key.pem"),
        ],
    );
    assert!(
        r.code != 0 && !answered(&r.stdout),
        "{}: {r:?}",
        what("server certificate used by a client")
    );

    // Refused: a client-only certificate used as a server's.
    let (_bad, bport) = tls_server(&[
        "--cert",
        &env.s("alice/chain.pem"),
        "--key",
        &env.s("alice/key.pem"),
    ]);
    let r = run(
        &example("tls_client"),
        &["--ca", &ca, "--host", "alice", "--port", &bport],
    );
    assert!(
        r.code != 0 && r.stderr.contains("handshake failed"),
        "{}: {r:?}",
        what("client-only certificate as server")
    );

    // openssl s_server with minica's certificates, against the example client
    // (-rev answers each line reversed), server-only and mutual TLS.
    for mutual in [false, true] {
        let port = free_port().to_string();
        let mut args = vec![
            "s_server",
            "-rev",
            "-4",
            "-accept",
            &port,
            "-cert",
            &*Box::leak(env.s("localhost/chain.pem").into_boxed_str()),
            "-key",
            &*Box::leak(env.s("localhost/key.pem").into_boxed_str()),
        ];
        if mutual {
            args.extend_from_slice(&[
                "-Verify",
                "1",
                "-verify_return_error",
                "-CAfile",
                &*Box::leak(ca.clone().into_boxed_str()),
            ]);
        }
        let mut server = Background::spawn("openssl", &args);
        server.wait_for_port(port.parse().unwrap());
        let extra: &[&str] = if mutual { &alice } else { &[] };
        let r = tls_client(
            &env,
            &port,
            &[extra, &["--message", "hello minica"]].concat(),
        )
        .ok();
        assert_eq!(
            r.stdout.trim(),
            "acinim olleh",
            "{}",
            what("openssl s_server")
        );
        if mutual {
            let r = tls_client(&env, &port, &["--message", "hello"]);
            assert!(
                r.code != 0,
                "{}: {r:?}",
                what("s_server -Verify without client certificate")
            );
        }
    }
}

#[test]
fn matrix_ecdsa_p256() {
    matrix("ecdsa-p256", true);
}

#[test]
fn matrix_ecdsa_p384() {
    matrix("ecdsa-p384", true);
}

#[test]
fn matrix_rsa_2048() {
    matrix("rsa-2048", true);
}

#[test]
fn matrix_ed25519() {
    matrix("ed25519", true);
}

#[test]
fn keystores_serve_too() {
    let env = setup("ecdsa-p256");
    let (_server, port) = tls_server(&[
        "--cert",
        &env.s("localhost/keystore.p12"),
        "--store-password-file",
        &env.s("pw"),
    ]);
    let r = tls_client(&env, &port, &[]).ok();
    assert!(answered(&r.stdout), "{r:?}");
    let r = run(
        &example("tls_client"),
        &[
            "--ca",
            &env.s("localhost/truststore.p12"),
            "--store-password-file",
            &env.s("pw"),
            "--port",
            &port,
            "--user",
            "alice",
        ],
    )
    .ok();
    assert!(answered(&r.stdout), "{r:?}");
}
