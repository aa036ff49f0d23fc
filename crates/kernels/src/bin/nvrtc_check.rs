//! `nvrtc-check [--arch sm_90] [EXTRA.cu ...]`: compiles every kernel source in every variant
//! the engine uses, plus any extra files named, with NVRTC, without a GPU. Exits non-zero,
//! printing NVRTC's log, if any fails. CI runs it (see `.ci/run`).

use kernels::cuda::compile::{all_variants, compile_text, include_dirs};
use kernels::cuda::sources;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut arch: &'static str = "sm_90";
    if let Some(i) = args.iter().position(|a| a == "--arch") {
        arch = Box::leak(args.get(i + 1).cloned().unwrap_or_else(|| "sm_90".into()).into_boxed_str());
        args.drain(i..(i + 2).min(args.len()));
    }
    // SAFETY: only tries to open the shared library.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        eprintln!("nvrtc-check: libnvrtc not found; put it on LD_LIBRARY_PATH");
        std::process::exit(2);
    }
    let incs = include_dirs();
    if incs.is_empty() {
        eprintln!("nvrtc-check: no directory with cuda_bf16.h; set ST_CUDA_INCLUDE");
        std::process::exit(2);
    }
    println!("nvrtc-check: {arch}, headers from {}", incs[0]);
    let mut jobs: Vec<(String, String, Vec<(&str, &str)>)> =
        all_variants().into_iter().map(|(f, d)| (f.to_string(), sources::get(f).unwrap().to_string(), d)).collect();
    for extra in &args {
        match std::fs::read_to_string(extra) {
            Ok(text) => jobs.push((extra.clone(), text, vec![("ELEM_TYPE", "float")])),
            Err(e) => {
                eprintln!("nvrtc-check: cannot read {extra}: {e}");
                std::process::exit(2);
            }
        }
    }
    let (mut ok, mut failed) = (0, 0);
    for (file, text, defines) in &jobs {
        match compile_text(file, text, defines, arch, false) {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                eprintln!("FAILED {file} {defines:?}\n{e}");
            }
        }
    }
    println!("nvrtc-check: {ok} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
