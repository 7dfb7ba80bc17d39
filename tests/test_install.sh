#!/usr/bin/env bash
# libcnn as an installed library: make install into a temporary PREFIX, then a program outside
# the tree built with pkg-config against libcnn.so and again against libcnn.a, both run; the
# versions (macros, cnn_version(), `cnn version`, file names, SONAME) agree; the man page is
# valid and has every command; a DESTDIR install stages the same files for PREFIX; make
# uninstall leaves no file behind.
#   tests/test_install.sh BUILD_DIR
# CC and SAN (as make check sets them) say how to compile the program: a sanitizer build's
# library needs the program linked with the same -fsanitize flags. When SAN is not set they are
# read from the library (its undefined __asan_/__ubsan_ symbols).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }
# prints PATTERN CMD...: CMD's output has a line matching PATTERN. The output is read whole
# first: `CMD | grep -q` fails at random under pipefail when grep exits before CMD has written
# everything and CMD dies of SIGPIPE.
prints() { local pattern=$1 out; shift; out=$("$@") && grep -q -- "$pattern" <<<"$out"; }

command -v pkg-config >/dev/null ||
    fail "pkg-config is missing (scripts/install-deps.sh installs it)"
cc=${CC:-cc}
if [ -z "${SAN+set}" ]; then
    SAN=
    undef=$(nm -D --undefined-only "$build/libcnn.so")
    grep -q ' __asan_' <<<"$undef" && SAN="$SAN -fsanitize=address"
    grep -q ' __ubsan_' <<<"$undef" && SAN="$SAN -fsanitize=undefined"
fi
read -r -a san <<<"$SAN"
echo "compiler: $cc ${san[*]}"

# make install and uninstall of this build. Within make check, MAKEFLAGS carries the build's
# variables (OPT, SAN) to them; not the parent's job server, which this script cannot reach.
inst() {
    MAKEFLAGS=$(sed -E 's/ ?--jobserver-(auth|fds)=[^ ]*//g' <<<"${MAKEFLAGS:-}") \
        make -s --no-print-directory BUILD="$build" LDCONFIG= "$@"
}
prefix=$tmp/usr
inst install PREFIX="$prefix"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

# A program of a user: the versions, an image (libpng), a small network's forward pass on it
# (OpenBLAS), a plot written as PNG (libpng) and a missing IDX file (zlib), so that a
# link missing any of the libraries libcnn needs fails.
cat > "$tmp/prog.c" <<'EOF'
#include <cnn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check(cnn_net *net, cnn_status st, const char *what) {
    if (st == CNN_STATUS_OK) return 1;
    fprintf(stderr, "%s: %s: %s\n", what, cnn_status_str(st), net ? cnn_net_last_error(net) : "");
    return 0;
}

int main(int argc, char **argv) {
    char err[256], version[32];
    snprintf(version, sizeof version, "%d.%d.%d", CNN_VERSION_MAJOR, CNN_VERSION_MINOR,
             CNN_VERSION_PATCH);
    printf("version %s %s %s\n", version, CNN_VERSION_STRING, cnn_version());
    if (argc != 4 || strcmp(version, CNN_VERSION_STRING) || strcmp(version, cnn_version())) {
        fprintf(stderr, "usage: prog IMAGE CSV PNG; the versions must agree\n");
        return 1;
    }
    static float x[28 * 28];
    if (!check(NULL, cnn_image_load(argv[1], 1, 28, 28, x, err, sizeof err), err)) return 1;
    cnn_net *net = cnn_net_new(7);
    int ok = net && check(net, cnn_add(net, "input", "x", NULL, "shape=1x28x28"), "input") &&
             check(net, cnn_add(net, "conv2d", "c1", NULL, "out=4 kernel=3"), "conv2d") &&
             check(net, cnn_add(net, "relu", "r1", NULL, NULL), "relu") &&
             check(net, cnn_add(net, "flatten", "f", NULL, NULL), "flatten") &&
             check(net, cnn_add(net, "dense", "out", NULL, "out=3"), "dense") &&
             check(net, cnn_net_set_threads(net, 2), "threads") &&
             check(net, cnn_net_prepare(net, 1), "prepare") &&
             check(net, cnn_net_forward(net, x, 1), "forward");
    if (ok) {
        const float *y = cnn_net_output(net);
        printf("output %g %g %g\n", y[0], y[1], y[2]);
        for (int i = 0; i < 3; i++) ok &= isfinite(y[i]) != 0;
    }
    cnn_net_free(net);
    if (!ok) return 1;
    if (!check(NULL, cnn_plot_training_csv(argv[2], argv[3], err, sizeof err), err)) return 1;
    cnn_dataset *ds = NULL;
    if (cnn_dataset_load_idx("missing-images.gz", "missing-labels.gz", &ds, err, sizeof err) ==
            CNN_STATUS_OK || !strstr(err, "missing-images.gz")) {
        fprintf(stderr, "a missing IDX file was not an error naming it: %s\n", err);
        cnn_dataset_free(ds);
        return 1;
    }
    puts("ok");
    return 0;
}
EOF
printf '%s\n' epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds 1,1.0,0.5,1.1,0.4,0.01,1 \
    2,0.8,0.6,0.9,0.5,0.01,1 > "$tmp/log.csv"
