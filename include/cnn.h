/*
 * cnn.h - the one public header of libcnn, convolutional neural networks in C.
 *
 * Conventions (PyTorch's, so that results compare directly):
 *   - float32 everywhere; activations are NCHW, 1-D activations N,C,L, flat ones N,C.
 *   - convolution weights are OIHW (conv_transpose2d: I,O/groups,H,W), dense weights (out, in).
 *   - convolution is cross-correlation (no kernel flip).
 *
 * A network is a directed acyclic graph of named layers. Layers are added in order with
 * cnn_add(); each names its inputs among the layers added before it, so the order of addition
 * is a topological order. Shapes are inferred as each layer is added: an impossible shape is an
 * error at that call, naming the layer and the shapes.
 *
 *   cnn_net *net = cnn_net_new(42);
 *   cnn_add(net, "input",  "x",  NULL, "shape=1x28x28");
 *   cnn_add(net, "conv2d", "c1", NULL, "out=6 kernel=5 padding=2");
 *   cnn_add(net, "relu",   NULL, NULL, NULL);
 *   ...
 *   cnn_net_prepare(net, 64);                        plans all activation memory once
 *   cnn_net_forward(net, images, 64);
 *   cnn_net_loss(net, CNN_LOSS_SOFTMAX_CE, labels, &loss);   also seeds the output gradient
 *   cnn_net_backward(net);
 *
 * Every function that can fail returns a cnn_status; the network keeps a message saying what
 * went wrong (cnn_net_last_error). The library never exits and prints nothing unless a log
 * callback is installed. No global mutable state: everything lives in the cnn_net.
 */
#ifndef CNN_H
#define CNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version, MAJOR.MINOR.PATCH; docs/VERSIONING.md says what each part promises. These three
 * lines are its one source: the Makefile reads them for the library's file names and SONAME
 * (libcnn.so.MAJOR), and cnn_version() returns CNN_VERSION_STRING as the library was built. */
#define CNN_VERSION_MAJOR 0
#define CNN_VERSION_MINOR 5
#define CNN_VERSION_PATCH 0
#define CNN_VERSION_STR_(x) #x
#define CNN_VERSION_XSTR_(x) CNN_VERSION_STR_(x)
#define CNN_VERSION_STRING \
    CNN_VERSION_XSTR_(CNN_VERSION_MAJOR) "." CNN_VERSION_XSTR_(CNN_VERSION_MINOR) "." \
    CNN_VERSION_XSTR_(CNN_VERSION_PATCH)

/* ---------------------------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------------------------- */

typedef enum cnn_status {
    CNN_STATUS_OK = 0,
    CNN_STATUS_INVALID_ARGUMENT, /* a bad value passed by the caller or found in a definition */
    CNN_STATUS_SHAPE,            /* shapes do not fit together */
    CNN_STATUS_NO_MEMORY,        /* an allocation failed */
    CNN_STATUS_IO,               /* a file could not be opened, read or written */
    CNN_STATUS_FORMAT,           /* a file's content is malformed or truncated */
    CNN_STATUS_STATE,            /* a call made in the wrong state (e.g. forward before prepare) */
    CNN_STATUS_NUMERIC           /* a NaN or an infinity where a finite number was required */
} cnn_status;

/* The name of a status, e.g. "shape error". Never NULL. */
const char *cnn_status_str(cnn_status status);

/* The library version, CNN_VERSION_STRING. */
const char *cnn_version(void);

/* The instruction sets the kernels use, lowest first: "baseline" (any CPU), "avx2" (AVX2 and
 * FMA), "vnni" (AVX2 and the 8-bit dot products of 8-bit inference), "avx512" (AVX-512 F, BW,
 * DQ, VL and VNNI: the float matrix products run on the library's own AVX-512 kernels instead
 * of OpenBLAS's). The highest the CPU has is used unless a program holds it lower. Results are
 * reproducible bit for bit for a given level (and any thread count); another level may round
 * differently. cnn_isa_cpu() names the CPU's level, cnn_isa_in_force() the one in use. */
const char *cnn_isa_cpu(void);
const char *cnn_isa_in_force(void);
/* Holds the kernels to at most the level named (never above the CPU's), for the whole process:
 * call it before preparing networks. The cnn tool calls it with the environment variable
 * CNN_ISA when that is set. INVALID_ARGUMENT, and nothing changes, for another name. */
cnn_status cnn_isa_limit(const char *name);

/* ---------------------------------------------------------------------------------------------
 * Shapes
 * ------------------------------------------------------------------------------------------- */

#define CNN_MAX_RANK 3

/* The shape of one sample, without the batch dimension: rank 1 is (C), rank 2 is (C, L),
 * rank 3 is (C, H, W). */
typedef struct cnn_shape {
    int rank;
    int dim[CNN_MAX_RANK];
} cnn_shape;

/* The number of elements of one sample of this shape. */
size_t cnn_shape_numel(const cnn_shape *shape);

