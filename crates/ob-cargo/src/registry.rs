//! The sparse registry protocol, as far as downloads go: a registry's `config.json` and the `dl`
//! rule that turns it into a `.crate` file's URL. Also the one rule for which registry URLs
//! offline-build will talk to: https, or http to a loopback address, never with credentials.

use serde::Deserialize;

use crate::CargoError;
use crate::config::RegistryIndex;
use crate::names::check_crate;
use crate::token::Token;

/// Largest `config.json` read: real ones are a few hundred bytes.
pub const MAX_CONFIG_JSON_BYTES: usize = 1 << 20;

/// The markers that, when any appears in `dl`, make it a template (cargo's rule).
const MARKERS: [&str; 5] = [
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

/// What a sparse registry's `config.json` says about downloads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryConfig {
    /// Where `.crate` files are: a URL template or a base URL; see [`download_url`].
    pub dl: String,
    /// Whether the registry wants a token for every request (`auth-required`).
    #[serde(rename = "auth-required", default)]
    pub auth_required: bool,
}

/// The URL cargo downloads crate `name` `version` from, given the registry's `dl`.
///
/// If `dl` holds any of `{crate}`, `{version}`, `{prefix}`, `{lowerprefix}` and
/// `{sha256-checksum}`, they are substituted; otherwise the URL is `{dl}/{crate}/{version}/download`,
/// exactly as cargo builds it (a `dl` ending in `/` gives `//`, as it does in cargo).
///
/// ```
/// let url = ob_cargo::registry::download_url(
///     "https://dl.example/{prefix}/{crate}-{version}.crate",
///     "serde",
///     "1.0.0",
///     &"0".repeat(64),
/// )?;
/// assert_eq!(url.as_str(), "https://dl.example/se/rd/serde-1.0.0.crate");
/// # Ok::<(), ob_cargo::CargoError>(())
/// ```
pub fn download_url(
    dl: &str,
    name: &str,
    version: &str,
    checksum: &str,
) -> Result<url::Url, CargoError> {
    check_crate(name, version, checksum)?;
    let text = if MARKERS.iter().any(|marker| dl.contains(marker)) {
        let prefix = index_prefix(name);
        dl.replace("{crate}", name)
            .replace("{version}", version)
            .replace("{prefix}", &prefix)
            .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
            .replace("{sha256-checksum}", checksum)
    } else {
        format!("{dl}/{name}/{version}/download")
    };
    let url = url::Url::parse(&text).map_err(|cause| CargoError::InvalidUrl {
        what: "crate download URL",
        url: text.clone(),
        cause,
    })?;
    check_url("crate download URL", &url)?;
    Ok(url)
}

/// The directory of a crate's file in a registry index: `1`, `2`, `3/{first char}`, or
/// `{first two}/{next two}`. Names are ASCII (checked before), so byte slicing is safe.
fn index_prefix(name: &str) -> String {
    match name.len() {
        0 | 1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", &name[..1]),
        _ => format!("{}/{}", &name[..2], &name[2..4]),
    }
}

/// A sparse registry's `config.json`, fetched from `{index}config.json`.
pub fn parse_config_json(bytes: &[u8], index: &url::Url) -> Result<RegistryConfig, CargoError> {
    let url = config_json_url(index);
    if bytes.len() > MAX_CONFIG_JSON_BYTES {
        return Err(CargoError::RegistryConfigTooLarge {
            url,
            max: MAX_CONFIG_JSON_BYTES,
        });
    }
    serde_json::from_slice(bytes).map_err(|cause| CargoError::RegistryConfigSyntax { url, cause })
}

/// `{index}config.json`, for messages: the index always ends in `/`, so appending is joining.
fn config_json_url(index: &url::Url) -> String {
    let mut shown = index.clone();
    strip_userinfo(&mut shown);
    format!("{shown}config.json")
}

/// The index URL for messages, without credentials.
pub fn shown_index(index: &url::Url) -> String {
    let mut shown = index.clone();
    strip_userinfo(&mut shown);
    shown.to_string()
}

