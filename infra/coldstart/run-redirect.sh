#!/usr/bin/env bash
# The redirect suite: builds the release binaries (coldstart-bench, coldstart-hello and the real
# redirect function), starts the AWS API emulator (moto, pinned, installed into a venv under
# ~/.cache by scripts/lib/tools.sh), runs `coldstart-bench redirect` at full CPU and, when
# possible, at the CPU share of a 128 MB Lambda, and stops moto again. Tables go to stdout,
# progress to stderr. Works from a fresh machine with Rust and Python 3 installed.
#
# Usage: infra/coldstart/run-redirect.sh [--sign-ins N] [--iterations N] ...
#        (arguments are passed to `coldstart-bench redirect`; see its --help)
#
# Environment: QUOTA_US (default 7200), SKIP_QUOTA=1 to skip the CPU-quota run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
quota_us=${QUOTA_US:-7200}
target=${CARGO_TARGET_DIR:-target}
started=$(date +%s)

log() { printf '%s\n' "$*" >&2; }

log "== release build of coldstart (runner, hello) and redirect =="
# As run.sh: the repository's .cargo/config.toml decides AWS_LC_SYS_NO_JITTER_ENTROPY.
env -u AWS_LC_SYS_NO_JITTER_ENTROPY cargo build --release --locked -p coldstart -p redirect

# shellcheck source=../../scripts/lib/tools.sh
. scripts/lib/tools.sh
trap stop_moto EXIT
start_moto

bin=$target/release

echo "## Redirect suite, full CPU"
echo
"$bin/coldstart-bench" redirect --redirect "$bin/redirect" --hello "$bin/coldstart-hello" "$@"
echo

cgroup_root=/sys/fs/cgroup/cpu
if [[ ${SKIP_QUOTA:-0} == 1 ]]; then
  log "run-redirect.sh: SKIP_QUOTA=1: no CPU-quota run"
elif [[ $(id -u) -ne 0 ]]; then
  log "run-redirect.sh: not root: no CPU-quota run (needs a writable $cgroup_root)"
elif [[ ! -w $cgroup_root/cgroup.procs ]]; then
  log "run-redirect.sh: no writable cgroup v1 cpu controller at $cgroup_root: no CPU-quota run"
else
  echo "## Redirect suite, CPU share of a 128 MB Lambda (quota $quota_us us per 100000 us)"
  echo
  "$bin/coldstart-bench" redirect --redirect "$bin/redirect" --hello "$bin/coldstart-hello" \
    --cpu-quota-us "$quota_us" "$@"
  echo
fi

echo "run-redirect.sh took $(($(date +%s) - started)) s in total (build included), in $root."
