# Sourced by the smoke tests (docker_smoke.sh, stack_smoke.sh) after they set CHECK_NAME:
# their timestamped log lines, their one-line failure, and the checks every one of them needs
# before it starts (the project's interpreter, a Docker engine that answers).
START=$(date +%s)
say() { printf '[%s +%4ss] %s\n' "$CHECK_NAME" "$(($(date +%s) - START))" "$*"; }
fail() {
  say "FAILED: $*" >&2
  exit 1
}
[[ -x $PY ]] || fail "$PY not found: run \`make install\` (or \`make $CHECK_NAME\`, which does)"
command -v docker >/dev/null || fail "the docker CLI is not installed"
docker info >/dev/null 2>&1 || fail "no Docker engine answers \`docker info\`: start one first"