/// GETs `{index}config.json` and parses it. Any status but success (a 404 included) and any
/// answer that is not such JSON is an error naming the URL. As cargo does, the request goes
/// without a token first; `token` is sent only when the registry answers 401 (a registry that
/// wants one for everything, `auth-required`), and a 401 without a token is
/// [`CargoError::TokenRequired`].
pub async fn fetch_config(
    client: &reqwest::Client,
    index: &RegistryIndex,
    token: Option<&Token>,
) -> Result<RegistryConfig, CargoError> {
    check_url("registry index", &index.url)?;
    let shown = config_json_url(&index.url);
    let url = index
        .url
        .join("config.json")
        .map_err(|cause| CargoError::InvalidUrl {
            what: "registry config.json",
            url: shown.clone(),
            cause,
        })?;
    let http = |cause| CargoError::Http {
        url: shown.clone(),
        cause,
    };
    let mut response = client.get(url.clone()).send().await.map_err(http)?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        let Some(header) = token.and_then(Token::header_value) else {
            return Err(CargoError::TokenRequired {
                registry: shown_index(&index.url),
                variable: index.name.as_deref().map(crate::token::token_variable),
            });
        };
        response = client
            .get(url)
            .header(reqwest::header::AUTHORIZATION, header)
            .send()
            .await
            .map_err(http)?;
    }
    let status = response.status();
    if !status.is_success() {
        return Err(CargoError::HttpStatus {
            url: shown,
            status: status.as_u16(),
        });
    }
    let mut body = Vec::new();
    // Read chunk by chunk, so that a huge answer is refused before it is all in memory.
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        if body.len() + chunk.len() > MAX_CONFIG_JSON_BYTES {
            return Err(CargoError::RegistryConfigTooLarge {
                url: shown,
                max: MAX_CONFIG_JSON_BYTES,
            });
        }
        body.extend_from_slice(&chunk);
    }
    parse_config_json(&body, &index.url)
}

/// Whether two git-protocol registry URLs (`registry+` sources without the prefix) name one
/// registry: cargo compares them lower-cased, without a trailing `/` or `.git`.
pub(crate) fn same_git_registry(a: &str, b: &str) -> bool {
    let canonical = |url: &str| {
        let lower = url.to_ascii_lowercase();
        let trimmed = lower.trim_end_matches('/').to_owned();
        trimmed
            .strip_suffix(".git")
            .map(str::to_owned)
            .unwrap_or(trimmed)
    };
    canonical(a) == canonical(b)
}

/// The Cargo.lock source of cargo's default registry, read from this workspace's own
/// Cargo.lock, so that the tests spell no registry host either.
#[cfg(test)]
pub(crate) fn default_registry_source_for_tests() -> String {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    let text = fs_err::read_to_string(lock).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("source = \"registry+"))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(|url| format!("registry+{url}"))
        .expect("the workspace depends on registry crates")
}

fn strip_userinfo(url: &mut url::Url) {
    // Both fail only for URLs that cannot have userinfo, which then have none to strip.
    let _ = url.set_username("");
    let _ = url.set_password(None);
}

