//! Secret names Hearth uses, and how secrets are shown to people.

use secrecy::{ExposeSecret, SecretString};

use crate::SecretError;

/// The random key that encrypts the chat history database.
pub const DATABASE_KEY: &str = "database-key";

/// The Hugging Face access token for gated models.
pub const HF_TOKEN: &str = "huggingface-token";

/// The password of the proxy set in Hearth's network settings.
pub const PROXY_PASSWORD: &str = "proxy-password";

/// The name under which a cloud provider's API key is kept, e.g. `provider.openai`.
pub fn provider_key(provider: &str) -> String {
    format!("provider.{provider}")
}

/// Shows a secret the way a settings page does: the first three and last four
/// characters of a long key, nothing of a short one.
pub fn mask(secret: &SecretString) -> String {
    let chars: Vec<char> = secret.expose_secret().chars().collect();
    if chars.len() < 16 {
        return "•".repeat(8);
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Checks that `name` can name a secret (see [`crate::SecretStore`]).
pub fn validate(name: &str) -> Result<(), SecretError> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(SecretError::InvalidName(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_hides_all_but_the_ends_of_long_keys() {
        let key = SecretString::from("sk-proj-abcdefghijklmnop1234");
        assert_eq!(mask(&key), "sk-…1234");
        assert_eq!(mask(&SecretString::from("short")), "••••••••");
    }

    #[test]
    fn names_are_checked() {
        for good in [
            DATABASE_KEY,
            HF_TOKEN,
            PROXY_PASSWORD,
            "provider.openai",
            "a:b-c_d",
        ] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "slash/no", "ünï", &"x".repeat(129)] {
            assert!(
                matches!(validate(bad), Err(SecretError::InvalidName(_))),
                "{bad}"
            );
        }
    }
}
