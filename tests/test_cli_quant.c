/*
 * test_cli_quant.c - `cnn quantize`: a LeNet-5 trained briefly on Fashion-MNIST, quantised;
 * the two accuracies it prints are the ones `cnn eval` finds for the two files and they stay
 * close; the 8-bit model loads, predicts and evaluates like any, is refused by train and
 * export with the reason, and every mistake on the command line is refused.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_quant_XXXXXX", out[1 << 14];

static int run(const char *args) { return t_run_tool(tool, dir, args, out, sizeof out); }

static void expect(const char *args, int code, const char *frag) {
    int got = run(args);
    T_CHECK(got == code && (!frag || strstr(out, frag)), "cnn %s: exit %d (want %d), output:\n%s",
            args, got, code, out);
}

/* The percentage after `key` in the last output, or -1. */
static double percent_after(const char *key) {
    const char *p = strstr(out, key);
    return p ? atof(p + strlen(key)) : -1;
}

static void quantize_lenet(void) {
    expect("train --model lenet5 --data fashion-mnist --epochs 1 --limit 2000 --seed 3 "
           "--threads 2 --out t.ckpt", 0, NULL);
    expect("quantize t.ckpt --out q.ckpt --calib 256 --threads 2", 0, "wrote q.ckpt");
    double f = percent_after("float32  top-1 "), q = percent_after("int8     top-1 ");
    T_CHECK(f > 50 && q > 50 && q > f - 0.5,
            "float %.2f%%, int8 %.2f%%: the 8 bits cost less than half a point", f, q);
    printf("  ok quantize: float32 %.2f%%, int8 %.2f%%\n", f, q);
    expect("eval t.ckpt", 0, "top-1");
    T_CHECK(percent_after("top-1 ") == f, "cnn eval gives the float model's %.2f%%", f);
    expect("eval q.ckpt", 0, "top-1");
    T_CHECK(percent_after("top-1 ") == q, "cnn eval gives the 8-bit model's %.2f%%", q);
    expect("def q.ckpt", 0, "act=relu quant=int8 in_scale=");
    expect("quantize t.ckpt --out q.ckpt", 2, "q.ckpt exists: give --force");
    expect("quantize t.ckpt --out q.ckpt --force --calib 64", 0, "calibrated on 64 training");
    expect("export q.ckpt --out q.onnx", 1, "quant=int8 (cnn quantize) has no ONNX export");
    expect("train --model q.ckpt --data fashion-mnist --epochs 1 --limit 200 --out u.ckpt", 1,
           "quant=int8 is for inference");
}

static void refusals(void) {
    expect("quantize t.ckpt", 2, "give one model and --out");
    expect("quantize --out x.ckpt", 2, "give one model and --out");
    expect("quantize t.ckpt --out x.ckpt --calib 0", 2, "--calib");
    expect("quantize nosuch.ckpt --out x.ckpt", 1, "nosuch.ckpt");
    expect("quantize t.ckpt --out x.ckpt --data nowhere", 1, "nowhere");
    expect("quantize t.ckpt --out /nonexistent/x.ckpt", 1, "/nonexistent/x.ckpt");
    char path[4200];
    snprintf(path, sizeof path, "%s/x.ckpt", dir);
    T_CHECK(access(path, F_OK) != 0, "a refused quantize writes nothing");
}

int main(int argc, char **argv) {
    (void)argc;
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    quantize_lenet();
    refusals();
    t_remove_tree(dir);
    return t_finish();
}
