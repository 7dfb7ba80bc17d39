/*
 * test_shard.c - shards of a data set (cnn_dataset_load_*_shard, cnn_dataset_shard), for
 * data-parallel training where each rank holds only its part:
 *   - every loader's shard r of N holds exactly the samples i % N == r of the whole set, with
 *     the same values and labels, ids[j] their places, whole_y the whole set's labels, and the
 *     whole set's hash; the shards of any N hold the whole set once; a shard of 1 is whole;
 *   - a shard's hold-out, split and truncation keep, of the whole set's, what the shard holds:
 *     the same samples in the same places, so N ranks hold out the validation set one process
 *     does, whatever N;
 *   - a shard index out of range, and shards where they cannot be, are refused.
 * Files are written here into a temporary folder: IDX plain and gzipped, CIFAR-10, a folder
 * of PNG images.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <stb/stb_image_write.h>

#define N_SAMPLES 23
#define SIDE_H 5
#define SIDE_W 4

static void write_file(const char *path, int gz, const void *head, size_t hn, const void *data,
                       size_t n) {
    gzFile f = gzopen(path, gz ? "wb" : "wbT"); /* T: plain, not compressed */
    if (!f || gzwrite(f, head, (unsigned)hn) != (int)hn || gzwrite(f, data, (unsigned)n) != (int)n ||
        gzclose(f) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
}

static void be32(unsigned char *p, uint32_t v) {
    for (int b = 0; b < 4; b++) p[b] = (unsigned char)(v >> (24 - 8 * b));
}

static unsigned char pixels[N_SAMPLES * SIDE_H * SIDE_W];
static unsigned char labels[N_SAMPLES];

static void write_idx_pair(const char *images, const char *labs, int gz) {
    unsigned char hi[16], hl[8];
    be32(hi, 0x803), be32(hi + 4, N_SAMPLES), be32(hi + 8, SIDE_H), be32(hi + 12, SIDE_W);
    be32(hl, 0x801), be32(hl + 4, N_SAMPLES);
    write_file(images, gz, hi, sizeof hi, pixels, sizeof pixels);
    write_file(labs, gz, hl, sizeof hl, labels, sizeof labels);
}

/* Shard sh of whole is right: its samples, labels, ids, whole labels and hash. */
static void check_shard(const cnn_dataset *s, const cnn_dataset *whole, cnn_shard sh,
                        const char *what) {
    size_t numel = cnn_shape_numel(&whole->shape);
    float *a = malloc(numel * sizeof *a), *b = malloc(numel * sizeof *b);
    int want = (whole->n - sh.index + sh.count - 1) / sh.count, ok = s && s->n == want;
    if (ok && sh.count > 1)
        ok = s->ids && s->whole_y && s->n_whole == whole->n &&
             !memcmp(s->whole_y, whole->y, (size_t)whole->n * sizeof *whole->y);
    if (ok && sh.count == 1) ok = !s->ids && !s->whole_y && s->n_whole == 0;
    for (int j = 0; ok && j < s->n; j++) {
        int g = sh.index + j * sh.count;
        ok = (sh.count == 1 || s->ids[j] == g) && s->y[j] == whole->y[g];
        cnn_dataset_sample(s, j, a);
        cnn_dataset_sample(whole, g, b);
        ok = ok && !memcmp(a, b, numel * sizeof *a);
    }
    T_CHECK(ok && cnn_dataset_hash(s) == cnn_dataset_hash(whole),
            "%s: shard %d of %d is not samples i %% %d == %d of the whole set", what, sh.index,
            sh.count, sh.count, sh.index);
    free(a);
    free(b);
}

typedef cnn_status (*shard_loader)(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen);

/* Shards 0..N-1 of a loader for N = 1, 2, 3, 7 against its whole set. */
static void check_loader(const char *what, shard_loader load, const cnn_dataset *whole) {
    char err[1024];
    static const int counts[] = {1, 2, 3, 7};
    for (int c = 0; c < 4; c++) {
        int total = 0;
        for (int r = 0; r < counts[c]; r++) {
            cnn_shard sh = {r, counts[c]};
            cnn_dataset *s = NULL;
            T_OK(NULL, load(sh, &s, err, sizeof err));
            check_shard(s, whole, sh, what);
            total += s ? s->n : 0;
            cnn_dataset_free(s);
        }
        T_CHECK(total == whole->n, "%s: %d shards hold %d samples, the whole set %d", what,
                counts[c], total, whole->n);
    }
    cnn_dataset *s = NULL;
    /* More shards than samples: some hold none, and are still data sets. */
    cnn_shard past = {whole->n + 1, whole->n + 2};
    T_OK(NULL, load(past, &s, err, sizeof err));
    T_CHECK(s && s->n == 0 && s->n_whole == whole->n && (s->x != NULL) != (s->pixels != NULL),
            "%s: an empty shard is not an empty data set", what);
    cnn_dataset_free(s);
    s = NULL;
    cnn_shard bad = {2, 2};
    cnn_status st = load(bad, &s, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && strstr(err, "shard 2 of 2"), "%s: shard 2 of 2: %s", what,
            st ? err : "accepted");
    printf("  ok %s: shards of 1, 2, 3 and 7 are the whole set's samples i %% N == r\n", what);
}

