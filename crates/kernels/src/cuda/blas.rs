//! Matrix multiplication through cuBLASLt, with one *plan* per shape kept for reuse.
//!
//! cudarc's safe wrapper creates descriptors and asks the heuristic for an algorithm on every
//! call; in a training step the same dozen shapes repeat thousands of times, so here the
//! descriptors and the chosen algorithm are built once per `GemmShape` and cached.
//!
//! Our tensors are row-major, cuBLASLt is column-major. A row-major `C[m, n] = A[m, k] B[k, n]`
//! is the column-major `C^T (n x m) = B^T (n x k) . A^T (k x m)`: cuBLASLt's "A" is our `B`,
//! its "B" is our `A`, and its `(M, N, K)` is our `(n, m, k)`. A row-major operand with unit
//! column stride is a column-major transposed matrix with leading dimension = its row stride
//! (no transpose op); one with unit row stride is read with the transpose op.
//!
//! Epilogues: a bias vector over the output columns is fused (`CUBLASLT_EPILOGUE_BIAS`,
//! used by `Tensor::matmul_bias`, i.e. every linear layer). GELU is not: cuBLASLt's GELU
//! epilogue is the tanh approximation, while the Sparse Transformer uses
//! `x * sigmoid(1.702 x)`, so fusing it would change the model.
//!
//! Precision: bf16 and f16 matmuls accumulate in fp32 (`CUBLAS_COMPUTE_32F`). f32 matmuls are
//! full fp32 unless TF32 is switched on ([`set_tf32`]): TF32 trades 10 mantissa bits of the
//! inputs for tensor-core speed.

use super::{cuda_err, Elem, Gpu};
use crate::error::{Error, Result};
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

static TF32: AtomicBool = AtomicBool::new(false);

/// Lets f32 matmuls use TF32 tensor cores (off by default: exact fp32).
pub fn set_tf32(on: bool) {
    TF32.store(on, Ordering::Relaxed);
}

/// One row-major operand: element `(r, c)` of batch entry `b` at
/// `ptr + (b * batch_stride + r * row_stride + c * col_stride) * size`. One of the two
/// strides must be 1.
#[derive(Clone, Copy, Debug)]
pub struct MatOperand {
    pub ptr: u64,
    pub row_stride: i64,
    pub col_stride: i64,
    pub batch_stride: i64,
}

/// Everything that selects a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct GemmShape {
    elem: Elem,
    tf32: bool,
    bias: bool,
    batch: i32,
    // column-major view: D (mm x nn) = op(A) (mm x kk) . op(B) (kk x nn)
    mm: u64,
    nn: u64,
    kk: u64,
    trans_a: bool,
    trans_b: bool,
    lda: i64,
    ldb: i64,
    stride_a: i64,
    stride_b: i64,
}

struct Plan {
    desc: sys::cublasLtMatmulDesc_t,
    a: sys::cublasLtMatrixLayout_t,
    b: sys::cublasLtMatrixLayout_t,
    d: sys::cublasLtMatrixLayout_t,
    algo: sys::cublasLtMatmulAlgo_t,
}

pub(crate) struct Blas {
    handle: sys::cublasLtHandle_t,
    workspace: CudaSlice<u8>,
    plans: Mutex<HashMap<GemmShape, Plan>>,
}

// SAFETY: the handle and plans are used only under the plans mutex or on the Gpu's stream.
unsafe impl Send for Blas {}
unsafe impl Sync for Blas {}

fn blas_err(what: &str) -> impl FnOnce(cudarc::cublaslt::result::CublasError) -> Error + '_ {
    move |e| Error::Cuda { what: format!("cuBLASLt {what}"), why: format!("{e:?}") }
}

fn data_type(elem: Elem) -> Result<sys::cudaDataType> {
    Ok(match elem {
        Elem::F32 => sys::cudaDataType::CUDA_R_32F,
        Elem::BF16 => sys::cudaDataType::CUDA_R_16BF,
        Elem::F16 => sys::cudaDataType::CUDA_R_16F,
        other => return Err(Error::Cuda { what: "matmul".into(), why: format!("{other:?} matmuls are not supported on CUDA") }),
    })
}

impl Blas {
    pub(crate) fn new(stream: &Arc<CudaStream>) -> Result<Self> {
        let handle = lt::create_handle().map_err(blas_err("handle"))?;
        // 32 MiB: NVIDIA's recommendation for Hopper.
        let workspace = stream.alloc_zeros::<u8>(32 << 20).map_err(cuda_err("cuBLASLt workspace"))?;
        Ok(Blas { handle, workspace, plans: Mutex::new(HashMap::new()) })
    }

