//! `nvrtc-check [--arch sm_90] [--only TEXT] [--emit DIR] [EXTRA.cu ...]`: compiles every kernel
//! source in every variant the engine uses, plus any extra files named, with NVRTC, without a
//! GPU. Exits non-zero, printing NVRTC's log, if any fails. CI runs it (see `.ci/run`).
//!
//! `--only TEXT` keeps the variants whose file name and defines contain TEXT (e.g.
//! `SA_VERSION=5`); `--emit DIR` writes each variant's PTX there, named after the file and its
//! defines, so that `ptxas -arch=sm_90 -v FILE.ptx` (from the `nvidia-cuda-nvcc` wheel) can
//! report registers, spills and shared memory per kernel without a GPU.

use kernels::cuda::compile::{all_variants, compile_text, include_dirs};
use kernels::cuda::sources;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut arch: &'static str = "sm_90";
    if let Some(i) = args.iter().position(|a| a == "--arch") {
        arch = Box::leak(args.get(i + 1).cloned().unwrap_or_else(|| "sm_90".into()).into_boxed_str());
        args.drain(i..(i + 2).min(args.len()));
    }
    let mut take = |flag: &str| -> Option<String> {
        let i = args.iter().position(|a| a == flag)?;
        let value = args.get(i + 1).cloned();
        args.drain(i..(i + 2).min(args.len()));
        value
    };
    let (only, emit) = (take("--only"), take("--emit"));
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
    let label = |file: &str, defines: &[(&str, &str)]| -> String {
        let d: Vec<String> = defines.iter().map(|(k, v)| format!("{k}={}", v.replace(' ', "_"))).collect();
        format!("{}-{}", file.trim_end_matches(".cu"), d.join("-"))
    };
    jobs.retain(|(file, _, defines)| only.as_deref().is_none_or(|o| label(file, defines).contains(o)));
    if let Some(dir) = &emit {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("nvrtc-check: cannot create {dir}: {e}");
            std::process::exit(2);
        }
    }
    // NVRTC compiles independent programs concurrently: one worker per core, each taking the
    // next job from a shared counter.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((file, text, defines)) = jobs.get(i) else { break out };
                        let result = compile_text(file, text, defines, arch, false).map_err(|e| format!("FAILED {file} {defines:?}\n{e}")).and_then(|ptx| match &emit {
                            Some(dir) => {
                                let path = std::path::Path::new(dir).join(format!("{}.ptx", label(file, defines)));
                                std::fs::write(&path, ptx.to_src()).map_err(|e| format!("nvrtc-check: cannot write {}: {e}", path.display()))
                            }
                            None => Ok(()),
                        });
                        out.push(result);
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let failed = results.len() - ok;
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("{e}");
    }
    println!("nvrtc-check: {ok} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    check_disk_cache(arch);
}

/// A second compilation of the same source must come from the disk cache, byte for byte.
fn check_disk_cache(arch: &'static str) {
    let dir = std::env::temp_dir().join(format!("nvrtc-check-cache-{}", std::process::id()));
    std::env::set_var("ST_KERNEL_CACHE", &dir);
    let defines = [("ELEM_TYPE", "__nv_bfloat16")];
    let first = kernels::cuda::compile::compile("softmax.cu", &defines, arch).map(|p| p.to_src());
    let files: Vec<_> = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    let t = std::time::Instant::now();
    let second = kernels::cuda::compile::compile("softmax.cu", &defines, arch).map(|p| p.to_src());
    let reload = t.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    match (first, second) {
        (Ok(a), Ok(b)) if a == b && files.len() == 1 => println!("nvrtc-check: disk cache ok ({} written, reloaded in {reload:?})", files[0].display()),
        _ => {
            eprintln!("nvrtc-check: the disk cache did not round-trip");
            std::process::exit(1);
        }
    }
}
