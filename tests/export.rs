//! `minica export` for engines that cannot run here (cert-manager,
//! step-ca, Vault): each output parsed field by field (YAML by Python's
//! yaml, JSON by serde), and every certificate and key in it compared with
//! the CA's own, bytes and public keys (openssl). Caddy, which can run
//! here, is proven live in tests/acme.rs.

mod common;
use common::*;

use std::path::Path;

fn text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The YAML documents of `file`, as JSON, base64 `data` values of a
/// Secret decoded (by Python's yaml and base64, not by minica).
fn yaml(file: &Path) -> Vec<serde_json::Value> {
    let script = r#"
import sys, json, yaml, base64
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
for d in docs:
    if d.get("kind") == "Secret":
        d["decoded"] = {k: base64.b64decode(v, validate=True).decode() for k, v in d["data"].items()}
print(json.dumps(docs))
"#;
    let r = run("python3", &["-c", script, file.to_str().unwrap()]).ok();
    serde_json::from_str(&r.stdout).unwrap()
}

/// The SubjectPublicKeyInfo (PEM) of a certificate or a private key, by openssl.
fn pubkey_of_cert(pem: &str, env: &Env) -> String {
    let f = env.file("probe-cert.pem");
    std::fs::write(&f, pem).unwrap();
    openssl(&["x509", "-in", f.to_str().unwrap(), "-noout", "-pubkey"])
        .ok()
        .stdout
}

fn pubkey_of_key(pem: &str, env: &Env) -> String {
    let f = env.file("probe-key.pem");
    std::fs::write(&f, pem).unwrap();
    openssl(&["pkey", "-in", f.to_str().unwrap(), "-pubout"])
        .ok()
        .stdout
}

/// A root and an intermediate `k8s` limited to .internal.test.
fn ca() -> Env {
    let env = Env::new();
    env.minica(&["init", "--cn", "Export Root"]).ok();
    env.minica(&[
        "ca",
        "intermediate",
        "k8s",
        "--permit",
        ".internal.test",
        "--no-default",
    ])
    .ok();
    env
}

fn no_key_printed(r: &Run) {
    assert!(
        !r.stdout.contains("PRIVATE KEY") && !r.stderr.contains("PRIVATE KEY"),
        "{}: key material printed",
        r.what
    );
}

#[test]
fn cert_manager_secret_cluster_issuer_and_bundle() {
    let env = ca();
    let r = env
        .minica(&[
            "export",
            "cert-manager",
            "--issuer",
            "k8s",
            "--out-dir",
            "cm",
        ])
        .ok();
    no_key_printed(&r);
    assert!(r.stdout.contains("kubectl apply -f"), "{}", r.stdout);
    let int_cert = text(&env.ca_dir().join("issuers/k8s/cert.pem"));
    let int_key = text(&env.ca_dir().join("issuers/k8s/key.pem"));
    let root = text(&env.ca_dir().join("ca.pem"));

    assert_eq!(mode(&env.file("cm/secret.yaml")), 0o600);
    assert_eq!(mode(&env.file("cm/cluster-issuer.yaml")), 0o644);
    assert_eq!(mode(&env.file("cm/bundle.yaml")), 0o644);

    let docs = yaml(&env.file("cm/secret.yaml"));
    assert_eq!(docs.len(), 1);
    let s = &docs[0];
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["kind"], "Secret");
    assert_eq!(s["type"], "kubernetes.io/tls");
    assert_eq!(s["metadata"]["name"], "minica-k8s");
    assert_eq!(s["metadata"]["namespace"], "cert-manager");
    let mut keys: Vec<&str> = s["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["ca.crt", "tls.crt", "tls.key"]);
    let d = &s["decoded"];
    assert_eq!(
        d["tls.crt"],
        int_cert.as_str(),
        "tls.crt is the intermediate"
    );
    assert_eq!(d["ca.crt"], root.as_str(), "ca.crt is the root");
    let key = d["tls.key"].as_str().unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    assert_eq!(
        pubkey_of_key(key, &env),
        pubkey_of_cert(&int_cert, &env),
        "tls.key is the intermediate's key"
    );
    assert_eq!(key, int_key);
    // The Secret's certificate chains to its ca.crt.
    std::fs::write(env.file("tls.crt"), d["tls.crt"].as_str().unwrap()).unwrap();
    std::fs::write(env.file("ca.crt"), d["ca.crt"].as_str().unwrap()).unwrap();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("ca.crt"),
        "-purpose",
        "any",
        &env.s("tls.crt"),
    ])
    .ok();

    let docs = yaml(&env.file("cm/cluster-issuer.yaml"));
    assert_eq!(docs.len(), 1);
    let i = &docs[0];
    assert_eq!(i["apiVersion"], "cert-manager.io/v1");
    assert_eq!(i["kind"], "ClusterIssuer");
    assert_eq!(i["metadata"]["name"], "minica-k8s");
    assert_eq!(i["spec"]["ca"]["secretName"], s["metadata"]["name"]);
    assert!(i["metadata"].get("namespace").is_none(), "cluster-scoped");

    let docs = yaml(&env.file("cm/bundle.yaml"));
    assert_eq!(docs.len(), 1);
    let b = &docs[0];
    assert_eq!(b["apiVersion"], "trust.cert-manager.io/v1alpha1");
    assert_eq!(b["kind"], "Bundle");
    assert_eq!(b["spec"]["sources"].as_array().unwrap().len(), 1);
    assert_eq!(
        b["spec"]["sources"][0]["inLine"],
        root.as_str(),
        "the Bundle holds the root, exactly"
    );
    assert_eq!(b["spec"]["target"]["configMap"]["key"], "root-certs.pem");
    assert!(!text(&env.file("cm/bundle.yaml")).contains("PRIVATE KEY"));
    assert!(!text(&env.file("cm/cluster-issuer.yaml")).contains("PRIVATE KEY"));

    // Names and namespace as asked; a bad one refused before anything is written.
    env.minica(&[
        "export",
        "cert-manager",
        "--issuer",
        "k8s",
        "--out-dir",
        "cm2",
        "--resource-name",
        "lab-ca",
        "--namespace",
        "pki",
    ])
    .ok();
    let s2 = &yaml(&env.file("cm2/secret.yaml"))[0];
    assert_eq!(s2["metadata"]["name"], "lab-ca");
    assert_eq!(s2["metadata"]["namespace"], "pki");
    assert_eq!(
        yaml(&env.file("cm2/cluster-issuer.yaml"))[0]["spec"]["ca"]["secretName"],
        "lab-ca"
    );
    let r = env
        .minica(&[
            "export",
            "cert-manager",
            "--issuer",
            "k8s",
            "--out-dir",
            "cm3",
            "--namespace",
            "Bad_NS",
        ])
        .fails_with(2);
    r.one_sentence_naming("--namespace");
    assert!(!env.file("cm3").exists());
}

