#!/usr/bin/env bash
# Cold-start benchmark: builds the function binaries (and a "before" variant of
# coldstart-superoffice with aws-lc's CPU-jitter entropy compiled in), proves which build has
# jitter entropy, then measures process start to first handled request at full CPU and, when
# possible, at the CPU share of a 128 MB Lambda. Tables go to stdout, progress to stderr.
#
# Usage: infra/coldstart/run.sh [--iterations N]   (other arguments are passed to coldstart-bench)
#
# Environment: QUOTA_US (default 7200), JITTER_TARGET_DIR (default target/coldstart-jitter),
# SKIP_QUOTA=1 to skip the CPU-quota run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
quota_us=${QUOTA_US:-7200}
jitter_target=${JITTER_TARGET_DIR:-target/coldstart-jitter}
main_target=${CARGO_TARGET_DIR:-target}
started=$(date +%s)

log() { printf '%s\n' "$*" >&2; }

# The aws-lc-sys build script that went into a build: its OUT_DIR, from cargo's JSON messages
# (works for fresh builds too, and picks the right one among several aws-lc-sys-* directories).
aws_lc_out_dir() {
  grep '"reason":"build-script-executed"' "$1" \
    | grep '"package_id":"[^"]*aws-lc-sys' \
    | sed 's/.*"out_dir":"\([^"]*\)".*/\1/' \
    | tail -n 1
}

# Prints the evidence for one build and checks it: the variable the build script saw, its
# verdict, and whether the CPU-jitter entropy code is in the static library (jent_* symbols).
# $1 label, $2 cargo JSON messages, $3 expected "with" or "without" jitter entropy.
jitter_evidence() {
  local label=$1 messages=$2 want=$3 out_dir output jent
  out_dir=$(aws_lc_out_dir "$messages")
  if [[ -z $out_dir || ! -d $out_dir ]]; then
    log "run.sh: cannot find aws-lc-sys's build output for $label"
    exit 1
  fi
  output=$out_dir/../output
  echo "- $label: ${out_dir%/out}"
  grep -E "^cargo:warning=.*(NO_JITTER_ENTROPY|Value: .* is (true|false))" "$output" \
    | sed 's/^cargo:warning=/    build script: /' || true
  jent=$(find "$out_dir" -name '*.a' -exec nm -A --defined-only {} + 2>/dev/null \
    | grep -cE ' T (\w+_)?jent_entropy_init$' || true)
  echo "    defined jent_entropy_init symbols in the static library: $jent"
  if [[ $want == with && $jent -eq 0 ]] || [[ $want == without && $jent -ne 0 ]]; then
    log "run.sh: $label was expected to be built $want jitter entropy, and is not"
    exit 1
  fi
}

messages_main=$(mktemp)
messages_jitter=$(mktemp)
trap 'rm -f "$messages_main" "$messages_jitter"' EXIT

log "== release build (AWS_LC_SYS_NO_JITTER_ENTROPY from .cargo/config.toml [env]) =="
if [[ -n ${AWS_LC_SYS_NO_JITTER_ENTROPY:-} ]]; then
  log "run.sh: AWS_LC_SYS_NO_JITTER_ENTROPY is set in this shell ($AWS_LC_SYS_NO_JITTER_ENTROPY);"
  log "        unsetting it so the main build uses the repository's setting"
fi
env -u AWS_LC_SYS_NO_JITTER_ENTROPY \
  cargo build --release -p coldstart --message-format=json >"$messages_main"

log "== release build of coldstart-superoffice with jitter entropy (the 'before' variant) =="
# cargo's [env] does not override a variable that is already set (unless `force = true`, which
# .cargo/config.toml does not use), so the 0 here reaches aws-lc-sys's build script. The evidence
# below proves it rather than trusting it.
AWS_LC_SYS_NO_JITTER_ENTROPY=0 CARGO_TARGET_DIR=$jitter_target \
  cargo build --release -p coldstart --bin coldstart-superoffice --message-format=json \
  >"$messages_jitter"

echo "## Jitter-entropy setting of the two builds"
echo
jitter_evidence "main build ($main_target)" "$messages_main" without
jitter_evidence "jitter build ($jitter_target)" "$messages_jitter" with
echo

bin=$main_target/release
binaries=(
  --binary "hello=$bin/coldstart-hello"
  --binary "superoffice=$bin/coldstart-superoffice"
  --binary "superoffice-jitter=$jitter_target/release/coldstart-superoffice"
)

echo "## Full CPU"
echo
"$bin/coldstart-bench" "${binaries[@]}" "$@"
echo

cgroup_root=/sys/fs/cgroup/cpu
if [[ ${SKIP_QUOTA:-0} == 1 ]]; then
  log "run.sh: SKIP_QUOTA=1: no CPU-quota run"
elif [[ $(id -u) -ne 0 ]]; then
  log "run.sh: not root: no CPU-quota run (needs a writable $cgroup_root)"
elif [[ ! -w $cgroup_root/cgroup.procs ]]; then
  log "run.sh: no writable cgroup v1 cpu controller at $cgroup_root: no CPU-quota run"
else
  echo "## CPU share of a 128 MB Lambda (quota $quota_us us per 100000 us)"
  echo
  "$bin/coldstart-bench" "${binaries[@]}" --cpu-quota-us "$quota_us" "$@"
  echo
fi

echo "run.sh took $(($(date +%s) - started)) s in total (builds included), in $root."
