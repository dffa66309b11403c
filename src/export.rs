//! `minica export`: hand a CA made here to an engine that issues on its
//! own (Caddy's ACME server, cert-manager, step-ca, Vault), as the files
//! that engine reads. The usual CA to hand over is an intermediate
//! (`issuers/NAME`), so the root key stays here, offline; handing over the
//! root itself takes an explicit flag and is warned about.
//!
//! Every output is written by one standalone [`txn::Plan`]: nothing is
//! replaced without `--force`, files holding a key are 0600, and key
//! material never reaches stdout or an error message.

use std::path::{Path, PathBuf};

use serde::Serialize;
use zeroize::Zeroizing;

use crate::ca::{self, Ca, Session};
use crate::cakey::Unlock;
use crate::constraints::Permit;
use crate::error::{Error, Result};
use crate::names::Name;
use crate::{fsx, txn};

/// Which CA is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Which {
    /// The intermediate `issuers/NAME`.
    Issuer(String),
    /// The root, key included (`--root-key`).
    Root,
}

/// The engines minica exports to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Caddy's `pki` app and `acme_server`: an ACME server signing with the
    /// intermediate. `host`: the ACME server's own name, `port` its port.
    Caddy { host: Option<String>, port: u16 },
    /// cert-manager: a `kubernetes.io/tls` Secret, a CA ClusterIssuer and a
    /// trust-manager Bundle.
    CertManager {
        name: Option<String>,
        namespace: String,
    },
    /// step-ca: `certs/`, `secrets/` and the `ca.json` fields naming them.
    /// `steppath`: where the files will be on the step-ca machine.
    StepCa { steppath: Option<PathBuf> },
    /// Vault: a `pem_bundle` for `pki/issuers/import/bundle`.
    Vault,
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Caddy { .. } => "caddy",
            Target::CertManager { .. } => "cert-manager",
            Target::StepCa { .. } => "step-ca",
            Target::Vault => "vault",
        }
    }
}

pub struct Request {
    pub target: Target,
    pub which: Which,
    /// The output directory [default: ./<kind>].
    pub out: Option<PathBuf>,
    pub force: bool,
}

/// One file written, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub path: PathBuf,
    /// Octal mode: 0600 when it holds a key.
    pub mode: String,
    pub holds_key: bool,
    pub what: String,
}

/// What an export wrote, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    pub kind: &'static str,
    /// The intermediate's name; None for the root.
    pub issuer: Option<String>,
    pub subject: String,
    pub dir: PathBuf,
    pub files: Vec<File>,
    /// What to run on the engine's side, in order.
    pub next: Vec<String>,
    pub warnings: Vec<String>,
}

/// The CA being exported, read from the CA directory.
struct Source {
    ca: Ca,
    /// Its certificate, PEM.
    cert_pem: String,
    /// Its key, PKCS#8 PEM (unencrypted: the engines read it so).
    key_pem: Zeroizing<String>,
    /// The root, PEM.
    root_pem: String,
    name: Option<String>,
}

fn load(dir: &Path, which: &Which, unlock: &Unlock) -> Result<Source> {
    let session = Session::open(dir, false)?;
    let ca = match which {
        Which::Issuer(n) => session.load_signer(Some(n), unlock)?,
        Which::Root => session.load(unlock)?,
    };
    let key_pem = match ca.issuer.key() {
        crate::cakey::CaKey::File(k) => k.pkcs8_pem(),
        // Made sensitive and never extractable: no engine gets it.
        crate::cakey::CaKey::Token(_) => {
            return Err(Error::usage(
                "the root key is in a PKCS#11 token and cannot leave it; export an intermediate (--issuer NAME) instead",
            ));
        }
    };
    Ok(Source {
        cert_pem: ca.cert_pem.clone(),
        root_pem: ca.root_pem.clone(),
        key_pem,
        name: ca.name.clone(),
        ca,
    })
}

/// A plan of files under `dir`, with what `Exported` reports of them.
struct Files {
    dir: PathBuf,
    plan: txn::Plan,
    files: Vec<File>,
    replace: txn::Replace,
}

impl Files {
    fn new(dir: PathBuf, force: bool) -> Files {
        Files {
            dir,
            plan: txn::Plan::standalone(),
            files: Vec::new(),
            replace: txn::Replace::from_force(force),
        }
    }

