//! `--json` is an interface (issue #17): every command's output is checked
//! against the shape documented in docs/json.md, read from that file, so a
//! key renamed, removed or added in the program without the document (or
//! the other way round) fails here.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use serde_json::Value;

const DOC: &str = include_str!("../docs/json.md");

/// One documented key: the types it may have, and whether it may be absent.
#[derive(Debug, Clone)]
struct Field {
    types: Vec<String>,
    optional: bool,
}

/// The `shape ID` blocks of docs/json.md: path -> field, with `=ID`
/// lines expanded to the lines of that block under the path.
fn shapes() -> BTreeMap<String, Vec<(String, String)>> {
    let mut blocks = BTreeMap::new();
    let mut current: Option<(String, Vec<(String, String)>)> = None;
    for line in DOC.lines() {
        if let Some(id) = line.strip_prefix("```shape ") {
            current = Some((id.trim().to_string(), Vec::new()));
        } else if line.starts_with("```") {
            if let Some((id, lines)) = current.take() {
                assert!(
                    blocks.insert(id.clone(), lines).is_none(),
                    "two blocks {id}"
                );
            }
        } else if let Some((_, lines)) = current.as_mut() {
            let mut words = line.split_whitespace();
            if let (Some(path), Some(ty)) = (words.next(), words.next()) {
                lines.push((path.to_string(), ty.to_string()));
            }
        }
    }
    blocks
}

fn shape(id: &str) -> BTreeMap<String, Field> {
    let blocks = shapes();
    let mut out = BTreeMap::new();
    expand(&blocks, id, "", &mut out);
    out
}

fn expand(
    blocks: &BTreeMap<String, Vec<(String, String)>>,
    id: &str,
    prefix: &str,
    out: &mut BTreeMap<String, Field>,
) {
    let lines = blocks
        .get(id)
        .unwrap_or_else(|| panic!("docs/json.md has no ```shape {id} block"));
    for (path, ty) in lines {
        let full = match (prefix, path.as_str()) {
            (p, ".") => p.to_string(),
            ("", p) => p.to_string(),
            (p, q) if q.starts_with('[') => format!("{p}{q}"),
            (p, q) => format!("{p}.{q}"),
        };
        if let Some(inner) = ty.strip_prefix('=') {
            let (inner, optional) = match inner.strip_suffix('?') {
                Some(i) => (i, true),
                None => (inner, false),
            };
            if !full.is_empty() {
                out.insert(
                    full.clone(),
                    Field {
                        types: vec!["object".into()],
                        optional,
                    },
                );
            }
            expand(blocks, inner, &full, out);
            continue;
        }
        let (ty, optional) = match ty.strip_suffix('?') {
            Some(t) => (t, true),
            None => (ty.as_str(), false),
        };
        out.insert(
            full,
            Field {
                types: ty.split('|').map(String::from).collect(),
                optional,
            },
        );
    }
}

fn is_time(s: &str) -> bool {
    // RFC 3339 in UTC, to the second: 2026-01-02T03:04:05Z.
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

const NAME_TYPES: [&str; 7] = [
    "dns",
    "ip",
    "email",
    "uri",
    "dirname",
    "registered_id",
    "other",
];

/// Every path of a JSON value with the type found there: "name" for a
/// `{"type", "value"}` name, "time" for an RFC 3339 string.
fn flatten(v: &Value, path: &str, out: &mut BTreeMap<String, BTreeSet<String>>) {
    let ty = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(s) if is_time(s) => "time",
        Value::String(_) => "string",
        Value::Array(a) => {
            for e in a {
                flatten(e, &format!("{path}[]"), out);
            }
            "array"
        }
        Value::Object(m) => {
            let is_name = m.len() == 2
                && m.get("value").is_some_and(Value::is_string)
                && m.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| NAME_TYPES.contains(&t));
            if is_name {
                "name"
            } else {
                for (k, e) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    flatten(e, &p, out);
                }
                "object"
            }
        }
    };
    if !path.is_empty() {
        out.entry(path.to_string())
            .or_default()
            .insert(ty.to_string());
    }
}

fn parent(path: &str) -> &str {
    if let Some(p) = path.strip_suffix("[]") {
        return p;
    }
    path.rfind('.').map_or("", |i| &path[..i])
}

