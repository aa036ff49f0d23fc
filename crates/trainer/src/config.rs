//! Run configurations: a TOML file (see `configs/`), `--set section.key=value` overrides,
//! and strict checking. An unknown key, a value of the wrong type or a data path that does
//! not exist is an error naming the file and the key.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A configuration problem, with the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {why}", file.display())]
    Invalid { file: PathBuf, why: String },
    #[error("{}: `{key}`: {why}", file.display())]
    Key { file: PathBuf, key: String, why: String },
}

/// Which model: a preset and the hyper-parameters that override it.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// tiny, cifar10, enwik8, imagenet64, audio65536, audio262144, audio1048576
    pub preset: String,
    pub layers: Option<usize>,
    pub d_model: Option<usize>,
    pub heads: Option<usize>,
    pub n_ctx: Option<usize>,
    pub dropout: Option<f64>,
    pub recompute: Option<bool>,
    pub seed: Option<u64>,
}

/// Which data.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// embedded, enwik8, cifar10, imagenet64, audio
    pub kind: String,
    /// File or folder of the dataset (not used by `embedded`).
    pub path: Option<PathBuf>,
}

/// How to train.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    #[serde(default = "defaults::warmup")]
    pub warmup: u64,
    #[serde(default = "defaults::weight_decay")]
    pub weight_decay: f64,
    #[serde(default = "defaults::clip")]
    pub clip: f64,
    /// Micro-batches whose gradients are summed before one optimizer step.
    #[serde(default = "defaults::one")]
    pub accumulate: usize,
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    #[serde(default = "defaults::eval_every")]
    pub eval_every: u64,
    #[serde(default = "defaults::checkpoint_every")]
    pub checkpoint_every: u64,
    /// Checkpoints kept besides the best one.
    #[serde(default = "defaults::keep")]
    pub keep: usize,
    /// fp32, or mixed precision: bf16 or fp16 activations and products with fp32 master
    /// weights, Adam moments and statistics (fp16 with dynamic loss scaling).
    #[serde(default)]
    pub precision: Precision,
    /// The starting loss scale of fp16 training (then adjusted dynamically).
    #[serde(default = "defaults::loss_scale")]
    pub loss_scale: f64,
    /// Print a step line every `log_every` steps (the progress bar updates every step).
    #[serde(default = "defaults::log_every")]
    pub log_every: u64,
}

/// The dtype of activations and products in training.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

impl Precision {
    pub fn dtype(self) -> tensor::DType {
        match self {
            Precision::Fp32 => tensor::DType::F32,
            Precision::Bf16 => tensor::DType::BF16,
            Precision::Fp16 => tensor::DType::F16,
        }
    }
}

mod defaults {
    pub fn warmup() -> u64 {
        5000
    }
    pub fn weight_decay() -> f64 {
        0.01
    }
    pub fn clip() -> f64 {
        1.0
    }
    pub fn one() -> usize {
        1
    }
    pub fn seed() -> u64 {
        1
    }
    pub fn eval_every() -> u64 {
        1000
    }
    pub fn checkpoint_every() -> u64 {
        1000
    }
    pub fn keep() -> usize {
        3
    }
    pub fn loss_scale() -> f64 {
        65536.0
    }
    pub fn log_every() -> u64 {
        10
    }
}

/// A whole run.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelSection,
    pub data: DataSection,
    pub train: TrainSection,
}

/// Sets `key` (dotted) in a TOML table to `value` (parsed as TOML, else taken as a string).
fn set(table: &mut toml::Table, key: &str, value: &str) -> Result<(), String> {
    let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}")).ok().and_then(|mut t| t.remove("v")).unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|k| !k.is_empty()).ok_or("empty key")?;
    let mut t = table;
    for p in parts {
        t = t.entry(p).or_insert_with(|| toml::Value::Table(toml::Table::new())).as_table_mut().ok_or_else(|| format!("`{p}` is not a section"))?;
    }
    t.insert(last.to_string(), parsed);
    Ok(())
}

