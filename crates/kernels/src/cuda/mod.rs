//! The CUDA backend: a [`Gpu`] per device, device buffers, NVRTC-compiled kernels and
//! cuBLASLt matmuls.
//!
//! Design (see DESIGN.md, "Speed decisions"):
//! - **One stream per device.** Every launch, copy and allocation is queued on it, so
//!   ordering is implicit and cudarc's per-buffer event tracking is switched off. The host
//!   waits only when it reads data back.
//! - **Stream-ordered allocation.** Buffers come from the device's memory pool
//!   (`cuMemAllocAsync`); the pool's release threshold is set to "never", so once a training
//!   step has run, later steps reuse pooled memory and never call into the driver's allocator.
//! - **Kernels compiled at run time** by NVRTC for the device's compute capability, specialised
//!   with `-D` defines (element type), cached in-process and on disk ([`compile`]).
//! - **Raw pointers at launch.** Buffers are untyped bytes ([`DevBuf`]) plus an element type;
//!   kernels receive device addresses. That keeps one launcher per kernel for every dtype.
//!
//! Test aid: [`set_poison`] makes every new buffer start as 0xFF bytes (NaN in every float
//! type), so a kernel that fails to write an output cannot pass a comparison by accident.

pub mod blas;
pub mod compile;
pub mod early_launch;
pub mod launch;
pub mod sources;
pub mod sparse_attention;
pub mod tensor_map;

use crate::error::{Error, Result};
use cudarc::driver::{sys, CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, DeviceRepr};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Element types of device buffers (the `-DELEM_TYPE` of a kernel module).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    F64,
    F32,
    BF16,
    F16,
    I32,
    U8,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::F64 => 8,
            Elem::F32 | Elem::I32 => 4,
            Elem::BF16 | Elem::F16 => 2,
            Elem::U8 => 1,
        }
    }
    /// The C type name used in kernel sources.
    pub fn c_type(self) -> &'static str {
        match self {
            Elem::F64 => "double",
            Elem::F32 => "float",
            Elem::BF16 => "__nv_bfloat16",
            Elem::F16 => "__half",
            Elem::I32 => "int",
            Elem::U8 => "unsigned char",
        }
    }
}

/// Shapes or strides of up to 8 dimensions, passed to kernels by value (`Dims8` in C).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Dims8(pub [i64; 8]);
// SAFETY: plain old data with the layout of the C struct `Dims8 { long long v[8]; }`.
unsafe impl DeviceRepr for Dims8 {}

impl Dims8 {
    pub fn new(v: &[usize]) -> Result<Self> {
        if v.len() > 8 {
            return Err(Error::Cuda { what: "launch".into(), why: format!("{} dimensions; CUDA kernels take at most 8", v.len()) });
        }
        let mut d = [0i64; 8];
        for (o, &x) in d.iter_mut().zip(v) {
            *o = x as i64;
        }
        Ok(Dims8(d))
    }
}

/// A device buffer of `len` elements of type `elem`.
#[derive(Debug)]
pub struct DevBuf {
    pub bytes: CudaSlice<u8>,
    pub elem: Elem,
    pub len: usize,
}

impl DevBuf {
    /// The device address of element `offset`.
    pub fn ptr_at(&self, gpu: &Gpu, offset: usize) -> u64 {
        let (p, _sync) = self.bytes.device_ptr(&gpu.stream);
        p + (offset * self.elem.size()) as u64
    }
    pub fn ptr(&self, gpu: &Gpu) -> u64 {
        self.ptr_at(gpu, 0)
    }
}

static POISON: AtomicBool = AtomicBool::new(false);

/// When on, every buffer allocated afterwards starts as 0xFF bytes (NaN): for tests.
pub fn set_poison(on: bool) {
    POISON.store(on, Ordering::Relaxed);
}

/// One CUDA device: context, stream, cuBLASLt, compiled modules.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub ordinal: usize,
    /// `sm_XY` of the device.
    pub arch: &'static str,
    pub name: String,
    modules: Mutex<HashMap<String, Arc<CudaModule>>>,
    /// Kernel handles by a hash of (file, defines, name): the per-launch lookup allocates
    /// nothing and makes no driver call.
    functions: Mutex<HashMap<u64, CudaFunction>>,
    pub(crate) blas: blas::Blas,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({}: {}, {})", self.ordinal, self.name, self.arch)
    }
}

pub(crate) fn cuda_err(what: impl Into<String>) -> impl FnOnce(cudarc::driver::DriverError) -> Error {
    let what = what.into();
    move |e| Error::Cuda { what, why: e.to_string() }
}

