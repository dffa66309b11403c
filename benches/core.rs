//! Micro-benchmarks of the work behind each command: key generation per key
//! type, signing a leaf, signing a CSR, writing a PKCS#12 at a fixed
//! iteration count, verifying a chain, loading the CA.
//! Run: `cargo bench --bench core`. Whole-process timings against other
//! tools are in bench/compare.sh.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use minica::config::CaConfig;
use minica::issue::LeafSpec;
use minica::keys::KeyType;
use minica::names::Name;
use minica::policy::KeyInfo;
use minica::stores::{self, Format, KeyEntry, Pkcs12Options};
use minica::{ca, csr, profile, verify, x509};
use rustls_pki_types::CertificateDer;
use zeroize::Zeroizing;

fn spec(dir: &std::path::Path) -> LeafSpec {
    let (profile, _) = profile::load("server", dir).unwrap();
    LeafSpec {
        names: vec![Name::parse("bench.test").unwrap()],
        profile_name: "server".into(),
        profile,
        days: None,
    }
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = ca::create(&dir, &CaConfig::default(), false, &Default::default())
        .unwrap()
        .ca;
    let spec = spec(&dir);

    let mut keygen = c.benchmark_group("keygen");
    for kt in KeyType::ALL {
        if kt.is_rsa() {
            keygen.sample_size(10);
        }
        keygen.bench_function(kt.as_str(), |b| {
            b.iter(|| black_box(kt.generate().unwrap()))
        });
    }
    keygen.finish();

    let key = KeyType::EcdsaP256.generate().unwrap();
    let info = KeyInfo::of_type(KeyType::EcdsaP256);
    let checked = spec.check(&ca, &info, x509::now()).unwrap();
    c.bench_function("sign_leaf_p256", |b| {
        b.iter(|| black_box(spec.sign(&ca, &key, &checked).unwrap()))
    });

    let csr_pem = csr::make(&spec.names, &key).unwrap();
    let csr_path = std::path::Path::new("bench.csr");
    c.bench_function("sign_csr_p256", |b| {
        b.iter(|| {
            let req = csr::read(csr_path, csr_pem.as_bytes()).unwrap();
            assert!(req.signature.is_ok());
            let spki = rcgen::SubjectPublicKeyInfo::from_der(&req.spki_der).unwrap();
            let checked = spec.check(&ca, &req.key, x509::now()).unwrap();
            black_box(spec.sign(&ca, &spki, &checked).unwrap())
        })
    });

    let leaf = spec.sign(&ca, &key, &checked).unwrap();
    let leaf_der = CertificateDer::from(leaf.der.clone());
    let entry = KeyEntry {
        alias: "bench".into(),
        key_pkcs8: Zeroizing::new(minica::keys::pkcs8_der(&key)),
        chain: vec![leaf_der.clone(), ca.cert_der.clone()],
    };
    let opts = Pkcs12Options {
        profile: minica::stores::P12Profile::Modern,
        iterations: 2048,
    };
    c.bench_function("pkcs12_keystore_2048_iterations", |b| {
        b.iter(|| {
            black_box(stores::write_keystore(Format::P12, &entry, Some("changeit"), opts).unwrap())
        })
    });

    let verify_opts = verify::Options {
        at: x509::now(),
        expires_within: None,
        host: Some("bench.test".into()),
        purpose: Some(verify::Purpose::Server),
        key_spki: None,
    };
    let anchors = [ca.cert_der.clone()];
    c.bench_function("verify_chain", |b| {
        b.iter(|| {
            let r = verify::verify(&leaf_der, &[], &anchors, &verify_opts);
            assert!(r.valid);
            black_box(r)
        })
    });

    c.bench_function("load_ca", |b| {
        b.iter(|| black_box(ca::load(&dir, &Default::default()).unwrap()))
    });
}

criterion_group!(core, benches);
criterion_main!(core);
