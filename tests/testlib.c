/*
 * testlib.c - see testlib.h.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#define _DEFAULT_SOURCE   /* wait4: the resources of one child */
#include "testlib.h"
#include "../src/core/internal.h" /* cnn_isa_set */

#include <sys/stat.h>

#include <dirent.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define T_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define T_UNDER_ASAN 1
#endif
#endif
#ifndef T_UNDER_ASAN
#define T_UNDER_ASAN 0
#endif

int t_checks, t_failures;

int t_check_at(int ok, const char *file, int line, const char *expr, const char *fmt, ...) {
    t_checks++;
    if (ok) return 1;
    t_failures++;
    fprintf(stderr, "FAIL %s:%d: %s: ", file, line, expr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 0;
}

int t_ok_at(cnn_status st, cnn_net *net, const char *file, int line, const char *expr) {
    return t_check_at(st == CNN_STATUS_OK, file, line, expr, "%s: %s", cnn_status_str(st),
                      net ? cnn_net_last_error(net) : "");
}

int t_finish(void) {
    printf("%d checks, %d failed\n", t_checks, t_failures);
    return t_failures ? 1 : 0;
}

int t_close(const char *what, const float *got, const float *want, size_t n, double atol,
            double rtol) {
    double max_abs = 0.0, max_excess = -1.0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        double tol = atol + rtol * fabs((double)want[i]);
        if (!(d <= tol)) bad++;
        if (d > max_abs || d != d) max_abs = d;
        if (d - tol > max_excess || d != d) {
            max_excess = d - tol;
            worst = i;
        }
    }
    t_checks++;
    if (bad) {
        t_failures++;
        fprintf(stderr, "FAIL %s: %zu of %zu differ; max |diff| %.3g; worst at %zu: got %.8g want %.8g\n",
                what, bad, n, max_abs, worst, (double)got[worst], (double)want[worst]);
        return 0;
    }
    printf("  ok %-48s n=%-7zu max |diff| %.3g\n", what, n, max_abs);
    return 1;
}

int t_env_flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

int t_within(const char *what, const float *got, const float *want, const float *scale,
             size_t n, double rel) {
    double worst = 0.0;
    size_t at = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), bound = rel * fabs((double)scale[i]);
        if (!(d <= bound)) bad++;
        double r = d / (fabs((double)scale[i]) + 1e-30);
        if (r > worst || d != d) {
            worst = r;
            at = i;
        }
    }
    t_checks++;
    if (bad) {
        t_failures++;
        fprintf(stderr, "FAIL %s: %zu of %zu beyond %.3g of their scale; worst at %zu: got %.8g "
                "want %.8g, scale %.8g\n", what, bad, n, rel, at, (double)got[at],
                (double)want[at], (double)scale[at]);
        return 0;
    }
    printf("  ok %-48s n=%-7zu max |diff| / scale %.3g\n", what, n, worst);
    return 1;
}

int t_same_bits(const char *what, const float *got, const float *want, size_t n) {
    t_checks++;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            t_failures++;
            fprintf(stderr, "FAIL %s: not bit-identical at %zu of %zu: %.9g vs %.9g\n", what, i,
                    n, (double)got[i], (double)want[i]);
            return 0;
        }
    return 1;
}

cnn_net *t_net(const char *spec, uint64_t seed) {
    cnn_net *net = cnn_net_new(seed);
    char *copy = strdup(spec), *save = NULL;
    for (char *line = strtok_r(copy, ";", &save); line; line = strtok_r(NULL, ";", &save)) {
        char type[64] = "", name[64] = "", inputs[256] = "";
        int used = 0;
        if (sscanf(line, " %63s %63s %255s %n", type, name, inputs, &used) < 3) {
            fprintf(stderr, "t_net: bad spec line '%s'\n", line);
            goto fail;
        }
        const char *args = line + used;
        cnn_status st = cnn_add(net, type, name, strcmp(inputs, "-") ? inputs : NULL, args);
        if (st) {
            fprintf(stderr, "t_net: %s\n", cnn_net_last_error(net));
            goto fail;
        }
    }
    free(copy);
    return net;
fail:
    free(copy);
    cnn_net_free(net);
    return NULL;
}

