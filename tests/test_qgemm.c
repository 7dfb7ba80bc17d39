/*
 * test_qgemm.c - the int8 matrix product (src/kernels/qgemm.h) against a plain triple loop
 * written here (int64 sums, then the same float epilogue), bit for bit:
 *   1. the path in force (cnn_isa), on many shapes, with the product cut into tiles several
 *      ways (whole, one micro-tile each, uneven, in reverse order): every cut gives the same
 *      bits, since each element is computed on its own;
 *   2. a tile of the product alone writes only its rows and columns of C (the rest of C, and
 *      the columns past N of each row of C, keep a sentinel);
 *   3. every path this host has (AVX-512, VNNI, AVX2, baseline, via cnn_isa_set) gives the
 *      same bits;
 *   4. B's padding (rows past K, columns past N) holds random garbage, which must not matter;
 *   5. B in place (cnn_qgemm_b's off: each group of 4 k at an offset of its own, in shuffled
 *      order with garbage between) gives the same bits as B packed, checks 1-3 over again;
 *   6. C's columns in runs (cnn_qgemm_out's run and skip) get the product's columns in their
 *      order, the skipped ones nowhere, on every path.
 * The shapes take each path through its edges: N past a multiple of 16 by 1 to 15 columns
 * (the AVX-512 path multiplies 1 to 4 of them along k, its edge, up to K = 8192), K past a
 * multiple of 4 and of 32 (the edge's periods of 8 groups of 4).
 * Data: random A in [-127, 127] and B in [0, 255], and the extremes (A all +-127 or -128 with B
 * all 255: the int16 saturation trap of vpmaddubsw; K up to CNN_QGEMM_MAX_K); corrections from
 * a zero point of 0 and of 128; random scales and biases, and results of -0, infinities and
 * NaNs (the bits match there too: ReLU keeps -0 and NaN, as y < 0 ? 0 : y does); with and
 * without ReLU.
 *   test_qgemm [--isa baseline|avx2|vnni]   the path of checks 1-2 held to that level.
 */
