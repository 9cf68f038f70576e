/*
 * Differentiable ops (internal). Each op computes its output into the step
 * arena, records a tape node when a gradient is needed (sd_record), and has
 * its backward function next to it in the same file.
 *
 * Conventions (all ops):
 *  - float32, row-major; images NCHW, token sequences (N, T, D);
 *  - return NULL on failure with the ctx status set (see tensor.h); shape
 *    errors give SIMDIFF_ERR_INVALID_ARG with the shapes in the message;
 *  - semantics match the PyTorch function named in each comment (the
 *    fixtures in tests/fixtures/ops are made with it);
 *  - inputs are never modified; outputs never alias inputs except where
 *    noted (views).
 *
 * Files: conv.c (conv, transposed conv), matmul.c (linear, batched matmul,
 * softmax, attention), norm.c (group/layer norm, modulate), eltwise.c
 * (activations, add/mul/affine, reductions), shape.c (views, concat, slice,
 * permute, pool, upsample, space/depth), dwt.c (5/3 wavelet), random.c
 * (dropout), embed.c (embedding lookup).
 */
#ifndef SIMDIFF_LIB_OPS_H
#define SIMDIFF_LIB_OPS_H

#include "tensor/tensor.h"

/* Activations that fused ops apply to their output (sd_linear_fused,
 * sd_conv2d_fused, sd_group_norm_act): none, sd_gelu, sd_silu. */
enum { SD_ACT_NONE = 0, SD_ACT_GELU = 1, SD_ACT_SILU = 2 };

/* ---- convolution (oneDNN) ---------------------------------------------- */
/* x (N,Ci,H,W), w (Co,Ci,K,K), b (Co) or NULL -> (N,Co,Ho,Wo),
 * Ho = (H + 2*pad - K)/stride + 1.  torch.nn.functional.conv2d */
sd_tensor *sd_conv2d(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b,
                     int stride, int pad);
/* act(conv2d(x, w, b)) + r: act an SD_ACT_*, r NULL or the output's shape
 * (a residual). One oneDNN convolution with the activation and the sum as
 * post-ops (no separate passes over the output, no tensor for the bare
 * conv output) when no gradient is recorded, and in training too when act
 * is SD_ACT_NONE (the sum's backward is exact: dr += dy next to the
 * conv's own backward). With an activation and a gradient to record it is
 * sd_conv2d, the activation op and sd_add(r, .): their backward needs the
 * pre-activation, which a post-op does not keep. */
sd_tensor *sd_conv2d_fused(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b,
                           int stride, int pad, int act, sd_tensor *r);
/* x (N,Ci,H,W), w (Ci,Co,K,K) (PyTorch's layout), b (Co) or NULL ->
 * (N,Co,(H-1)*stride - 2*pad + K, ...).  torch.nn.functional.conv_transpose2d */
sd_tensor *sd_conv_transpose2d(sd_ctx *c, sd_tensor *x, sd_tensor *w,
                               sd_tensor *b, int stride, int pad);
/* Layout and algorithm policy of both (process-wide; set it before
 * building graphs, e.g. from benchmarks and tests; ops read it per forward
 * call and their backward uses the same).
 *  BLOCKED (default): primitives choose their layouts (format_tag_any),
 *    direct algorithm; the op reorders x, w, y and the gradients around
 *    them. AVX-512 direct kernels, 1.3-2.4x faster than PLAIN here.
 *  PLAIN: nchw/oihw/iohw primitives (gemm-based), no reorders.
 *  WINOGRAD: as BLOCKED, but 3x3 stride-1 conv2d (not transposed) uses
 *    oneDNN's Winograd F(4x4,3x3) where the CPU has it (AVX-512), else
 *    direct. ~1.6x faster forward and backward data, 1.1-1.5x backward
 *    weights; relative error ~2e-6 instead of ~3e-7 of the output scale. */
enum { SD_CONV_BLOCKED = 0, SD_CONV_PLAIN = 1, SD_CONV_WINOGRAD = 2 };
void sd_conv_set_policy(int policy);

/* ---- matrix products (oneDNN) ------------------------------------------ */
/* x (..., I), w (O, I), b (O) or NULL -> (..., O).  F.linear */
sd_tensor *sd_linear(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b);
/* act(F.linear(x, w, b)) + r: act SD_ACT_NONE, SD_ACT_GELU (sd_gelu) or
 * SD_ACT_SILU (sd_silu); r NULL or the output's shape (a residual). When no
 * gradient is recorded (grad off, or no input needs one) this is one oneDNN
 * matmul with the activation and the sum as post-ops (inference: no
 * separate passes over the output); otherwise exactly sd_linear, the
 * activation op and sd_add(r, .) (their backward needs the intermediate
 * values). */
sd_tensor *sd_linear_fused(sd_ctx *c, sd_tensor *x, sd_tensor *w, sd_tensor *b, int act,
                           sd_tensor *r);
/* a (B,M,K) (or (B,K,M) if trans_a), b (B,K,N) (or (B,N,K) if trans_b)
 * -> alpha * a @ b, (B,M,N). Rank-3 only; B may be 1 (no broadcasting: both
 * have the same B).  torch.bmm */
