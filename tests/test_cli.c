/*
 * test_cli.c - the cnn tool end to end, on a small synthetic data set written as IDX files:
 * train (with its log, plot and checkpoint), the same weights for 1 and 2 threads, a resumed
 * run equal bit for bit to an uninterrupted one, eval --json, predict, every viz picture, and
 * the errors a user meets (unknown options, bad values, missing or damaged files, a diverging
 * run).
 *
 * The tool is found beside the test program: BUILD/tests/test_cli -> BUILD/cnn.
 */
#include "testlib.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tool[4096], dir[] = "/tmp/cnn_cli_XXXXXX";

/* Runs the tool with args (a shell word list); returns its exit code and its output. */
static int run(const char *args, char *out, size_t size) {
    return t_run_tool(tool, dir, args, out, size);
}

static void be32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    fwrite(b, 1, 4, f);
}

/* n images of 28x28 whose class k is a bright bar at row 2k + 4, plus noise. */
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
    float noise[28 * 28];
    for (int i = 0; i < n; i++) {
        unsigned char label = (unsigned char)(i % 10), img[28 * 28];
        t_fill(noise, 28 * 28, seed + (uint64_t)i, 0, 80);
        for (int p = 0; p < 28 * 28; p++) img[p] = (unsigned char)noise[p];
        for (int c = 3; c < 25; c++) img[(2 * label + 4) * 28 + c] = 255;
        fwrite(img, 1, sizeof img, fi);
        fwrite(&label, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

static int exists(const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The width of the PNG picture dir/name, or 0 when it is not one. */
static int png_size(const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int w = 0, h = 0, comp = 0;
    return stbi_info(path, &w, &h, &comp) ? w : 0;
}

/* Runs args, expects exit code `code` and every fragment in the output. */
static void expect(const char *args, int code, const char *frag1, const char *frag2) {
    static char out[1 << 16];
    int got = run(args, out, sizeof out);
    T_CHECK(got == code, "cnn %s: exit %d, expected %d; output:\n%s", args, got, code, out);
    T_CHECK(!frag1 || strstr(out, frag1), "cnn %s: output lacks '%s':\n%s", args, frag1, out);
    T_CHECK(!frag2 || strstr(out, frag2), "cnn %s: output lacks '%s':\n%s", args, frag2, out);
    printf("  ok cnn %s -> %d\n", args, got);
}

int main(int argc, char **argv) {
    (void)argc;
    if (!t_tool_path(argv[0], tool, sizeof tool) || !mkdtemp(dir)) return t_finish();
    write_idx("train", 600, 1);
    write_idx("t10k", 200, 100000);

    const char *common = "train --data . --batch 32 --val 100 --seed 3 --epochs 2";
    char args[1024];
    snprintf(args, sizeof args, "%s --out one.ckpt", common);
    expect(args, 0, "test: 200 samples", "wrote the model to one.ckpt, the log to one.csv and its plot to one.png");
    T_CHECK(exists("one.ckpt") && exists("one.csv") && exists("one.png"), "output files");

    /* The same seed gives the same weights whatever the thread count. */
    snprintf(args, sizeof args, "%s --threads 2 --out two.ckpt", common);
    expect(args, 0, "test:", NULL);
    t_same_checkpoints(dir, "one.ckpt", "two.ckpt", "1 thread vs 2 threads");

    /* A run extended by resuming with more epochs ends with exactly the weights of a run of
     * that many epochs (with a constant schedule: a cosine one stretches to the new end). */
    snprintf(args, sizeof args, "%s --schedule constant --out const.ckpt", common);
    expect(args, 0, NULL, NULL);
    snprintf(args, sizeof args, "train --data . --batch 32 --val 100 --seed 3 --epochs 1 --schedule constant --out part.ckpt");
    expect(args, 0, NULL, NULL);
    expect("train --resume part.ckpt --epochs 2 --out resumed.ckpt", 0, "resuming from part.ckpt after epoch 1", NULL);
    t_same_checkpoints(dir, "const.ckpt", "resumed.ckpt", "resumed vs uninterrupted");
    expect("train --resume part.ckpt --epochs 2 --lr 0.1", 2, "--lr cannot change when resuming", NULL);
    expect("train --resume one.ckpt --epochs 2", 2, "has done 2 epochs", NULL);

    /* With augmentation, a schedule and momentum, still reproducible. */
    snprintf(args, sizeof args, "%s --augment hflip,crop=2,cutout=4,noise=0.05 --opt nesterov --lr 0.02 --schedule cosine --warmup 1 --clip 5 --out aug1.ckpt", common);
    expect(args, 0, "test:", NULL);
    snprintf(args, sizeof args, "%s --augment hflip,crop=2,cutout=4,noise=0.05 --opt nesterov --lr 0.02 --schedule cosine --warmup 1 --clip 5 --threads 2 --out aug2.ckpt", common);
    expect(args, 0, "test:", NULL);
    t_same_checkpoints(dir, "aug1.ckpt", "aug2.ckpt", "augmented run, 1 vs 2 threads");

    expect("eval one.ckpt --data . --json", 0, "\"top1\": ", "\"n\": 200");
    expect("eval one.ckpt --data .", 0, "top-5", "confusion matrix");
    /* --fuse evaluates the inference form (the default model's ReLUs applied by its
     * convolutions: the same bits), so the same report. */
    static char plain[1 << 16], fused[1 << 16];
    T_CHECK(run("eval one.ckpt --data . --json", plain, sizeof plain) == 0 &&
                run("eval one.ckpt --data . --json --fuse", fused, sizeof fused) == 0 &&
                strcmp(plain, fused) == 0,
            "eval --fuse reports as eval:\n%s\nvs\n%s", fused, plain);

    /* predict: an image of class 3 (its bar at row 10). */
    unsigned char img[28 * 28] = {0};
    for (int c = 3; c < 25; c++) img[10 * 28 + c] = 255;
    char png[4200];
    snprintf(png, sizeof png, "%s/three.png", dir);
    T_CHECK(stbi_write_png(png, 28, 28, 1, img, 28) != 0, "writing a PNG");
    expect("predict one.ckpt three.png", 0, "1. 3 ", "%");
    expect("predict one.ckpt three.png --fuse", 0, "1. 3 ", "%");
    expect("predict one.ckpt missing.png", 1, "missing.png", NULL);

    /* viz: every picture, from an image file and from a test image, and its refusals. */
    expect("viz filters one.ckpt --out f.png", 0, "wrote f.png", NULL);
    T_CHECK(png_size("f.png") > 0, "viz filters wrote a picture");
    expect("viz filters one.ckpt --layer conv2 --out f2.png", 0, "wrote f2.png", NULL);
    expect("viz filters one.ckpt --layer relu1", 1, "'relu1' is a relu", NULL);
    expect("viz filters one.ckpt --layer nosuch", 1, "--layer nosuch: no such layer", "conv1");
    expect("viz filters one.ckpt --class 3", 2, "unknown option '--class'", NULL);
    expect("viz maps one.ckpt three.png --layer relu1 --out m.png", 0, "wrote m.png", NULL);
    expect("viz maps one.ckpt --index 3 --layer conv1 --out m3.png", 0, "wrote m3.png", NULL);
    T_CHECK(png_size("m.png") > 0 && png_size("m3.png") > 0, "viz maps wrote pictures");
    expect("viz maps one.ckpt three.png", 1, "give the layer", NULL);
    expect("viz maps one.ckpt three.png --index 2 --layer relu1", 1, "not both", NULL);
    expect("viz maps one.ckpt --index 500 --layer relu1", 1, "has 200 images", NULL);
    expect("viz maps one.ckpt --index 0 --layer fc1", 1, "'fc1' is 120, not feature maps", NULL);
    expect("viz saliency one.ckpt three.png --out s.png", 0, "three.png: predicted 3", "wrote s.png");
    expect("viz guided one.ckpt three.png --class 4 --out g.png", 0, "class 4", "wrote g.png");
    expect("viz gradcam one.ckpt --index 7 --out c.png", 0, "test image 7 (7)", "wrote c.png");
    T_CHECK(png_size("s.png") > 0 && png_size("g.png") > 0 && png_size("c.png") > 0,
            "explanations wrote pictures");
    expect("viz gradcam one.ckpt three.png --class 10", 1, "--class 10: the model has 10 classes", NULL);
    expect("viz gradcam one.ckpt three.png --layer fc1", 1, "'fc1' is 120, not feature maps", NULL);
    expect("viz stats one.ckpt --batch 50 --out st.png", 0, "relu1 ", "wrote st.png");
    T_CHECK(png_size("st.png") > 0, "viz stats wrote a picture");
    expect("viz dream one.ckpt --layer conv2 --unit 0,1 --steps 20 --out d.png", 0,
           "conv2 unit 1: activation", "wrote d.png");
    expect("viz dream one.ckpt --layer conv2 --unit 99", 1, "unit 99 is out of range 0 to 15", NULL);
    expect("viz dream one.ckpt --layer conv2 --unit 1x", 1, "--unit 1x", NULL);
    expect("viz dream one.ckpt --unit 1", 1, "give the layer", NULL);
    expect("viz kernels three.png --out k.png", 0, "sobel_left", "wrote k.png");
    T_CHECK(png_size("k.png") > 0, "viz kernels wrote a picture");
    expect("viz kernels missing.png", 1, "missing.png: cannot open", NULL);
    expect("viz kernels one.ckpt", 1, "not a PNG or JPEG", NULL);
    expect("viz sketch one.ckpt", 2, "unknown picture 'sketch'", NULL);
    expect("viz", 2, "say what to draw", NULL);
    expect("help viz gradcam", 0, "--layer NAME", "--index I");

    /* The zoo from the command line: a summary, and a definition written out and read back. */
    expect("models", 0, "resnet50", "densenet121");
    expect("summary lenet5 --json", 0, "\"params\": 61706,", "\"macs\": ");
    expect("summary resnet50 --json", 0, "\"params\": 25557032,", NULL);
    expect("summary lenet5", 0, "parameters:            61706", "multiply-adds:");
    char cmd_def[4200];
    snprintf(cmd_def, sizeof cmd_def, "cd %s && %s def resnet20 > resnet20.txt", dir, tool);
    T_CHECK(system(cmd_def) == 0, "cnn def resnet20");
    expect("summary resnet20.txt --json", 0, "\"params\": 272474,", NULL);
    expect("summary resnet20 --input 1x28x28 --json", 0, "\"params\": 272186,", NULL);
    expect("summary nosuch", 1, "nosuch", NULL);
    expect("summary alexnet --input 1x28x28", 1, "too small", NULL);
    expect("def lenet5 --json", 2, "--json is for summary", NULL);

    /* Errors: each names what is wrong, with a non-zero exit. */
    expect("train --epoch 3", 2, "unknown option '--epoch'", NULL);
    expect("train --epochs 0", 2, "--epochs 0: expected an integer from 1", NULL);
    expect("train --epochs 3x", 2, "--epochs 3x", NULL);
    expect("train --lr", 2, "--lr needs a value", NULL);
    expect("train --opt rmsprop", 2, "--opt rmsprop", NULL);
    expect("train --augment flip", 2, "unknown transform 'flip'", NULL);
    expect("train --data /nonexistent", 1, "/nonexistent", NULL);
    expect("train --data . --val 100 --model nosuchmodel", 1, "nosuchmodel", NULL);
    expect("frobnicate", 2, "unknown command 'frobnicate'", NULL);
    expect("help train", 0, "--resume FILE", "--augment LIST");
    expect("eval", 2, "give one model", NULL);
    expect("eval nothing.ckpt", 1, "nothing.ckpt: cannot open", NULL);

    /* A damaged checkpoint is refused. */
    char path[4200];
    snprintf(path, sizeof path, "%s/one.ckpt", dir);
    FILE *f = fopen(path, "r+b");
    fseek(f, 100, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    expect("eval one.ckpt --data .", 1, "checksum mismatch", NULL);

    /* A truncated data file is named. */
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    if (truncate(path, 5000) != 0) T_CHECK(0, "truncate");
    expect("eval two.ckpt --data .", 1, "t10k-images-idx3-ubyte", "truncated");
    write_idx("t10k", 200, 100000);

    /* A diverging run stops with the step and the layer: stacked linear layers with a huge
     * learning rate grow their weights geometrically until they overflow. */
    snprintf(path, sizeof path, "%s/linear.txt", dir);
    f = fopen(path, "w");
    fputs("x = input shape=1x28x28\nf = flatten\nd1 = dense out=64\nd2 = dense out=64\n"
          "d3 = dense out=10\n", f);
    fclose(f);
    expect("train --data . --model linear.txt --batch 32 --val 100 --epochs 3 --opt sgd --lr 100 "
           "--no-normalize --out nan.ckpt",
           1, "training stopped at epoch 1, step", "layer '");

    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) T_CHECK(0, "cleanup");
    return t_finish();
}
