#include "sdfx.h"
#include "sdtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rd(FILE *fp, void *p, size_t n) { return fread(p, 1, n, fp) == n ? 0 : -1; }

sdfx *sdfx_load(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", sdtest_fixture_dir(), rel);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "sdfx: cannot open %s\n", path);
        return NULL;
    }
    sdfx *f = calloc(1, sizeof *f);
    char magic[6];
    if (!f || rd(fp, magic, 6) || memcmp(magic, "SDFX1\n", 6))
        goto bad;
    for (;;) {
        uint32_t nl;
        if (fread(&nl, 4, 1, fp) != 1)
            break; /* end of file */
        sdfx_array *na = realloc(f->a, (size_t)(f->n + 1) * sizeof *na);
        if (!na)
            goto bad;
        f->a = na;
        sdfx_array *a = &f->a[f->n];
        memset(a, 0, sizeof *a);
        f->n++;
        uint32_t nd;
        if (nl >= sizeof a->name || rd(fp, a->name, nl) || rd(fp, &nd, 4) || nd > 8)
            goto bad;
        a->ndim = (int)nd;
        a->numel = 1;
        for (uint32_t i = 0; i < nd; i++) {
            if (rd(fp, &a->shape[i], 8) || a->shape[i] < 0 || a->shape[i] > (1 << 28))
                goto bad;
            a->numel *= a->shape[i];
        }
        a->data = malloc((size_t)(a->numel ? a->numel : 1) * sizeof(float));
        if (!a->data || rd(fp, a->data, (size_t)a->numel * sizeof(float)))
            goto bad;
    }
    fclose(fp);
    return f;
bad:
    fprintf(stderr, "sdfx: malformed %s\n", path);
    fclose(fp);
    sdfx_free(f);
    return NULL;
}

void sdfx_free(sdfx *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        free(f->a[i].data);
    free(f->a);
    free(f);
}

const sdfx_array *sdfx_get(const sdfx *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->a[i].name, name) == 0)
            return &f->a[i];
    return NULL;
}
