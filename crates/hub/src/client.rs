//! Talking to the Hugging Face Hub: model search and a repo's GGUF files.
//!
//! Routes (the Hub's public REST API, <https://huggingface.co/docs/hub/api>):
//! - `GET {endpoint}/api/models?search=Q&filter=gguf&sort=downloads&direction=-1&limit=N&full=true`
//! - `GET {endpoint}/api/models/{owner}/{name}?blobs=true`: `sha` (commit),
//!   `gated`, `cardData.license`, `siblings[{rfilename, size, lfs{sha256, size}}]`
//! - `GET {endpoint}/{owner}/{name}/resolve/{commit}/{file}` (see `download.rs`)
//!
//! - `GET {endpoint}/api/whoami-v2`: who a token belongs to (checked at login)
//!
//! The token is optional, sent only as `Authorization: Bearer` to the
//! endpoint (never over plain http:// to another machine, never to the CDN a
//! download is redirected to), and never logged. JSON answers are read
//! within [`ApiLimits`]: a gigabyte body or a server that trickles is cut off.

use std::fmt;
use std::time::Duration;

use hearth_net::{
    BodyError, BodyLimits, ClientOptions, Net, Redirects, Route, explain, is_cleartext,
    proxy_status, read_body, redact, root_cause,
};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::names::{quant_from_name, safe_relative_path, split_part, validate_repo_id};
use crate::status::{self, Asked};

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSort {
    #[default]
    Downloads,
    Recent,
    Likes,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoSummary {
    pub id: String,
    pub downloads: u64,
    pub likes: u64,
    /// ISO 8601 time of the last change, when the Hub says.
    pub updated: Option<String>,
    pub license: Option<String>,
    pub gated: bool,
}

/// One file of a repo as the Hub lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    /// Repo-relative path, validated.
    pub path: String,
    pub size: u64,
    /// The LFS sha256, when the file is in LFS (GGUF files always are).
    pub sha256: Option<String>,
}

/// A downloadable model: one GGUF file, or all parts of a split one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteModel {
    /// The file name, or the common base of a split model's parts.
    pub name: String,
    pub quant: Option<String>,
    /// Total bytes of all parts.
    pub size: u64,
    /// Parts in order (one for an unsplit file).
    pub files: Vec<RemoteFile>,
}

/// A repository's details and its GGUF models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoInfo {
    pub id: String,
    /// The commit the listing (and downloads) refer to.
    pub commit: String,
    pub gated: bool,
    pub license: Option<String>,
    pub models: Vec<RemoteModel>,
}