sd_tensor *sd_matmul(sd_ctx *c, sd_tensor *a, sd_tensor *b, int trans_a,
                     int trans_b, float alpha);
/* Multi-head scaled dot-product attention: q, k, v (N,T,D) with D = heads*Dh
 * -> (N,T,D): per head softmax(q k^T / sqrt(Dh)) v, heads split as
 * D = (heads, Dh) (head-major).  Built from matmul + softmax primitives.
 * = F.scaled_dot_product_attention on q.view(N,T,heads,Dh).transpose(1,2)
 * k and v may have their own token count S, (N,S,D) (cross-attention).
 * q, k, v may be the same tensor. Keeps the (N,heads,T,S) probabilities in
 * the arena for backward. */
sd_tensor *sd_attention(sd_ctx *c, sd_tensor *q, sd_tensor *k, sd_tensor *v,
                        int heads);
/* sd_attention with a key mask: example i attends to its first kv_len[i]
 * keys only (1 <= kv_len[i] <= S, else SIMDIFF_ERR_INVALID_ARG; kv_len NULL:
 * all S). The probabilities of the other keys are exactly 0, so their k
 * and v get exactly zero gradient and their values never reach the output.
 * = F.scaled_dot_product_attention with attn_mask[i, :, :, j] = j < kv_len[i].
 * kv_len is copied. sd_attention is this op with kv_len NULL. */
sd_tensor *sd_attention_masked(sd_ctx *c, sd_tensor *q, sd_tensor *k, sd_tensor *v,
                               int heads, const int *kv_len);
/* sd_attention runs the batch in chunks whose (chunk,heads,T,S) score block
 * fits this many bytes (0: the default, 4 MiB), so that it stays in cache.
 * Process-wide, for tests and benchmarks; changes speed and memory, not
 * results (beyond float rounding). */
void sd_attention_set_chunk_bytes(int64_t bytes);

/* ---- normalization ----------------------------------------------------- */
/* x (N,C,...) -> normalized over (C/G, ...) per (n, g); gamma, beta (C) or
 * NULL (each on its own). groups must divide C; eps >= 0, inside the sqrt:
 * (x - mean) / sqrt(var + eps), var biased (as PyTorch and oneDNN).
 * F.group_norm(x, groups, gamma, beta, eps) */
sd_tensor *sd_group_norm(sd_ctx *c, sd_tensor *x, int groups, sd_tensor *gamma,
                         sd_tensor *beta, float eps);
/* act(group_norm(x, groups, gamma, beta, eps) * (1 + scale) + shift) in one
 * pass over the output: scale, shift (N,C) or NULL (each on its own),
 * broadcast over the spatial dims as sd_modulate(., scale, shift, 1) does;
 * act SD_ACT_NONE or SD_ACT_SILU (anything else: SIMDIFF_ERR_INVALID_ARG).
 * = F.silu(F.group_norm(x, G, gamma, beta, eps) * (1 + scale[:, :, None,
 * None]) + shift[:, :, None, None]). For backward it keeps only mean and
 * 1/std per (n, group) and reads x again: no normalized, modulated or
 * pre-activation copy of x (the unfused chain keeps one per op).
 * sd_group_norm is this op without scale, shift and act. */
sd_tensor *sd_group_norm_act(sd_ctx *c, sd_tensor *x, int groups, sd_tensor *gamma,
                             sd_tensor *beta, sd_tensor *scale, sd_tensor *shift, int act,
                             float eps);
/* x (..., D) normalized over the last dim; gamma, beta (D) or NULL (each on
 * its own); eps as in group norm.  F.layer_norm(x, (D,), gamma, beta, eps) */
sd_tensor *sd_layer_norm(sd_ctx *c, sd_tensor *x, sd_tensor *gamma,
                         sd_tensor *beta, float eps);
/* Per-sample adaptive scale/shift from a conditioning vector:
 * out = x * (1 + scale) + shift, scale/shift (N,C) broadcast over the other
 * dims; axis = 1 for (N,C,H,W), axis = 2 for tokens (N,T,C). shift may be
 * NULL. In general axis is the channel axis, 1..ndim-1, C = x->shape[axis]
 * (axis = ndim-1: channels last). */
sd_tensor *sd_modulate(sd_ctx *c, sd_tensor *x, sd_tensor *scale,
                       sd_tensor *shift, int axis);
/* softmax over the last dim.  F.softmax(x, -1) */
sd_tensor *sd_softmax(sd_ctx *c, sd_tensor *x);

/* ---- elementwise ------------------------------------------------------- */
sd_tensor *sd_silu(sd_ctx *c, sd_tensor *x);  /* F.silu */
sd_tensor *sd_gelu(sd_ctx *c, sd_tensor *x);  /* F.gelu (exact, erf)  */
/* Broadcasting (numpy rules: shapes right-aligned, dims equal or 1). */
sd_tensor *sd_add(sd_ctx *c, sd_tensor *a, sd_tensor *b);
sd_tensor *sd_mul(sd_ctx *c, sd_tensor *a, sd_tensor *b);
/* alpha * x + beta (scalars) */
sd_tensor *sd_affine(sd_ctx *c, sd_tensor *x, float alpha, float beta);

