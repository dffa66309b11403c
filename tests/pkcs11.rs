//! The root key in a PKCS#11 token, against SoftHSM2 (Debian `softhsm2`):
//! what minica signs through the token is checked by `openssl verify` and
//! `openssl crl -verify`, the key's attributes by OpenSC's `pkcs11-tool`,
//! and refusals (wrong PIN, missing token, missing module) change nothing.
//! Each test has its own SoftHSM configuration and token directory.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::hsm::{Hsm, MODULE, PIN};
const WRONG_PIN: &str = "pin-0815";

fn init_args<'a>(uri: &'a str, key_type: &'a str) -> Vec<&'a str> {
    vec![
        "init",
        "--pkcs11",
        uri,
        "--pkcs11-module",
        MODULE,
        "--key-type",
        key_type,
    ]
}

/// The SubjectPublicKeyInfo of a certificate file, DER.
fn cert_spki(cert: &Path) -> Vec<u8> {
    let pem = openssl(&["x509", "-in", cert.to_str().unwrap(), "-noout", "-pubkey"])
        .ok()
        .stdout;
    let block = pem::parse(pem.as_bytes()).unwrap();
    block.contents().to_vec()
}

/// Checks that the token's public key `label` is the certificate's: the
/// EC point pkcs11-tool lists (its `--read-object` of a P-384 public key
/// fails in OpenSC 0.23), or the RSA public key it reads out.
fn token_key_is_the_certificates(hsm: &Hsm, env: &Env, label: &str, cert: &Path) {
    let spki = cert_spki(cert);
    let list = hsm
        .pkcs11_tool(&["--list-objects", "--type", "pubkey"])
        .ok();
    let entry = list
        .stdout
        .split("Public Key Object")
        .find(|o| o.contains(&format!("label:      {label}\n")))
        .unwrap_or_else(|| panic!("no public key {label:?} in the token:\n{}", list.stdout));
    if let Some(point) = entry
        .lines()
        .find_map(|l| l.trim().strip_prefix("EC_POINT:"))
    {
        // DER OCTET STRING (04 len) around the point, which ends the SPKI.
        let point = point.trim();
        let bare = &point[4..];
        assert_eq!(
            usize::from_str_radix(&point[2..4], 16).unwrap() * 2,
            bare.len()
        );
        let tail: String = spki[spki.len() - bare.len() / 2..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(bare, tail, "the certificate's key is not the token's");
    } else {
        let out = env.file(&format!("{label}.der"));
        hsm.pkcs11_tool(&[
            "--read-object",
            "--type",
            "pubkey",
            "--label",
            label,
            "-o",
            out.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            spki,
            "the certificate's key is not the token's"
        );
    }
}

/// The "Private Key Object" entry pkcs11-tool lists for `label`.
fn private_key_listing(hsm: &Hsm, label: &str) -> String {
    let list = hsm
        .pkcs11_tool(&["--list-objects", "--type", "privkey"])
        .ok();
    list.stdout
        .split("Private Key Object")
        .find(|o| o.contains(&format!("label:      {label}\n")))
        .unwrap_or_else(|| panic!("no private key {label:?} in the token:\n{}", list.stdout))
        .to_string()
}

/// A root in the token, then everything it signs, checked by OpenSSL:
/// a leaf the root signs, a revocation in the root's CRL, an intermediate
/// and a leaf under it.
fn token_root_signs_everything(key_type: &str, want_alg: &str) {
    let hsm = Hsm::new();
    let env = Env::new();
    let label = format!("root-{key_type}");
    let uri = format!("pkcs11:token=minica;object={label}");
    let made = hsm.minica(&env, Some(PIN), &init_args(&uri, key_type)).ok();
    assert!(made.stdout.contains("made there"), "{}", made.stdout);

    // No key file; ca.toml keeps the URI and module, never the PIN.
    let ca = env.ca_dir();
    assert!(!ca.join("ca-key.pem").exists());
    let toml = std::fs::read_to_string(ca.join("ca.toml")).unwrap();
    assert!(toml.contains(&format!("pkcs11 = \"{uri}\"")), "{toml}");
    assert!(
        toml.contains(&format!("pkcs11_module = \"{MODULE}\"")),
        "{toml}"
    );
    assert!(!toml.contains(PIN));
    assert!(!made.stdout.contains(PIN) && !made.stderr.contains(PIN));

    // The key is the token's: the certificate's public key is the one
    // pkcs11-tool reads from the token, and the private half is sensitive,
    // never extractable, and a token object (it outlived minica's session).
    let root = ca.join("ca.pem");
    let text = x509_text(&root);
    assert!(text.contains(want_alg), "{text}");
    token_key_is_the_certificates(&hsm, &env, &label, &root);
    let listing = private_key_listing(&hsm, &label);
    let access = listing
        .lines()
        .find(|l| l.trim_start().starts_with("Access:"))
        .unwrap_or_else(|| panic!("no Access line:\n{listing}"));
    assert!(
        access.contains("sensitive") && access.contains("never extractable"),
        "{access}"
    );
    // pkcs11-tool writes "extractable" alone only for CKA_EXTRACTABLE true.
    assert!(
        !access
            .replace("never extractable", "")
            .contains("extractable"),
        "{access}"
    );
    assert!(listing.contains("Usage:      sign\n"), "{listing}");
    // A leaf signed by the root through the token.
    hsm.minica(
        &env,
        Some(PIN),
        &["issue", "localhost", "--out-dir", "leaf"],
    )
    .ok();
    let cafile = env.s("leaf/ca.pem");
    let v = openssl(&["verify", "-CAfile", &cafile, &env.s("leaf/cert.pem")]).ok();
    assert!(v.stdout.contains(": OK"), "{v:?}");

    // Revoked, and the root's CRL (signed through the token) says so. No
    // PIN is needed to revoke: that only appends to the CA's record.
    hsm.minica(
        &env,
        None,
        &["revoke", "localhost", "--reason", "keyCompromise"],
    )
    .ok();
    hsm.minica(&env, Some(PIN), &["crl", "--root", "--out", "root.crl"])
        .ok();
    let c = openssl(&[
        "crl",
        "-in",
        &env.s("root.crl"),
        "-CAfile",
        &cafile,
        "-noout",
        "-verify",
    ])
    .ok();
    assert!(c.stderr.contains("verify OK"), "{c:?}");
    let r = openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        &env.s("root.crl"),
        "-CAfile",
        &cafile,
        &env.s("leaf/cert.pem"),
    ]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("certificate revoked"), "{r:?}");

    // An intermediate signed through the token, and a leaf under it.
    hsm.minica(&env, Some(PIN), &["ca", "intermediate", "daily"])
        .ok();
    hsm.minica(&env, None, &["issue", "app.test", "--out-dir", "app"])
        .ok();
    let v = openssl(&[
        "verify",
        "-CAfile",
        &env.s("app/ca.pem"),
        "-untrusted",
        &ca.join("issuers/daily/cert.pem").to_string_lossy(),
        &env.s("app/cert.pem"),
    ])
    .ok();
    assert!(v.stdout.contains(": OK"), "{v:?}");
    // minica's own verifier agrees.
    hsm.minica(
        &env,
        None,
        &[
            "verify",
            "app/chain.pem",
            "--ca",
            "app/ca.pem",
            "--host",
            "app.test",
        ],
    )
    .ok();
}

