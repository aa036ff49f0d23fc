//! Checkpoints: everything needed to continue a run exactly.
//!
//! `RUN/checkpoints/step-000100/` holds `model.safetensors` (weights, by parameter name),
//! `optimizer.safetensors` (Adam moments), `state.toml` (step, seed-stream state, loss scale,
//! best validation score) and `config.toml` (the resolved run configuration). A checkpoint is
//! written into a hidden `.step-000100.partial/` folder, every file fsynced, then renamed into
//! place and the parent folder fsynced: a crash (even SIGKILL) mid-write leaves at most a
//! partial folder, which is never read, and every earlier checkpoint intact.

use crate::optim::AdamW;
use crate::{Error, Result};
use autograd::rng::RngState;
use model::io::{load_tensors, save_tensors};
use model::Transformer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The trainer's own state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimizer steps taken; also the data position (batches are keyed by step).
    pub step: u64,
    pub rng_seed: u64,
    pub rng_counter: u64,
    pub loss_scale: f64,
    /// Clean steps since the loss scale last changed (fp16).
    #[serde(default)]
    pub loss_scale_good_steps: u64,
    /// Steps skipped because a gradient overflowed.
    #[serde(default)]
    pub skipped_steps: u64,
    pub best_valid_bpb: Option<f64>,
}

impl TrainerState {
    /// The state of a run that has not started.
    pub fn fresh(seed: u64, loss_scale: f64) -> Self {
        TrainerState { step: 0, rng_seed: seed, rng_counter: 0, loss_scale, loss_scale_good_steps: 0, skipped_steps: 0, best_valid_bpb: None }
    }

    pub fn rng(&self) -> RngState {
        RngState { seed: self.rng_seed, counter: self.rng_counter }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::Invalid(format!("{}: {e}", path.display()))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The folder name of the checkpoint at `step`.
pub fn name(step: u64) -> String {
    format!("step-{step:09}")
}

/// Writes a checkpoint of `step` under `run/checkpoints/`; returns its folder.
pub fn save(run: &Path, model: &Transformer, opt: &AdamW, state: &TrainerState, config_toml: &str) -> Result<PathBuf> {
    let root = run.join("checkpoints");
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let final_dir = root.join(name(state.step));
    let tmp = root.join(format!(".{}.partial", name(state.step)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    model.save(&tmp.join("model.safetensors"))?;
    save_tensors(&tmp.join("optimizer.safetensors"), &opt.state_tensors(), HashMap::new())?;
    for (file, text) in [("state.toml", toml::to_string(state).expect("serialisable")), ("config.toml", config_toml.to_string())] {
        let p = tmp.join(file);
        std::fs::write(&p, text).map_err(io(&p))?;
        std::fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io(&p))?;
    }
    sync_dir(&tmp);
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(io(&final_dir))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
    sync_dir(&root);
    Ok(final_dir)
}

/// Complete checkpoints of a run, oldest first.
pub fn list(run: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("step-")) && p.join("state.toml").exists()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Records `dir` as the run's best checkpoint (lowest validation bits per byte) in
/// `checkpoints/best`, written atomically.
pub fn set_best(run: &Path, dir: &Path) -> Result<()> {
    let root = run.join("checkpoints");
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = root.join(".best.partial");
    std::fs::write(&tmp, name).map_err(io(&tmp))?;
    std::fs::rename(&tmp, root.join("best")).map_err(io(&root))
}

/// The run's best checkpoint, if one was recorded and still exists.
pub fn best(run: &Path) -> Option<PathBuf> {
    let root = run.join("checkpoints");
    let name = std::fs::read_to_string(root.join("best")).ok()?;
    let dir = root.join(name.trim());
    dir.join("state.toml").exists().then_some(dir)
}

/// Removes all but the last `keep` checkpoints and `best` (if given).
pub fn prune(run: &Path, keep: usize, best: Option<&Path>) -> Result<()> {
    let all = list(run);
    let cut = all.len().saturating_sub(keep);
    for old in &all[..cut] {
        if Some(old.as_path()) != best {
            std::fs::remove_dir_all(old).map_err(io(old))?;
        }
    }
    Ok(())
}

/// Loads the checkpoint in `dir` into `model` and `opt`; returns the trainer state.
pub fn load(dir: &Path, model: &Transformer, opt: &mut AdamW) -> Result<TrainerState> {
    let state_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
    let state: TrainerState = toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", state_path.display())))?;
    model.load(&dir.join("model.safetensors"))?;
    let (tensors, _) = load_tensors(&dir.join("optimizer.safetensors"))?;
    opt.load_state(&tensors.into_iter().collect(), state.step)?;
    Ok(state)
}
