//! What `minica batch` reads: many certificates in one file. Either plain
//! text, one certificate per line (its names, separated by spaces; `#`
//! starts a comment), or a TOML manifest whose `[[certificate]]` tables may
//! also set the profile, lifetime, key type and output directory of each.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::keys::KeyType;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub names: Vec<String>,
    pub profile: Option<String>,
    pub days: Option<u32>,
    pub key_type: Option<KeyType>,
    /// Output directory, relative to the batch's --out-dir.
    pub out: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    certificate: Vec<Entry>,
}

/// Parses a batch file: TOML when its name ends in .toml, else lines.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>> {
    let entries = if path.extension().is_some_and(|e| e == "toml") {
        let m: Manifest = toml::from_str(text).map_err(|e| {
            Error::bad_file(
                path,
                format!("invalid manifest: {}", crate::profile::toml_message(&e)),
            )
        })?;
        m.certificate
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
    }
}