#[test]
fn ecdsa_p256_root_in_the_token_signs_leaves_intermediates_and_crls() {
    token_root_signs_everything("ecdsa-p256", "ecdsa-with-SHA256");
}

#[test]
fn ecdsa_p384_root_in_the_token_signs_leaves_intermediates_and_crls() {
    token_root_signs_everything("ecdsa-p384", "ecdsa-with-SHA384");
}

#[test]
fn rsa_root_in_the_token_signs_leaves_intermediates_and_crls() {
    token_root_signs_everything("rsa-2048", "sha256WithRSAEncryption");
}

/// A key made beforehand (by pkcs11-tool) is used, not replaced; a key of
/// another type than asked for is refused; the PIN can come from a file.
#[test]
fn a_key_already_in_the_token_is_used() {
    let hsm = Hsm::new();
    let env = Env::new();
    hsm.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "EC:secp384r1",
        "--label",
        "existing",
        "--id",
        "42",
    ])
    .ok();
    let uri = "pkcs11:token=minica;object=existing";
    let before = snapshot(env.path());
    let e = hsm
        .minica(&env, Some(PIN), &init_args(uri, "ecdsa-p256"))
        .fails_with(2);
    e.one_sentence_naming("--key-type ecdsa-p384");
    assert_eq!(before, snapshot(env.path()));

    // A key that wants the PIN before every signature is refused before
    // anything is written.
    hsm.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "every-time",
        "--always-auth",
    ])
    .ok();
    let e = hsm
        .minica(
            &env,
            Some(PIN),
            &init_args("pkcs11:token=minica;object=every-time", "ecdsa-p256"),
        )
        .fails_with(2);
    e.one_sentence_naming("CKA_ALWAYS_AUTHENTICATE");
    assert_eq!(before, snapshot(env.path()));

    let pin_file = env.file("pin.txt");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    let mut args = init_args(uri, "ecdsa-p384");
    args.extend(["--pkcs11-pin-file", pin_file.to_str().unwrap()]);
    let made = hsm.minica(&env, None, &args).ok();
    assert!(made.stdout.contains("already there"), "{}", made.stdout);

    token_key_is_the_certificates(&hsm, &env, "existing", &env.ca_dir().join("ca.pem"));
    // Only the two key pairs made here: nothing new was made.
    let list = hsm
        .pkcs11_tool(&["--list-objects", "--type", "privkey"])
        .ok();
    assert_eq!(list.stdout.matches("Private Key Object").count(), 2);

    // The same key after `init --force` (a new root certificate for it).
    let mut again = args.clone();
    again.push("--force");
    let made = hsm.minica(&env, None, &again).ok();
    assert!(made.stdout.contains("already there"), "{}", made.stdout);
    hsm.minica(
        &env,
        None,
        &[
            "issue",
            "x.test",
            "--pkcs11-pin-file",
            pin_file.to_str().unwrap(),
        ],
    )
    .ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("x.test/ca.pem"),
        &env.s("x.test/cert.pem"),
    ])
    .ok();
}