    /// Adds `rel` (under the output directory); returns its absolute path.
    fn add(&mut self, rel: &str, bytes: &[u8], holds_key: bool, what: &str) -> PathBuf {
        let path = self.dir.join(rel);
        let mode = if holds_key { fsx::PRIVATE } else { fsx::PUBLIC };
        self.plan.write(&path, bytes.to_vec(), mode, self.replace);
        self.files.push(File {
            path: path.clone(),
            mode: format!("{mode:04o}"),
            holds_key,
            what: what.into(),
        });
        path
    }
}

/// Writes the export `req` of the CA in `dir`.
pub fn export(dir: &Path, unlock: &Unlock, req: Request) -> Result<Exported> {
    if let Which::Issuer(n) = &req.which {
        ca::check_issuer_name(n)?;
    }
    if matches!(req.target, Target::Caddy { .. }) && req.which == Which::Root {
        // The design's point: Caddy holds the intermediate key only.
        return Err(Error::usage(
            "Caddy is given an intermediate, never the root: make one with `minica ca intermediate NAME --no-default` and export it by name",
        ));
    }
    let out = match &req.out {
        Some(d) if !d.as_os_str().is_empty() => d.clone(),
        _ => PathBuf::from(req.target.kind()),
    };
    // Absolute, so that the paths written into configuration files still
    // name these files when the engine runs from another directory.
    let out = std::path::absolute(&out).map_err(|e| Error::io("resolve", &out, e))?;
    // Checked before the CA is read (and its passphrase asked).
    let names = validated(&req.target)?;
    let src = load(dir, &req.which, unlock)?;
    let mut warnings = Vec::new();
    if req.which == Which::Root {
        warnings.push(format!(
            "this export holds the ROOT key, unencrypted: whoever reads {} can sign certificates, for {}, that every client of this CA trusts; an intermediate (`minica ca intermediate NAME`, then --issuer NAME) can be replaced, the root cannot",
            out.display(),
            if src.ca.constraints.is_empty() {
                "any name".to_string()
            } else {
                "every name it permits".to_string()
            }
        ));
    }
    let mut files = Files::new(out.clone(), req.force);
    let next = match &req.target {
        Target::Caddy { port, .. } => {
            let host = caddy_host(&src, names.host.as_deref())?;
            caddy(&src, &mut files, &host, *port)
        }
        Target::CertManager { namespace, .. } => {
            cert_manager(&src, &mut files, &names.k8s_name, namespace)
        }
        Target::StepCa { steppath } => step_ca(&src, &mut files, steppath.as_deref())?,
        Target::Vault => vault(&src, &mut files),
    };
    let Files { plan, files, .. } = files;
    plan.run()?;
    Ok(Exported {
        kind: req.target.kind(),
        issuer: src.name.clone(),
        subject: src.ca.subject.clone(),
        dir: out,
        files,
        next,
        warnings,
    })
}

/// Names given on the command line, checked before anything is read.
struct Names {
    host: Option<String>,
    k8s_name: String,
}

fn validated(target: &Target) -> Result<Names> {
    let mut names = Names {
        host: None,
        k8s_name: String::new(),
    };
    match target {
        Target::Caddy { host, port } => {
            if *port == 0 {
                return Err(Error::usage("--port 0 is not a port; give 1 to 65535"));
            }
            if let Some(h) = host {
                match Name::parse(h) {
                    Ok(Name::Dns(_)) if !h.starts_with("*.") => {}
                    _ => {
                        return Err(Error::usage(format!(
                            "--host {h:?} is not a DNS name; give the name clients reach the ACME server by"
                        )));
                    }
                }
                names.host = Some(h.to_ascii_lowercase());
            }
        }
        Target::CertManager { name, namespace } => {
            // Kubernetes object names are DNS-1123 subdomains, namespaces
            // DNS-1123 labels (kubernetes.io/docs/concepts/overview/working-with-objects/names).
            if let Some(n) = name {
                check_k8s_name(n, 253, "--resource-name")?;
                names.k8s_name = n.clone();
            }
            check_k8s_name(namespace, 63, "--namespace")?;
            if namespace.contains('.') {
                return Err(Error::usage(format!(
                    "--namespace {namespace:?} holds a '.', which a namespace cannot; use lower-case letters, digits and '-'"
                )));
            }
        }
        Target::StepCa { .. } | Target::Vault => {}
    }
    Ok(names)
}

fn check_k8s_name(n: &str, max: usize, flag: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= max
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && n.as_bytes()[0].is_ascii_alphanumeric()
        && n.as_bytes()[n.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "{flag} {n:?} is not a Kubernetes name: up to {max} lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
        )))
    }
}

