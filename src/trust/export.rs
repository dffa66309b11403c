//! Files for devices minica cannot reach:
//! - an iOS/macOS configuration profile (`.mobileconfig`) with one
//!   `com.apple.security.root` payload; iOS installs it as a profile but
//!   trusts it for TLS only after a manual switch, written beside it;
//! - the DER `.crt` Android installs as a user CA (Settings > Security >
//!   Encryption & credentials > Install a certificate > CA certificate);
//! - PEM, for anything else.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Root;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// iOS/macOS configuration profile (com.apple.security.root)
    Mobileconfig,
    /// DER certificate (.crt), what Android installs as a user CA
    Der,
    /// PEM certificate
    Pem,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Mobileconfig => "mobileconfig",
            ExportFormat::Der => "crt",
            ExportFormat::Pem => "pem",
        }
    }
}

/// The manual step iOS needs after the profile is installed.
pub const IOS_FULL_TRUST: &str = "\
After installing this profile on iOS/iPadOS (open it, then Settings > General >
VPN & Device Management > the profile > Install), iOS still does not trust the
root for TLS until you switch it on by hand:

  Settings > General > About > Certificate Trust Settings >
  \"Enable full trust for root certificates\" > turn on the root named in the profile.

On macOS, double-click the profile, then System Settings > Privacy & Security >
Profiles > Install; the root is then trusted for every user of the Mac.
To remove it: delete the profile (iOS: VPN & Device Management; macOS: Profiles).
";

/// What `export` wrote.
#[derive(Debug, Serialize)]
pub struct Exported {
    pub file: PathBuf,
    /// The instructions written beside a `.mobileconfig`.
    pub instructions: Option<PathBuf>,
    pub format: ExportFormat,
}

/// A random version 4 UUID, upper case (as Apple writes them).
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    crate::rng::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::x509::hex(&b).to_ascii_uppercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The base64 of the DER, in lines of 52 (as Apple's tools write it).
fn base64_lines(root: &Root) -> String {
    root.pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .as_bytes()
        .chunks(52)
        .map(|c| format!("\t\t\t{}\n", String::from_utf8_lossy(c)))
        .collect()
}

/// A configuration profile with the root as a `com.apple.security.root` payload.
pub fn mobileconfig(root: &Root) -> Result<String> {
    let name = root.unique_name();
    let cn = xml_escape(&root.cn);
    let payload_uuid = uuid_v4()?;
    let profile_uuid = uuid_v4()?;
    Ok(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>PayloadContent</key>
	<array>
		<dict>
			<key>PayloadCertificateFileName</key>
			<string>{name}.crt</string>
			<key>PayloadContent</key>
			<data>
{data}			</data>
			<key>PayloadDescription</key>
			<string>Adds the root certificate {cn}</string>
			<key>PayloadDisplayName</key>
			<string>{cn}</string>
			<key>PayloadIdentifier</key>
			<string>dev.minica.{name}.root</string>
			<key>PayloadType</key>
			<string>com.apple.security.root</string>
			<key>PayloadUUID</key>
			<string>{payload_uuid}</string>
			<key>PayloadVersion</key>
			<integer>1</integer>
		</dict>
	</array>
	<key>PayloadDescription</key>
	<string>Trust the local certificate authority {cn} (made by minica)</string>
	<key>PayloadDisplayName</key>
	<string>{cn} (minica)</string>
	<key>PayloadIdentifier</key>
	<string>dev.minica.{name}</string>
	<key>PayloadRemovalDisallowed</key>
	<false/>
	<key>PayloadType</key>
	<string>Configuration</string>
	<key>PayloadUUID</key>
	<string>{profile_uuid}</string>
	<key>PayloadVersion</key>
	<integer>1</integer>
</dict>
</plist>
"#,
        data = base64_lines(root),
    ))
}

/// The default file name: `./<unique name>.<extension>`.
pub fn default_path(root: &Root, format: ExportFormat) -> PathBuf {
    PathBuf::from(format!("{}.{}", root.unique_name(), format.extension()))
}

/// Writes the export (and, for a profile, the instructions beside it as
/// `<file>.txt`). Nothing is overwritten without `force`.
pub fn export(root: &Root, format: ExportFormat, out: &Path, force: bool) -> Result<Exported> {
    let body: Vec<u8> = match format {
        ExportFormat::Mobileconfig => mobileconfig(root)?.into_bytes(),
        ExportFormat::Der => root.der.to_vec(),
        ExportFormat::Pem => root.pem.clone().into_bytes(),
    };
    let mut files = vec![(out.to_path_buf(), body, crate::fsx::PUBLIC)];
    let instructions = (format == ExportFormat::Mobileconfig).then(|| {
        let mut p = out.as_os_str().to_owned();
        p.push(".txt");
        PathBuf::from(p)
    });
    if let Some(i) = &instructions {
        files.push((
            i.clone(),
            IOS_FULL_TRUST.as_bytes().to_vec(),
            crate::fsx::PUBLIC,
        ));
    }
    crate::fsx::refuse_existing(files.iter().map(|f| f.0.as_path()), force, None)?;
    crate::fsx::write_all(&files, force)?;
    Ok(Exported {
        file: out.to_path_buf(),
        instructions,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4() {
        let u = uuid_v4().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "A" | "B"), "{u}");
        assert_ne!(u, uuid_v4().unwrap());
    }
}
