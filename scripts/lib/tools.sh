# Shared by scripts/*: the project's own tool installs (pinned) and the services tests need.
# Sourced, not run. Tools live outside the clone by default so repeated CI runs reuse them.

TOOLS_DIR="${SOAPP_TOOLS_DIR:-${HOME}/.cache/superoffice-app-backend/tools}"
VENV="${TOOLS_DIR}/venv"

MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"

# A Python virtualenv with the pinned packages given as arguments ("name==version" ...).
ensure_python_packages() {
  if [[ ! -x "${VENV}/bin/python" ]]; then
    mkdir -p "${TOOLS_DIR}"
    if ! python3 -m venv "${VENV}" >/dev/null 2>&1; then
      # Debian and Ubuntu ship the venv module separately.
      rm -rf "${VENV}"
      local sudo_cmd=(); [[ "$(id -u)" == 0 ]] || sudo_cmd=(sudo)
      DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "${VENV}"
    fi
    "${VENV}/bin/python" -m pip install -q --upgrade pip >/dev/null
  fi
  local missing=()
  for spec in "$@"; do
    local name="${spec%%[*}"; name="${name%%==*}"
    local want="${spec##*==}"
    local have
    have=$("${VENV}/bin/python" -m pip show "${name}" 2>/dev/null | awk '/^Version:/{print $2}')
    [[ "${have}" == "${want}" ]] || missing+=("${spec}")
  done
  if ((${#missing[@]})); then
    echo "installing ${missing[*]} into ${VENV}" >&2
    "${VENV}/bin/python" -m pip install -q "${missing[@]}"
  fi
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
  MOTO_LOG="${TOOLS_DIR}/moto-${port}.log"
  "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${port}" >"${MOTO_LOG}" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:${port}/moto-api/" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${MOTO_PID}" 2>/dev/null; then
      echo "the AWS API emulator did not start; its log:" >&2; cat "${MOTO_LOG}" >&2; return 1
    fi
    sleep 0.1
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:${port}"
  export AWS_ACCESS_KEY_ID="testing" AWS_SECRET_ACCESS_KEY="testing" AWS_SESSION_TOKEN="testing"
  export AWS_REGION="eu-west-1" AWS_DEFAULT_REGION="eu-west-1"
  export AWS_EC2_METADATA_DISABLED=true
  echo "AWS API emulator (moto ${MOTO_VERSION}) on ${AWS_ENDPOINT_URL}" >&2
}

stop_moto() {
  if [[ -n "${MOTO_PID:-}" ]]; then
    kill "${MOTO_PID}" 2>/dev/null || true
    wait "${MOTO_PID}" 2>/dev/null || true
    unset MOTO_PID
  fi
}