static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void t_fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)(mix(&seed) >> 40) * 0x1.0p-24f;
}

void t_fill_away_from_zero(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        uint64_t r = mix(&seed);
        float m = 0.1f + 0.9f * (float)(r >> 40) * 0x1.0p-24f;
        x[i] = (r & 1) ? m : -m;
    }
}

static int read_u32(FILE *f, uint32_t *v) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

t_fixture *t_fixture_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return NULL;
    }
    char magic[8];
    uint32_t count;
    t_fixture *fx = calloc(1, sizeof *fx);
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "CNNFIX01", 8) || !read_u32(f, &count) ||
        count > 1000)
        goto bad;
    fx->t = calloc(count, sizeof *fx->t);
    fx->n = (int)count;
    for (uint32_t i = 0; i < count; i++) {
        t_tensor *t = &fx->t[i];
        uint32_t len, ndim, kind, d;
        if (!read_u32(f, &len) || len >= sizeof t->name || fread(t->name, 1, len, f) != len)
            goto bad;
        if (!read_u32(f, &kind) || kind > 2 || !read_u32(f, &ndim) || ndim > 8) goto bad;
        t->kind = (int)kind;
        t->ndim = (int)ndim;
        t->count = 1;
        for (uint32_t k = 0; k < ndim; k++) {
            if (!read_u32(f, &d)) goto bad;
            t->dims[k] = (int)d;
            t->count *= d;
        }
        size_t bytes = kind == 2 ? t->count : t->count * 4;
        t->data = calloc(1, bytes + 1);
        if (fread(t->data, 1, bytes, f) != bytes) goto bad;
    }
    fclose(f);
    return fx;
bad:
    fprintf(stderr, "malformed fixture %s\n", path);
    fclose(f);
    t_fixture_free(fx);
    return NULL;
}

void t_fixture_free(t_fixture *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->n; i++) free(fx->t[i].data);
    free(fx->t);
    free(fx);
}

const t_tensor *t_fixture_get(const t_fixture *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->t[i].name, name) == 0) return &fx->t[i];
    return NULL;
}

const float *t_fixture_f32(const t_fixture *fx, const char *name, size_t *count) {
    const t_tensor *t = t_fixture_get(fx, name);
    if (!t || t->kind != 0) return NULL;
    if (count) *count = t->count;
    return t->data;
}

const char *t_fixture_str(const t_fixture *fx, const char *name) {
    const t_tensor *t = t_fixture_get(fx, name);
    return t && t->kind == 2 ? t->data : NULL;
}

int t_tool_path(const char *argv0, char *tool, size_t size) {
    char self[4096];
    snprintf(self, sizeof self, "%s", argv0);
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    char *bin = realpath(slash ? self : ".", NULL);
    snprintf(tool, size, "%s/../cnn", bin ? bin : ".");
    free(bin);
    return T_CHECK(access(tool, X_OK) == 0, "no tool at %s", tool);
}

