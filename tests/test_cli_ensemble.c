/*
 * test_cli_ensemble.c - `cnn ensemble`: two LeNet-5s trained briefly on Fashion-MNIST with
 * different seeds, put together; the results it prints for the members and the ensemble are
 * the ones `cnn eval` finds for the three files; the ensemble's definition ends in the mean
 * of the members (the second reading its input through a renorm layer: its training held out
 * other samples, so its normalisation differs); it exports to ONNX and evaluates the same from
 * there; and every mistake on the command line is refused with its reason, writing nothing.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_ensemble_XXXXXX", out[1 << 14];

static int run(const char *args) { return t_run_tool(tool, dir, args, out, sizeof out); }

static void expect(const char *args, int code, const char *frag) {
    int got = run(args);
    T_CHECK(got == code && (!frag || strstr(out, frag)), "cnn %s: exit %d (want %d), output:\n%s",
            args, got, code, out);
}

/* The percentage after `key` in the last output (after `from` when not NULL), or -1. */
static double percent_after(const char *from, const char *key) {
    const char *p = from ? strstr(out, from) : out;
    p = p ? strstr(p, key) : NULL;
    return p ? atof(p + strlen(key)) : -1;
}

static void two_lenets(void) {
    const char *train = "train --model lenet5 --data fashion-mnist --epochs 1 --limit 2000 "
                        "--threads 2 --augment hflip --tta";
    char args[512];
    snprintf(args, sizeof args, "%s --seed 3 --out a.ckpt", train);
    expect(args, 0, NULL);
    snprintf(args, sizeof args, "%s --seed 4 --out b.ckpt", train);
    expect(args, 0, NULL);
    expect("ensemble a.ckpt b.ckpt --out e.ckpt --threads 2", 0, "wrote e.ckpt");
    double a = percent_after("a.ckpt", "top-1 "), b = percent_after("b.ckpt", "top-1 ");
    double e = percent_after("the ensemble of 2", "top-1 ");
    T_CHECK(a > 50 && b > 50 && e > 50, "members %.2f%% and %.2f%%, ensemble %.2f%%", a, b, e);
    printf("  ok ensemble: members %.2f%% and %.2f%%, ensemble %.2f%%\n", a, b, e);
    expect("eval a.ckpt --threads 2", 0, "top-1");
    T_CHECK(percent_after(NULL, "top-1 ") == a, "cnn eval gives member a's %.2f%%", a);
    expect("eval b.ckpt --threads 2", 0, "top-1");
    T_CHECK(percent_after(NULL, "top-1 ") == b, "cnn eval gives member b's %.2f%%", b);
    expect("eval e.ckpt --threads 2", 0, "top-1");
    T_CHECK(percent_after(NULL, "top-1 ") == e, "cnn eval gives the ensemble's %.2f%%", e);
    expect("def e.ckpt", 0, "ensemble = mean(m0.");
    /* a and b hold out other validation samples, so their normalisations differ: b reads the
     * input through a renorm layer; a model not normalised at all is taken as well. */
    expect("def e.ckpt", 0, "m1.renorm = conv2d");
    expect("train --model lenet5 --data fashion-mnist --epochs 1 --limit 300 --no-normalize "
           "--augment hflip --tta --out d.ckpt", 0, NULL);
    expect("ensemble a.ckpt d.ckpt --out ad.ckpt --threads 2", 0, "the ensemble of 2");
    /* An ensemble is a model like any: it can be a member (its layers then m0.m0.NAME). */
    expect("ensemble e.ckpt a.ckpt --out f.ckpt --threads 2", 0, "the ensemble of 2");
    expect("def f.ckpt", 0, "m0.m1.");
    expect("export e.ckpt --out e.onnx", 0, NULL);
    expect("eval e.onnx --data fashion-mnist --threads 2", 0, "top-1");
    T_CHECK(percent_after(NULL, "top-1 ") == e, "the ONNX ensemble gives %.2f%% too", e);
}

static void refusals(void) {
    expect("ensemble a.ckpt --out x.ckpt", 2, "give 2 to 8 models and --out");
    expect("ensemble a.ckpt b.ckpt", 2, "give 2 to 8 models and --out");
    expect("ensemble a.ckpt b.ckpt --out e.ckpt", 2, "e.ckpt exists: give --force");
    expect("ensemble a.ckpt nosuch.ckpt --out x.ckpt", 1, "nosuch.ckpt");
    expect("ensemble a.ckpt b.ckpt --out x.ckpt --data nowhere", 1, "nowhere");
    expect("train --model lenet5 --data fashion-mnist --epochs 1 --limit 300 --out c.ckpt", 0,
           NULL);
    expect("ensemble a.ckpt c.ckpt --out x.ckpt", 1, "member 1's preprocessing");
    expect("export a.ckpt --out a.onnx", 0, NULL);
    expect("export b.ckpt --out b.onnx", 0, NULL);
    expect("ensemble a.onnx b.onnx --out x.ckpt", 2, "a.onnx does not say its data set");
    expect("ensemble a.ckpt b.ckpt --out /nonexistent/x.ckpt", 1, "/nonexistent/x.ckpt");
    char path[4200];
    snprintf(path, sizeof path, "%s/x.ckpt", dir);
    T_CHECK(access(path, F_OK) != 0, "a refused ensemble writes nothing");
}

int main(int argc, char **argv) {
    (void)argc;
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    two_lenets();
    refusals();
    t_remove_tree(dir);
    return t_finish();
}