/// The rule for every registry URL offline-build fetches: https, or http to a loopback IP
/// address (the tests' and a local proxy's), and no userinfo, since credentials in a URL end up
/// in logs and error messages. `localhost` by name is not loopback here: name resolution can
/// send it anywhere.
pub(crate) fn check_url(what: &'static str, url: &url::Url) -> Result<(), CargoError> {
    let refuse = |reason| {
        let mut shown = url.clone();
        strip_userinfo(&mut shown);
        Err(CargoError::UnsafeUrl {
            what,
            url: shown.to_string(),
            reason,
        })
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("it carries credentials, which offline-build does not take from URLs");
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => refuse("only https, or http to a loopback address, is allowed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros() -> String {
        "0".repeat(64)
    }

    #[test]
    fn git_registries_compare_as_cargo_compares_them() {
        let url = "https://registry.example/git-index";
        assert!(same_git_registry(
            url,
            "HTTPS://registry.example/git-index/"
        ));
        assert!(same_git_registry(
            url,
            "https://registry.example/git-index.git"
        ));
        assert!(!same_git_registry(url, "https://registry.example/other"));
    }

    #[test]
    fn prefixes_follow_the_index_layout() {
        assert_eq!(index_prefix("a"), "1");
        assert_eq!(index_prefix("ab"), "2");
        assert_eq!(index_prefix("abc"), "3/a");
        assert_eq!(index_prefix("Serde"), "Se/rd");
    }

    #[test]
    fn templates_are_substituted() {
        let url = download_url(
            "https://dl.example/{lowerprefix}/{prefix}/{crate}/{version}/{sha256-checksum}",
            "Abc",
            "1.0.0",
            &zeros(),
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            format!("https://dl.example/3/a/3/A/Abc/1.0.0/{}", zeros())
        );
    }

    #[test]
    fn plain_dl_gets_crate_version_download() {
        let url =
            download_url("http://127.0.0.1:9/api/v1/crates", "dep", "0.1.0", &zeros()).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/api/v1/crates/dep/0.1.0/download"
        );
    }

    #[test]
    fn unsafe_download_urls_are_refused() {
        for dl in [
            "http://registry.example/dl",
            "ftp://127.0.0.1/dl",
            "https://user:secret@registry.example/dl",
            "http://localhost:9/dl",
        ] {
            let err = download_url(dl, "dep", "0.1.0", &zeros()).unwrap_err();
            assert!(matches!(err, CargoError::UnsafeUrl { .. }), "{dl}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        assert!(download_url("http://[::1]:9/dl", "dep", "0.1.0", &zeros()).is_ok());
        let err =
            download_url("https://dl.example/{crate}", "../x", "0.1.0", &zeros()).unwrap_err();
        assert!(matches!(err, CargoError::InvalidName { .. }), "{err}");
    }

    #[test]
    fn config_json_is_parsed_and_bounded() {
        let index = url::Url::parse("https://registry.example/index/").unwrap();
        let config =
            parse_config_json(br#"{"dl":"https://dl.example/{crate}","api":"x"}"#, &index).unwrap();
        assert_eq!(config.dl, "https://dl.example/{crate}");
        assert!(!config.auth_required);
        let config = parse_config_json(
            br#"{"dl":"https://dl.example/","auth-required":true}"#,
            &index,
        )
        .unwrap();
        assert!(config.auth_required);

        let err = parse_config_json(b"<html>", &index).unwrap_err();
        assert!(
            err.to_string()
                .contains("https://registry.example/index/config.json"),
            "{err}"
        );
        let big = vec![b' '; MAX_CONFIG_JSON_BYTES + 1];
        assert!(matches!(
            parse_config_json(&big, &index),
            Err(CargoError::RegistryConfigTooLarge { .. })
        ));
    }

    /// A one-shot HTTP/1.1 server on 127.0.0.1 answering every request with `status` and `body`.
    async fn serve(status: &'static str, body: &'static str) -> url::Url {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    let read = stream.read(&mut buffer).await.unwrap();
                    if read == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..read]);
                }
                assert!(request.starts_with(b"GET /index/config.json "));
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.unwrap();
            }
        });
        url::Url::parse(&format!("http://127.0.0.1:{port}/index/")).unwrap()
    }

    #[tokio::test]
    async fn fetch_config_reads_config_json() {
        let url = serve("200 OK", r#"{"dl":"http://127.0.0.1:9/dl"}"#).await;
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let index = RegistryIndex { url, name: None };
        let config = fetch_config(&client, &index, None).await.unwrap();
        assert_eq!(config.dl, "http://127.0.0.1:9/dl");
    }

    #[tokio::test]
    async fn fetch_config_refuses_404_and_non_json() {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = serve("404 Not Found", "no").await;
        let index = RegistryIndex { url, name: None };
        let err = fetch_config(&client, &index, None).await.unwrap_err();
        assert!(
            matches!(err, CargoError::HttpStatus { status: 404, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("/index/config.json"), "{err}");

        let url = serve("200 OK", "<html></html>").await;
        let index = RegistryIndex { url, name: None };
        let err = fetch_config(&client, &index, None).await.unwrap_err();
        assert!(
            matches!(err, CargoError::RegistryConfigSyntax { .. }),
            "{err}"
        );
    }
}