/* Writes the shape as "6x28x28" into buf (always NUL-terminated); returns buf. */
char *cnn_shape_str(const cnn_shape *shape, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Networks
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_net cnn_net;

/* Log levels passed to a log callback. */
typedef enum cnn_log_level { CNN_LOG_ERROR, CNN_LOG_WARN, CNN_LOG_INFO, CNN_LOG_DEBUG } cnn_log_level;
typedef void (*cnn_log_fn)(void *user, cnn_log_level level, const char *message);

/* A new, empty network whose random generator (weight initialisation, dropout) is seeded with
 * seed. Returns NULL only when memory runs out. */
cnn_net *cnn_net_new(uint64_t seed);

/* Frees the network and everything it owns. Accepts NULL. */
void cnn_net_free(cnn_net *net);

/* The message of the last error on this network ("" if none). Valid until the next call. */
const char *cnn_net_last_error(const cnn_net *net);

/* Installs a log callback (NULL removes it). Errors are also logged at CNN_LOG_ERROR. */
void cnn_net_set_log(cnn_net *net, cnn_log_fn fn, void *user);

/* Sets the number of threads used by forward, backward and the optimisers (default 1).
 * Results are bit-identical for every thread count. Each network has its own threads (the
 * caller plus threads-1 workers, started by cnn_net_prepare), so networks used from different
 * threads of a program do not interfere. Work is cut into chunks that idle threads claim, and
 * a waiting thread sleeps after a few microseconds, so a core taken by another process slows
 * the network down no more than losing that thread would. libcnn runs OpenBLAS
 * single-threaded inside each chunk: it calls openblas_set_num_threads(1) once, which holds
 * for the whole process. */
cnn_status cnn_net_set_threads(cnn_net *net, int threads);
int cnn_net_threads(const cnn_net *net);

/* Selects the plain-C reference kernels (1) or the fast kernels (0, the default). The reference
 * kernels are the specification the fast ones are tested against. */
void cnn_net_set_reference(cnn_net *net, int reference);

/* Training mode (1): batch normalisation uses batch statistics and updates its running
 * averages, dropout drops. Evaluation mode (0, the default): running statistics, no dropout. */
void cnn_net_set_training(cnn_net *net, int training);
int cnn_net_training(const cnn_net *net);

/* An inference copy of net (*out, to free with cnn_net_free): every batch norm that follows
 * a convolution (and is its only reader) folded into the convolution's weights and bias with
 * the running statistics, a ReLU after either applied by the convolution as it writes each
 * output (conv2d act=relu), and a ReLU after a residual sum applied by the sum (add act=relu),
 * as PyTorch's fuse_modules and onnxruntime do. The copy computes what net computes
 * in evaluation mode, to rounding (folded weights round differently), with fewer passes over
 * memory; the absorbed layers are gone from it, so their outputs cannot be read (viz needs
 * net itself). Other layers, the preprocessing, the thread count and the names are kept; a
 * fused convolution keeps its own name, and readers of the last absorbed layer read it. The
 * copy is a snapshot: later changes to net do not reach it. Training the copy trains the fused
 * form (batch norm gone). */
cnn_status cnn_net_fuse(const cnn_net *net, cnn_net **out, char *err, size_t errlen);

/* An ensemble of n trained networks (2 to 8) as one network (*out, to free with
 * cnn_net_free): every member's layers, member k's named "mk.NAME" (m0.conv1, m1.conv1, ...),
 * reading one shared input (member 0's input layer, its name kept), and a mean layer named
 * "ensemble", the output, averaging the members' outputs. For classifiers those are logits,
 * so the ensemble's probabilities are the softmax of the members' mean logits. The members
 * must each take one input, of one shape, give outputs of one shape and have the same
 * preprocessing (task, loss, transforms, classes, test-time views), which the ensemble takes,
 * with member 0's normalisation and thread count. A member that normalises otherwise (models
 * trained apart hold out other validation samples, so their statistics differ) reads the
 * input through a layer of its own, "mk.renorm": a 1x1 depthwise convolution mapping member
 * 0's normalised values to its own (to rounding; (C, H, W) and (C, L) inputs). Weights and
 * batch norm statistics are copied: the ensemble is a snapshot, the members are unchanged.
 * It is an ordinary network: it saves, loads, exports to ONNX, evaluates and classifies as
 * any other. err names the member and layer at fault. */
cnn_status cnn_net_ensemble(cnn_net *const *members, int n, cnn_net **out, char *err,
                            size_t errlen);

/* Profiling: where a network's time goes, layer by layer (`cnn profile` prints it). While on,
 * every forward and backward call of each layer is timed, and so is the sharing of its work
 * between threads: a region is one loop split over the threads, and busy time is what all
 * threads spent computing inside regions. A layer's time outside regions ran on one thread;
 * busy / (threads x region time) is how well its regions used the threads (1: no thread
 * waited). Results are unchanged; the cost is a few clock readings per layer and per chunk of
 * work. */
typedef struct cnn_pass_profile {
    long long calls, regions;
    double seconds;          /* wall time of the layer's calls */
    double region_seconds;   /* of which inside regions */
    double busy_seconds;     /* all threads' computing time inside those regions */
} cnn_pass_profile;
typedef struct cnn_layer_profile {
    cnn_pass_profile forward, backward; /* backward includes clearing its inputs' gradients */
} cnn_layer_profile;

/* Turns profiling on (clearing the counts) or off (keeping them to read). NO_MEMORY when the
 * counts cannot be allocated. */
cnn_status cnn_net_set_profiling(cnn_net *net, int on);
/* The counts of a layer since profiling was last turned on; zeros for a layer added after
 * that, or when profiling was never on. */
cnn_layer_profile cnn_net_layer_profile(const cnn_net *net, int layer);

/* ---------------------------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------------------------- */

/* Adds a layer.
 *   type    a registered layer type: "input", "conv2d", "relu", ... (cnn_layer_type_count/_name
 *           list them, cnn_layer_type_doc documents each).
 *   name    a unique name, or NULL for an automatic one ("conv2d_3").
 *   inputs  comma-separated names of earlier layers, e.g. "a,b"; NULL or "" means the layer
 *           added just before. Ignored for "input".
 *   args    the layer's hyper-parameters as "key=value" words, e.g.
 *           "out=64 kernel=3 stride=2 padding=same"; NULL or "" when all have defaults.
 * Shapes are inferred at once; on failure nothing is added and the error names the layer,
 * the key or the shapes at fault. Parameters are allocated and initialised from the
 * network's random generator, in the order layers are added. */
cnn_status cnn_add(cnn_net *net, const char *type, const char *name, const char *inputs,
                   const char *args);

/* Makes the named layer the network's output (by default the last layer added). */
cnn_status cnn_net_set_output(cnn_net *net, const char *name);
/* The index of the output layer (-1 for an empty network). */
int cnn_net_output_layer(const cnn_net *net);

/* Number of layers, and the index of a layer by name (-1 if there is none). */
int cnn_net_layer_count(const cnn_net *net);
int cnn_net_find(const cnn_net *net, const char *name);

/* A layer's name, type name, output shape and parameter count, by index. */
const char *cnn_net_layer_name(const cnn_net *net, int layer);
const char *cnn_net_layer_type(const cnn_net *net, int layer);
cnn_shape cnn_net_layer_shape(const cnn_net *net, int layer);
size_t cnn_net_layer_param_count(const cnn_net *net, int layer);

/* Writes the layer's hyper-parameters in canonical "key=value" form (every key, defaults
 * included) into buf; returns the length it needed (like snprintf). */
int cnn_net_layer_args(const cnn_net *net, int layer, char *buf, size_t size);

/* Number of input layers, and their shapes. */
int cnn_net_input_count(const cnn_net *net);
cnn_shape cnn_net_input_shape(const cnn_net *net, int input);
cnn_shape cnn_net_output_shape(const cnn_net *net);

/* The inputs of a layer: how many, and the index of each. */
int cnn_net_layer_input_count(const cnn_net *net, int layer);
int cnn_net_layer_input(const cnn_net *net, int layer, int i);

/* ---------------------------------------------------------------------------------------------
 * Network definitions as text (docs/FORMAT.md)
 *
 * One layer per line:   [name =] type[(input, input...)] [key=value ...]   # comment
 * e.g.
 *   x  = input shape=1x28x28
 *   c1 = conv2d out=6 kernel=5 padding=2
 *   r1 = relu
 *   s  = add(r1, x)
 * A layer without inputs in parentheses takes the layer on the line before.
 * ------------------------------------------------------------------------------------------- */

/* The most layers a definition may hold (text, or a checkpoint's): more is refused before
 * anything is built, naming the limit and the line of the first layer too many. */
#define CNN_TEXT_MAX_LAYERS 65536

/* Builds a network from definition text. source names the text in error messages, which have
 * the form "source:line:column: message". On failure *out is NULL and err holds the message. */
cnn_status cnn_net_from_text(const char *text, const char *source, uint64_t seed, cnn_net **out,
                             char *err, size_t errlen);

/* The same from a file. */
cnn_status cnn_net_load_text(const char *path, uint64_t seed, cnn_net **out, char *err,
                             size_t errlen);

/* The network's definition as text that cnn_net_from_text reads back to the same network
 * (same layers, shapes and parameter count). Hyper-parameters at their defaults are left out.
 * Returns a string to release with free(), or NULL when memory runs out. */
char *cnn_net_to_text(const cnn_net *net);

/* ---------------------------------------------------------------------------------------------
 * The model zoo: classic architectures by name (cnn models lists them)
 * ------------------------------------------------------------------------------------------- */

/* Number of models, and each one's name and one-line description. */
int cnn_model_count(void);
const char *cnn_model_name(int index);
const char *cnn_model_doc(int index);
/* The input a zoo model is made for and its classes: 3x224x224 and 1000 for the ImageNet
 * models, 1x28x28 and 10 for the small ones (lenet5, vgg_small, fashion_fast), 3x32x32 and 10
 * for the CIFAR ones; the segmentation models their usual sizes. Any input the architecture
 * accepts can be built; this is the one `cnn summary` shows. CNN_STATUS_INVALID_ARGUMENT for
 * an unknown name. */
cnn_status cnn_model_standard_input(const char *name, int *channels, int *height, int *width,
                                    int *classes);

/* The definition text (docs/FORMAT.md) of a model for inputs of channels x height x width and
 * `classes` outputs; a string to free(). On failure NULL, with a message in err (an unknown
 * name, or an input too small for the architecture). */
char *cnn_model_text(const char *name, int channels, int height, int width, int classes,
                     char *err, size_t errlen);

/* Builds a model by name, seeding its initialisation with seed. */
cnn_status cnn_model_build(const char *name, int channels, int height, int width, int classes,
                           uint64_t seed, cnn_net **out, char *err, size_t errlen);

/* Multiply-adds of one sample's forward pass through a layer, and bytes of one sample's
 * activations (every layer's output, float32). Multiply-adds are counted as in the published
 * figures: convolutions (and transposed ones) and dense layers; pooling, normalisation and
 * activations count 0. */
uint64_t cnn_net_layer_macs(const cnn_net *net, int layer);
uint64_t cnn_net_macs(const cnn_net *net);
size_t cnn_net_activation_bytes(const cnn_net *net);

/* ---------------------------------------------------------------------------------------------
 * Parameters
 *
 * All trainable parameters live in one flat buffer, layer after layer in the order they were
 * added, each layer's in PyTorch's parameters() order (weight, then bias). The gradients live in
 * a second buffer of the same length. Non-trainable state (batch normalisation's running mean
 * and variance) lives in a third.
 *
 * Batch normalisation (C channels) keeps, in order, weight (gamma, C) and bias (beta, C) in the
 * parameters when affine=1, and running_mean (C) then running_var (C) in the state, PyTorch's
 * buffers of the same names (it has no num_batches_tracked). Each training forward pass updates
 * them as PyTorch does with momentum m:
 *   running_mean = (1 - m) running_mean + m mean,
 *   running_var  = (1 - m) running_var  + m var M / (M - 1)
 * where mean and var are the batch's mean and biased variance over the M = N*H*W (N*L, N)
 * values of a channel, so the running variance takes the unbiased variance. (With M = 1
 * PyTorch raises an error; here the biased variance, 0, is used.)
 *
 * Tensors by name: each layer describes its tensors as PyTorch's modules name them (weight,
 * bias, running_mean, running_var) with PyTorch's shapes, so that "layer.weight" is the key of
 * the state_dict of a PyTorch model whose modules are named as the layers (the model zoo names
 * its layers after torchvision's modules):
 *   conv2d weight (out, C/groups, KH, KW), bias (out)
 *   conv1d weight (out, C/groups, K), bias (out)
 *   conv_transpose2d weight (C, out/groups, KH, KW), bias (out)
 *   dense weight (out, in), bias (out)
 *   batchnorm weight (C), bias (C), running_mean (C), running_var (C)
 * Every layer type with parameters or state describes its tensors (its file does).
 * ------------------------------------------------------------------------------------------- */

/* The flat buffers. The values may be read and changed through the pointers until the next
 * forward pass; to change them after a pass, call cnn_net_params (or cnn_net_state, or for a
 * tensor's pointer cnn_net_param_tensor or cnn_net_find_param) again first: what layers make from their
 * weights and keep between evaluation passes (a quantised layer's integers, cnn_net_quantize;
 * a 3x3 convolution's Winograd transforms) is remade at the first pass after one of these
 * calls (or cnn_net_prepare, or a training pass), without comparing 4 bytes per weight at
 * every pass. */
size_t cnn_net_param_count(const cnn_net *net);
float *cnn_net_params(cnn_net *net);
/* The gradients, one per parameter. The buffer is made, zeroed, at its first need (the first
 * backward pass, or this call): a network used only for inference never holds it. NULL when
 * memory runs out then (cnn_net_last_error says so). */
float *cnn_net_grads(cnn_net *net);
size_t cnn_net_state_count(const cnn_net *net);
float *cnn_net_state(cnn_net *net);

/* Offset and length of one layer's parameters (and state) in the flat buffers. */
size_t cnn_net_layer_param_offset(const cnn_net *net, int layer);
size_t cnn_net_layer_state_offset(const cnn_net *net, int layer);
size_t cnn_net_layer_state_count(const cnn_net *net, int layer);

/* Sets every gradient to zero. Backward passes add into the gradients. */
void cnn_net_zero_grad(cnn_net *net);

/* Re-initialises every parameter and state from the network's generator reseeded with seed. */
void cnn_net_init_params(cnn_net *net, uint64_t seed);

#define CNN_PARAM_MAX_RANK 4

typedef enum cnn_param_role {
    CNN_PARAM_TRAINABLE, /* in cnn_net_params, with a gradient (PyTorch: a parameter) */
    CNN_PARAM_STATE      /* in cnn_net_state, no gradient (PyTorch: a buffer) */
} cnn_param_role;

/* One named tensor of a layer. The pointers are into the network's flat buffers, valid until
 * the next cnn_add (which may move them) or cnn_net_free. */
typedef struct cnn_param_tensor {
    const char *name;    /* "weight", "bias", "running_mean", "running_var" (static) */
    cnn_param_role role;
    int layer;           /* the layer's index */
    int rank;            /* 1 .. CNN_PARAM_MAX_RANK */
    int dims[CNN_PARAM_MAX_RANK]; /* PyTorch's shape (see above); entries past rank are 0 */
    size_t count;        /* elements, the product of the dims */
    size_t offset;       /* where it starts in cnn_net_params (trainable) or cnn_net_state */
    float *data;         /* that buffer + offset: count floats, row-major in the shape */
    float *grad;         /* cnn_net_grads + offset for a trainable tensor; NULL for state, and
                          * before the network holds gradients (cnn_net_grads) */
} cnn_param_tensor;

/* The number of named tensors of a layer (0 for a layer without parameters or state). */
int cnn_net_param_tensor_count(const cnn_net *net, int layer);

/* Tensor i (0 <= i < cnn_net_param_tensor_count) of a layer: its trainable tensors first, in
 * PyTorch's parameters() order, then its state, the order of the layer's state_dict entries.
 * CNN_STATUS_INVALID_ARGUMENT, with a message, for a layer or i out of range. */
cnn_status cnn_net_param_tensor(cnn_net *net, int layer, int i, cnn_param_tensor *t);

/* The tensor named "layer.tensor", as PyTorch's state_dict keys ("conv1.weight",
 * "layer1.0.bn1.running_var"): the layer name is everything before the last dot.
 * CNN_STATUS_INVALID_ARGUMENT, with a message naming what is missing (and the layer's
 * tensors), when there is no such layer or tensor. */
cnn_status cnn_net_find_param(cnn_net *net, const char *name, cnn_param_tensor *t);

/* The batch statistics of a batchnorm layer from the last forward pass in training mode since
 * cnn_net_prepare: per channel the batch mean and the biased variance (over N, H, W: what
 * PyTorch's F.batch_norm normalises with in training), C floats each into mean and var (either
 * may be NULL). Evaluation-mode passes do not change them. CNN_STATUS_INVALID_ARGUMENT for a
 * layer that is not a batchnorm layer, CNN_STATUS_STATE when no training pass was run since
 * the network was prepared. */
cnn_status cnn_net_batchnorm_stats(cnn_net *net, int layer, float *mean, float *var);

/* ---------------------------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------------------------- */

/* Plans and allocates all activation memory for batches of up to max_batch samples. Nothing is
 * allocated by forward or backward. Layers cannot be added after this. */
cnn_status cnn_net_prepare(cnn_net *net, int max_batch);

/* Runs the network on batch samples (batch <= max_batch). x holds batch samples of the input's
 * shape, NCHW. For a network with several inputs use cnn_net_forward_multi, one array per
 * input layer in the order they were added. */
cnn_status cnn_net_forward(cnn_net *net, const float *x, int batch);
cnn_status cnn_net_forward_multi(cnn_net *net, const float *const *xs, int n_inputs, int batch);

/* The output of the last forward pass: batch samples of cnn_net_output_shape(). */
const float *cnn_net_output(const cnn_net *net);

/* The gradient of the loss with respect to the output, to be filled before cnn_net_backward
 * (cnn_net_loss fills it). Same size as the output. */
float *cnn_net_output_grad(cnn_net *net);

/* Back-propagates the output gradient through every layer: adds into the parameter gradients
 * and fills the gradient of every activation, inputs included. Needs a forward pass first. */
cnn_status cnn_net_backward(cnn_net *net);

/* A layer's output and output gradient for the last pass (batch samples of its shape). */
const float *cnn_net_layer_output(const cnn_net *net, int layer);
const float *cnn_net_layer_grad(const cnn_net *net, int layer);

/* The gradient with respect to input number i (after backward). */
const float *cnn_net_input_grad(const cnn_net *net, int input);

/* The argmax indices a max pooling layer (max_pool2d, adaptive_max_pool2d) found in the last
 * forward pass, as PyTorch's return_indices gives them: for each of the pass's batch samples,
 * C x OH x OW values (the layer's shape), each the flat index h W + w of the maximum in its
 * (H, W) input plane (the first maximum in row-major order; padding never wins). indices
 * receives batch * numel(layer's shape) values. Fed back as floats to an input layer, they
 * drive max_unpool2d's indices form. An evaluation pass computes the maxima alone (unless a
 * max_unpool2d reads the layer): this then runs the layer's forward pass again to find them,
 * the same values. CNN_STATUS_INVALID_ARGUMENT for a layer of another type, CNN_STATUS_STATE
 * before a forward pass. */
cnn_status cnn_net_pool_indices(cnn_net *net, int layer, int64_t *indices);

/* Whether backward computes the gradient with respect to the inputs (default: yes). Training
 * never uses it; with wanted = 0 the layers that read an input layer directly (convolutions,
 * dense) skip that part of their backward pass, which for a first convolution is a large
 * share of it, and what cnn_net_input_grad then holds is unspecified. Parameter gradients
 * are the same bit for bit either way. The explanation functions below turn it on for their
 * own passes. */
void cnn_net_set_input_grads(cnn_net *net, int wanted);
int cnn_net_input_grads(const cnn_net *net);

/* How gradients cross a relu layer on the way back. CNN_BACKPROP_PLAIN is the true derivative
 * (dx = dy where the input was positive). CNN_BACKPROP_GUIDED is guided backpropagation
 * (Springenberg et al. 2015): dx = dy only where the input was positive and dy is positive,
 * so only evidence *for* the explained unit flows back. Other layers are unaffected. */
typedef enum cnn_backprop_rule { CNN_BACKPROP_PLAIN, CNN_BACKPROP_GUIDED } cnn_backprop_rule;

/* Back-propagates from any layer: seed (batch samples of the layer's shape, as in the last
 * forward pass) becomes that layer's output gradient, and gradients flow to every layer
 * before it, inputs included (parameter gradients are added into, as by cnn_net_backward).
 * Layers after it are not touched. cnn_net_backward is cnn_net_backward_from the output with
 * cnn_net_output_grad() as seed and the plain rule. */
cnn_status cnn_net_backward_from(cnn_net *net, int layer, const float *seed,
                                 cnn_backprop_rule rule);

/* ---------------------------------------------------------------------------------------------
 * Losses
 * ------------------------------------------------------------------------------------------- */

typedef enum cnn_loss {
    /* Softmax cross-entropy on logits of shape (K); target: int32 class per sample. Stable for
     * logits of any size. Mean over the batch. */
    CNN_LOSS_SOFTMAX_CE,
    /* Per-pixel softmax cross-entropy on logits (K, H, W) or (K, L); target: int32 class per
     * pixel, N*H*W of them. Mean over all pixels. */
    CNN_LOSS_PIXEL_CE,
    /* Mean squared error; target: floats of the output's size. Mean over all elements. */
    CNN_LOSS_MSE,
    /* Binary cross-entropy with logits; target: floats in [0, 1] of the output's size. Mean
     * over all elements. */
    CNN_LOSS_BCE_LOGITS
} cnn_loss;

/* Computes the loss of the last forward output against target (see cnn_loss for its type) and
 * writes d loss / d output into the output gradient, ready for cnn_net_backward. */
cnn_status cnn_net_loss(cnn_net *net, cnn_loss kind, const void *target, float *loss);

/* The same losses on plain arrays, for use outside a network. count is the number of samples
 * (CE) or elements (MSE, BCE); classes is K; pixels is H*W (1 for CNN_LOSS_SOFTMAX_CE).
 * grad may be NULL. Labels outside [0, K) are an error. */
cnn_status cnn_loss_cross_entropy(const float *logits, const int32_t *labels, int count,
                                  int classes, int pixels, float *loss, float *grad);
/* Cross-entropy against labels smoothed by s in [0, 1): the target of a sample is
 * (1 - s) onehot(label) + s / K (PyTorch's label_smoothing); s = 0 is cnn_loss_cross_entropy,
 * bit for bit. */
cnn_status cnn_loss_cross_entropy_smoothed(const float *logits, const int32_t *labels,
                                           int count, int classes, int pixels, float smoothing,
                                           float *loss, float *grad);

/* How cnn_loss_cross_entropy_ex reduces the per-element losses (PyTorch's reduction=). */
typedef enum cnn_reduction {
    CNN_REDUCTION_MEAN, /* the sum divided by the sum of the weights of the targets (their
                         * count without weights), ignored elements left out */
    CNN_REDUCTION_SUM,  /* the sum */
    CNN_REDUCTION_NONE  /* one loss per element: count * pixels of them */
} cnn_reduction;

/* Options of cross-entropy, PyTorch's F.cross_entropy arguments. All zero ({0}) is the plain
 * loss: mean, no weights, no smoothing, no ignored label. */
typedef struct cnn_ce_options {
    cnn_reduction reduction;
    const float *weights;  /* K class weights (finite), or NULL: all 1 (PyTorch's weight=) */
    float smoothing;       /* label smoothing s in [0, 1) (label_smoothing=) */
    int ignore;            /* 1: elements whose label is ignore_index count for nothing */
    int32_t ignore_index;  /* (ignore_index=; PyTorch's default is -100); may be a class */
    /* Mixed targets (mixup, CutMix: cnn_mix_batch): element e's target is mix[e] times the
     * one-hot of labels[e] plus 1 - mix[e] times that of labels_b[e], then smoothed; that is
     * PyTorch's cross_entropy with this probability target, whose mean divides by the count of
     * elements. Both NULL: off. Each mix[e] in [0, 1]; not with weights or ignore. */
    const int32_t *labels_b;
    const float *mix;
} cnn_ce_options;

/* Cross-entropy with a reduction, class weights, label smoothing and an ignored label, exactly
 * as torch.nn.functional.cross_entropy. An element (a sample, or one pixel of one) with label y
 * and log-probabilities log p = log_softmax(z) over its K logits has the loss
 *   l = -sum_k c_k log p_k,   c_k = (1 - s) w_y [k = y] + (s / K) w_k,
 * and d l / d z_k = C p_k - c_k with C = sum_k c_k. Mean reduction divides the sum of the l by
 * the sum of w_y over the elements not ignored, so that with weights it is a weighted mean
 * (PyTorch's normalisation, which also divides the smoothing term by it).
 *   logits  (count, classes, pixels); labels (count, pixels), each in [0, classes) or ignored.
 *   opt     NULL: all defaults.
 *   loss    one float (mean, sum) or count * pixels floats (none; 0 for ignored elements).
 *   grad    NULL, or (count, classes, pixels): d loss / d logits for mean and sum; for none,
 *           the gradient of each element's own loss (that is, of the sum of the losses).
 * CNN_STATUS_INVALID_ARGUMENT for a label out of range, smoothing outside [0, 1), a non-finite
 * weight, an unknown reduction, or mixed targets that are incomplete, out of range or given
 * with weights or ignore; CNN_STATUS_NUMERIC when a loss is not finite, which includes
 * the mean over nothing (every element ignored, or target weights summing to 0), NaN as in
 * PyTorch. cnn_loss_cross_entropy and cnn_loss_cross_entropy_smoothed are this function with
 * only the smoothing set, bit for bit as before it existed. */
cnn_status cnn_loss_cross_entropy_ex(const float *logits, const int32_t *labels, int count,
                                     int classes, int pixels, const cnn_ce_options *opt,
                                     float *loss, float *grad);
cnn_status cnn_loss_mse(const float *pred, const float *target, size_t count, float *loss,
                        float *grad);
cnn_status cnn_loss_bce_logits(const float *logits, const float *target, size_t count,
                               float *loss, float *grad);

/* ---------------------------------------------------------------------------------------------
 * Optimisers
 * ------------------------------------------------------------------------------------------- */

typedef enum cnn_optim_kind { CNN_OPTIM_SGD, CNN_OPTIM_ADAM, CNN_OPTIM_ADAMW } cnn_optim_kind;

typedef struct cnn_optim_config {
    cnn_optim_kind kind;
    float lr;
    float momentum;     /* SGD: 0 for plain SGD */
    int nesterov;       /* SGD with momentum: Nesterov's variant */
    float beta1, beta2; /* Adam, AdamW */
    float eps;          /* Adam, AdamW */
    float weight_decay; /* SGD and Adam: L2 added to the gradient; AdamW: decoupled decay */
    /* An exponential moving average of the network's parameters and state (batch norm's
     * running statistics) is kept when above 0: after each step (cnn_optim_update_ema),
     * avg = ema avg + (1 - ema) value, starting from the values at cnn_optim_new (as timm's
     * ModelEmaV2 and PyTorch's AveragedModel with an exponential average). Checkpoints save
     * the average as the network's weights, so that evaluation, prediction and export use it;
     * a run resumed from them trains on from the weights it had. [0: off] */
    float ema;
} cnn_optim_config;

/* The defaults for a kind: lr as given, no momentum, betas 0.9 and 0.999, eps 1e-8, no weight
 * decay (AdamW: 0.01, PyTorch's default). */
cnn_optim_config cnn_optim_defaults(cnn_optim_kind kind, float lr);

typedef struct cnn_optim cnn_optim;

/* An optimiser for net's parameters, following PyTorch's update rules exactly (torch.optim.SGD,
 * Adam, AdamW). Returns NULL on a bad configuration or no memory, with the network's error
 * message set. The network must outlive the optimiser. */
cnn_optim *cnn_optim_new(cnn_net *net, const cnn_optim_config *config);
void cnn_optim_free(cnn_optim *opt);

/* One update of every parameter from the current gradients. */
cnn_status cnn_optim_step(cnn_optim *opt);

/* The learning rate, and a new one (for schedules). */
float cnn_optim_lr(const cnn_optim *opt);
void cnn_optim_set_lr(cnn_optim *opt, float lr);

/* With cfg.ema: folds the network's current parameters and state into their average (call it
 * after each step, once the state is final for the step). Then swaps the network's parameters
 * and state with their averages (again: back): evaluate the average, then train on.
 * CNN_STATUS_STATE when the optimiser keeps no average. */
cnn_status cnn_optim_update_ema(cnn_optim *opt);
cnn_status cnn_optim_swap_ema(cnn_optim *opt);

/* The optimiser's state, for checkpoints: the number of steps taken, and its buffers
 * (momentum, or Adam's two moments, one after the other, then with cfg.ema the averages of
 * the parameters and of the state; count floats). */
int64_t cnn_optim_steps(const cnn_optim *opt);
float *cnn_optim_state(cnn_optim *opt, size_t *count);
void cnn_optim_set_steps(cnn_optim *opt, int64_t steps);

/* ---------------------------------------------------------------------------------------------
 * Checkpoints
 *
 * A checkpoint holds everything needed to continue training exactly where it stopped: the
 * network's definition (as text), its parameters and state, its random generator, the
 * optimiser's configuration, step count and buffers, the network's preprocessing (task, loss,
 * normalisation, transforms, class names: cnn_net_preprocess), and free-form metadata text
 * (the trainer keeps its settings, position and log there as "train." lines, after the
 * caller's own). Version 1 files, from before the preprocessing section, still load: their
 * preprocessing comes from their metadata's mean=, std= and classes= lines. The file is
 * versioned (the layout is in src/io/checkpoint.c), starts
 * with a magic number and ends with a CRC-32 of its content; it is written to a temporary file
 * and renamed, so an interrupted save never destroys the previous checkpoint.
 * ------------------------------------------------------------------------------------------- */

/* Saves net, and opt and meta when not NULL. */
cnn_status cnn_checkpoint_save(const char *path, cnn_net *net, cnn_optim *opt,
                               const char *meta, char *err, size_t errlen);

/* Loads a checkpoint: a new network with the saved parameters, state and generator; when opt
 * is not NULL, a new optimiser with the saved configuration and state (NULL if none was
 * saved); when meta is not NULL, the metadata (a string to free(), "" if none). A damaged,
 * truncated or foreign file is refused with a message saying what is wrong. */
cnn_status cnn_checkpoint_load(const char *path, cnn_net **net, cnn_optim **opt, char **meta,
                               char *err, size_t errlen);

/* The value of a "key=value" line of checkpoint metadata (the text cnn_checkpoint_load gives)
 * copied into buf (NUL-terminated, cut to size - 1 characters): returns its length, which is
 * >= size when it was cut, or -1 when no line has that key. */
long cnn_meta_get(const char *meta, const char *key, char *buf, size_t size);

/* Whether the file at path starts as a checkpoint does (its magic number): 1 or 0. */
int cnn_is_checkpoint(const char *path);

/* The state of the network's random generator (dropout, initialisation), to save and restore. */
void cnn_net_get_rng(const cnn_net *net, uint64_t state[4]);
void cnn_net_set_rng(cnn_net *net, const uint64_t state[4]);

/* The optimiser's configuration (with its current learning rate). */
cnn_optim_config cnn_optim_get_config(const cnn_optim *opt);

/* ---------------------------------------------------------------------------------------------
 * ONNX (docs/ONNX.md): networks in and out of the format other frameworks read and write
 *
 * Import reads opsets 7 to 17: the operators docs/ONNX.md lists, with every attribute cnn can
 * represent; anything else (an operator, an attribute value, a shape) is refused with a message
 * naming the node, its op type and what is not supported, never skipped. ONNX names become the
 * layer names. Export writes opset 13, one node per layer where ONNX has the operator, with
 * the layer's name, and the preprocessing as the metadata entry "cnn.preprocess".
 * ------------------------------------------------------------------------------------------- */

/* Builds a network from an ONNX file. Tensors stored as external data are read from the
 * model's folder only (a location leading out of it is refused). Sizes are checked against
 * the file before anything is allocated. The network is in evaluation mode, with the
 * preprocessing stored by cnn_onnx_save if any (else the defaults: no normalisation). */
cnn_status cnn_onnx_load(const char *path, cnn_net **out, char *err, size_t errlen);

/* The same from the bytes of a model in memory (no external data); source names it in
 * messages. */
cnn_status cnn_onnx_read(const void *data, size_t size, const char *source, cnn_net **out,
                         char *err, size_t errlen);

/* Writes the network as an ONNX model (opset 13), atomically. A layer that ONNX cannot express
 * (docs/ONNX.md says which) is refused with a message naming it. */
cnn_status cnn_onnx_save(const char *path, cnn_net *net, char *err, size_t errlen);

/* Whether the file at path looks like an ONNX model: its name ends in ".onnx" (1 or 0). */
int cnn_is_onnx(const char *path);

/* ---------------------------------------------------------------------------------------------
 * Arrays in NumPy's .npy files (float32, C order), for tensors exchanged with other tools
 * ------------------------------------------------------------------------------------------- */

#define CNN_ARRAY_MAX_DIMS 8

typedef struct cnn_array {
    int ndim;                         /* 0 (a scalar) to CNN_ARRAY_MAX_DIMS */
    int64_t dims[CNN_ARRAY_MAX_DIMS]; /* the shape, outermost first */
    float *data;                      /* the values, C order (row-major) */
} cnn_array;

/* Reads a .npy file (format versions 1 to 3) holding little-endian float32 in C order; any
 * other type or order is refused with a message saying how to save it. The data size is
 * checked against the shape before anything is allocated. out->data is to release with
 * cnn_array_free. */
cnn_status cnn_npy_read(const char *path, cnn_array *out, char *err, size_t errlen);

/* Writes a as a .npy file (version 1.0), atomically. */
cnn_status cnn_npy_write(const char *path, const cnn_array *a, char *err, size_t errlen);

/* Releases a->data (and sets it NULL). Accepts NULL. */
void cnn_array_free(cnn_array *a);

/* ---------------------------------------------------------------------------------------------
 * Data sets
 *
 * A data set holds N samples, NCHW, with one int32 label per sample. Its values are in [0, 1]
 * and are stored in one of two ways, exactly one of x and pixels being non-NULL:
 *   - pixels: 8-bit sources (IDX, CIFAR-10) keep their bytes, a quarter of the memory of floats
 *     (Fashion-MNIST's training set is 47 MB instead of 188 MB). A byte b stands for the float
 *     b / 255.0f (that expression, in float, so every reader gets the same bits);
 *   - x: floats, for sources that are not exact bytes (image folders, which are resized).
 * Read samples through cnn_dataset_sample and cnn_dataset_batch, which give floats whichever
 * the storage. The functions that read a data set also accept one filled in by hand (with x or
 * pixels, the other NULL); only one from a loader, a split or cnn_dataset_hold_out may be given
 * to cnn_dataset_free.
 *
 * Loaders take an error buffer: on failure they return a status and write a message naming the
 * file and what is wrong with it (e.g. "train-images-idx3-ubyte.gz: truncated: header promises
 * 60000 images of 28x28, file holds 1234").
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_dataset {
    int n;              /* samples */
    cnn_shape shape;    /* one sample, (C, H, W) */
    int classes;        /* labels are in [0, classes) */
    float *x;           /* n samples of shape as floats, or NULL when pixels holds them */
    uint8_t *pixels;    /* n samples of shape as bytes (value b / 255.0f), or NULL when x does */
    int32_t *y;         /* n labels (classification), or NULL (segmentation, regression) */
    char **class_names; /* classes names (never NULL; "0".."9" when the format has none) */
    /* Segmentation: n masks of H x W class indices in [0, classes), or NULL. */
    int32_t *masks;
    /* Regression: n x n_targets floats, or NULL (n_targets is then 0). */
    float *targets;
    int n_targets;
    /* A shard (the cnn_dataset_load_*_shard loaders, for data-parallel training): these n
     * samples are a part of a whole data set of n_whole samples, sample i being sample ids[i]
     * of the whole, and whole_y holds the whole set's n_whole labels (which cost little and
     * let every rank agree on the whole set: its hash, its validation hold-out). ids and
     * whole_y are NULL (and n_whole 0) for a data set that is whole. */
    int n_whole;
    int32_t *ids;
    int32_t *whole_y;
} cnn_dataset;

