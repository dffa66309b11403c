//! `ca.toml`: the CA's settings. `ca.toml.example` at the repository root
//! documents every field; the structs here are what it is checked against.
//! Unknown keys are refused, so a typo is an error rather than a setting
//! silently ignored.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::profile::toml_message;

/// Ten years: long enough that a development root outlives the projects
/// that trust it; a root's lifetime is not limited by browsers or Apple.
pub const DEFAULT_CA_DAYS: u32 = 3650;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    #[serde(default)]
    pub ca: CaSection,
    #[serde(default)]
    pub issue: IssueSection,
    #[serde(default)]
    pub policy: PolicySection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSection {
    /// The root's CommonName; iOS and the macOS keychain list roots by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default)]
    pub key_type: KeyType,
    #[serde(default = "default_ca_days")]
    pub days: u32,
    /// pathLenConstraint: 0 lets the root sign leaves only; 1 (the default)
    /// also lets it sign one level of intermediates.
    #[serde(default = "default_path_len")]
    pub path_len: u8,
    /// Name constraints: DNS suffixes and CIDR ranges the root may certify.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permit: Vec<String>,
    /// Write the root key encrypted (PKCS#8, scrypt + AES-256).
    #[serde(default)]
    pub encrypt_key: bool,
    /// The root key is in a PKCS#11 token, named by this RFC 7512 URI
    /// (`pkcs11:token=minica;object=root`); there is no ca-key.pem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11: Option<String>,
    /// The PKCS#11 module (shared library) of that token, an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkcs11_module: Option<std::path::PathBuf>,
}

fn default_ca_days() -> u32 {
    DEFAULT_CA_DAYS
}

/// Room for one level of intermediates (`minica ca intermediate`) under a
/// new root, and no more: an intermediate made by minica gets 0.
pub const DEFAULT_ROOT_PATH_LEN: u8 = 1;

fn default_path_len() -> u8 {
    DEFAULT_ROOT_PATH_LEN
}