image=examples/data/ankle_boot.png
# OpenBLAS's pthread build, which the library must load (cnn.pc's rpath, libcnn.so's RUNPATH).
blas=$(pkg-config --static --libs cnn | sed -n 's/.*-Wl,-rpath,\([^ ]*\).*/\1/p')
[ -n "$blas" ] || fail "cnn.pc has no rpath to OpenBLAS"

# Against the shared library, found at run time through an rpath to the prefix.
read -r -a flags <<<"$(pkg-config --cflags --libs cnn)"
echo "shared: ${flags[*]}"
"$cc" "${san[@]}" -o "$tmp/prog_shared" "$tmp/prog.c" "${flags[@]}" -Wl,-rpath,"$prefix/lib"
out=$("$tmp/prog_shared" "$image" "$tmp/log.csv" "$tmp/shared.png") || fail "prog_shared: $out"
echo "$out"
[ -s "$tmp/shared.png" ] || fail "prog_shared wrote no PNG"
prints "libcnn.so.* => $prefix/lib/libcnn.so" ldd "$tmp/prog_shared" ||
    fail "prog_shared does not load the installed libcnn.so: $(ldd "$tmp/prog_shared")"
prints "libopenblas.so.0 => $blas/" ldd "$tmp/prog_shared" ||
    fail "prog_shared does not load OpenBLAS from $blas: $(ldd "$tmp/prog_shared")"

# Against the build tree, without installing: BUILD/cnn-uninstalled.pc, which pkg-config
# prefers when PKG_CONFIG_PATH names BUILD, links BUILD/libcnn.so with an rpath to it.
tree=$(cd "$build" && pwd)
read -r -a flags <<<"$(PKG_CONFIG_PATH=$tree pkg-config --cflags --libs cnn)"
echo "build tree: ${flags[*]}"
"$cc" "${san[@]}" -o "$tmp/prog_tree" "$tmp/prog.c" "${flags[@]}"
"$tmp/prog_tree" "$image" "$tmp/log.csv" "$tmp/tree.png" >/dev/null || fail "prog_tree failed"
prints "libcnn.so.* => $tree/libcnn.so" ldd "$tmp/prog_tree" ||
    fail "prog_tree does not load $tree/libcnn.so: $(ldd "$tmp/prog_tree")"

# The version: the macros, cnn_version(), the installed files and SONAME, cnn version.
read -r _ v v_str v_lib <<<"$(head -1 <<<"$out")"
major=${v%%.*}
[ "$v" = "$v_str" ] && [ "$v" = "$v_lib" ] || fail "versions differ: $out"
[ "$("$prefix/bin/cnn" version | head -1)" = "cnn $v" ] ||
    fail "cnn version prints '$("$prefix/bin/cnn" version)', the header says $v"
[ "$(pkg-config --modversion cnn)" = "$v" ] || fail "cnn.pc's version is not $v"
for f in "$prefix/lib/libcnn.so.$v" "$build/libcnn.so"; do
    soname=$(readelf -d "$f" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ "$soname" = "libcnn.so.$major" ] || fail "$f: SONAME '$soname', not libcnn.so.$major"