#include "testlib.h"
#include "../src/kernels/qgemm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* xorshift64*: the test's own reproducible random numbers. */
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 2685821657736338717ull) >> 32);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_f(float lo, float hi) {
    return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* Fills C outside the product's tiles: a NaN with a payload no result can have. */
static float sentinel(void) {
    uint32_t u = 0x7FC0DEADu;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* PAT_SPECIAL: random, but every third row of A is 0 and the epilogue meets -0 (a zero sum
 * times a negative scale, plus a bias of -0: ReLU keeps it), infinities and NaNs. */
enum { PAT_RANDOM, PAT_MAX, PAT_EXTREMES, PAT_MIN128, PAT_SPECIAL, N_PATTERNS };
static const char *const pattern_names[] = {"random", "+-127 x 255", "{-127,127} x {0,255}",
                                            "-128 x 255", "zero rows, -0, inf, NaN"};

typedef struct problem {
    int M, N, K, lda, ldc, pattern, zp;
    int8_t *A, *Ap;        /* A (lda apart), packed */
    uint8_t *B, *Bp;       /* B (K x N, N apart), packed with garbage in the padding */
    uint8_t *Bi;           /* B in place: group q at Bi + off[q] */
    ptrdiff_t *off;
    int64_t *sums;         /* the exact sums, M x N */
    int32_t *corr;
    float *scale, *bias;
} problem;

static int8_t a_value(int pattern, int i) {
    switch (pattern) {
    case PAT_MAX: return i % 2 ? -127 : 127;
    case PAT_EXTREMES: return rnd() % 2 ? -127 : 127;
    case PAT_MIN128: return -128;
    case PAT_SPECIAL: return i % 3 == 0 ? 0 : (int8_t)rnd_in(-127, 127);
    default: return (int8_t)rnd_in(-127, 127);
    }
}

static uint8_t b_value(int pattern) {
    switch (pattern) {
    case PAT_MAX: case PAT_MIN128: return 255;
    case PAT_EXTREMES: return rnd() % 2 ? 255 : 0;
    default: return (uint8_t)rnd_in(0, 255);
    }
}

/* B packed as qgemm.h lays it out, written out here rather than taken from the header's
 * helper (which is checked against it), padding full of random bytes. */
static void pack_b(problem *p) {
    int k4n = (p->K + 3) / 4;
    size_t bytes = cnn_qgemm_b_bytes(p->K, p->N);
    T_CHECK(bytes == (size_t)((p->N + 15) / 16) * k4n * 64, "b_bytes %zu", bytes);
    p->Bp = xmalloc(bytes);
    for (size_t i = 0; i < bytes; i++) p->Bp[i] = (uint8_t)rnd();
    int helper_ok = 1;
    for (int k = 0; k < p->K; k++)
        for (int j = 0; j < p->N; j++) {
            size_t at = ((size_t)(j / 16) * k4n + k / 4) * 64 + (j % 16) * 4 + k % 4;
            helper_ok &= cnn_qgemm_b_index(p->K, k, j) == at;
            p->Bp[at] = p->B[(size_t)k * p->N + j];
        }
    T_CHECK(helper_ok, "cnn_qgemm_b_index differs from the layout (K=%d N=%d)", p->K, p->N);
}

/* B in place: each group's 64 bytes a panel for all N columns (rounded up to 16) in a slot of
 * its own, the slots in shuffled order, each at an odd offset, garbage everywhere else. */
static void place_b(problem *p) {
    int k4n = (p->K + 3) / 4;
    size_t width = (size_t)(p->N + 15) / 16 * 64, slot = width + 67;
    int *order = xmalloc((size_t)(k4n ? k4n : 1) * sizeof *order);
    for (int q = 0; q < k4n; q++) order[q] = q;
    for (int q = k4n - 1; q > 0; q--) { /* Fisher-Yates */
        int r = rnd_in(0, q), t = order[q];
        order[q] = order[r], order[r] = t;
    }
    p->Bi = xmalloc((size_t)k4n * slot + 1);
    p->off = xmalloc((size_t)(k4n ? k4n : 1) * sizeof *p->off);
    for (size_t i = 0; i < (size_t)k4n * slot + 1; i++) p->Bi[i] = (uint8_t)rnd();
    for (int q = 0; q < k4n; q++) p->off[q] = (ptrdiff_t)((size_t)order[q] * slot + 1 + q % 3);
    for (int k = 0; k < p->K; k++)
        for (int j = 0; j < p->N; j++)
            p->Bi[p->off[k / 4] + 4 * j + k % 4] = p->B[(size_t)k * p->N + j];
    free(order);
}

static problem make_problem(int M, int N, int K, int pattern, int zp) {
    problem p = {.M = M, .N = N, .K = K, .lda = K + 3, .ldc = N + 5, .pattern = pattern,
                 .zp = zp};
    p.A = xmalloc((size_t)M * p.lda);
    p.B = xmalloc((size_t)K * N);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < p.lda; k++) p.A[(size_t)i * p.lda + k] = a_value(pattern, i);
    for (size_t i = 0; i < (size_t)K * N; i++) p.B[i] = b_value(pattern);
    p.Ap = xmalloc(cnn_qgemm_a_bytes(M, K));
    int32_t *rowsum = xmalloc((size_t)M * sizeof *rowsum);
    cnn_qgemm_pack_a(M, K, p.A, p.lda, p.Ap, rowsum);
    pack_b(&p);
    place_b(&p);
    p.sums = xmalloc((size_t)M * N * sizeof *p.sums);
    p.corr = xmalloc((size_t)M * sizeof *p.corr);
    p.scale = xmalloc((size_t)M * sizeof *p.scale);
    p.bias = xmalloc((size_t)M * sizeof *p.bias);
    int rowsum_ok = 1;
    for (int i = 0; i < M; i++) {
        int64_t rs = 0;
        for (int k = 0; k < K; k++) rs += p.A[(size_t)i * p.lda + k];
        rowsum_ok &= rowsum[i] == rs;
        p.corr[i] = (int32_t)(zp * rs);
        /* Scales of either sign, and of a size that puts results on both sides of 0. */
        p.scale[i] = rnd_f(1e-5f, 1e-3f) * (rnd() % 2 ? 1.0f : -1.0f);
        p.bias[i] = rnd_f(-2.0f, 2.0f);
        if (pattern == PAT_SPECIAL) {
            /* NaN in the scale or from inf * 0, inf - inf, never in the bias too: with two NaN
             * operands, x86 keeps the first one's, and compilers order an addition either way. */
            static const float biases[] = {-0.0f, INFINITY, -INFINITY};
            static const float scales[] = {NAN, INFINITY, -INFINITY};
            p.bias[i] = i % 2 ? -0.0f : biases[i / 2 % 3];
            if (i % 5 == 4) p.scale[i] = scales[i / 5 % 3];
        }
        for (int j = 0; j < N; j++) {
            int64_t s = 0;
            for (int k = 0; k < K; k++)
                s += (int64_t)p.A[(size_t)i * p.lda + k] * p.B[(size_t)k * N + j];
            p.sums[(size_t)i * N + j] = s;
        }
    }
    T_CHECK(rowsum_ok, "pack_a's row sums (M=%d K=%d)", M, K);
    free(rowsum);
    return p;
}

static void free_problem(problem *p) {
    free(p->A), free(p->Ap), free(p->B), free(p->Bp), free(p->Bi), free(p->off), free(p->sums);
    free(p->corr), free(p->scale), free(p->bias);
}

/* The expected C (M x ldc): the epilogue of the exact sums over rows [m0, m1) and columns
 * [n0, n1), the sentinel everywhere else. */
static void expected(const problem *p, int relu, int m0, int m1, int n0, int n1, float *C) {
    for (size_t i = 0; i < (size_t)p->M * p->ldc; i++) C[i] = sentinel();
    int fits = 1;
    for (int i = m0; i < m1; i++)
        for (int j = n0; j < n1; j++) {
            int64_t d = p->sums[(size_t)i * p->N + j] - p->corr[i];
            fits &= d >= INT32_MIN && d <= INT32_MAX;
            float y = (float)(int32_t)d * p->scale[i];
            y = y + p->bias[i];
            if (relu && y < 0) y = 0;
            C[(size_t)i * p->ldc + j] = y;
        }
    T_CHECK(fits, "the test's data overflow int32");
}

/* C over tiles of tm rows (a multiple of MR) and tn columns (of 16), last tile first when
 * reverse is set; C is filled with the sentinel first. */
static void run_tiles(const problem *p, const cnn_qgemm_b *B, int relu, int tm, int tn,
                      int reverse, float *C) {
    cnn_qgemm_out out = {p->corr, p->scale, p->bias, relu, C, p->ldc, 0, 0};
    for (size_t i = 0; i < (size_t)p->M * p->ldc; i++) C[i] = sentinel();
    int tiles_m = (p->M + tm - 1) / tm, tiles_n = (p->N + tn - 1) / tn;
    for (int t = 0; t < tiles_m * tiles_n; t++) {
        int u = reverse ? tiles_m * tiles_n - 1 - t : t;
        int m0 = u / tiles_n * tm, n0 = u % tiles_n * tn;
        int m1 = m0 + tm < p->M ? m0 + tm : p->M, n1 = n0 + tn < p->N ? n0 + tn : p->N;
        cnn_qgemm(p->M, p->N, p->K, p->Ap, B, m0, m1, n0, n1, &out);
    }
}

/* Checks 1 and 2 on the path in force, 3 on every path, each with B packed and in place (5):
 * see the top of the file. */
static void check_problem(const problem *p, int relu, int *ran) {
    size_t n = (size_t)p->M * p->ldc;
    float *want = xmalloc(n * sizeof *want), *got = xmalloc(n * sizeof *got);
    char what[240];
    const cnn_qgemm_b forms[2] = {{p->Bp, NULL}, {p->Bi, p->off}};
    for (int f = 0; f < 2; f++) {
        const cnn_qgemm_b *B = &forms[f];
        int len = snprintf(what, sizeof what, "M=%d N=%d K=%d %s zp=%d relu=%d B %s", p->M,
                           p->N, p->K, pattern_names[p->pattern], p->zp, relu,
                           f ? "in place" : "packed");
        expected(p, relu, 0, p->M, 0, p->N, want);
        static const int cuts[][3] = {{1 << 20, 1 << 20, 0}, {CNN_QGEMM_MR, 16, 0},
                                      {2 * CNN_QGEMM_MR, 48, 1}, {5 * CNN_QGEMM_MR, 32, 1}};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            run_tiles(p, B, relu, cuts[c][0], cuts[c][1], cuts[c][2], got);
            snprintf(what + len, sizeof what - len, " %s, tiles %dx%d", cnn_isa_name(cnn_isa()),
                     cuts[c][0], cuts[c][1]);
            t_same_bits(what, got, want, n);
        }
        for (int rep = 0; rep < 2; rep++) {
            /* One tile alone: from a random row block and panel to a random end past them. */
            int m0 = rnd_in(0, (p->M - 1) / CNN_QGEMM_MR) * CNN_QGEMM_MR, m1 = rnd_in(m0 + 1, p->M);
            int n0 = rnd_in(0, (p->N - 1) / 16) * 16, n1 = rnd_in(n0 + 1, p->N);
            expected(p, relu, m0, m1, n0, n1, want);
            for (size_t i = 0; i < n; i++) got[i] = sentinel();
            cnn_qgemm_out out = {p->corr, p->scale, p->bias, relu, got, p->ldc, 0, 0};
            cnn_qgemm(p->M, p->N, p->K, p->Ap, B, m0, m1, n0, n1, &out);
            snprintf(what + len, sizeof what - len, " %s, tile [%d,%d)x[%d,%d) alone",
                     cnn_isa_name(cnn_isa()), m0, m1, n0, n1);
            t_same_bits(what, got, want, n);
        }
        expected(p, relu, 0, p->M, 0, p->N, want);
        int level = cnn_isa();
        for (int isa = CNN_ISA_TOP; isa >= CNN_ISA_BASELINE; isa--) {
            if (cnn_isa_set(isa) != isa) continue; /* the CPU does not have it */
            ran[isa] = 1;
            run_tiles(p, B, relu, 1 << 20, 1 << 20, 0, got);
            snprintf(what + len, sizeof what - len, " path %s", cnn_isa_name(isa));
            t_same_bits(what, got, want, n);
        }
        cnn_isa_set(level);
    }
    free(want), free(got);
}

