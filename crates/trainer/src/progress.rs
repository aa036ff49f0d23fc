//! The training display: an indicatif bar (step, loss, bits per byte, tokens/s, MFU, ETA)
//! on a terminal, and a step line every `log_every` steps and at every evaluation, in the
//! style `step | loss | bpb | ms | tok/s | MFU`, which also reaches logs when output is not a
//! terminal.

use indicatif::{ProgressBar, ProgressStyle};
use trainer::run::StepLog;

pub struct Progress {
    bar: ProgressBar,
    log_every: u64,
    header_done: bool,
}

impl Progress {
    pub fn new(steps: u64, log_every: u64) -> Self {
        let bar = ProgressBar::new(steps);
        bar.set_style(ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} {msg} | ETA {eta}").expect("a valid template").progress_chars("=> "));
        Progress { bar, log_every: log_every.max(1), header_done: false }
    }

    fn line(&self, text: String) {
        self.bar.suspend(|| println!("{text}"));
    }

    pub fn step(&mut self, l: &StepLog) {
        if !self.header_done {
            self.line(format!("{:>7} | {:>7} | {:>6} | {:>8} | {:>9} | {:>6} | {:>9} | valid bpb", "step", "loss", "bpb", "ms", "tok/s", "MFU", "lr"));
            self.header_done = true;
        }
        if l.step == 0 {
            // The evaluation before the first step.
            self.line(format!("{:>7} | {:>7} | {:>6} | {:>8} | {:>9} | {:>6} | {:>9} | {:.4}", 0, "", "", "", "", "", "", l.valid_bpb.unwrap_or(f64::NAN)));
            self.bar.set_position(l.step);
            return;
        }
        let bpb = l.loss / std::f64::consts::LN_2;
        let mfu = l.mfu.map_or("-".to_string(), |m| format!("{:.1}%", 100.0 * m));
        self.bar.set_position(l.step);
        self.bar.set_message(format!("loss {:.4} | {bpb:.3} bpb | {:.0} tok/s | MFU {mfu}", l.loss, l.tokens_per_s));
        if l.step % self.log_every == 0 || l.valid_bpb.is_some() || l.step == l.steps || l.skipped {
            let valid = l.valid_bpb.map_or(String::new(), |v| format!("{v:.4}"));
            let skipped = if l.skipped { format!(" (skipped: overflow at loss scale {})", l.loss_scale) } else { String::new() };
            self.line(format!("{:>7} | {:>7.4} | {bpb:>6.3} | {:>8.1} | {:>9.0} | {mfu:>6} | {:>9.2e} | {valid}{skipped}", l.step, l.loss, l.ms, l.tokens_per_s, l.lr));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