/// The Kubernetes name of an export: `minica-<issuer>` (or `minica-root`),
/// folded into a DNS-1123 subdomain.
fn k8s_default_name(src: &Source) -> String {
    let base = src.name.as_deref().unwrap_or("root");
    let folded: String = base
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .collect();
    format!("minica-{}", folded.trim_end_matches(['-', '.']))
}

/// The ACME server's own name: given, else `acme.` under the first DNS
/// suffix the intermediate permits, else `localhost` for an unconstrained
/// one. It must lie within the constraints: Caddy's site certificate comes
/// from the same intermediate (`tls { issuer internal }`), and a verifier
/// refuses one outside them (RFC 5280 4.2.1.10).
fn caddy_host(src: &Source, given: Option<&str>) -> Result<String> {
    let host = match given {
        Some(h) => h.to_string(),
        None => {
            let suffix = src
                .ca
                .constraints
                .permitted
                .iter()
                .chain(src.ca.parent_constraints.iter().flat_map(|c| &c.permitted))
                .find_map(|p| match p {
                    Permit::Dns(d) => Some(d.trim_start_matches('.').to_string()),
                    _ => None,
                });
            match suffix {
                Some(s) => format!("acme.{s}"),
                None if !src.ca.has_dns_constraints() => "localhost".into(),
                None => {
                    return Err(Error::usage(
                        "the intermediate permits no DNS name to serve ACME on; give --host NAME within its constraints",
                    ));
                }
            }
        }
    };
    let name = Name::parse(&host)?;
    src.ca.check_name(&name).map_err(|_| {
        Error::usage(format!(
            "--host {host} is outside the names the intermediate {} permits, so Caddy's own certificate from it would be refused; give a --host within them",
            src.name.as_deref().unwrap_or("root")
        ))
    })?;
    Ok(host)
}

/// A Caddyfile for Caddy 2.6 and later: an ACME server (`acme_server`)
/// whose `pki` CA is the intermediate. Caddy is never given the root key:
///
/// - Caddy ≤ 2.7 reads a key with any configured `root`
///   (modules/caddypki/crypto.go `KeyPair.Load` reads `private_key`
///   unconditionally; a root without a key is allowed only from 2.8,
///   caddy#6298), and with no `root` configured it makes and stores a
///   root and key of its own (ca.go `loadOrGenRoot`). So the intermediate
///   is also Caddy's `root`: the key Caddy loads for it is the
///   intermediate's, which matches (the check 2.8+ makes), and with
///   `sign_with_root` Caddy would still sign with the intermediate.
/// - A configured `intermediate` is never renewed by Caddy (maintain.go
///   renews only one it generated), so `intermediate_lifetime` does not
///   apply; renew it here (`minica ca intermediate NAME --force`) and
///   export again.
/// - `skip_install_trust`: Caddy would otherwise install its "root" (here
///   the intermediate) into the system trust store; clients trust
///   minica's root instead (`minica trust install`).
/// - `auto_https disable_redirects`: an ACME server is reached over HTTPS
///   only, and without redirects Caddy leaves port 80 alone (Caddy docs,
///   global options `auto_https`), where http-01 clients on the same
///   machine (certbot `--standalone`, lego `--http`) answer challenges.
fn caddy(src: &Source, files: &mut Files, host: &str, port: u16) -> Vec<String> {
    let name = src.name.as_deref().unwrap_or("root");
    let cert = files.add(
        "intermediate.pem",
        src.cert_pem.as_bytes(),
        false,
        "the intermediate's certificate",
    );
    let key = files.add(
        "intermediate-key.pem",
        src.key_pem.as_bytes(),
        true,
        "the intermediate's key",
    );
    let root = files.add(
        "root.pem",
        src.root_pem.as_bytes(),
        false,
        "the minica root: what ACME clients trust",
    );
    let id = format!(
        "minica-{}",
        k8s_default_name(src).trim_start_matches("minica-")
    );
    let q = |p: &Path| caddy_quote(&p.display().to_string());
    let addr = if port == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{port}")
    };
    let caddyfile = format!(
        "# Made by `minica export caddy {name}`: Caddy's ACME server signing with the
# minica intermediate {name:?} ({subject}).
# The minica root key is not here; clients trust {root}.
# Caddy 2.6 needs a key with any `root` it is given, so the intermediate is
# also configured as Caddy's root: Caddy holds no other key.
{{
\tskip_install_trust
\tauto_https disable_redirects
\tpki {{
\t\tca {id} {{
\t\t\tname {cname}
\t\t\troot {{
\t\t\t\tcert {cert}
\t\t\t\tkey {key}
\t\t\t}}
\t\t\tintermediate {{
\t\t\t\tcert {cert}
\t\t\t\tkey {key}
\t\t\t}}
\t\t}}
\t}}
}}

{addr} {{
\t# The ACME server's own certificate comes from the same intermediate.
\ttls {{
\t\tissuer internal {{
\t\t\tca {id}
\t\t}}
\t}}
\tacme_server {{
\t\tca {id}
\t}}
}}
",
        subject = src.ca.subject,
        root = root.display(),
        cname = caddy_quote(&format!("minica {name}")),
        cert = q(&cert),
        key = q(&key),
    );
    let cf = files.add(
        "Caddyfile",
        caddyfile.as_bytes(),
        false,
        "Caddy's configuration",
    );
    let dir = format!("{addr}/acme/{id}/directory");
    vec![
        format!(
            "caddy run --config {} --adapter caddyfile",
            shell_quote(&cf.display().to_string())
        ),
        format!(
            "certbot certonly --server {dir} --standalone -d NAME   # with REQUESTS_CA_BUNDLE={}",
            root.display()
        ),
        format!(
            "lego --server {dir} --http -d NAME run   # with LEGO_CA_CERTIFICATES={}",
            root.display()
        ),
    ]
}

