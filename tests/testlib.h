/*
 * testlib.h - what the test programs share: checks that count failures, closeness of float
 * arrays with the largest difference printed, networks from a one-line spec, and the reader of
 * the binary fixtures written by tests/ref/make_fixtures.py.
 *
 * Every test program ends with `return t_finish();`, which prints "N checks, N failed" and
 * returns non-zero if any check failed.
 */
#ifndef CNN_TESTLIB_H
#define CNN_TESTLIB_H

#include "cnn.h"

#include <stddef.h>
#include <stdint.h>

extern int t_checks, t_failures;

#define T_CHECK(cond, ...)                                                                     \
    t_check_at((cond) != 0, __FILE__, __LINE__, #cond, __VA_ARGS__)
/* Asserts a status is OK; prints the network's last error when not. */
#define T_OK(net, expr) t_ok_at((expr), (net), __FILE__, __LINE__, #expr)

int t_check_at(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int t_ok_at(cnn_status st, cnn_net *net, const char *file, int line, const char *expr);
int t_finish(void);

/* Handles a leading "--isa baseline" or "--isa avx2" in a test's arguments: lowers the
 * kernels' instruction set to that level (cnn_isa_set; never above the CPU's) before anything
 * is prepared, prints so, and removes the two words from the arguments (argv[0] stays). Exits
 * with 2 on another value. */
void t_isa_option(int *argc, char ***argv);

/* |got - want| <= atol + rtol |want| everywhere; prints the largest difference either way. */
int t_close(const char *what, const float *got, const float *want, size_t n, double atol,
            double rtol);
/* Whether the environment variable `name` is set to a switch's "on": non-empty and not "0"
 * (CNN_TEST_LIGHT, CNN_SLOW_TESTS, CNN_TEST_THREADS_ONLY). */
int t_env_flag(const char *name);

/* |got - want| <= rel scale everywhere, scale a bound on the size of what want sums (for a
 * convolution, the same convolution of |x| with |w|): a bound on rounding error that does not
 * depend on how much the sum cancels. Prints the largest ratio |got - want| / scale. */
int t_within(const char *what, const float *got, const float *want, const float *scale,
             size_t n, double rel);
/* got and want identical bit for bit. */
int t_same_bits(const char *what, const float *got, const float *want, size_t n);

/* A network from a spec: layers separated by ';', each "type name inputs args...", where
 * inputs is a comma list or '-' for the previous layer, e.g.
 *   "input x - shape=1x5x5; conv2d c x out=2 kernel=3; relu r -"
 * Returns NULL (and prints why) on error. */
cnn_net *t_net(const char *spec, uint64_t seed);

/* A small classification set held in memory: n images of 1x8x8, class k (of 4, named top,
 * upper, lower, bottom) a bright row 2k over noise; for t_free_dataset, not cnn_dataset_free
 * (its names are static). */
cnn_dataset *t_bars(int n, uint64_t seed);
/* Frees a data set filled by a test (its arrays; the class names' array, not the names). */
void t_free_dataset(cnn_dataset *ds);

/* Deterministic test data in [lo, hi). */
void t_fill(float *x, size_t n, uint64_t seed, float lo, float hi);
/* Values whose magnitude is in [0.1, 1), sign random: away from the kinks of ReLU-like
 * functions, and without ties. */
void t_fill_away_from_zero(float *x, size_t n, uint64_t seed);

/* The cnn tool beside a test program (BUILD/tests/test_x -> BUILD/cnn) into tool; 0 when it
 * is not there (a failed check). */
int t_tool_path(const char *argv0, char *tool, size_t size);

/* Runs `tool args` (a shell word list) in dir with stderr merged into stdout, which goes to
 * out (size bytes, NUL-terminated); returns the exit code, -1 when it did not exit. */
int t_run_tool(const char *tool, const char *dir, const char *args, char *out, size_t size);

/* Removes a folder and everything in it (links are removed, not followed). */
void t_remove_tree(const char *path);

/* A test program's scratch folder: t_scratch_make("data") makes /tmp/cnn-test-data-XXXXXX
 * and returns its path (exits with 2 when it cannot); t_at(rel) is the path of rel in it (a
 * static buffer, four in rotation, so that a call may take up to four); t_scratch_remove()
 * removes it and everything in it. t_make_dir and t_write_bytes exit with 2, after saying
 * why, when they cannot do what a test's set-up needs. */
const char *t_scratch_make(const char *name);
const char *t_at(const char *rel);
void t_scratch_remove(void);
void t_make_dir(const char *rel); /* t_at(rel) */
void t_write_bytes(const char *path, const void *data, size_t n);
/* Seconds on a monotonic clock. */
double t_seconds(void);

/* A copy (to free) of the parameters saved in the checkpoint dir/name, their count in *n; NULL
 * (with the reason printed) when it cannot be loaded. */
float *t_checkpoint_params(const char *dir, const char *name, size_t *n);

/* Checks that the checkpoints dir/a and dir/b hold the same parameters, bit for bit. */
void t_same_checkpoints(const char *dir, const char *a, const char *b, const char *what);

/* Runs fn(arg) in a child process, which exits with its result (0: as expected). The child
 * has `seconds` to finish (an alarm: a reader blocked on a FIFO fails instead of hanging the
 * test) and, outside AddressSanitizer (which reserves terabytes of address space), 1 GB of
 * address space more than it starts with, so that memory allocated and never touched counts
 * too, and a runaway allocation fails instead of taking the machine's memory. Returns the exit
 * code (-1: killed, by the alarm or a crash); *peak_mb receives the child's peak resident
 * memory (wait4's ru_maxrss), *base_mb this process's at the fork. */
int t_in_child(int (*fn)(const void *), const void *arg, int seconds, double *peak_mb,
               double *base_mb);
/* The most a child of t_in_child may use for a bound of limit_mb: the bound, or under
 * AddressSanitizer (whose shadow memory and allocator cost megabytes of their own) the bound
 * above what this process used at the fork. */
double t_peak_limit(double limit_mb, double base_mb);

/* Fixtures: named tensors in a binary file. */
typedef struct t_tensor {
    char name[64];
    int kind; /* 0 float32, 1 int32, 2 string */
    int ndim;
    int dims[8];
    size_t count; /* elements (bytes for strings) */
    void *data;   /* strings are NUL-terminated */
} t_tensor;

typedef struct t_fixture {
    int n;
    t_tensor *t;
} t_fixture;

t_fixture *t_fixture_load(const char *path);
void t_fixture_free(t_fixture *fx);
/* The named tensor or NULL. */
const t_tensor *t_fixture_get(const t_fixture *fx, const char *name);
/* Float data of a named tensor, or NULL (and a failed check when required). */
const float *t_fixture_f32(const t_fixture *fx, const char *name, size_t *count);
const char *t_fixture_str(const t_fixture *fx, const char *name);

#endif
