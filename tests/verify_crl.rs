//! `minica verify --crl`: revocation against CRLs made by `openssl ca
//! -gencrl`. A revoked certificate is NOT VALID (reason `revoked`); an
//! expired CRL, a CRL signed by another key, or a certificate that no CRL
//! given covers is a clear failure, never a silent pass.

mod common;
use common::*;

const ROOT_EXTS: &[&str] = &[
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign,cRLSign",
];
const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:crl.test\n";
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

    /// A root named `cn` in the files `name`.pem / `name`.key.
    fn root(&self, name: &str, cn: &str) -> String {
        let key = self.key(name);
        let out = self.p(&format!("{name}.pem"));
        let subj = format!("/CN={cn}");
        let mut args = vec![
            "req", "-x509", "-new", "-config", &self.cnf, "-key", &key, "-subj", &subj, "-days",
            "3650", "-out", &out,
        ];
        for e in ROOT_EXTS {
            args.extend(["-addext", e]);
        }
        openssl(&args).ok();
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

    /// An `openssl ca` database for the CA `name`, with a CRL number.
    fn ca_db(&self, name: &str) -> String {
        let dir = self.env.file(&format!("db-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        let d = dir.display();
        let cnf = dir.join("ca.cnf");
        std::fs::write(
            &cnf,
            format!(
                "[ca]\ndefault_ca=d\n[d]\ndatabase={d}/index.txt\nnew_certs_dir={d}\nserial={d}/serial\ncrlnumber={d}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n"
            ),
        )
        .unwrap();
        cnf.to_str().unwrap().to_string()
    }

    fn ca_args<'a>(&'a self, cnf: &'a str, ca: &str) -> Vec<String> {
        vec![
            "ca".into(),
            "-batch".into(),
            "-config".into(),
            cnf.into(),
            "-cert".into(),
            self.p(&format!("{ca}.pem")),
            "-keyfile".into(),
            self.p(&format!("{ca}.key")),
        ]
    }

    fn revoke(&self, cnf: &str, ca: &str, cert: &str) {
        let mut args = self.ca_args(cnf, ca);
        args.extend(["-revoke".into(), cert.into()]);
        openssl(&args.iter().map(String::as_str).collect::<Vec<_>>()).ok();
    }

    /// `openssl ca -gencrl` for the CA `ca`, valid `hours`.
    fn gencrl(&self, cnf: &str, ca: &str, out: &str, hours: u32) -> String {
        let out = self.p(out);
        let mut args = self.ca_args(cnf, ca);
        args.extend([
            "-gencrl".into(),
            "-crlhours".into(),
            hours.to_string(),
            "-out".into(),
            out.clone(),
        ]);
        openssl(&args.iter().map(String::as_str).collect::<Vec<_>>()).ok();
        out
    }

    fn verify(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["verify"];
        all.extend_from_slice(args);
        all.push("--json");
        let r = self.env.minica(&all);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        assert!(
            r.code == 0 || r.code == 1,
            "{all:?}: exit {}: {}",
            r.code,
            r.stderr
        );
        (r.code, r.json())
    }
}

#[track_caller]
fn refused(pki: &Pki, args: &[&str], reason: &str) -> serde_json::Value {
    let (code, j) = pki.verify(args);
    assert_eq!(code, 1, "{args:?}: expected NOT VALID: {j:#}");
    assert_eq!(j["reason"], reason, "{args:?}: {j:#}");
    j
}

#[test]
fn revoked_expired_foreign_and_missing_crls() {
    let pki = Pki::new();
    let root = pki.root("root", "root");
    let revoked = pki.sign("revoked", "root", LEAF_EXT);
    let good = pki.sign("good", "root", LEAF_EXT);
    let cnf = pki.ca_db("root");
    pki.revoke(&cnf, "root", &revoked);
    let crl = pki.gencrl(&cnf, "root", "root.crl", 24);
    // openssl agrees on the verdicts.
    let ossl = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &root,
        "-CRLfile",
        &crl,
        &revoked,
    ]);
    assert_ne!(ossl.code, 0, "{ossl:?}");

    let j = refused(&pki, &[&revoked, "--ca", &root, "--crl", &crl], "revoked");
    assert!(j.to_string().contains("revoked"), "{j:#}");
    let (code, j) = pki.verify(&[&good, "--ca", &root, "--crl", &crl]);
    assert_eq!(code, 0, "{j:#}");
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "revocation" && c["ok"] == true),
        "{j:#}"
    );

    // DER works as PEM does.
    let der = pki.p("root.crl.der");
    openssl(&["crl", "-in", &crl, "-outform", "DER", "-out", &der]).ok();
    refused(&pki, &[&revoked, "--ca", &root, "--crl", &der], "revoked");

    // A CRL past its nextUpdate says nothing any more: a failure.
    let short = pki.gencrl(&cnf, "root", "short.crl", 1);
    let later = format!(
        "@{}",
        time::OffsetDateTime::now_utc().unix_timestamp() + 2 * 3600
    );
    let j = refused(
        &pki,
        &[&good, "--ca", &root, "--crl", &short, "--at", &later],
        "crl_expired",
    );
    assert!(j.to_string().contains("fresh CRL"), "{j:#}");

    // A CRL in the root's name but signed by another key.
    pki.root("impostor", "root");
    let icnf = pki.ca_db("impostor");
    let forged = pki.gencrl(&icnf, "impostor", "forged.crl", 24);
    refused(
        &pki,
        &[&good, "--ca", &root, "--crl", &forged],
        "bad_crl_signature",
    );

    // Only another CA's CRL: the leaf's status is unknown, not "fine".
    pki.root("other", "other");
    let ocnf = pki.ca_db("other");
    let other = pki.gencrl(&ocnf, "other", "other.crl", 24);
    let j = refused(
        &pki,
        &[&good, "--ca", &root, "--crl", &other],
        "unknown_revocation",
    );
    assert!(j.to_string().contains("--crl"), "{j:#}");

    // Not a CRL at all: bad input.
    std::fs::write(pki.p("junk.crl"), "not a crl").unwrap();
    let r = pki
        .env
        .minica(&["verify", &good, "--ca", &root, "--crl", &pki.p("junk.crl")]);
    assert_eq!(r.code, 2, "{r:?}");
    r.one_sentence_naming("junk.crl");
}

