//! Hand-off to an ACME engine: Caddy (2.6, Debian's) runs its ACME server
//! with a minica intermediate made for it, exported by `minica export
//! caddy`; certbot and lego obtain certificates from it over ACME
//! (http-01, answered on port 80 of this machine), and `openssl verify`
//! and `minica verify` accept them against the minica root. The
//! intermediate's name constraints hold: a name outside them is refused,
//! and the test asserts by whom. Runs as root (port 80, /etc/hosts).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names added to /etc/hosts (as 127.0.0.1) for as long as the value
/// lives, taken out again on drop, panics included. Each line carries a
/// marker with this process's id, so only our lines are removed.
struct Hosts {
    marker: String,
}

const HOSTS: &str = "/etc/hosts";

impl Hosts {
    fn add(names: &[&str]) -> Hosts {
        let marker = format!("# minica-test-acme-{}", std::process::id());
        let mut text = std::fs::read_to_string(HOSTS).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        for n in names {
            text.push_str(&format!("127.0.0.1 {n} {marker}\n"));
        }
        // Written in place (not renamed over): /etc/hosts is often a bind mount.
        std::fs::write(HOSTS, text).expect("this test runs as root: it adds names to /etc/hosts");
        Hosts { marker }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        if let Ok(text) = std::fs::read_to_string(HOSTS) {
            let kept: String = text
                .lines()
                .filter(|l| !l.ends_with(&self.marker))
                .map(|l| format!("{l}\n"))
                .collect();
            let _ = std::fs::write(HOSTS, kept);
        }
    }
}

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Splits a PEM bundle into its certificates' PEM blocks.
fn pem_blocks(s: &str) -> Vec<String> {
    s.split_inclusive("-----END CERTIFICATE-----")
        .filter(|b| b.contains("-----BEGIN CERTIFICATE-----"))
        .map(|b| b.trim_start().to_string() + "\n")
        .collect()
}

fn run_env(tool: &str, args: &[&str], env: &[(&str, &Path)]) -> Run {
    require(tool);
    let mut c = Command::new(tool);
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what: format!("{tool} {}", args.join(" ")),
    }
}

struct Acme<'a> {
    env: &'a Env,
    directory: String,
    root: PathBuf,
}

impl Acme<'_> {
    /// certbot, standalone http-01 on port 80; returns (its output, fullchain path).
    fn certbot(&self, name: &str) -> (Run, PathBuf) {
        let base = self.env.file(&format!("certbot-{name}"));
        let (cfg, work, logs) = (base.join("etc"), base.join("work"), base.join("logs"));
        let r = run_env(
            "certbot",
            &[
                "certonly",
                "--non-interactive",
                "--agree-tos",
                "--register-unsafely-without-email",
                "--standalone",
                "--http-01-port",
                "80",
                "--server",
                &self.directory,
                "--config-dir",
                cfg.to_str().unwrap(),
                "--work-dir",
                work.to_str().unwrap(),
                "--logs-dir",
                logs.to_str().unwrap(),
                "-d",
                name,
            ],
            &[("REQUESTS_CA_BUNDLE", &self.root)],
        );
        (r, cfg.join("live").join(name).join("fullchain.pem"))
    }

    /// lego, http-01 on port 80; returns (its output, the certificate path:
    /// leaf + issuer, as lego bundles it).
    fn lego(&self, name: &str) -> (Run, PathBuf) {
        let path = self.env.file(&format!("lego-{name}"));
        let r = run_env(
            "lego",
            &[
                "--server",
                &self.directory,
                "--accept-tos",
                "--email",
                "ops@internal.test",
                "--http",
                "--http.port",
                ":80",
                "--path",
                path.to_str().unwrap(),
                "--domains",
                name,
                "run",
            ],
            &[("LEGO_CA_CERTIFICATES", &self.root)],
        );
        (r, path.join("certificates").join(format!("{name}.crt")))
    }
}

