/*
 * test_cli_train.c - `cnn train` (and the eval and predict of what it writes) end to end, on
 * the problems new users met: image folders whose classes differ or list in another order,
 * --preprocess against --augment, a network ending in softmax, where checkpoints go (--resume
 * without --out, an existing model.ckpt, --force), the data set's absolute path, outputs
 * checked before training and a plot that fails during it, a zoo definition with another
 * input, refused settings, --val, --limit, --patience, --best, Ctrl-C and resuming, label
 * smoothing, predict's output forms, segmentation and regression folders, --ensemble, a
 * budgeted run's plan and --replay, --plan.
 *
 * Data are tiny and synthetic (IDX images of a bar whose row is the class, 8x8 PNGs whose
 * brightness is the class, 16x16 PNGs of a bright rectangle and its mask), written to a
 * mkdtemp folder. The tool is found beside the test program: BUILD/tests/X -> BUILD/cnn.
 */
#include "testlib.h"

#include <math.h>
#include <signal.h>
#include <stb/stb_image_write.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_cli_train_XXXXXX";
static char out[1 << 17], err[1 << 17]; /* the last run's stdout and stderr */

/* A linear classifier of the 28x28 IDX images, and the options most runs on them share. */
#define LIN "train --data . --model lin.txt --batch 32"
/* A model slow enough to be interrupted (about half a second per epoch on 2 cores). */
#define SLOW "train --data . --model vgg_small --limit 300 --val 30 --epochs 2 --batch 32 --seed 5"

/* ---------------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------------- */

static void path_of(char *path, size_t size, const char *name) {
    snprintf(path, size, "%s/%s", dir, name);
}

static int exists(const char *name) {
    char path[4200];
    path_of(path, sizeof path, name);
    return access(path, F_OK) == 0;
}

