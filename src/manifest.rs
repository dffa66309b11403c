//! What `minica batch` reads: many certificates in one file. Either plain
//! text, one certificate per line (its names, separated by spaces; `#`
//! starts a comment), or a TOML manifest in `apply`'s format (see
//! [`crate::apply::manifest`]): one format for both commands, of which
//! batch takes each `[[certificate]]`'s names, profile, lifetime, key type
//! and output directory, and `[defaults]`. What only `apply` does (stores,
//! faults, issuers, standalone truststores, renewal) is refused by name.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::KeyType;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub names: Vec<String>,
    pub profile: Option<String>,
    pub days: Option<u32>,
    pub key_type: Option<KeyType>,
    /// Output directory, relative to the batch's --out-dir.
    pub out: Option<PathBuf>,
}

/// The certificates of an `apply` manifest, as batch issues them.
fn from_manifest(path: &Path, text: &str) -> Result<Vec<Entry>> {
    let m = crate::apply::manifest::parse(path, text)?;
    let only_apply = |what: &str| {
        Error::bad_file_fix(
            path,
            format!("sets {what}, which `batch` does not do"),
            "run `minica apply` on it, or remove it",
        )
    };
    if !m.truststore.is_empty() {
        return Err(only_apply("[[truststore]]"));
    }
    if m.ca_dir.is_some() || m.renew_before.is_some() || m.defaults.issuer.is_some() {
        return Err(only_apply("ca_dir, renew_before or an issuer"));
    }
    m.certificate
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if c.keystore.is_some()
                || c.truststore.is_some()
                || c.fault.is_some()
                || c.issuer.is_some()
            {
                return Err(only_apply(&format!(
                    "a keystore, truststore, fault or issuer in certificate {}",
                    i + 1
                )));
            }
            Ok(Entry {
                names: c.names,
                profile: c.profile.or(m.defaults.profile.clone()),
                days: c.days.or(m.defaults.days),
                key_type: c.key_type.or(m.defaults.key_type),
                out: c.out,
            })
        })
        .collect()
}

/// Parses a batch file: TOML when its name ends in .toml, else lines.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>> {
    let entries = if path.extension().is_some_and(|e| e == "toml") {
        from_manifest(path, text)?
    } else {
        text.lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .filter(|l| !l.is_empty())
            .map(|l| Entry {
                names: l.split_whitespace().map(String::from).collect(),
                ..Entry::default()
            })
            .collect()
    };
    if entries.is_empty() {
        return Err(Error::bad_file(path, "lists no certificates"));
    }
    if let Some(i) = entries.iter().position(|e| e.names.is_empty()) {
        return Err(Error::bad_file(
            path,
            format!("certificate {} has no names", i + 1),
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_manifests() {
        let e = parse(
            Path::new("b.txt"),
            "a.test 10.0.0.1\n\n# comment\nb.test # trailing\n",
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].names, ["a.test", "10.0.0.1"]);
        assert_eq!(e[1].names, ["b.test"]);
        let m = parse(
            Path::new("b.toml"),
            "[[certificate]]\nnames = [\"x.test\"]\nprofile = \"client\"\ndays = 30\nkey_type = \"rsa-2048\"\n",
        )
        .unwrap();
        assert_eq!(m[0].profile.as_deref(), Some("client"));
        assert_eq!(m[0].key_type, Some(KeyType::Rsa2048));
        assert!(
            parse(
                Path::new("b.toml"),
                "[[certificate]]\nnames = [\"x\"]\ncolour = 1\n"
            )
            .is_err()
        );
        assert!(parse(Path::new("b.txt"), "# nothing\n").is_err());
        // One format with apply: its defaults count, what only apply does is refused.
        let d = parse(
            Path::new("b.toml"),
            "[defaults]\ndays = 7\n[[certificate]]\nnames = [\"y.test\"]\n",
        )
        .unwrap();
        assert_eq!(d[0].days, Some(7));
        let e = parse(
            Path::new("b.toml"),
            "[[certificate]]\nnames = [\"y.test\"]\nfault = \"expired\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("minica apply"), "{e}");
    }
}
