# cnn - convolutional neural networks in C.
#
#   make            the library (static and shared), the cnn tool, tests and examples
#   make run        installs what is missing, builds, trains LeNet-5 on Fashion-MNIST
#   make test       installs what is missing, builds, runs every test, then again under
#                   AddressSanitizer and UBSan, and the threaded ones under ThreadSanitizer
#   make check-onnx-slow  ONNX against PyTorch both ways: torchvision models exported by PyTorch
#                   run by cnn, and cnn's exports run by an ONNX interpreter written on PyTorch
#                   (needs python3-torch, python3-torchvision; a few minutes; build/onnx-slow/)
#   make install    the library, its header, cnn.pc, the cnn tool and its man page into PREFIX
#                   (/usr/local), under DESTDIR when set; make uninstall removes them
#   make clean
#
# Build variants go to their own folders: build/ (optimised), build-san/ (sanitizers).

BUILD    ?= build
CC       ?= gcc
# make test builds with JOBS jobs and runs JOBS tests at once: the number of processors.
JOBS     ?= $(shell nproc 2>/dev/null || echo 1)
OPT      ?= -O2 -march=x86-64-v2
BLAS_INC := /usr/include/x86_64-linux-gnu/openblas-pthread
BLAS_LIB := /usr/lib/x86_64-linux-gnu/openblas-pthread
# -Wno-format-truncation: snprintf into fixed buffers is bounded on purpose.
# -fno-math-errno: sqrtf and friends as single instructions, so loops over them vectorise (the
# library never reads errno after a math function). -fopenmp-simd: the "omp simd" loop hints
# only; threads are the library's own (src/core/pool.c), no OpenMP runtime.
CFLAGS   += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Wno-unused-parameter \
            -Wno-format-truncation \
            -fno-math-errno $(OPT) -g -fPIC -fopenmp-simd -pthread -Iinclude -I$(BUILD) -isystem $(BLAS_INC) $(SAN)
LDLIBS   += -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lpng -ljpeg -lz -lm -pthread $(SAN)
# The tests also read and write images with stb_image (Debian's libstb): a decoder and an
# encoder independent of the library's libpng and libjpeg.
TEST_LDLIBS := -lstb

# The version is written once, in include/cnn.h (CNN_VERSION_MAJOR, _MINOR, _PATCH): the shared
# library is libcnn.so.MAJOR.MINOR.PATCH with the SONAME libcnn.so.MAJOR (docs/VERSIONING.md).
version_part = $(shell awk '/^.define CNN_VERSION_$(1) [0-9]+$$/ { print $$3 }' include/cnn.h)
MAJOR   := $(call version_part,MAJOR)
MINOR   := $(call version_part,MINOR)
PATCH   := $(call version_part,PATCH)
ifeq ($(words $(MAJOR) $(MINOR) $(PATCH)),3)
VERSION := $(MAJOR).$(MINOR).$(PATCH)
else
$(error include/cnn.h: no CNN_VERSION_MAJOR, CNN_VERSION_MINOR and CNN_VERSION_PATCH numbers)
endif
SONAME  := libcnn.so.$(MAJOR)
SO_FILE := libcnn.so.$(VERSION)

comma := ,

# Where make install puts things; DESTDIR (empty) is prefixed to each, for staging and packages.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Run after installing into the system (no DESTDIR) as root, so that the loader finds the new
# libcnn.so.MAJOR in /usr/local/lib at once. LDCONFIG= skips it.
LDCONFIG   ?= ldconfig

