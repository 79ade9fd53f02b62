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
    case "$want" in
        3.14 | 3.15)
            # Newer than the machine has: unpack Debian unstable's into .pythons/ (nothing system-wide).
            bash "$lw_root/scripts/_debian_python.sh" "$want" && return 0
            echo "loopwarden: Python $want not found, nor made from Debian's packages (see above)" >&2
            return 1
            ;;
    esac
    echo "loopwarden: Python $want not found; install it (e.g. 'pyenv install $want') or pass another version" >&2
    return 1
}

lw_bootstrap_pip() {
    # lw_bootstrap_pip PYTHON VENV_PYTHON: install pip into a venv made --without-pip, from the pip
    # wheel unpacked next to PYTHON (_debian_python.sh's), else one downloaded with the machine's pip.
    local python="$1" venv_python="$2"
    local wheel="" candidate dir=""
    for candidate in "${python%/bin/*}"/share/python-wheels/pip-*.whl; do
        [ -f "$candidate" ] && wheel="$candidate"
    done
    if [ -z "$wheel" ]; then
        dir="$(mktemp -d)"
        python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            -d "$dir" pip >&2
        wheel="$(echo "$dir"/pip-*.whl)"
    fi
    "$venv_python" "$wheel/pip" install --quiet --disable-pip-version-check --no-index "$wheel" >&2
    [ -z "$dir" ] || rm -rf "$dir"
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
        echo "loopwarden: creating the environment ${LW_VENV##*/} for Python $want (first run:" \
            "it installs loopwarden and its test dependencies, a minute or two)" >&2
        if "$python" -c 'import ensurepip' >/dev/null 2>&1; then
            "$python" -m venv "$LW_VENV"
        else
            # Debian's interpreters lack ensurepip (it is in pythonX.Y-venv).
            "$python" -m venv --without-pip "$LW_VENV"
            lw_bootstrap_pip "$python" "$LW_VENV/bin/python"
        fi
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