static cnn_status idx_plain(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    return cnn_dataset_load_idx_shard(t_at("img.idx"), t_at("lab.idx"), sh, out, err, errlen);
}
static cnn_status idx_gz(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    return cnn_dataset_load_idx_shard(t_at("img.gz"), t_at("lab.gz"), sh, out, err, errlen);
}
static cnn_status mnist_dir(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    return cnn_dataset_load_mnist_dir_shard(t_at("mnist"), 1, sh, out, err, errlen);
}
static cnn_status cifar(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    const char *paths[2] = {t_at("c1.bin"), t_at("c2.bin")};
    return cnn_dataset_load_cifar10_shard(paths, 2, sh, out, err, errlen);
}
static cnn_status folder(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    return cnn_dataset_load_folder_shard(t_at("imgs"), 3, 4, 4, sh, out, err, errlen);
}
static cnn_dataset *in_memory;
static cnn_status memory(cnn_shard sh, cnn_dataset **out, char *err, size_t errlen) {
    return cnn_dataset_shard(in_memory, sh, out, err, errlen);
}

static void write_cifar(int first, int count, const char *path) {
    unsigned char *rec = malloc((size_t)count * 3073);
    for (int r = 0; r < count; r++) {
        rec[r * 3073] = (unsigned char)((first + r) * 7 % 10);
        for (int k = 0; k < 3072; k++) rec[r * 3073 + 1 + k] = (unsigned char)((first + r) * 31 + k);
    }
    unsigned char none = 0;
    write_file(path, 0, &none, 0, rec, (size_t)count * 3073);
    free(rec);
}

static void write_folder(void) {
    static const char *const files[] = {"imgs/ant/a.png", "imgs/ant/b.png", "imgs/ant/c.png",
                                        "imgs/bee/a.png", "imgs/bee/b.png", "imgs/bee/c.png",
                                        "imgs/bee/d.png", "imgs/cat/a.png"};
    static const char *const dirs[] = {"imgs", "imgs/ant", "imgs/bee", "imgs/cat"};
    for (int i = 0; i < 4; i++) t_make_dir(dirs[i]);
    for (int i = 0; i < 8; i++) {
        unsigned char px[4 * 4 * 3];
        for (int k = 0; k < 48; k++) px[k] = (unsigned char)(i * 29 + k * 5);
        if (!stbi_write_png(t_at(files[i]), 4, 4, 3, px, 12)) exit(2);
    }
}

static void test_loaders(void) {
    for (int k = 0; k < N_SAMPLES * SIDE_H * SIDE_W; k++) pixels[k] = (unsigned char)(k * 37 + 5);
    for (int i = 0; i < N_SAMPLES; i++) labels[i] = (unsigned char)(i * 3 % 10);
    write_idx_pair(t_at("img.idx"), t_at("lab.idx"), 0);
    write_idx_pair(t_at("img.gz"), t_at("lab.gz"), 1);
    t_make_dir("mnist");
    write_idx_pair(t_at("mnist/train-images-idx3-ubyte.gz"), t_at("mnist/train-labels-idx1-ubyte"),
                   1);
    write_cifar(0, 5, t_at("c1.bin"));
    write_cifar(5, 6, t_at("c2.bin"));
    write_folder();
    char err[1024];
    cnn_dataset *whole = NULL;
    T_OK(NULL, cnn_dataset_load_idx(t_at("img.idx"), t_at("lab.idx"), &whole, err, sizeof err));
    if (!whole) return;
    check_loader("plain IDX", idx_plain, whole);
    check_loader("gzipped IDX", idx_gz, whole);
    check_loader("MNIST folder", mnist_dir, whole);
    in_memory = whole;
    check_loader("cnn_dataset_shard", memory, whole);
    cnn_dataset_free(whole);
    const char *paths[2] = {t_at("c1.bin"), t_at("c2.bin")};
    T_OK(NULL, cnn_dataset_load_cifar10(paths, 2, &whole, err, sizeof err));
    if (whole) check_loader("CIFAR-10", cifar, whole);
    cnn_dataset_free(whole);
    T_OK(NULL, cnn_dataset_load_folder(t_at("imgs"), 3, 4, 4, &whole, err, sizeof err));
    if (whole) check_loader("image folder", folder, whole);
    cnn_dataset_free(whole);
}