# src/mpi/ is libcnn_mpi, built apart (below): libcnn never needs MPI.
LIB_SRCS   := $(filter-out src/mpi/%,$(sort $(wildcard src/*.c src/*/*.c)))
LAYER_SRCS := $(sort $(wildcard src/layers/*.c))
LIB_OBJS   := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS   := $(sort $(wildcard cli/*.c))
CLI_OBJS   := $(CLI_SRCS:%.c=$(BUILD)/%.o)
TEST_SRCS  := $(sort $(wildcard tests/test_*.c))
TEST_BINS  := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TEST_LIB   := $(BUILD)/tests/testlib.o
# Programs the test scripts run (tests/test_kill_saves.sh: save_loop).
TEST_TOOLS := $(BUILD)/tests/save_loop
EX_SRCS    := $(sort $(wildcard examples/*.c))
EX_BINS    := $(EX_SRCS:examples/%.c=$(BUILD)/examples/%)

# Data-parallel training over MPI (docs/DISTRIBUTED.md), when mpicc is there (Debian's
# libopenmpi-dev; make test installs it): libcnn_mpi.a (src/mpi/, include/cnn_mpi.h), the cnn
# tool built with it (cli/dist.c: cnn train under mpirun), and the MPI test. Without mpicc,
# libcnn and cnn build as before and cnn train refuses to be one of several ranks.
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifneq ($(MPICC),)
MPI_CFLAGS  := $(shell $(MPICC) -showme:compile)
MPI_LIBS    := $(shell $(MPICC) -showme:link)
MPI_TARGETS := $(BUILD)/libcnn_mpi.a $(BUILD)/tests/mpi_trainer $(BUILD)/bench/mpi_allreduce
CLI_MPI     := $(BUILD)/libcnn_mpi.a
$(BUILD)/src/mpi/%.o $(BUILD)/cli/dist.o $(BUILD)/tests/mpi_trainer.o $(BUILD)/bench/mpi_allreduce.o: \
    CFLAGS += $(MPI_CFLAGS) -DCNN_WITH_MPI
endif

# The benchmark programs that bench/run.sh runs (docs/BENCHMARKS.md), built with everything
# else so that a change to the library that breaks one shows at once. (bench/dnnl_conv.c needs
# oneDNN, which only the benchmarks install: bench/run.sh builds it.)
BENCH_BINS := $(addprefix $(BUILD)/bench/,cnn_bench qgemm_bench sgemm_peak fma_peak cores)

.PHONY: all deps run test check check-san check-tsan check-onnx-slow clean fuzz fuzz-corpus bench \
        install uninstall
# Keep objects that pattern rules make on the way to a program: they are not temporary.
.SECONDARY:
all: $(BUILD)/libcnn.a $(BUILD)/libcnn.so $(BUILD)/cnn $(BUILD)/cnn.1 $(BUILD)/cnn-uninstalled.pc \
     $(TEST_BINS) $(TEST_TOOLS) $(EX_BINS) $(MPI_TARGETS) $(BENCH_BINS)

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

# The linker version script: exactly the functions include/cnn.h declares are exported; every
# other function, cnn_alloc and cnn_error included, stays local to the library.
$(BUILD)/libcnn.map: include/cnn.h scripts/exports.sh | $(BUILD)/.
	scripts/exports.sh include/cnn.h > $@.tmp && mv $@.tmp $@

# libcnn.so.MAJOR.MINOR.PATCH with its SONAME, and the two links an installation has too, so
# that a program linked with -Lbuild -lcnn runs with LD_LIBRARY_PATH=build.
$(BUILD)/$(SO_FILE): $(LIB_OBJS) $(BUILD)/libcnn.map
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,$(BUILD)/libcnn.map -o $@ \
	    $(LIB_OBJS) $(LDLIBS)

$(BUILD)/$(SONAME): $(BUILD)/$(SO_FILE)
	ln -sf $(SO_FILE) $@

$(BUILD)/libcnn.so: $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@


$(BUILD)/libcnn_mpi.a: $(BUILD)/src/mpi/cnn_mpi.o
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/mpi_trainer: $(BUILD)/tests/mpi_trainer.o $(TEST_LIB) $(BUILD)/libcnn_mpi.a $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/bench/mpi_allreduce: $(BUILD)/bench/mpi_allreduce.o $(BUILD)/libcnn_mpi.a $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS) $(MPI_LIBS)

# (Those that call no library function take nothing from libcnn.a.)
$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

# The tool links libcnn.a: the installed cnn does not depend on where libcnn.so is installed
# nor on the loader's cache (docs/INSTALL.md says more).
$(BUILD)/cnn: $(CLI_OBJS) $(BUILD)/cli/web_assets.o $(CLI_MPI) $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS) $(MPI_LIBS) -lmicrohttpd

# cnn serve's page (web/), inside the binary (scripts/embed.sh).
WEB_FILES := $(sort $(wildcard web/*.html web/*.js web/*.css))
$(BUILD)/cli/web_assets.c: $(WEB_FILES) scripts/embed.sh | $(BUILD)/.
	@mkdir -p $(dir $@)
	scripts/embed.sh $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/cli/web_assets.o: $(BUILD)/cli/web_assets.c
	$(CC) $(CFLAGS) -Icli -c $< -o $@

# The man page cnn(1), from the tool's own help (cnn help, cnn help COMMAND, ...).
$(BUILD)/cnn.1: $(BUILD)/cnn scripts/gen-man.sh
	scripts/gen-man.sh $(BUILD)/cnn $(VERSION) > $@.tmp && mv $@.tmp $@

# cnn.pc for PREFIX, made when installing (PREFIX may differ from the build's).
pc_subst = sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(2)|' -e 's|@INCLUDEDIR@|$(3)|' \
    -e 's|@RPATH@|$(4)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@BLAS_LIB@|$(BLAS_LIB)|g' cnn.pc.in

# For programs built against the build tree without installing: PKG_CONFIG_PATH=build makes
# pkg-config cnn use it (pkg-config prefers NAME-uninstalled.pc), with an rpath to build/.
TREE_RPATH = -Wl$(comma)-rpath$(comma)$(abspath $(BUILD))
$(BUILD)/cnn-uninstalled.pc: cnn.pc.in Makefile include/cnn.h | $(BUILD)/.
	$(call pc_subst,$(CURDIR),$(abspath $(BUILD)),$(CURDIR)/include,$(TREE_RPATH) ) > $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_LIB) $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS) $(TEST_LDLIBS)

$(BUILD)/examples/%: $(BUILD)/examples/%.o $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

# Runs every test program and the quick example; each exits non-zero on failure. Prints
# "N passed, N failed". (examples/unet_fashion trains for minutes: docs/RESULTS.md runs it.)
# test_install.sh links a program of its own with CC and the SAN flags of this build;
# test_onnx_checker.sh runs ONNX's checker (python3-onnx) on every zoo model cnn exports;
# test_mpi.sh trains on 2 MPI ranks (not under the sanitizers: OpenMPI's own allocations);
# test_serve_browser.sh drives cnn serve's page in headless Chromium (skipped, saying so, where
# node 20 or chromium is missing); test_kill_saves.sh kills a program saving checkpoints with
# SIGKILL 120 times (about 20 s). test_layers and test_kernels run again with the kernels held
# to AVX2 (--isa avx2: OpenBLAS's products, where an AVX-512 host runs sgemm512.c's) and to the
# baseline instruction set (--isa baseline), so that every path is checked on a host that has
# more; the 8-bit tests (test_quant, test_qgemm) run also held to VNNI (test_quant), AVX2 and
# the baseline, so that an AVX-512 host checks all four. test_gemm forces each float product
# path itself.
# The tests run JOBS at a time (scripts/run-tests.sh -j), the longest (FIRST_TESTS and the
# two long scripts) first so that the lanes end together; those whose checks depend on the
# host's pace (ALONE_TESTS: the time budgets of test_recipes and test_plan; test_mpi.sh's
# signals sent after a pause, test_serve_browser.sh's browser timeouts) run afterwards, one at
# a time.
FIRST_TESTS := test_onnx test_zoo test_kernels
ALONE_TESTS := test_recipes test_plan
check: all
	@CC='$(CC)' SAN='$(SAN)' scripts/run-tests.sh -j $(JOBS) $(BUILD) \
	    "tests/test_onnx_checker.sh $(BUILD)" "tests/test_kill_saves.sh $(BUILD)" \
	    $(FIRST_TESTS:%=$(BUILD)/tests/%) \
	    $(filter-out $(FIRST_TESTS:%=$(BUILD)/tests/%) $(ALONE_TESTS:%=$(BUILD)/tests/%),$(TEST_BINS)) \
	    $(BUILD)/examples/simple \
	    "$(BUILD)/tests/test_layers --isa avx2" "$(BUILD)/tests/test_kernels --isa avx2" \
	    "$(BUILD)/tests/test_layers --isa baseline" "$(BUILD)/tests/test_kernels --isa baseline" \
	    "$(BUILD)/tests/test_quant --isa vnni" "$(BUILD)/tests/test_quant --isa avx2" \
	    "$(BUILD)/tests/test_quant --isa baseline" \
	    "$(BUILD)/tests/test_qgemm --isa avx2" "$(BUILD)/tests/test_qgemm --isa baseline" \
	    "examples/run-library-examples.sh $(BUILD)" "tests/test_symbols.sh $(BUILD)" \
	    "tests/test_install.sh $(BUILD)" \
	    --alone $(ALONE_TESTS:%=$(BUILD)/tests/%) \
	    "tests/test_mpi.sh $(BUILD)" "tests/test_serve_browser.sh $(BUILD)"

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
# AdamW, cosine schedule, flips), installing the data set if needed: about 15 s on 2 cores.
run:
	@scripts/install-deps.sh --data
	$(MAKE) all
	$(BUILD)/cnn train --model lenet5 --data fashion-mnist --epochs 10 --seed 1 --force \
	    --out $(BUILD)/lenet5.ckpt

# ThreadSanitizer on what runs threads: the pool under every kernel (1, 2 and 3 threads) and
# two networks trained from two threads at once. CNN_TEST_THREADS_ONLY: test_kernels leaves out
# its comparisons with the single-threaded reference kernels (3 minutes of the run under TSan;
# the other two builds make them).
TSAN_TESTS := test_threads test_kernels test_workers test_micro
check-tsan:
	$(MAKE) BUILD=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" \
	    $(TSAN_TESTS:%=build-tsan/tests/%)
	@TSAN_OPTIONS=halt_on_error=1 CNN_TEST_THREADS_ONLY=1 \
	    scripts/run-tests.sh -j $(JOBS) build-tsan $(TSAN_TESTS:%=build-tsan/tests/%)

# The slow ONNX checks of tests/test_onnx_slow.sh, not part of make test (PyTorch is not a
# dependency): tests/ref/onnx_big.py (resnet18, googlenet, densenet121 exported by PyTorch, run
# by cnn) and tests/ref/onnx_to_torch.py on what cnn exports (LeNet-5 trained one epoch,
# resnet20, small_unet, segnet); prints two Markdown tables; the files stay in BUILD/onnx-slow.
check-onnx-slow: all
	tests/test_onnx_slow.sh $(BUILD) $(BUILD)/onnx-slow

test: deps
	$(MAKE) -j$(JOBS) check
	$(MAKE) -j$(JOBS) check-san
	$(MAKE) -j$(JOBS) check-tsan

# Fuzzing a reader with libFuzzer (clang): FUZZ_TARGET is netdef (the network definition
# reader), onnx (the ONNX reader and importer), checkpoint, idx (an image and a label file),
# cifar (a CIFAR-10 batch and its class names), png or jpeg (the image decoders, through
# cnn_image_size and cnn_image_load), plan (a run's plan, cnn_trainer_follow_plan);
# FUZZ_SECONDS of search from the seed corpus in fuzz/corpus/FUZZ_TARGET; a crash leaves its input in build-fuzz/. The file readers'
# inputs are small (FUZZ_MAX_LEN), so any single allocation above FUZZ_MALLOC_MB is a small
# file that costs too much, and libFuzzer reports it as a crash. fuzz/FUZZ_TARGET.dict, when
# there is one, gives the mutations the format's words. FUZZ_ARGS adds libFuzzer options
# (-fork=1 -ignore_ooms=1: go on past out-of-memory findings, keeping each). docs/FUZZING.md
# has the runs.
FUZZ_TARGET  ?= netdef
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN_netdef     := 4096
FUZZ_MAX_LEN_onnx       := 65536
FUZZ_MAX_LEN_checkpoint := 65536
FUZZ_MAX_LEN_idx        := 16384
FUZZ_MAX_LEN_cifar      := 16384
FUZZ_MAX_LEN_png        := 65536
FUZZ_MAX_LEN_jpeg       := 65536
FUZZ_MAX_LEN_plan       := 1024
FUZZ_MALLOC_MB_checkpoint := 64
FUZZ_MALLOC_MB_idx        := 256
FUZZ_MALLOC_MB_cifar      := 64
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -g" SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    build-fuzz/libcnn.a
	clang -std=c11 -Iinclude -O1 -g $(FUZZ_FLAGS) fuzz/fuzz_$(FUZZ_TARGET).c build-fuzz/libcnn.a \
	    -o build-fuzz/fuzz_$(FUZZ_TARGET) $(LDLIBS) $(FUZZ_FLAGS)
	mkdir -p build-fuzz/corpus-$(FUZZ_TARGET) && cd build-fuzz && \
	    ASAN_OPTIONS=allocator_may_return_null=1 ./fuzz_$(FUZZ_TARGET) \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN_$(FUZZ_TARGET)) -timeout=10 \
	    -rss_limit_mb=4096 -malloc_limit_mb=$(or $(FUZZ_MALLOC_MB_$(FUZZ_TARGET)),4096) \
	    $(if $(wildcard fuzz/$(FUZZ_TARGET).dict),-dict=../fuzz/$(FUZZ_TARGET).dict) $(FUZZ_ARGS) \
	    corpus-$(FUZZ_TARGET) ../fuzz/corpus/$(FUZZ_TARGET)

# The seed corpora of the file readers (fuzz/make_corpus.c writes them; they are committed).
fuzz-corpus: $(BUILD)/fuzz/make_corpus
	$(BUILD)/fuzz/make_corpus

$(BUILD)/fuzz/make_corpus: $(BUILD)/fuzz/make_corpus.o $(BUILD)/libcnn.a
	$(CC) -o $@ $^ $(LDLIBS)

# make install PREFIX=... DESTDIR=...: the shared library (libcnn.so.MAJOR.MINOR.PATCH and its
# links libcnn.so.MAJOR, libcnn.so), libcnn.a, cnn.h, cnn.pc, the cnn tool and cnn(1).
# make uninstall, with the same PREFIX and DESTDIR, removes exactly these files.
INSTALLED := $(BINDIR)/cnn $(LIBDIR)/$(SO_FILE) $(LIBDIR)/$(SONAME) $(LIBDIR)/libcnn.so \
             $(LIBDIR)/libcnn.a $(INCLUDEDIR)/cnn.h $(PKGCONFIGDIR)/cnn.pc $(MANDIR)/man1/cnn.1
# With MPI, libcnn_mpi.a and its header too (a program adds -lcnn_mpi and mpicc's flags).
ifneq ($(MPICC),)
INSTALLED += $(LIBDIR)/libcnn_mpi.a $(INCLUDEDIR)/cnn_mpi.h
endif

install: $(BUILD)/$(SO_FILE) $(BUILD)/libcnn.a $(BUILD)/cnn $(BUILD)/cnn.1 $(CLI_MPI)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(BUILD)/cnn $(DESTDIR)$(BINDIR)/cnn
	install -m 755 $(BUILD)/$(SO_FILE) $(DESTDIR)$(LIBDIR)/$(SO_FILE)
	ln -sf $(SO_FILE) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcnn.so
	install -m 644 $(BUILD)/libcnn.a $(DESTDIR)$(LIBDIR)/libcnn.a
	install -m 644 include/cnn.h $(DESTDIR)$(INCLUDEDIR)/cnn.h
	install -m 644 $(BUILD)/cnn.1 $(DESTDIR)$(MANDIR)/man1/cnn.1
	$(if $(MPICC),install -m 644 $(BUILD)/libcnn_mpi.a $(DESTDIR)$(LIBDIR)/libcnn_mpi.a)
	$(if $(MPICC),install -m 644 include/cnn_mpi.h $(DESTDIR)$(INCLUDEDIR)/cnn_mpi.h)
	$(call pc_subst,$(PREFIX),$(LIBDIR),$(INCLUDEDIR),) > $(DESTDIR)$(PKGCONFIGDIR)/cnn.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/cnn.pc
	@if [ -z "$(DESTDIR)" ] && [ -n "$(LDCONFIG)" ] && [ "$$(id -u)" = 0 ]; then \
	    echo "$(LDCONFIG)"; $(or $(LDCONFIG),:); fi

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_BINS:%=%.d) $(TEST_TOOLS:%=%.d) $(TEST_LIB:.o=.d) \
         $(EX_BINS:%=%.d) $(BUILD)/src/mpi/cnn_mpi.d $(BUILD)/tests/mpi_trainer.d \
         $(BUILD)/bench/mpi_allreduce.d $(BENCH_BINS:%=%.d)
