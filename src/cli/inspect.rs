//! `minica inspect`: what is in a certificate, CSR, key or store. Private
//! key material is never printed.

use std::path::PathBuf;

use minica::error::Result;
use minica::inspect::{self, CertInfo, Item};
use minica::text::escape;
use minica::{fsx, x509};
use serde_json::json;

use super::Output;
use super::stores::PasswordArgs;

/// Describe a certificate, CSR, key or keystore/truststore
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  minica inspect app.test/cert.pem\n  minica inspect keystore.p12 --password-env STORE_PW --json"
)]
pub struct Args {
    /// The file to describe (`-`: standard input)
    file: PathBuf,
    #[command(flatten)]
    password: PasswordArgs,
}

fn cert_text(i: &CertInfo) -> String {
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        if !v.is_empty() {
            s.push_str(&format!("  {k:<18} {v}\n"));
        }
    };
    line("subject", i.subject.clone());
    line(
        "issuer",
        if i.self_signed {
            format!("{} (self-signed)", i.issuer)
        } else {
            i.issuer.clone()
        },
    );
    line("serial", i.serial.clone());
    line(
        "validity",
        format!(
            "{} to {} ({})",
            x509::rfc3339(i.not_before),
            x509::rfc3339(i.not_after),
            if i.days_left < 0 {
                format!("expired {} days ago", -i.days_left)
            } else {
                format!("{} days left", i.days_left)
            }
        ),
    );
    let joined = |names: &[minica::names::Tagged]| {
        names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    line("names", joined(&i.subject_alt_names));
    line("key", i.key.clone());
    line(
        "basic constraints",
        if i.is_ca {
            format!(
                "CA{}",
                i.path_len
                    .map(|p| format!(", path length {p}"))
                    .unwrap_or_default()
            )
        } else {
            "not a CA".into()
        },
    );
    line("key usage", i.key_usage.join(", "));
    line("ext. key usage", i.extended_key_usage.join(", "));
    line("permitted names", joined(&i.name_constraints_permitted));
    line("excluded names", joined(&i.name_constraints_excluded));
    line("signature", i.signature_algorithm.clone());
    line("sha-256", i.sha256_fingerprint.clone());
    s
}

pub fn run(args: Args, out: &Output) -> Result<()> {
    let bytes = fsx::read_input(&args.file)?;
    let now = x509::now();
    let password = || args.password.get_to_open();
    // A file name is text from outside too.
    let shown = escape(&args.file.display().to_string());
    match inspect::read_any(&args.file, &bytes, &password)? {
        Item::Certs(certs) => {
            let infos: Vec<CertInfo> = certs
                .iter()
                .filter_map(|c| inspect::describe_cert(c, now))
                .collect();
            let mut text = format!("{shown}: {} certificate(s)\n", infos.len());
            for (n, i) in infos.iter().enumerate() {
                text.push_str(&format!("certificate {}\n{}", n + 1, cert_text(i)));
            }
            out.text(text.trim_end());
            out.json(|| json!({ "kind": "certificates", "certificates": infos }));
        }
        Item::Csr(der) => {
            let info = inspect::describe_csr(&args.file, &der)?;
            out.text(format!(
                "{shown}: certificate signing request\n  subject            {}\n  names              {}\n  key                {}\n  signature          {}{}",
                info.subject,
                info.names
                    .iter()
                    .map(|n| n.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                info.key,
                if info.signature_valid { "valid" } else { "DOES NOT VERIFY" },
                if info.asks_for_ca { "\n  asks for           CA:TRUE (minica never grants it)" } else { "" }
            ));
            out.json(|| json!({ "kind": "csr", "csr": info }));
        }
        Item::Key(info, spki) => {
            let fp = inspect::fingerprint(&spki);
            out.text(format!(
                "{shown}: private key\n  key                {info}\n  public key sha-256 {fp}"
            ));
            out.json(|| {
                json!({
                    "kind": "private_key",
                    "key_type": info.type_name(),
                    "public_key_sha256": fp,
                })
            });
        }
        Item::Crls(crls) => {
            let infos: Vec<inspect::CrlInfo> = crls
                .iter()
                .filter_map(|c| inspect::describe_crl(c, now))
                .collect();
            let mut text = format!("{shown}: {} CRL(s)\n", infos.len());
            for i in &infos {
                let current = match (i.next_update, i.days_left) {
                    (Some(n), Some(d)) if d >= 0 => {
                        format!("current until {} ({d} days left)", x509::rfc3339(n))
                    }
                    (Some(n), Some(d)) => format!(
                        "STALE: its nextUpdate {} passed {} days ago; have the CA publish a new one",
                        x509::rfc3339(n),
                        -d
                    ),
                    _ => "no nextUpdate (RFC 5280 requires one)".into(),
                };
                text.push_str(&format!(
                    "  issuer             {}\n  number             {}\n  updated            {}, {current}\n  authority key id   {}\n  signature          {}\n  revoked            {} certificate(s)\n",
                    i.issuer,
                    i.number.as_deref().unwrap_or("none (RFC 5280 requires one)"),
                    x509::rfc3339(i.this_update),
                    i.authority_key_id.as_deref().unwrap_or("none"),
                    i.signature,
                    i.revoked.len()
                ));
                for r in i.revoked.iter().take(50) {
                    text.push_str(&format!(
                        "    {}  since {}{}\n",
                        r.serial,
                        x509::date(r.revoked_at),
                        r.reason
                            .as_deref()
                            .map(|x| format!(", {x}"))
                            .unwrap_or_default()
                    ));
                }
                if i.revoked.len() > 50 {
                    text.push_str(&format!(
                        "    ... and {} more (--json lists all)\n",
                        i.revoked.len() - 50
                    ));
                }
            }
            out.text(text.trim_end());
            out.json(|| json!({ "kind": "crls", "crls": infos }));
        }
        Item::EncryptedKey => {
            out.text(format!("{shown}: encrypted private key (PKCS#8)"));
            out.json(|| json!({ "kind": "encrypted_private_key" }));
        }
        Item::Store(format, contents) => {
            let mut text = format!("{shown}: {} store\n", format.extension());
            let mut keys = Vec::new();
            for (alias, chain) in &contents.keys {
                let infos: Vec<CertInfo> = chain
                    .iter()
                    .filter_map(|c| inspect::describe_cert(c, now))
                    .collect();
                let alias = escape(alias);
                text.push_str(&format!(
                    "key entry \"{alias}\", chain of {}\n",
                    infos.len()
                ));
                for i in &infos {
                    text.push_str(&cert_text(i));
                }
                keys.push(json!({ "alias": alias, "chain": infos }));
            }
            let mut trusted = Vec::new();
            for t in &contents.trusted {
                let info = inspect::describe_cert(&t.cert, now);
                text.push_str(&format!("trusted entry \"{}\"\n", escape(&t.alias)));
                if let Some(i) = &info {
                    text.push_str(&cert_text(i));
                }
                trusted.push(json!({ "alias": escape(&t.alias), "certificate": info }));
            }
            if !contents.untrusted.is_empty() {
                text.push_str(&format!(
                    "{} certificate(s) without Java's trusted attribute: Java ignores them\n",
                    contents.untrusted.len()
                ));
            }
            out.text(text.trim_end());
            out.json(|| {
                json!({
                    "kind": "store",
                    "format": format,
                    "keys": keys,
                    "trusted": trusted,
                    "untrusted_certificates": contents.untrusted.len(),
                })
            });
        }
    }
    Ok(())
}
