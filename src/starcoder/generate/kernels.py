"""Fused matrix-vector kernels for decoding on a CPU (fp32, bf16 and int8 weights).

Decoding multiplies a few activation rows by every weight matrix, so its speed is the speed
of streaming weights from memory. torch's general GEMMs are tuned for large matrices and
reach a fraction of the memory bandwidth at 1-8 rows (and MKL takes a slow path on AMD CPUs),
so for those shapes we call a small C kernel: each weight row is read once, converted to fp32
in registers (bf16: a shift; int8: a sign extension, times the row's scale) and dotted with
all activation rows, with the bias added in the same pass. Larger inputs (prefill) keep
torch's GEMM. The kernel is compiled once per machine with the system C compiler into
~/.cache/starcoder (override: $STARCODER_CACHE); without a compiler, or with
STARCODER_KERNELS=0, everything runs on plain torch ops.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn

MAX_ROWS = 8  # inputs with more rows than this use torch's GEMM
W_F32, W_BF16, W_I8 = 0, 1, 2

_SOURCE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#endif

static inline float act_fn(float x, int act) {
    switch (act) {
    case 1: return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    case 2: return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));
    case 3: return x > 0.f ? x : 0.f;
    case 4: return x / (1.f + expf(-x));
    default: return x;
    }
}
static inline float bf16_to_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t f32_to_bf16(float f) {  /* round to nearest even */
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#define WSIZE(t) ((t) == 0 ? 4 : (t) == 1 ? 2 : 1)
#ifndef PFHINT
#define PFHINT _MM_HINT_T1
#endif
#ifndef PF
#define PF 16384
#endif
#ifdef __AVX512F__
static inline __m512 load_w(const void *w, int wtype, long off, __mmask16 m) {
    if (wtype == 0) return _mm512_maskz_loadu_ps(m, (const float *)w + off);
    if (wtype == 1) {
        __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + off);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    __m128i b = _mm_maskz_loadu_epi8(m, (const int8_t *)w + off);
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b));
}
#endif

/* y[m, n] = scale[n] * sum_k x[m, k] W[n, k] + bias[n] for rows n in [n0, n1), m in [m0, m0 + MT).
   x: fp32 (M, K) contiguous; W: (N, K) of wtype; scale, bias: fp32 or NULL.
   Inlined with constant wtype and MT, so each variant compiles to its own branch-free loop. */
static inline __attribute__((always_inline)) void tile(int K, const float *x, const void *W, const int wtype,
        const int MT, const float *scale, const float *bias, int act, float *y, int N, int m0, int n0, int n1) {
    int n = n0;
#ifdef __AVX512F__
    for (; n + 4 <= n1; n += 4) {
        __m512 a[2][4];
        for (int i = 0; i < MT; i++) for (int r = 0; r < 4; r++) a[i][r] = _mm512_setzero_ps();
        const float *x0 = x + (long)m0 * K;
        for (int k = 0; k < K; k += 16) {
            __mmask16 mk = (K - k >= 16) ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1);
            __m512 xv[2];
            for (int i = 0; i < MT; i++) xv[i] = _mm512_maskz_loadu_ps(mk, x0 + (long)i * K + k);
            for (int r = 0; r < 4; r++) {
                /* software prefetch into L2, PF bytes ahead (rows are contiguous, so past a row end this
                   fetches the next rows): measured 2x over hardware prefetching alone for int8 */
                _mm_prefetch((const char *)W + ((long)(n + r) * K + k) * WSIZE(wtype) + PF, PFHINT);
                __m512 wv = load_w(W, wtype, (long)(n + r) * K + k, mk);
                for (int i = 0; i < MT; i++) a[i][r] = _mm512_fmadd_ps(wv, xv[i], a[i][r]);
            }
        }
        for (int i = 0; i < MT; i++)
            for (int r = 0; r < 4; r++) {
                float s = _mm512_reduce_add_ps(a[i][r]);
                if (scale) s *= scale[n + r];
                if (bias) s += bias[n + r];
                y[(long)(m0 + i) * N + n + r] = act_fn(s, act);
            }
    }
#endif
    for (; n < n1; n++)
        for (int i = 0; i < MT; i++) {
            float s = 0.f;
            const float *xm = x + (long)(m0 + i) * K;
            for (int k = 0; k < K; k++) {
                long o = (long)n * K + k;
                float w = wtype == 0 ? ((const float *)W)[o] : wtype == 1 ? bf16_to_f32(((const uint16_t *)W)[o])
                                                                          : (float)((const int8_t *)W)[o];
                s += xm[k] * w;
            }
            if (scale) s *= scale[n];
            if (bias) s += bias[n];
            y[(long)(m0 + i) * N + n] = act_fn(s, act);
        }
}

#define TILE(WT, MT) tile(K, x, W, WT, MT, scale, bias, act, y, N, m, n0, n1)
static void rows(int M, int K, const float *x, const void *W, int wtype, const float *scale,
                 const float *bias, int act, float *y, int N, int n0, int n1) {
    int m = 0;
    for (; m + 2 <= M; m += 2) {
        if (wtype == 0) TILE(0, 2); else if (wtype == 1) TILE(1, 2); else TILE(2, 2);
    }
    if (m < M) {
        if (wtype == 0) TILE(0, 1); else if (wtype == 1) TILE(1, 1); else TILE(2, 1);
    }
}

/* A tiny work-claiming thread pool. Chunks are claimed from one atomic counter, so the caller
   only ever waits for chunks a helper has actually started: a helper that the OS has not
   scheduled (a busy, shared machine) never stalls a step, unlike a fork-join barrier.
   The counter packs (total << 32 | next index), so a claim can never mix two jobs. */
typedef void (*task_fn)(void *ctx, int chunk);
static struct {
    _Atomic uint64_t next;
    _Atomic int done;
    _Atomic int sleeping;
    task_fn fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int helpers;
} pool = {0, 0, 0, NULL, NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static int claim_and_run(void) {
    int ran = 0;
    for (;;) {
        uint64_t v = atomic_load(&pool.next);
        uint32_t idx = (uint32_t)v, total = (uint32_t)(v >> 32);
        if (idx >= total) return ran;
        if (!atomic_compare_exchange_weak(&pool.next, &v, v + 1)) continue;
        pool.fn(pool.ctx, (int)idx);
        atomic_fetch_add(&pool.done, 1);
        ran = 1;
    }
}

static void *helper_main(void *arg) {
    (void)arg;
    for (;;) {
        for (long spin = 0; spin < 200000; spin++) {  /* ~0.1-0.5 ms of polling, then sleep */
            if (claim_and_run()) spin = 0;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.mu);
        atomic_fetch_add(&pool.sleeping, 1);
        uint64_t v = atomic_load(&pool.next);
        if ((uint32_t)v >= (uint32_t)(v >> 32)) pthread_cond_wait(&pool.cv, &pool.mu);
        atomic_fetch_sub(&pool.sleeping, 1);
        pthread_mutex_unlock(&pool.mu);
    }
    return NULL;
}

static void parallel_for(int total, task_fn fn, void *ctx, int threads) {
    if (threads <= 1 || total <= 1) {
        for (int c = 0; c < total; c++) fn(ctx, c);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    while (pool.helpers < threads - 1 && pool.helpers < 63) {
        pthread_t t;
        if (pthread_create(&t, NULL, helper_main, NULL)) break;
        pthread_detach(t);
        pool.helpers++;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store(&pool.done, 0);
    atomic_store(&pool.next, (uint64_t)total << 32);  /* publish: claims start now */
    if (atomic_load(&pool.sleeping)) pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    claim_and_run();
    while (atomic_load(&pool.done) < total) cpu_relax();  /* only chunks a helper is running */
}

typedef struct {
    int M, N, K, wtype, act;
    const float *x, *scale, *bias;
    const void *W;
    float *y;
} gemv_job;

static void gemv_chunk(void *p, int c) {
    const gemv_job *j = (const gemv_job *)p;
    int n0 = c * 64, n1 = n0 + 64 < j->N ? n0 + 64 : j->N;
    rows(j->M, j->K, j->x, j->W, j->wtype, j->scale, j->bias, j->act, j->y, j->N, n0, n1);
}

static inline float ld(const void *p, long i, int bf) {
    return bf ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void load_row(float *dst, const void *src, long off, int n, int bf) {
    if (bf) { const uint16_t *h = (const uint16_t *)src + off; for (int d = 0; d < n; d++) dst[d] = bf16_to_f32(h[d]); }
    else memcpy(dst, (const float *)src + off, sizeof(float) * n);
}

typedef struct {
    int B, nh, n_kv, T, S, hd, bf, kvbf, rows, chunk, n_chunks;
    const void *q, *k, *v;
    long qsb, qsh, qst, msb, mst;
    const uint8_t *mask;
    void *out;
    float scale;
} attn_job;

/* One task: query rows [r0, r1) of KV group g of sequence b (a row is query t of head g*group + j). */
static void attn_task(void *p, int task) {
    const attn_job *J = (const attn_job *)p;
    const int hd = J->hd, S = J->S, group = J->nh / J->n_kv;
    int rc = task % J->n_chunks, bg = task / J->n_chunks, g = bg % J->n_kv, b = bg / J->n_kv;
    int r0 = rc * J->chunk, r1 = r0 + J->chunk < J->rows ? r0 + J->chunk : J->rows, R = r1 - r0;
    if (R <= 0) return;
    float *qf = (float *)malloc(sizeof(float) * ((long)R * hd * 2 + (long)R * S + hd));
    float *sc = qf + (long)R * hd, *acc = sc + (long)R * S, *row = acc + (long)R * hd;
    for (int i = 0; i < R; i++) {
        int r = r0 + i, t = r / group, h = g * group + r % group;
        for (int d = 0; d < hd; d++) qf[(long)i * hd + d] = J->scale * ld(J->q, b * J->qsb + h * J->qsh + t * J->qst + d, J->bf);
    }
    const long kv0 = ((long)b * J->n_kv + g) * S * hd;
    for (int s = 0; s < S; s++) {
        load_row(row, J->k, kv0 + (long)s * hd, hd, J->kvbf);
        for (int i = 0; i < R; i++) {
            float a = 0.f;
            const float *qr = qf + (long)i * hd;
            #pragma omp simd reduction(+:a)
            for (int d = 0; d < hd; d++) a += qr[d] * row[d];
            sc[(long)i * S + s] = a;
        }
    }
    for (int i = 0; i < R; i++) {
        int t = (r0 + i) / group;
        const uint8_t *mk = J->mask + b * J->msb + t * J->mst;
        float *sr = sc + (long)i * S, mx = -INFINITY, sum = 0.f;
        for (int s = 0; s < S; s++) if (mk[s] && sr[s] > mx) mx = sr[s];
        for (int s = 0; s < S; s++) { float e = mk[s] ? expf(sr[s] - mx) : 0.f; sr[s] = e; sum += e; }
        float inv = sum > 0.f ? 1.f / sum : 0.f;
        for (int s = 0; s < S; s++) sr[s] *= inv;
        for (int d = 0; d < hd; d++) acc[(long)i * hd + d] = 0.f;
    }
    for (int s = 0; s < S; s++) {
        int any = 0;
        for (int i = 0; i < R; i++) any |= sc[(long)i * S + s] != 0.f;
        if (!any) continue;  /* masked (or padding) slot: skip reading it */
        load_row(row, J->v, kv0 + (long)s * hd, hd, J->kvbf);
        for (int i = 0; i < R; i++) {
            float pr = sc[(long)i * S + s];
            float *ar = acc + (long)i * hd;
            #pragma omp simd
            for (int d = 0; d < hd; d++) ar[d] += pr * row[d];
        }
    }
    for (int i = 0; i < R; i++) {
        int r = r0 + i, t = r / group, h = g * group + r % group;
        long o = ((long)b * J->T + t) * J->nh * hd + (long)h * hd;
        for (int d = 0; d < hd; d++) {
            float x = acc[(long)i * hd + d];
            if (J->bf) ((uint16_t *)J->out)[o + d] = f32_to_bf16(x); else ((float *)J->out)[o + d] = x;
        }
    }
    free(qf);
}

/* Attention of T (few) queries per sequence against the KV cache. Heads that share a KV head
   (MQA: all of them) are processed together, so each cached row is read once per task.
   q[b, h, t, d] at q + b*qsb + h*qsh + t*qst + d; k, v: (B, n_kv, S, hd) contiguous;
   mask[b, t, s] (uint8, 1 = attend) at mask + b*msb + t*mst + s; out: (B, T, nh*hd) contiguous.
   Softmax in fp32; an all-masked row gives zeros. Long caches split the rows over threads. */
int sc_attention(int B, int nh, int n_kv, int T, int S, int hd, const void *q, long qsb, long qsh, long qst,
                 const void *k, const void *v, const uint8_t *mask, long msb, long mst, void *out, int bf,
                 int kvbf, float scale, int threads) {
    int rows = (nh / n_kv) * T;
    int n_chunks = 1;
    if ((long)B * n_kv < threads && (long)S * rows * hd > 100000) n_chunks = threads < rows ? threads : rows;
    attn_job J = {B, nh, n_kv, T, S, hd, bf, kvbf, rows, (rows + n_chunks - 1) / n_chunks, n_chunks,
                  q, k, v, qsb, qsh, qst, msb, mst, mask, out, scale};
    int tasks = B * n_kv * n_chunks;
    parallel_for(tasks, attn_task, &J, (long)S * rows * hd * B * n_kv > 100000 ? threads : 1);
    return 0;
}

/* x_bf16 / y_bf16: activations in bfloat16 instead of fp32; act: 0 none, 1 gelu (tanh), 2 gelu (erf),
   3 relu, 4 silu, applied after the bias. */
int sc_gemv(int M, int N, int K, const void *x, int x_bf16, const void *W, int wtype, const float *scale,
            const float *bias, int act, void *y, int y_bf16, int threads) {
    float *xf = (float *)x, *yf = (float *)y, *tmp = NULL;
    if (x_bf16 || y_bf16) {
        tmp = (float *)malloc(sizeof(float) * ((x_bf16 ? (long)M * K : 0) + (y_bf16 ? (long)M * N : 0)));
        if (!tmp) return 1;
        if (x_bf16) { xf = tmp; for (long i = 0; i < (long)M * K; i++) xf[i] = bf16_to_f32(((const uint16_t *)x)[i]); }
        if (y_bf16) yf = tmp + (x_bf16 ? (long)M * K : 0);
    }
    gemv_job job = {M, N, K, wtype, act, xf, scale, bias, W, yf};
    parallel_for((N + 63) / 64, gemv_chunk, &job, threads);
    if (y_bf16) for (long i = 0; i < (long)M * N; i++) ((uint16_t *)y)[i] = f32_to_bf16(yf[i]);
    free(tmp);
    return 0;
}

typedef struct {
    int C, nh, n_kv, hd, inner, wtype, kv_bf16, act, S, multi_query;
    float eps, scale;
} dims_t;

typedef struct {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const void *w[4];      /* c_attn, attn.c_proj, c_fc, mlp.c_proj */
    const float *s[4];     /* per-row scales (int8) or NULL */
    const float *b[4];     /* fp32 biases or NULL */
    void *k_cache, *v_cache;  /* (B, n_kv, S, hd) */
} layer_t;

static void layernorm(int M, int C, const float *x, const float *w, const float *b, float eps, float *y) {
    for (int m = 0; m < M; m++) {
        const float *xm = x + (long)m * C;
        float mean = 0.f, var = 0.f;
        for (int c = 0; c < C; c++) mean += xm[c];
        mean /= C;
        for (int c = 0; c < C; c++) { float d = xm[c] - mean; var += d * d; }
        float inv = 1.f / sqrtf(var / C + eps);
        for (int c = 0; c < C; c++) y[(long)m * C + c] = (xm[c] - mean) * inv * w[c] + b[c];
    }
}

/* One decode step (one new token per sequence, B sequences) through n_layer blocks, in place on the
   fp32 residual stream x (B, C). The new keys/values go to cache slot `slot`; mask (B, S) uint8. */
int sc_decode_layers(const dims_t *d, const layer_t *layers, int n_layer, float *x, int B, const uint8_t *mask,
                     int slot, int threads) {
    const int C = d->C, hd = d->hd, kvw = d->n_kv * hd, qkvw = C + 2 * kvw;
    float *buf = (float *)malloc(sizeof(float) * ((long)B * C * 3 + (long)B * qkvw + (long)B * d->inner));
    if (!buf) return 1;
    float *h = buf, *att = h + (long)B * C, *tmp = att + (long)B * C, *qkv = tmp + (long)B * C, *f = qkv + (long)B * qkvw;
    for (int l = 0; l < n_layer; l++) {
        const layer_t *L = layers + l;
        layernorm(B, C, x, L->ln1_w, L->ln1_b, d->eps, h);
        sc_gemv(B, qkvw, C, h, 0, L->w[0], d->wtype, L->s[0], L->b[0], 0, qkv, 0, threads);
        /* split q | k | v (MQA) or per head (q, k, v) (MHA); write k, v to the cache */
        for (int b = 0; b < B; b++) {
            const float *r = qkv + (long)b * qkvw;
            for (int g = 0; g < d->n_kv; g++) {
                const float *kr = d->multi_query ? r + C : r + (long)g * 3 * hd + hd;
                const float *vr = kr + hd;
                long o = (((long)b * d->n_kv + g) * d->S + slot) * hd;
                for (int e = 0; e < hd; e++) {
                    if (d->kv_bf16) {
                        ((uint16_t *)L->k_cache)[o + e] = f32_to_bf16(kr[e]);
                        ((uint16_t *)L->v_cache)[o + e] = f32_to_bf16(vr[e]);
                    } else {
                        ((float *)L->k_cache)[o + e] = kr[e];
                        ((float *)L->v_cache)[o + e] = vr[e];
                    }
                }
            }
        }
        /* q[b, h, 0, e]: MQA at qkv[b, h*hd + e]; MHA at qkv[b, h*3*hd + e] */
        long qsh = d->multi_query ? hd : 3L * hd;
        sc_attention(B, d->nh, d->n_kv, 1, d->S, hd, qkv, qkvw, qsh, 0, L->k_cache, L->v_cache, mask, d->S, 0,
                     att, 0, d->kv_bf16, d->scale, threads);
        sc_gemv(B, C, C, att, 0, L->w[1], d->wtype, L->s[1], L->b[1], 0, tmp, 0, threads);
        for (long i = 0; i < (long)B * C; i++) x[i] += tmp[i];
        layernorm(B, C, x, L->ln2_w, L->ln2_b, d->eps, h);
        sc_gemv(B, d->inner, C, h, 0, L->w[2], d->wtype, L->s[2], L->b[2], d->act, f, 0, threads);
        sc_gemv(B, C, d->inner, f, 0, L->w[3], d->wtype, L->s[3], L->b[3], 0, tmp, 0, threads);
        for (long i = 0; i < (long)B * C; i++) x[i] += tmp[i];
    }
    free(buf);
    return 0;
}
"""