impl RepoInfo {
    /// The model named by `wanted` (a file path, file name, split base or
    /// quantisation, case-insensitive); with none, the only model, else the
    /// `Q4_K_M` one (the usual best size/quality trade-off).
    pub fn select(&self, wanted: Option<&str>) -> Result<&RemoteModel, HubError> {
        if self.models.is_empty() {
            return Err(HubError::NoGguf {
                repo: self.id.clone(),
            });
        }
        let available = || {
            self.models
                .iter()
                .map(|m| m.quant.clone().unwrap_or_else(|| m.name.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(wanted) = wanted else {
            if let [only] = self.models.as_slice() {
                return Ok(only);
            }
            return self
                .models
                .iter()
                .find(|m| m.quant.as_deref() == Some("Q4_K_M"))
                .ok_or_else(|| HubError::Ambiguous {
                    repo: self.id.clone(),
                    available: available(),
                });
        };
        let w = wanted.to_ascii_lowercase();
        let by_file = self.models.iter().find(|m| {
            m.name.to_ascii_lowercase() == w
                || m.files.iter().any(|f| {
                    let p = f.path.to_ascii_lowercase();
                    p == w || p.rsplit('/').next() == Some(w.as_str())
                })
        });
        if let Some(m) = by_file {
            return Ok(m);
        }
        let by_quant: Vec<_> = self
            .models
            .iter()
            .filter(|m| m.quant.as_deref().map(str::to_ascii_lowercase) == Some(w.clone()))
            .collect();
        match by_quant.as_slice() {
            [one] => Ok(one),
            [] => Err(HubError::NoSuchFile {
                repo: self.id.clone(),
                wanted: wanted.to_owned(),
                available: available(),
            }),
            _ => Err(HubError::Ambiguous {
                repo: self.id.clone(),
                available: by_quant
                    .iter()
                    .map(|m| m.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// How long the Hub's JSON answers may take, and how large they may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// From sending a request to the answer's headers.
    pub first_byte: Duration,
    /// The body: size, longest gap, whole time.
    pub body: BodyLimits,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            first_byte: Duration::from_secs(30),
            // A search with `full=true` for 100 repos is a few MB; a repo's
            // info, tens of KB.
            body: BodyLimits {
                max_bytes: 64 << 20,
                idle: Duration::from_secs(30),
                total: Duration::from_secs(120),
            },
        }
    }
}

/// A client for one Hub endpoint, with an optional token.
#[derive(Clone)]
pub struct HubClient {
    pub(crate) endpoint: String,
    endpoint_url: Url,
    pub(crate) token: Option<SecretString>,
    /// A token exists but is not sent: the endpoint is plain http:// to
    /// another machine.
    token_withheld: bool,
    pub(crate) http: reqwest::Client,
    net: Net,
    limits: ApiLimits,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubClient")
            .field("endpoint", &redact(&self.endpoint))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl HubClient {
    /// A client for `endpoint` (e.g. `https://huggingface.co`), connecting
    /// directly and trusting the system's certificates.
    pub fn new(endpoint: &str, token: Option<SecretString>) -> Result<Self, HubError> {
        Self::with_network(endpoint, token, &Net::default())
    }

    /// A client for `endpoint` with the network settings `net` (proxy, extra
    /// certificate authorities). The token is sent to the endpoint only, and
    /// never over plain http:// to another machine.
    pub fn with_network(
        endpoint: &str,
        token: Option<SecretString>,
        net: &Net,
    ) -> Result<Self, HubError> {
        let endpoint = endpoint.trim().trim_end_matches('/').to_owned();
        let bad = |reason: String| HubError::BadEndpoint {
            endpoint: redact(&endpoint),
            reason,
        };
        let endpoint_url = Url::parse(&endpoint).map_err(|e| bad(e.to_string()))?;
        if !matches!(endpoint_url.scheme(), "http" | "https") || endpoint_url.host_str().is_none() {
            return Err(bad("it must be an http:// or https:// address".into()));
        }
        let token_withheld = token.is_some() && is_cleartext(&endpoint_url);
        if token_withheld {
            tracing::warn!(
                endpoint = %redact(&endpoint),
                "not sending the Hugging Face token over plain http to another machine"
            );
        }
        // Downloads are redirected to a CDN on another host: follow it. The
        // token travels in `Authorization`, which is dropped on the way.
        let http = net
            .client(&ClientOptions {
                redirects: Redirects::AnyHost,
                connect_timeout: Duration::from_secs(15),
            })
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            endpoint,
            endpoint_url,
            token: if token_withheld { None } else { token },
            token_withheld,
            http,
            net: net.clone(),
            limits: ApiLimits::default(),
        })
    }

    /// The same client with other limits for the JSON routes.
    pub fn with_limits(mut self, limits: ApiLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How requests to the endpoint are routed (directly or through a proxy).
    pub fn route(&self) -> Route {
        self.net.route(&self.endpoint_url)
    }

    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    /// A failed request to `url`, in words (proxy, certificate, redirect).
    pub(crate) fn network_error(&self, e: &reqwest::Error, url: &Url) -> HubError {
        let failure = explain(e, url, &self.net.route(url), self.net.hints());
        HubError::Network {
            endpoint: redact(&self.endpoint),
            reason: failure.message,
            retryable: failure.kind.is_retryable(),
        }
    }

    /// `Ok` for a success; else what the Hub's answer means for the user.
    pub(crate) fn check(
        &self,
        response: &reqwest::Response,
        what: &str,
        repo: Option<&str>,
    ) -> Result<(), HubError> {
        let status = response.status();
        if let Some(failure) = proxy_status(
            status.as_u16(),
            &self.net.route(response.url()),
            self.net.hints(),
        ) {
            return Err(HubError::Network {
                endpoint: redact(&self.endpoint),
                reason: failure.message,
                retryable: false,
            });
        }
        if self.token_withheld && matches!(status.as_u16(), 401 | 403) {
            return Err(HubError::TokenWithheld {
                endpoint: redact(&self.endpoint),
            });
        }
        status::check(
            status,
            response.headers(),
            &Asked {
                what,
                repo,
                token_sent: self.token.is_some(),
                endpoint: &self.endpoint,
            },
        )
    }

    /// Who the token belongs to (`GET /api/whoami-v2`): checks a token
    /// before it is kept. Without a token, says so.
    pub async fn whoami(&self) -> Result<String, HubError> {
        if self.token.is_none() {
            return Err(match self.token_withheld {
                true => HubError::TokenWithheld {
                    endpoint: redact(&self.endpoint),
                },
                false => HubError::BadToken {
                    tokens_page: format!("{}/settings/tokens", self.endpoint),
                },
            });
        }
        let url = format!("{}/api/whoami-v2", self.endpoint);
        let who: wire::WhoAmI = self.json(self.get(&url), "your token", None).await?;
        Ok(who.name)
    }

    /// GGUF repositories matching `query`.
    pub async fn search(
        &self,
        query: &str,
        sort: SearchSort,
        limit: usize,
    ) -> Result<Vec<RepoSummary>, HubError> {
        let sort = match sort {
            SearchSort::Downloads => "downloads",
            SearchSort::Recent => "lastModified",
            SearchSort::Likes => "likes",
        };
        let limit = limit.clamp(1, 100).to_string();
        let url = format!("{}/api/models", self.endpoint);
        let request = self.get(&url).query(&[
            ("search", query),
            ("filter", "gguf"),
            ("sort", sort),
            ("direction", "-1"),
            ("limit", &limit),
            ("full", "true"),
        ]);
        let what = format!("search {query:?}");
        let hits: Vec<wire::SearchHit> = self.json(request, &what, None).await?;
        Ok(hits
            .into_iter()
            .map(|hit| RepoSummary {
                license: license_from_tags(&hit.tags),
                gated: hit.gated.is_gated(),
                downloads: hit.downloads,
                likes: hit.likes,
                updated: hit.last_modified,
                id: hit.id,
            })
            .collect())
    }

    /// A repository's commit, licence, gating and GGUF models.
    pub async fn repo(&self, repo: &str) -> Result<RepoInfo, HubError> {
        validate_repo_id(repo)?;
        let url = format!("{}/api/models/{repo}", self.endpoint);
        let request = self.get(&url).query(&[("blobs", "true")]);
        let info: wire::ModelInfo = self.json(request, repo, Some(repo)).await?;
        let bad = |reason: String| HubError::BadResponse {
            what: repo.to_owned(),
            reason,
        };
        let commit = info
            .sha
            .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| bad("no commit sha in the repo info".into()))?;
        let mut files = Vec::new();
        for sibling in info.siblings {
            if !sibling.rfilename.to_ascii_lowercase().ends_with(".gguf") {
                continue;
            }
            safe_relative_path(&sibling.rfilename)?;
            let file_name = sibling.rfilename.rsplit('/').next().unwrap_or_default();
            if file_name.starts_with("mmproj") {
                continue; // vision projectors, not chat models
            }
            let (size, sha256) = match sibling.lfs {
                Some(lfs) => (lfs.size, Some(lfs.sha256)),
                None => (sibling.size.unwrap_or(0), None),
            };
            if let Some(sha) = &sha256
                && (sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(bad(format!("bad sha256 for {}", sibling.rfilename)));
            }
            files.push(RemoteFile {
                path: sibling.rfilename,
                size,
                sha256: sha256.map(|s| s.to_ascii_lowercase()),
            });
        }
        // The id the Hub answers with names folders and URLs from here on: it
        // is held to the same rules as the one asked for.
        let id = info.id.unwrap_or_else(|| repo.to_owned());
        validate_repo_id(&id).map_err(|_| bad(format!("the Hub named the repo {id:?}")))?;
        Ok(RepoInfo {
            id,
            commit,
            gated: info.gated.is_gated(),
            license: info
                .card_data
                .and_then(|c| c.license)
                .or_else(|| license_from_tags(&info.tags)),
            models: group_models(files),
        })
    }

    /// Sends a JSON request and reads its answer within [`ApiLimits`].
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        repo: Option<&str>,
    ) -> Result<T, HubError> {
        let request = request.build().map_err(|e| HubError::BadEndpoint {
            endpoint: redact(&self.endpoint),
            reason: root_cause(&e),
        })?;
        let url = request.url().clone();
        let sent = tokio::time::timeout(self.limits.first_byte, self.http.execute(request)).await;
        let response = match sent {
            Err(_) => {
                return Err(HubError::Network {
                    endpoint: redact(&self.endpoint),
                    reason: format!("no answer within {} s", self.limits.first_byte.as_secs()),
                    retryable: true,
                });
            }
            Ok(Err(e)) => return Err(self.network_error(&e, &url)),
            Ok(Ok(response)) => response,
        };
        self.check(&response, what, repo)?;
        let body = read_body(response, &self.limits.body, None)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { .. } => HubError::BadResponse {
                    what: what.to_owned(),
                    reason: e.to_string(),
                },
                BodyError::Dropped(cause) => self.network_error(&cause, &url),
                BodyError::Stalled { .. } | BodyError::Deadline { .. } => HubError::Network {
                    endpoint: redact(&self.endpoint),
                    reason: e.to_string(),
                    retryable: true,
                },
            })?;
        serde_json::from_slice(&body).map_err(|e| HubError::BadResponse {
            what: what.to_owned(),
            reason: format!("malformed JSON ({e})"),
        })
    }
}

fn license_from_tags(tags: &[String]) -> Option<String> {
    tags.iter()
        .find_map(|t| t.strip_prefix("license:"))
        .map(str::to_owned)
}

/// The parts of one split model seen so far: base name, part count, (number, file).
type SplitGroup = (String, u32, Vec<(u32, RemoteFile)>);

/// Groups split parts into one model each; keeps the listing order otherwise.
fn group_models(files: Vec<RemoteFile>) -> Vec<RemoteModel> {
    let mut models: Vec<RemoteModel> = Vec::new();
    let mut split_groups: Vec<SplitGroup> = Vec::new();
    for file in files {
        match split_part(&file.path) {
            Some((base, part, total)) => {
                match split_groups
                    .iter_mut()
                    .find(|(b, t, _)| *b == base && *t == total)
                {
                    Some((_, _, parts)) => parts.push((part, file)),
                    None => split_groups.push((base, total, vec![(part, file)])),
                }
            }
            None => models.push(RemoteModel {
                name: file
                    .path
                    .rsplit('/')
                    .next()
                    .unwrap_or(&file.path)
                    .to_owned(),
                quant: quant_from_name(&file.path),
                size: file.size,
                files: vec![file],
            }),
        }
    }
    for (base, total, mut parts) in split_groups {
        parts.sort_by_key(|(n, _)| *n);
        let complete = parts.len() == total as usize
            && parts
                .iter()
                .enumerate()
                .all(|(i, (n, _))| *n as usize == i + 1);
        if !complete {
            tracing::warn!(%base, "split model with missing parts ignored");
            continue;
        }
        let files: Vec<RemoteFile> = parts.into_iter().map(|(_, f)| f).collect();
        models.push(RemoteModel {
            name: base.rsplit('/').next().unwrap_or(&base).to_owned(),
            quant: quant_from_name(&base),
            size: files.iter().map(|f| f.size).sum(),
            files,
        });
    }
    models
}

/// The Hub's JSON, as far as Hearth reads it.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct SearchHit {
        pub(super) id: String,
        #[serde(default)]
        pub(super) downloads: u64,
        #[serde(default)]
        pub(super) likes: u64,
        pub(super) last_modified: Option<String>,
        #[serde(default)]
        pub(super) tags: Vec<String>,
        #[serde(default)]
        pub(super) gated: Gated,
    }