float *t_checkpoint_params(const char *dir, const char *name, size_t *n) {
    char path[4200], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cnn_net *net = NULL;
    if (cnn_checkpoint_load(path, &net, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    *n = cnn_net_param_count(net);
    float *p = malloc(*n * sizeof *p);
    if (p) memcpy(p, cnn_net_params(net), *n * sizeof *p);
    cnn_net_free(net);
    return p;
}

void t_same_checkpoints(const char *dir, const char *a, const char *b, const char *what) {
    size_t na = 0, nb = 0;
    float *pa = t_checkpoint_params(dir, a, &na), *pb = t_checkpoint_params(dir, b, &nb);
    if (T_CHECK(pa && pb && na == nb, "%s: loading %s and %s", what, a, b))
        t_same_bits(what, pa, pb, na);
    free(pa);
    free(pb);
}

int t_run_tool(const char *tool, const char *dir, const char *args, char *out, size_t size) {
    char cmd[12288];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>&1", dir, tool, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

cnn_dataset *t_bars(int n, uint64_t seed) {
    static const char *names[] = {"top", "upper", "lower", "bottom"};
    cnn_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->shape = (cnn_shape){3, {1, 8, 8}};
    ds->classes = 4;
    ds->x = malloc((size_t)n * 64 * sizeof(float));
    ds->y = malloc((size_t)n * sizeof(int32_t));
    ds->class_names = calloc(4, sizeof(char *));
    for (int k = 0; k < 4; k++) ds->class_names[k] = (char *)names[k];
    t_fill(ds->x, (size_t)n * 64, seed, 0, 0.3f);
    for (int i = 0; i < n; i++) {
        ds->y[i] = i % 4;
        for (int c = 1; c < 7; c++) ds->x[(size_t)i * 64 + (2 * (i % 4)) * 8 + c] = 1.0f;
    }
    return ds;
}

void t_free_dataset(cnn_dataset *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free(ds->masks);
    free(ds->targets);
    free(ds->class_names);
    free(ds);
}

/* A kB figure of /proc/self/status ("VmRSS", "VmSize") in MB; 0 when absent. */
static double status_mb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double mb = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') mb = atof(line + n + 1) / 1024.0;
    if (f) fclose(f);
    return mb;
}

int t_in_child(int (*fn)(const void *), const void *arg, int seconds, double *peak_mb,
               double *base_mb) {
    fflush(stdout);
    fflush(stderr);
    *base_mb = status_mb("VmRSS");
    *peak_mb = 0;
    pid_t pid = fork();
    if (pid == 0) {
        alarm((unsigned)seconds);
        if (!T_UNDER_ASAN) {
            rlim_t as = (rlim_t)((status_mb("VmSize") + 1024) * 1024 * 1024);
            struct rlimit rl = {as, as};
            setrlimit(RLIMIT_AS, &rl);
        }
        int r = fn(arg);
        fflush(stdout);
        _exit(r);
    }
    int status = 0;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid) return -1;
    *peak_mb = (double)ru.ru_maxrss / 1024.0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double t_peak_limit(double limit_mb, double base_mb) {
    return limit_mb + (T_UNDER_ASAN ? base_mb : 0);
}

void t_remove_tree(const char *path) {
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) t_remove_tree(sub);
        else unlink(sub);
    }
    if (d) closedir(d);
    rmdir(path);
}

static char scratch[64];

const char *t_scratch_make(const char *name) {
    snprintf(scratch, sizeof scratch, "/tmp/cnn-test-%s-XXXXXX", name);
    if (!mkdtemp(scratch)) {
        perror(scratch);
        exit(2);
    }
    return scratch;
}

const char *t_at(const char *rel) {
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", scratch, rel);
    return b;
}

void t_scratch_remove(void) {
    if (scratch[0]) t_remove_tree(scratch);
    scratch[0] = 0;
}

void t_make_dir(const char *rel) {
    if (mkdir(t_at(rel), 0700) != 0) {
        perror(t_at(rel));
        exit(2);
    }
}

void t_write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

double t_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void t_isa_option(int *argc, char ***argv) {
    if (*argc < 2 || strcmp((*argv)[1], "--isa") != 0) return;
    int want = *argc < 3 ? -1 : cnn_isa_parse((*argv)[2]);
    if (want < 0) {
        fprintf(stderr, "%s: --isa takes baseline, avx2, vnni or avx512\n", (*argv)[0]);
        exit(2);
    }
    int level = cnn_isa_set(want);
    printf("kernels held to the %s instruction set (in force: %s; the CPU has %s)\n",
           (*argv)[2], cnn_isa_name(level), cnn_isa_name(cnn_isa_detected()));
    (*argv)[2] = (*argv)[0];
    *argv += 2;
    *argc -= 2;
}
