/* Embedding lookup (F.embedding). Forward and backward side by side. */
#include <string.h>

#include "ops/ops.h"

/* The backward splits the D columns into blocks of this many floats, one
 * task per block; within a block rows are added in id order, so each sum
 * has a fixed order whatever the thread count. */
#define EMBED_COL_BLOCK 64

/* aux[0] = ids (n ints, arena copy); i[0] = n.  dtable[ids[r]] += dy[r] */
static void embedding_backward(sd_ctx *c, sd_node *nd)
{
    sd_tensor *table = nd->in[0], *y = nd->out;
    float *dt = sd_grad_acc(c, table);
    if (!dt)
        return;
    const int *ids = nd->aux[0];
    int64_t n = nd->i[0], D = table->shape[1];
    int64_t nblk = (D + EMBED_COL_BLOCK - 1) / EMBED_COL_BLOCK;
    const float *dy = y->grad;
#pragma omp parallel for if (n * D > SD_PAR_MIN) schedule(static)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t j0 = b * EMBED_COL_BLOCK, j1 = j0 + EMBED_COL_BLOCK < D ? j0 + EMBED_COL_BLOCK : D;
        for (int64_t r = 0; r < n; r++) {
            float *d = dt + (int64_t)ids[r] * D;
            const float *g = dy + r * D;
            for (int64_t j = j0; j < j1; j++)
                d[j] += g[j];
        }
    }
}

sd_tensor *sd_embedding(sd_ctx *c, sd_tensor *table, int n, const int *ids)
{
    SD_OP_BEGIN(c, "embedding", table);
    char s[64];
    if (table->ndim != 2 || n < 0 || (n > 0 && !ids))
        return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                           "embedding: need a (V,D) table and n >= 0 ids, got table %s, "
                           "n = %d%s",
                           sd_shape_str(table, s, sizeof s), n, n > 0 && !ids ? ", ids NULL" : "");
    int64_t V = table->shape[0], D = table->shape[1];
    for (int r = 0; r < n; r++)
        if (ids[r] < 0 || ids[r] >= V)
            return sd_ctx_fail(c, SIMDIFF_ERR_INVALID_ARG,
                               "embedding: ids[%d] = %d out of range [0, %lld) for table %s",
                               r, ids[r], (long long)V, sd_shape_str(table, s, sizeof s));
    const int64_t shape[2] = {n, D};
    sd_tensor *y = sd_new(c, 2, shape);
    if (!y)
        return NULL;
    const float *td = table->data;
    float *yd = y->data;
#pragma omp parallel for if ((int64_t)n * D > SD_PAR_MIN) schedule(static)
    for (int r = 0; r < n; r++)
        memcpy(yd + (int64_t)r * D, td + (int64_t)ids[r] * D, (size_t)D * sizeof(float));
    sd_node *nd = sd_record(c, "embedding", embedding_backward, y, 1, &table);
    if (nd) {
        int *saved = sd_alloc(c, (size_t)(n ? n : 1) * sizeof(int));
        if (!saved)
            return NULL;
        if (n)
            memcpy(saved, ids, (size_t)n * sizeof(int));
        nd->aux[0] = saved;
        nd->i[0] = n;
    }
    return y;
}
