# Sourced by the scripts in this folder: make (or refresh) the development virtual environment.
# Usage: lw_env [PYTHON]  — sets LW_VENV and puts its bin/ first on PATH.

lw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

lw_find_python() {
    # The oldest supported Python by default, so code that needs a newer one fails here first.
    local want="${1:-3.11}"
    local candidate
    for candidate in "python$want" "$HOME"/.pyenv/versions/"$want"*/bin/python; do
        # pyenv shims exist for every version but fail for the ones not selected: try each.
        if "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "loopwarden: Python $want not found; install it (e.g. 'pyenv install $want') or pass another version" >&2
    return 1
}

lw_env() {
    # lw_env VERSION [PIN...]: with pins (e.g. pytest==8.0.2) the environment is a separate one
    # with the test extras only (pytest-asyncio needs a newer pytest than the oldest we support).
    local want="${1:-3.11}"
    shift || true
    local extras="dev,aiohttp,httpx,ws,db,postgres"
    LW_VENV="$lw_root/.venv-$want"
    if [ "$#" -gt 0 ]; then
        extras="test"
        local tag="$*"
        tag="${tag// /_}"
        LW_VENV="$lw_root/.venv-$want-${tag//[=<>]/-}"
    fi
    local stamp="$LW_VENV/.installed"
    if [ ! -x "$LW_VENV/bin/python" ]; then
        local python
        python="$(lw_find_python "$want")"
        "$python" -m venv "$LW_VENV"
    fi
    # Reinstall when pyproject.toml changed since the last install.
    if [ ! -f "$stamp" ] || [ "$lw_root/pyproject.toml" -nt "$stamp" ]; then
        "$LW_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$LW_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e "$lw_root[$extras]" "$@" >&2
        touch "$stamp"
    fi
    export PATH="$LW_VENV/bin:$PATH"
    export LW_VENV
}