_lib = None
_tried = False
_threads: int | None = None  # set while a DecodePlan step runs torch single-threaded


def threads() -> int:
    return _threads or torch.get_num_threads()


def _cache_dir() -> Path:
    return Path(os.environ.get("STARCODER_CACHE", Path.home() / ".cache" / "starcoder")) / "kernels"


def _cpu_id() -> str:
    try:
        flags = next(l for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    return flags


def library():
    """The compiled kernel library (ctypes), or None when kernels are off or cannot be built."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("STARCODER_KERNELS", "1") == "0":
        return None
    key = hashlib.sha256((_SOURCE + _cpu_id() + sys.platform).encode()).hexdigest()[:16]
    so = _cache_dir() / f"gemv-{key}.so"
    try:
        if not so.is_file():
            so.parent.mkdir(parents=True, exist_ok=True)
            tmp = compile_library(so.with_name(f"{so.name}.{os.getpid()}.tmp"))
            os.replace(tmp, so)  # atomic: concurrent builders never see a partial file
        _lib = load_library(so)
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        warnings.warn(f"starcoder: CPU decode kernels unavailable ({e} {detail.decode(errors='replace')[:300]}); "
                      f"using plain torch ops (slower decoding). Install a C compiler (gcc) to enable them.")
    return _lib


def compile_library(out: Path, march: str = "native") -> Path:
    """Compile the kernels into the shared library `out` for `-march=<march>`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "gemv.c"
        src.write_text(_SOURCE)
        cc = os.environ.get("CC", "cc")
        subprocess.run([cc, "-O3", f"-march={march}", "-fopenmp-simd", "-pthread", "-shared", "-fPIC", str(src),
                        "-o", str(out), "-lm"], check=True, capture_output=True, timeout=120)
    return out


def load_library(so: Path):
    """ctypes handle of a compiled kernel library with its signatures declared."""
    lib = ctypes.CDLL(str(so))
    i, p, l = ctypes.c_int, ctypes.c_void_p, ctypes.c_long
    lib.sc_gemv.restype = ctypes.c_int
    lib.sc_gemv.argtypes = [i, i, i, p, i, p, i, p, p, i, p, i, i]
    lib.sc_attention.restype = ctypes.c_int
    lib.sc_attention.argtypes = [i, i, i, i, i, i, p, l, l, l, p, p, p, l, l, p, i, i, ctypes.c_float, i]
    lib.sc_decode_layers.restype = ctypes.c_int
    lib.sc_decode_layers.argtypes = [p, p, i, p, i, p, i, i]
    return lib


ACTIVATIONS = {"gelu_pytorch_tanh": 1, "gelu_new": 1, "gelu_fast": 1, "gelu": 2, "relu": 3, "silu": 4}


class _Fast:
    """A Linear-like module's decode path: C kernel for <= MAX_ROWS rows, the original forward otherwise."""

    def __init__(self, module: nn.Module, lib, weight_of, scale_of, bias_of):
        self.module, self.lib = module, lib
        self.original = module.forward
        self.weight_of, self.scale_of, self.bias_of = weight_of, scale_of, bias_of
        self._key = None

    def _refresh(self, w, s, b, key):
        # fp32 copies of the (small) scale and bias vectors, rebuilt whenever the tensors are replaced
        self._scale = None if s is None else s.detach().float().contiguous()
        self._bias = None if b is None else b.detach().float().contiguous()
        self._wtype = {torch.float32: W_F32, torch.bfloat16: W_BF16, torch.int8: W_I8}.get(w.dtype)
        self._key = key

    def usable(self, x) -> bool:
        rows = x.numel() // x.shape[-1] if x.dim() else 0
        w = self.weight_of()
        return (0 < rows <= MAX_ROWS and x.dtype in (torch.float32, torch.bfloat16) and x.device.type == "cpu"
                and w.device.type == "cpu" and w.is_contiguous() and w.dim() == 2 and w.shape[1] == x.shape[-1]
                and not (torch.is_grad_enabled() and (w.requires_grad or x.requires_grad)))

    def run(self, x, act: int = 0):
        w, s, b = self.weight_of(), self.scale_of(), self.bias_of()
        key = (w.data_ptr(), w.dtype, None if s is None else s.data_ptr(), None if b is None else b.data_ptr())
        if self._key != key:
            self._refresh(w, s, b, key)
        x = x.contiguous()
        N, K = w.shape
        y = torch.empty(*x.shape[:-1], N, dtype=x.dtype)
        bf = x.dtype == torch.bfloat16
        self.lib.sc_gemv(x.numel() // K, N, K, x.data_ptr(), bf, w.data_ptr(), self._wtype,
                         None if self._scale is None else self._scale.data_ptr(),
                         None if self._bias is None else self._bias.data_ptr(), act, y.data_ptr(), bf,
                         threads())
        return y

    def __call__(self, x):
        if not self.usable(x) or self.weight_of().dtype not in (torch.float32, torch.bfloat16, torch.int8):
            return self.original(x)
        return self.run(x)


class _FastMLP:
    """c_fc with the activation fused into the kernel, then c_proj (dropout is off in eval mode)."""

    def __init__(self, mlp: nn.Module, act: int):
        self.mlp, self.act, self.original = mlp, act, mlp.forward

    def __call__(self, x):
        fc, proj = self.mlp.c_fc.forward, self.mlp.c_proj.forward
        if self.mlp.training or not isinstance(fc, _Fast) or not fc.usable(x):
            return self.original(x)
        return proj(fc.run(x, self.act))


class _FastAttention:
    """Replaces Attention._few_query_attention (decode) with the C kernel; returns (B, nh, T, hd)."""

    def __init__(self, attn: nn.Module, lib):
        self.attn, self.lib, self.original = attn, lib, attn._few_query_attention

    def __call__(self, q, k, v, mask):
        B, nh, T, hd = q.shape
        if (q.dtype not in (torch.float32, torch.bfloat16) or k.dtype != q.dtype or v.dtype != q.dtype
                or q.stride(3) != 1 or not (k.is_contiguous() and v.is_contiguous()) or mask.dtype != torch.bool
                or mask.dim() != 4 or mask.shape[1] != 1 or mask.stride(3) != 1 or q.device.type != "cpu"):
            return self.original(q, k, v, mask)
        n_kv, S = k.shape[1], k.shape[2]
        mask = mask.expand(B, 1, T, S)
        out = torch.empty(B, T, nh * hd, dtype=q.dtype)
        self.lib.sc_attention(B, nh, n_kv, T, S, hd, q.data_ptr(), q.stride(0), q.stride(1), q.stride(2),
                              k.data_ptr(), v.data_ptr(), mask.data_ptr(), mask.stride(0), mask.stride(2),
                              out.data_ptr(), q.dtype == torch.bfloat16, q.dtype == torch.bfloat16,
                              float(self.attn.scale), threads())
        return out.view(B, T, nh, hd).transpose(1, 2)


def accelerate(model: nn.Module) -> int:
    """Give `model` the kernel decode paths in place: every Linear-like module, the MLPs (fused
    activation) and the attention's few-query path. Parameter names and state_dict are unchanged.
    Returns how many modules were patched (0 without kernels)."""
    from starcoder.model import MLP, Attention
    from starcoder.quantize import Int8Linear, TiedInt8Head

    lib = library()
    if lib is None:
        return 0
    act = ACTIVATIONS.get(getattr(getattr(model, "config", None), "activation_function", None))
    n = 0
    for module in model.modules():
        if isinstance(module.__dict__.get("forward"), (_Fast, _FastMLP)):
            continue
        if isinstance(module, (nn.Linear, Int8Linear)):
            m = module
            module.forward = _Fast(m, lib, lambda m=m: m.weight, lambda m=m: getattr(m, "weight_scale", None),
                                   lambda m=m: m.bias)
        elif isinstance(module, TiedInt8Head):
            e = module.embedding
            module.forward = _Fast(module, lib, lambda e=e: e.weight, lambda e=e: e.weight_scale, lambda: None)
        else:
            continue
        n += 1
    for module in model.modules():
        if isinstance(module, MLP) and act is not None and not isinstance(module.__dict__.get("forward"), _FastMLP):
            module.forward = _FastMLP(module, act)
            n += 1
        if isinstance(module, Attention) and "_few_query_attention" not in module.__dict__:
            module._few_query_attention = _FastAttention(module, lib)
            n += 1
    return n


def restore(model: nn.Module) -> None:
    """Undo `accelerate`: every module runs its own torch code again."""
    for module in model.modules():
        if isinstance(module.__dict__.get("forward"), (_Fast, _FastMLP)):
            del module.forward
        if isinstance(module.__dict__.get("_few_query_attention"), _FastAttention):
            del module._few_query_attention


class _Dims(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("C", "nh", "n_kv", "hd", "inner", "wtype", "kv_bf16", "act", "S",
                                            "multi_query")] + [("eps", ctypes.c_float), ("scale", ctypes.c_float)]


class _Layer(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("ln1_w", "ln1_b", "ln2_w", "ln2_b")] + [
        ("w", ctypes.c_void_p * 4), ("s", ctypes.c_void_p * 4), ("b", ctypes.c_void_p * 4),
        ("k_cache", ctypes.c_void_p), ("v_cache", ctypes.c_void_p)]


_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


class DecodePlan:
    """One decode step through all transformer blocks in a single C call (no per-op Python).

    The residual stream stays in fp32; weights are read in their stored dtype (fp32, bf16 or int8
    with per-row scales); the new keys/values are written to the engine's cache in its dtype.
    `DecodePlan.build(model)` returns None when the model has a layout the kernel does not cover.
    """

    def __init__(self, model, lib, wtype: int, act: int):
        self.model, self.lib, self.wtype, self.act = model, lib, wtype, act
        self._layers_key = None
        self._prepare()

    @classmethod
    def build(cls, model) -> "DecodePlan | None":
        from starcoder.model import GPTBigCode
        from starcoder.quantize import Int8Linear

        if not isinstance(model, GPTBigCode) or model.training:
            return None
        lib = library()
        act = ACTIVATIONS.get(model.config.activation_function)
        if lib is None or act is None:
            return None
        dtypes = set()
        for block in model.transformer.h:
            for name in _LINEARS:
                m = block.get_submodule(name)
                if type(m) not in (nn.Linear, Int8Linear) or m.weight.device.type != "cpu" or not m.weight.is_contiguous():
                    return None
                dtypes.add(m.weight.dtype)
        wtype = {torch.float32: W_F32, torch.bfloat16: W_BF16, torch.int8: W_I8}.get(dtypes.pop()) if len(dtypes) == 1 else None
        return None if wtype is None else cls(model, lib, wtype, act)

    def _key(self):
        return tuple(block.get_submodule(n).weight.data_ptr() for block in self.model.transformer.h for n in _LINEARS)

    def _prepare(self):
        f32 = lambda t: None if t is None else t.detach().float().contiguous()  # noqa: E731
        self._keep, self._static = [], []
        for block in self.model.transformer.h:
            mods = [block.get_submodule(n) for n in _LINEARS]
            entry = dict(ln=[f32(block.ln_1.weight), f32(block.ln_1.bias), f32(block.ln_2.weight), f32(block.ln_2.bias)],
                         w=[m.weight for m in mods], s=[f32(getattr(m, "weight_scale", None)) for m in mods],
                         b=[f32(m.bias) for m in mods])
            self._static.append(entry)
        self._weights_key = self._key()
        self._layers_key = None

    def check(self) -> None:
        """Re-read the weights if they were replaced since the plan was made (call once per request)."""
        if self._key() != self._weights_key:
            self._prepare()

    def _layers(self, caches):
        key = tuple((c.k.data_ptr(), c.v.data_ptr()) for c in caches)  # a new cache may reuse old addresses
        if self._layers_key == key:
            return self._layer_array
        ptr = lambda t: None if t is None else t.data_ptr()  # noqa: E731
        arr = (_Layer * len(self._static))()
        for L, e, c in zip(arr, self._static, caches):
            L.ln1_w, L.ln1_b, L.ln2_w, L.ln2_b = (ptr(t) for t in e["ln"])
            for i in range(4):
                L.w[i], L.s[i], L.b[i] = ptr(e["w"][i]), ptr(e["s"][i]), ptr(e["b"][i])
            L.k_cache, L.v_cache = c.k.data_ptr(), c.v.data_ptr()
        self._layer_array, self._layers_key = arr, key
        return arr

    def step(self, ids, pos, caches, slot: int, mask, sample=None):
        """ids, pos (B, 1); mask (B, 1, 1, S) bool -> logits (B, vocab) of the next token, or
        `sample(logits)` when given.

        The few torch ops of a step (embedding, final norm, sampling) run single-threaded: their
        tensors are small, and a woken torch worker thread would spin on the core the kernels'
        helper thread needs (measured: 60 -> 100 tokens/s for int8 on 2 cores).
        """
        global _threads
        n = torch.get_num_threads()
        _threads = n
        torch.set_num_threads(1)
        try:
            logits = self._step(ids, pos, caches, slot, mask, n)
            return logits if sample is None else sample(logits)
        finally:
            torch.set_num_threads(n)
            _threads = None

    def _step(self, ids, pos, caches, slot, mask, n_threads):
        model, cfg = self.model, self.model.config
        t = model.transformer
        B = ids.shape[0]
        x0 = t.wte(ids) + t.wpe(pos)  # (B, 1, C) in the model's dtype
        x = x0.reshape(B, cfg.n_embd).float().contiguous()
        k = caches[0].k
        dims = _Dims(cfg.n_embd, cfg.n_head, cfg.n_kv_heads, cfg.head_dim, cfg.inner_dim, self.wtype,
                     int(k.dtype == torch.bfloat16), self.act, k.shape[2], int(cfg.multi_query),
                     float(t.h[0].ln_1.eps), float(t.h[0].attn.scale))
        m = mask.reshape(B, -1).contiguous()
        rc = self.lib.sc_decode_layers(ctypes.byref(dims), self._layers(caches), len(self._static), x.data_ptr(), B,
                                       m.data_ptr(), slot, n_threads)
        if rc:
            raise MemoryError("decode kernel could not allocate its scratch buffers")
        return model.lm_head(t.ln_f(x.to(x0.dtype).view(B, 1, -1)))[:, -1]