/* Shard `index` of `count` (0 <= index < count): the samples i of a data set with
 * i % count == index, so that every shard holds every class of a file sorted by class. */
typedef struct cnn_shard {
    int index, count;
} cnn_shard;

/* IDX files (MNIST, Fashion-MNIST): an image file (magic 0x00000803) and a label file
 * (0x00000801), plain or gzip-compressed (read directly). classes is 10 unless the labels
 * say more. */
cnn_status cnn_dataset_load_idx(const char *images_path, const char *labels_path,
                                cnn_dataset **out, char *err, size_t errlen);

/* Fashion-MNIST or MNIST from a folder holding the four standard files (train-images-idx3-ubyte
 * and friends, .gz or not); train selects the training or the test files. Fashion-MNIST's
 * class names are set when the folder's name or files say it is Fashion-MNIST. */
cnn_status cnn_dataset_load_mnist_dir(const char *dir, int train, cnn_dataset **out, char *err,
                                      size_t errlen);

/* CIFAR-10 binary batches: records of 1 label byte and 3072 pixel bytes (3x32x32). paths is
 * a list of n_paths files (data_batch_1.bin ...). Class names from batches.meta.txt when it
 * is beside the first file. */
cnn_status cnn_dataset_load_cifar10(const char *const *paths, int n_paths, cnn_dataset **out,
                                    char *err, size_t errlen);