/// Wrong PIN, no PIN, missing token, missing or bogus module, a URI with
/// a PIN in it: one sentence each, exit 2, nothing changed on disk (the
/// CA directory's side and the token's), the PIN never printed. The one
/// change minica cannot prevent is the token's own: after a wrong PIN,
/// SoftHSM sets CKF_USER_PIN_COUNT_LOW in its token.object (PKCS#11 v2.40
/// base 3.2, CK_TOKEN_INFO flags), as a token that counts tries must.
#[test]
fn token_failures_are_one_sentence_and_change_nothing() {
    let hsm = Hsm::new();
    let env = Env::new();
    std::fs::write(env.file("not-a-module.so"), "just text\n").unwrap();
    let bogus = env.s("not-a-module.so");
    // The real module, but writable by anyone: loading it would run
    // whatever someone put there.
    let open_module = env.file("open-module.so");
    std::fs::copy(MODULE, &open_module).unwrap();
    std::fs::set_permissions(&open_module, std::fs::Permissions::from_mode(0o666)).unwrap();
    let open_module = open_module.to_str().unwrap().to_string();
    let good = "pkcs11:token=minica;object=root";
    let init = |uri: &str, module: &str| {
        vec![
            "init".to_string(),
            "--pkcs11".into(),
            uri.into(),
            "--pkcs11-module".into(),
            module.into(),
        ]
    };
    let cases: Vec<(Vec<String>, Option<&str>, &str)> = vec![
        (init(good, MODULE), Some(WRONG_PIN), "wrong PIN"),
        (init(good, MODULE), None, "MINICA_PKCS11_PIN"),
        (
            init("pkcs11:token=nope;object=root", MODULE),
            Some(PIN),
            "no token matching pkcs11:token=nope",
        ),
        (
            init(good, "/usr/lib/no-such-pkcs11-module.so"),
            Some(PIN),
            "no such PKCS#11 module",
        ),
        (
            init(good, &bogus),
            Some(PIN),
            "cannot be loaded as a PKCS#11 module",
        ),
        (
            init(good, &open_module),
            Some(PIN),
            "writable by others (mode 666)",
        ),
        (
            init("pkcs11:token=minica;object=root?pin-value=pin-4711", MODULE),
            Some(PIN),
            "pin-value",
        ),
        (
            [
                init(good, MODULE),
                vec!["--key-type".into(), "ed25519".into()],
            ]
            .concat(),
            Some(PIN),
            "not ed25519",
        ),
        (
            [init(good, MODULE), vec!["--encrypt".into()]].concat(),
            Some(PIN),
            "encrypt",
        ),
    ];
    for (args, pin, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let token_files = || token_snapshot(&hsm, *pin == Some(WRONG_PIN));
        let before = (snapshot(env.path()), token_files());
        let e = hsm.minica(&env, *pin, &args).fails_with(2);
        e.one_sentence_naming(needle);
        for secret in [PIN, WRONG_PIN] {
            assert!(
                !e.stderr.contains(secret) && !e.stdout.contains(secret),
                "{args:?} printed a PIN: {e:?}"
            );
        }
        assert!(!env.ca_dir().exists(), "{args:?} made the CA directory");
        assert_eq!(
            before,
            (snapshot(env.path()), token_files()),
            "{args:?} changed something"
        );
    }
    // Nothing was made in the token either.
    let list = hsm.pkcs11_tool(&["--list-objects"]).ok();
    assert!(!list.stdout.contains("Key Object"), "{}", list.stdout);

    // With a CA in the token: signing with a wrong PIN, or once the token
    // is gone, is refused before anything is written.
    hsm.minica(&env, Some(PIN), &init_args(good, "ecdsa-p256"))
        .ok();
    // ca.toml and the key file are not what makes a token CA: it is
    // complete without ca-key.pem, so `list` and `revoke` just work.
    hsm.minica(&env, None, &["list"]).ok();
    for (pin, args, needle) in [
        (Some(WRONG_PIN), vec!["issue", "a.test"], "wrong PIN"),
        (None, vec!["issue", "a.test"], "MINICA_PKCS11_PIN"),
        (Some(WRONG_PIN), vec!["crl"], "wrong PIN"),
        (
            Some(WRONG_PIN),
            vec!["ca", "intermediate", "x"],
            "wrong PIN",
        ),
        (Some(PIN), vec!["ca", "encrypt"], "PKCS#11 token"),
    ] {
        let token_files = || token_snapshot(&hsm, pin == Some(WRONG_PIN));
        let before = (snapshot(env.path()), token_files());
        let e = hsm.minica(&env, pin, &args).fails_with(2);
        e.one_sentence_naming(needle);
        assert!(!e.stderr.contains(WRONG_PIN) && !e.stderr.contains(PIN));
        assert_eq!(
            before,
            (snapshot(env.path()), token_files()),
            "{args:?} changed something"
        );
    }
    // The token is gone (its directory emptied): the CA says which is missing.
    let gone = hsm.tmp.path().join("gone");
    std::fs::rename(hsm.tokens(), &gone).unwrap();
    std::fs::create_dir(hsm.tokens()).unwrap();
    let before = snapshot(env.path());
    let e = hsm
        .minica(&env, Some(PIN), &["issue", "a.test"])
        .fails_with(2);
    e.one_sentence_naming("no token matching pkcs11:token=minica;object=root");
    assert_eq!(before, snapshot(env.path()));
    // Back again, and it signs.
    std::fs::remove_dir(hsm.tokens()).unwrap();
    std::fs::rename(&gone, hsm.tokens()).unwrap();
    hsm.minica(&env, Some(PIN), &["issue", "a.test"]).ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("a.test/ca.pem"),
        &env.s("a.test/cert.pem"),
    ])
    .ok();
}

