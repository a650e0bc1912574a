//! Registry tokens, read where cargo reads them (`CARGO_REGISTRIES_<NAME>_TOKEN`,
//! `CARGO_REGISTRY_TOKEN` for `crates-io`, `[registries.NAME] token` and `[registry] token` in
//! `$CARGO_HOME/credentials.toml` or the configuration file). A token is sent only as the
//! `Authorization` header of requests to the registry it belongs to, when that registry's
//! `config.json` says `auth-required`, and is never formatted: `Debug` shows `<redacted>` and
//! there is no `Display`, so it cannot reach a lock, a log or an error message by accident.

use std::fmt;

use reqwest::header::HeaderValue;

/// A registry token. Cloning it copies the secret; formatting it does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A token as cargo stores it (sent as is, without a `Bearer` prefix, as cargo sends it).
    pub fn new(secret: impl Into<String>) -> Token {
        Token(secret.into())
    }

    /// The `Authorization` header value, marked sensitive so that reqwest and hyper keep it
    /// out of their own debug output. `None` when the token is not a valid header value.
    pub fn header_value(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&self.0).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The environment variable that holds registry `name`'s token, as cargo spells it.
pub fn token_variable(name: &str) -> String {
    if name == "crates-io" {
        "CARGO_REGISTRY_TOKEN".to_owned()
    } else {
        format!(
            "CARGO_REGISTRIES_{}_TOKEN",
            name.to_ascii_uppercase().replace('-', "_")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_never_shown() {
        let token = Token::new("s3cr3t-value");
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        let header = token.header_value().unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("s3cr3t"));
        assert_eq!(Token::new("bad\nvalue").header_value(), None);
    }

    #[test]
    fn variables_follow_cargos_spelling() {
        assert_eq!(token_variable("crates-io"), "CARGO_REGISTRY_TOKEN");
        assert_eq!(token_variable("my-corp"), "CARGO_REGISTRIES_MY_CORP_TOKEN");
    }
}
