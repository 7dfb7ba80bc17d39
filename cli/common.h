/*
 * common.h - what the cnn tool's commands share: finding data sets, building models by name or
 * file, the metadata a training run keeps in its checkpoint, and augmentation specs.
 */
#ifndef CNN_CLI_COMMON_H
#define CNN_CLI_COMMON_H

#include "cnn.h"

#include <stddef.h>

#define FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Loads the training and/or test part of a data set named by spec: "fashion-mnist", a folder
 * of IDX files (MNIST layout), a folder of CIFAR-10 binary batches, or a folder with train/ and
 * test/ image sub-folders (resized to c x h x w). Prints the error and returns 0 on failure. */
int cli_load_data(const char *cmd, const char *spec, cnn_dataset **train, cnn_dataset **test,
                  int c, int h, int w);

/* Builds a network from a zoo name or a definition file for the given input and classes. */
int cli_build_model(const char *cmd, const char *model, const cnn_shape *input, int classes,
                    uint64_t seed, cnn_net **out);

/* Parses "hflip,crop=4,rotate=10,..." into aug (all off first). */
int cli_parse_augment(const char *cmd, const char *spec, cnn_augment *aug);

/* Metadata text: lines "key=value". cli_meta_get copies the value of key into buf and returns
 * 1, or returns 0 when the key is absent. */
int cli_meta_get(const char *meta, const char *key, char *buf, size_t size);

/* Parses "a,b,c" of n floats. */
int cli_parse_floats(const char *s, float *out, int n);

/* Loads a checkpoint written by cnn train: the network, the metadata, and from it the class
 * names (split on '|', n of them, an array to free with cli_free_names), mean and std (C each;
 * NULL-able). Prints the error and returns 0 on failure. */
int cli_load_model(const char *cmd, const char *path, cnn_net **net, char **meta, char ***names,
                   int *n_names, float *mean, float *std);
void cli_free_names(char **names, int n);

/* Normalises one sample x of the given shape in place as in training: (x - mean[c]) / std[c]
 * on each channel c. */
void cli_normalise(float *x, const cnn_shape *shape, const float *mean, const float *std);

/* Is stderr a terminal (for progress bars)? */
int cli_is_tty(void);

#endif
