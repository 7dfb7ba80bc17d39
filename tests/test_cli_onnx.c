/*
 * test_cli_onnx.c - ONNX from the command line: `cnn export` (zoo name, definition file,
 * checkpoint) and `cnn import`, and every model-taking command reading a .onnx file directly:
 * summary, def, predict, eval, infer, viz gradcam (on a model exported by PyTorch) and
 * train --model (fine-tuning). A trained checkpoint and its export predict and evaluate alike,
 * its preprocessing travelling in the ONNX metadata. Mistakes are refused with a message.
 * Needs Fashion-MNIST (make test installs it). Run from the repository root.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "testlib.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_cli_onnx_XXXXXX", out[1 << 16], ref[PATH_MAX], boot[PATH_MAX + 64];

static int run(const char *args) { return t_run_tool(tool, dir, args, out, sizeof out); }

static void expect(const char *args, int code, const char *frag) {
    int got = run(args);
    T_CHECK(got == code && (!frag || strstr(out, frag)), "cnn %s: exit %d (want %d), output:\n%s",
            args, got, code, out);
}

static int exists(const char *name) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void export_import(void) {
    char cmd[PATH_MAX + 200];
    expect("export lenet5 --out l.onnx", 0, "wrote l.onnx");
    expect("export resnet20 --input 3x16x16 --classes 4 --out r.onnx", 0, "wrote r.onnx");
    expect("export lenet5", 2, "give the file to write with --out");
    expect("summary lenet5 --out x.onnx", 2, "--out is for export");
    expect("export lenet5 --out x.onnx --json", 2, "--json is for summary");
    expect("export nosuch --out x.onnx", 1, "neither a zoo model");
    expect("export lenet5 --out /nonexistent/x.onnx", 1, "/nonexistent/x.onnx");
    expect("summary l.onnx", 0, "conv1");
    expect("def l.onnx", 0, "conv2d");
    expect("import l.onnx --out l.ckpt", 0, "wrote l.ckpt");
    expect("import l.onnx --out l.ckpt", 2, "exists; --force replaces it");
    expect("import l.onnx --out l.ckpt --force", 0, "wrote l.ckpt");
    expect("import l.onnx", 2, "usage");
    expect("import nosuch.onnx --out n.ckpt", 1, "nosuch.onnx");
    snprintf(cmd, sizeof cmd, "import %s/onnx/lppool.onnx --out p.ckpt", ref);
    expect(cmd, 1, "node '/1/Pow' (Pow): operator Pow is not supported");
    T_CHECK(!exists("p.ckpt"), "a refused import writes no checkpoint");
    /* A file that is not ONNX at all. */
    char path[4200];
    snprintf(path, sizeof path, "%s/not_onnx.onnx", dir);
    FILE *f = fopen(path, "w");
    if (!T_CHECK(f != NULL, "cannot write %s", path)) return;
    fputs("hello, I am not a model\n", f);
    fclose(f);
    expect("summary not_onnx.onnx", 1, "not_onnx.onnx");
}

/* A LeNet-5 trained briefly, then exported: the checkpoint and the .onnx give the same
 * predictions and the same evaluation (the preprocessing goes with the model). */
static void trained_model(void) {
    expect("train --model lenet5 --data fashion-mnist --epochs 1 --limit 1000 --seed 3 "
           "--out t.ckpt", 0, NULL);
    expect("export t.ckpt --out t.onnx", 0, "wrote t.onnx");
    char a[1 << 14], cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "predict t.ckpt %s", boot);
    expect(cmd, 0, "Ankle boot");
    snprintf(a, sizeof a, "%s", out);
    snprintf(cmd, sizeof cmd, "predict t.onnx %s", boot);
    expect(cmd, 0, "Ankle boot");
    T_CHECK(strcmp(a, out) == 0, "predictions differ:\n%s\n--- from the .onnx:\n%s", a, out);
    expect("eval t.ckpt --data fashion-mnist", 0, "top-1");
    snprintf(a, sizeof a, "%s", out);
    expect("eval t.onnx --data fashion-mnist", 0, "top-1");
    /* The same after the first line, which names the model. */
    T_CHECK(strchr(a, '\n') && strchr(out, '\n') && strcmp(strchr(a, '\n'), strchr(out, '\n')) == 0,
            "evaluations differ:\n%s\n--- from the .onnx:\n%s", a, out);
    expect("train --model t.onnx --data fashion-mnist --epochs 1 --limit 500 --seed 3 "
           "--out ft.ckpt", 0, NULL);
    T_CHECK(exists("ft.ckpt"), "fine-tuning from a .onnx wrote its checkpoint");
}

/* A model exported by PyTorch, imported, explained with Grad-CAM. */
static void pytorch_model(void) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "import %s/onnx/resnet_small_op13.onnx --out rs.ckpt", ref);
    expect(cmd, 0, "wrote rs.ckpt");
    snprintf(cmd, sizeof cmd, "viz gradcam rs.ckpt %s --out g.png", boot);
    expect(cmd, 0, "wrote g.png");
    snprintf(cmd, sizeof cmd,
             "viz gradcam %s/onnx/resnet_small_op13.onnx %s --out g2.png", ref, boot);
    expect(cmd, 0, "wrote g2.png");
    snprintf(cmd, sizeof cmd, "infer %s/onnx/resnet_small_op13.onnx --input %s/onnx/"
             "resnet_small_op13.in.npy --output y.npy", ref, ref);
    expect(cmd, 0, "wrote y.npy: layer 'fc', (2, 10)");
}

int main(int argc, char **argv) {
    (void)argc;
    const char *r = getenv("CNN_REF_DIR") ? getenv("CNN_REF_DIR") : "tests/ref";
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    if (!T_CHECK(realpath(r, ref) != NULL && realpath("examples/data/ankle_boot.png", boot),
                 "no %s or examples/data: run from the repository root", r))
        return t_finish();
    export_import();
    trained_model();
    pytorch_model();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("could not remove %s\n", dir);
    return t_finish();
}