#[test]
fn step_ca_files_and_ca_json_fields() {
    let env = ca();
    let r = env
        .minica(&[
            "export",
            "step-ca",
            "--issuer",
            "k8s",
            "--out-dir",
            "step",
            "--json",
        ])
        .ok();
    no_key_printed(&r);
    let j = r.json();
    assert_eq!(j["export"]["kind"], "step-ca");
    assert_eq!(j["export"]["issuer"], "k8s");
    let fields: serde_json::Value =
        serde_json::from_str(&text(&env.file("step/ca-fields.json"))).unwrap();
    let mut names: Vec<&str> = fields
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort();
    assert_eq!(names, ["crt", "key", "root"]);
    let (root, crt, key) = (
        Path::new(fields["root"].as_str().unwrap()),
        Path::new(fields["crt"].as_str().unwrap()),
        Path::new(fields["key"].as_str().unwrap()),
    );
    assert!(root.is_absolute() && crt.is_absolute() && key.is_absolute());
    assert_eq!(root, env.file("step/certs/root_ca.crt"));
    assert_eq!(crt, env.file("step/certs/intermediate_ca.crt"));
    assert_eq!(key, env.file("step/secrets/intermediate_ca_key"));
    assert_eq!(text(root), text(&env.ca_dir().join("ca.pem")));
    let int_cert = text(&env.ca_dir().join("issuers/k8s/cert.pem"));
    assert_eq!(text(crt), int_cert);
    assert_eq!(mode(key), 0o600);
    assert_eq!(
        pubkey_of_key(&text(key), &env),
        pubkey_of_cert(&int_cert, &env)
    );
    openssl(&[
        "verify",
        "-CAfile",
        root.to_str().unwrap(),
        "-purpose",
        "any",
        crt.to_str().unwrap(),
    ])
    .ok();

    // --steppath: the paths as the step-ca machine sees them.
    env.minica(&[
        "export",
        "step-ca",
        "--issuer",
        "k8s",
        "--out-dir",
        "step2",
        "--steppath",
        "/etc/step-ca",
    ])
    .ok();
    let f2: serde_json::Value =
        serde_json::from_str(&text(&env.file("step2/ca-fields.json"))).unwrap();
    assert_eq!(f2["root"], "/etc/step-ca/certs/root_ca.crt");
    assert_eq!(f2["crt"], "/etc/step-ca/certs/intermediate_ca.crt");
    assert_eq!(f2["key"], "/etc/step-ca/secrets/intermediate_ca_key");
    env.minica(&[
        "export",
        "step-ca",
        "--issuer",
        "k8s",
        "--out-dir",
        "step3",
        "--steppath",
        "relative",
    ])
    .fails_with(2)
    .one_sentence_naming("--steppath");
    assert!(!env.file("step3").exists());
}

