//! `minica verify https://host:port`: what a live server (openssl s_server
//! on the loopback address) actually sends, in its order, checked in full;
//! a missing intermediate or a chain out of order is reported; a server
//! that never answers cannot hold verify beyond its timeout.

mod common;
use common::*;

use std::time::{Duration, Instant};

const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n";
const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";

struct Pki {
    env: Env,
    cnf: String,
}

impl Pki {
    fn new() -> Pki {
        let env = Env::new();
        let cnf = env.s("req.cnf");
        std::fs::write(&cnf, "[req]\ndistinguished_name=dn\n[dn]\n").unwrap();
        Pki { env, cnf }
    }

    fn p(&self, name: &str) -> String {
        self.env.s(name)
    }

    fn key(&self, name: &str) -> String {
        let path = self.p(&format!("{name}.key"));
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &path,
        ])
        .ok();
        path
    }

    fn root(&self, name: &str) -> String {
        let key = self.key(name);
        let out = self.p(&format!("{name}.pem"));
        let subj = format!("/CN={name}");
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-config",
            &self.cnf,
            "-key",
            &key,
            "-subj",
            &subj,
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &out,
        ])
        .ok();
        out
    }

    fn sign(&self, name: &str, issuer: &str, ext: &str) -> String {
        let key = self.key(name);
        let csr = self.p(&format!("{name}.csr"));
        let subj = format!("/CN={name}");
        openssl(&[
            "req", "-new", "-config", &self.cnf, "-key", &key, "-subj", &subj, "-out", &csr,
        ])
        .ok();
        let extfile = self.p(&format!("{name}.ext"));
        std::fs::write(&extfile, ext).unwrap();
        let out = self.p(&format!("{name}.pem"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.p(&format!("{issuer}.pem")),
            "-CAkey",
            &self.p(&format!("{issuer}.key")),
            "-days",
            "90",
            "-extfile",
            &extfile,
            "-out",
            &out,
        ])
        .ok();
        out
    }

    fn bundle(&self, name: &str, parts: &[&str]) -> String {
        let mut pem = String::new();
        for p in parts {
            pem.push_str(&std::fs::read_to_string(p).unwrap());
        }
        let out = self.p(name);
        std::fs::write(&out, pem).unwrap();
        out
    }

    /// openssl s_server on 127.0.0.1 sending `leaf` then `chain` (if any).
    fn serve(&self, chain: Option<&str>) -> (Background, u16) {
        let port = free_port();
        let accept = format!("127.0.0.1:{port}");
        let (cert, key) = (self.p("leaf.pem"), self.p("leaf.key"));
        let mut args = vec![
            "s_server", "-accept", &accept, "-cert", &cert, "-key", &key, "-www",
        ];
        if let Some(c) = chain {
            args.extend(["-cert_chain", c]);
        }
        let mut bg = Background::spawn("openssl", &args);
        bg.wait_for_port(port);
        (bg, port)
    }
}

#[test]
fn the_chain_a_server_sends_in_order_out_of_order_and_incomplete() {
    let pki = Pki::new();
    let root = pki.root("root");
    let i1 = pki.sign("inter1", "root", CA_EXT);
    let i2 = pki.sign("inter2", "inter1", CA_EXT);
    pki.sign("leaf", "inter2", LEAF_EXT);

    // In order: leaf, inter2, inter1.
    let chain = pki.bundle("inorder.pem", &[&i2, &i1]);
    let (_server, port) = pki.serve(Some(&chain));
    let url = format!("https://localhost:{port}");
    let r = pki
        .env
        .minica(&["verify", &url, "--ca", &root, "--json"])
        .ok();
    let j = r.json();
    let served: Vec<&str> = j["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    assert_eq!(served, ["CN=leaf", "CN=inter2", "CN=inter1"], "{j:#}");
    assert_eq!(j["served_notes"].as_array().unwrap().len(), 0, "{j:#}");
    // --host defaulted to the URL's host.
    assert!(j.to_string().contains("valid for localhost"), "{j:#}");
    let text = pki.env.minica(&["verify", &url, "--ca", &root]).ok().stdout;
    assert!(
        text.contains("sends 3 certificate(s)") && text.contains("1. CN=leaf"),
        "{text}"
    );
    // --connect, with --host given.
    let r = pki.env.minica(&[
        "verify",
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--host",
        "127.0.0.1",
        "--ca",
        &root,
    ]);
    r.ok();

    // Out of order: leaf, inter1, inter2. Valid (paths are built), but said.
    let chain = pki.bundle("outoforder.pem", &[&i1, &i2]);
    let (_server2, port) = pki.serve(Some(&chain));
    let url = format!("https://localhost:{port}");
    let r = pki.env.minica(&["verify", &url, "--ca", &root, "--json"]);
    let j = r.json();
    assert_eq!(j["served"][1]["subject"], "CN=inter1", "{j:#}");
    assert!(
        j["served_notes"].to_string().contains("out of order"),
        "{j:#}"
    );
    assert!(j["warnings"].to_string().contains("out of order"), "{j:#}");

    // Incomplete: the leaf alone.
    let (_server3, port) = pki.serve(None);
    let url = format!("https://localhost:{port}");
    let r = pki
        .env
        .minica(&["verify", &url, "--ca", &root, "--json"])
        .fails_with(1);
    let j = r.json();
    assert_eq!(j["reason"], "incomplete_chain", "{j:#}");
    assert_eq!(j["served"].as_array().unwrap().len(), 1, "{j:#}");
    assert!(j.to_string().contains("intermediate"), "{j:#}");
}

#[test]
fn a_silent_server_cannot_hold_verify() {
    // Accepts TCP connections (the kernel's backlog) and never speaks TLS.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pki = Pki::new();
    let root = pki.root("root");
    let env = &pki.env;
    let start = Instant::now();
    let r = env.minica(&[
        "verify",
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "1",
        "--ca",
        &root,
    ]);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(8), "verify hung for {took:?}");
    assert_eq!(r.code, 4, "{r:?}");
    r.one_sentence_naming("no TLS handshake within 1 s");
    // Nothing listening at all: a clear error, exit 4.
    drop(listener);
    let r = env.minica(&[
        "verify",
        &format!("https://127.0.0.1:{port}"),
        "--ca",
        &root,
    ]);
    assert_eq!(r.code, 4, "{r:?}");
    r.one_sentence_naming("cannot connect");
}
