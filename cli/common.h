/*
 * common.h - what the cnn tool's commands share: finding data sets, building models by name,
 * file or checkpoint, reading a checkpoint's metadata, and JSON strings.
 */
#ifndef CNN_CLI_COMMON_H
#define CNN_CLI_COMMON_H

#include "cnn.h"

#include <stddef.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loads the training and/or test part of a data set named by spec: "fashion-mnist", a folder
 * of IDX files (MNIST layout), a folder of CIFAR-10 binary batches, or a folder with train/ and
 * test/ image sub-folders (resized to c x h x w). With shard (not NULL), only that shard of the
 * training part (cnn_dataset_load_*_shard). Prints the error and returns 0 on failure. */
int cli_load_data(const char *cmd, const char *spec, cnn_dataset **train, cnn_dataset **test,
                  int c, int h, int w, const cnn_shard *shard);

/* Builds a network from a zoo name or a definition file for samples of shape input and
 * `classes` classes. A definition file whose input layer has another shape is rebuilt with the
 * input's (one note on stderr); a flat input of the same size and channels is kept as it is.
 * A zoo model is built for `classes` outputs; with flat set and classes > 0 a definition file's
 * output must be that many flat logits (classification; other tasks are checked by the
 * trainer). Prints the error and returns 0 on failure. */
int cli_build_model(const char *cmd, const char *model, const cnn_shape *input, int classes,
                    int flat, uint64_t seed, cnn_net **out);

/* Metadata text: lines "key=value". cli_meta_get copies the value of key into buf and returns
 * 1, or returns 0 when the key is absent or its value does not fit (cnn_meta_get). */
int cli_meta_get(const char *meta, const char *key, char *buf, size_t size);
/* The value of key in the metadata of the checkpoint path as an integer from 0 to max, read
 * strictly (digits only: "-5", "5x" and "" are refused, never -5, 5 or 0) into *out. Prints
 * the error, naming the key and the value, and returns 0 when it is not such an integer. */
int cli_meta_count(const char *cmd, const char *path, const char *meta, const char *key,
                   int max, int *out);

/* "CxHxW" with C 1 or 3 (the --input option). Prints the error and returns 0 on failure. */
int cli_parse_shape(const char *cmd, const char *s, int *c, int *h, int *w);

/* The training and (test not NULL) test sets of a data set for a task (cli/data.c):
 * classification as cli_load_data, with the test classes matched to the training classes by
 * name; segmentation from DIR/{train,test}/{images,masks}; regression from DIR/train.csv and
 * DIR/test.csv. input ("CxHxW" or NULL) sizes resized images and must match the others.
 * shard (not NULL): only that shard of a classification training set; segmentation and
 * regression sets are not sharded (an error). Prints the error and returns 0 on failure. */
int cli_load_task_data(const char *cmd, const char *spec, cnn_task task, const char *input,
                       const cnn_shard *shard, cnn_dataset **train, cnn_dataset **test);

/* The validation samples of cnn train's --val spec out of n training samples into *out: a
 * count, or a fraction in (0, 1) written with a decimal point; NULL (not given) is 10% of n, at
 * most 5000. With n < 0 only the form of spec is checked. Prints the error ("cnn CMD: --val
 * ...") and returns 0 when spec is malformed or holds n or more samples. */
int cli_val_count(const char *cmd, const char *spec, int n, int *out);

/* The validation samples cnn train held out when it trained the checkpoint at path (meta: its
 * metadata, from cnn_net_load_meta), drawn again as the run drew them (from its cli.val_seed,
 * or train.seed before there was one, cli.limit and cli.val) out of train, the model's whole training set as loaded: they move into
 * *val and train keeps the rest. The draw is checked against the run's record (train.val: the
 * count and a hash of the labels). Prints the error and returns 0 (*val NULL) when the
 * checkpoint records no validation samples (trained with --val 0, or not by cnn train) or those
 * drawn now differ (another data set). */
int cli_checkpoint_val(const char *cmd, const char *path, const char *meta, cnn_dataset *train,
                       cnn_dataset **val);

/* The data set a command on `model` uses: `given` (--data) when not NULL, else the one the
 * checkpoint names in its metadata meta (cnn_net_load_meta's; copied into buf); NULL after
 * printing "cnn CMD: MODEL does not say its data set: give --data". */
const char *cli_data_spec(const char *cmd, const char *given, const char *model,
                          const char *meta, char *buf, size_t size);

/* --fuse: replaces *net by its inference copy (cnn_net_fuse) and frees the original. 0 (with
 * "cnn CMD: --fuse: ..." on stderr, *net unchanged) when it cannot. */
int cli_fuse(const char *cmd, cnn_net **net);

/* The data set spec for a model: its test part into *test (when test is not NULL), its classes
 * matched to the model's by name (a model without class names, such as an imported ONNX model,
 * takes the data set's classes in their order when there are as many), and its training part
 * into *train when train is not NULL (labels as loaded: for calibration, and the validation
 * samples of cnn eval --split val). Prints the error as "cnn CMD: ..." and returns 0 on
 * failure; what was loaded is the caller's to free either way. */
int cli_load_model_data(const char *cmd, const char *spec, cnn_net *net, cnn_dataset **train,
                        cnn_dataset **test);

/* Prints s on stdout as a JSON string, quoted and escaped. */
void cli_json_str(const char *s);

/* Is stderr a terminal (for progress bars)? */
int cli_is_tty(void);

#endif