impl Default for CaSection {
    fn default() -> Self {
        CaSection {
            name: None,
            organization: None,
            key_type: KeyType::default(),
            days: DEFAULT_CA_DAYS,
            path_len: DEFAULT_ROOT_PATH_LEN,
            permit: Vec::new(),
            encrypt_key: false,
            pkcs11: None,
            pkcs11_module: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueSection {
    /// Key type for new leaf keys.
    #[serde(default)]
    pub key_type: KeyType,
    /// Profile used when none is named.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// The intermediate (issuers/NAME) that signs leaves; unset: the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A CRL distribution point URL written into new leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
}

fn default_profile() -> String {
    "server".into()
}

impl Default for IssueSection {
    fn default() -> Self {
        IssueSection {
            key_type: KeyType::default(),
            profile: default_profile(),
            issuer: None,
            crl_url: None,
        }
    }
}

/// What this CA agrees to certify, whatever a request asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// DNS suffixes and CIDR ranges that names must fall under (same forms
    /// as `ca.permit`); empty: any name the CA's constraints allow.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Key algorithms accepted: rsa, ecdsa-p256, ecdsa-p384, ecdsa-p521, ed25519.
    #[serde(default = "default_allowed_keys")]
    pub allowed_keys: Vec<String>,
    /// The smallest RSA modulus accepted, in bits.
    #[serde(default = "default_min_rsa_bits")]
    pub min_rsa_bits: u32,
    /// The longest lifetime a leaf may have, in days; unset: up to the CA's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_days: Option<u32>,
    /// Sign CSRs for subordinate CAs (`issue --csr --sub-ca`), for an online CA
    /// (Vault, step-ca, Caddy) under this root. Off by default.
    #[serde(default)]
    pub sign_sub_ca: bool,
    /// RSA public exponents accepted (in CSRs); default 65537 only.
    #[serde(default = "default_rsa_exponents")]
    pub rsa_exponents: Vec<u64>,
}

fn default_rsa_exponents() -> Vec<u64> {
    vec![crate::policy::RSA_F4]
}

/// NIST SP 800-131A and the CA/Browser Forum: RSA below 2048 bits is broken
/// in practice; P-256, P-384 and Ed25519 are what TLS stacks support widely.
pub const DEFAULT_ALLOWED_KEYS: [&str; 4] = ["rsa", "ecdsa-p256", "ecdsa-p384", "ed25519"];

fn default_allowed_keys() -> Vec<String> {
    DEFAULT_ALLOWED_KEYS.iter().map(|s| s.to_string()).collect()
}

fn default_min_rsa_bits() -> u32 {
    2048
}

impl Default for PolicySection {
    fn default() -> Self {
        PolicySection {
            names: Vec::new(),
            allowed_keys: default_allowed_keys(),
            min_rsa_bits: default_min_rsa_bits(),
            max_days: None,
            sign_sub_ca: false,
            rsa_exponents: default_rsa_exponents(),
        }
    }
}

impl CaConfig {
    pub fn from_toml(text: &str, path: &Path) -> Result<CaConfig> {
        let cfg: CaConfig = toml::from_str(text).map_err(|e| {
            Error::bad_file_fix(
                path,
                format!("invalid settings: {}", toml_message(&e)),
                "see ca.toml.example for every setting",
            )
        })?;
        if cfg.ca.days == 0 {
            return Err(Error::bad_file(path, "ca.days must be at least 1"));
        }
        if cfg.policy.max_days == Some(0) {
            return Err(Error::bad_file_fix(
                path,
                "policy.max_days = 0 would allow no certificate at all",
                "set it to at least 1, or remove it for no limit",
            ));
        }
        if cfg.policy.rsa_exponents.is_empty() {
            return Err(Error::bad_file_fix(
                path,
                "policy.rsa_exponents is empty, so no RSA key could be certified",
                "use [65537], or leave \"rsa\" out of policy.allowed_keys",
            ));
        }
        if let Some(e) = cfg
            .policy
            .rsa_exponents
            .iter()
            .find(|e| **e < 3 || **e % 2 == 0)
        {
            return Err(Error::bad_file(
                path,
                format!(
                    "policy.rsa_exponents: {e} is not a valid RSA public exponent (odd, at least 3)"
                ),
            ));
        }
        for k in &cfg.policy.allowed_keys {
            if !crate::policy::KEY_ALGORITHMS.contains(&k.as_str()) {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "policy.allowed_keys: unknown key algorithm {k:?}; use {}",
                        crate::policy::KEY_ALGORITHMS.join(", ")
                    ),
                ));
            }
        }
        cfg.check_pkcs11().map_err(|e| Error::bad_file(path, e))?;
        for n in cfg.ca.permit.iter().chain(&cfg.policy.names) {
            crate::constraints::Permit::parse(n).map_err(|e| Error::bad_file(path, e))?;
        }
        Ok(cfg)
    }

    /// The token key's URI, parsed; None for a key in ca-key.pem.
    pub fn pkcs11_uri(&self) -> Result<Option<crate::pkcs11::KeyUri>> {
        self.ca
            .pkcs11
            .as_deref()
            .map(crate::pkcs11::KeyUri::parse)
            .transpose()
    }

    /// Checks the PKCS#11 settings: a URI that parses, a module that is an
    /// absolute path, and nothing that only means something for a key file.
    pub fn check_pkcs11(&self) -> Result<()> {
        let Some(uri) = self.pkcs11_uri()? else {
            if self.ca.pkcs11_module.is_some() {
                return Err(Error::usage(
                    "pkcs11_module is set but pkcs11 (the key's URI) is not; set both, or neither",
                ));
            }
            return Ok(());
        };
        if self.ca.encrypt_key {
            return Err(Error::usage(
                "the root key is in a PKCS#11 token (pkcs11), so there is no key file to encrypt; drop encrypt_key (--encrypt)",
            ));
        }
        if self.ca.key_type == KeyType::Ed25519 {
            return Err(Error::usage(
                "a root key in a PKCS#11 token can be ecdsa-p256, ecdsa-p384 or rsa-2048/3072/4096, not ed25519",
            ));
        }
        crate::pkcs11::module_for(self.ca.pkcs11_module.as_deref(), &uri)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<CaConfig> {
        let bytes = crate::fsx::read(path)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::bad_file(path, "is not UTF-8 text; expected TOML settings"))?;
        CaConfig::from_toml(&text, path)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("settings always serialize");
        format!(
            "# minica CA settings. Every setting is documented in ca.toml.example.\n\
             # The [ca] section records how this CA was created; changing it\n\
             # does not change the certificate.\n\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_round_trips() {
        let text = include_str!("../ca.toml.example");
        let cfg = CaConfig::from_toml(text, Path::new("ca.toml.example")).unwrap();
        let again = CaConfig::from_toml(&cfg.to_toml(), Path::new("x")).unwrap();
        assert_eq!(cfg, again);
    }

    /// A new CA's signer keeps the settings it was written with instead
    /// of reading ca.toml back (src/ca.rs): they must be what reading it
    /// back gives, for settings made in memory as `init` makes them.
    #[test]
    fn settings_made_in_memory_read_back_the_same() {
        let mut cfg = CaConfig::default();
        assert_eq!(
            CaConfig::from_toml(&cfg.to_toml(), Path::new("x")).unwrap(),
            cfg
        );
        cfg.ca.name = Some("Dev \"CA\" é".into());
        cfg.ca.organization = Some("Org\nline".into());
        cfg.ca.key_type = KeyType::Ed25519;
        cfg.ca.days = 90;
        cfg.ca.permit = vec!["example.test".into(), "10.0.0.0/8".into()];
        cfg.ca.encrypt_key = true;
        cfg.issue.issuer = Some("issuing".into());
        assert_eq!(
            CaConfig::from_toml(&cfg.to_toml(), Path::new("x")).unwrap(),
            cfg
        );
        cfg.ca.encrypt_key = false;
        cfg.ca.key_type = KeyType::EcdsaP384;
        cfg.ca.pkcs11 = Some("pkcs11:token=minica;object=root".into());
        cfg.ca.pkcs11_module = Some("/usr/lib/softhsm/libsofthsm2.so".into());
        assert_eq!(
            CaConfig::from_toml(&cfg.to_toml(), Path::new("x")).unwrap(),
            cfg
        );
    }

    #[test]
    fn unknown_key_names_the_file_and_key() {
        let err = CaConfig::from_toml("[ca]\ncolour = 1\n", Path::new("/d/ca.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/d/ca.toml") && msg.contains("colour"),
            "{msg}"
        );
    }

    #[test]
    fn zero_max_days_and_bad_exponents_are_errors() {
        for bad in [
            "[policy]\nmax_days = 0\n",
            "[policy]\nrsa_exponents = []\n",
            "[policy]\nrsa_exponents = [4]\n",
            "[policy]\nrsa_exponents = [1]\n",
        ] {
            let e = CaConfig::from_toml(bad, Path::new("/d/ca.toml")).unwrap_err();
            assert!(e.to_string().contains("/d/ca.toml"), "{e}");
        }
        let ok = CaConfig::from_toml("[policy]\nrsa_exponents = [3, 65537]\n", Path::new("x"));
        assert_eq!(ok.unwrap().policy.rsa_exponents, [3, 65537]);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = CaConfig::from_toml("", Path::new("x")).unwrap();
        assert_eq!(cfg.ca.days, DEFAULT_CA_DAYS);
        assert_eq!(cfg.issue.profile, "server");
    }
}
