#!/bin/sh
# tune_runner.sh PROGRAM — the --runner of cli_test.py's tune case: runs the
# candidate program here, as a command that copies it to a board and runs
# it there would (docs/cli.md, kiln tune --runner).
exec "$1"
