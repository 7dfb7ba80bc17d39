/*
 * test_hostile.c - hostile files cost nothing (issue 19):
 *   - a small checkpoint that promises much (300 million parameters in 150 bytes, sizes that
 *     overflow, a version-1 file with a billion input channels, 65537 layers) is refused, or
 *     read, without allocating what it promises: each is loaded in a child process
 *     (t_in_child), whose peak resident memory (wait4's ru_maxrss) must stay under 64 MB, and
 *     outside the sanitizers with its address space limited too, so that memory allocated
 *     and never touched counts as well;
 *   - a folder, a FIFO or a device given as a checkpoint, a definition, a CIFAR-10 batch or
 *     its class names is refused at once, saying what it is (a FIFO never blocks: each case
 *     runs in a child with an alarm);
 *   - integers in a checkpoint's training state and in cnn train's metadata are read strictly
 *     ("-5", "5x", " 5" refused, naming the key and the value);
 *   - a definition of too many layers is refused by the format's limit, one just under it is
 *     read, with every name where it belongs (names resolved through the network's index).
 */
#include "testlib.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define PEAK_LIMIT_MB 64.0

static char dir[] = "/tmp/cnn_hostile_XXXXXX";

static const char *in_dir(const char *name) {
    static char p[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    T_CHECK(f && fwrite(d, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile checkpoints
 * ------------------------------------------------------------------------------------------- */

/* A checkpoint: the sections given, in order ("DEFN", then PARM, STAT, RNG ...), and a valid
 * END with the checksum, so that only what the sections say is hostile. */
typedef struct ckpt {
    unsigned char *d;
    size_t n, cap;
} ckpt;

static void ck_put(ckpt *c, const void *p, size_t n) {
    if (c->n + n > c->cap) {
        c->cap = (c->n + n) * 2;
        c->d = realloc(c->d, c->cap);
    }
    memcpy(c->d + c->n, p, n);
    c->n += n;
}

static void ck_u32(ckpt *c, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    ck_put(c, b, 4);
}

static void ck_u64(ckpt *c, uint64_t v) {
    ck_u32(c, (uint32_t)v);
    ck_u32(c, (uint32_t)(v >> 32));
}

static void ck_section(ckpt *c, const char *tag, const void *p, size_t n) {
    ck_put(c, tag, 4);
    ck_u64(c, n);
    if (n) ck_put(c, p, n);
}

static ckpt ck_start(uint32_t version, const char *defn) {
    ckpt c = {0};
    ck_put(&c, "CNNCKPT1", 8);
    ck_u32(&c, version);
    ck_section(&c, "DEFN", defn, strlen(defn));
    return c;
}

/* PARM and STAT of the given sizes (zeros), and the generator. */
static void ck_body(ckpt *c, size_t params, size_t state) {
    float *z = calloc(params + state + 1, sizeof *z);
    ck_section(c, "PARM", z, params * sizeof *z);
    ck_section(c, "STAT", z, state * sizeof *z);
    unsigned char rng[32] = {1};
    ck_section(c, "RNG ", rng, sizeof rng);
    free(z);
}

static void ck_finish(ckpt *c, const char *path) {
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), c->d, (uInt)c->n);
    ck_put(c, "END ", 4);
    ck_u64(c, 4);
    ck_u32(c, crc);
    write_bytes(path, c->d, c->n);
    free(c->d);
}

typedef struct load_case {
    const char *path;
    const char *frag; /* in the refusal; NULL: the file must load */
} load_case;

static int load_in_child(const void *arg) {
    const load_case *lc = arg;
    cnn_net *net = NULL;
    cnn_optim *opt = NULL;
    char *meta = NULL, err[2048] = "";
    cnn_status st = cnn_checkpoint_load(lc->path, &net, &opt, &meta, err, sizeof err);
    int ok = lc->frag ? st != CNN_STATUS_OK && !net && strstr(err, lc->path) && strstr(err, lc->frag)
                      : st == CNN_STATUS_OK && net;
    printf("  %s: %s\n", ok ? "ok" : "WRONG", st ? err : "loaded");
    cnn_optim_free(opt);
    cnn_net_free(net);
    free(meta);
    return !ok;
}

/* Loads lc in a child: the outcome expected, within PEAK_LIMIT_MB of memory. */
static void expect_cheap_load(const load_case *lc, const char *what) {
    struct stat sb;
    long long size = stat(lc->path, &sb) == 0 ? (long long)sb.st_size : -1;
    double peak = 0, base = 0;
    int r = t_in_child(load_in_child, lc, 20, &peak, &base);
    printf("  %s (%lld bytes): peak %.1f MB (this process: %.1f MB)\n", what, size, peak, base);
    T_CHECK(r == 0, "%s: not the expected outcome (child exit %d)", what, r);
    T_CHECK(peak < t_peak_limit(PEAK_LIMIT_MB, base), "%s: peak %.1f MB", what, peak);
}

static void hostile_checkpoints(void) {
    printf("hostile checkpoints\n");
    /* 300 million parameters promised, none held. */
    ckpt c = ck_start(2, "x = input shape=1000\nd = dense out=300000\n");
    ck_body(&c, 0, 0);
    ck_finish(&c, in_dir("dense.ckpt"));
    load_case dense = {in_dir("dense.ckpt"), "the network has 300300000 parameters"};
    expect_cheap_load(&dense, "dense out=300000");

    /* 4e18 parameters: their byte count would wrap a size_t. */
    c = ck_start(2, "x = input shape=2000000000\nd = dense out=2000000000\n");
    ck_body(&c, 0, 0);
    ck_finish(&c, in_dir("wrap.ckpt"));
    load_case wrap = {in_dir("wrap.ckpt"), "the network would have more than"};
    expect_cheap_load(&wrap, "4e18 parameters");

    /* A sample of 2^64 values: a size_t count of 0. */
    c = ck_start(2, "x = input shape=2097152x2097152x4194304\nr = relu\n");
    ck_body(&c, 0, 0);
    ck_finish(&c, in_dir("numel.ckpt"));
    load_case numel = {in_dir("numel.ckpt"), "more than 2147483647 values per sample"};
    expect_cheap_load(&numel, "2^64 values per sample");

    /* Version 1 (no PREP): a billion input channels, and a mean of one value in the metadata.
     * The channels' means are not allocated for a text that cannot hold them. */
    c = ck_start(1, "x = input shape=1000000000\n");
    ck_body(&c, 0, 0);
    const char *meta = "mean=0.5\nstd=0.25\n";
    ck_section(&c, "META", meta, strlen(meta));
    ck_finish(&c, in_dir("v1.ckpt"));
    load_case v1 = {in_dir("v1.ckpt"), NULL};
    expect_cheap_load(&v1, "version 1, a billion channels");

    /* PREP promising 2^20 channels' statistics, then 2^24 class names, in a few bytes. */
    uint32_t prep[] = {0, 0, 1u << 20, 1, 0, 0, 0, 0};
    c = ck_start(2, "x = input shape=3\n");
    ck_body(&c, 0, 0);
    ck_section(&c, "PREP", prep, sizeof prep);
    ck_finish(&c, in_dir("channels.ckpt"));
    load_case channels = {in_dir("channels.ckpt"), "bad channel count"};
    expect_cheap_load(&channels, "PREP of 2^20 channels");
    uint32_t names[] = {0, 0, 3, 0, 0, 0, 1u << 24, 1, 5, 0};
    c = ck_start(2, "x = input shape=3\n");
    ck_body(&c, 0, 0);
    ck_section(&c, "PREP", names, sizeof names);
    ck_finish(&c, in_dir("classes.ckpt"));
    load_case classes = {in_dir("classes.ckpt"), "bad class count"};
    expect_cheap_load(&classes, "PREP of 2^24 class names");

    /* A section that claims 2^62 bytes. */
    c = (ckpt){0};
    ck_put(&c, "CNNCKPT1", 8);
    ck_u32(&c, 2);
    ck_put(&c, "DEFN", 4);
    ck_u64(&c, 1ull << 62);
    ck_finish(&c, in_dir("section.ckpt"));
    load_case section = {in_dir("section.ckpt"), "claims 4611686018427387904 bytes"};
    expect_cheap_load(&section, "a section of 2^62 bytes");

    /* 65537 layers in 330 kB. */
    size_t cap = 65537 * 6 + 64, off;
    char *text = malloc(cap);
    off = (size_t)snprintf(text, cap, "x = input shape=1\n");
    for (int i = 1; i < 65537; i++) off += (size_t)snprintf(text + off, cap - off, "relu\n");
    c = ck_start(2, text);
    free(text);
    ck_body(&c, 0, 0);
    ck_finish(&c, in_dir("layers.ckpt"));
    load_case layers = {in_dir("layers.ckpt"), "more than 65536 layers"};
    expect_cheap_load(&layers, "65537 layers");
}

/* ---------------------------------------------------------------------------------------------
 * Hostile CIFAR-10 batches
 * ------------------------------------------------------------------------------------------- */

typedef struct cifar_case {
    const char *paths[2];
    int n;
    const char *frag; /* NULL: loads */
} cifar_case;

static int cifar_in_child(const void *arg) {
    const cifar_case *cc = arg;
    cnn_dataset *ds = NULL;
    char err[2048] = "";
    cnn_status st = cnn_dataset_load_cifar10(cc->paths, cc->n, &ds, err, sizeof err);
    int ok = cc->frag ? st != CNN_STATUS_OK && !ds && strstr(err, cc->frag) : st == CNN_STATUS_OK;
    printf("  %s: %s\n", ok ? "ok" : "WRONG", st ? err : "loaded");
    cnn_dataset_free(ds);
    return !ok;
}

static void expect_cheap_cifar(const cifar_case *cc, const char *what) {
    double peak = 0, base = 0;
    int r = t_in_child(cifar_in_child, cc, 20, &peak, &base);
    printf("  %s: peak %.1f MB (this process: %.1f MB)\n", what, peak, base);
    T_CHECK(r == 0, "%s: not the expected outcome (child exit %d)", what, r);
    T_CHECK(peak < t_peak_limit(PEAK_LIMIT_MB, base), "%s: peak %.1f MB", what, peak);
}

/* A sparse file of size bytes, its first byte b. */
static void sparse_file(const char *path, long long size, unsigned char b) {
    FILE *f = fopen(path, "wb");
    T_CHECK(f && fputc(b, f) != EOF && fclose(f) == 0 && truncate(path, (off_t)size) == 0,
            "cannot make %s", path);
}

static void hostile_cifar(void) {
    printf("hostile CIFAR-10 batches\n");
    mkdir(in_dir("cifar"), 0700);
    /* 3 GB promised by the length (sparse: nothing on disk), one byte too many. */
    sparse_file(in_dir("cifar/big.bin"), 3073LL * 1000000 + 1, 0);
    cifar_case big = {{in_dir("cifar/big.bin")}, 1, "not a positive multiple"};
    expect_cheap_cifar(&big, "3 GB of length, not whole records");
    /* A valid first file and a folder as the second: refused before the first is read. */
    sparse_file(in_dir("cifar/ok.bin"), 3073LL * 2, 1);
    mkdir(in_dir("cifar/sub.bin"), 0700);
    cifar_case sub = {{in_dir("cifar/ok.bin"), in_dir("cifar/sub.bin")}, 2,
                      "sub.bin: is a directory, not a CIFAR-10 batch"};
    expect_cheap_cifar(&sub, "a folder as the second batch");
    cifar_case ok = {{in_dir("cifar/ok.bin")}, 1, NULL};
    expect_cheap_cifar(&ok, "two records");
}

/* ---------------------------------------------------------------------------------------------
 * Folders, FIFOs and devices given as files
 * ------------------------------------------------------------------------------------------- */

typedef struct kind_case {
    int what; /* 0 checkpoint, 1 definition, 2 CIFAR-10 batch, 3 whether a checkpoint */
    const char *path;
    const char *frag;
} kind_case;

static int kind_in_child(const void *arg) {
    const kind_case *k = arg;
    char err[2048] = "";
    cnn_net *net = NULL;
    cnn_dataset *ds = NULL;
    cnn_status st = CNN_STATUS_OK;
    if (k->what == 0) st = cnn_checkpoint_load(k->path, &net, NULL, NULL, err, sizeof err);
    if (k->what == 1) st = cnn_net_load_text(k->path, 1, &net, err, sizeof err);
    if (k->what == 2) st = cnn_dataset_load_cifar10(&k->path, 1, &ds, err, sizeof err);
    if (k->what == 3) st = cnn_is_checkpoint(k->path) ? CNN_STATUS_IO : CNN_STATUS_OK;
    int ok = k->what == 3 ? st == CNN_STATUS_OK : st != CNN_STATUS_OK && strstr(err, k->frag);
    printf("  %s: %s\n", ok ? "ok" : "WRONG", k->what == 3 ? "not a checkpoint" : err);
    cnn_net_free(net);
    cnn_dataset_free(ds);
    return !ok;
}

static void not_files(void) {
    printf("folders, FIFOs and devices\n");
    const char *folder = in_dir("folder.ckpt"), *fifo = in_dir("fifo.ckpt");
    mkdir(folder, 0700);
    T_CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    char msg[8][4300];
    snprintf(msg[0], sizeof msg[0], "%s: is a directory, not a checkpoint", folder);
    snprintf(msg[1], sizeof msg[1], "%s: is a FIFO (named pipe), not a checkpoint", fifo);
    snprintf(msg[2], sizeof msg[2], "%s: is a directory, not a network definition", folder);
    snprintf(msg[3], sizeof msg[3], "%s: is a FIFO (named pipe), not a network definition", fifo);
    snprintf(msg[4], sizeof msg[4], "%s: is a FIFO (named pipe), not a CIFAR-10 batch", fifo);
    const kind_case cases[] = {
        {0, folder, msg[0]},
        {0, fifo, msg[1]},
        {0, "/dev/zero", "/dev/zero: is a character device, not a checkpoint"},
        {1, folder, msg[2]},
        {1, fifo, msg[3]},
        {1, "/dev/zero", "/dev/zero: is a character device, not a network definition"},
        {2, folder, "is a directory, not a CIFAR-10 batch"},
        {2, fifo, msg[4]},
        {3, fifo, NULL},
        {3, folder, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double peak, base;
        int r = t_in_child(kind_in_child, &cases[i], 20, &peak, &base);
        T_CHECK(r == 0, "case %zu (%s): child exit %d (-1: blocked or crashed)", i,
                cases[i].path, r);
        T_CHECK(peak < t_peak_limit(PEAK_LIMIT_MB, base), "case %zu: peak %.1f MB", i, peak);
    }
    /* The class names beside a batch: a FIFO or a folder there is refused too. */
    mkdir(in_dir("meta_fifo"), 0700);
    mkdir(in_dir("meta_dir"), 0700);
    sparse_file(in_dir("meta_fifo/data_batch_1.bin"), 3073, 2);
    sparse_file(in_dir("meta_dir/data_batch_1.bin"), 3073, 2);
    T_CHECK(mkfifo(in_dir("meta_fifo/batches.meta.txt"), 0600) == 0, "mkfifo");
    mkdir(in_dir("meta_dir/batches.meta.txt"), 0700);
    cifar_case mf = {{in_dir("meta_fifo/data_batch_1.bin")}, 1,
                     "batches.meta.txt: is a FIFO (named pipe), not a list of class names"};
    expect_cheap_cifar(&mf, "a FIFO as batches.meta.txt");
    cifar_case md = {{in_dir("meta_dir/data_batch_1.bin")}, 1,
                     "batches.meta.txt: is a directory, not a list of class names"};
    expect_cheap_cifar(&md, "a folder as batches.meta.txt");
}

/* ---------------------------------------------------------------------------------------------
 * Integers in metadata
 * ------------------------------------------------------------------------------------------- */

/* meta with the value of the line "key=..." replaced by value (a string to free). */
static char *with_value(const char *meta, const char *key, const char *value) {
    size_t klen = strlen(key), cap = strlen(meta) + strlen(value) + klen + 4;
    char *out = malloc(cap);
    const char *at = meta;
    while (at && (strncmp(at, key, klen) != 0 || at[klen] != '=')) {
        at = strchr(at, '\n');
        if (at) at++;
    }
    if (!at) {
        snprintf(out, cap, "%s%s=%s\n", meta, key, value);
        return out;
    }
    const char *eol = strchr(at, '\n');
    snprintf(out, cap, "%.*s%s=%s%s", (int)(at - meta), meta, key, value, eol ? eol : "");
    return out;
}

static const char *TRAIN_NET =
    "input x - shape=1x8x8; conv2d c x out=4 kernel=3 padding=1; relu r -; flatten f -;"
    "dense logits - out=4";

static void strict_training_state(void) {
    printf("integers of the training state\n");
    cnn_dataset *ds = t_bars(64, 3);
    cnn_train_config cfg = cnn_train_defaults();
    cfg.epochs = 3;
    cfg.batch = 16;
    cfg.threads = 1;
    cfg.checkpoint = in_dir("run.ckpt");
    cnn_net *net = t_net(TRAIN_NET, 5);
    cnn_trainer *tr = NULL;
    char err[2048];
    T_CHECK(cnn_trainer_new(net, ds, NULL, &cfg, &tr, err, sizeof err) == 0, "%s", err);
    T_CHECK(tr && cnn_trainer_epoch(tr) == 0, "one epoch");
    cnn_trainer_free(tr);
    cnn_net_free(net);
    cnn_net *saved = NULL;
    cnn_optim *opt = NULL;
    char *meta = NULL;
    if (!T_CHECK(cnn_checkpoint_load(cfg.checkpoint, &saved, &opt, &meta, err, sizeof err) == 0,
                 "%s", err)) {
        t_free_dataset(ds);
        return;
    }
    static const struct {
        const char *key, *value, *frag; /* frag NULL: resumes */
    } cases[] = {
        {"train.epoch", "1", NULL},
        {"train.epoch", "-5", "train.epoch is '-5', expected an integer from 0 to 2147483647"},
        {"train.epoch", "1x", "train.epoch is '1x'"},
        {"train.epoch", " 1", "train.epoch is ' 1'"},
        {"train.epoch", "+1", "train.epoch is '+1'"},
        {"train.epoch", "", "train.epoch is ''"},
        {"train.epoch", "99999999999", "train.epoch is '99999999999'"},
        {"train.epochs", "0", "train.epochs is '0', expected an integer from 1"},
        {"train.batch", "-16", "train.batch is '-16'"},
        {"train.seed", "-1", "train.seed is '-1'"},
        {"train.seed", "18446744073709551616", "train.seed is '18446744073709551616'"},
        {"train.done", "2", "train.done is '2', expected an integer from 0 to 1"},
        {"train.correct", "-3", "train.correct is '-3'"},
        {"train.sum_loss", "nan", "train.sum_loss is 'nan', expected a number"},
        {"train.lr", "1e999", "train.lr is '1e999'"},
        {"train.step", "1000000", "train.step is 1000000, but an epoch of this run has 4 steps"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *m = with_value(meta, cases[i].key, cases[i].value);
        const char *path = in_dir("edited.ckpt");
        T_CHECK(cnn_checkpoint_save(path, saved, opt, m, err, sizeof err) == 0, "%s", err);
        free(m);
        tr = NULL;
        err[0] = 0;
        cnn_status st = cnn_trainer_resume(path, ds, NULL, 0, NULL, &tr, err, sizeof err);
        if (cases[i].frag)
            T_CHECK(st == CNN_STATUS_FORMAT && !tr && strstr(err, cases[i].frag) &&
                        strstr(err, path),
                    "%s=%s: status %d, '%s'", cases[i].key, cases[i].value, (int)st, err);
        else
            T_CHECK(st == CNN_STATUS_OK && tr && cnn_trainer_epochs_done(tr) == 1,
                    "%s=%s: %s", cases[i].key, cases[i].value, err);
        printf("  %s=%s: %s\n", cases[i].key, cases[i].value, st ? err : "resumed");
        cnn_trainer_free(tr);
    }
    free(meta);
    cnn_optim_free(opt);
    cnn_net_free(saved);
    t_free_dataset(ds);
}

/* cnn train --resume reads cli.limit and train.seed strictly too. */
static void strict_cli_metadata(const char *tool) {
    printf("integers of cnn train's metadata\n");
    cnn_net *net = t_net(TRAIN_NET, 5);
    cnn_optim_config oc = cnn_optim_defaults(CNN_OPTIM_ADAM, 0.01f);
    cnn_optim *opt = cnn_optim_new(net, &oc);
    static const struct {
        const char *limit, *seed, *frag;
    } cases[] = {
        {"-5", "1", "cli.limit is '-5', expected an integer from 0 to 2147483647"},
        {"12abc", "1", "cli.limit is '12abc'"},
        {"0", "-1", "train.seed is '-1'"},
        {"0", "4294967297", "train.seed is '4294967297'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char meta[512], err[1024], out[4096], args[4300];
        snprintf(meta, sizeof meta,
                 "cli.model=lenet5\ncli.data=%s/nowhere\ncli.input=\ncli.val=\n"
                 "cli.limit=%s\ntrain.loss=cross-entropy\ntrain.seed=%s\n",
                 dir, cases[i].limit, cases[i].seed);
        T_CHECK(cnn_checkpoint_save(in_dir("cli.ckpt"), net, opt, meta, err, sizeof err) == 0,
                "%s", err);
        snprintf(args, sizeof args, "train --resume %s", in_dir("cli.ckpt"));
        int code = t_run_tool(tool, dir, args, out, sizeof out);
        T_CHECK(code != 0 && strstr(out, cases[i].frag), "limit %s, seed %s: exit %d, '%s'",
                cases[i].limit, cases[i].seed, code, out);
        printf("  %s", out);
    }
    cnn_optim_free(opt);
    cnn_net_free(net);
}

/* ---------------------------------------------------------------------------------------------
 * Large definitions
 * ------------------------------------------------------------------------------------------- */

/* Text of an input layer and `layers - 1` more: every fourth named "lK", the others left to
 * automatic names, and every 1000th an add of the layer above and the very first one (a
 * lookup of a name far back). Returns a string to free. */
static char *many_layers(int layers) {
    size_t cap = (size_t)layers * 32 + 64, off = 0;
    char *t = malloc(cap);
    off += (size_t)snprintf(t + off, cap - off, "x = input shape=4\n");
    for (int i = 1; i < layers; i++) {
        if (i % 1000 == 0)
            off += (size_t)snprintf(t + off, cap - off, "s%d = add(l%d, x)\n", i, i - 4 + i % 4);
        else if (i % 4 == 0)
            off += (size_t)snprintf(t + off, cap - off, "l%d = relu\n", i);
        else
            off += (size_t)snprintf(t + off, cap - off, "relu\n");
    }
    return t;
}

static void layer_limit(void) {
    char err[1024] = "";
    cnn_net *net = NULL;
    /* 100,000 layers: refused by the limit, at the line of the first layer too many. */
    char *text = many_layers(100000);
    cnn_status st = cnn_net_from_text(text, "big.txt", 1, &net, err, sizeof err);
    T_CHECK(st == CNN_STATUS_INVALID_ARGUMENT && net == NULL, "100000 layers accepted");
    T_CHECK(strstr(err, "big.txt:65537:") && strstr(err, "more than 65536 layers"),
            "message '%s' lacks the line and the limit", err);
    printf("  ok refused: %s\n", err);
    cnn_net_free(net);
    free(text);

    /* Comments and blank lines are not layers: the limit counts statements. */
    size_t cap = (size_t)CNN_TEXT_MAX_LAYERS * 8 + 1000;
    text = malloc(cap);
    size_t off = (size_t)snprintf(text, cap, "# comment\n\nx = input shape=2\n   # indented\n");
    for (int i = 1; i < CNN_TEXT_MAX_LAYERS; i++) off += (size_t)snprintf(text + off, cap - off, "relu\n\n");
    T_CHECK(cnn_net_from_text(text, "blank.txt", 1, &net, err, sizeof err) == 0, "%s", err);
    T_CHECK(net && cnn_net_layer_count(net) == CNN_TEXT_MAX_LAYERS, "layer count");
    cnn_net_free(net);
    free(text);

    /* Just under the limit: read, every name where it should be. */
    text = many_layers(CNN_TEXT_MAX_LAYERS);
    net = NULL;
    st = cnn_net_from_text(text, "under.txt", 1, &net, err, sizeof err);
    if (T_CHECK(st == CNN_STATUS_OK, "%d layers refused: %s", CNN_TEXT_MAX_LAYERS, err)) {
        T_CHECK(cnn_net_layer_count(net) == CNN_TEXT_MAX_LAYERS, "%d layers",
                cnn_net_layer_count(net));
        /* relu_K counts the automatic relus: layers 1, 2, 3, 5, ... are relu_1, relu_2, ... */
        T_CHECK(!strcmp(cnn_net_layer_name(net, 1), "relu_1") &&
                    !strcmp(cnn_net_layer_name(net, 5), "relu_4"),
                "automatic names %s, %s", cnn_net_layer_name(net, 1), cnn_net_layer_name(net, 5));
        int s = cnn_net_find(net, "s65000");
        T_CHECK(s == 65000 && cnn_net_layer_input(net, s, 0) == 64996 &&
                    cnn_net_layer_input(net, s, 1) == 0,
                "s65000 is layer %d", s);
        T_CHECK(cnn_net_find(net, "l4") == 4 && cnn_net_find(net, "l65532") == 65532 &&
                    cnn_net_find(net, "l65533") == -1 && cnn_net_find(net, "x") == 0,
                "names by index");
        char last[32];
        snprintf(last, sizeof last, "relu_%d", CNN_TEXT_MAX_LAYERS - 1 - (CNN_TEXT_MAX_LAYERS - 1) / 4);
        T_CHECK(cnn_net_find(net, last) == CNN_TEXT_MAX_LAYERS - 1, "the last automatic name %s",
                last);
    }
    cnn_net_free(net);
    free(text);
}

/* Automatic names skip the names already taken, by layers of any type, and a failed layer
 * does not use one up. */
static void automatic_names(void) {
    char err[1024];
    cnn_net *net = NULL;
    const char *text = "x = input shape=4\n"
                       "relu_2 = sigmoid\n"
                       "relu\n"
                       "relu\n"
                       "relu_4 = relu\n"
                       "relu\n";
    if (T_CHECK(cnn_net_from_text(text, "names.txt", 1, &net, err, sizeof err) == 0, "%s", err)) {
        const char *want[] = {"x", "relu_2", "relu_1", "relu_3", "relu_4", "relu_5"};
        for (int i = 0; i < 6; i++)
            T_CHECK(!strcmp(cnn_net_layer_name(net, i), want[i]), "layer %d is '%s', expected '%s'",
                    i, cnn_net_layer_name(net, i), want[i]);
        T_CHECK(cnn_add(net, "dense", NULL, NULL, "out=0") != 0, "dense out=0 accepted");
        T_OK(net, cnn_add(net, "dense", NULL, NULL, "out=2"));
        T_CHECK(!strcmp(cnn_net_layer_name(net, 6), "dense_1"), "after a failed add: %s",
                cnn_net_layer_name(net, 6));
    }
    cnn_net_free(net);
}

int main(int argc, char **argv) {
    (void)argc;
    if (!mkdtemp(dir)) return 1;
    char tool[4200];
    automatic_names();
    layer_limit();
    hostile_checkpoints();
    hostile_cifar();
    not_files();
    strict_training_state();
    if (t_tool_path(argv[0], tool, sizeof tool)) strict_cli_metadata(tool);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return t_finish();
}
