#!/usr/bin/env bash
# `meson install` installs kiln, kiln.h and kiln.pc, and pkg-config finds
# the header: a program including <kiln.h> builds with its flags alone.
# Usage: install_test.sh BUILDDIR WORKDIR
set -euo pipefail
build=$1 work=$2
rm -rf "$work"
mkdir -p "$work"
meson install -C "$build" --no-rebuild --destdir "$work/dest" >"$work/install.log"
pc=$(find "$work/dest" -name kiln.pc)
[ -n "$pc" ] || { echo "FAIL no kiln.pc installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$work/dest$prefix" \
  --cflags --libs kiln)
case "$flags" in *-lpthread*-lm*) ;; *) echo "FAIL pkg-config --libs kiln: $flags"; exit 1 ;; esac
printf '#include <kiln.h>\n#include <stdio.h>\nint main(void) { printf("%%d\\n", KILN_ABI_VERSION); return 0; }\n' >"$work/t.c"
# shellcheck disable=SC2086
cc -std=c99 -Wall -Werror "$work/t.c" $flags -o "$work/t"
[ "$("$work/t")" = 1 ] || { echo "FAIL KILN_ABI_VERSION"; exit 1; }
[ -x "$work/dest$prefix/bin/kiln" ] || { echo "FAIL kiln not installed"; exit 1; }
echo "1 passed, 0 failed"