impl RunConfig {
    /// Parses `text` (from `file`, for messages) with `overrides` (`section.key=value`).
    pub fn parse(file: &Path, text: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid { file: file.to_path_buf(), why };
        let mut table: toml::Table = toml::from_str(text).map_err(|e| invalid(format!("not valid TOML: {}", e.message())))?;
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| invalid(format!("--set {o:?}: expected key=value")))?;
            set(&mut table, k.trim(), v.trim()).map_err(|why| ConfigError::Key { file: file.to_path_buf(), key: k.trim().into(), why })?;
        }
        // Deserialised from text so that a type error shows the offending `key = value` line.
        let text = toml::to_string(&table).map_err(|e| invalid(e.to_string()))?;
        let config: RunConfig = toml::from_str(&text).map_err(|e: toml::de::Error| invalid(e.to_string().trim_end().to_string()))?;
        config.validate(file)?;
        Ok(config)
    }

    /// Reads the resolved configuration saved with a checkpoint. Only its syntax is checked:
    /// the data need not be where it was during training (sampling needs none).
    pub fn load_saved(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid { file: file.to_path_buf(), why: format!("cannot read: {e}") })?;
        toml::from_str(&text).map_err(|e: toml::de::Error| ConfigError::Invalid { file: file.to_path_buf(), why: e.to_string().trim_end().to_string() })
    }

    /// Reads and parses a config file.
    pub fn load(file: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid { file: file.to_path_buf(), why: format!("cannot read: {e}") })?;
        Self::parse(file, &text, overrides)
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let key = |key: &str, why: String| ConfigError::Key { file: file.to_path_buf(), key: key.into(), why };
        model::Config::preset(&self.model.preset).map_err(|e| key("model.preset", e.to_string()))?;
        match self.data.kind.as_str() {
            "embedded" => {}
            "enwik8" | "cifar10" | "imagenet64" | "audio" => match &self.data.path {
                None => return Err(key("data.path", format!("the {} data needs a path (the file or folder of the dataset)", self.data.kind))),
                Some(p) if !p.exists() => return Err(key("data.path", format!("{} does not exist (set it in the file or with --set data.path=...)", p.display()))),
                _ => {}
            },
            other => return Err(key("data.kind", format!("{other:?} is not one of embedded, enwik8, cifar10, imagenet64, audio"))),
        }
        if self.train.batch == 0 || self.train.accumulate == 0 || self.train.steps == 0 {
            return Err(key("train", "steps, batch and accumulate must be at least 1".into()));
        }
        Ok(())
    }

    /// The model configuration: the preset with this run's overrides.
    pub fn model_config(&self) -> model::Config {
        let m = &self.model;
        let mut c = model::Config::preset(&m.preset).expect("validated");
        c.layers = m.layers.unwrap_or(c.layers);
        c.d_model = m.d_model.unwrap_or(c.d_model);
        c.heads = m.heads.unwrap_or(c.heads);
        c.n_ctx = m.n_ctx.unwrap_or(c.n_ctx);
        c.dropout = m.dropout.unwrap_or(c.dropout);
        c.recompute = m.recompute.unwrap_or(c.recompute);
        c.seed = m.seed.unwrap_or(c.seed);
        c
    }

    /// The configuration as TOML (saved with every checkpoint).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("serialisable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "[model]\npreset = \"tiny\"\n[data]\nkind = \"embedded\"\n[train]\nsteps = 10\nbatch = 2\nlr = 1e-3\n";

    fn err(text: &str, overrides: &[&str]) -> String {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        RunConfig::parse(Path::new("configs/run.toml"), text, &o).unwrap_err().to_string()
    }

    #[test]
    fn parses_with_defaults_and_overrides() {
        let c = RunConfig::parse(Path::new("x.toml"), GOOD, &["train.lr=3e-4".into(), "model.dropout=0.1".into()]).unwrap();
        assert_eq!((c.train.lr, c.train.warmup, c.model.dropout), (3e-4, 5000, Some(0.1)));
        assert_eq!(RunConfig::parse(Path::new("x.toml"), &c.to_toml(), &[]).unwrap(), c);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let e = err(&GOOD.replace("lr = 1e-3", "lr = 1e-3\nlearning_rate = 2"), &[]);
        assert!(e.contains("configs/run.toml") && e.contains("learning_rate"), "{e}");
        let e = err(&GOOD.replace("batch = 2", "batch = \"two\""), &[]);
        assert!(e.contains("configs/run.toml") && e.contains("batch"), "{e}");
        let e = err(GOOD, &["train.batchsize=4"]);
        assert!(e.contains("batchsize"), "{e}");
        let e = err(&GOOD.replace("kind = \"embedded\"", "kind = \"enwik8\"\npath = \"/nowhere/enwik8\""), &[]);
        assert!(e.contains("configs/run.toml") && e.contains("data.path") && e.contains("/nowhere/enwik8"), "{e}");
        let e = err(&GOOD.replace("kind = \"embedded\"", "kind = \"enwik8\""), &[]);
        assert!(e.contains("data.path") && e.contains("needs a path"), "{e}");
        let e = err(&GOOD.replace("\"tiny\"", "\"huge\""), &[]);
        assert!(e.contains("model.preset") && e.contains("huge"), "{e}");
        let e = err("[model\n", &[]);
        assert!(e.contains("configs/run.toml") && e.contains("TOML"), "{e}");
    }
}