fn library_present(name: &str, present: bool) -> Result<()> {
    if present {
        Ok(())
    } else {
        Err(Error::CudaUnavailable { why: format!("the {name} library was not found (is the NVIDIA driver / CUDA 13 installed, and on LD_LIBRARY_PATH?)") })
    }
}

impl Gpu {
    /// The shared `Gpu` for device `ordinal`, created on first use.
    pub fn get(ordinal: usize) -> Result<Arc<Gpu>> {
        static GPUS: OnceLock<Mutex<HashMap<usize, Arc<Gpu>>>> = OnceLock::new();
        let mut map = GPUS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = map.get(&ordinal) {
            return Ok(g.clone());
        }
        let g = Arc::new(Gpu::new(ordinal)?);
        map.insert(ordinal, g.clone());
        Ok(g)
    }

    fn new(ordinal: usize) -> Result<Gpu> {
        // SAFETY: these only try to open the shared libraries.
        unsafe {
            library_present("CUDA driver (libcuda)", sys::is_culib_present())?;
            library_present("NVRTC (libnvrtc)", cudarc::nvrtc::sys::is_culib_present())?;
            library_present("cuBLASLt (libcublasLt)", cudarc::cublaslt::sys::is_culib_present())?;
        }
        let count = CudaContext::device_count().map_err(|e| Error::CudaUnavailable { why: format!("no usable CUDA device: {e}") })?;
        if ordinal as i32 >= count {
            return Err(Error::CudaUnavailable { why: format!("device cuda:{ordinal} requested, {count} present") });
        }
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("context creation"))?;
        // One stream: ordering is implicit, so per-buffer events are pure overhead.
        // SAFETY: every buffer of this context is used on `stream` only.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(cuda_err("stream creation"))?;
        let (major, minor) = ctx.compute_capability().map_err(cuda_err("compute capability"))?;
        let arch: &'static str = Box::leak(format!("sm_{major}{minor}").into_boxed_str());
        let name = ctx.name().unwrap_or_else(|_| "unknown".into());
        keep_pool_memory(&ctx)?;
        let blas = blas::Blas::new(&stream)?;
        Ok(Gpu { ctx, stream, ordinal, arch, name, modules: Mutex::new(HashMap::new()), functions: Mutex::new(HashMap::new()), blas })
    }

    /// A new buffer of `len` elements (contents undefined, or NaN bytes when poisoning).
    pub fn alloc(&self, elem: Elem, len: usize) -> Result<DevBuf> {
        let n = (len * elem.size()).max(1);
        // SAFETY: u8 has no invalid bit patterns; callers write before they read.
        let bytes = unsafe { self.stream.alloc::<u8>(n) }.map_err(cuda_err("allocation"))?;
        if POISON.load(Ordering::Relaxed) {
            let (p, _s) = bytes.device_ptr(&self.stream);
            // SAFETY: p points to n bytes of this context, queued on our stream.
            unsafe { cudarc::driver::result::memset_d8_async(p, 0xFF, n, self.stream.cu_stream()) }.map_err(cuda_err("poison memset"))?;
            drop(_s);
        }
        Ok(DevBuf { bytes, elem, len })
    }

    /// A zero-filled buffer.
    pub fn zeros(&self, elem: Elem, len: usize) -> Result<DevBuf> {
        let mut b = self.alloc(elem, len)?;
        self.stream.memset_zeros(&mut b.bytes).map_err(cuda_err("memset"))?;
        Ok(b)
    }

    /// Copies host bytes to a new device buffer.
    pub fn upload(&self, elem: Elem, len: usize, bytes: &[u8]) -> Result<DevBuf> {
        let b = self.stream.clone_htod(bytes).map_err(cuda_err("host-to-device copy"))?;
        Ok(DevBuf { bytes: b, elem, len })
    }

    /// Copies `len` elements from element `offset` of `buf` to the host (waits for the stream).
    pub fn download(&self, buf: &DevBuf, offset: usize, len: usize) -> Result<Vec<u8>> {
        let s = buf.elem.size();
        let view = buf.bytes.slice(offset * s..(offset + len) * s);
        self.stream.clone_dtoh(&view).map_err(cuda_err("device-to-host copy"))
    }

    /// Copies `len` elements between device buffers (queued on the stream).
    pub fn copy(&self, src: &DevBuf, src_off: usize, dst: &mut DevBuf, dst_off: usize, len: usize) -> Result<()> {
        let s = src.elem.size();
        let from = src.bytes.slice(src_off * s..(src_off + len) * s);
        let mut to = dst.bytes.slice_mut(dst_off * s..(dst_off + len) * s);
        self.stream.memcpy_dtod(&from, &mut to).map_err(cuda_err("device-to-device copy"))
    }

    /// Waits for all queued work.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(cuda_err("synchronize"))
    }

    /// The kernel `name` of source `file` specialised with `defines`, compiled on first use.
    pub fn function(&self, file: &str, defines: &[(&str, &str)], name: &str) -> Result<CudaFunction> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (file, defines, name).hash(&mut h);
        let fkey = h.finish();
        if let Some(f) = self.functions.lock().unwrap_or_else(|e| e.into_inner()).get(&fkey) {
            return Ok(f.clone());
        }
        let key = format!("{file}|{defines:?}");
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            match modules.get(&key) {
                Some(m) => m.clone(),
                None => {
                    let ptx = compile::compile(file, defines, self.arch)?;
                    let m = self.ctx.load_module(ptx).map_err(cuda_err(format!("loading module {file}")))?;
                    modules.insert(key, m.clone());
                    m
                }
            }
        };
        let f = module.load_function(name).map_err(cuda_err(format!("finding kernel {name} in {file}")))?;
        self.functions.lock().unwrap_or_else(|e| e.into_inner()).insert(fkey, f.clone());
        Ok(f)
    }

    /// Bytes the device's memory pool holds now (current, high-water mark): allocation
    /// after warm-up shows up as growth here.
    pub fn pool_reserved_bytes(&self) -> Result<(u64, u64)> {
        let pool = default_pool(&self.ctx)?;
        let get = |attr| -> Result<u64> {
            let mut v: u64 = 0;
            // SAFETY: the attribute is a cuuint64_t, written into `v`.
            unsafe { sys::cuMemPoolGetAttribute(pool, attr, &mut v as *mut u64 as *mut _) }.result().map_err(cuda_err("pool attribute"))?;
            Ok(v)
        };
        Ok((get(sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)?, get(sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH)?))
    }
}

