/* dataset-grid: open an image dataset and write a PNG grid of a shuffled,
 * padded, randomly flipped batch — what a training step would see.
 *
 *   dataset-grid OUT.png [IMAGES [LABELS]] [-n N] [-pad P] [-seed S] [-size S]
 *
 * IMAGES/LABELS: IDX files (raw or .gz) or .npy files (by extension), or a
 * folder of PNG/JPEG files (sub-folders are classes; -size sets the side,
 * default 64; unreadable files are skipped and counted); default:
 * Fashion-MNIST's training set. Prints the sizes and the labels of the
 * batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <simdiff/simdiff.h>

#include "cli.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int main(int argc, char **argv)
{
    const char *out = NULL, *images = NULL, *labels = NULL;
    int n = 64, pad = -1, size = 64;
    unsigned long long seed = 1;
    static const char usage[] = "usage: %s OUT.png [IMAGES [LABELS]] [-n N] [-pad P] "
                                "[-seed S] [-size S]\n";
    const char *P = "dataset-grid";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf(usage, argv[0]);
            return 0;
        } else if (!strcmp(a, "-n") && v) {
            if (cli_int(P, a, v, 1, 1 << 16, &n))
                return 2;
            i++;
        } else if (!strcmp(a, "-pad") && v) {
            if (cli_int(P, a, v, 0, 4096, &pad))
                return 2;
            i++;
        } else if (!strcmp(a, "-size") && v) {
            if (cli_int(P, a, v, 1, 4096, &size))
                return 2;
            i++;
        } else if (!strcmp(a, "-seed") && v) {
            uint64_t u;
            if (cli_u64(P, a, v, &u))
                return 2;
            seed = u;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option '%s' (or its value is missing)\n", P, a);
            fprintf(stderr, usage, argv[0]);
            return 2;
        } else if (!out)
            out = a;
        else if (!images)
            images = a;
        else if (!labels)
            labels = a;
        else {
            fprintf(stderr, "%s: one argument too many: '%s'\n", P, a);
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, usage, argv[0]);
        return 2;
    }
    if (!images) {
        images = FMNIST "train-images-idx3-ubyte.gz";
        labels = FMNIST "train-labels-idx1-ubyte.gz";
    }
    simdiff_dataset *ds;
    simdiff_status s;
    struct stat st;
    int folder = stat(images, &st) == 0 && S_ISDIR(st.st_mode);
    if (folder) {
        simdiff_image_folder_config fc;
        simdiff_image_folder_config_init(&fc);
        fc.size = size;
        fc.on_bad_image = SIMDIFF_BAD_IMAGE_SKIP;
        s = simdiff_dataset_open_folder(&ds, images, &fc);
    } else if (ends_with(images, ".npy") || ends_with(images, ".npy.gz")) {
        s = simdiff_dataset_open_npy(&ds, images, labels, SIMDIFF_LAYOUT_AUTO,
                                     SIMDIFF_FLOAT_RANGE_01);
    } else {
        s = simdiff_dataset_open_idx(&ds, images, labels);
    }
    if (s) {
        fprintf(stderr, "%s\n", simdiff_last_error());
        return 1;
    }
    if (pad < 0)
        pad = folder ? 0 : 32;
    for (int64_t i = 0; i < simdiff_dataset_skipped_count(ds); i++)
        fprintf(stderr, "skipped: %s\n", simdiff_dataset_skipped_message(ds, i));
    int64_t count = simdiff_dataset_count(ds);
    int c = simdiff_dataset_channels(ds), h = simdiff_dataset_height(ds),
        w = simdiff_dataset_width(ds);
    printf("%lld images, %d x %d x %d, %d classes\n", (long long)count, c, h, w,
           simdiff_dataset_num_classes(ds));
    for (int k = 0; k < simdiff_dataset_num_classes(ds); k++)
        printf("class %d: %s\n", k, simdiff_dataset_class_name(ds, k));
    if (n > count)
        n = (int)count;
    int side = pad ? pad : (h > w ? h : w);
    int64_t *perm = malloc((size_t)count * sizeof *perm);
    float *x = malloc((size_t)n * (size_t)c * (size_t)side * (size_t)side * sizeof *x);
    int *lab = malloc((size_t)n * sizeof *lab);
    uint8_t *flip = malloc((size_t)n);
    if (!perm || !x || !lab || !flip) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if ((s = simdiff_dataset_shuffle(ds, seed, 0, perm)) ||
        (s = simdiff_dataset_flip_mask(seed, 0, n, perm, flip)) ||
        (s = simdiff_dataset_get_batch(ds, n, perm, pad, flip, x, lab)) ||
        (s = simdiff_write_png(out, n, c, pad ? pad : h, pad ? pad : w, x, 0))) {
        fprintf(stderr, "%s\n", simdiff_last_error());
        return 1;
    }
    printf("labels:");
    for (int i = 0; i < n; i++)
        printf(" %d", lab[i]);
    printf("\nwrote %s\n", out);
    free(perm);
    free(x);
    free(lab);
    free(flip);
    simdiff_dataset_destroy(ds);
    return 0;
}