/// A Caddyfile token: bare when it has no space, quote or brace, else
/// double-quoted with `"` and `\` escaped (caddyfile lexer rules).
fn caddy_quote(s: &str) -> String {
    if !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '{' | '}' | '#' | '`'))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// cert-manager's CA issuer and trust-manager's Bundle:
///
/// - `secret.yaml`: a `kubernetes.io/tls` Secret (kubernetes.io/docs/concepts/configuration/secret/#tls-secrets)
///   with `tls.crt` (the CA's certificate: the chain up to, not including,
///   the root, which cert-manager's CA issuer hands out with each leaf),
///   `tls.key` and `ca.crt` (the root, which the issuer copies into each
///   certificate's Secret as its `ca.crt`). In the `cert-manager`
///   namespace by default: a ClusterIssuer reads its Secret from the
///   cluster resource namespace (cert-manager.io/docs/configuration/ca/).
/// - `cluster-issuer.yaml`: `ClusterIssuer` with `spec.ca.secretName`.
/// - `bundle.yaml`: trust-manager `Bundle` (trust.cert-manager.io/v1alpha1)
///   with the root inline, into a ConfigMap `root-certs.pem` in every
///   namespace (cert-manager.io/docs/trust/trust-manager/).
fn cert_manager(src: &Source, files: &mut Files, name: &str, namespace: &str) -> Vec<String> {
    let name = if name.is_empty() {
        k8s_default_name(src)
    } else {
        name.to_string()
    };
    let header = format!(
        "# Made by `minica export cert-manager`: {}",
        yaml_comment(&src.ca.subject)
    );
    let secret = format!(
        "{header}
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  namespace: {namespace}
type: kubernetes.io/tls
data:
  tls.crt: {crt}
  tls.key: {key}
  ca.crt: {ca}
",
        crt = base64(src.cert_pem.as_bytes()),
        key = Zeroizing::new(base64(src.key_pem.as_bytes())).as_str(),
        ca = base64(src.root_pem.as_bytes()),
    );
    let secret_path = files.add(
        "secret.yaml",
        secret.as_bytes(),
        true,
        "the Secret: certificate, key and root",
    );
    let issuer = format!(
        "{header}
apiVersion: cert-manager.io/v1
kind: ClusterIssuer
metadata:
  name: {name}
spec:
  ca:
    secretName: {name}
"
    );
    let issuer_path = files.add(
        "cluster-issuer.yaml",
        issuer.as_bytes(),
        false,
        "the ClusterIssuer of kind CA",
    );
    let inline: String = src
        .root_pem
        .lines()
        .map(|l| format!("        {l}\n"))
        .collect();
    let bundle = format!(
        "{header}
apiVersion: trust.cert-manager.io/v1alpha1
kind: Bundle
metadata:
  name: {name}-trust
spec:
  sources:
    - inLine: |
{inline}  target:
    configMap:
      key: root-certs.pem
"
    );
    let bundle_path = files.add(
        "bundle.yaml",
        bundle.as_bytes(),
        false,
        "the trust-manager Bundle of the root",
    );
    let p = |p: &Path| shell_quote(&p.display().to_string());
    vec![
        format!(
            "kubectl apply -f {} -f {} -f {}",
            p(&secret_path),
            p(&issuer_path),
            p(&bundle_path)
        ),
        format!(
            "kubectl get clusterissuer {name}   # READY True; then annotate an Ingress with cert-manager.io/cluster-issuer: {name}"
        ),
    ]
}