done
[ "$(readlink "$prefix/lib/libcnn.so.$major")" = "libcnn.so.$v" ] || fail "libcnn.so.$major link"
[ "$(readlink "$prefix/lib/libcnn.so")" = "libcnn.so.$major" ] || fail "libcnn.so link"
prints "NEEDED.*\[libcnn.so.$major\]" readelf -d "$tmp/prog_shared" ||
    fail "prog_shared does not need libcnn.so.$major"
echo "version $v, SONAME libcnn.so.$major: ok"

# Against libcnn.a: pkg-config --static adds the libraries libcnn.a needs; -l:libcnn.a picks the
# archive over libcnn.so in the same folder.
libs=$(pkg-config --static --libs cnn | sed 's/-lcnn\>/-l:libcnn.a/')
read -r -a flags <<<"$(pkg-config --cflags cnn) $libs"
echo "static: ${flags[*]}"
"$cc" "${san[@]}" -o "$tmp/prog_static" "$tmp/prog.c" "${flags[@]}"
prints "NEEDED.*libcnn" readelf -d "$tmp/prog_static" && fail "prog_static needs libcnn.so"
prints "libopenblas.so.0 => $blas/" ldd "$tmp/prog_static" ||
    fail "prog_static does not load OpenBLAS from $blas: $(ldd "$tmp/prog_static")"
out=$("$tmp/prog_static" "$image" "$tmp/log.csv" "$tmp/static.png") || fail "prog_static: $out"
[ "$(tail -1 <<<"$out")" = ok ] || fail "prog_static: $out"
echo "static: ok"

# The man page: roff without warnings, a section for every command cnn help lists.
man1=$prefix/share/man/man1/cnn.1
command -v groff >/dev/null || fail "groff is missing (scripts/install-deps.sh installs groff-base)"
warn=$(groff -man -Tutf8 -ww -z "$man1" 2>&1)
[ -z "$warn" ] || fail "cnn.1: $warn"
for c in $("$prefix/bin/cnn" help | awk '/^commands:$/ { on = 1; next } /^$/ { on = 0 }
                                         on && /^  [a-z]/ { print $1 }'); do
    grep -qx ".SS \"cnn $c\"" "$man1" || fail "cnn.1 has no section for cnn $c"
done
echo "man page: ok"

# DESTDIR stages the files of PREFIX (cnn.pc names PREFIX, not the stage).
expected() { # the files an installation into $1 has (with MPI, libcnn_mpi's two)
    { printf '%s\n' "$1/bin/cnn" "$1/include/cnn.h" "$1/lib/libcnn.a" "$1/lib/libcnn.so" \
          "$1/lib/libcnn.so.$major" "$1/lib/libcnn.so.$v" "$1/lib/pkgconfig/cnn.pc" \
          "$1/share/man/man1/cnn.1"
      if command -v mpicc >/dev/null; then
          printf '%s\n' "$1/include/cnn_mpi.h" "$1/lib/libcnn_mpi.a"
      fi; } | sort
}
files() { find "$1" \( -type f -o -type l \) | sort; }
diff <(expected "$prefix") <(files "$tmp/usr") || fail "make install PREFIX: other files"
inst install PREFIX=/opt/cnn DESTDIR="$tmp/stage"
diff <(expected "$tmp/stage/opt/cnn") <(files "$tmp/stage") ||
    fail "make install DESTDIR: other files"
grep -qx 'prefix=/opt/cnn' "$tmp/stage/opt/cnn/lib/pkgconfig/cnn.pc" || fail "cnn.pc: not PREFIX"
grep -q "$tmp" "$tmp/stage/opt/cnn/lib/pkgconfig/cnn.pc" && fail "cnn.pc names the DESTDIR"

inst uninstall PREFIX=/opt/cnn DESTDIR="$tmp/stage"
inst uninstall PREFIX="$prefix"
left=$(files "$tmp/stage"; files "$prefix")
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install and uninstall: ok"
