#!/usr/bin/env bash
# Checks the C kernels' NEON level on AArch64: compiles every file of Sources/CTesseraKernels
# for aarch64 with -Wall -Wextra -Werror, links Tests/CrossArch/neon_check.c against them and
# runs it (NEON against portable, see that file). On Linux x86-64 the build is a static cross
# build (clang --target=aarch64-linux-gnu, or aarch64-linux-gnu-gcc) run under qemu user-mode
# emulation (scripts/setup.sh installs qemu-user and the aarch64 C library); on an AArch64
# machine (Linux, or macOS on Apple silicon) it builds and runs natively.
# Arguments are passed to neon_check (--time prints rough timings of both levels).
# Elsewhere (e.g. macOS on Intel) it cannot run: it says so and fails under CI=true.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/Sources/CTesseraKernels"
fail() { echo "test_arm64: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

os="$(uname -s)" arch="$(uname -m)"
flags=(-std=gnu11 -O2 -Wall -Wextra -Werror -I "$src" -I "$src/include")
run=()
case "$os/$arch" in
  Linux/aarch64 | Darwin/arm64)
    have "${CC:-cc}" || fail "no C compiler '${CC:-cc}' (set CC)"
    cc=("${CC:-cc}")
    link=(-lm -lpthread)
    ;;
  Linux/x86_64)
    link=()
    qemu=""
    for q in qemu-aarch64 qemu-aarch64-static; do have "$q" && { qemu="$q"; break; }; done
    [ -n "$qemu" ] || fail "qemu-aarch64 not found: run scripts/setup.sh (Debian: apt-get install qemu-user)"
    [ -f /usr/aarch64-linux-gnu/lib/libc.a ] ||
      fail "no aarch64 C library in /usr/aarch64-linux-gnu: run scripts/setup.sh (Debian: apt-get install libc6-dev-arm64-cross)"
    if have clang; then
      ls /usr/lib/gcc-cross/aarch64-linux-gnu/*/libgcc.a >/dev/null 2>&1 ||
        fail "no aarch64 libgcc: run scripts/setup.sh (Debian: apt-get install libgcc-12-dev-arm64-cross)"
      cc=(clang --target=aarch64-linux-gnu)
      if have ld.lld; then link+=(-fuse-ld=lld)
      elif ! have aarch64-linux-gnu-ld; then fail "no linker for aarch64: install lld or binutils-aarch64-linux-gnu"; fi
    elif have aarch64-linux-gnu-gcc; then
      cc=(aarch64-linux-gnu-gcc)
    else
      fail "no cross compiler: need clang (with lld) or aarch64-linux-gnu-gcc"
    fi
    link+=(-static -lm -lpthread)
    run=("$qemu")
    ;;
  *)
    msg="cannot build and run AArch64 code on $os/$arch (needs Linux x86-64 with qemu, or an AArch64 machine): NEON kernels NOT checked"
    [ "${CI:-}" = true ] && fail "$msg"
    echo "test_arm64: SKIPPED: $msg" >&2
    exit 0
    ;;
esac

start=$SECONDS
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# One compiler per file, two at a time: a warning anywhere in the target fails the check.
export work src
printf '%s\n' "$src"/*.c "$root/Tests/CrossArch/neon_check.c" |
  xargs -P "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)" -I{} sh -c '"$@" -c "$0" -o "$work/$(basename "$0" .c).o"' {} "${cc[@]}" "${flags[@]}" ||
  fail "the C target does not compile cleanly for aarch64 (see above)"
"${cc[@]}" "$work"/*.o "${link[@]}" -o "$work/neon_check" || fail "linking neon_check failed"
${run[@]+"${run[@]}"} "$work/neon_check" "$@" || fail "NEON kernels differ from the portable ones (see above)"
echo "test_arm64: passed in $((SECONDS - start)) s${run:+ (under ${run[0]})}"