/// The token directory's files; with `wrong_pin`, the token's own record
/// (token.object, where SoftHSM keeps its flags and the count of tries)
/// is left out, and only its objects are compared.
fn token_snapshot(
    hsm: &Hsm,
    wrong_pin: bool,
) -> std::collections::BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut files = snapshot(&hsm.tokens());
    if wrong_pin {
        files.retain(|p, _| p.file_name().is_none_or(|n| n != "token.object"));
    }
    files
}

/// The README's way back: `init --force` without `--pkcs11` makes a root
/// with a key file and keeps the token CA's files aside; `init --force
/// --pkcs11` over a file CA moves its ca-key.pem aside with the rest.
#[test]
fn a_token_ca_is_replaced_both_ways() {
    let hsm = Hsm::new();
    let env = Env::new();
    let uri = "pkcs11:token=minica;object=root";
    hsm.minica(&env, Some(PIN), &init_args(uri, "ecdsa-p256"))
        .ok();
    let ca = env.ca_dir();
    let token_root = std::fs::read(ca.join("ca.pem")).unwrap();

    hsm.minica(&env, None, &["init", "--force"]).ok();
    assert!(ca.join("ca-key.pem").is_file());
    let toml = std::fs::read_to_string(ca.join("ca.toml")).unwrap();
    assert!(!toml.contains("pkcs11"), "{toml}");
    let aside: Vec<PathBuf> = std::fs::read_dir(&ca)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("replaced-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read(aside[0].join("ca.pem")).unwrap(), token_root);
    assert!(
        std::fs::read_to_string(aside[0].join("ca.toml"))
            .unwrap()
            .contains(uri)
    );
    hsm.minica(&env, None, &["issue", "file.test"]).ok();

    // Back into the token: the same key, and the key file goes aside.
    let file_key = std::fs::read(ca.join("ca-key.pem")).unwrap();
    let again = hsm
        .minica(
            &env,
            Some(PIN),
            &[init_args(uri, "ecdsa-p256"), vec!["--force"]].concat(),
        )
        .ok();
    assert!(again.stdout.contains("already there"), "{}", again.stdout);
    assert!(!ca.join("ca-key.pem").exists());
    let kept = std::fs::read_dir(&ca)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("ca-key.pem"))
        .filter(|p| p.is_file())
        .collect::<Vec<_>>();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), file_key);
    hsm.minica(&env, Some(PIN), &["issue", "token.test"]).ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("token.test/ca.pem"),
        &env.s("token.test/cert.pem"),
    ])
    .ok();
}

