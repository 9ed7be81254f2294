//! Credentials for object storage, from where every AWS tool looks: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), else the profile `AWS_PROFILE` (or `default`)
//! of the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`) and of the config file (`AWS_CONFIG_FILE`, else `~/.aws/config`:
//! `region`, `endpoint_url`). Nothing else: never a command-line option (which `ps` shows),
//! and never written anywhere.

use std::path::{Path, PathBuf};

use backup_core::{Error, Result};

/// What was found.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
    /// The region, when the environment or the config file names one.
    pub region: Option<String>,
    /// The endpoint, when the environment or the config file names one.
    pub endpoint: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Credentials {
    /// The texts no message may show.
    pub fn secrets(&self) -> Vec<String> {
        let mut s = vec![self.secret_access_key.clone(), self.access_key_id.clone()];
        s.extend(self.session_token.clone());
        s
    }

    /// Find credentials; None when there are none.
    ///
    /// # Errors
    /// [`Error::BadPath`] naming a credentials or config file that exists but cannot be read
    /// or does not parse.
    pub fn find() -> Result<Option<Credentials>> {
        let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let home = var("HOME").map(PathBuf::from);
        let file = |env: &str, name: &str| {
            var(env)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
        };
        let config = match file("AWS_CONFIG_FILE", "config") {
            Some(p) => section(&p, &profile, true)?,
            None => Vec::new(),
        };
        let from_config = |k: &str| {
            config
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let region = var("AWS_REGION")
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| from_config("region"));
        let endpoint = var("AWS_ENDPOINT_URL").or_else(|| from_config("endpoint_url"));
        if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            return Ok(Some(Credentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: var("AWS_SESSION_TOKEN"),
                region,
                endpoint,
            }));
        }
        let creds = match file("AWS_SHARED_CREDENTIALS_FILE", "credentials") {
            Some(p) => section(&p, &profile, false)?,
            None => Vec::new(),
        };
        let get = |k: &str| {
            creds
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .or_else(|| from_config(k))
        };
        Ok(
            match (get("aws_access_key_id"), get("aws_secret_access_key")) {
                (Some(id), Some(secret)) => Some(Credentials {
                    access_key_id: id,
                    secret_access_key: secret,
                    session_token: get("aws_session_token"),
                    region,
                    endpoint,
                }),
                _ => None,
            },
        )
    }
}

/// The `key = value` lines of section `profile` of the INI file at `path` (none when the
/// file is missing). In the config file a profile other than `default` is `[profile NAME]`.
fn section(path: &Path, profile: &str, config: bool) -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let wanted = if config && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_owned()
    };
    let mut inside = false;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == wanted;
            continue;
        }
        if !inside {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            // Never the line itself: it may hold a secret.
            return Err(Error::BadPath {
                path: path.to_path_buf(),
                problem: format!("line {} is not `key = value`", n + 1),
            });
        };
        out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_both_files() {
        let tmp = tempfile::tempdir().unwrap();
        let c = tmp.path().join("credentials");
        std::fs::write(
            &c,
            "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[work]\n\
             aws_access_key_id=A2\naws_secret_access_key= S2 \n",
        )
        .unwrap();
        let k = tmp.path().join("config");
        std::fs::write(&k, "[default]\nregion = eu-west-1\n[profile work]\nregion = garage\nendpoint_url = http://127.0.0.1:3900\n").unwrap();
        let d = section(&c, "default", false).unwrap();
        assert_eq!(d[0], ("aws_access_key_id".into(), "A1".into()));
        let w = section(&c, "work", false).unwrap();
        assert_eq!(w[1], ("aws_secret_access_key".into(), "S2".into()));
        assert_eq!(section(&k, "work", true).unwrap()[0].1, "garage");
        assert_eq!(section(&k, "default", true).unwrap()[0].1, "eu-west-1");
        assert!(section(&tmp.path().join("none"), "default", false)
            .unwrap()
            .is_empty());
        std::fs::write(&c, "[default]\nSECRETVALUE\n").unwrap();
        let e = section(&c, "default", false).unwrap_err().to_string();
        assert!(e.contains("line 2") && !e.contains("SECRETVALUE"), "{e}");
    }
}
