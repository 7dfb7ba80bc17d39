/*
 * test_cli_models.c - the cnn tool's model commands end to end (models, summary, def, layers)
 * and the help of every command:
 *   - summary and def of a checkpoint, and their warning about layers that lead nowhere;
 *   - a definition file whose input differs from the one asked for (summary FILE --input, the
 *     path cnn train takes through cli_build_model) is rebuilt for it, or refused with the
 *     file, the layer and the shapes;
 *   - -h and --help on every command and picture: the usage on stdout, exit 0;
 *   - unknown or repeated arguments and unknown options refused with exit 2, naming them.
 *
 * The tool is found beside the test program: BUILD/tests/test_cli_models -> BUILD/cnn. Each
 * run keeps stdout and stderr apart: what a command prints must go to the right one.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_cli_models_XXXXXX";
static char out[1 << 20], err[1 << 16];

/* Reads the file dir/name into buf (empty when missing). */
static void slurp(const char *name, char *buf, size_t size) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

/* Runs the tool with args (a shell word list): its stdout into out, its stderr into err;
 * returns the exit code. */
static int run(const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s %s 2>stderr.txt", dir, tool, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    slurp("stderr.txt", err, sizeof err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs args and expects exit code `code`, fragment on stdout and fragment on stderr (NULL:
 * anything; "": nothing at all). */
static void expect(const char *args, int code, const char *on_out, const char *on_err) {
    int got = run(args);
    T_CHECK(got == code, "cnn %s: exit %d, expected %d; stdout:\n%s\nstderr:\n%s", args, got,
            code, out, err);
    if (on_out)
        T_CHECK(*on_out ? strstr(out, on_out) != NULL : out[0] == 0,
                "cnn %s: stdout %s '%s':\n%s", args, *on_out ? "lacks" : "should be empty, not",
                on_out, out);
    if (on_err)
        T_CHECK(*on_err ? strstr(err, on_err) != NULL : err[0] == 0,
                "cnn %s: stderr %s '%s':\n%s", args, *on_err ? "lacks" : "should be empty, not",
                on_err, err);
    printf("  ok cnn %s -> %d\n", args, got);
}

static void write_file(const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!T_CHECK(f != NULL, "writing %s", path)) return;
    fputs(text, f);
    fclose(f);
}

