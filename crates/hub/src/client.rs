//! Talking to the Hugging Face Hub: model search and a repo's GGUF files.
//!
//! Routes (the Hub's public REST API, <https://huggingface.co/docs/hub/api>):
//! - `GET {endpoint}/api/models?search=Q&filter=gguf&sort=downloads&direction=-1&limit=N&full=true`
//! - `GET {endpoint}/api/models/{owner}/{name}?blobs=true`: `sha` (commit),
//!   `gated`, `cardData.license`, `siblings[{rfilename, size, lfs{sha256, size}}]`
//! - `GET {endpoint}/{owner}/{name}/resolve/{commit}/{file}` (see `download.rs`)
//!
//! The token is optional, sent only as `Authorization: Bearer`, never logged.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::names::{quant_from_name, safe_relative_path, split_part, validate_repo_id};

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

/// A client for one Hub endpoint, with an optional token.
#[derive(Clone)]
pub struct HubClient {
    pub(crate) endpoint: String,
    pub(crate) token: Option<SecretString>,
    pub(crate) http: reqwest::Client,
}

impl fmt::Debug for HubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubClient")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl HubClient {
    /// A client for `endpoint` (e.g. `https://huggingface.co`).
    pub fn new(endpoint: &str, token: Option<SecretString>) -> Result<Self, HubError> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| HubError::Network {
                endpoint: endpoint.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            endpoint,
            token,
            http,
        })
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.http.get(url);
        match &self.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    pub(crate) fn network_error(&self, e: &reqwest::Error) -> HubError {
        HubError::Network {
            endpoint: self.endpoint.clone(),
            reason: error_chain(e),
        }
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

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        repo: Option<&str>,
    ) -> Result<T, HubError> {
        let response = request.send().await.map_err(|e| self.network_error(&e))?;
        check_status(response.status(), what, repo)?;
        let body = response.bytes().await.map_err(|e| self.network_error(&e))?;
        serde_json::from_slice(&body).map_err(|e| HubError::BadResponse {
            what: what.to_owned(),
            reason: format!("malformed JSON ({e})"),
        })
    }
}

/// Maps a non-success status to a clear error.
pub(crate) fn check_status(
    status: StatusCode,
    what: &str,
    repo: Option<&str>,
) -> Result<(), HubError> {
    if status.is_success() {
        return Ok(());
    }
    let what = what.to_owned();
    Err(match status.as_u16() {
        404 => HubError::NotFound { what },
        401 | 403 => match repo {
            Some(repo) => HubError::Gated {
                repo: repo.to_owned(),
            },
            None => HubError::Http {
                what,
                status: status.as_u16(),
            },
        },
        s if s >= 500 => HubError::Server { what, status: s },
        s => HubError::Http { what, status: s },
    })
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
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