/// Splits PEM text into (label, block) pairs.
fn blocks(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in s.lines() {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        {
            cur = Some((l.to_string(), String::new()));
        }
        if let Some((_, b)) = cur.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
        if line.starts_with("-----END ")
            && let Some(c) = cur.take()
        {
            out.push(c);
        }
    }
    out
}

#[test]
fn vault_pem_bundle_and_the_root_only_on_request() {
    let env = ca();
    let r = env
        .minica(&["export", "vault", "--issuer", "k8s", "--out-dir", "vault"])
        .ok();
    no_key_printed(&r);
    assert!(
        r.stdout.contains("issuers/import/bundle pem_bundle=@"),
        "{}",
        r.stdout
    );
    let bundle = env.file("vault/pem_bundle.pem");
    assert_eq!(mode(&bundle), 0o600);
    let b = blocks(&text(&bundle));
    let labels: Vec<&str> = b.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["CERTIFICATE", "PRIVATE KEY", "CERTIFICATE"]);
    let int_cert = text(&env.ca_dir().join("issuers/k8s/cert.pem"));
    assert_eq!(b[0].1, int_cert, "first the intermediate");
    assert_eq!(
        pubkey_of_key(&b[1].1, &env),
        pubkey_of_cert(&int_cert, &env),
        "then its key"
    );
    assert_eq!(b[2].1, text(&env.ca_dir().join("ca.pem")), "then the root");

    // An existing output is refused (exit 3) and left as it was; --force replaces it.
    std::fs::write(&bundle, "mine\n").unwrap();
    env.minica(&["export", "vault", "--issuer", "k8s", "--out-dir", "vault"])
        .fails_with(3)
        .one_sentence_naming("pem_bundle.pem");
    assert_eq!(text(&bundle), "mine\n");
    env.minica(&[
        "export",
        "vault",
        "--issuer",
        "k8s",
        "--out-dir",
        "vault",
        "--force",
    ])
    .ok();
    assert_eq!(blocks(&text(&bundle)).len(), 3);
    assert_eq!(mode(&bundle), 0o600);

    // Which CA: an unknown intermediate, or none named, is bad input.
    env.minica(&["export", "vault", "--issuer", "nope", "--out-dir", "v2"])
        .fails_with(2)
        .one_sentence_naming("nope");
    env.minica(&["export", "vault", "--out-dir", "v2"])
        .fails_with(2);
    assert!(!env.file("v2").exists());

    // The root key only with --root-key, and with a warning.
    let r = env
        .minica(&["export", "vault", "--root-key", "--out-dir", "vroot"])
        .ok();
    no_key_printed(&r);
    assert!(
        r.stderr.contains("warning") && r.stderr.contains("ROOT key"),
        "{}",
        r.stderr
    );
    let b = blocks(&text(&env.file("vroot/pem_bundle.pem")));
    let root = text(&env.ca_dir().join("ca.pem"));
    assert_eq!(b.len(), 2, "the root and its key, once");
    assert_eq!(b[0].1, root);
    assert_eq!(pubkey_of_key(&b[1].1, &env), pubkey_of_cert(&root, &env));
    assert_eq!(mode(&env.file("vroot/pem_bundle.pem")), 0o600);

    // Caddy never gets the root: it is given an intermediate by name.
    let r = env.minica(&["export", "caddy", "--out-dir", "c"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(!env.file("c").exists());
}

/// With the root key encrypted, exporting an intermediate needs no
/// passphrase: the root key is not read. Exporting the root does need it.
#[test]
fn exporting_an_intermediate_leaves_an_encrypted_root_key_unread() {
    let env = Env::new();
    let with_pass = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .args(args)
            .current_dir(env.path())
            .env("MINICA_CA_DIR", env.ca_dir())
            .env("MINICA_CA_PASSWORD", "a root passphrase")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    with_pass(&["init", "--encrypt"]);
    with_pass(&["ca", "intermediate", "edge", "--no-default"]);
    // No passphrase here (and no terminal to ask one on).
    env.minica(&["export", "step-ca", "--issuer", "edge", "--out-dir", "s"])
        .ok();
    env.minica(&["export", "vault", "--root-key", "--out-dir", "v"])
        .fails_with(2);
    assert!(!env.file("v").exists());
}