    fn plan(&self, s: &GemmShape) -> Result<Plan> {
        let ty = data_type(s.elem)?;
        let compute = match (s.elem, s.tf32) {
            (Elem::F32, true) => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
            _ => sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        };
        let desc = lt::create_matmul_desc(compute, sys::cudaDataType::CUDA_R_32F).map_err(blas_err("descriptor"))?;
        let set_desc = |attr, v: &[u8]| unsafe { lt::set_matmul_desc_attribute(desc, attr, v.as_ptr() as *const c_void, v.len()) }.map_err(blas_err("descriptor attribute"));
        let op = |t: bool| if t { cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_T } else { cudarc::cublas::sys::cublasOperation_t::CUBLAS_OP_N };
        let (opa, opb) = (op(s.trans_a), op(s.trans_b));
        set_desc(sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA, bytes_of(&opa))?;
        set_desc(sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSB, bytes_of(&opb))?;
        if s.bias {
            let epi = sys::cublasLtEpilogue_t::CUBLASLT_EPILOGUE_BIAS;
            set_desc(sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_EPILOGUE, bytes_of(&epi))?;
        }
        // Stored shapes: A is (mm x kk) or its transpose, B is (kk x nn) or its transpose.
        let (ar, ac) = if s.trans_a { (s.kk, s.mm) } else { (s.mm, s.kk) };
        let (br, bc) = if s.trans_b { (s.nn, s.kk) } else { (s.kk, s.nn) };
        let layout = |rows, cols, ld, stride: i64| -> Result<sys::cublasLtMatrixLayout_t> {
            let l = lt::create_matrix_layout(ty, rows, cols, ld).map_err(blas_err("layout"))?;
            if s.batch > 1 {
                let set = |attr, v: &[u8]| unsafe { lt::set_matrix_layout_attribute(l, attr, v.as_ptr() as *const c_void, v.len()) }.map_err(blas_err("layout attribute"));
                set(sys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, bytes_of(&s.batch))?;
                set(sys::cublasLtMatrixLayoutAttribute_t::CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, bytes_of(&stride))?;
            }
            Ok(l)
        };
        let a = layout(ar, ac, s.lda, s.stride_a)?;
        let b = layout(br, bc, s.ldb, s.stride_b)?;
        let d = layout(s.mm, s.nn, s.mm as i64, (s.mm * s.nn) as i64)?;
        let pref = lt::create_matmul_pref().map_err(blas_err("preference"))?;
        let ws = self.workspace.len();
        unsafe {
            lt::set_matmul_pref_attribute(pref, sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws as *const usize as *const c_void, std::mem::size_of::<usize>())
        }
        .map_err(blas_err("preference attribute"))?;
        let heuristic = unsafe { lt::get_matmul_algo_heuristic(self.handle, desc, a, b, d, d, pref) }.map_err(blas_err("algorithm heuristic"))?;
        unsafe { lt::destroy_matmul_pref(pref) }.map_err(blas_err("preference"))?;
        Ok(Plan { desc, a, b, d, algo: heuristic.algo })
    }
}

fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: reading the bytes of a plain value for an attribute setter.
    unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) }
}

/// `out[b] (m x n, dense row-major) = a[b] (m x k) @ b[b] (k x n) (+ bias[n])`, queued on the
/// GPU's stream. `out` must hold `batch * m * n` elements of `elem`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(gpu: &Gpu, elem: Elem, batch: usize, m: usize, k: usize, n: usize, a: MatOperand, b: MatOperand, out: u64, bias: Option<u64>) -> Result<()> {
    // cuBLASLt "A" = our b, "B" = our a (see the module doc).
    let colmajor = |op: &MatOperand, what: &str| -> Result<(bool, i64)> {
        if op.col_stride == 1 {
            Ok((false, op.row_stride.max(1)))
        } else if op.row_stride == 1 {
            Ok((true, op.col_stride.max(1)))
        } else {
            Err(Error::Cuda { what: "matmul".into(), why: format!("{what} has no unit stride; make it contiguous first") })
        }
    };
    let (trans_a, lda) = colmajor(&b, "rhs")?;
    let (trans_b, ldb) = colmajor(&a, "lhs")?;
    // A plain matrix must have ld >= its row count; a degenerate 1-row view may report less.
    let lda = if trans_a { lda.max(k as i64) } else { lda.max(n as i64) };
    let ldb = if trans_b { ldb.max(m as i64) } else { ldb.max(k as i64) };
    let shape = GemmShape {
        elem,
        tf32: TF32.load(Ordering::Relaxed),
        bias: bias.is_some(),
        batch: batch as i32,
        mm: n as u64,
        nn: m as u64,
        kk: k as u64,
        trans_a,
        trans_b,
        lda,
        ldb,
        stride_a: b.batch_stride,
        stride_b: a.batch_stride,
    };
    let blas = &gpu.blas;
    let mut plans = blas.plans.lock().unwrap_or_else(|e| e.into_inner());
    if !plans.contains_key(&shape) {
        let p = blas.plan(&shape)?;
        plans.insert(shape, p);
    }
    let plan = &plans[&shape];
    if let Some(bias) = bias {
        unsafe {
            lt::set_matmul_desc_attribute(plan.desc, sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias as *const u64 as *const c_void, 8)
        }
        .map_err(blas_err("bias pointer"))?;
    }
    let (alpha, beta) = (1.0f32, 0.0f32);
    let (ws, _sync) = blas.workspace.device_ptr(&gpu.stream);
    // SAFETY: the pointers come from live device buffers sized by the tensor layer for these
    // shapes; the plan was built for exactly these layouts.
    unsafe {
        lt::matmul(
            blas.handle,
            plan.desc,
            &alpha as *const f32 as *const c_void,
            &beta as *const f32 as *const c_void,
            b.ptr as *const c_void,
            plan.a,
            a.ptr as *const c_void,
            plan.b,
            out as *const c_void,
            plan.d,
            out as *mut c_void,
            plan.d,
            &plan.algo,
            ws as *mut c_void,
            blas.workspace.len(),
            gpu.stream.cu_stream() as *mut _,
        )
    }
    .map_err(blas_err("matmul"))
}
