//! The x509-limbo suite (C2SP, with Netflix's BetterTLS cases), run through
//! minica's own validator as rustls-webpki and Go run it through theirs.
//!
//! Every testcase is applicable: SERVER and CLIENT validation, expected peer
//! names of every kind (DNS, IP, RFC 822), EKUs, validation times, CRLs and
//! maximum chain depths are all mapped onto `minica::verify`. The test
//! asserts that
//!  (a) the score is at least `MIN_PASSED`;
//!  (b) every mismatch is listed in tests/data/limbo-exceptions.json, with a
//!      reason, and every listed testcase still mismatches (the list stays
//!      honest);
//!  (c) there is no false accept (limbo says FAILURE, minica says VALID)
//!      outside limbo's "pedantic" features unless it is listed.

use std::collections::BTreeMap;
use std::io::Read;

use minica::verify::{self, More, Options};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::Value;

const LIMBO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/x509-limbo/limbo.json.gz"
);
const EXCEPTIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/limbo-exceptions.json"
);

/// The floor the score may not fall below (of 9,780 testcases, all
/// applicable). Measured: 9,655. Before this harness (issue 11) minica
/// scored 9,705/9,780 with 50 false accepts outside the pedantic set and no
/// CRL, depth or e-mail support; 88 of today's 125 differences are the
/// BetterTLS CommonName cases listed in limbo-exceptions.json.
const MIN_PASSED: usize = 9655;

fn load() -> Vec<Value> {
    let gz = std::fs::read(LIMBO).expect("tests/data/x509-limbo/limbo.json.gz");
    let mut json = Vec::with_capacity(48 << 20);
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut json)
        .expect("limbo.json.gz decompresses");
    let mut limbo: Value = serde_json::from_slice(&json).expect("limbo.json parses");
    match limbo["testcases"].take() {
        Value::Array(a) => a,
        _ => panic!("limbo.json has no testcases"),
    }
}

fn pem(s: &Value) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(s.as_str().expect("a PEM string").as_bytes())
        .expect("limbo certificates are PEM")
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn certs(v: &Value) -> Vec<CertificateDer<'static>> {
    v.as_array().unwrap().iter().map(pem).collect()
}

/// Runs one testcase; true when minica says VALID.
fn run(tc: &Value) -> (bool, String) {
    run_with(
        tc,
        &certs(&tc["untrusted_intermediates"]),
        &certs(&tc["trusted_certs"]),
    )
}

