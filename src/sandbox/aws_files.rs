//! The AWS `config` and `credentials` files that point any AWS SDK or the AWS CLI at a sandbox:
//! one profile per sandbox account (plus `[default]` for the first), each with the sandbox's
//! endpoint. Both files are written with mode 0600 because `credentials` holds secrets.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::Path;

use crate::config::sandbox::SandboxSettings;

/// The `config` file text.
pub fn config_text(settings: &SandboxSettings, endpoint: &str, region: &str) -> String {
    let mut text = String::new();
    let sections = std::iter::once("default".to_owned()).chain(
        settings
            .accounts
            .iter()
            .map(|a| format!("profile {}", a.profile)),
    );
    for section in sections {
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "[{section}]\nregion = {region}\nendpoint_url = {endpoint}\noutput = json\n"
        );
    }
    text
}

/// The `credentials` file text.
pub fn credentials_text(settings: &SandboxSettings) -> String {
    let mut text = String::new();
    let first = settings.accounts.first().map(|a| ("default", a));
    let named = settings.accounts.iter().map(|a| (a.profile.as_str(), a));
    for (name, account) in first.into_iter().chain(named) {
        let _ = writeln!(
            text,
            "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            account.access_key_id, account.secret_access_key
        );
    }
    text
}

fn write_private(path: &Path, text: &str) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(text.as_bytes())
    }
}

/// Writes `config` and `credentials` for every account into `dir` (created if missing).
pub fn write_aws_config(
    settings: &SandboxSettings,
    endpoint: &str,
    region: &str,
    dir: &Path,
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_private(
        &dir.join("config"),
        &config_text(settings, endpoint, region),
    )?;
    write_private(&dir.join("credentials"), &credentials_text(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_account_gets_a_profile_with_the_endpoint() {
        let settings = SandboxSettings::default();
        let config = config_text(&settings, "http://127.0.0.1:9", "us-east-1");
        assert!(
            config.contains(
                "[profile test]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n"
            )
        );
        assert!(config.starts_with("[default]\n"));
        let credentials = credentials_text(&settings);
        assert!(credentials.contains("[genai]\naws_access_key_id = SANDBOXGENAIKEY00001\n"));
        assert!(credentials.starts_with("[default]\naws_access_key_id = SANDBOXGENAIKEY00001"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write_aws_config(
            &SandboxSettings::default(),
            "http://x",
            "us-east-1",
            dir.path(),
        )
        .unwrap();
        let mode = std::fs::metadata(dir.path().join("credentials"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