/* A folder with one sub-folder per class (sorted names are the classes), holding PNG and JPEG
 * images, each resized (bilinear) to channels x height x width (channels 1: grey, 3: RGB).
 * Each file is read as cnn_image_load reads it, within the same pixel limit. */
cnn_status cnn_dataset_load_folder(const char *dir, int channels, int height, int width,
                                   cnn_dataset **out, char *err, size_t errlen);

/* One image file (PNG or JPEG, told by its first bytes) as floats in [0, 1], resized to
 * channels x height x width into x (channels*height*width floats). PNG of any colour type and
 * depth, interlaced or not (palettes expanded, 16 bits cut to their high byte, alpha dropped);
 * JPEG baseline or progressive, grey, colour or CMYK (made RGB). Colour to grey is BT.601 luma.
 * Decoded by libpng and libjpeg-turbo: a damaged file, or one cut short, is CNN_STATUS_FORMAT
 * with a message naming the file and what is wrong.
 *
 * The pixel limit: an image of more than CNN_MAX_IMAGE_PIXELS pixels (an environment variable,
 * read at each call: a whole number from 1 to 2^40; unset, 2^26 = 67108864, 64 megapixels) is
 * refused from its header, before anything is allocated for it, with CNN_STATUS_FORMAT and a
 * message giving its size and the limit. A value of the variable that is not such a number is
 * CNN_STATUS_INVALID_ARGUMENT. Within the limit, loading takes about 15 bytes a pixel of the
 * file (1 GB for 64 colour megapixels). */
cnn_status cnn_image_load(const char *path, int channels, int height, int width, float *x,
                          char *err, size_t errlen);

/* The size of an image file (PNG or JPEG) without decoding it: channels 1 (grey, with or
 * without alpha) or 3 (colour), height and width in pixels. An image over the pixel limit
 * (CNN_MAX_IMAGE_PIXELS, see cnn_image_load) is refused as cnn_image_load refuses it. */
cnn_status cnn_image_size(const char *path, int *channels, int *height, int *width, char *err,
                          size_t errlen);

/* A segmentation data set: images in images_dir and, for each, a mask of the same base name
 * (any of .png, .jpg, .jpeg for the image; .png for the mask) in masks_dir whose grey value at
 * each pixel is the pixel's class. Images are resized (bilinear) to channels x height x width,
 * masks to height x width by nearest neighbour. classes: the number of classes (0: the largest
 * value in the masks plus one); a mask value >= classes is an error naming the file. Class names
 * from classes.txt (one per line) in the parent of images_dir when it exists, else "0", "1", ...
 * A missing mask is an error naming the image. */
cnn_status cnn_dataset_load_segmentation(const char *images_dir, const char *masks_dir,
                                         int channels, int height, int width, int classes,
                                         cnn_dataset **out, char *err, size_t errlen);

/* A regression data set from a CSV file: a header line, then one line per sample,
 * "IMAGE,t1,t2,...", IMAGE a path relative to the CSV's folder (or absolute), then the same
 * number of float targets on every line. Images are resized to channels x height x width.
 * Errors name the file and the line. */
cnn_status cnn_dataset_load_csv(const char *csv_path, int channels, int height, int width,
                                cnn_dataset **out, char *err, size_t errlen);

/* The same loaders for one shard of the data (rank `index` of `count` in data-parallel
 * training): the result holds only the shard's samples (a count-th of the memory), with
 * n_whole, ids and whole_y set; a shard of count 1 is the whole set. Every sample is checked
 * as when loading the whole set, and every label is read. Image folders decode only the
 * shard's files; IDX and CIFAR files are read through, since a gzip stream has no random
 * access and their records are smaller than a disk page. */