/// Runs one testcase with its intermediates and anchors in a given order.
fn run_with(
    tc: &Value,
    inters: &[CertificateDer<'static>],
    anchors: &[CertificateDer<'static>],
) -> (bool, String) {
    let leaf = pem(&tc["peer_certificate"]);
    let at = match tc["validation_time"].as_str() {
        Some(t) => verify::parse_time(t).expect("limbo times are RFC 3339"),
        None => minica::x509::now(),
    };
    let host = tc["expected_peer_name"]["value"].as_str().map(String::from);
    // CLIENT validation: the leaf is a client's; its EKU must allow
    // clientAuth, as limbo's `extended_key_usage` asks.
    let ekus = strs(&tc["extended_key_usage"]);
    let purpose = match tc["validation_kind"].as_str() {
        Some("CLIENT") => Some(verify::Purpose::Client),
        _ if ekus.iter().any(|e| e == "clientAuth") => Some(verify::Purpose::Client),
        _ => None,
    };
    let emails = tc["expected_peer_names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["kind"] == "RFC822")
        .filter_map(|n| n["value"].as_str().map(String::from))
        .collect();
    let crls = tc["crls"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            minica::crl::parse(
                std::path::Path::new("limbo.crl"),
                c.as_str().unwrap().as_bytes(),
            )
            .expect("limbo CRLs are PEM")
        })
        .collect();
    let opts = Options {
        at,
        expires_within: None,
        host,
        purpose,
        key_spki: None,
    };
    let more = More {
        crls,
        crl_scope: verify::CrlScope::Chain,
        max_intermediates: tc["max_chain_depth"].as_u64().map(|d| d as usize),
        emails,
    };
    let report = verify::verify_with(&leaf, inters, anchors, &opts, &more);
    let why = report
        .checks
        .iter()
        .find(|c| !c.ok)
        .map(|c| format!("{}: {}", c.reason.unwrap_or("?"), c.message))
        .unwrap_or_default();
    (report.valid, why)
}

fn is_pedantic(tc: &Value) -> bool {
    strs(&tc["features"])
        .iter()
        .any(|f| f.starts_with("pedantic"))
}

#[test]
fn x509_limbo() {
    let testcases = load();
    let exceptions: BTreeMap<String, Value> =
        serde_json::from_slice(&std::fs::read(EXCEPTIONS).expect("limbo-exceptions.json"))
            .expect("limbo-exceptions.json parses");

    let (mut passed, mut mismatches, mut false_accepts) = (0, Vec::new(), Vec::new());
    for tc in &testcases {
        let id = tc["id"].as_str().unwrap().to_string();
        let expected = tc["expected_result"].as_str() == Some("SUCCESS");
        let (valid, why) = run(tc);
        if valid == expected {
            passed += 1;
            continue;
        }
        if !expected && !is_pedantic(tc) && !exceptions.contains_key(&id) {
            false_accepts.push(id.clone());
        }
        if let Some(e) = exceptions.get(&id) {
            assert_eq!(
                e["expected"].as_str() == Some("SUCCESS"),
                expected,
                "{id}: the exception records the wrong expected result"
            );
            assert!(
                e["reason"].as_str().is_some_and(|r| r.len() > 20),
                "{id}: every exception needs its reason"
            );
        }
        mismatches.push((id, expected, why));
    }
    let total = testcases.len();
    println!(
        "x509-limbo: {passed}/{total} testcases pass ({:.2}%); {} differ",
        100.0 * passed as f64 / total as f64,
        mismatches.len()
    );
    let unlisted: Vec<_> = mismatches
        .iter()
        .filter(|(id, _, _)| !exceptions.contains_key(id))
        .collect();
    for (id, expected, why) in &unlisted {
        println!(
            "  UNLISTED {id}: limbo says {}, minica says {} {why}",
            if *expected { "SUCCESS" } else { "FAILURE" },
            if *expected { "NOT VALID:" } else { "VALID" }
        );
    }
    let stale: Vec<_> = exceptions
        .keys()
        .filter(|id| !mismatches.iter().any(|(m, _, _)| m == *id))
        .collect();
    for id in &stale {
        println!("  STALE exception {id}: minica now agrees with limbo; remove it from the list");
    }
    assert!(
        false_accepts.is_empty(),
        "false accepts outside the pedantic set: {false_accepts:?}"
    );
    assert!(
        unlisted.is_empty(),
        "{} unlisted mismatches",
        unlisted.len()
    );
    assert!(stale.is_empty(), "{} stale exceptions", stale.len());
    assert!(passed >= MIN_PASSED, "score {passed} < {MIN_PASSED}");
}

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Beyond limbo: every testcase with more than one intermediate or more
/// than one trusted certificate is run again with both lists shuffled (a
/// different order for each testcase, never the original one); the verdict
/// must not change. (minica used to
/// follow the first name match in file order.)
#[test]
fn verdicts_do_not_depend_on_certificate_order() {
    let testcases = load();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut tried, mut differ) = (0, Vec::new());
    for tc in &testcases {
        let inters = certs(&tc["untrusted_intermediates"]);
        let anchors = certs(&tc["trusted_certs"]);
        // The denial-of-service cases only measure webpki's work budget.
        if (inters.len() < 2 && anchors.len() < 2)
            || strs(&tc["features"])
                .iter()
                .any(|f| f == "denial-of-service")
        {
            continue;
        }
        tried += 1;
        let (verdict, _) = run_with(tc, &inters, &anchors);
        // One other order: shuffled, or reversed when the shuffle left
        // both lists as they were.
        let (mut i, mut a) = (inters.clone(), anchors.clone());
        rng.shuffle(&mut i);
        rng.shuffle(&mut a);
        if i == inters && a == anchors {
            i.reverse();
            a.reverse();
        }
        let (v, why) = run_with(tc, &i, &a);
        if v != verdict {
            differ.push(format!("{}: {verdict} then {v} {why}", tc["id"]));
        }
    }
    println!(
        "order independence: {tried} multi-certificate testcases, {} differ",
        differ.len()
    );
    assert!(
        tried > 500,
        "only {tried} testcases with several certificates"
    );
    assert!(differ.is_empty(), "verdicts depend on order: {differ:#?}");
}