/// Checks an issued chain (leaf + intermediate) against the minica root
/// with openssl and minica, for `name`.
fn accepted(env: &Env, chain: &Path, name: &str, root: &Path, intermediate: &str) {
    let blocks = pem_blocks(&text(chain));
    assert_eq!(
        blocks.len(),
        2,
        "{}: leaf + the intermediate, no root",
        chain.display()
    );
    assert_eq!(
        blocks[1].trim(),
        intermediate.trim(),
        "the chain's issuer is the minica intermediate"
    );
    let leaf = env.file(&format!("{name}-leaf.pem"));
    let untrusted = env.file(&format!("{name}-untrusted.pem"));
    std::fs::write(&leaf, &blocks[0]).unwrap();
    std::fs::write(&untrusted, &blocks[1]).unwrap();
    let r = openssl(&[
        "verify",
        "-CAfile",
        root.to_str().unwrap(),
        "-untrusted",
        untrusted.to_str().unwrap(),
        "-purpose",
        "sslserver",
        "-verify_hostname",
        name,
        leaf.to_str().unwrap(),
    ])
    .ok();
    assert!(r.stdout.contains(": OK"), "{}", r.stdout);
    // ...and openssl needs the intermediate: the root alone does not sign it.
    let r = openssl(&[
        "verify",
        "-CAfile",
        root.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "the leaf verified without its intermediate");
    let v = env
        .minica(&[
            "verify",
            chain.to_str().unwrap(),
            "--ca",
            root.to_str().unwrap(),
            "--host",
            name,
            "--json",
        ])
        .ok();
    assert_eq!(v.json()["valid"], true, "{}", v.stdout);
    // A name the leaf was not issued for is refused: the verdict is real.
    env.minica(&[
        "verify",
        chain.to_str().unwrap(),
        "--ca",
        root.to_str().unwrap(),
        "--host",
        "other.internal.test",
    ])
    .fails_with(1);
}

#[test]
fn caddy_acme_server_under_a_minica_intermediate_serves_certbot_and_lego() {
    for t in ["caddy", "certbot", "lego", "openssl"] {
        require(t);
    }
    // A root whose key is a file.
    let env = Env::new();
    env.minica(&["init", "--cn", "ACME Test Root"]).ok();
    make_acme_intermediate(&env);
    acme_under(&env, true);

    // "When one machine is not enough", the whole walk: the root's key in a
    // token (SoftHSM2 here), the PIN needed only to make the intermediate;
    // then Caddy issues under that intermediate with the token put away.
    // (One test function: both runs need port 80.)
    let hsm = common::hsm::Hsm::new();
    let env = Env::new();
    let token_env = [
        ("SOFTHSM2_CONF", hsm.conf()),
        ("MINICA_PKCS11_PIN", PathBuf::from(common::hsm::PIN)),
    ];
    let with_token = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(env.path())
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("HOME", env.path())
            .envs(token_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "minica {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    with_token(&[
        "init",
        "--cn",
        "ACME Offline Root",
        "--pkcs11",
        "pkcs11:token=minica;object=root",
        "--pkcs11-module",
        common::hsm::MODULE,
    ]);
    assert!(
        !env.ca_dir().join("ca-key.pem").exists(),
        "the root key is in the token"
    );
    // Without the PIN, the root cannot sign: the intermediate needs it.
    env.minica(&[
        "ca",
        "intermediate",
        "acme",
        "--permit",
        ".internal.test",
        "--no-default",
    ])
    .fails_with(2);
    with_token(&[
        "ca",
        "intermediate",
        "acme",
        "--permit",
        ".internal.test",
        "--no-default",
    ]);
    // The token is put away: nothing below may need it.
    drop(hsm);
    acme_under(&env, false);
}

fn make_acme_intermediate(env: &Env) {
    env.minica(&[
        "ca",
        "intermediate",
        "acme",
        "--permit",
        ".internal.test",
        "--no-default",
    ])
    .ok();
}