impl Gpu {
    /// The most bytes of the pool in use at once since the last [`Gpu::reset_peak_used`]:
    /// the peak device memory of the work in between (synchronise first).
    pub fn peak_used_bytes(&self) -> Result<u64> {
        let pool = default_pool(&self.ctx)?;
        let mut v: u64 = 0;
        // SAFETY: the attribute is a cuuint64_t, written into `v`.
        unsafe { sys::cuMemPoolGetAttribute(pool, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH, &mut v as *mut u64 as *mut _) }.result().map_err(cuda_err("pool attribute"))?;
        Ok(v)
    }

    /// Runs `f` with the profiler's capture on (`cuProfilerStart` / `Stop`), so that
    /// `ncu --profile-from-start off` or `nsys --capture-range=cudaProfilerApi` record only it.
    pub fn profiled<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.synchronize()?;
        // SAFETY: no arguments; only marks the capture range of an attached profiler.
        unsafe { sys::cuProfilerStart() }.result().map_err(cuda_err("profiler start"))?;
        let out = f();
        self.synchronize()?;
        // SAFETY: as above.
        unsafe { sys::cuProfilerStop() }.result().map_err(cuda_err("profiler stop"))?;
        Ok(out)
    }

    /// Restarts the high-water mark of [`Gpu::peak_used_bytes`] at the current use.
    pub fn reset_peak_used(&self) -> Result<()> {
        let pool = default_pool(&self.ctx)?;
        let mut zero: u64 = 0;
        // SAFETY: resetting the high-water mark takes a zero cuuint64_t.
        unsafe { sys::cuMemPoolSetAttribute(pool, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH, &mut zero as *mut u64 as *mut _) }.result().map_err(cuda_err("pool attribute"))
    }
}

fn default_pool(ctx: &CudaContext) -> Result<sys::CUmemoryPool> {
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    // SAFETY: writes the device's default pool handle.
    unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) }.result().map_err(cuda_err("default memory pool"))?;
    Ok(pool)
}

/// Makes the default pool keep freed memory instead of returning it to the driver at each
/// synchronisation, so a steady-state step allocates from the pool only.
fn keep_pool_memory(ctx: &CudaContext) -> Result<()> {
    let pool = default_pool(ctx)?;
    let mut threshold: u64 = u64::MAX;
    // SAFETY: the release threshold is a cuuint64_t.
    unsafe { sys::cuMemPoolSetAttribute(pool, sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &mut threshold as *mut u64 as *mut _) }
        .result()
        .map_err(cuda_err("pool release threshold"))
}