/* Check 6: C's columns in runs of `run` with `skip` after each, on every path, tiles of MR x 16
 * and whole; C (M x ldc) holds the written columns packed and the sentinel past them. */
static void check_runs(const problem *p, int run, int skip, int *ran) {
    size_t n = (size_t)p->M * p->ldc;
    float *full = xmalloc(n * sizeof *full), *want = xmalloc(n * sizeof *want);
    float *got = xmalloc(n * sizeof *got);
    expected(p, 1, 0, p->M, 0, p->N, full);
    for (size_t i = 0; i < n; i++) want[i] = sentinel();
    for (int i = 0; i < p->M; i++)
        for (int j = 0, c = 0; j < p->N; j++)
            if (j % (run + skip) < run) want[(size_t)i * p->ldc + c++] = full[(size_t)i * p->ldc + j];
    const cnn_qgemm_b B = {p->Bp, NULL};
    int level = cnn_isa();
    for (int isa = CNN_ISA_TOP; isa >= CNN_ISA_BASELINE; isa--) {
        if (cnn_isa_set(isa) != isa) continue;
        ran[isa] = 1;
        for (int whole = 0; whole < 2; whole++) {
            int tm = whole ? p->M : CNN_QGEMM_MR, tn = whole ? p->N : 16;
            cnn_qgemm_out out = {p->corr, p->scale, p->bias, 1, got, p->ldc, run, skip};
            for (size_t i = 0; i < n; i++) got[i] = sentinel();
            for (int m0 = 0; m0 < p->M; m0 += tm)
                for (int n0 = 0; n0 < p->N; n0 += tn)
                    cnn_qgemm(p->M, p->N, p->K, p->Ap, &B, m0,
                              m0 + tm < p->M ? m0 + tm : p->M, n0,
                              n0 + tn < p->N ? n0 + tn : p->N, &out);
            char what[160];
            snprintf(what, sizeof what, "M=%d N=%d K=%d runs of %d, skip %d, path %s, %s",
                     p->M, p->N, p->K, run, skip, cnn_isa_name(isa),
                     whole ? "whole" : "tiles 6x16");
            t_same_bits(what, got, want, n);
        }
    }
    cnn_isa_set(level);
    free(full), free(want), free(got);
}