/* ---- reductions -------------------------------------------------------- */
sd_tensor *sd_mean(sd_ctx *c, sd_tensor *x);                /* scalar (1) */
sd_tensor *sd_sum(sd_ctx *c, sd_tensor *x);                 /* scalar (1) */
/* mean((a - b)^2) over all elements; b may be a constant (no grad). */
sd_tensor *sd_mse(sd_ctx *c, sd_tensor *a, sd_tensor *b);

/* ---- shape ------------------------------------------------------------- */
/* Same data, new shape (numel must match; one dim may be -1). A view: the
 * output shares x's data (not its gradient buffer). */
sd_tensor *sd_reshape(sd_ctx *c, sd_tensor *x, int ndim, const int64_t *shape);
/* x.permute(perm) made contiguous; perm has x->ndim entries. */
sd_tensor *sd_permute(sd_ctx *c, sd_tensor *x, const int *perm);
/* torch.cat([a, b], dim=axis); axis may be negative (as in PyTorch). */
sd_tensor *sd_concat(sd_ctx *c, sd_tensor *a, sd_tensor *b, int axis);
/* x.narrow(axis, start, len) made contiguous; axis may be negative,
 * 0 <= start <= start + len <= x->shape[axis]. */
sd_tensor *sd_slice(sd_ctx *c, sd_tensor *x, int axis, int64_t start,
                    int64_t len);
/* 2x2 average pooling, stride 2 (N,C,H,W) -> (N,C,H/2,W/2). F.avg_pool2d(x,2) */
sd_tensor *sd_avg_pool2(sd_ctx *c, sd_tensor *x);
/* s x s average pooling, stride s.  F.avg_pool2d(x, s): H, W need not be
 * multiples of s (trailing rows/columns are dropped), but must be >= s. */
sd_tensor *sd_avg_pool(sd_ctx *c, sd_tensor *x, int s);
/* nearest x2 upsampling.  F.interpolate(x, scale_factor=2, mode='nearest') */
sd_tensor *sd_upsample2(sd_ctx *c, sd_tensor *x);
/* (N,C,H,W) -> (N,C*b*b,H/b,W/b), channel c*b*b + i*b + j at (h, w) is
 * x[c, h*b + i, w*b + j].  F.pixel_unshuffle(x, b) */
sd_tensor *sd_space_to_depth(sd_ctx *c, sd_tensor *x, int b);
/* (N,C*b*b,H,W) -> (N,C,H*b,W*b).  F.pixel_shuffle(x, b) */
sd_tensor *sd_depth_to_space(sd_ctx *c, sd_tensor *x, int b);

/* ---- wavelet ----------------------------------------------------------- */
/* 5/3 (LeGall) DWT over `levels` levels: (N,C,H,W) -> (N,C*4^L,H/2^L,W/2^L).
 * Layout and boundary handling: docs/architecture.md ("DWT stem") and the
 * top of dwt.c. L >= 1; H and W multiples of 2^L. idwt53 is its exact
 * inverse (N,C*4^L,h,w) -> (N,C,h*2^L,w*2^L). */
sd_tensor *sd_dwt53(sd_ctx *c, sd_tensor *x, int levels);
sd_tensor *sd_idwt53(sd_ctx *c, sd_tensor *y, int levels);
/* The same with unit-variance bands (1 <= levels <= 8): dwt53_unit divides
 * every output channel by its std on white noise of variance 1
 * (sd_dwt53_band_std), idwt53_unit multiplies by it before idwt53, so the
 * pair is still an exact inverse. */
sd_tensor *sd_dwt53_unit(sd_ctx *c, sd_tensor *x, int levels);
sd_tensor *sd_idwt53_unit(sd_ctx *c, sd_tensor *y, int levels);
/* std[0 .. C*4^L): the std of each dwt53 output channel on white noise of
 * variance 1 (interior coefficients; closed form from the filters). -1 if
 * levels is not in 1..8 or C < 1. */
int sd_dwt53_band_std(int64_t C, int levels, float *std);

/* ---- randomness and lookup --------------------------------------------- */
/* Inverted dropout with probability p in [0, 1) when the ctx is in training
 * mode: kept elements are scaled by 1/(1-p). Otherwise, or when p == 0, it
 * returns x itself (no copy, no tape node, no rng stream). The mask comes
 * from the ctx rng stream (sd_ctx_next_rng_stream), element index as the
 * counter: independent of threads, reproducible by sd_ctx_set_rng. */
sd_tensor *sd_dropout(sd_ctx *c, sd_tensor *x, float p);
/* table (V,D), ids: n ints in [0,V) -> (n,D).  F.embedding. An id out of
 * range is SIMDIFF_ERR_INVALID_ARG. ids are copied (the caller's array need
 * not outlive the call). */
sd_tensor *sd_embedding(sd_ctx *c, sd_tensor *table, int n, const int *ids);

#endif
