/*
 * winograd_dir.h - what winograd.c (the drivers and F(2x2, 3x3)'s transforms) and
 * winograd4.c (F(4x4, 3x3)'s transforms) share: one direction of a convolution, cut into
 * tiles. Private to the two files.
 */
#ifndef CNN_KERNELS_WINOGRAD_DIR_H
#define CNN_KERNELS_WINOGRAD_DIR_H

#include "../core/internal.h" /* cnn_padded_copy */

#include <stddef.h>
#include <string.h>

/* A "direction" is one convolution the Winograd kernels compute: an input of CI channels
 * H x W, an output of CO channels OH x OW, and the zeros PT above and PL left of the input.
 * The output is cut into tiles of tile x tile pixels; output tile row ti reads input rows
 * tile ti - PT .. tile ti - PT + tile + 1 (span = tile + 2 of them), and its transforms have
 * planes = span^2 positions. */
typedef struct wino_transforms wino_transforms;

typedef struct wdir {
    const wino_transforms *tf; /* the transforms of its tile size */
    int N, CI, H, W;     /* input */
    int CO, OH, OW;      /* output */
    int pt, pl;          /* zeros above and left of the input */
    int tile, span;      /* output tile side (2 or 4), input tile side (tile + 2) */
    int planes;          /* span^2: the transforms' positions, the products per chunk */
    int th, tw;          /* tile rows and columns of one output plane */
    size_t rows;         /* tile rows of the batch, N th */
    int R, T;            /* tile rows and tiles of a chunk (T = R tw) */
    int chunks;
    int groups;          /* the weight gradient's groups of chunks (dir_of) */
    size_t u, v, m, s;   /* floats of U, V, M and one thread's scratch */
    int relu;            /* the forward pass's max(y, 0) after the bias (cnn_conv_geom) */
} wdir;

/* Tile row q of the batch: its sample and its row of tiles in the sample's planes. */
static inline void cnn_wino_tile_row(const wdir *d, size_t q, size_t *sample, int *ti) {
    *sample = q / (size_t)d->th;
    *ti = (int)(q % (size_t)d->th);
}

/* The d->span input rows that tile row q reads from channel ci of in (N, CI, H, W), each with
 * its zeros (PL on the left, then as many as n columns need), n floats apart from p on. */
static inline void cnn_wino_input_rows(const wdir *d, const float *in, size_t q, int ci,
                                       float *p, int n) {
    size_t sample;
    int ti;
    cnn_wino_tile_row(d, q, &sample, &ti);
    const float *plane = in + (sample * d->CI + (size_t)ci) * d->H * d->W;
    for (int k = 0; k < d->span; k++) {
        long long row = (long long)d->tile * ti - d->pt + k;
        if (row < 0 || row >= d->H)
            memset(p + (size_t)k * n, 0, (size_t)n * sizeof(float));
        else
            cnn_padded_copy(p + (size_t)k * n, plane + (size_t)row * d->W, d->W,
                            -(long long)d->pl, n, 0.0f);
    }
}

/* The output gradient's rows of channel co in `rows` tile rows from q0, for the weight
 * gradient: row k of tile row r (k < d->tile) copied, with zeros beyond dy's edges, to
 * s + k seg + r tile tw, tile tw floats, so that tile t of the chunk finds its values at
 * columns tile t .. tile t + tile - 1 of each. seg >= rows tile tw. */
static inline void cnn_wino_dy_rows(const wdir *d, const float *dy, size_t q0, int rows, int co,
                                    float *s, size_t seg) {
    int n = d->tile * d->tw;
    size_t oplane = (size_t)d->OH * d->OW;
    for (int r = 0; r < rows; r++) {
        size_t sample;
        int ti;
        cnn_wino_tile_row(d, q0 + (size_t)r, &sample, &ti);
        const float *plane = dy + (sample * d->CO + (size_t)co) * oplane;
        for (int k = 0; k < d->tile; k++) {
            int row = d->tile * ti + k;
            float *dst = s + (size_t)k * seg + (size_t)r * n;
            if (row >= d->OH)
                memset(dst, 0, (size_t)n * sizeof(float));
            else
                cnn_padded_copy(dst, plane + (size_t)row * d->OW, d->OW, 0, n, 0.0f);
        }
    }
}

/* One tile size's transforms, which the drivers in winograd.c call through d->tf: F(2x2, 3x3)'s
 * (winograd.c) or F(4x4, 3x3)'s (winograd4.c). */
struct wino_transforms {
    /* Row o of U from the kernels k of row o, tap-major (k[tap C + c]): u[xi plane + c] for
     * the planes positions xi. */
    void (*weight_row)(const float *k, int C, float *u, size_t plane);
    /* The input tiles of channel ci in `rows` tile rows from q0 into v[xi vs + t], t the
     * tile's index in the chunk (row-major). s: scratch of d->s floats. */
    void (*input_chunk)(const wdir *d, const float *in, size_t q0, int rows, int ci, float *v,
                        size_t vs, float *s);
    /* Output channel co of `rows` tile rows from q0, from m[xi ms + t]: stored (plus bias,
     * then max(., 0) when d->relu) or added (accumulate) into out (N, CO, OH, OW). */
    void (*output_chunk)(const wdir *d, const float *m, size_t ms, size_t q0, int rows, int co,
                         float bias, float *out, int accumulate, float *s);
    /* Floats of scratch the transforms above and below need for d. */
    size_t (*scratch)(const wdir *d);
    /* The weight gradient: the gradient of the transformed outputs of channel co in `rows`
     * tile rows from q0, from dy (N, CO, OH, OW) (zero beyond its edges) into m[xi ms + t]
     * (s: scratch of d->s floats); and row o's kernel gradients dw[c 9 ..] += the transform's
     * adjoint of du[xi plane + c], c < C. */
    void (*grad_chunk)(const wdir *d, const float *dy, size_t q0, int rows, int co, float *m,
                       size_t ms, float *s);
    void (*weight_grad_row)(const float *du, size_t plane, int C, float *dw);
};

extern const wino_transforms cnn_wino4_transforms;

#endif