cnn_status cnn_dataset_load_idx_shard(const char *images_path, const char *labels_path,
                                      cnn_shard shard, cnn_dataset **out, char *err,
                                      size_t errlen);
cnn_status cnn_dataset_load_mnist_dir_shard(const char *dir, int train, cnn_shard shard,
                                            cnn_dataset **out, char *err, size_t errlen);
cnn_status cnn_dataset_load_cifar10_shard(const char *const *paths, int n_paths,
                                          cnn_shard shard, cnn_dataset **out, char *err,
                                          size_t errlen);
cnn_status cnn_dataset_load_folder_shard(const char *dir, int channels, int height, int width,
                                         cnn_shard shard, cnn_dataset **out, char *err,
                                         size_t errlen);

/* Shard `shard` of a whole classification data set in memory (a copy of its samples, with
 * n_whole, ids and whole_y set), for a set read or made otherwise than by the loaders above. */
cnn_status cnn_dataset_shard(const cnn_dataset *ds, cnn_shard shard, cnn_dataset **out,
                             char *err, size_t errlen);

void cnn_dataset_free(cnn_dataset *ds);

/* Sets the classes of ds: `classes` (>= 0) of them, named names[0..classes) or "0", "1", ...
 * when names is NULL (for a data set made by hand or re-labelled, e.g. masks of a set read
 * with its class labels). Labels and masks are not touched. On failure ds is unchanged apart
 * from its names, and stays freeable. */
cnn_status cnn_dataset_set_classes(cnn_dataset *ds, int classes, const char *const *names,
                                   char *err, size_t errlen);

/* Keeps the first n samples of ds (for quick trials; n < ds->n), releasing nothing. A shard
 * keeps those of its samples that are among the whole set's first n. */
void cnn_dataset_truncate(cnn_dataset *ds, int n);

/* A 64-bit hash of the data set's size, shape and targets (labels, masks or regression
 * targets), not of its images: the identity of a data set for resuming a run. A shard hashes
 * its whole set (n_whole, whole_y): every shard and the whole set have the same hash. */
uint64_t cnn_dataset_hash(const cnn_dataset *ds);

/* Makes ds's labels follow the classes of ref by name (a test set read separately from its
 * training set, whose folders may sort differently): ds's class k becomes the class of ref
 * with the same name. A class of either that the other lacks is an error listing them. */
cnn_status cnn_dataset_match_classes(cnn_dataset *ds, const cnn_dataset *ref, char *err,
                                     size_t errlen);

/* Splits src into two new data sets: a seeded random n_second samples go to *second, the
 * rest, in their original order, to *first. src is left as it was. The parts store their
 * samples as src does (bytes or floats). While it runs, src and both parts are in memory.
 * Of a shard, the parts are shards of the whole set's parts: the same samples are drawn from
 * the whole set whichever shard does it, each keeping its own. */
cnn_status cnn_dataset_split(const cnn_dataset *src, int n_second, uint64_t seed,
                             cnn_dataset **first, cnn_dataset **second, char *err,
                             size_t errlen);

/* The same split without copying the larger part: the samples cnn_dataset_split(ds, n, seed,
 * ...) would put in *second move to a new data set *held, and ds keeps the others, in their
 * original order (ds->n becomes ds->n - n), exactly as *first would hold them. Only the held
 * samples are copied, so the peak memory is that of ds plus *held: ds's samples are moved
 * within its own buffers, which keep their size (cnn train holds out its validation set so).
 * On failure ds is unchanged and *held is NULL. */
cnn_status cnn_dataset_hold_out(cnn_dataset *ds, int n, uint64_t seed, cnn_dataset **held,
                                char *err, size_t errlen);

/* Sample i of ds (0 <= i < ds->n) as numel(ds->shape) floats into out: a copy of x, or the
 * bytes converted as b / 255.0f. Every reader of samples in libcnn goes through this. */
void cnn_dataset_sample(const cnn_dataset *ds, int i, float *out);

/* Per-channel mean and standard deviation over the whole data set (C floats each), of the
 * float values (bytes converted as cnn_dataset_sample does): the same result for bytes and for
 * the equivalent floats. */
void cnn_dataset_stats(const cnn_dataset *ds, float *mean, float *std);

/* ---------------------------------------------------------------------------------------------
 * Augmentation
 *
 * Each transform is switched on by its field; all draw from a generator seeded by the seed
 * passed to cnn_augment_image, so that a sample's augmentation depends only on (seed, the
 * sample), never on threads or on other samples.
 * ------------------------------------------------------------------------------------------- */

typedef struct cnn_augment {
    float hflip;           /* probability of a horizontal flip */
    float vflip;           /* probability of a vertical flip */
    int crop_pad;          /* random crop of the original size after zero padding by this many
                              pixels on each side (0: off) */
    float crop_scale;      /* random crop-and-resize: crop area a fraction in [crop_scale, 1]
                              of the image, aspect ratio in [3/4, 4/3], resized back (0: off) */
    int rot90;             /* rotate by a random multiple of 90 degrees (square images) */
    float rotate;          /* rotate by a random angle in [-rotate, rotate] degrees (0: off) */
    float translate;       /* shift by up to this fraction of the size in x and y (0: off) */
    float brightness;      /* add a random value in [-b, b] (0: off) */
    float contrast;        /* scale around the mean by a factor in [1-c, 1+c] (0: off) */
    float grey;            /* probability of dropping the colour (to grey, kept 3 channels) */
    int cutout;            /* side of a random square set to zero (0: off) */
    float erase;           /* probability of random erasing (Zhong et al. 2017, torchvision's
                              RandomErasing): a rectangle of 2% to 33% of the area, aspect ratio
                              in [0.3, 3.3], set to zero (0: off) */
    float noise;           /* standard deviation of added Gaussian noise (0: off) */
    float blur;            /* sigma of a Gaussian blur (0: off) */
    int sobel;             /* replace each channel by its Sobel gradient magnitude */
} cnn_augment;

/* Applies every enabled transform, in the order of the fields above, to one image x of shape
 * (c, h, w) in place. scratch holds at least 2*c*h*w floats. */
void cnn_augment_image(const cnn_augment *aug, float *x, int c, int h, int w, uint64_t seed,
                       float *scratch);

/* Parses a list of transforms, "hflip,crop=4,rotate=10" (each name, or name=value where the
 * value is the field's: a probability, pixels, degrees, ...; "none" or "" for none) into aug,
 * every other field off. An unknown name or a value out of range is an error naming it and the
 * known names. */
cnn_status cnn_augment_parse(const char *spec, cnn_augment *aug, char *err, size_t errlen);

/* Writes aug as a list cnn_augment_parse reads back to the same fields ("none" when nothing is
 * on); returns the length needed, like snprintf. */
