//! Certificate profiles: what a leaf may be used for and for how long.
//!
//! The built-in profiles are the TOML files in the repository's `templates/`,
//! compiled into the binary; a file of the same name in the CA directory's
//! `templates/` replaces one, and other files there add new profiles.

use std::path::{Path, PathBuf};

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsx;

const BUILT_IN: &[(&str, &str)] = &[
    ("server", include_str!("../templates/server.toml")),
    ("client", include_str!("../templates/client.toml")),
    (
        "server-client",
        include_str!("../templates/server-client.toml"),
    ),
];

/// Key usage bits, by their RFC 5280 names. CA bits (keyCertSign, cRLSign)
/// are deliberately absent: a profile makes leaves, never CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyUsage {
    DigitalSignature,
    ContentCommitment,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
}

impl KeyUsage {
    pub fn to_rcgen(self) -> KeyUsagePurpose {
        match self {
            KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            KeyUsage::ContentCommitment => KeyUsagePurpose::ContentCommitment,
            KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            KeyUsage::DataEncipherment => KeyUsagePurpose::DataEncipherment,
            KeyUsage::KeyAgreement => KeyUsagePurpose::KeyAgreement,
        }
    }
}

/// Extended key usages, by their RFC 5280 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ExtKeyUsage {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    #[serde(rename = "OCSPSigning")]
    OcspSigning,
}

impl ExtKeyUsage {
    pub fn to_rcgen(self) -> ExtendedKeyUsagePurpose {
        match self {
            ExtKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            ExtKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            ExtKeyUsage::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
            ExtKeyUsage::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
            ExtKeyUsage::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
            ExtKeyUsage::OcspSigning => ExtendedKeyUsagePurpose::OcspSigning,
        }
    }
}

/// Subject fields beside the CommonName (which is always the first name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectFields {
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub locality: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub description: String,
    /// Default lifetime in days.
    pub days: u32,
    pub key_usage: Vec<KeyUsage>,
    /// Add keyEncipherment when the leaf's key is RSA.
    #[serde(default)]
    pub rsa_key_encipherment: bool,
    #[serde(default)]
    pub extended_key_usage: Vec<ExtKeyUsage>,
    #[serde(default)]
    pub subject: SubjectFields,
}

/// Where a profile came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    BuiltIn,
    File(PathBuf),
}

impl Profile {
    /// Parses a profile, naming `origin` in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Profile> {
        let profile: Profile = toml::from_str(text).map_err(|e| {
            Error::bad_file(origin, format!("not a valid profile: {}", toml_message(&e)))
        })?;
        if profile.days == 0 {
            return Err(Error::bad_file(origin, "days must be at least 1"));
        }
        if profile.key_usage.is_empty() {
            return Err(Error::bad_file(
                origin,
                "key_usage is empty; a TLS leaf needs at least digitalSignature",
            ));
        }
        Ok(profile)
    }
}

/// toml's messages span lines with a source excerpt; one line is enough here.
pub fn toml_message(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => format!("{msg} (at byte {})", span.start),
        None => msg,
    }
}

fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Loads profile `name`: the CA directory's `templates/<name>.toml` if it
/// exists, else the built-in one.
pub fn load(name: &str, ca_dir: &Path) -> Result<(Profile, Source)> {
    if !valid_profile_name(name) {
        return Err(Error::usage(format!(
            "invalid profile name {name:?}: use letters, digits, '-' and '_'"
        )));
    }
    let path = ca_dir.join("templates").join(format!("{name}.toml"));
    if path.exists() {
        let bytes = fsx::read(&path)?;
        let text =
            String::from_utf8(bytes).map_err(|_| Error::bad_file(&path, "is not UTF-8 text"))?;
        return Ok((Profile::from_toml(&text, &path)?, Source::File(path)));
    }
    match BUILT_IN.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => {
            let origin = PathBuf::from(format!("templates/{name}.toml (built in)"));
            Ok((Profile::from_toml(text, &origin)?, Source::BuiltIn))
        }
        None => Err(Error::usage(format!(
            "unknown profile {name:?}; available: {}",
            available(ca_dir).join(", ")
        ))),
    }
}

/// The names of every profile usable with this CA directory.
pub fn available(ca_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
    if let Ok(entries) = std::fs::read_dir(ca_dir.join("templates")) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = file.strip_suffix(".toml")
                && valid_profile_name(stem)
                && !names.iter().any(|n| n == stem)
            {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse_with_the_right_ekus() {
        let dir = tempfile::tempdir().unwrap();
        let (server, _) = load("server", dir.path()).unwrap();
        assert_eq!(server.extended_key_usage, vec![ExtKeyUsage::ServerAuth]);
        assert!(server.days < 825);
        let (client, _) = load("client", dir.path()).unwrap();
        assert_eq!(client.extended_key_usage, vec![ExtKeyUsage::ClientAuth]);
        let (both, _) = load("server-client", dir.path()).unwrap();
        assert_eq!(both.extended_key_usage.len(), 2);
    }

    #[test]
    fn ca_directory_template_overrides_built_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(
            dir.path().join("templates/server.toml"),
            "days = 30\nkey_usage = [\"digitalSignature\"]\nextended_key_usage = [\"serverAuth\"]\n",
        )
        .unwrap();
        let (p, src) = load("server", dir.path()).unwrap();
        assert_eq!(p.days, 30);
        assert!(matches!(src, Source::File(_)));
    }

    #[test]
    fn unknown_profile_and_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = load("nope", dir.path()).unwrap_err();
        assert!(err.to_string().contains("server-client"), "{err}");
        assert!(load("../etc/passwd", dir.path()).is_err());
        let err = Profile::from_toml(
            "days = 1\nkey_usage = [\"digitalSignature\"]\ncolour = 1\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let err = Profile::from_toml("days = 1\nkey_usage = [\"keyCertSign\"]\n", Path::new("p"));
        assert!(err.is_err(), "a profile must not grant CA powers");
    }
}