/* Part p (held or kept) of the whole set against the shards' parts: each shard sample is the
 * whole part's sample at its id, and the shards hold the whole part once. */
static void check_parts(cnn_dataset *const *parts, int count, const cnn_dataset *whole,
                        const char *what) {
    size_t numel = cnn_shape_numel(&whole->shape);
    float *a = malloc(numel * sizeof *a), *b = malloc(numel * sizeof *b);
    int ok = 1, total = 0;
    char *seen = calloc((size_t)whole->n + 1, 1);
    for (int r = 0; r < count; r++) {
        const cnn_dataset *s = parts[r];
        ok &= s && s->n_whole == whole->n && cnn_dataset_hash(s) == cnn_dataset_hash(whole);
        for (int j = 0; ok && j < s->n; j++) {
            int g = s->ids[j];
            ok = g >= 0 && g < whole->n && !seen[g] && s->y[j] == whole->y[g];
            if (ok) seen[g] = 1;
            cnn_dataset_sample(s, j, a);
            cnn_dataset_sample(whole, g, b);
            ok = ok && !memcmp(a, b, numel * sizeof *a);
        }
        total += s ? s->n : 0;
    }
    T_CHECK(ok && total == whole->n, "%s: the shards' parts are not the whole set's (%d of %d)",
            what, total, whole->n);
    free(seen);
    free(a);
    free(b);
}

static void test_hold_out(void) {
    cnn_dataset *whole = t_bars(101, 3), *held = NULL, *kept = NULL;
    char err[1024];
    enum { N = 3, HELD = 17 };
    T_OK(NULL, cnn_dataset_split(whole, HELD, 42, &kept, &held, err, sizeof err));
    cnn_dataset *s_held[N] = {0}, *s_kept[N] = {0}, *c_held[N] = {0}, *c_kept[N] = {0};
    for (int r = 0; r < N; r++) {
        cnn_shard sh = {r, N};
        T_OK(NULL, cnn_dataset_shard(whole, sh, &s_kept[r], err, sizeof err));
        T_OK(NULL, cnn_dataset_split(s_kept[r], HELD, 42, &c_kept[r], &c_held[r], err,
                                     sizeof err));
        T_OK(NULL, cnn_dataset_hold_out(s_kept[r], HELD, 42, &s_held[r], err, sizeof err));
    }
    if (held && kept && s_held[N - 1]) {
        check_parts(s_held, N, held, "hold-out, held");
        check_parts(s_kept, N, kept, "hold-out, kept");
        check_parts(c_held, N, held, "split, second");
        check_parts(c_kept, N, kept, "split, first");
        /* The first 40 of the kept part, by the shards' truncation. */
        cnn_dataset_truncate(kept, 40);
        for (int r = 0; r < N; r++) cnn_dataset_truncate(s_kept[r], 40);
        check_parts(s_kept, N, kept, "truncated");
        printf("  ok hold-out, split and truncation of 3 shards: the whole set's parts\n");
    }
    cnn_dataset *masks = NULL;
    cnn_shard two = {0, 2};
    cnn_status st = cnn_dataset_shard(s_held[0], two, &masks, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && strstr(err, "whole classification data set"),
            "a shard of a shard: %s", st ? err : "accepted");
    for (int r = 0; r < N; r++) {
        cnn_dataset_free(s_held[r]);
        cnn_dataset_free(s_kept[r]);
        cnn_dataset_free(c_held[r]);
        cnn_dataset_free(c_kept[r]);
    }
    cnn_dataset_free(held);
    cnn_dataset_free(kept);
    t_free_dataset(whole);
}

/* A trainer given a shard without the other ranks refuses it. */
static void test_trainer_alone(void) {
    cnn_dataset *whole = t_bars(64, 1), *s = NULL;
    char err[1024];
    cnn_shard sh = {1, 2};
    T_OK(NULL, cnn_dataset_shard(whole, sh, &s, err, sizeof err));
    cnn_net *net = t_net("input x - shape=1x8x8; flatten f -; dense d - out=4", 1);
    cnn_train_config cfg = cnn_train_defaults();
    cnn_trainer *tr = NULL;
    cnn_status st = cnn_trainer_new(net, s, NULL, &cfg, &tr, err, sizeof err);
    T_CHECK(st != CNN_STATUS_OK && strstr(err, "is a shard (32 of 64 samples)"),
            "a shard without ranks: %s", st ? err : "accepted");
    printf("  ok a shard without the other ranks: %s\n", err);
    cnn_trainer_free(tr);
    cnn_net_free(net);
    cnn_dataset_free(s);
    t_free_dataset(whole);
}

int main(void) {
    t_scratch_make("shard");
    test_loaders();
    test_hold_out();
    test_trainer_alone();
    t_scratch_remove();
    return t_finish();
}