/// Checks `json` against the documented shape `id`: every key it has is
/// documented with its type, and every documented key is there (unless
/// marked `?`, or inside an empty array or a null).
#[track_caller]
fn check(id: &str, json: &Value) {
    let doc = shape(id);
    let mut found = BTreeMap::new();
    flatten(json, "", &mut found);
    let mut problems = Vec::new();
    for (path, types) in &found {
        match doc.get(path) {
            None => problems.push(format!("{path}: not documented (types {types:?})")),
            Some(f) => {
                for t in types {
                    let ok = f.types.contains(t)
                        // A time is a string too, for fields documented as strings.
                        || (t == "time" && f.types.iter().any(|d| d == "string"));
                    if !ok {
                        problems.push(format!("{path}: {t}, documented as {:?}", f.types));
                    }
                }
            }
        }
    }
    for (path, f) in &doc {
        let p = parent(path);
        let parent_there = p.is_empty()
            || found
                .get(p)
                .is_some_and(|t| t.contains("object") || t.contains("array"));
        // An array may be empty: its elements' keys are required only in
        // the elements there are.
        let element = path.ends_with("[]");
        if !f.optional && !element && parent_there && !found.contains_key(path) {
            problems.push(format!("{path}: documented but missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "--json of `{id}` does not match docs/json.md:\n  {}\n{}",
        problems.join("\n  "),
        serde_json::to_string_pretty(json).unwrap()
    );
    assert_eq!(json["schema_version"], 1, "{id}");
}

fn json(env: &Env, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    env.minica(&a).ok().json()
}

fn pw(env: &Env) -> String {
    std::fs::write(env.file("pw"), "store-pass\n").unwrap();
    env.s("pw")
}

/// The checker itself: a missing key, an undocumented one and a wrong type
/// are each caught (so the tests below can fail).
#[test]
fn the_checker_catches_drift() {
    let good = json(&Env::new(), &["csr", "x.test", "127.0.0.1"]);
    check("csr", &good);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("key_type");
    let mut extra = good.clone();
    extra["key"] = "ecdsa-p256".into();
    let mut wrong = good.clone();
    wrong["names"][0] = "DNS:x.test".into();
    for bad in [missing, extra, wrong] {
        let r = std::panic::catch_unwind(|| check("csr", &bad));
        assert!(r.is_err(), "accepted {bad}");
    }
}

/// Every block in docs/json.md is used by a test here, and each expands.
#[test]
fn every_documented_shape_is_tested() {
    let this: String = include_str!("json.rs").split_whitespace().collect();
    for id in shapes().keys() {
        let _ = shape(id);
        let used = this.contains(&format!("check(\"{id}\""));
        let included = DOC.contains(&format!("={id}"));
        assert!(
            used || included,
            "shape {id} is documented but no test checks it"
        );
    }
}

#[test]
fn init_issue_csr_batch() {
    let env = Env::new();
    let p = pw(&env);
    check(
        "init",
        &json(
            &env,
            &["init", "--permit", ".test", "--permit", "127.0.0.0/8"],
        ),
    );
    check(
        "issue",
        &json(
            &env,
            &[
                "issue",
                "a.test",
                "127.0.0.1",
                "--keystore",
                "--truststore",
                "--password-file",
                &p,
            ],
        ),
    );
    let csr = json(&env, &["csr", "svc.test", "--out-dir", "svc"]);
    check("csr", &csr);
    check(
        "issue",
        &json(
            &env,
            &[
                "issue",
                "--csr",
                "svc/csr.pem",
                "--san",
                "svc2.test",
                "--out-dir",
                "svc",
            ],
        ),
    );
    std::fs::write(env.file("names.txt"), "b.test\nc.test www.c.test\n").unwrap();
    check(
        "batch",
        &json(&env, &["batch", "names.txt", "--out-dir", "out"]),
    );
    std::fs::write(
        env.file("env.toml"),
        "[[certificate]]\nnames = [\"k.test\"]\nout = \"k\"\nkeystore = { format = \"pem\" }\n\
         [[certificate]]\nnames = [\"x.test\"]\nfault = \"expired\"\n\
         [[truststore]]\npath = \"t.pem\"\n",
    )
    .unwrap();
    let made = json(&env, &["apply", "env.toml"]);
    check("apply", &made);
    assert_eq!(made["certificates"][1]["fault"], "expired");
    let checked = env.minica(&["apply", "env.toml", "--check", "--json"]).ok();
    check("apply", &checked.json());
    assert_eq!(checked.json()["changed"], false);
}

#[test]
fn list_renew_revoke_crl() {
    let env = Env::new();
    env.minica(&["issue", "a.test"]).ok();
    env.minica(&["issue", "b.test", "ops@b.test"]).ok();
    env.minica(&["issue", "gone.test"]).ok();
    std::fs::remove_file(env.file("gone.test/key.pem")).unwrap();
    check(
        "revoke",
        &json(&env, &["revoke", "b.test", "--reason", "superseded"]),
    );
    check("renew", &json(&env, &["renew", "a.test"]));
    check("crl", &json(&env, &["crl", "--out", "crl.pem"]));
    let mut record = std::fs::OpenOptions::new()
        .append(true)
        .open(env.ca_dir().join("issued.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut record, b"not json\n").unwrap();
    check("list", &json(&env, &["list"]));
    let due = env
        .minica(&[
            "needs-renewal",
            "b.test/cert.pem",
            "--fraction",
            "0%",
            "--json",
        ])
        .ok()
        .json();
    check("needs-renewal", &due);
}

#[test]
fn keystore_truststore_inspect_verify() {
    let env = Env::new();
    let p = pw(&env);
    env.minica(&["init", "--permit", ".test", "--permit", "127.0.0.0/8"])
        .ok();
    env.minica(&["issue", "a.test", "127.0.0.1"]).ok();
    check(
        "keystore",
        &json(
            &env,
            &[
                "keystore",
                "a.test",
                "--out",
                "ks.p12",
                "--password-file",
                &p,
            ],
        ),
    );
    check(
        "truststore",
        &json(
            &env,
            &["truststore", "--out", "ts.p12", "--password-file", &p],
        ),
    );
    check(
        "inspect-certificates",
        &json(&env, &["inspect", "a.test/chain.pem"]),
    );
    check(
        "inspect-private-key",
        &json(&env, &["inspect", "a.test/key.pem"]),
    );
    check(
        "inspect-store",
        &json(&env, &["inspect", "ks.p12", "--password-file", &p]),
    );
    check(
        "inspect-store",
        &json(&env, &["inspect", "ts.p12", "--password-file", &p]),
    );
    env.minica(&["csr", "r.test", "--out-dir", "r"]).ok();
    check("inspect-csr", &json(&env, &["inspect", "r/csr.pem"]));
    env.minica(&["revoke", "a.test"]).ok();
    env.minica(&["crl", "--out", "crl.pem"]).ok();
    check("inspect-crls", &json(&env, &["inspect", "crl.pem"]));
    let enc = run(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-in",
            &env.s("a.test/key.pem"),
            "-out",
            &env.s("enc.pem"),
            "-passout",
            "pass:secret1",
        ],
    );
    assert_eq!(enc.code, 0, "{enc:?}");
    check(
        "inspect-encrypted-private-key",
        &json(&env, &["inspect", "enc.pem"]),
    );
    let v = env
        .minica(&[
            "verify",
            "a.test/chain.pem",
            "--host",
            "a.test",
            "--crl",
            "crl.pem",
            "--json",
        ])
        .fails_with(1)
        .json();
    check("verify", &v);
    check(
        "verify-truststore",
        &json(
            &env,
            &["verify", "--truststore", "ts.p12", "--password-file", &p],
        ),
    );
}

#[test]
fn ca_and_export() {
    let env = Env::new();
    env.minica(&["init", "--permit", ".test", "--no-intermediate"])
        .ok();
    check(
        "ca-intermediate",
        &json(&env, &["ca", "intermediate", "daily"]),
    );
    std::fs::write(env.file("cap"), "a long ca passphrase\n").unwrap();
    let cap = env.s("cap");
    check(
        "ca-key",
        &json(&env, &["ca", "encrypt", "--ca-password-file", &cap]),
    );
    check(
        "ca-key",
        &json(&env, &["ca", "decrypt", "--ca-password-file", &cap]),
    );
    check(
        "export",
        &json(
            &env,
            &["export", "vault", "--issuer", "daily", "--out-dir", "v"],
        ),
    );
    check(
        "trust-export",
        &json(
            &env,
            &["trust", "export", "--format", "pem", "--out", "root.pem"],
        ),
    );
    check("man", &json(&env, &["man", "--out-dir", "man"]));
    let e = env
        .minica(&["inspect", "nope.pem", "--json"])
        .fails_with(2)
        .json();
    check("error", &e);
}

#[test]
fn store_commands() {
    let env = Env::new();
    let p = pw(&env);
    env.minica(&["issue", "a.test"]).ok();
    env.minica(&[
        "keystore",
        "a.test",
        "--out",
        "ks.p12",
        "--password-file",
        &p,
    ])
    .ok();
    env.minica(&["truststore", "--out", "ts.p12", "--password-file", &p])
        .ok();
    check(
        "store-list",
        &json(&env, &["store", "list", "ks.p12", "--password-file", &p]),
    );
    check(
        "store-add",
        &json(
            &env,
            &[
                "store",
                "add",
                "ts.p12",
                "--cert",
                "a.test/cert.pem",
                "--alias",
                "leaf",
                "--password-file",
                &p,
            ],
        ),
    );
    check(
        "store-remove",
        &json(
            &env,
            &["store", "remove", "ts.p12", "leaf", "--password-file", &p],
        ),
    );
    check(
        "store-convert",
        &json(
            &env,
            &[
                "store",
                "convert",
                "ts.p12",
                "ts.pem",
                "--format",
                "pem",
                "--password-file",
                &p,
            ],
        ),
    );
    std::fs::write(env.file("pw2"), "other-pass\n").unwrap();
    check(
        "store-passwd",
        &json(
            &env,
            &[
                "store",
                "passwd",
                "ks.p12",
                "--password-file",
                &p,
                "--new-password-file",
                &env.s("pw2"),
            ],
        ),
    );
    check(
        "store-merge",
        &json(
            &env,
            &["store", "merge", "all.pem", "ts.pem", "--format", "pem"],
        ),
    );
    check(
        "store-export",
        &json(
            &env,
            &[
                "store",
                "export",
                "ks.p12",
                "a.test",
                "--out-dir",
                "exp",
                "--password-file",
                &env.s("pw2"),
            ],
        ),
    );
}

/// `trust status` only reads: the NSS databases under a scratch HOME.
#[test]
fn trust_status() {
    let env = Env::new();
    env.minica(&["init"]).ok();
    let r = env.minica(&["trust", "status", "--store", "nss", "--json"]);
    assert!(r.code == 0 || r.code == 1, "{r:?}");
    check("trust", &r.json());
}