#[test]
fn every_certificate_of_the_chain_needs_its_issuers_crl() {
    let pki = Pki::new();
    let root = pki.root("root", "root");
    let inter = pki.sign("inter", "root", CA_EXT);
    let leaf = pki.sign("leaf", "inter", LEAF_EXT);
    let bundle = pki.p("bundle.pem");
    std::fs::write(
        &bundle,
        std::fs::read_to_string(&leaf).unwrap() + &std::fs::read_to_string(&inter).unwrap(),
    )
    .unwrap();
    let root_crl = pki.gencrl(&pki.ca_db("root"), "root", "root.crl", 24);
    let icnf = pki.ca_db("inter");
    let inter_crl = pki.gencrl(&icnf, "inter", "inter.crl", 24);

    let (code, j) = pki.verify(&[
        &bundle, "--ca", &root, "--crl", &root_crl, "--crl", &inter_crl,
    ]);
    assert_eq!(code, 0, "{j:#}");
    // Without the root's CRL the intermediate's status is unknown.
    refused(
        &pki,
        &[&bundle, "--ca", &root, "--crl", &inter_crl],
        "unknown_revocation",
    );
    // ... unless only the leaf is asked about.
    let (code, j) = pki.verify(&[
        &bundle,
        "--ca",
        &root,
        "--crl",
        &inter_crl,
        "--crl-scope",
        "leaf",
    ]);
    assert_eq!(code, 0, "{j:#}");

    // A revoked intermediate revokes the chain.
    let rcnf = pki.ca_db("root2");
    pki.revoke(&rcnf, "root", &inter);
    let root_crl2 = pki.gencrl(&rcnf, "root", "root2.crl", 24);
    refused(
        &pki,
        &[
            &bundle, "--ca", &root, "--crl", &root_crl2, "--crl", &inter_crl,
        ],
        "revoked",
    );
}
