//! CPU causal attention over the KV cache, a (query row, head) or a tile of
//! rows at a time: working memory stays O(context) per thread, never a
//! chunk x context matrix.
//!
//! With an f16 cache the arithmetic is llama.cpp's CPU flash-attention
//! kernel for short batches (`flash_attn_ext_f16_one_chunk`), bit for bit:
//! the query is rounded to f16 like the keys, scores sum in ggml's lane
//! order, and the value accumulator is kept in f16; chunks of 64+ rows take
//! its tiled kernel (`flash_attn_ext_tiled`) instead, and one query over
//! 512+ padded cells its split-KV decode, as llama.cpp does. A q8_0 cache
//! takes llama.cpp's one-row kernel for every row (the only one it has for
//! a quantized cache), a prefill's rows sixteen at a time over each key. With
//! an f32 cache everything is f32.
use std::ops::Range;

use candle_core::{DType, Device, Result, Storage, Tensor};
use half::f16;
use reportlens_kernels::attention::{
    merge_split_kv, q8_0_head_bytes, row_f16, row_f32, row_q8_0, rows_q8_0, split_kv_part,
    split_kv_parts, splits_kv, tile_f16, Partial, RowFn, Shape, Q8_0_ROWS, TILE,
};

/// Attention of `q` `(L, H, D)` (f32, positions `offset..offset+L`) over the
/// cached `k`, `v` `(offset + L, H_kv, D)` (both f32 or both f16), or
/// `(offset + L, H_kv, D / 32 * 34)` bytes of q8_0 blocks (`KvType::Q8_0`).
/// Returns `(L, H * D)` f32.
pub fn causal_attention_cpu(q: &Tensor, k: &Tensor, v: &Tensor, offset: usize) -> Result<Tensor> {
    let (l, nh, d) = q.dims3()?;
    let (s, nkv, dk) = k.dims3()?;
    let width = match k.dtype() {
        DType::U8 => q8_0_head_bytes(d),
        _ => d,
    };
    if dk != width || v.dims3()? != (s, nkv, width) || s != offset + l || nh % nkv != 0 {
        candle_core::bail!(
            "attention shapes q {:?} k {:?} v {:?} offset {offset}",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    let q = q.to_dtype(DType::F32)?.contiguous()?;
    let (k, v) = (k.contiguous()?, v.contiguous()?);
    let mut out = vec![0f32; l * nh * d];
    let shape = Shape {
        l,
        nh,
        nkv,
        d,
        offset,
        scale: 1.0 / (d as f32).sqrt(),
        threads: pool_threads(),
    };
    let (qg, ql) = q.storage_and_layout();
    let q_data = cpu_slice::<f32>(&qg, ql.start_offset())?;
    match k.dtype() {
        DType::F32 => {
            let (kg, kl) = k.storage_and_layout();
            let (vg, vl) = v.storage_and_layout();
            let kd = cpu_slice::<f32>(&kg, kl.start_offset())?;
            let vd = cpu_slice::<f32>(&vg, vl.start_offset())?;
            run(&shape, q_data, kd, vd, &mut out, row_f32);
        }
        DType::F16 => {
            let (kg, kl) = k.storage_and_layout();
            let (vg, vl) = v.storage_and_layout();
            let kd = cpu_slice::<f16>(&kg, kl.start_offset())?;
            let vd = cpu_slice::<f16>(&vg, vl.start_offset())?;
            if l >= TILE {
                run_tiles(&shape, q_data, kd, vd, &mut out, TILE, tile_f16);
            } else if splits_kv(&shape) {
                run_split_kv(&shape, q_data, kd, vd, &mut out);
            } else {
                run(&shape, q_data, kd, vd, &mut out, row_f16);
            }
        }
        DType::U8 => {
            let (kg, kl) = k.storage_and_layout();
            let (vg, vl) = v.storage_and_layout();
            let kd = cpu_slice::<u8>(&kg, kl.start_offset())?;
            let vd = cpu_slice::<u8>(&vg, vl.start_offset())?;
            if l > 1 {
                run_tiles(&shape, q_data, kd, vd, &mut out, Q8_0_ROWS, rows_q8_0);
            } else {
                run(&shape, q_data, kd, vd, &mut out, row_q8_0);
            }
        }
        dt => candle_core::bail!("KV cache type {dt:?} is not supported on the CPU"),
    }
    Tensor::from_vec(out, (l, nh * d), &Device::Cpu)
}

/// The compute pool's size, read once: asking candle reads /proc/cpuinfo,
/// which cost a tenth of every decode step.
fn pool_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(crate::model::device::cpu_threads)
}

/// Splits (row, group of heads) units over candle's CPU thread pool. A
/// group steps through its keys together (see `row_f16`); groups are sized
/// so that a decode step's heads split evenly between the threads, at most
/// six to a group.
fn run<T: Sync>(sh: &Shape, q: &[f32], k: &[T], v: &[T], out: &mut [f32], row: RowFn<T>) {
    let per_thread = sh.nh.div_ceil(sh.threads.max(1));
    let g = per_thread.div_ceil(per_thread.div_ceil(6)).max(1);
    let groups = sh.nh.div_ceil(g);
    let units = sh.l * groups;
    let out_ptr = out.as_mut_ptr() as usize;
    let d = sh.d;
    candle_core::utils::barrier_pool().execute_chunked(units, |range| {
        for u in range {
            let (i, gi) = (u / groups, u % groups);
            let heads = gi * g..((gi + 1) * g).min(sh.nh);
            let span = (i * sh.nh + heads.start) * d..(i * sh.nh + heads.end) * d;
            // SAFETY: each unit writes its own disjoint span of `out`, which
            // outlives the pool call.
            let dst = unsafe {
                std::slice::from_raw_parts_mut((out_ptr as *mut f32).add(span.start), span.len())
            };
            row(sh, &q[span], k, v, i, heads, dst);
        }
    });
}

/// A long decode step as llama.cpp runs it: each thread takes a range of
/// the keys for every head, and the ranges merge in order.
fn run_split_kv(sh: &Shape, q: &[f32], k: &[f16], v: &[f16], out: &mut [f32]) {
    let n = split_kv_parts(sh);
    let parts: Vec<std::sync::Mutex<Vec<Partial>>> =
        (0..n).map(|_| std::sync::Mutex::new(Vec::new())).collect();
    candle_core::utils::barrier_pool().execute_chunked(n, |range| {
        for t in range {
            let part = split_kv_part(sh, &q[..sh.nh * sh.d], k, v, t);
            *parts[t].lock().unwrap_or_else(|e| e.into_inner()) = part;
        }
    });
    let parts: Vec<Vec<Partial>> = parts
        .into_iter()
        .map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect();
    merge_split_kv(sh, &parts, out);
}

/// A tile kernel: `(shape, q, keys, values, query rows, head)` to the
/// rows' outputs, `rows.len() * d`.
type TileFn<T> = fn(&Shape, &[f32], &[T], &[T], Range<usize>, usize) -> Vec<f32>;

/// Splits (tile of `rows` query rows, head) pairs of a chunk over the pool:
/// an f16 cache's 64-row tiles as llama.cpp runs batches of 64+ rows, a
/// q8_0 cache's rows that read the keys once for all of them.
fn run_tiles<T: Sync>(
    sh: &Shape,
    q: &[f32],
    k: &[T],
    v: &[T],
    out: &mut [f32],
    rows: usize,
    tile: TileFn<T>,
) {
    let tiles = sh.l.div_ceil(rows);
    let out_ptr = out.as_mut_ptr() as usize;
    let (d, nh) = (sh.d, sh.nh);
    candle_core::utils::barrier_pool().execute_chunked(tiles * nh, |range| {
        for u in range {
            // Last tiles first: they see the most keys, and threads take
            // units in turn, so the cheap ones even out the end.
            let (t, h) = (tiles - 1 - u / nh, u % nh);
            let span = t * rows..((t + 1) * rows).min(sh.l);
            let res = tile(sh, q, k, v, span.clone(), h);
            for (i, r) in span.zip(res.chunks_exact(d)) {
                // SAFETY: (row i, head h) is this unit's alone; `out` holds
                // l * nh * d values and outlives the pool call.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut((out_ptr as *mut f32).add((i * nh + h) * d), d)
                };
                dst.copy_from_slice(r);
            }
        }
    });
}

fn cpu_slice<'a, T: candle_core::WithDType>(
    g: &'a candle_core::StorageRef<'_>,
    start: usize,
) -> Result<&'a [T]> {
    match &**g {
        Storage::Cpu(cpu) => Ok(&cpu.as_slice::<T>()?[start..]),
        _ => candle_core::bail!("expected CPU storage"),
    }
}
