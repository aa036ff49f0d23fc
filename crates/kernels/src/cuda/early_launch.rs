//! Kernel launches that may start early: programmatic dependent launch (compute capability
//! 9.0 on).
//!
//! Normally a kernel starts only once the kernel before it in the stream has finished and its
//! writes are visible, so each launch pays the previous kernel's tail (its last, partly empty
//! wave of blocks) and the launch latency. A kernel launched with the
//! programmatic-serialization attribute may start as soon as every block of the kernel before
//! it has started and signalled `griddepcontrol.launch_dependents` (or exited): its blocks take
//! the SM slots that the earlier kernel's last blocks free, do their set-up, and wait with
//! `griddepcontrol.wait` only where they first need the earlier kernel's writes
//! (`after_previous_grid` in `cuda/common.cuh`, which also signals the kernel after).
//!
//! The contract a kernel launched so must keep: before its wait it reads only what was
//! complete before the previous kernel started, and writes nothing that a running kernel
//! reads. Launched without the attribute, the same kernel behaves as any other (its
//! `griddepcontrol` instructions do nothing).

use super::{cuda_err, Gpu};
use crate::error::Result;
use cudarc::driver::{sys, CudaFunction, DeviceRepr, LaunchConfig};
use std::ffi::c_void;
use std::marker::PhantomData;

/// Whether `gpu` can launch kernels early (programmatic dependent launch needs compute
/// capability 9.0 or later: Hopper on).
pub fn supported(gpu: &Gpu) -> bool {
    gpu.arch.trim_start_matches("sm_").parse::<u32>().is_ok_and(|cc| cc >= 90)
}

/// A kernel's arguments for [`launch`], in order: the address of each value, borrowed for as
/// long as the list lives.
#[derive(Default)]
pub struct Args<'a> {
    ptrs: Vec<*mut c_void>,
    _values: PhantomData<&'a ()>,
}

impl<'a> Args<'a> {
    pub fn new() -> Self {
        Args { ptrs: Vec::new(), _values: PhantomData }
    }

    /// Appends one argument (a value with the layout of the kernel parameter it fills).
    pub fn arg<T: DeviceRepr>(&mut self, value: &'a T) -> &mut Self {
        self.ptrs.push(value as *const T as *mut c_void);
        self
    }
}

/// Launches `func` on `gpu`'s stream with `args`; with `early`, allowed to start before the
/// previous kernel of the stream has finished (see the module's contract).
///
/// # Safety
/// As any kernel launch: `args` match the kernel's parameters, every pointer among them
/// addresses a live buffer of the sizes the kernel reads and writes; and with `early`, the
/// kernel keeps the contract above.
pub unsafe fn launch(gpu: &Gpu, func: &CudaFunction, cfg: LaunchConfig, early: bool, args: &mut Args, what: &str) -> Result<()> {
    gpu.ctx.bind_to_thread().map_err(cuda_err("binding the context"))?;
    let mut attr = sys::CUlaunchAttribute {
        id: sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION,
        pad: [0; 4],
        value: sys::CUlaunchAttributeValue { programmaticStreamSerializationAllowed: 1 },
    };
    let config = sys::CUlaunchConfig {
        gridDimX: cfg.grid_dim.0,
        gridDimY: cfg.grid_dim.1,
        gridDimZ: cfg.grid_dim.2,
        blockDimX: cfg.block_dim.0,
        blockDimY: cfg.block_dim.1,
        blockDimZ: cfg.block_dim.2,
        sharedMemBytes: cfg.shared_mem_bytes,
        hStream: gpu.stream.cu_stream(),
        attrs: &mut attr,
        numAttrs: u32::from(early && supported(gpu)),
    };
    // SAFETY: the configuration and its one attribute live across the call; the caller
    // vouches for the function and its arguments.
    unsafe { sys::cuLaunchKernelEx(&config, func.cu_function(), args.ptrs.as_mut_ptr(), std::ptr::null_mut()) }
        .result()
        .map_err(cuda_err(format!("launch of {what}")))
}
