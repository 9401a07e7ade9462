//! What the Hub's error answers mean, and what the user should do.
//!
//! The Hub says why it refused in two headers, as huggingface_hub reads them
//! (`hf_raise_for_status` in its `utils/_http.py`): `X-Error-Code`
//! (`GatedRepo`, `RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) and
//! `X-Error-Message` (`Invalid credentials in Authorization header` for a
//! token it does not know; `Access to this resource is disabled.`). The
//! status alone misleads: a private repo and a missing one both answer 401
//! to an anonymous caller, and a gated one 401 without a token but 403 with
//! the token of an account that has not accepted its licence.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::HubError;

/// What the Hub answers an unknown (expired, revoked) token with.
const INVALID_CREDENTIALS: &str = "Invalid credentials in Authorization header";
/// What it answers for a repo taken down.
const DISABLED: &str = "Access to this resource is disabled.";

/// The request an answer was for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked<'a> {
    /// What the messages call it (`bartowski/x-GGUF`, `model.gguf`, `search "q"`).
    pub(crate) what: &'a str,
    /// The repo, when the request was about one.
    pub(crate) repo: Option<&'a str>,
    /// Whether a token went with it.
    pub(crate) token_sent: bool,
    /// Where a repo's page is (`{endpoint}/{repo}`), for the user to visit.
    pub(crate) endpoint: &'a str,
}

/// `Ok` for a success; otherwise the error the answer means.
pub(crate) fn check(
    status: StatusCode,
    headers: &HeaderMap,
    asked: &Asked<'_>,
) -> Result<(), HubError> {
    if status.is_success() {
        return Ok(());
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let code = header("x-error-code");
    let message = header("x-error-message");
    let what = asked.what.to_owned();
    let page = |repo: &str| format!("{}/{repo}", asked.endpoint);
    let status = status.as_u16();
    if status == 401
        && (message == Some(INVALID_CREDENTIALS) || (asked.token_sent && code.is_none()))
    {
        return Err(HubError::BadToken {
            tokens_page: format!("{}/settings/tokens", asked.endpoint),
        });
    }
    if let Some(repo) = asked.repo {
        if code == Some("GatedRepo") {
            return Err(if asked.token_sent {
                HubError::GatedNoAccess {
                    repo: repo.to_owned(),
                    page: page(repo),
                }
            } else {
                HubError::Gated {
                    repo: repo.to_owned(),
                    page: page(repo),
                }
            });
        }
        if message == Some(DISABLED) {
            return Err(HubError::Disabled {
                repo: repo.to_owned(),
            });
        }
        if code == Some("RepoNotFound") || status == 401 {
            return Err(HubError::RepoNotFound {
                repo: repo.to_owned(),
                signed_in: asked.token_sent,
            });
        }
    }
    Err(match status {
        404 => HubError::NotFound { what },
        403 => HubError::Forbidden {
            what,
            token_sent: asked.token_sent,
        },
        429 => HubError::RateLimited {
            retry_after: retry_after(headers),
        },
        s if s >= 500 => HubError::Server { what, status: s },
        s => HubError::Http { what, status: s },
    })
}

/// `Retry-After` in seconds, if the Hub sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn asked(token_sent: bool) -> Asked<'static> {
        Asked {
            what: "meta-llama/Llama-3.2-1B",
            repo: Some("meta-llama/Llama-3.2-1B"),
            token_sent,
            endpoint: "https://huggingface.co",
        }
    }

    fn answer(status: u16, code: Option<&str>, message: Option<&str>, token: bool) -> HubError {
        let mut headers = HeaderMap::new();
        if let Some(code) = code {
            headers.insert("x-error-code", HeaderValue::from_str(code).unwrap());
        }
        if let Some(message) = message {
            headers.insert("x-error-message", HeaderValue::from_str(message).unwrap());
        }
        check(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            &asked(token),
        )
        .unwrap_err()
    }

    #[test]
    fn gated_private_and_bad_tokens_say_what_to_do() {
        let e = answer(
            401,
            Some("GatedRepo"),
            Some("Access to model x is restricted."),
            false,
        );
        assert!(matches!(e, HubError::Gated { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("https://huggingface.co/meta-llama/Llama-3.2-1B")
                && text.contains("hearth login"),
            "{text}"
        );

        let e = answer(403, Some("GatedRepo"), None, true);
        assert!(matches!(e, HubError::GatedNoAccess { .. }), "{e}");
        assert!(e.to_string().contains("has not been granted"), "{e}");

        let e = answer(401, None, Some(INVALID_CREDENTIALS), true);
        assert!(matches!(e, HubError::BadToken { .. }), "{e}");
        assert!(e.to_string().contains("expired or was revoked"), "{e}");

        let e = answer(
            401,
            Some("RepoNotFound"),
            Some("Repository not found"),
            false,
        );
        assert!(
            matches!(
                e,
                HubError::RepoNotFound {
                    signed_in: false,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("private"), "{e}");
        let e = answer(404, Some("RepoNotFound"), None, true);
        assert!(
            matches!(
                e,
                HubError::RepoNotFound {
                    signed_in: true,
                    ..
                }
            ),
            "{e}"
        );

        let e = answer(403, None, Some(DISABLED), false);
        assert!(matches!(e, HubError::Disabled { .. }), "{e}");
        let e = answer(404, Some("EntryNotFound"), None, false);
        assert!(matches!(e, HubError::NotFound { .. }), "{e}");
        let e = answer(429, None, None, false);
        assert!(
            matches!(e, HubError::RateLimited { .. }) && e.is_retryable(),
            "{e}"
        );
        let e = answer(503, None, None, false);
        assert!(
            matches!(e, HubError::Server { .. }) && e.is_retryable(),
            "{e}"
        );
        assert!(check(StatusCode::OK, &HeaderMap::new(), &asked(false)).is_ok());
    }
}