static void run(int M, int N, int K, int pattern, int zp, int *ran) {
    problem p = make_problem(M, N, K, pattern, zp);
    check_problem(&p, 0, ran);
    check_problem(&p, 1, ran);
    free_problem(&p);
}

int main(int argc, char **argv) {
    t_isa_option(&argc, &argv);
    int level = cnn_isa(), ran[CNN_ISA_TOP + 1] = {0};
    static const int Ms[] = {1, 3, 4, 5, 6, 7, 12, 13, 15, 16, 17, 33, 64, 100};
    static const int Ns[] = {1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 50, 64, 100};
    static const int Ks[] = {1, 3, 4, 5, 15, 16, 17, 33, 64, 100, 576};
    const int nm = sizeof Ms / sizeof *Ms, nn = sizeof Ns / sizeof *Ns, nk = sizeof Ks / sizeof *Ks;
    /* Every pair (M, N), K, the data pattern and the zero point taking turns. */
    int count = 0;
    for (int a = 0; a < nm; a++)
        for (int b = 0; b < nn; b++, count++)
            run(Ms[a], Ns[b], Ks[(a + 3 * b) % nk], count % N_PATTERNS, count / 2 % 2 ? 128 : 0,
                ran);
    /* Every K with a few shapes, every pattern; then larger products, and the largest K. */
    for (int c = 0; c < nk; c++)
        for (int pat = 0; pat < N_PATTERNS; pat++) run(13, 35, Ks[c], pat, pat % 2 ? 0 : 128, ran);
    for (int pat = 0; pat < N_PATTERNS; pat++) {
        run(64, 200, 576, pat, 128, ran);
        run(100, 100, 576, pat, 0, ran);
        run(7, 49, 4608, pat, 128, ran);
    }
    /* The AVX-512 path's edge copy (1 to 4 columns past a panel) fits its stack buffer up to
     * K = 8192, and past it the edge is a panel again. */
    run(13, 50, 8192, PAT_EXTREMES, 128, ran);
    run(13, 50, 8196, PAT_RANDOM, 0, ran);
    run(6, 17, CNN_QGEMM_MAX_K, PAT_MIN128, 0, ran);
    /* Runs as a convolution computed in place has them (56 + 2, 28 + 2, 7 + 2 padding columns
     * a row), runs shorter than a half panel, runs of 1, and a skip longer than a panel. */
    static const int runs[][4] = {{58 * 3, 56, 2, 576}, {30 * 5, 28, 2, 1152},
                                  {9 * 7, 7, 2, 4608}, {100, 5, 3, 64}, {50, 1, 1, 33},
                                  {90, 3, 20, 100}};
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        problem p = make_problem(13, runs[r][0], runs[r][3], PAT_RANDOM, 128);
        check_runs(&p, runs[r][1], runs[r][2], ran);
        free_problem(&p);
    }
    run(7, 18, CNN_QGEMM_MAX_K, PAT_MAX, 128, ran);
    T_CHECK(cnn_isa() == level, "the level in force is restored");
    printf("path under test: %s; paths compared:", cnn_isa_name(level));
    for (int isa = CNN_ISA_TOP; isa >= CNN_ISA_BASELINE; isa--)
        if (ran[isa]) printf(" %s", cnn_isa_name(isa));
    printf(" (the CPU has up to %s)\n", cnn_isa_name(cnn_isa_detected()));
    return t_finish();
}
