//! One (query row, head) of causal attention over a KV cache with an online
//! softmax, f32 or with llama.cpp's f16 flash-attention numerics.
use half::f16;

#[derive(Clone, Copy)]
pub struct Shape {
    /// Query rows in this call.
    pub l: usize,
    /// Query heads.
    pub nh: usize,
    /// Key/value heads (grouped-query attention when fewer than `nh`).
    pub nkv: usize,
    /// Head size.
    pub d: usize,
    /// Cached positions before the first query row.
    pub offset: usize,
    /// Score scale, `1 / sqrt(d)`.
    pub scale: f32,
}

/// A row kernel: `(shape, q row, keys, values, row index, head, out)`.
pub type RowFn<T> = fn(&Shape, &[f32], &[T], &[T], usize, usize, &mut [f32]);

/// f32 cache: plain online softmax in f32.
pub fn row_f32(sh: &Shape, q: &[f32], k: &[f32], v: &[f32], i: usize, h: usize, dst: &mut [f32]) {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let mut m = f32::NEG_INFINITY;
    let mut sum = 0f32;
    dst.fill(0.0);
    for j in 0..=sh.offset + i {
        let base = j * stride + kvh * d;
        let krow = &k[base..base + d];
        let score = q.iter().zip(krow).map(|(a, b)| a * b).sum::<f32>() * sh.scale;
        let (ms, vs) = if score > m {
            let ms = (m - score).exp();
            m = score;
            (ms, 1.0)
        } else {
            (1.0, (score - m).exp())
        };
        let vrow = &v[base..base + d];
        for (a, &x) in dst.iter_mut().zip(vrow) {
            *a = *a * ms + x * vs;
        }
        sum = sum * ms + vs;
    }
    let inv = 1.0 / sum;
    dst.iter_mut().for_each(|a| *a *= inv);
}

/// f16 cache, llama.cpp's numerics (`flash_attn_ext_f16_one_chunk`): q
/// rounded to f16, scores by `ggml_vec_dot_f16` (lanes as `lanes` says),
/// an f16 value accumulator updated by fused multiply-adds and rescaled in
/// place, the softmax sum fused as GCC compiles `S = S*ms + vs`.
pub fn row_f16(sh: &Shape, q: &[f32], k: &[f16], v: &[f16], i: usize, h: usize, dst: &mut [f32]) {
    let (d, kvh) = (sh.d, h / (sh.nh / sh.nkv));
    let stride = sh.nkv * d;
    let lanes = DotLanes::detect();
    let q16: Vec<f32> = q.iter().map(|&x| f16::from_f32(x).to_f32()).collect();
    let mut acc = vec![f16::ZERO; d];
    let mut m = f32::NEG_INFINITY;
    let mut sum = 0f32;
    for j in 0..=sh.offset + i {
        let base = j * stride + kvh * d;
        let score = dot_f16(lanes, &q16, &k[base..base + d]) * sh.scale;
        let mut ms = 1.0f32;
        let mut vs = 1.0f32;
        if score > m {
            ms = (m - score).exp();
            m = score;
            for a in acc.iter_mut() {
                *a = f16::from_f32(a.to_f32() * ms);
            }
        } else {
            vs = (score - m).exp();
        }
        let vrow = &v[base..base + d];
        for (a, x) in acc.iter_mut().zip(vrow) {
            *a = f16::from_f32(x.to_f32().mul_add(vs, a.to_f32()));
        }
        sum = sum.mul_add(ms, vs);
    }
    let inv = 1.0 / sum;
    for (o, a) in dst.iter_mut().zip(&acc) {
        *o = a.to_f32() * inv;
    }
}

/// The lane layout of ggml's `ggml_vec_dot_f16` on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotLanes {
    /// AVX-512: four 16-lane accumulators.
    X16,
    /// AVX: four 8-lane accumulators.
    X8,
    /// No SIMD: one f64 sum.
    Serial,
}

impl DotLanes {
    pub fn detect() -> Self {
        static LANES: std::sync::OnceLock<DotLanes> = std::sync::OnceLock::new();
        *LANES.get_or_init(|| {
            match crate::simd_override() {
                Some(crate::Simd::Avx512) => return DotLanes::X16,
                Some(crate::Simd::Avx2) => return DotLanes::X8,
                None => {}
            }
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    return DotLanes::X16;
                }
                if std::is_x86_feature_detected!("avx") && std::is_x86_feature_detected!("f16c") {
                    return DotLanes::X8;
                }
            }
            DotLanes::Serial
        })
    }
}

/// `ggml_vec_dot_f16` over f16 values (given as f32; their products are
/// exact, so only the order of the sums matters): four vectors of lanes
/// accumulate each step of `4 * lanes` elements, then fold pairwise, then
/// the lanes reduce as GCC's `_mm512_reduce_add_ps` / ggml's AVX `hadd`
/// sequence does; elements past the last whole step add in f64.
pub fn dot_f16(lanes: DotLanes, q: &[f32], k: &[f16]) -> f32 {
    let n = q.len();
    let epr = match lanes {
        DotLanes::X16 => 16,
        DotLanes::X8 => 8,
        DotLanes::Serial => {
            let s: f64 = q.iter().zip(k).map(|(a, b)| (a * b.to_f32()) as f64).sum();
            return s as f32;
        }
    };
    let step = 4 * epr;
    let np = n / step * step;
    let mut acc = [[0f32; 16]; 4];
    for i in (0..np).step_by(step) {
        for (jj, lane_acc) in acc.iter_mut().enumerate() {
            let at = i + jj * epr;
            for (l, a) in lane_acc[..epr].iter_mut().enumerate() {
                *a += q[at + l] * k[at + l].to_f32();
            }
        }
    }
    let mut s = [0f32; 16];
    for (l, x) in s[..epr].iter_mut().enumerate() {
        *x = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let mut sumf = if epr == 16 {
        let t3: [f32; 8] = std::array::from_fn(|i| s[8 + i] + s[i]);
        let t6: [f32; 4] = std::array::from_fn(|i| t3[4 + i] + t3[i]);
        ((t6[0] + t6[2]) + (t6[1] + t6[3])) as f64
    } else {
        let t0: [f32; 4] = std::array::from_fn(|i| s[i] + s[4 + i]);
        ((t0[0] + t0[1]) + (t0[2] + t0[3])) as f64
    };
    for (a, b) in q[np..].iter().zip(&k[np..]) {
        sumf += (a * b.to_f32()) as f64;
    }
    sumf as f32
}
