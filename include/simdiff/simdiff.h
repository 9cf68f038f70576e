/*
 * libsimdiff — train and sample pixel-space diffusion models ("simple
 * diffusion") on the CPU, with oneDNN.
 *
 * The umbrella header: include this one. Each area has its own header,
 * mirrored by a folder under lib/:
 *   core.h       versions, status codes, errors, threads, runtime info
 *   schedule.h   noise schedules (cosine, shifted, interpolated), v/eps/x helpers
 *   io.h         PNG/NPY writers, IDX/NPY datasets (batches, shuffling, flips)
 *   model.h      U-Net / U-ViT models: config, create, load/save, forward
 *   train.h      AdamW + EMA optimizer, the training step, checkpoints
 *   distill.h    progressive distillation (few-step students, guidance folded in)
 *   sampler.h    DDPM / DDIM / DPM-Solver++(2M) sampling, guidance, callbacks
 *   text.h       the built-in word tokenizer and text encoder (prompts)
 */
#ifndef SIMDIFF_SIMDIFF_H
#define SIMDIFF_SIMDIFF_H

#include "simdiff/core.h"
#include "simdiff/schedule.h"
#include "simdiff/io.h"
#include "simdiff/model.h"
#include "simdiff/train.h"
#include "simdiff/distill.h"
#include "simdiff/sampler.h"
#include "simdiff/text.h"

#endif /* SIMDIFF_SIMDIFF_H */