/* Reads dir/name into buf (empty when it cannot be read). */
static void read_text(const char *name, char *buf, size_t size) {
    char path[4200];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

static void write_text(const char *name, const char *text) {
    char path[4200];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    if (T_CHECK(f != NULL, "cannot write %s", path)) {
        fputs(text, f);
        fclose(f);
    }
}

/* mkdir -p dir/name */
static void make_dirs(const char *name) {
    char path[4200];
    path_of(path, sizeof path, name);
    for (char *p = path + strlen(dir) + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        mkdir(path, 0755);
        if (!(*p = c)) break;
    }
}

static void write_png(const char *name, int w, int h, const unsigned char *px) {
    char path[4200];
    path_of(path, sizeof path, name);
    T_CHECK(stbi_write_png(path, w, h, 1, px, w) != 0, "writing %s", path);
}

static void be32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* A 28x28 image of class `label`: a bright bar at row 2 label + 4 over noise. */
static void bar_image(unsigned char *img, int label, uint64_t seed) {
    float noise[28 * 28];
    t_fill(noise, 28 * 28, seed, 0, 80);
    for (int p = 0; p < 28 * 28; p++) img[p] = (unsigned char)noise[p];
    for (int c = 3; c < 25; c++) img[(2 * label + 4) * 28 + c] = 255;
}

/* n bar images in IDX files prefix-images-idx3-ubyte and prefix-labels-idx1-ubyte. */
static void write_idx(const char *prefix, int n, uint64_t seed) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *fi = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *fl = fopen(path, "wb");
    be32(fi, 0x803);
    be32(fi, (uint32_t)n);
    be32(fi, 28);
    be32(fi, 28);
    be32(fl, 0x801);
    be32(fl, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        unsigned char label = (unsigned char)(i % 10), img[28 * 28];
        bar_image(img, label, seed + (uint64_t)i);
        fwrite(img, 1, sizeof img, fi);
        fwrite(&label, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

/* A PNG of class `label` drawn as the training images are. */
static void write_bar_png(const char *name, int label) {
    unsigned char img[28 * 28];
    bar_image(img, label, 7000 + (uint64_t)label);
    write_png(name, 28, 28, img);
}

/* ---------------------------------------------------------------------------------------------
 * Running the tool
 * ------------------------------------------------------------------------------------------- */

/* Runs the tool in cwd with the arguments fmt (a shell word list); returns its exit code
 * (-1 when it did not exit) and keeps its stdout in out, its stderr in err. */
static int vrun_in(const char *cwd, const char *fmt, va_list ap) {
    char args[4096], cmd[12288];
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>%s/stderr.txt", cwd, tool, args, dir);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    read_text("stderr.txt", err, sizeof err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_in(const char *cwd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int code = vrun_in(cwd, fmt, ap);
    va_end(ap);
    return code;
}

/* Either stream holds frag. */
static int said(const char *frag) { return strstr(out, frag) || strstr(err, frag); }

/* An exit code that expect() takes as any failure (exit 1 or more). */
#define FAILS (-2)

/* Runs the arguments fmt in dir, expects exit code `code` and every fragment (NULL: none) in
 * the output. Returns whether all held. */
static int expect(int code, const char *frag1, const char *frag2, const char *fmt, ...) {
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int got = run_in(dir, "%s", args);
    int ok = T_CHECK(code == FAILS ? got > 0 : got == code,
                     "cnn %s: exit %d, expected %s%d; output:\n%s%s", args, got,
                     code == FAILS ? "non-zero, not " : "", code == FAILS ? 0 : code, out, err);
    ok &= T_CHECK(!frag1 || said(frag1), "cnn %s: output lacks '%s':\n%s%s", args, frag1, out, err);
    ok &= T_CHECK(!frag2 || said(frag2), "cnn %s: output lacks '%s':\n%s%s", args, frag2, out, err);
    printf("  %s cnn %s -> %d\n", ok ? "ok" : "FAILED", args, got);
    return ok;
}

/* The lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix) {
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    return n;
}

/* The number after the first (last: the last) occurrence of key in text, or NAN. */
static double number_after(const char *text, const char *key, int last) {
    const char *at = strstr(text, key);
    for (const char *p = at; last && p; p = strstr(p + 1, key)) at = p;
    return at ? strtod(at + strlen(key), NULL) : NAN;
}

/* ---------------------------------------------------------------------------------------------
 * Running it in the background (Ctrl-C, files removed during training)
 * ------------------------------------------------------------------------------------------- */

/* A run of the tool in the background, its stdout and stderr merged into `out` line by line
 * as they come (through a pipe: a line is seen the moment the tool prints it). */
typedef struct job {
    pid_t pid; /* -1 when it could not start */
    FILE *pipe;
    size_t len;
} job;

static void job_start(job *j, const char *args) {
    char cmd[12288];
    int fd[2];
    snprintf(cmd, sizeof cmd, "cd %s && exec %s %s 2>&1", dir, tool, args);
    *j = (job){.pid = -1};
    out[0] = err[0] = 0;
    if (pipe(fd) != 0) return;
    if ((j->pid = fork()) == 0) {
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    if (j->pid < 0) close(fd[0]);
    else j->pipe = fdopen(fd[0], "r");
}

/* Reads the job's lines until one holds frag (returns 1) or the output ends (0; frag NULL:
 * reads it all). */
static int job_read(job *j, const char *frag) {
    while (j->pipe && j->len + 1 < sizeof out &&
           fgets(out + j->len, (int)(sizeof out - j->len), j->pipe)) {
        const char *line = out + j->len;
        j->len += strlen(line);
        if (frag && strstr(line, frag)) return 1;
    }
    return 0;
}

/* Sends sig to the job (when it started). */
static void job_signal(const job *j, int sig) {
    if (j->pid > 0) kill(j->pid, sig);
}

/* Reads the rest of the output and waits for the end: the exit code, or -1 when the job did
 * not start or a signal ended it. */
static int job_finish(job *j) {
    job_read(j, NULL);
    if (j->pipe) fclose(j->pipe);
    int st = 0;
    if (j->pid <= 0 || waitpid(j->pid, &st, 0) != j->pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------------------------------------
 * Checkpoints through the C API
 * ------------------------------------------------------------------------------------------- */

/* Whether two parameter copies (of n and m floats) differ anywhere. */
static int differ(const float *a, size_t n, const float *b, size_t m) {
    return !a || !b || n != m || memcmp(a, b, n * sizeof *a) != 0;
}

/* The number of the line "key=VALUE" in a checkpoint's metadata (hex floats too), or NAN. */
static double meta_number(const char *name, const char *key) {
    char path[4200], msg[1024], *meta = NULL, line[256];
    path_of(path, sizeof path, name);
    cnn_net *net = NULL;
    double v = NAN;
    if (cnn_checkpoint_load(path, &net, NULL, &meta, msg, sizeof msg) == CNN_STATUS_OK) {
        snprintf(line, sizeof line, "\n%s=", key);
        const char *at = meta ? strstr(meta, line) : NULL;
        if (at) v = strtod(at + strlen(line), NULL);
    }
    free(meta);
    cnn_net_free(net);
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * 1. Image folders: classes matched by name, or a clear refusal
 * ------------------------------------------------------------------------------------------- */

/* DIR/root/split/name/i.png: n 8x8 images of brightness level/3, plus noise. */
static void write_class(const char *root, const char *split, const char *name, int level, int n,
                        uint64_t seed) {
    char sub[512], file[600];
    snprintf(sub, sizeof sub, "%s/%s/%s", root, split, name);
    make_dirs(sub);
    for (int i = 0; i < n; i++) {
        float noise[64];
        unsigned char px[64];
        t_fill(noise, 64, seed + (uint64_t)i, -20, 20);
        for (int p = 0; p < 64; p++) px[p] = (unsigned char)fminf(255, fmaxf(0, level * 85 + noise[p]));
        snprintf(file, sizeof file, "%s/%d.png", sub, i);
        write_png(file, 8, 8, px);
    }
}

/* Names whose sorted order (one, three, two, zero) is not their brightness order. */
static const char *const NAMES[] = {"zero", "one", "two", "three"};

static void test_folders(void) {
    printf("image folders\n");
    write_text("img.txt", "x = input shape=1x8x8\nf = flatten\nd = dense out=4\n");
    /* The same classes, the test folders made in the opposite order. */
    for (int k = 0; k < 4; k++) write_class("cls", "train", NAMES[k], k, 16, 100 + 20 * k);
    for (int k = 3; k >= 0; k--) write_class("cls", "test", NAMES[k], k, 6, 200 + 20 * k);
    const char *fit = "--input 1x8x8 --model img.txt --epochs 10 --batch 8 --val 0 --lr 0.1 --wd 0";
    expect(0, "test: 24 samples", NULL, "train --data cls %s --out cls.ckpt", fit);
    T_CHECK(number_after(out, "top-1 ", 1) >= 90, "folders: training's test top-1 is low:\n%s", out);
    expect(0, "top-1", NULL, "eval cls.ckpt");
    T_CHECK(number_after(out, "top-1 ", 1) >= 90, "folders: eval's top-1 is low:\n%s", out);

    /* A renamed test folder: both names are given. */
    for (int k = 0; k < 4; k++) write_class("ren", "train", NAMES[k], k, 4, 300 + 20 * k);
    for (int k = 0; k < 4; k++) write_class("ren", "test", k == 3 ? "tres" : NAMES[k], k, 2, 400);
    expect(FAILS, "three", "tres", "train --data ren %s --out ren.ckpt", fit);
    T_CHECK(!strstr(out, "epoch "), "a renamed class is refused before training:\n%s", out);
    expect(FAILS, "tres", NULL, "eval cls.ckpt --data ren");

    /* A test set without one class: matched by name (then accurate), or refused naming it. */
    for (int k = 0; k < 4; k++) write_class("few", "train", NAMES[k], k, 16, 100 + 20 * k);
    for (int k = 1; k < 4; k++) write_class("few", "test", NAMES[k], k, 6, 200 + 20 * k);
    int code = run_in(dir, "train --data few %s --out few.ckpt", fit);
    T_CHECK(code == 0 ? number_after(out, "top-1 ", 1) >= 90 : code > 0 && said("zero"),
            "a test set lacking class 'zero': exit %d\n%s%s", code, out, err);
    printf("  %s without a class -> %d\n", code == 0 ? "matched" : "refused", code);
}

/* ---------------------------------------------------------------------------------------------
 * 2. --preprocess sobel, kept with the model; refused in --augment
 * ------------------------------------------------------------------------------------------- */

/* The top-1 probability and class of three.png through the model `name` with the stored
 * sobel switched off, the image filtered by hand first when `by_hand`. */
static float classify_three(const char *name, int by_hand, int *cls) {
    char path[4200], msg[1024];
    float x[28 * 28], scratch[2 * 28 * 28], mean = 0, std = 1, prob = -1;
    cnn_net *net = NULL;
    path_of(path, sizeof path, name);
    if (!T_CHECK(cnn_net_load(path, &net, msg, sizeof msg) == CNN_STATUS_OK, "%s", msg)) return -1;
    path_of(path, sizeof path, "three.png");
    T_CHECK(cnn_image_load(path, 1, 28, 28, x, msg, sizeof msg) == CNN_STATUS_OK, "%s", msg);
    if (by_hand) cnn_augment_image(&(cnn_augment){.sobel = 1}, x, 1, 28, 28, 0, scratch);
    cnn_preprocess p = *cnn_net_preprocess(net);
    if (p.mean) mean = p.mean[0], std = p.std[0], p.mean = &mean, p.std = &std;
    p.sobel = 0;
    p.class_names = NULL;
    T_OK(net, cnn_net_set_preprocess(net, &p));
    T_OK(net, cnn_classify(net, x, 1, 1, cls, &prob));
    cnn_net_free(net);
    return prob;
}

static void check_predict_sobel(void) {
    int cls = -1, raw_cls = -1;
    float want = classify_three("sobel.ckpt", 1, &cls), raw = classify_three("sobel.ckpt", 0, &raw_cls);
    T_CHECK(fabsf(want - raw) > 1e-4f, "sobel changes nothing here: the check below proves nothing");
    expect(0, "\"probability\": ", NULL, "predict sobel.ckpt three.png --json --top 1");
    double got = number_after(out, "\"probability\": ", 0);
    T_CHECK((int)number_after(out, "\"index\": ", 0) == cls && fabs(got - want) < 2e-6,
            "predict does not apply the stored sobel: class %d probability %.6f, by hand %d %.6f",
            (int)number_after(out, "\"index\": ", 0), got, cls, (double)want);
}

static void test_preprocess(void) {
    printf("--preprocess\n");
    expect(2, "--preprocess", NULL, LIN " --epochs 1 --augment sobel --out aug.ckpt");
    expect(2, "--preprocess", NULL, LIN " --epochs 1 --augment blur=1 --out aug.ckpt");
    T_CHECK(!exists("aug.ckpt"), "a refused --augment wrote no checkpoint");
    /* A small learning rate leaves the model far from perfect: its test result would differ if
     * eval did not apply the sobel filter. */
    expect(0, "test: 200 samples", NULL, LIN " --epochs 1 --lr 0.0005 --preprocess sobel --out sobel.ckpt");
    double top1 = number_after(out, "top-1 ", 1), loss = number_after(out, "test: 200 samples, loss ", 1);
    expect(0, "top-1", NULL, "eval sobel.ckpt");
    T_CHECK(number_after(out, "top-1 ", 1) == top1 && fabs(number_after(out, "\nloss ", 0) - loss) < 2e-4,
            "eval of a sobel model: top-1 %.2f loss %.4f, training's test said top-1 %.2f loss %.4f",
            number_after(out, "top-1 ", 1), number_after(out, "\nloss ", 0), top1, loss);
    char path[4200], msg[1024];
    cnn_net *net = NULL;
    path_of(path, sizeof path, "sobel.ckpt");
    if (T_CHECK(cnn_checkpoint_load(path, &net, NULL, NULL, msg, sizeof msg) == 0, "%s", msg))
        T_CHECK(cnn_net_preprocess(net)->sobel == 1, "the checkpoint does not keep sobel");
    cnn_net_free(net);
    check_predict_sobel();
}

/* ---------------------------------------------------------------------------------------------
 * 3. A network ending in softmax trains as its logits would
 * ------------------------------------------------------------------------------------------- */

static void test_softmax(void) {
    printf("softmax at the end\n");
    write_text("sm.txt", "x = input shape=1x28x28\nf = flatten\nd = dense out=10\ns = softmax\n");
    const char *cmd = "train --data . --batch 32 --seed 3 --epochs 2 --augment none";
    expect(0, "test:", NULL, "%s --model lin.txt --out nosm.ckpt", cmd);
    double top1 = number_after(out, "top-1 ", 1), first = number_after(out, "train loss ", 0);
    expect(0, "test:", NULL, "%s --model sm.txt --out sm.ckpt", cmd);
    double sm_top1 = number_after(out, "top-1 ", 1), sm_first = number_after(out, "train loss ", 0);
    double sm_last = number_after(out, "train loss ", 1), sm_test = number_after(out, "loss ", 1);
    T_CHECK(fabs(sm_top1 - top1) <= 2, "softmax net: test top-1 %.2f%%, without softmax %.2f%%",
            sm_top1, top1);
    T_CHECK(fabs(sm_first - first) <= 0.05 * first, "softmax net: epoch 1 loss %.4f, without %.4f",
            sm_first, first);
    /* Cross-entropy of a softmax of probabilities is at least log(1 + 9/e) = 1.46 for 10
     * classes: a loss below it is a loss of logits. */
    T_CHECK(sm_last < 1.4 && sm_test < 1.4, "softmax net: losses %.4f (train) %.4f (test) are "
            "those of softmax on softmax", sm_last, sm_test);
    /* predict gives the softmax's output, not a softmax of it. */
    expect(0, "\"probability\": ", NULL, "predict nosm.ckpt three.png --json --top 1");
    double p = number_after(out, "\"probability\": ", 0);
    expect(0, "\"probability\": ", NULL, "predict sm.ckpt three.png --json --top 1");
    T_CHECK(fabs(number_after(out, "\"probability\": ", 0) - p) < 1e-3,
            "predict: probability %.6f with the softmax, %.6f without",
            number_after(out, "\"probability\": ", 0), p);
}

/* ---------------------------------------------------------------------------------------------
 * 4. Where the checkpoint goes: --resume in place, model.ckpt kept unless --force
 * ------------------------------------------------------------------------------------------- */

static void test_resume_in_place(void) {
    printf("--resume without --out, --force\n");
    size_t n0 = 0, n1 = 0;
    expect(0, "wrote the model to my.ckpt", NULL, LIN " --epochs 1 --schedule constant --out my.ckpt");
    float *before = t_checkpoint_params(dir, "my.ckpt", &n0);
    expect(0, "resuming from my.ckpt after epoch 1", "wrote the model to my.ckpt",
           "train --resume my.ckpt --epochs 2");
    float *after = t_checkpoint_params(dir, "my.ckpt", &n1);
    T_CHECK(differ(before, n0, after, n1), "--resume my.ckpt left my.ckpt's parameters as they were");
    T_CHECK(meta_number("my.ckpt", "train.epoch") == 2, "my.ckpt holds %g epochs, not 2",
            meta_number("my.ckpt", "train.epoch"));
    T_CHECK(!exists("model.ckpt"), "--resume without --out wrote model.ckpt");
    free(before);
    free(after);

    expect(0, "wrote the model to model.ckpt", NULL, LIN " --epochs 1");
    before = t_checkpoint_params(dir, "model.ckpt", &n0);
    expect(2, "--force", "model.ckpt", LIN " --epochs 1 --seed 4");
    T_CHECK(!strstr(out, "epoch "), "an existing model.ckpt is refused before training");
    expect(0, "wrote the model to model.ckpt", NULL, LIN " --epochs 1 --seed 4 --force");
    after = t_checkpoint_params(dir, "model.ckpt", &n1);
    T_CHECK(differ(before, n0, after, n1), "--force did not overwrite model.ckpt");
    free(before);
    free(after);
}

/* ---------------------------------------------------------------------------------------------
 * 5. The data set's absolute path in the checkpoint
 * ------------------------------------------------------------------------------------------- */

static void test_absolute_data(void) {
    printf("eval from another folder\n");
    expect(0, NULL, NULL, LIN " --epochs 1 --out abs.ckpt");
    int code = run_in("/", "eval %s/abs.ckpt", dir);
    T_CHECK(code == 0 && strstr(out, "top-1"), "cd / && cnn eval %s/abs.ckpt: exit %d\n%s%s", dir,
            code, out, err);
    code = run_in("/", "train --resume %s/abs.ckpt --epochs 2", dir);
    T_CHECK(code == 0 && strstr(out, "test: 200 samples"),
            "cd / && cnn train --resume %s/abs.ckpt --epochs 2: exit %d\n%s%s", dir, code, out, err);
}

/* ---------------------------------------------------------------------------------------------
 * 6. Output paths: checked before training; a plot failing during training is a warning
 * ------------------------------------------------------------------------------------------- */

static void test_output_paths(void) {
    printf("output paths\n");
    make_dirs("afolder");
    expect(2, "/nonexistent/dir", NULL, LIN " --epochs 1 --out /nonexistent/dir/m.ckpt");
    T_CHECK(!strstr(out, "epoch "), "--out in a missing folder: refused before training:\n%s", out);
    expect(2, "afolder", NULL, LIN " --epochs 1 --out p.ckpt --plot afolder");
    T_CHECK(!strstr(out, "epoch "), "--plot a folder: refused before training:\n%s", out);
    expect(2, "afolder", NULL, LIN " --epochs 1 --out l.ckpt --log afolder");
    T_CHECK(!strstr(out, "epoch "), "--log a folder: refused before training:\n%s", out);
    expect(2, "/nonexistent/dir", NULL, LIN " --epochs 1 --out bst.ckpt --best /nonexistent/dir/b.ckpt");
    T_CHECK(!strstr(out, "epoch "), "--best in a missing folder: refused before training:\n%s", out);
    T_CHECK(!exists("p.ckpt") && !exists("l.ckpt") && !exists("bst.ckpt"),
            "refused runs wrote no checkpoint");

    /* The plot's folder exists when training starts and is removed during epoch 1. */
    make_dirs("gone");
    job j;
    job_start(&j, SLOW " --out gone.ckpt --plot gone/p.png");
    int seen = job_read(&j, "epoch 1/2 [");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s/gone", dir);
    T_CHECK(system(cmd) == 0 && seen, "removing the plot's folder during training");
    int code = job_finish(&j);
    T_CHECK(code == 0 && strstr(out, "test:") && count_lines(out, "epoch  ") == 2,
            "a plot that cannot be written stopped training: exit %d\n%s", code, out);
    T_CHECK(strstr(out, "warning") && strstr(out, "gone/p.png"), "no warning about the plot:\n%s", out);
    T_CHECK(!strstr(out, "plot to gone/p.png"), "the last line says the plot that could not be "
            "written was written:\n%s", out);
}

/* ---------------------------------------------------------------------------------------------
 * 7, 8, 9. A zoo definition with another input; refused settings; --val and --limit
 * ------------------------------------------------------------------------------------------- */

static void test_zoo_definition(void) {
    printf("cnn def resnet20 as --model\n");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "cd %s && %s def resnet20 > net.txt", dir, tool);
    T_CHECK(system(cmd) == 0, "cnn def resnet20");
    expect(0, "test: 64 samples", "note:", "train --model net.txt --data . --epochs 1 --limit 64 "
           "--val 0 --batch 32 --out resnet.ckpt");
    T_CHECK(strstr(err, "1x28x28") != NULL, "the note does not give the data's shape:\n%s", err);
}

static void test_refusals(void) {
    printf("refused settings\n");
    expect(2, "--threads 1000", NULL, LIN " --epochs 1 --threads 1000 --out r.ckpt");
    expect(2, "learning rate", NULL, LIN " --epochs 1 --lr 0 --out r.ckpt");
    T_CHECK(!strstr(out, "epoch "), "--lr 0 trained:\n%s", out);
    int code = run_in(dir, LIN " --epochs 1 --input 3x32x32 --out r.ckpt");
    T_CHECK((code == 1 || code == 2) && said("1x28x28") && !strstr(out, "epoch "),
            "--input 3x32x32 on IDX data: exit %d\n%s%s", code, out, err);
    T_CHECK(!exists("r.ckpt"), "refused runs wrote no checkpoint");
}

/* Without --threads, as many threads as the processors this process may use: one under
 * `taskset -c 0`. Skipped where taskset is missing. */
static void test_default_threads(void) {
    char cmd[8192], buf[8192];
    if (system("command -v taskset >/dev/null 2>&1") != 0) return;
    snprintf(cmd, sizeof cmd, "cd %s && taskset -c 0 %s " LIN " --epochs 1 --out th.ckpt 2>&1",
             dir, tool);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    buf[n] = 0;
    int code = p ? pclose(p) : -1;
    T_CHECK(code == 0 && strstr(buf, " 1 thread,"), "default threads under taskset -c 0:\n%s", buf);
}

/* cnn eval --split val of a model trained with --val (training's output in trained): the
 * same samples, so the loss its last epoch printed. */
static void check_eval_val(const char *model, const char *trained, const char *count) {
    double want = number_after(trained, "val loss ", 1);
    expect(0, count, "held out by its training", "eval %s --split val", model);
    T_CHECK(fabs(number_after(out, "loss ", 0) - want) < 1e-4,
            "cnn eval %s --split val: loss %g, training's last validation said %g", model,
            number_after(out, "loss ", 0), want);
}

static void test_val_limit(void) {
    printf("--val, --limit, cnn eval --split val\n");
    static char trained[sizeof out];
    expect(0, "480 training, 120 validation, 200 test", NULL, LIN " --epochs 1 --val 0.2 --out v1.ckpt");
    snprintf(trained, sizeof trained, "%s", out);
    check_eval_val("v1.ckpt", trained, "120 validation samples");
    expect(0, "\"split\": \"val\", \"task\": \"classification\", \"n\": 120", NULL,
           "eval v1.ckpt --split val --json");
    /* Another data set (650 training samples): not the samples the run held out. */
    make_dirs("more");
    write_idx("more/train", 650, 1);
    write_idx("more/t10k", 200, 100000);
    expect(FAILS, "not those its training held out", "120:", "eval v1.ckpt --split val --data more");
    expect(0, "200 samples", NULL, "eval v1.ckpt --split test --data more");
    expect(2, "--split train: expected test or val", NULL, "eval v1.ckpt --split train");
    expect(0, "540 training, 60 validation, 200 test", NULL, LIN " --epochs 1 --out v2.ckpt");
    expect(FAILS, "--val 600", NULL, LIN " --epochs 1 --val 600 --out v3.ckpt");
    T_CHECK(!strstr(out, "epoch "), "--val 600 of 600 trained:\n%s", out);
    expect(0, "90 training, 10 validation, 100 test", NULL, LIN " --epochs 1 --limit 100 --out v4.ckpt");
    snprintf(trained, sizeof trained, "%s", out);
    check_eval_val("v4.ckpt", trained, "10 validation samples");
    expect(0, "600 training, 0 validation", NULL, LIN " --epochs 1 --val 0 --out v5.ckpt");
    expect(FAILS, "held none out (--val 0)", NULL, "eval v5.ckpt --split val");
}

/* ---------------------------------------------------------------------------------------------
 * 10. --patience and --best
 * ------------------------------------------------------------------------------------------- */

static void test_patience(void) {
    printf("--patience, --best\n");
    /* A learning rate too small to change any validation prediction. */
    expect(0, "test:", NULL, LIN " --epochs 6 --opt sgd --lr 1e-9 --schedule constant "
           "--patience 1 --best b.ckpt --out pat.ckpt");
    T_CHECK(count_lines(out, "epoch ") == 2, "--patience 1 without progress: %d epochs, not 2:\n%s",
            count_lines(out, "epoch "), out);
    T_CHECK(exists("b.ckpt") && meta_number("b.ckpt", "train.epoch") == 1,
            "--best b.ckpt: missing, or not epoch 1 (%g)", meta_number("b.ckpt", "train.epoch"));
    expect(0, "top-1", NULL, "eval b.ckpt");
}

/* ---------------------------------------------------------------------------------------------
 * 11. Ctrl-C, then resuming: the weights of the uninterrupted run
 * ------------------------------------------------------------------------------------------- */

/* Runs args, sends SIGINT once a line holds frag; checks exit 130, the message and the
 * checkpoint. */
static void interrupt(const char *frag, const char *args) {
    job j;
    job_start(&j, args);
    int seen = job_read(&j, frag);
    job_signal(&j, SIGINT);
    int code = job_finish(&j);
    T_CHECK(seen && code == 130, "cnn %s: Ctrl-C after '%s': exit %d, expected 130\n%s", args,
            frag, code, out);
    T_CHECK(strstr(out, "resume with: cnn train --resume cut.ckpt") && exists("cut.ckpt"),
            "cnn %s: after Ctrl-C:\n%s", args, out);
    const char *at = strstr(out, "stopped at");
    printf("  ok Ctrl-C: %.*s\n", at ? (int)strcspn(at, "\n") : 0, at ? at : "");
}

static void test_ctrl_c(void) {
    printf("Ctrl-C\n");
    expect(0, "test:", NULL, SLOW " --out full.ckpt");
    /* Stopped in epoch 1, then (resumed) in epoch 2, then resumed to the end. */
    interrupt("epoch 1/2 [", SLOW " --out cut.ckpt");
    interrupt("epoch 2/2 [", "train --resume cut.ckpt");
    expect(0, "test:", NULL, "train --resume cut.ckpt");
    t_same_checkpoints(dir, "full.ckpt", "cut.ckpt", "interrupted twice and resumed vs uninterrupted");
}

/* Ctrl-C once the last epoch's line is out (while its log and plot are written): the run is
 * complete, so the tool either finishes it (exit 0, the test result) or the resume command it
 * prints works. (Killed by SIGINT, it was too late: the final evaluation does not catch it.) */
static void test_ctrl_c_at_end(void) {
    job j;
    job_start(&j, LIN " --epochs 2 --out end.ckpt");
    int seen = job_read(&j, "epoch  2/2");
    job_signal(&j, SIGINT);
    int code = job_finish(&j);
    T_CHECK(seen, "no line for epoch 2:\n%s", out);
    if (code == 130) {
        char said_stop[256] = "";
        const char *at = strstr(out, "stopped at");
        if (at) snprintf(said_stop, sizeof said_stop, "%.*s", (int)strcspn(at, "\n"), at);
        int resumed = run_in(dir, "train --resume end.ckpt");
        T_CHECK(resumed == 0, "Ctrl-C as the last epoch ends: the tool exits 130 (%s) and says "
                "'resume with: cnn train --resume end.ckpt', which then exits %d:\n%s%s",
                said_stop, resumed, out, err);
    } else {
        T_CHECK(code == -1 || (code == 0 && strstr(out, "test:")),
                "Ctrl-C as the last epoch ends: exit %d\n%s", code, out);
    }
    printf("  %s Ctrl-C as the last epoch ends -> %d\n", code == -1 ? "(too late)" : "done", code);
}

/* ---------------------------------------------------------------------------------------------
 * 12. --label-smoothing, kept when resuming
 * ------------------------------------------------------------------------------------------- */

static void test_label_smoothing(void) {
    printf("--label-smoothing\n");
    const char *cmd = LIN " --schedule constant --label-smoothing 0.1";
    expect(0, "test:", NULL, "%s --epochs 2 --out ls2.ckpt", cmd);
    expect(0, "test:", NULL, "%s --epochs 1 --out ls1.ckpt", cmd);
    T_CHECK(meta_number("ls1.ckpt", "train.label_smoothing") == 0.1f,
            "the checkpoint keeps label smoothing %g, not 0.1",
            meta_number("ls1.ckpt", "train.label_smoothing"));
    expect(2, "cannot change when resuming", NULL, "train --resume ls1.ckpt --label-smoothing 0.2 --epochs 2");
    expect(0, "test:", NULL, "train --resume ls1.ckpt --epochs 2 --out ls1r.ckpt");
    t_same_checkpoints(dir, "ls2.ckpt", "ls1r.ckpt", "label smoothing: resumed vs uninterrupted");
}

/* ---------------------------------------------------------------------------------------------
 * 12b. --mixup and --cutmix, kept when resuming; refused where they cannot apply
 * ------------------------------------------------------------------------------------------- */

static void test_mixing(void) {
    printf("--mixup, --cutmix\n");
    const char *cmd = LIN " --schedule constant --mixup 0.2 --cutmix 1";
    expect(0, "test:", NULL, "%s --epochs 2 --out mx2.ckpt", cmd);
    expect(0, "test:", NULL, "%s --epochs 1 --out mx1.ckpt", cmd);
    T_CHECK(meta_number("mx1.ckpt", "train.mixup") == 0.2f &&
                meta_number("mx1.ckpt", "train.cutmix") == 1.0f,
            "the checkpoint keeps mixup %g and cutmix %g, not 0.2 and 1",
            meta_number("mx1.ckpt", "train.mixup"), meta_number("mx1.ckpt", "train.cutmix"));
    expect(2, "cannot change when resuming", NULL, "train --resume mx1.ckpt --cutmix 0 --epochs 2");
    expect(0, "test:", NULL, "train --resume mx1.ckpt --epochs 2 --out mx1r.ckpt");
    t_same_checkpoints(dir, "mx2.ckpt", "mx1r.ckpt", "mixup and CutMix: resumed vs uninterrupted");
    expect(FAILS, "even batch", "31",
           "train --data . --model lin.txt --mixup 0.2 --batch 31 --epochs 1 --out mxo.ckpt");
    expect(2, "--mixup", NULL, LIN " --mixup -1 --epochs 1 --out mxo.ckpt");
}

/* ---------------------------------------------------------------------------------------------
 * 13. predict: --top, --json, folders, a bad file among good ones
 * ------------------------------------------------------------------------------------------- */

/* Whether the fragments come in this order in text. */
static int in_order(const char *text, const char *a, const char *b, const char *c) {
    const char *pa = strstr(text, a), *pb = pa ? strstr(pa, b) : NULL;
    return pb && strstr(pb, c);
}

static void test_predict(void) {
    printf("predict\n");
    make_dirs("pred");
    make_dirs("mixed");
    write_bar_png("pred/c.png", 2);
    write_bar_png("pred/a.png", 0);
    write_bar_png("pred/b.png", 1);
    write_bar_png("mixed/a.png", 0);
    write_text("mixed/b.png", "not a picture\n");
    write_bar_png("mixed/c.png", 2);
    expect(0, NULL, NULL, "predict abs.ckpt pred/a.png pred/b.png --top 3");
    T_CHECK(count_lines(out, "  1. ") == 2 && count_lines(out, "  3. ") == 2 &&
            count_lines(out, "  4. ") == 0 && count_lines(out, "  ") == 6,
            "--top 3 of two images:\n%s", out);
    expect(0, NULL, NULL, "predict abs.ckpt pred/a.png pred/b.png --top 3 --json");
    T_CHECK(count_lines(out, "{\"file\": \"pred/") == 2 && count_lines(out, "") == 2 &&
            strstr(out, "\"top\": [") && strstr(out, "\"file\": \"pred/b.png\""),
            "--json: not one object per image:\n%s", out);
    expect(0, NULL, NULL, "predict abs.ckpt pred --top 1");
    T_CHECK(in_order(out, "pred/a.png\n  1. 0 ", "pred/b.png\n  1. 1 ", "pred/c.png\n  1. 2 "),
            "a folder: its images in name order, each classified:\n%s", out);
    expect(1, "b.png", "skipped", "predict abs.ckpt mixed --top 1");
    T_CHECK(strstr(err, "b.png") && in_order(out, "mixed/a.png\n  1. 0 ", "mixed/c.png\n  1. 2 ", ""),
            "a bad file among good ones: reported on stderr, the others predicted:\n%s%s", out, err);
    expect(1, "missing.png", NULL, "predict abs.ckpt pred/a.png missing.png pred/c.png --top 1");
    T_CHECK(in_order(out, "pred/a.png", "pred/c.png", "") && !strstr(out, "missing.png"),
            "a missing file among good ones:\n%s", out);
}

/* ---------------------------------------------------------------------------------------------
 * 14. Segmentation; 15. regression
 * ------------------------------------------------------------------------------------------- */

/* DIR/seg/split/images/iN.png and masks/iN.png: a bright rectangle (class 1) on dark. */
static void write_segmentation(const char *split, int n, uint64_t seed) {
    char sub[256], file[300];
    for (int i = 0; i < n; i++) {
        float r[4 + 256];
        unsigned char img[256], mask[256];
        t_fill(r, 4 + 256, seed + (uint64_t)i, 0, 1);
        int x0 = (int)(r[0] * 8), y0 = (int)(r[1] * 8), w = 4 + (int)(r[2] * 5), h = 4 + (int)(r[3] * 5);
        for (int p = 0; p < 256; p++) {
            int in = p % 16 >= x0 && p % 16 < x0 + w && p / 16 >= y0 && p / 16 < y0 + h;
            mask[p] = (unsigned char)in;
            img[p] = (unsigned char)(in ? 200 + 50 * r[4 + p] : 60 * r[4 + p]);
        }
        snprintf(sub, sizeof sub, "seg/%s/images", split);
        make_dirs(sub);
        snprintf(file, sizeof file, "%s/i%d.png", sub, i);
        write_png(file, 16, 16, img);
        snprintf(sub, sizeof sub, "seg/%s/masks", split);
        make_dirs(sub);
        snprintf(file, sizeof file, "%s/i%d.png", sub, i);
        write_png(file, 16, 16, mask);
    }
}

static void test_segmentation(void) {
    printf("segmentation\n");
    write_segmentation("train", 16, 500);
    write_segmentation("test", 4, 600);
    expect(0, "test: 4 images", "mean IoU", "train --model small_unet --loss pixel-cross-entropy "
           "--data seg --input 1x16x16 --epochs 2 --batch 4 --val 4 --out seg.ckpt");
    T_CHECK(count_lines(out, "epoch ") == 2 && strstr(out, " IoU "), "no IoU per epoch:\n%s", out);
    expect(0, "mean IoU", NULL, "eval seg.ckpt");
    expect(1, "segmentation", NULL, "predict seg.ckpt seg/test/images/i0.png");
    expect(FAILS, "pixel-cross-entropy", NULL, "train --model small_unet --loss cross-entropy "
           "--data seg --input 1x16x16 --epochs 1 --batch 4 --out segce.ckpt");
}

/* DIR/reg/name.csv and its n images: 8x8, every pixel of image i its target t. */
static void write_regression(const char *name, int n) {
    char csv[16384], file[128];
    int len = snprintf(csv, sizeof csv, "image,t\n");
    for (int i = 0; i < n; i++) {
        unsigned char px[64];
        double t = (i % 5) / 4.0;
        memset(px, (int)(255 * t), sizeof px);
        snprintf(file, sizeof file, "reg/%s%d.png", name, i);
        write_png(file, 8, 8, px);
        len += snprintf(csv + len, sizeof csv - (size_t)len, "%s%d.png,%g\n", name, i, t);
    }
    snprintf(file, sizeof file, "reg/%s.csv", name);
    write_text(file, csv);
}

static void test_regression(void) {
    printf("regression\n");
    make_dirs("reg");
    write_regression("train", 40);
    write_regression("test", 10);
    write_text("reg.txt", "x = input shape=1x8x8\nf = flatten\nd = dense out=1\n");
    expect(0, "test: 10 samples, loss (mse)", NULL, "train --data reg --loss mse --model reg.txt "
           "--input 1x8x8 --epochs 2 --batch 8 --val 0 --out reg.ckpt");
    expect(0, "10 samples", "loss (mse)", "eval reg.ckpt");
}

/* Finds the tool, makes the folder and the data most tests share; 0 on failure. */
static int set_up(const char *argv0) {
    if (!t_tool_path(argv0, tool, sizeof tool) || !mkdtemp(dir)) return 0;
    write_idx("train", 600, 1);
    write_idx("t10k", 200, 100000);
    write_text("lin.txt", "x = input shape=1x28x28\nf = flatten\nd = dense out=10\n");
    write_bar_png("three.png", 3);
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * 16. --ensemble: each member the run its seed gives alone, their ensemble tested and written,
 *     the members' files checked before training, the budget shared
 * ------------------------------------------------------------------------------------------- */

static void test_ensemble(void) {
    printf("--ensemble\n");
    expect(0, "ensemble member 2 of 2: seed 1000004, written to ens.m1.ckpt",
           "wrote the ensemble to ens.ckpt",
           LIN " --epochs 2 --seed 4 --val 0 --ensemble 2 --out ens.ckpt");
    double top1 = number_after(out, "top-1 ", 1);
    T_CHECK(strstr(out, "the ensemble of 2") && count_lines(out, "test:") == 1 && top1 > 0,
            "one test result, the ensemble's:\n%s", out);
    T_CHECK(exists("ens.ckpt") && exists("ens.m0.ckpt") && exists("ens.m1.ckpt") &&
                exists("ens.m0.csv") && exists("ens.m1.png") && !exists("ens.csv"),
            "the ensemble and each member's checkpoint, log and plot");
    expect(0, "top-1", NULL, "eval ens.ckpt");
    T_CHECK(number_after(out, "top-1 ", 0) == top1, "cnn eval ens.ckpt gives %.2f%% too", top1);
    expect(0, NULL, NULL, "def ens.ckpt");
    T_CHECK(strstr(out, "ensemble = mean(m0.d, m1.d)") != NULL, "the definition:\n%s", out);
    /* Without validation samples, member k is the run of seed S + 1000000 k alone. */
    expect(0, NULL, NULL, LIN " --epochs 2 --seed 1000004 --val 0 --out solo.ckpt");
    t_same_checkpoints(dir, "ens.m1.ckpt", "solo.ckpt", "member 2 and a run of its seed alone");
    expect(0, NULL, NULL, LIN " --epochs 2 --seed 4 --val 0 --out solo0.ckpt");
    t_same_checkpoints(dir, "ens.m0.ckpt", "solo0.ckpt", "member 1 and a run of its seed alone");

    /* With them, every member holds out the same samples (drawn by seed S): the ensemble and
     * each member evaluate on them, and a member resumes on its own training samples. */
    static char trained[sizeof out];
    expect(0, "wrote the ensemble to ensv.ckpt", NULL,
           LIN " --epochs 1 --seed 4 --val 60 --ensemble 2 --out ensv.ckpt");
    snprintf(trained, sizeof trained, "%s", out);
    expect(0, "60 validation samples", NULL, "eval ensv.ckpt --split val");
    check_eval_val("ensv.m1.ckpt", trained, "60 validation samples"); /* its last epoch's */
    expect(2, "ensv.ckpt exists", NULL, "train --resume ensv.m1.ckpt --epochs 2");
    expect(0, "resuming from ensv.m1.ckpt", "the ensemble of 2",
           "train --resume ensv.m1.ckpt --epochs 2 --force");

    /* The members' files are checked before training, like --out. */
    char path[4200];
    path_of(path, sizeof path, "ens.ckpt");
    remove(path);
    expect(2, "ens.m0.ckpt exists", "--force", LIN " --epochs 1 --ensemble 2 --out ens.ckpt");
    T_CHECK(!strstr(out, "epoch "), "existing members' files: refused before training:\n%s", out);
    expect(2, "--ensemble cannot change when resuming", NULL,
           "train --resume ens.m1.ckpt --ensemble 2");
    expect(0, "resuming from ens.m1.ckpt", NULL, "train --resume ens.m1.ckpt --epochs 3");
    expect(2, "--ensemble", NULL, LIN " --epochs 1 --ensemble 9 --out e9.ckpt");

    /* Ctrl-C in member 2, then --resume of that member: it goes on to the ensemble, which is
     * the uninterrupted run's. */
    expect(0, "wrote the ensemble to fullE.ckpt", NULL, SLOW " --ensemble 2 --out fullE.ckpt");
    job j;
    job_start(&j, SLOW " --ensemble 2 --out cutE.ckpt");
    int seen = job_read(&j, "ensemble member 2 of 2") && job_read(&j, "epoch 1/2 [");
    job_signal(&j, SIGINT);
    int code = job_finish(&j);
    T_CHECK(seen && code == 130 && strstr(out, "resume with: cnn train --resume cutE.m1.ckpt") &&
                strstr(out, "member 2 of an ensemble of 2") && !exists("cutE.ckpt"),
            "Ctrl-C in member 2: exit %d\n%s", code, out);
    expect(2, "--out", "member 2 of an ensemble", "train --resume cutE.m1.ckpt --out x.ckpt");
    expect(0, "resuming member 2 of an ensemble of 2: the ensemble goes to cutE.ckpt",
           "wrote the ensemble to cutE.ckpt", "train --resume cutE.m1.ckpt");
    t_same_checkpoints(dir, "fullE.m1.ckpt", "cutE.m1.ckpt", "member 2 interrupted and resumed");
    t_same_checkpoints(dir, "fullE.ckpt", "cutE.ckpt", "the ensemble of an interrupted run");
    path_of(path, sizeof path, "cutE.m0.ckpt");
    remove(path);
    expect(2, "member 1 of the ensemble is not there", NULL, "train --resume cutE.m1.ckpt --force");

    /* A time budget: each member its share, the test pass the ensemble's. */
    expect(0, "this member's share", "the ensemble of 3",
           LIN " --time-budget 3s --ensemble 3 --threads 1 --out tb.ckpt");
    T_CHECK(count_lines(out, "time budget 3s: this member's share") == 3,
            "each of the 3 members fits its share:\n%s", out);
}

/* A budgeted run prints its plan; --replay repeats it from its checkpoint at another thread
 * count, --plan follows a plan given as text (mid-epoch changes included); what does not fit
 * a replay is refused, naming the difference. */
static void test_plan_replay(void) {
    expect(0, "the run's plan: ", "--replay pb.ckpt in place of the budget",
           LIN " --time-budget 3s --threads 1 --out pb.ckpt");
    expect(0, "following the plan ", "of pb.ckpt", LIN " --replay pb.ckpt --threads 2 --out pr.ckpt");
    t_same_checkpoints(dir, "pb.ckpt", "pr.ckpt", "a budgeted run and its replay");
    expect(0, "the plan: 4 epochs from here on instead of 6",
           "the plan: 5 epochs from here on instead of 4", LIN " --plan '6 2:4 3.5:5' --out pp.ckpt");
    T_CHECK(count_lines(out, "epoch ") == 5, "the plan '6 2:4 3.5:5' ran 5 epochs:\n%s", out);
    expect(0, "following the plan 6 2:4 3.5:5 of pp.ckpt", NULL,
           LIN " --replay pp.ckpt --threads 2 --out pq.ckpt");
    t_same_checkpoints(dir, "pp.ckpt", "pq.ckpt", "a run of a plan and its replay");
    expect(0, "the plan ended the run at epoch 2, step 3 of 16", NULL,
           LIN " --plan '6 1.3:stop' --out ps.ckpt");
    expect(2, "pb.ckpt: not this run's settings: its train.seed is 1, this run's 2",
           "give the options of the run it replays", LIN " --replay pb.ckpt --seed 2 --out x.ckpt");
    expect(2, "not this run's network", NULL,
           "train --data . --model lenet5 --batch 32 --replay pb.ckpt --out x.ckpt");
    expect(2, "pb.ckpt: the training set is not the run's", "give the run's data and --val",
           LIN " --replay pb.ckpt --val 5 --out x.ckpt");
    expect(2, "--replay and --epochs: the plan gives the epochs", NULL,
           LIN " --replay pb.ckpt --epochs 3 --out x.ckpt");
    expect(2, "--plan and --time-budget", NULL, LIN " --plan 6 --time-budget 3s --out x.ckpt");
    expect(2, "--plan and --replay: give one", NULL, LIN " --plan 6 --replay pb.ckpt --out x.ckpt");
    expect(2, "--plan: plan '6 7:8': token 2 '7:8': after the run's end (6 epochs)", NULL,
           LIN " --plan '6 7:8' --out x.ckpt");
    expect(2, "a position after step 16 of an epoch, but an epoch of this run has 16 steps", NULL,
           LIN " --plan '6 1.16:8' --out x.ckpt");
    expect(2, "--plan: an ensemble's members each have their own plan", "--replay the ensemble's",
           LIN " --plan 6 --ensemble 2 --out x.ckpt");
    /* An ensemble: each member follows its own plan, from the checkpoint beside the ensemble's. */
    expect(0, "member 2's plan: ", "--replay eb.ckpt in place of the budget repeat the ensemble",
           LIN " --time-budget 4s --ensemble 2 --threads 1 --out eb.ckpt");
    expect(0, "following the plan ", "of eb.m1.ckpt",
           LIN " --ensemble 2 --replay eb.ckpt --threads 2 --out er.ckpt");
    t_same_checkpoints(dir, "eb.m0.ckpt", "er.m0.ckpt", "member 1 of a budgeted ensemble replayed");
    t_same_checkpoints(dir, "eb.m1.ckpt", "er.m1.ckpt", "member 2 of a budgeted ensemble replayed");
    t_same_checkpoints(dir, "eb.ckpt", "er.ckpt", "a budgeted ensemble and its replay");
    expect(2, "--plan cannot change when resuming", NULL, "train --resume pp.ckpt --plan 6");
    expect(FAILS, "nothere.ckpt", NULL, LIN " --replay nothere.ckpt --out x.ckpt");
}

int main(int argc, char **argv) {
    (void)argc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!set_up(argv[0])) return t_finish();

    test_resume_in_place(); /* first: it checks that no model.ckpt appears */
    test_folders();
    test_preprocess();
    test_softmax();
    test_absolute_data();
    test_output_paths();
    test_zoo_definition();
    test_refusals();
    test_default_threads();
    test_val_limit();
    test_patience();
    test_ctrl_c();
    test_ctrl_c_at_end();
    test_label_smoothing();
    test_mixing();
    test_predict();
    test_segmentation();
    test_regression();
    test_ensemble();
    test_plan_replay();

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) T_CHECK(0, "cleanup");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return t_finish();
}
