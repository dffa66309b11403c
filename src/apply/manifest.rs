//! The file `minica apply` reads: a whole test environment, declared. Its
//! format is documented in the README ("A whole environment from one file")
//! and in examples/; `deny_unknown_fields` everywhere, so that a misspelt
//! key is an error rather than a setting silently ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::stores::{Format, P12Profile};

/// The manifest format this build reads.
pub const VERSION: u32 = 1;

/// Renew what expires within this, unless the manifest says otherwise.
pub const DEFAULT_RENEW_BEFORE: &str = "30d";

/// The most certificates and truststores one manifest may declare: far
/// more than any test environment, and a bound on what one run does.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The format version: 1 (the default).
    pub version: Option<u32>,
    /// Renew certificates that expire within this (30d, 2weeks, 1month).
    pub renew_before: Option<String>,
    /// The CA directory, under the base [default: --ca-dir, MINICA_CA_DIR,
    /// or the user's CA].
    pub ca_dir: Option<PathBuf>,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub certificate: Vec<CertificateSpec>,
    /// Truststores that belong to no certificate (a client that only
    /// checks servers).
    #[serde(default)]
    pub truststore: Vec<StoreSpec>,
}

/// What entries that do not say otherwise get.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    pub profile: Option<String>,
    pub key_type: Option<KeyType>,
    pub days: Option<u32>,
    pub issuer: Option<String>,
}

/// One certificate, with its key and the stores made of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    pub names: Vec<String>,
    /// Its directory under the base [default: its first name].
    pub out: Option<PathBuf>,
    pub profile: Option<String>,
    pub key_type: Option<KeyType>,
    pub days: Option<u32>,
    /// The intermediate that signs it [default: the CA's default issuer].
    pub issuer: Option<String>,
    /// A negative fixture: a certificate wrong in this one way.
    pub fault: Option<Fault>,
    pub keystore: Option<StoreSpec>,
    pub truststore: Option<StoreSpec>,
}

/// A keystore or truststore file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// p12, jks or pem [default: from the path's extension, else p12].
    pub format: Option<Format>,
    /// Its path under the base [default: <out>/keystore.<ext> or
    /// <out>/truststore.<ext>; required for a [[truststore]] of its own].
    pub path: Option<PathBuf>,
    /// The password itself: for throwaway test stores only.
    pub password: Option<String>,
    /// A file under the base whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the password.
    pub password_env: Option<String>,
    /// The entry's alias [default: the first name, or the CA's name].
    pub alias: Option<String>,
    pub p12_profile: Option<P12Profile>,
}

/// The ways a negative fixture is wrong; each is right in every other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// notAfter has passed.
    Expired,
    /// notBefore is in the future.
    NotYetValid,
    /// Issued for other names than the entry's.
    WrongHost,
    /// Signed by a throwaway CA that nobody trusts.
    WrongCa,
    /// clientAuth only, to be presented as a server.
    ClientOnly,
    /// Signed by its own key.
    SelfSigned,
    /// Revoked, and listed in a CRL written beside it.
    Revoked,
    /// An RSA-1024 key.
    WeakKey,
}

impl Fault {
    /// Signed by something other than the CA: its chain is the leaf
    /// alone, and the CA's record does not list it.
    pub fn outside_the_ca(self) -> bool {
        matches!(self, Fault::SelfSigned | Fault::WrongCa)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Expired => "expired",
            Fault::NotYetValid => "not_yet_valid",
            Fault::WrongHost => "wrong_host",
            Fault::WrongCa => "wrong_ca",
            Fault::ClientOnly => "client_only",
            Fault::SelfSigned => "self_signed",
            Fault::Revoked => "revoked",
            Fault::WeakKey => "weak_key",
        }
    }
}

/// Reads a manifest, naming `path` in every error.
pub fn parse(path: &Path, text: &str) -> Result<Manifest> {
    let m: Manifest = toml::from_str(text).map_err(|e| {
        Error::bad_file(
            path,
            format!("invalid manifest: {}", crate::profile::toml_message(&e)),
        )
    })?;
    if let Some(v) = m.version
        && v != VERSION
    {
        return Err(Error::bad_file_fix(
            path,
            format!("is a version {v} manifest; this minica reads version {VERSION}"),
            "upgrade minica, or write the manifest for version 1",
        ));
    }
    if m.certificate.is_empty() && m.truststore.is_empty() {
        return Err(Error::bad_file_fix(
            path,
            "declares nothing",
            "add [[certificate]] entries (see examples/kafka/env.toml)",
        ));
    }
    if m.certificate.len() + m.truststore.len() > MAX_ENTRIES {
        return Err(Error::bad_file(
            path,
            format!("declares more than {MAX_ENTRIES} certificates and truststores"),
        ));
    }
    if let Some(i) = m.certificate.iter().position(|c| c.names.is_empty()) {
        return Err(Error::bad_file(
            path,
            format!("certificate {} has no names", i + 1),
        ));
    }
    if let Some(i) = m.truststore.iter().position(|t| t.path.is_none()) {
        return Err(Error::bad_file_fix(
            path,
            format!("truststore {} has no path", i + 1),
            "give it a path under the base directory, as in path = \"client/truststore.p12\"",
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_field_and_refuses_unknown_ones() {
        let m = parse(
            Path::new("env.toml"),
            r#"
version = 1
renew_before = "2weeks"
ca_dir = "ca"
[defaults]
profile = "server"
key_type = "rsa-2048"
[[certificate]]
names = ["kafka.test"]
out = "broker"
fault = "not_yet_valid"
keystore = { format = "jks", password = "changeit", alias = "broker" }
truststore = { format = "p12", password_env = "PW", p12_profile = "legacy-3des" }
[[truststore]]
path = "client/trust.pem"
format = "pem"
"#,
        )
        .unwrap();
        assert_eq!(m.certificate[0].fault, Some(Fault::NotYetValid));
        assert_eq!(m.defaults.key_type, Some(KeyType::Rsa2048));
        let ks = m.certificate[0].keystore.as_ref().unwrap();
        assert_eq!(ks.format, Some(Format::Jks));
        assert_eq!(
            m.certificate[0].truststore.as_ref().unwrap().p12_profile,
            Some(P12Profile::Legacy3des)
        );
        for bad in [
            "[[certificate]]\nnames = [\"a.test\"]\ncolour = 1\n",
            "[[certificate]]\nnames = [\"a.test\"]\nfault = \"slightly_off\"\n",
            "[[certificate]]\nnames = []\n",
            "version = 2\n[[certificate]]\nnames = [\"a.test\"]\n",
            "[[truststore]]\nformat = \"pem\"\n",
            "renew_before = \"30d\"\n",
        ] {
            assert!(parse(Path::new("env.toml"), bad).is_err(), "{bad}");
        }
    }
}