/* Saves the network of text as the checkpoint dir/name; returns the network (to free). */
static cnn_net *save_checkpoint(const char *name, const char *text) {
    char path[4200], msg[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cnn_net *net = NULL;
    if (!T_CHECK(cnn_net_from_text(text, name, 7, &net, msg, sizeof msg) == CNN_STATUS_OK,
                 "%s", msg))
        return NULL;
    T_CHECK(cnn_checkpoint_save(path, net, NULL, "note=test", msg, sizeof msg) == CNN_STATUS_OK,
            "%s", msg);
    return net;
}

/* 1. summary and def of a checkpoint, and the warning about layers that lead nowhere. */
static const char DEAD_END[] = "x = input shape=1x8x8\n"
                               "c = conv2d out=2 kernel=3\n"
                               "f = flatten\n"
                               "aux1 = dense out=3\n"
                               "logits = dense(f) out=4\n";
static const char WARNING[] = "layer 'aux1' (dense) leads nowhere: nothing takes its output and "
                              "it is not the output";

static void test_checkpoints(void) {
    printf("checkpoints:\n");
    cnn_net *net = save_checkpoint("trained.ckpt", DEAD_END);
    cnn_net_free(save_checkpoint("clean.ckpt", "x = input shape=1x8x8\nf = flatten\n"
                                               "d = dense out=4\n"));
    if (!net) return;
    char frag[256];
    snprintf(frag, sizeof frag, "parameters:            %zu", cnn_net_param_count(net));
    expect("summary trained.ckpt", 0, frag, "cnn summary: warning: layer 'aux1' (dense)");
    T_CHECK(strstr(err, WARNING) && strstr(out, "logits") && strstr(out, "conv2d"),
            "summary of a checkpoint: the table and the warning:\n%s\n%s", out, err);
    T_CHECK(!strstr(err, "'logits'") && !strstr(err, "'c'"), "only aux1 leads nowhere:\n%s", err);
    snprintf(frag, sizeof frag, "\"params\": %zu,", cnn_net_param_count(net));
    expect("summary trained.ckpt --json", 0, frag, WARNING);
    expect("def trained.ckpt", 0, "aux1 = dense out=3", "cnn def: warning: layer 'aux1' (dense)");
    char *text = cnn_net_to_text(net);
    T_CHECK(text && strcmp(out, text) == 0, "def of a checkpoint is its definition:\n%s\nvs\n%s",
            out, text ? text : "(null)");
    free(text);
    expect("summary clean.ckpt", 0, "dense", "");
    expect("summary trained.ckpt --input 1x8x8", 2, "", "it is a trained model");
    expect("def trained.ckpt --classes 3", 2, "", "--classes is for zoo models");
    /* The same warning for a definition file, none for a zoo model without dead ends. */
    write_file("dead.txt", DEAD_END);
    expect("summary dead.txt", 0, "aux1", WARNING);
    expect("def dead.txt", 0, "logits = dense(f) out=4", WARNING);
    expect("summary lenet5", 0, "parameters:            61706", "");
    /* A damaged checkpoint is refused with the loader's reason. */
    char path[4200];
    snprintf(path, sizeof path, "%s/trained.ckpt", dir);
    FILE *f = fopen(path, "r+b");
    if (T_CHECK(f != NULL, "opening %s", path)) {
        fseek(f, 40, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    expect("summary trained.ckpt", 1, "", "trained.ckpt");
    cnn_net_free(net);
}

/* 2. A definition file built for another input: the input layer takes the new shape. */
static void test_input_refit(void) {
    printf("a definition file for another input:\n");
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "cd %s && %s def resnet20 > resnet20.txt", dir, tool);
    T_CHECK(system(cmd) == 0, "cnn def resnet20");
    /* Rebuilt for 1x28x28 it is the zoo's resnet20 for 1x28x28, layer for layer. */
    static char zoo[1 << 20];
    expect("summary resnet20 --input 1x28x28 --json", 0, "\"params\": 272186,", "");
    memcpy(zoo, out, sizeof zoo);
    expect("summary resnet20.txt --input 1x28x28 --json", 0, "\"params\": 272186,",
           "cnn summary: note: resnet20.txt: input 3x32x32 changed to the data's 1x28x28");
    T_CHECK(strcmp(out, zoo) == 0, "rebuilt file vs zoo model:\n%s\nvs\n%s", out, zoo);
    T_CHECK(strchr(err, '\n') == err + strlen(err) - 1, "one line on stderr:\n%s", err);
    expect("summary resnet20.txt --input 3x32x32 --json", 0, "\"params\": 272474,", "");
    expect("summary resnet20.txt --json", 0, "\"params\": 272474,", "");
    expect("def resnet20.txt --input 1x28x28", 0, "input = input shape=1x28x28",
           "input 3x32x32 changed");
    expect("def resnet20 --input 1x28x28 --classes 5", 0, "shape=1x28x28", "");
    T_CHECK(strstr(out, "out=5") != NULL, "def --classes 5:\n%s", out);
    /* One that does not fit names the file, the layer and the shapes. */
    write_file("big_kernel.txt", "x = input shape=3x32x32\nc = conv2d out=4 kernel=30\n"
                                 "f = flatten\nd = dense out=10\n");
    expect("summary big_kernel.txt --input 1x28x28", 1, "", "big_kernel.txt");
    T_CHECK(strstr(err, "conv2d 'c'") && strstr(err, "3x32x32") && strstr(err, "1x28x28") &&
                strstr(err, "28x28"),
            "the error names the layer and the shapes:\n%s", err);
    /* A flat input of the same size and channels is a deliberate reshape: kept. */
    write_file("flat.txt", "x = input shape=1x784\nf = flatten\nd = dense out=10\n");
    expect("summary flat.txt --input 1x28x28", 0, "1x784", "");
    expect("summary resnet20.txt --input 1x28", 2, "", "--input 1x28: expected CxHxW");
    expect("summary resnet20.txt --input 0x28x28", 2, "", "--input 0x28x28");
    expect("summary nosuch.txt --input 1x28x28", 1, "", "nosuch.txt");
}

/* 3. -h and --help on every command: the usage on stdout, nothing on stderr, exit 0. */
static void test_help(void) {
    printf("help:\n");
    static const char *const cmds[][2] = {
        {"train", "usage: cnn train"},
        {"eval", "usage: cnn eval"},
        {"predict", "usage: cnn predict"},
        {"viz", "usage: cnn viz WHAT"},
        {"viz filters", "usage: cnn viz filters"},
        {"viz maps", "usage: cnn viz maps"},
        {"viz stats", "usage: cnn viz stats"},
        {"viz saliency", "usage: cnn viz saliency"},
        {"viz guided", "usage: cnn viz guided"},
        {"viz gradcam", "usage: cnn viz gradcam"},
        {"viz dream", "usage: cnn viz dream"},
        {"viz kernels", "usage: cnn viz kernels"},
        {"models", "usage: cnn models"},
        {"summary", "usage: cnn summary"},
        {"def", "cnn def NAME"},
        {"layers", "usage: cnn layers"},
        {"version", "usage: cnn version"},
        {"help", "usage: cnn <command>"},
    };
    char args[256];
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        snprintf(args, sizeof args, "%s --help", cmds[i][0]);
        expect(args, 0, cmds[i][1], "");
        snprintf(args, sizeof args, "%s -h", cmds[i][0]);
        expect(args, 0, cmds[i][1], "");
    }
    /* Wherever it stands, and whatever else is on the line. */
    expect("summary lenet5 --json --help", 0, "usage: cnn summary", "");
    expect("train --epochs 3 --data nowhere -h", 0, "--resume FILE", "");
    expect("viz gradcam one.ckpt --help", 0, "usage: cnn viz gradcam", "");
    expect("layers conv2d extra -h", 0, "usage: cnn layers", "");
    expect("-h", 0, "usage: cnn <command>", "");
    expect("--help", 0, "usage: cnn <command>", "");
    expect("help def", 0, "cnn def NAME", "");
    expect("help viz dream", 0, "usage: cnn viz dream", "");
    expect("help models", 0, "usage: cnn models", "");
}

/* 4. Unknown or repeated arguments and unknown options: exit 2, named, nothing on stdout. */
static void test_refusals(void) {
    printf("refusals:\n");
    expect("models extra", 2, "", "'extra'");
    expect("models --all", 2, "", "'--all'");
    expect("models lenet5 resnet20", 2, "", "'lenet5'");
    expect("layers conv2d relu", 2, "", "'relu'");
    expect("layers conv2d conv2d", 2, "", "unexpected argument 'conv2d'");
    expect("layers --all", 2, "", "'--all'");
    expect("layers conv2d --all", 2, "", "'--all'");
    expect("layers nosuch", 2, "", "unknown layer type 'nosuch'");
    expect("layers conv2d", 0, "kernel", "");
    expect("layers", 0, "conv2d", "");
    expect("summary lenet5 resnet20", 2, "", "unexpected argument 'resnet20'");
    expect("summary lenet5 lenet5", 2, "", "unexpected argument 'lenet5'");
    expect("summary lenet5 --foo", 2, "", "unknown option '--foo'");
    expect("summary lenet5 -x", 2, "", "unknown option '-x'");
    expect("summary", 2, "", "give a model name");
    expect("def lenet5 lenet5", 2, "", "unexpected argument 'lenet5'");
    expect("def lenet5 --input 1x28x28 --input 1x28x28", 2, "", "--input given twice");
    expect("def lenet5 --foo=1", 2, "", "unknown option '--foo'");
    expect("def lenet5 --json", 2, "", "--json is for summary");
    expect("version extra", 2, "", "'extra'");
    expect("help train extra", 2, "", "'extra'");
    expect("help frobnicate", 2, "", "unknown command 'frobnicate'");
    expect("--frobnicate", 2, "", "unknown option '--frobnicate'");
}

/* summary --profile: a table with every layer's times, at 1 and 2 threads, in both modes; its
 * options are refused elsewhere. */
static void test_profile(void) {
    expect("summary lenet5 --profile train --batch 8 --threads 2 --steps 2", 0,
           "per training step of batch 8, 2 threads, mean of 2", "");
    T_CHECK(strstr(out, "conv2") && strstr(out, "optimiser (SGD)") && strstr(out, "%"),
            "the training profile names the layers, the optimiser and thread use:\n%s", out);
    T_CHECK(!strstr(out, "micro-batches"), "batches of 8 are not cut:\n%s", out);
    expect("summary lenet5 --profile train --batch 64 --steps 1", 0,
           "cuts this network's batches of 64 into micro-batches of 32", "");
    expect("summary lenet5 --profile forward --steps 1", 0, "per forward pass of batch 1, 1 "
           "thread", "");
    T_CHECK(!strstr(out, "optimiser"), "a forward profile has no optimiser:\n%s", out);
    expect("summary lenet5 --profile backward", 2, "", "--profile backward: expected forward or "
           "train");
    expect("summary lenet5 --batch 8", 2, "", "--batch is for --profile");
    expect("summary lenet5 --profile train --json", 2, "", "leave out --json");
    expect("def lenet5 --profile train", 2, "", "--profile is for summary");
    expect("summary lenet5 --profile train --batch 0", 2, "", "--batch");
}

int main(int argc, char **argv) {
    (void)argc;
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    test_checkpoints();
    test_input_refit();
    test_help();
    test_refusals();
    test_profile();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) T_CHECK(0, "cleanup");
    return t_finish();
}
