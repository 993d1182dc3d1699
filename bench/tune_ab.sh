#!/bin/sh
# tune_ab.sh KILN MODEL.onnx BUDGET THREADS WORKDIR [KILN FLAGS...] — tunes
# MODEL with `kiln tune --budget BUDGET --threads THREADS [FLAGS]` (FLAGS:
# say `--quantize int8 --profile P.yaml`), compiles it with the default
# schedules and with the tuning file, and runs both alternately in one
# process (bench/tune_ab.c): CPU and wall time per run, the speed-up, and the
# largest output difference.  A figure for docs/tuning.md, never a test.
set -e
KILN=$(realpath "$1"); MODEL=$(realpath "$2"); BUDGET=$3; THREADS=$4; WORK=$5
shift 5 # the rest: flags for tune and both compiles
HERE=$(dirname "$(realpath "$0")")
mkdir -p "$WORK" && cd "$WORK"
echo "load before: $(cat /proc/loadavg)"
"$KILN" tune "$MODEL" -o tuning.yaml --budget "$BUDGET" --threads "$THREADS" "$@" | tail -1
"$KILN" compile "$MODEL" -o a --name model_a --threads "$THREADS" "$@" >/dev/null
"$KILN" compile "$MODEL" -o b --name model_b --threads "$THREADS" --tuning tuning.yaml "$@" >/dev/null
cc -O2 -DMODEL_A=model_a_model -DMODEL_B=model_b_model -Ia "$HERE/tune_ab.c" a/libmodel_a.a \
  b/libmodel_b.a -lpthread -lm -o tune_ab
echo "load before the runs: $(cat /proc/loadavg)"
./tune_ab 15 "$THREADS"