int cnn_augment_format(const cnn_augment *aug, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Training helpers
 *
 * The pieces of a training loop, for callers that write their own (the trainer below is one
 * such loop, and the one to use):
 *   for each epoch: cnn_permutation -> for each batch: cnn_dataset_batch -> forward -> loss ->
 *   backward -> cnn_net_clip_grad_norm -> cnn_optim_set_lr(cnn_schedule_lr(...)) -> step;
 *   then cnn_evaluate on held-out data.
 * Everything random is a function of (seed, epoch, sample), so a run resumed from a checkpoint
 * continues exactly as the uninterrupted run would have.
 * ------------------------------------------------------------------------------------------- */

/* A seeded random permutation of 0..n-1 into out (Fisher-Yates). */
void cnn_permutation(int n, uint64_t seed, int32_t *out);

/* Assembles a batch: samples indices[0..count) of ds as floats (cnn_dataset_sample), each
 * augmented (aug may be NULL) with its own seed derived from (seed, index), then normalised per
 * channel, (x - mean[c]) / std[c] (mean and std may be NULL: no normalisation). x receives
 * count samples, y their labels (y may be NULL). scratch holds at least 2 * numel(ds->shape)
 * floats. */
void cnn_dataset_batch(const cnn_dataset *ds, const int32_t *indices, int count,
                       const cnn_augment *aug, uint64_t seed, const float *mean,
                       const float *std, float *x, int32_t *y, float *scratch);

/* Mixes training samples in pairs, in place: mixup (Zhang et al. 2018) blends two images,
 * a = lam a + (1 - lam) b; CutMix (Yun et al. 2019) swaps a rectangle between them, its sides
 * sqrt(1 - lam) times the image's and its centre uniform over the pixels, clipped at the
 * borders, and lam becomes the share of each image left outside it. Samples 2j and 2j+1 of x
 * are pair j; each keeps its own label with weight lam and takes its partner's with 1 - lam:
 * y_b[2j] = y[2j+1], y_b[2j+1] = y[2j], lam[2j] = lam[2j+1] (for the loss:
 * cnn_ce_options.labels_b and .mix). Pair j draws lam from Beta(alpha, alpha) with a generator
 * seeded by (seed, first / 2 + j); with both alphas above 0 it takes CutMix or mixup with equal
 * odds; with both 0 nothing is mixed (lam = 1). `first` is x's place in the batch it belongs
 * to (0 for a whole batch): shares of a batch that start at even places mix as the whole batch.
 *   x      count samples of `shape`; CutMix needs images, (C, H, W)
 * CNN_STATUS_INVALID_ARGUMENT for an odd count or first, or an alpha negative or not finite;
 * CNN_STATUS_SHAPE for CutMix on samples that are not images. */
cnn_status cnn_mix_batch(float *x, const int32_t *y, int count, const cnn_shape *shape,
                         int first, float mixup, float cutmix, uint64_t seed, int32_t *y_b,
                         float *lam);

/* Learning-rate schedules, as a function of the optimiser step. */
typedef enum cnn_schedule_kind {
    CNN_SCHEDULE_CONSTANT,
    CNN_SCHEDULE_STEP,   /* multiply by gamma every step_size steps */
    CNN_SCHEDULE_COSINE, /* from the base rate to min_lr over total_steps (after warm-up) */
    /* from the base rate to min_lr in a straight line over total_steps (after warm-up): with a
     * warm-up, the one-cycle ("triangular") schedule of fast recipes (Smith 2018, Myrtle's and
     * Keller Jordan's CIFAR-10 runs) */
    CNN_SCHEDULE_LINEAR
} cnn_schedule_kind;

/* The names used in text: "constant", "step", "cosine", "linear"; the parser returns -1 for an
 * unknown name. */
const char *cnn_schedule_name(cnn_schedule_kind kind);
int cnn_schedule_parse(const char *name);

typedef struct cnn_schedule {
    cnn_schedule_kind kind;
    int64_t warmup_steps; /* linear warm-up from base/warmup_steps to base (0: none) */
    int64_t step_size;    /* CNN_SCHEDULE_STEP */
    float gamma;          /* CNN_SCHEDULE_STEP */
    int64_t total_steps;  /* CNN_SCHEDULE_COSINE, CNN_SCHEDULE_LINEAR */
    float min_lr;         /* CNN_SCHEDULE_COSINE, CNN_SCHEDULE_LINEAR */
} cnn_schedule;

/* The learning rate for optimiser step `step` (0-based) from the base rate. */
float cnn_schedule_lr(const cnn_schedule *s, float base_lr, int64_t step);

/* Scales all gradients so that their global L2 norm is at most max_norm (PyTorch's
 * clip_grad_norm_); returns the norm before clipping. */
float cnn_net_clip_grad_norm(cnn_net *net, float max_norm);

/* Looks for the first layer, in forward order, whose output holds a NaN or an infinity, then
 * in backward order for the first whose gradient does (over the last pass's batch). Returns 1
 * and describes it in msg ("layer 'c1' (conv2d): output holds NaN at sample 3"), or 0. */
int cnn_net_find_nonfinite(const cnn_net *net, char *msg, size_t size);

/* Evaluation results. */
typedef struct cnn_metrics {
    int n;              /* samples */
    int classes;
    double loss;        /* mean softmax cross-entropy */
    double top1, top5;  /* fractions in [0, 1] */
    int64_t *confusion; /* classes x classes: [true][predicted] counts */
    double iou;         /* segmentation: mean over classes present of intersection / union */
} cnn_metrics;

/* Runs net in evaluation mode over ds (batches of at most the prepared batch size), with the
 * same normalisation as training, and fills m; m->confusion is allocated (cnn_metrics_free).
 * The network's output must be flat logits with ds->classes entries. */
cnn_status cnn_evaluate(cnn_net *net, const cnn_dataset *ds, const float *mean, const float *std,
                        cnn_metrics *m);
void cnn_metrics_free(cnn_metrics *m);

/* ---------------------------------------------------------------------------------------------
 * Preprocessing: what a trained network expects of its input
 *
 * A network carries its preprocessing: the task it was trained for, its loss, the deterministic
 * transforms and the per-channel normalisation applied to every image (in training, evaluation
 * and inference alike), and the class names. Checkpoints save and load it; the trainer sets it.
 * Images given to cnn_preprocess_images and the cnn_classify functions are raw: values in
 * [0, 1], the network's input shape.
 * ------------------------------------------------------------------------------------------- */

typedef enum cnn_task {
    CNN_TASK_CLASSIFICATION, /* one class per sample: flat logits (K), CNN_LOSS_SOFTMAX_CE */
    CNN_TASK_SEGMENTATION,   /* one class per pixel: logits (K, H, W), CNN_LOSS_PIXEL_CE */
    CNN_TASK_REGRESSION      /* floats per sample: CNN_LOSS_MSE or CNN_LOSS_BCE_LOGITS */
} cnn_task;

/* The names used in text (CLI options, checkpoints): "classification", ...; "cross-entropy",
 * "pixel-cross-entropy", "mse", "bce-logits". The parsers return -1 for an unknown name. */
const char *cnn_task_name(cnn_task task);
int cnn_task_parse(const char *name);
const char *cnn_loss_name(cnn_loss loss);
int cnn_loss_parse(const char *name);
/* The task a loss implies. */
cnn_task cnn_loss_task(cnn_loss loss);

typedef struct cnn_preprocess {
    cnn_task task;
    cnn_loss loss;
    int channels;            /* the input's channels: entries of mean and std */
    const float *mean;       /* per channel, or NULL: no normalisation */
    const float *std;        /* per channel (each > 0), or NULL */
    float blur;              /* sigma of a Gaussian blur applied first (0: off) */
    int sobel;               /* then each channel's Sobel gradient magnitude (0: off) */
    /* test-time augmentation (classification of images): the scores are the mean of those
     * of several views of the image. hflip_tta 1: the image and its mirror image (0: off);
     * tta_shift S > 0: also each of those shifted by S pixels up, down, left and right, the
     * rows and columns shifted in holding what a black (0) pixel becomes after the transforms
     * and the normalisation (0: off); tta_diagonal 1 (with tta_shift): and by S pixels along
     * both axes at once, the four diagonal shifts (0: off). Views: (1 + hflip_tta) x (1, or
     * 5 with tta_shift, or 9 with tta_diagonal too). */
    int hflip_tta;
    int tta_shift;
    int tta_diagonal;
    int classes;             /* classification and segmentation: K, else 0 */
    const char *const *class_names; /* classes names, or NULL: "0", "1", ... */
} cnn_preprocess;

/* Copies p (arrays and names included) into the network. The channels must be the input's,
 * classes must match the output (K flat logits, or K channels for segmentation). */
cnn_status cnn_net_set_preprocess(cnn_net *net, const cnn_preprocess *p);

/* The network's preprocessing, owned by it; never NULL. For a network that was never given
 * one: classification with CNN_LOSS_SOFTMAX_CE, no transform, no normalisation, classes the
 * output's size (flat output) and names "0", "1", ... */
const cnn_preprocess *cnn_net_preprocess(const cnn_net *net);

/* Applies the network's transforms and normalisation in place to n raw images of its input's
 * shape. */
cnn_status cnn_preprocess_images(cnn_net *net, float *x, int n);

/* ---------------------------------------------------------------------------------------------
 * Inference
 *
 *   cnn_net *net;
 *   cnn_net_load("model.ckpt", &net, err, sizeof err);
 *   cnn_classify_file(net, "shirt.png", 5, cls, prob);   five best classes, probabilities
 *   cnn_net_free(net);
 * ------------------------------------------------------------------------------------------- */

/* Loads a trained network for inference: a checkpoint, or an ONNX model (a file whose name
 * ends in ".onnx", cnn_onnx_load): the network with its preprocessing, in evaluation mode,
 * threads as many as this process may use (cnn_cpu_count, at most 8). */
cnn_status cnn_net_load(const char *path, cnn_net **net, char *err, size_t errlen);

/* cnn_net_load, and when meta is not NULL the model's metadata in *meta (a string to free():
 * a checkpoint's, as cnn_checkpoint_load gives it; "" for an ONNX model), read in the same
 * pass over the file. On failure *meta is NULL. */
cnn_status cnn_net_load_meta(const char *path, cnn_net **net, char **meta, char *err,
                             size_t errlen);

/* The name of class k of a network (from its preprocessing), or NULL when k is out of range. */
const char *cnn_net_class_name(const cnn_net *net, int k);

/* Classifies n raw images (values in [0, 1], the input's shape, NCHW): preprocesses a copy,
 * runs the network in evaluation mode, and writes for each image its top_k classes, most
 * likely first, into classes[i * top_k ...] and their softmax probabilities into probs (both
 * NULL-able). top_k is at most the number of classes. A network ending in a softmax gives its
 * output's probabilities. Prepares the network for batches when needed. */
cnn_status cnn_classify(cnn_net *net, const float *images, int n, int top_k, int *classes,
                        float *probs);

/* The same for one image file (PNG or JPEG), converted to the input's channels and resized to
 * its height and width. Errors name the file. */
cnn_status cnn_classify_file(cnn_net *net, const char *path, int top_k, int *classes,
                             float *probs);

/* The number of processors this process may run on: its CPU affinity, bounded by the cgroup's
 * CPU quota (cpu.max) when one is set. At least 1. */
int cnn_cpu_count(void);

/* ---------------------------------------------------------------------------------------------
 * The trainer
 *
 * Owns a whole training run: seeding, shuffling, batch assembly, augmentation, the schedule,
 * clipping, the optimiser, validation, metrics, NaN detection, early stopping, checkpoints and
 * resuming. Same seed and data, same weights, for any thread count; a run resumed from one of
 * its checkpoints ends with the weights of the uninterrupted run, bit for bit.
 *
 *   cnn_train_config cfg = cnn_train_defaults();
 *   cfg.epochs = 10;
 *   cfg.checkpoint = "lenet5.ckpt";
 *   cnn_trainer *tr;
 *   cnn_trainer_new(net, train, val, &cfg, &tr, err, sizeof err);
 *   cnn_trainer_run(tr);                    or cnn_trainer_epoch / cnn_trainer_step in a loop
 *   cnn_trainer_free(tr);
 *
 * Randomness: epoch e's batch order is a permutation seeded by (seed, e); the augmentation of
 * a sample by (seed, e, sample); dropout by the network's generator, saved in checkpoints. The
 * last partial batch of an epoch is dropped (batch normalisation needs whole batches).
 * ------------------------------------------------------------------------------------------- */

/* What the callbacks see. */
typedef struct cnn_train_progress {
    int epoch, epochs;      /* the current epoch (1-based) and the run's epochs */
    int step, steps;        /* the step within the epoch (1-based) and steps per epoch */
    int64_t global_step;    /* steps done since the start of the run */
    double loss;            /* mean training loss over the epoch so far */
    double accuracy;        /* over the epoch so far: top-1 (classification), pixel accuracy
                             * (segmentation), NaN (regression) */
    double lr;              /* the learning rate of the last step */
    double images_per_sec;  /* training steps only, this epoch */
    double seconds;         /* since the start of the epoch */
    double comm_seconds;    /* data parallel: of the training steps this epoch, the seconds
                             * spent summing over the ranks (waiting for the slowest included) */
    /* At the end of an epoch (the epoch callback): */
    int has_val;            /* a validation set was given */
    double val_loss, val_accuracy;
    double val_iou;         /* segmentation: mean intersection over union of the classes */
    int is_best;            /* the best validation accuracy so far (lowest loss in regression) */
} cnn_train_progress;

/* Called after every step and every epoch; returning non-zero stops the run cleanly at that
 * point: the trainer writes its checkpoint (when it has one) and cnn_trainer_run returns
 * CNN_STATUS_OK with cnn_trainer_stopped() set. */
typedef int (*cnn_train_callback)(void *user, const cnn_train_progress *p);

/* Data-parallel training (docs/DISTRIBUTED.md): `size` processes (ranks) run the same trainer
 * on the same data, each with its share of every batch, and sum what they computed through
 * allreduce_sum, which must leave the same bits on every rank (the MPI binding of
 * include/cnn_mpi.h provides one). */
typedef struct cnn_train_comm {
    int rank, size;
    /* Sums count floats elementwise over the ranks, in place; on failure a message in err. */
    cnn_status (*allreduce_sum)(void *user, float *values, size_t count, char *err,
                                size_t errlen);
    /* The same for doubles (batch norm's statistics with sync_bn). */
    cnn_status (*allreduce_sum_f64)(void *user, double *values, size_t count, char *err,
                                    size_t errlen);
    /* Optional (NULL: not used): start the sum of count floats and return at once; the sums
     * started run in order, and wait_sums returns when all are done (their first failure with
     * its message). With these the trainer sums gradients in buckets while backward goes on. */
    cnn_status (*start_sum)(void *user, float *values, size_t count);
    cnn_status (*wait_sums)(void *user, char *err, size_t errlen);
    void *user;
} cnn_train_comm;

typedef struct cnn_train_config {
    int epochs;             /* [10] */
    int batch;              /* [64] */
    uint64_t seed;          /* [1] */
    int threads;            /* [0: cnn_cpu_count(), at most 8] */
    /* Data parallelism inside the process: each batch is cut into micro-batches of this many
     * samples (the last may hold fewer), each run forward and backward whole by one thread,
     * and their parameter gradients are added in micro-batch order; the loss is the whole
     * batch's, on all the micro-batches' outputs together. The cut does not depend on the
     * thread count, so neither do the results; the threads meet three times a step instead of
     * twice per layer. Each micro-batch beyond the first keeps a copy of the gradients. A
     * network with a layer that needs the whole batch in a training pass (batch norm,
     * dropout) cannot be cut: asking for more than one micro-batch is then an error. A
     * micro-batch of at least the batch: whole-batch passes, each layer split over the
     * threads. [0: automatic: 32 for a network that can be cut and whose parameters take no
     * more memory than 32 samples' activations (small networks such as LeNet-5), else the
     * whole batch] */
    int micro_batch;
    cnn_optim_config optim; /* [AdamW, lr 0.002, weight decay 0.05] */
    cnn_schedule_kind schedule; /* [cosine] */
    int warmup;             /* epochs of linear warm-up [0] */
    int step_size;          /* step schedule: epochs between decays [0: epochs / 3] */
    float gamma;            /* step schedule: factor [0.1] */
    float min_lr;           /* cosine: the final rate [0] */
    float clip;             /* clip the gradient's global L2 norm to this (0: off) [0] */
    float label_smoothing;  /* cross-entropy against (1-s) onehot + s/K [0] */
    /* Classification: samples mixed in pairs before each step (cnn_mix_batch), each with two
     * labels weighted for the loss: mixup and CutMix, each by its Beta(a, a) parameter (0:
     * off; both above 0: one or the other for each pair, with equal odds). The batch's (each
     * rank's share's) samples 2j and 2j+1 are a pair, so it must be even; the training
     * accuracy counts the label with the larger weight. Usual values: mixup 0.2, CutMix 1.
     * [0, 0] */
    float mixup, cutmix;
    cnn_loss loss;          /* [CNN_LOSS_SOFTMAX_CE]; it sets the task */
    cnn_augment augment;    /* random, training only [hflip 0.5] */
    /* Flips derandomised across epochs (airbench's alternating flip): each training image is
     * mirrored in every other epoch, whether in the even or the odd ones drawn from (seed,
     * the image), instead of by a fresh draw in each. It replaces augment.hflip's draws, so
     * augment.hflip must be 0.5 (each image is still mirrored half of the time); the other
     * transforms draw as without it (a segmentation mask follows its image). [0] */
    int alternate_flips;
    int normalize;          /* normalise by the training set's per-channel mean, std [1] */
    float blur;             /* preprocessing: Gaussian blur sigma, every image, always [0] */
    int sobel;              /* preprocessing: Sobel magnitude, every image, always [0] */
    int tta;                /* evaluate (and keep in the model) with the mean of the scores of
                             * each image and its mirror image (cnn_preprocess.hflip_tta) [0] */
    int tta_shift;          /* and of the views shifted by this many pixels up, down, left and
                             * right (cnn_preprocess.tta_shift) [0] */
    int tta_diagonal;       /* and along both axes at once (cnn_preprocess.tta_diagonal) [0] */
    int patience;           /* stop after this many epochs without a better validation
                             * result (0: never) [0] */
    const char *checkpoint; /* written after every epoch, and when stopped (NULL: none) */
    const char *best_checkpoint; /* the best epoch by validation (NULL: none) */
    const char *meta;       /* the caller's text, kept in the checkpoints' metadata */
    cnn_train_callback on_step, on_epoch;
    void *user;
    /* Data parallel (NULL: one process) [NULL]. Rank r of N takes samples [r B/N, (r+1) B/N)
     * of every global batch of B (B must be a multiple of N), with the augmentation one
     * process gives those samples; the ranks' gradients, losses and counts are averaged (summed)
     * before each optimiser step, batch norm's running statistics averaged after it, so every
     * rank holds the same weights; only rank 0 writes checkpoints. The comm must outlive the
     * trainer. */
    const cnn_train_comm *comm;
    /* Data parallel: batch norm normalises with the statistics of the global batch (summed over
     * the ranks in forward and backward, as PyTorch's SyncBatchNorm), so that N ranks compute
     * what one process does; off, each rank uses its own share's, as DistributedDataParallel
     * does [0]. */
    int sync_bn;
    /* Data parallel, with a comm that can start sums: gradients are summed in buckets of about
     * this many bytes, each started as soon as backward has finished its layers, while
     * backward goes on; 0: one sum after backward [1 MB]. The result is the same bits either
     * way (every value's sum is the same). */
    size_t bucket_bytes;
} cnn_train_config;

/* The defaults above (the best recipe known for small CNNs on Fashion-MNIST). */
cnn_train_config cnn_train_defaults(void);

/* Recipes: settings measured to give the best accuracy in a given time on a given data set
 * (docs/RESULTS.md has each one's figures and learning curves): a zoo model, a wall-clock
 * budget (cnn_trainer_fit_budget) or a number of epochs, the validation samples to hold out,
 * and the trainer's configuration.
 *
 *   cnn_recipe r;
 *   cnn_recipe_get(cnn_recipe_find("fashion-10m"), &r);
 *   cnn_net *net;  cnn_model_build(r.model, 1, 28, 28, 10, r.cfg.seed, &net, err, sizeof err);
 *   ... cnn_trainer_new(net, train, NULL, &r.cfg, &tr, ...); cnn_trainer_fit_budget(tr, r.budget);
 *
 * `cnn recipes` lists them with the options of `cnn train` they stand for; `cnn train
 * --recipe NAME` runs one (options given beside it override its settings). */
typedef struct cnn_recipe {
    const char *name; /* e.g. "fashion-10m" */
    const char *doc;  /* what it is for, and what it reached */
    const char *model; /* a zoo model (cnn_model_build) */
    const char *data;  /* the data set it was measured on ("fashion-mnist") */
    double budget;     /* seconds of wall time, test evaluation included (0: cfg.epochs) */
    int val;           /* training samples held out for validation */
    /* Networks trained one after another and put together (cnn_net_ensemble): member k with
     * seed cfg.seed + 1000000 k, each for cfg.epochs or an equal share of the budget; 1: one
     * network. */
    int members;
    cnn_train_config cfg;
} cnn_recipe;

/* How many recipes there are: their indices are 0 .. count - 1. */
int cnn_recipe_count(void);
/* The index of the recipe called name, or -1. */
int cnn_recipe_find(const char *name);
/* Recipe `index` (0 .. cnn_recipe_count() - 1) into *out; CNN_STATUS_INVALID_ARGUMENT for an
 * index out of range (*out untouched). */
cnn_status cnn_recipe_get(int index, cnn_recipe *out);

typedef struct cnn_trainer cnn_trainer;

/* The samples of each micro-batch a trainer cuts a batch of `batch` into for net, given
 * cnn_train_config.micro_batch = micro_batch (0: automatic); `batch` when it does not cut the
 * batch (whole-batch passes, each layer split over the threads). A network with a layer that
 * needs the whole batch is not cut automatically (cnn_trainer_new refuses an explicit cut).
 * 0 for a NULL net, a negative micro_batch or a batch below 1. */
int cnn_train_micro_size(const cnn_net *net, int micro_batch, int batch);

/* A trainer for net (which it uses, does not own, and must outlive it) on train, validating on
 * val (NULL-able) after every epoch. The data sets are used, not copied: keep them alive. The
 * network's output must fit the loss and data (checked here, with a message naming the
 * shapes); a network ending in a softmax is trained on the softmax's input (log-softmax +
 * NLL, the same function as cross-entropy of its output, but stable). Sets the network's
 * preprocessing from the training set and the configuration. */
cnn_status cnn_trainer_new(cnn_net *net, const cnn_dataset *train, const cnn_dataset *val,
                           const cnn_train_config *cfg, cnn_trainer **out, char *err,
                           size_t errlen);

/* Resumes the run saved in a checkpoint written by a trainer: its network (owned by the
 * trainer: cnn_trainer_net), optimiser, settings, position (mid-epoch too), log and plan
 * (cnn_trainer_plan: a replay goes on following it; a budgeted run keeps the epochs it had,
 * without the budget). The data sets must be those of the run (same size and hash of
 * targets: checked). epochs > 0 changes the number of epochs from here on (the plan records
 * it); the callbacks, checkpoint paths and threads come from cfg (NULL: none, the checkpoint
 * itself, and the saved count). */
cnn_status cnn_trainer_resume(const char *path, const cnn_dataset *train,
                              const cnn_dataset *val, int epochs, const cnn_train_config *cfg,
                              cnn_trainer **out, char *err, size_t errlen);

void cnn_trainer_free(cnn_trainer *tr);

/* Fits a new run to a wall-clock budget of `seconds` from now, before its first step: runs a
 * few training steps (about 2% of the budget) and a validation pass over a slice, undoes them
 * to the bit, and sets the number of epochs to the most whose training and validation fit in
 * what is left (the schedule follows: a cosine or linear schedule then ends on time). The run
 * is then exactly the run of that many epochs (cnn_trainer_config(tr)->epochs), so it can be
 * repeated without a budget, unless the host's speed changes: after each epoch, when the pace
 * of the run so far would end the epochs planned after the deadline, they are cut to those
 * that fit, and when at least one more fits (with a quarter of an epoch to spare) they grow;
 * the schedule is refitted to end with them (cnn_trainer_refitted_from tells; the progress's
 * epochs show the new count). Should it still run late, it stops after the step that passes
 * the deadline (cnn_trainer_out_of_time), its checkpoint written. Data parallel, every rank
 * calls it and the ranks' timings are averaged. An error when not one epoch fits, with the
 * estimate. */
cnn_status cnn_trainer_fit_budget(cnn_trainer *tr, double seconds);
/* The seconds an epoch took in cnn_trainer_fit_budget's estimate (0 before it). */
double cnn_trainer_epoch_estimate(const cnn_trainer *tr);
/* Whether a budgeted run's epochs follow its pace (on: the default): off, the run keeps the
 * epochs cnn_trainer_fit_budget chose, and is the run of that many epochs bit for bit until
 * the deadline stops it. */
void cnn_trainer_budget_refit(cnn_trainer *tr, int on);
/* The epochs planned before the last change of a budgeted run's epochs (0: never changed). */
int cnn_trainer_refitted_from(const cnn_trainer *tr);

/* The run's plan: the epochs it set out to train, then each change of that count in order
 * with the position it took effect at (a time budget's refit, or the count a resumed run was
 * given), and last where the time budget stopped the run, if it did. Positions are epochs
 * done, or epochs and steps done: "58 3:57 5:55 53.214:stop" set out to train 58 epochs, had
 * 57 from the end of epoch 3 on, 55 from the end of epoch 5, and was stopped by the deadline
 * after step 214 of epoch 54. A run without a budget has one count ("10"). Checkpoints keep
 * it (train.plan). Written into buf as snprintf does; returns the length it needs. */
size_t cnn_trainer_plan(const cnn_trainer *tr, char *buf, size_t size);
/* Follows a plan (cnn_trainer_plan's text) instead of a time budget, before the first step:
 * the epochs change where it says, and the run stops where it stopped, whatever the pace.
 * With the settings, data and network (the same seed) of the run that recorded it, the run
 * is that run bit for bit, on any host and thread count: a budgeted run repeated.
 * CNN_STATUS_FORMAT for text that is not a plan (the token named), CNN_STATUS_STATE after
 * the first step or beside cnn_trainer_fit_budget. */
cnn_status cnn_trainer_follow_plan(cnn_trainer *tr, const char *plan);
/* Replays the run that wrote the checkpoint at path: checks that this new trainer has its
 * settings (every one but the epochs), optimiser, data (size and hash) and network (layers,
 * parameters and state counts: build it from the same model and seed), with a message naming
 * the first difference, and follows its plan (cnn_trainer_follow_plan). A checkpoint written
 * before plans were kept is refused. */
cnn_status cnn_trainer_replay(cnn_trainer *tr, const char *path);

/* Trains to the last epoch, or until patience runs out or a callback stops it. */
cnn_status cnn_trainer_run(cnn_trainer *tr);
/* One epoch (training, validation, checkpoint), or one step. */
cnn_status cnn_trainer_epoch(cnn_trainer *tr);
cnn_status cnn_trainer_step(cnn_trainer *tr);
/* Whether the run is complete (all epochs, or early stopping), or was stopped by a callback
 * or cnn_trainer_stop. */
int cnn_trainer_done(const cnn_trainer *tr);
int cnn_trainer_stopped(const cnn_trainer *tr);
/* Whether the run stopped, unfinished, at the deadline of cnn_trainer_fit_budget. */
int cnn_trainer_out_of_time(const cnn_trainer *tr);
/* Asks the run to stop after the current step (safe from a signal handler). */
void cnn_trainer_stop(cnn_trainer *tr);
/* Writes the checkpoint now (to cfg.checkpoint, or path when not NULL). */
cnn_status cnn_trainer_save(cnn_trainer *tr, const char *path);

/* The network, the configuration in force, the epochs done, and the progress of the last
 * step and epoch. */
cnn_net *cnn_trainer_net(cnn_trainer *tr);
const cnn_train_config *cnn_trainer_config(const cnn_trainer *tr);
int cnn_trainer_epochs_done(const cnn_trainer *tr);
/* Steps done in the current epoch (0 at an epoch's start). */
int cnn_trainer_steps_done(const cnn_trainer *tr);
cnn_train_progress cnn_trainer_last(const cnn_trainer *tr);
/* The message of the last error ("" if none). */
const char *cnn_trainer_last_error(const cnn_trainer *tr);
/* The log as CSV (header epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds; one line per
 * epoch, the resumed run's earlier epochs included); a string owned by the trainer. */
const char *cnn_trainer_log_csv(const cnn_trainer *tr);
/* Writes that log to path, atomically (err names path on failure). */
cnn_status cnn_trainer_write_log(const cnn_trainer *tr, const char *path, char *err,
                                 size_t errlen);

/* Evaluation of a network on a data set for its task, with its preprocessing: loss, accuracy
 * (classification: top-1 and top-5; segmentation: pixel accuracy and mean IoU; regression:
 * mean squared error as loss). m->confusion for classification and segmentation. */
cnn_status cnn_evaluate_task(cnn_net *net, const cnn_dataset *ds, cnn_metrics *m);

/* An 8-bit inference copy of net (*out, to free with cnn_net_free): net fused as cnn_net_fuse
 * does, then every convolution quantised (conv2d quant=int8): its weights to 8 bits per output
 * channel, its input to 8 bits over the range that input took on `count` samples of calib
 * (spread over the set, preprocessed with the network's preprocessing), its sums computed in
 * exact integers with the CPU's 8-bit dot products (VNNI) where it has them. A few hundred
 * training samples are enough. The copy computes what net computes to within the rounding to
 * 8 bits: measure what it costs on your test set (cnn quantize prints both accuracies). Other
 * layers stay float; float32 stays the reference. The copy runs inference only: training it is
 * refused, and its gradients (saliency) are those of the float convolutions. It saves and
 * loads as any network: the 8-bit form is in the layers' arguments (quant=int8 in_scale=
 * in_zero=), the weights stay float and their integers are made at the first pass, and again
 * after the weights may have changed (see cnn_net_params). */
cnn_status cnn_net_quantize(const cnn_net *net, const cnn_dataset *calib, int count,
                            cnn_net **out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Pictures
 * ------------------------------------------------------------------------------------------- */

/* Draws a training log (CSV with the header epoch,train_loss,train_acc,val_loss,val_acc,lr,
 * seconds; accuracies as fractions) as a PNG: loss per epoch on the left, accuracy on the
 * right, training and validation curves. The PNG is written atomically. */
cnn_status cnn_plot_training_csv(const char *csv_path, const char *png_path, char *err,
                                 size_t errlen);

/* Figures: a titled grid of panels, each a grey image, an RGB image or a heat map (the
 * perceptual colour map viridis, optionally blended over a grey or RGB image), with a label
 * under each panel and a colour scale where values need one. Filters, feature maps, saliency
 * and Grad-CAM pictures are figures. */
typedef enum cnn_panel_kind {
    CNN_PANEL_GRAY, /* values: height x width, lo black to hi white */
    CNN_PANEL_RGB,  /* values: 3 planes of height x width (C, H, W), lo to hi per channel */
    CNN_PANEL_HEAT  /* values: height x width through the colour map, lo to hi */
} cnn_panel_kind;

typedef struct cnn_panel {
    cnn_panel_kind kind;
    const float *values;
    int height, width;
    float lo, hi;        /* the value range (lo <= hi); lo == hi: the panel's own smallest and
                          * largest finite values (over the three planes for RGB) */
    const char *label;   /* under the panel; may be NULL */
    /* CNN_PANEL_HEAT only: an image drawn first and the heat blended over it with opacity
     * alpha (0 < alpha <= 1); under NULL: the heat alone (alpha and under_channels are then
     * ignored). under_channels is 1 or 3; under_lo == under_hi: the image's own range. */
    const float *under;
    int under_channels;
    float under_lo, under_hi;
    float alpha;
} cnn_panel;

typedef struct cnn_figure {
    const char *title;   /* above the grid; may be NULL */
    int columns;         /* panels per row; 0: about a square grid */
    int zoom;            /* screen pixels per value; 0: panels about 96 pixels across */
    /* A colour scale right of the grid for the range [scale_lo, scale_hi], titled scale_label,
     * drawn when scale_label is not NULL (for panels that share that range). */
    const char *scale_label;
    float scale_lo, scale_hi;
} cnn_figure;

/* Draws the figure's n panels, row by row (columns above n count as n; labels are one line,
 * cut with "..." to the panel's width), and writes it to path as a PNG (atomically). A bad
 * panel is refused with CNN_STATUS_INVALID_ARGUMENT and a message naming it (panels[i]). */
cnn_status cnn_figure_save(const char *path, const cnn_figure *fig, const cnn_panel *panels,
                           int n, char *err, size_t errlen);

/* Histograms as a figure: one bar chart per entry, with its title, x range and counts, and a
 * note (e.g. "mean 0.31, 42% zero") under it. */
typedef struct cnn_histogram {
    const char *title;
    float lo, hi;             /* the range the bins cover (lo < hi): bin i starts at
                               * lo + i (hi - lo) / bins */
    int bins;
    const uint64_t *counts;   /* bins values */
    const char *note;         /* may be NULL */
} cnn_histogram;

/* Draws the n histograms h as one figure titled title (may be NULL), `columns` charts per row
 * (0: up to 3), and writes it to path as a PNG (atomically); a bad entry (a range that is not
 * finite with lo < hi, no bins or too many, no counts) is refused with
 * CNN_STATUS_INVALID_ARGUMENT and a message naming it. */
cnn_status cnn_histograms_save(const char *path, const char *title, const cnn_histogram *h,
                               int n, int columns, char *err, size_t errlen);

/* ---------------------------------------------------------------------------------------------
 * Seeing inside a network
 *
 * Functions that fill tensors, for one sample at a time (the network must be prepared for at
 * least one sample; they prepare it for one when it is not prepared yet). They run the network
 * in inference mode (batch norm uses its running statistics, dropout is off) and restore the
 * mode afterwards; they overwrite the activations and add into the parameter gradients (call
 * cnn_net_zero_grad before training on). Images are in the network's input layout, already
 * normalised as in training.
 * ------------------------------------------------------------------------------------------- */

/* The layer whose output is the class score that explanations differentiate: the output
 * layer, or its input when the output layer is a softmax (scores before the softmax, as in
 * Simonyan et al. 2014 and Grad-CAM). */
int cnn_net_score_layer(const cnn_net *net);

/* Runs x forward and writes the score layer's values (K of them) into scores, when not NULL;
 * returns the index of the largest in *top (NULL-able). */
cnn_status cnn_net_scores(cnn_net *net, const float *x, float *scores, int *top);

/* The gradient of class cls's score with respect to the input x, into dx (the input's size):
 * with CNN_BACKPROP_PLAIN the saliency gradient (Simonyan et al. 2014), with
 * CNN_BACKPROP_GUIDED guided backpropagation. */
cnn_status cnn_input_gradient(cnn_net *net, const float *x, int cls, cnn_backprop_rule rule,
                              float *dx);

/* A saliency map from an input gradient: at each pixel the largest |dx| over the channels. */
void cnn_saliency_map(const float *dx, int channels, int height, int width, float *map);

/* The default layer for Grad-CAM: the last conv2d layer, followed through the batchnorm and
 * activation layers that take it alone (so the maps are those the rest of the network sees).
 * -1 when the network has no conv2d layer. */
int cnn_gradcam_layer(const cnn_net *net);

/* Grad-CAM (Selvaraju et al. 2017) for class cls at a layer of shape (K, H, W): weights
 * a_k = mean over positions of d score / d A_k, map = relu(sum_k a_k A_k), into cam (H x W).
 * When upsampled is not NULL the map is also resized to the input's height x width there
 * (bilinear, half-pixel centres, as PyTorch's interpolate with align_corners=False). The maps
 * are not normalised. */
cnn_status cnn_gradcam(cnn_net *net, const float *x, int cls, int layer, float *cam,
                       float *upsampled);

/* Runs x forward and copies one layer's output (one sample of its shape) into out. */
cnn_status cnn_layer_activations(cnn_net *net, const float *x, int layer, float *out);

/* Statistics of one layer's outputs over the last forward pass (all its samples). */
typedef struct cnn_activation_stats {
    size_t count;         /* values: batch x the layer's size */
    double mean, std;     /* std: population standard deviation */
    float min, max;
    double zero_fraction; /* share of values exactly 0 */
    /* share of units (positions of one sample) that are <= 0 in every sample of the batch:
     * after a relu, the units that never fired */
    double dead_fraction;
} cnn_activation_stats;

/* Computes the statistics and, when counts is not NULL, a histogram of bins bins over
 * [lo, hi] (values outside go to the first or last bin; lo >= hi: the range [min, max]
 * is used and written back through lo and hi). */
cnn_status cnn_layer_stats(cnn_net *net, int layer, cnn_activation_stats *stats, int bins,
                           float *lo, float *hi, uint64_t *counts);

/* Activation maximisation: gradient ascent on the input, x <- x + rate * g / rms(g), where g is
 * the gradient of the unit's activation (for a layer of shape (C, ...), the mean of channel
 * `unit` over its positions; for a flat layer, element `unit`), with an L2 decay
 * x <- (1 - decay) x and, every blur_every steps, a 3x3 Gaussian blur as regularisers. */
typedef struct cnn_dream_config {
    int steps;        /* ascent steps [200] */
    float rate;       /* step size [0.05] */
    float decay;      /* L2 decay per step [0.001] */
    int blur_every;   /* blur every this many steps, 0: never [10] */
    float noise;      /* standard deviation of the starting noise [0.1] */
    uint64_t seed;    /* of the starting noise */
} cnn_dream_config;

/* The defaults in brackets above, seed 0. */
cnn_dream_config cnn_dream_defaults(void);

/* Fills x (the input's size) with the starting noise, ascends, and leaves the final input in
 * x. before and after (NULL-able) receive the unit's activation at the start and the end. */
cnn_status cnn_activation_maximize(cnn_net *net, int layer, int unit,
                                   const cnn_dream_config *cfg, float *x, float *before,
                                   float *after);

/* The course's classic 3x3 kernels, by name: identity, outline, sobel_left, sobel_bottom,
 * lighten, darken (and sobel_right, sobel_top, sharpen, box_blur). */
int cnn_classic_kernel_count(void);
const char *cnn_classic_kernel_name(int index);
/* Copies the named kernel (row-major) into k; CNN_STATUS_INVALID_ARGUMENT for an unknown
 * name. */
cnn_status cnn_classic_kernel(const char *name, float k[9]);

/* Cross-correlates every channel of x (C x H x W) with the 3x3 kernel k, zero padding, output
 * of the same size, as a convolution layer would. */
void cnn_filter3x3(const float *x, int channels, int height, int width, const float k[9],
                   float *y);

/* ---------------------------------------------------------------------------------------------
 * Layer types
 * ------------------------------------------------------------------------------------------- */

/* The registered layer types, by index, with a one-paragraph description of each, and of
 * each hyper-parameter (key, default, meaning), for help texts. */
int cnn_layer_type_count(void);
const char *cnn_layer_type_name(int index);
/* Writes the documentation of a layer type into buf; returns the length needed. */
int cnn_layer_type_doc(const char *type, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* CNN_H */
