# cnn - convolutional neural networks in C.
#
#   make            the library (static and shared), the cnn tool, tests and examples
#   make run        installs what is missing, builds, trains LeNet-5 on Fashion-MNIST
#   make test       installs what is missing, builds, runs every test, then again under
#                   AddressSanitizer and UBSan
#   make clean
#
# Build variants go to their own folders: build/ (optimised), build-san/ (sanitizers).

BUILD    ?= build
CC       ?= gcc
OPT      ?= -O2 -march=x86-64-v2
BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-pthread
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-pthread
# -Wno-format-truncation: snprintf into fixed buffers is bounded on purpose.
# -fno-math-errno: sqrtf and friends as single instructions, so loops over them vectorise (the
# library never reads errno after a math function).
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wno-unused-parameter \
            -Wno-format-truncation \
            -fno-math-errno $(OPT) -g -fPIC -fopenmp -Iinclude -I$(BUILD) -isystem $(BLAS_INC) $(SAN)
LDLIBS   += -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lstb -lpng -lz -lm -fopenmp $(SAN)

LIB_SRCS   := $(sort $(wildcard src/*.c src/*/*.c))
LAYER_SRCS := $(sort $(wildcard src/layers/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS   := $(sort $(wildcard cli/*.c))
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_LIB   := $(BUILD)/tests/testlib.o
EX_SRCS    := $(sort $(wildcard examples/*.c))
EX_BINS    := $(EX_SRCS:examples/%.c=$(BUILD)/examples/%)

.PHONY: all deps run test check check-san clean fuzz bench
# Keep objects that pattern rules make on the way to a program: they are not temporary.
.SECONDARY:
all: $(BUILD)/libcnn.a $(BUILD)/libcnn.so $(BUILD)/cnn $(TEST_BINS) $(EX_BINS)

# make test needs Fashion-MNIST too: the library's examples train on it.
deps:
	@scripts/install-deps.sh --data

# The layer table: one entry per "const cnn_layer_type cnn_layer_NAME =" in src/layers/.
$(BUILD)/layers.inc: $(LAYER_SRCS) | $(BUILD)/.
	@sed -n 's/^const cnn_layer_type cnn_layer_\([a-z0-9_]*\) = .*/CNN_LAYER(\1)/p' $(LAYER_SRCS) > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/src/layers/registry.o: $(BUILD)/layers.inc

$(BUILD)/%.o: %.c | $(BUILD)/.
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/.:
	@mkdir -p $@

$(BUILD)/libcnn.a: $(LIB_OBJS)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libcnn.so: $(LIB_OBJS)
	$(CC) -shared -o $@ $^ $(LDLIBS)

$(BUILD)/cnn: $(CLI_OBJS) $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB) $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

# Runs every test program and the quick example; each exits non-zero on failure. Prints
# "N passed, N failed". (examples/unet_fashion trains for minutes: docs/RESULTS.md runs it.)
check: all
	@scripts/run-tests.sh $(BUILD) $(TEST_BINS) $(BUILD)/examples/simple \
	    "examples/run-library-examples.sh $(BUILD)"

# The sanitizer pass skips building the biggest zoo models (CNN_TEST_LIGHT): the optimised
# pass checks them, and under ASan their hundreds of MB of weights only cost time.
check-san:
	CNN_TEST_LIGHT=1 $(MAKE) BUILD=build-san OPT="-O1 -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" check

# The benchmarks of docs/BENCHMARKS.md: every workload, cnn against PyTorch 1.13 and oneDNN
# (needs python3-torch, python3-torchvision; libdnnl-dev is installed when missing). About
# 15 minutes; run it on a quiet machine.
BENCH_RUNS ?= 3
bench: all
	bench/run.sh $(BENCH_RUNS)

# Trains LeNet-5 on Fashion-MNIST with cnn train's defaults (the best recipe known here:
# AdamW, cosine schedule, flips), installing the data set if needed: about 30 s on 2 cores.
run:
	@scripts/install-deps.sh --data
	$(MAKE) all
	$(BUILD)/cnn train --model lenet5 --data fashion-mnist --epochs 10 --seed 1 --force \
	    --out $(BUILD)/lenet5.ckpt

test: deps
	$(MAKE) check
	$(MAKE) check-san

# Fuzzing the network definition reader with libFuzzer (clang): FUZZ_SECONDS of search from
# the seed corpus in fuzz/corpus/netdef; a crash leaves its input in build-fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined" \
	    build-fuzz/libcnn.a
	clang -std=c11 -Iinclude -O1 -g $(FUZZ_FLAGS) fuzz/fuzz_netdef.c build-fuzz/libcnn.a \
	    -o build-fuzz/fuzz_netdef $(LDLIBS) $(FUZZ_FLAGS)
	mkdir -p build-fuzz/corpus && cd build-fuzz && \
	    ASAN_OPTIONS=allocator_may_return_null=1 ./fuzz_netdef -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=4096 -timeout=10 -rss_limit_mb=4096 corpus ../fuzz/corpus/netdef

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_BINS:%=%.d) $(TEST_LIB:.o=.d)