/// Exports the intermediate `acme` of `env`'s CA to Caddy, runs Caddy's
/// ACME server, and has certbot and lego obtain certificates from it.
/// `root_key_file`: whether the root key is a file (else it is in a token).
fn acme_under(env: &Env, root_key_file: bool) {
    let port = free_port();
    let out = env.file("caddy");
    let r = env
        .minica(&[
            "export",
            "caddy",
            "acme",
            "--port",
            &port.to_string(),
            "--out-dir",
            out.to_str().unwrap(),
            "--json",
        ])
        .ok();
    let j = r.json();
    assert_eq!(j["export"]["kind"], "caddy");
    assert_eq!(j["export"]["issuer"], "acme");

    // What Caddy gets: the intermediate and its key, never the root key.
    let root_key = if root_key_file {
        text(&env.ca_dir().join("ca-key.pem"))
    } else {
        // No key file: nothing of the root's key can be in what Caddy gets.
        "-----BEGIN PRIVATE KEY-----\nnone\n".to_string()
    };
    let int_key = text(&env.ca_dir().join("issuers/acme/key.pem"));
    let intermediate = text(&env.ca_dir().join("issuers/acme/cert.pem"));
    assert_eq!(text(&out.join("intermediate-key.pem")), int_key);
    assert_eq!(mode(&out.join("intermediate-key.pem")), 0o600);
    assert_eq!(text(&out.join("intermediate.pem")), intermediate);
    let root = out.join("root.pem");
    assert_eq!(text(&root), text(&env.ca_dir().join("ca.pem")));
    for (p, _) in snapshot(&out) {
        if p.is_file() {
            let body = text(&p);
            assert!(
                !body.contains(root_key.lines().nth(1).unwrap()),
                "{} holds the root key",
                p.display()
            );
        }
    }
    assert!(!r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"));
    let caddyfile = out.join("Caddyfile");
    let cf = text(&caddyfile);
    assert!(
        !cf.contains("ca-key.pem") && !cf.contains(&format!("{}/", env.ca_dir().display())),
        "the Caddyfile points into the CA directory:\n{cf}"
    );

    // http-01 is answered on port 80 (RFC 8555 8.3: the server connects
    // there), and `caddy run` takes its admin endpoint, localhost:2019.
    for p in [80, 2019] {
        assert!(
            std::net::TcpListener::bind(("0.0.0.0", p)).is_ok(),
            "port {p} is taken (a caddy.service from the Debian package? .ci/run stops it); this test needs it"
        );
    }
    let _hosts = Hosts::add(&[
        "acme.internal.test",
        "certbot.internal.test",
        "lego.internal.test",
        "outside.example.test",
    ]);
    let home = env.file("caddy-home");
    std::fs::create_dir_all(&home).unwrap();
    require("caddy");
    let child = Command::new("caddy")
        .args([
            "run",
            "--config",
            caddyfile.to_str().unwrap(),
            "--adapter",
            "caddyfile",
        ])
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.file("caddy.log")).unwrap())
        .spawn()
        .expect("start caddy");
    let mut caddy = Background {
        child,
        what: "caddy run".into(),
    };
    caddy.wait_for_port(port);
    let acme = Acme {
        env,
        directory: format!("https://acme.internal.test:{port}/acme/minica-acme/directory"),
        root: root.clone(),
    };
    // Caddy's own certificate (for the directory) comes from the intermediate too.
    let start = Instant::now();
    let served = loop {
        let v = env.minica(&[
            "verify",
            &format!("https://acme.internal.test:{port}"),
            "--ca",
            root.to_str().unwrap(),
        ]);
        if v.code == 0 || start.elapsed() > Duration::from_secs(20) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        served.code,
        0,
        "Caddy's site certificate: {}\n{}\ncaddy log:\n{}",
        served.stdout,
        served.stderr,
        text(&env.file("caddy.log"))
    );

    let (r, chain) = acme.certbot("certbot.internal.test");
    assert_eq!(
        r.code,
        0,
        "{r:?}\ncaddy log:\n{}",
        text(&env.file("caddy.log"))
    );
    accepted(env, &chain, "certbot.internal.test", &root, &intermediate);

    let (r, chain) = acme.lego("lego.internal.test");
    assert_eq!(
        r.code,
        0,
        "{r:?}\ncaddy log:\n{}",
        text(&env.file("caddy.log"))
    );
    accepted(env, &chain, "lego.internal.test", &root, &intermediate);

    // A name outside the intermediate's constraints (.internal.test):
    // Caddy 2.6's ACME server checks no name constraints, so it signs once
    // the http-01 challenge passes; the refusal comes at verification,
    // where RFC 5280 4.2.1.10 makes every verifier enforce the
    // intermediate's permitted subtrees.
    let (r, chain) = acme.lego("outside.example.test");
    assert_eq!(
        r.code, 0,
        "Caddy 2.6 was expected to issue outside its constraints (if it refuses now, it enforces them at issuance: assert that instead): {r:?}"
    );
    let blocks = pem_blocks(&text(&chain));
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        blocks[1].trim(),
        intermediate.trim(),
        "signed by the constrained intermediate"
    );
    let leaf = env.file("outside-leaf.pem");
    let untrusted = env.file("outside-untrusted.pem");
    std::fs::write(&leaf, &blocks[0]).unwrap();
    std::fs::write(&untrusted, &blocks[1]).unwrap();
    let r = openssl(&[
        "verify",
        "-CAfile",
        root.to_str().unwrap(),
        "-untrusted",
        untrusted.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert_ne!(r.code, 0, "openssl accepted a name outside the constraints");
    assert!(
        r.stdout.contains("permitted subtree violation")
            || r.stderr.contains("permitted subtree violation"),
        "openssl refused for another reason: {r:?}"
    );
    let v = env.minica(&[
        "verify",
        chain.to_str().unwrap(),
        "--ca",
        root.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v.code, 1, "{v:?}");
    assert_eq!(v.json()["reason"], "name_constraints", "{}", v.stdout);
}
