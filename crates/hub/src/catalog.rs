//! The curated catalog (`models/catalog.toml`, embedded at build time) and the
//! recommended default: the biggest entry that fits this machine comfortably.

use serde::{Deserialize, Serialize};

use crate::HubError;
use crate::fit::{Fit, Machine, ModelFacts, estimate};

const CATALOG: &str = include_str!("../../../models/catalog.toml");
/// Context length fit estimates assume when none is set: for the
/// recommendation, and for a model whose load settings leave its context to
/// the engine, which loads at most this many (its `DEFAULT_CONTEXT_CAP`).
pub const RECOMMEND_CONTEXT: u64 = 4096;

/// One curated model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub name: String,
    pub repo: String,
    pub file: String,
    pub quant: String,
    /// Bytes (approximate until the Hub lists the file).
    pub size: u64,
    pub parameters: u64,
    pub context: u64,
    pub license: String,
    /// Free RAM recommended, in bytes.
    pub min_ram: u64,
}

impl CatalogEntry {
    /// `repo:file`, what `hearth pull` takes.
    pub fn pull_spec(&self) -> String {
        format!("{}:{}", self.repo, self.file)
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    model: Vec<CatalogEntry>,
}

/// The curated models, smallest first.
pub fn catalog() -> Result<Vec<CatalogEntry>, HubError> {
    parse(CATALOG)
}

fn parse(text: &str) -> Result<Vec<CatalogEntry>, HubError> {
    let file: CatalogFile = toml::from_str(text).map_err(|e| HubError::Catalog(e.to_string()))?;
    for entry in &file.model {
        crate::names::validate_repo_id(&entry.repo)?;
        crate::names::safe_relative_path(&entry.file)?;
    }
    Ok(file.model)
}

/// Expected decode speed (tokens per second) below which a model feels too
/// slow to chat with; the recommendation stays above it.
pub const COMFORTABLE_TOK_S: f64 = 15.0;

/// The biggest catalog model that fits `machine` (with RAM to spare) at a 4k
/// context and is expected to answer at [`COMFORTABLE_TOK_S`] or faster (when
/// the memory bandwidth is known).
pub fn recommended(machine: &Machine) -> Result<Option<CatalogEntry>, HubError> {
    Ok(catalog()?
        .into_iter()
        .filter(|e| e.min_ram <= machine.available_ram)
        .filter(|e| {
            let facts = ModelFacts {
                size: e.size,
                quant: Some(e.quant.clone()),
                ..ModelFacts::default()
            };
            let fit = estimate(&facts, RECOMMEND_CONTEXT, machine);
            fit.fit == Fit::Fits && fit.decode_tok_s.is_none_or(|s| s >= COMFORTABLE_TOK_S)
        })
        .max_by_key(|e| e.size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_is_sorted_by_size() {
        let entries = catalog().unwrap();
        assert!((8..=12).contains(&entries.len()), "{}", entries.len());
        assert!(entries.windows(2).all(|w| w[0].size <= w[1].size));
        for e in &entries {
            assert!(e.file.ends_with(".gguf"), "{}", e.file);
            assert!(
                crate::names::quant_from_name(&e.file).is_some(),
                "{}",
                e.file
            );
        }
    }

    #[test]
    fn recommendation_grows_with_ram() {
        let gib = 1024 * 1024 * 1024;
        let machine = |ram: u64| Machine {
            total_ram: ram,
            available_ram: ram,
            bandwidth: None,
        };
        assert_eq!(recommended(&machine(gib / 4)).unwrap(), None);
        let small = recommended(&machine(gib)).unwrap().unwrap();
        let big = recommended(&machine(32 * gib)).unwrap().unwrap();
        assert!(small.size < 300_000_000, "{small:?}");
        assert!(big.size > 4_000_000_000, "{big:?}");
    }

    #[test]
    fn recommendation_stays_fast_enough_on_slow_memory() {
        let gib = 1024 * 1024 * 1024;
        // 20 GB/s: a 4.7 GB model would decode at ≤ 4 tok/s; 20e9 / 15 ≈ 1.3 GB is the most.
        let machine = Machine {
            total_ram: 32 * gib,
            available_ram: 32 * gib,
            bandwidth: Some(20e9),
        };
        let best = recommended(&machine).unwrap().unwrap();
        assert!(best.size <= 1_333_000_000, "{best:?}");
        assert!(best.size >= 800_000_000, "{best:?}");
    }
}