    #[derive(Deserialize)]
    pub(super) struct WhoAmI {
        pub(super) name: String,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct ModelInfo {
        pub(super) id: Option<String>,
        pub(super) sha: Option<String>,
        #[serde(default)]
        pub(super) gated: Gated,
        #[serde(default)]
        pub(super) tags: Vec<String>,
        pub(super) card_data: Option<CardData>,
        #[serde(default)]
        pub(super) siblings: Vec<Sibling>,
    }

    #[derive(Deserialize)]
    pub(super) struct CardData {
        pub(super) license: Option<String>,
    }

    #[derive(Deserialize)]
    pub(super) struct Sibling {
        pub(super) rfilename: String,
        pub(super) size: Option<u64>,
        pub(super) lfs: Option<Lfs>,
    }

    #[derive(Deserialize)]
    pub(super) struct Lfs {
        pub(super) sha256: String,
        pub(super) size: u64,
    }

    /// `false`, or the gating mode (`"auto"`, `"manual"`).
    #[derive(Deserialize, Default)]
    #[serde(untagged)]
    pub(super) enum Gated {
        #[default]
        No,
        Flag(bool),
        Mode(serde::de::IgnoredAny),
    }

    impl Gated {
        pub(super) fn is_gated(&self) -> bool {
            match self {
                Self::No => false,
                Self::Flag(b) => *b,
                Self::Mode(_) => true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> RemoteFile {
        RemoteFile {
            path: path.into(),
            size,
            sha256: None,
        }
    }

    #[test]
    fn split_parts_become_one_model_and_select_finds_them() {
        let models = group_models(vec![
            file("m-Q8_0-00002-of-00002.gguf", 5),
            file("m-Q4_K_M.gguf", 3),
            file("m-Q8_0-00001-of-00002.gguf", 7),
            file("lonely-00001-of-00002.gguf", 1),
        ]);
        assert_eq!(models.len(), 2, "{models:?}");
        let info = RepoInfo {
            id: "o/r".into(),
            commit: "abc".into(),
            gated: false,
            license: None,
            models,
        };
        let q8 = info.select(Some("q8_0")).unwrap();
        assert_eq!(q8.size, 12);
        assert_eq!(q8.files[0].path, "m-Q8_0-00001-of-00002.gguf");
        assert_eq!(info.select(None).unwrap().name, "m-Q4_K_M.gguf");
        assert_eq!(
            info.select(Some("m-Q8_0-00002-of-00002.gguf"))
                .unwrap()
                .name,
            "m-Q8_0"
        );
        assert!(matches!(
            info.select(Some("Q2_K")),
            Err(HubError::NoSuchFile { .. })
        ));
    }

    #[test]
    fn debug_hides_the_token() {
        let client = HubClient::new("http://x", Some(SecretString::from("hf_secret"))).unwrap();
        assert!(!format!("{client:?}").contains("hf_secret"));
    }
}
