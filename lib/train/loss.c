/* The diffusion training loss as differentiable ops (MISSION.md §2.3):
 * ε-MSE from a v-prediction (default), v-MSE, and the multiscale ε loss. */
#include "ops/ops.h"
#include "train/train_internal.h"

sd_tensor *sd_per_example(sd_ctx *c, int n, const double *v, double scale)
{
    sd_tensor *t = sd_new(c, 4, (int64_t[]){n, 1, 1, 1});
    if (t)
        for (int i = 0; i < n; i++)
            t->data[i] = (float)(v[i] * scale);
    return t;
}

sd_tensor *sd_diffusion_loss(sd_ctx *c, simdiff_loss kind, int base,
                             simdiff_prediction pred_kind, sd_tensor *pred,
                             sd_tensor *z, sd_tensor *x, sd_tensor *eps,
                             const double *alpha, const double *sigma)
{
    if (!pred || !z || !x || !eps)
        return NULL;
    int n = (int)z->shape[0];
    sd_tensor *a = sd_per_example(c, n, alpha, 1), *s = sd_per_example(c, n, sigma, 1);
    if (kind == SIMDIFF_LOSS_V) {
        /* target v = α ε − σ x; prediction v̂ (or, from ε̂, (ε̂ − σ z)/α). */
        sd_tensor *v = sd_add(c, sd_mul(c, a, eps), sd_mul(c, sd_affine(c, s, -1, 0), x));
        sd_tensor *vh = pred;
        if (pred_kind == SIMDIFF_PRED_EPS) {
            sd_tensor *inv_a = sd_new(c, 4, (int64_t[]){n, 1, 1, 1});
            if (!inv_a)
                return NULL;
            for (int i = 0; i < n; i++)
                inv_a->data[i] = (float)(1.0 / alpha[i]);
            vh = sd_mul(c, sd_add(c, pred, sd_mul(c, sd_affine(c, s, -1, 0), z)), inv_a);
        }
        return sd_mse(c, vh, v);
    }
    /* ε̂ = σ z + α v̂ for a v-prediction. */
    sd_tensor *eh = pred_kind == SIMDIFF_PRED_V ? sd_add(c, sd_mul(c, s, z), sd_mul(c, a, pred))
                                                : pred;
    if (kind == SIMDIFF_LOSS_EPS)
        return sd_mse(c, eh, eps);
    /* Multiscale: resolutions s = d, d/2, ... down to max(base, smallest);
     * weights 1/s normalized to sum to 1 (a single scale is the plain loss). */
    int d = (int)z->shape[2], res[32], nres = 0;
    res[nres++] = d;
    while (nres < 32 && res[nres - 1] % 2 == 0 && res[nres - 1] / 2 >= base) {
        res[nres] = res[nres - 1] / 2;
        nres++;
    }
    double wsum = 0;
    for (int k = 0; k < nres; k++)
        wsum += 1.0 / res[k];
    sd_tensor *total = NULL;
    for (int k = 0; k < nres; k++) {
        int r = res[k];
        sd_tensor *pe = r == d ? eh : sd_avg_pool(c, eh, d / r);
        sd_tensor *te = r == d ? eps : sd_avg_pool(c, eps, d / r);
        sd_tensor *l = sd_affine(c, sd_mse(c, pe, te), (float)((1.0 / r) / wsum), 0);
        total = total ? sd_add(c, total, l) : l;
    }
    return total;
}

SD_DEFINE_ENUM_NAMES(loss, simdiff_loss, "loss",
                     {SIMDIFF_LOSS_EPS, "eps", 0}, {SIMDIFF_LOSS_V, "v", 0},
                     {SIMDIFF_LOSS_MULTISCALE, "multiscale", 0})