fn yaml_comment(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// step-ca: its own layout under $STEPPATH (`certs/root_ca.crt`,
/// `certs/intermediate_ca.crt`, `secrets/intermediate_ca_key`, as `step
/// ca init` writes it) and `ca-fields.json`, the `root`, `crt` and `key`
/// of `ca.json` (smallstep.com/docs/step-ca/configuration/#basic-configuration-options).
/// The key is unencrypted PKCS#8, which step-ca reads without
/// `--password-file`.
fn step_ca(src: &Source, files: &mut Files, steppath: Option<&Path>) -> Result<Vec<String>> {
    let root = files.add(
        "certs/root_ca.crt",
        src.root_pem.as_bytes(),
        false,
        "the root",
    );
    let crt = files.add(
        "certs/intermediate_ca.crt",
        src.cert_pem.as_bytes(),
        false,
        "the signing CA's certificate",
    );
    let key = files.add(
        "secrets/intermediate_ca_key",
        src.key_pem.as_bytes(),
        true,
        "the signing CA's key",
    );
    // The paths as the step-ca machine will see them.
    let base = match steppath {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => {
            return Err(Error::usage(format!(
                "--steppath {} is relative; give the absolute $STEPPATH of the step-ca machine",
                p.display()
            )));
        }
        None => files.dir.clone(),
    };
    let on = |p: &Path| {
        base.join(p.strip_prefix(&files.dir).unwrap_or(p))
            .display()
            .to_string()
    };
    let fields = serde_json::json!({
        "root": on(&root),
        "crt": on(&crt),
        "key": on(&key),
    });
    let text = serde_json::to_string_pretty(&fields)
        .map_err(|e| Error::Crypto(format!("cannot write JSON: {e}")))?
        + "\n";
    let fields_path = files.add(
        "ca-fields.json",
        text.as_bytes(),
        false,
        "the ca.json fields root, crt and key",
    );
    Ok(vec![
        format!(
            "jq -s '.[0] * .[1]' $STEPPATH/config/ca.json {} > ca.json.new && mv ca.json.new $STEPPATH/config/ca.json",
            shell_quote(&fields_path.display().to_string())
        ),
        "step-ca $STEPPATH/config/ca.json".into(),
    ])
}

/// Vault: `pem_bundle.pem` for `vault write pki/issuers/import/bundle
/// pem_bundle=@pem_bundle.pem` (developer.hashicorp.com/vault/api-docs/secret/pki#import-ca-issuers-and-keys):
/// the CA's certificate, its key, then the root, so Vault knows the chain.
fn vault(src: &Source, files: &mut Files) -> Vec<String> {
    let mut bundle = Zeroizing::new(String::new());
    bundle.push_str(&src.cert_pem);
    bundle.push_str(&src.key_pem);
    if src.name.is_some() {
        bundle.push_str(&src.root_pem);
    }
    let path = files.add(
        "pem_bundle.pem",
        bundle.as_bytes(),
        true,
        "certificate, key and root for pki/issuers/import/bundle",
    );
    vec![
        "vault secrets enable -path=pki_minica pki && vault secrets tune -max-lease-ttl=8760h pki_minica".into(),
        format!(
            "vault write pki_minica/issuers/import/bundle pem_bundle=@{}",
            shell_quote(&path.display().to_string())
        ),
    ]
}

/// Standard base64 with padding (RFC 4648 4), one line: what a Secret's
/// `data` values are.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn k8s_names_are_checked() {
        assert!(check_k8s_name("minica-acme", 253, "--resource-name").is_ok());
        for bad in ["", "Minica", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_k8s_name(bad, 63, "--namespace").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn caddy_tokens_are_quoted_when_needed() {
        assert_eq!(caddy_quote("/a/b.pem"), "/a/b.pem");
        assert_eq!(caddy_quote("/a b/c"), "\"/a b/c\"");
        assert_eq!(caddy_quote("x\"y"), "\"x\\\"y\"");
    }
}