/// `batch` signs on several threads through the one token session (behind
/// a mutex), and `init --permit` makes its constrained intermediate
/// through the token in the same run.
#[test]
fn batch_and_init_permit_sign_through_the_token() {
    let hsm = Hsm::new();
    let env = Env::new();
    let uri = "pkcs11:token=minica;object=root";
    let mut args = init_args(uri, "ecdsa-p256");
    args.extend(["--permit", ".test", "--no-intermediate"]);
    hsm.minica(&env, Some(PIN), &args).ok();
    let names: Vec<String> = (0..8).map(|i| format!("h{i}.test")).collect();
    std::fs::write(env.file("hosts.txt"), names.join("\n") + "\n").unwrap();
    hsm.minica(
        &env,
        Some(PIN),
        &["batch", "hosts.txt", "--out-dir", "certs", "--jobs", "4"],
    )
    .ok();
    let cafile = env.ca_dir().join("ca.pem");
    for n in &names {
        openssl(&[
            "verify",
            "-CAfile",
            cafile.to_str().unwrap(),
            &env.s(&format!("certs/{n}/cert.pem")),
        ])
        .ok();
    }

    let mut args = init_args(uri, "ecdsa-p256");
    args.extend(["--permit", ".test", "--force"]);
    let made = hsm.minica(&env, Some(PIN), &args).ok();
    assert!(
        made.stdout.contains("intermediate issuing"),
        "{}",
        made.stdout
    );
    hsm.minica(&env, None, &["issue", "a.test"]).ok();
    openssl(&[
        "verify",
        "-CAfile",
        &env.s("a.test/ca.pem"),
        "-untrusted",
        &env.ca_dir()
            .join("issuers/issuing/cert.pem")
            .to_string_lossy(),
        &env.s("a.test/cert.pem"),
    ])
    .ok();
}
