#!/usr/bin/env bash
# Make a Python newer than the machine has (3.14, 3.15) runnable from Debian unstable's packages,
# unpacked into a folder of the repository: nothing is installed system-wide and the system's apt
# configuration is not changed (apt runs with its own sources list, lists and cache).
#
#   bash scripts/_debian_python.sh 3.15 [DEST]   # prints DEST/usr/bin/python3.15 (DEST: .pythons/3.15)
#   source scripts/_debian_python.sh; lw_debian_python 3.15 [DEST]
#
# Only the interpreter's path goes to stdout, progress goes to stderr; a second call returns at once.
# The interpreter has no ensurepip: make venvs with --without-pip and install pip from the wheel in
# DEST/usr/share/python-wheels (lw_env in _env.sh does). Needs apt-get, dpkg-deb and patchelf
# (installed with apt-get when missing, which needs root or sudo).

lw_debian_python_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The packages to unpack: the interpreter and the shared libraries that it and its extension
# modules load. Debian unstable renames libraries now and then (e.g. libssl3 -> libssl3t64); when
# provisioning fails on a name, compare with what the interpreter's packages depend on now:
#   apt-cache depends python3.X python3.X-minimal libpython3.X-minimal libpython3.X-stdlib
# (with this script's private apt options: it prints the current list when it fails).
lw_debian_python_packages() {
    local v="$1"
    echo "python$v python$v-minimal libpython$v-minimal libpython$v-stdlib"
    echo "libc6 libgcc-s1 libexpat1 zlib1g libssl3t64 libffi8 libbz2-1.0 liblzma5 libsqlite3-0"
    echo "libzstd1 libuuid1 libncursesw6 libtinfo6 libreadline8t64"
    # The pip wheel that venvs bootstrap from (Debian's ensurepip looks for it in /usr only).
    echo "python3-pip-whl"
    case "$v" in
        3.14) echo "libdb5.3t64" ;;  # dbm.ndbm
    esac
}

lw_debian_mirror() {
    # The first main-archive URI of the system's sources (deb822 .sources files, then sources.list).
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$file"
    done | head -n1 | grep . && return 0
    [ -f /etc/apt/sources.list ] || return 0
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) print $i; break } }' \
        /etc/apt/sources.list | head -n1
}

lw_debian_python() (
    set -euo pipefail
    local version="${1:-}"
    if ! [[ "$version" =~ ^3\.[0-9]+$ ]]; then
        echo "usage: _debian_python.sh 3.X [DEST]  (e.g. 3.15)" >&2
        return 2
    fi
    local dest="${2:-$lw_debian_python_root/.pythons/$version}"
    mkdir -p "$(dirname "$dest")"
    dest="$(cd "$(dirname "$dest")" && pwd)/$(basename "$dest")"
    local python="$dest/usr/bin/python$version"
    # The Debian mirror the machine's own apt configuration uses (its main archive, not the
    # security one), unless LW_DEBIAN_MIRROR names another.
    local mirror="${LW_DEBIAN_MIRROR:-$(lw_debian_mirror)}"
    [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt; set LW_DEBIAN_MIRROR to one (its URL ending in /debian)"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg

    say() { echo "loopwarden: $*" >&2; }
    die() { echo "loopwarden: error: $*" >&2; exit 1; }
    ready() { [ -f "$dest/.provisioned" ] && "$python" -c 'import sys' >/dev/null 2>&1; }

    if ready; then
        echo "$python"
        return 0
    fi

    local debarch multiarch loader
    case "$(uname -m)" in
        x86_64) debarch=amd64 multiarch=x86_64-linux-gnu loader=ld-linux-x86-64.so.2 ;;
        aarch64 | arm64) debarch=arm64 multiarch=aarch64-linux-gnu loader=ld-linux-aarch64.so.1 ;;
        *) die "Python $version from Debian packages: unsupported machine $(uname -m) (x86_64 and aarch64 only)" ;;
    esac
    local tool
    for tool in apt-get apt-cache apt-config dpkg-deb timeout; do
        command -v "$tool" >/dev/null || die "Python $version from Debian packages needs $tool (a Debian or Ubuntu machine)"
    done
    [ -r "$keyring" ] || die "$keyring is missing: install debian-archive-keyring"

    # One provisioning at a time (two test runs may start together); the winner's result is reused.
    local cache
    cache="$(dirname "$dest")/.apt"
    mkdir -p "$cache/lists/partial" "$cache/cache/archives/partial"
    if command -v flock >/dev/null; then
        exec 9>"$cache/provision.lock"
        flock -w 1800 9 || die "timed out waiting for another provisioning ($cache/provision.lock)"
        if ready; then
            echo "$python"
            return 0
        fi
    fi
    if ! command -v patchelf >/dev/null; then
        local sudo=()
        if [ "$(id -u)" != 0 ]; then
            sudo -n true 2>/dev/null || die "patchelf is missing: install it (as root: apt-get install patchelf)"
            sudo=(sudo -n)
        fi
        say "installing patchelf with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        # On a fresh machine the package lists may be missing or old: update, then try again.
        local wait=(-o DPkg::Lock::Timeout=300)
        timeout 600 "${sudo[@]}" apt-get install -y -qq "${wait[@]}" patchelf >/dev/null \
            || { timeout 600 "${sudo[@]}" apt-get update -qq "${wait[@]}" >&2 \
                && timeout 600 "${sudo[@]}" apt-get install -y -qq "${wait[@]}" patchelf >/dev/null; } \
            || die "could not install patchelf with apt-get (see above)"
    fi

    if [ -e "$dest" ]; then
        # A half-made or moved copy (the patched paths are absolute): start again, but never wipe
        # a folder that this script did not make.
        if [ -f "$dest/.provisioning" ] || [ -f "$dest/.provisioned" ] || [ -z "$(ls -A "$dest")" ]; then
            rm -rf "$dest"
        else
            die "$dest exists and was not made by this script: move it away or pass another DEST"
        fi
    fi

    local started=$SECONDS
    say "provisioning Python $version: unpacking Debian unstable's python$version into $dest"
    echo "deb [arch=$debarch signed-by=$keyring] $mirror unstable main" >"$cache/sources.list"
    local apt=(
        -o "Dir::Etc::SourceList=$cache/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
        -o "Dir::State=$cache" -o "Dir::State::Lists=$cache/lists" -o Dir::State::status=/dev/null
        -o "Dir::Cache=$cache/cache" -o "APT::Architecture=$debarch" -o "APT::Architectures=$debarch"
        -o Acquire::Languages=none -o Acquire::http::Timeout=30 -o Acquire::https::Timeout=30
        -o Acquire::Retries=1
    )
    # Only the package lists: no AppStream, Contents or other extra indexes the machine may enable.
    local target
    for target in $(apt-config "${apt[@]}" dump | sed -n 's/^Acquire::IndexTargets::deb::\([^:]*\)::MetaKey .*/\1/p'); do
        [ "$target" = Packages ] || apt+=(-o "Acquire::IndexTargets::deb::$target::DefaultEnabled=false")
    done
    # As root, apt downloads as the user _apt, who may not reach the repository: download as root.
    [ "$(id -u)" != 0 ] || apt+=(-o APT::Sandbox::User=root)

    say "updating the package list of Debian unstable ($debarch)"
    timeout 600 apt-get -qq "${apt[@]}" --error-on=any update >&2 \
        || die "apt-get update for Debian unstable failed or timed out (network, or a signature that $keyring cannot verify: update debian-archive-keyring)"
    compgen -G "$cache/lists/*_Packages*" >/dev/null \
        || die "apt-get update got no package list for Debian unstable (see the warnings above)"

    local packages
    read -r -a packages <<<"$(lw_debian_python_packages "$version" | tr '\n' ' ')"
    local current
    current="$(timeout 120 apt-cache "${apt[@]}" depends "python$version" "python$version-minimal" \
        "libpython$version-minimal" "libpython$version-stdlib" 2>/dev/null \
        | sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: <\{0,1\}\([^ >]*\)>\{0,1\}$/\2/p' | sort -u | tr '\n' ' ')" || true
    local found pkg missing=()
    found=" $(timeout 120 apt-cache "${apt[@]}" show --no-all-versions "${packages[@]}" 2>/dev/null \
        | sed -n 's/^Package: //p' | tr '\n' ' ')" || true
    for pkg in "${packages[@]}"; do
        [[ "$found" == *" $pkg "* ]] || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if [[ " ${missing[*]} " == *" python$version "* ]]; then
            die "package python$version not found in Debian unstable: it has no Python $version (any more, or yet); install Python $version another way (e.g. 'pyenv install $version')"
        fi
        die "package(s) ${missing[*]} not found in Debian unstable; update the list in lw_debian_python_packages in scripts/_debian_python.sh. Debian unstable's python$version packages now depend on: ${current:-?}"
    fi
    local extra=()
    for pkg in $current; do
        [[ "$pkg" == lib* ]] && [[ " ${packages[*]} " != *" $pkg "* ]] && extra+=("$pkg")
    done
    [ "${#extra[@]}" = 0 ] || say "warning: python$version now also depends on ${extra[*]}, not in scripts/_debian_python.sh's list (the checks below tell whether it matters)"

    mkdir -p "$dest"
    touch "$dest/.provisioning"
    local debs="$dest.debs"
    rm -rf "$debs"
    mkdir -p "$debs"
    trap 'rm -rf "$debs"' EXIT
    say "downloading ${#packages[@]} packages"
    (cd "$debs" && timeout 1200 apt-get -qq "${apt[@]}" download "${packages[@]}" >&2) \
        || die "apt-get download from Debian unstable failed or timed out (see above)"
    local deb
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$dest" || die "could not unpack $deb"
        # shellcheck disable=SC2016  # dpkg-deb's own ${field} syntax
        dpkg-deb --show --showformat='${Package} ${Version}\n' "$deb" >>"$dest/.provisioning"
    done
    rm -rf "$debs"
    [ -f "$python" ] || die "python$version's package has no usr/bin/python$version any more: scripts/_debian_python.sh needs an update"

    # Point the interpreter at the unpacked loader and libraries. DT_RPATH (--force-rpath), not
    # DT_RUNPATH: a RUNPATH serves only the binary's own libraries, while an RPATH of the executable
    # also serves the libraries that the extension modules (lib-dynload/*.so) load, such as libssl.
    local ld="" libdirs="" dir
    for dir in "$dest/usr/lib/$multiarch" "$dest/lib/$multiarch"; do
        [ -d "$dir" ] || continue
        libdirs="${libdirs:+$libdirs:}$dir"
        if [ -z "$ld" ] && [ -f "$dir/$loader" ] && [ ! -L "$dir/$loader" ]; then
            ld="$dir/$loader"
        fi
    done
    [ -n "$ld" ] || die "no $loader in the unpacked libc6: scripts/_debian_python.sh needs an update"
    patchelf --set-interpreter "$ld" --force-rpath --set-rpath "$libdirs" "$python" \
        || die "patchelf failed on $python"

    # Every library of the interpreter and of its extension modules must come from $dest: one from
    # the machine's /usr/lib may be too old, and one not found means a package is missing above.
    local so line bad=()
    for so in "$python" "$dest/usr/lib/python$version/lib-dynload/"*.so; do
        while IFS= read -r line; do
            case "$line" in
                *" => $dest/"*) ;;
                *" => "*)
                    line="${line%% (0x*}"
                    bad+=("$(basename "$so"): ${line#"${line%%[![:space:]]*}"}")
                    ;;
            esac
        done < <(timeout 60 "$ld" --inhibit-cache --library-path "$libdirs" --list "$so" 2>&1 || true)
    done
    if [ "${#bad[@]}" -gt 0 ]; then
        printf 'loopwarden:   %s\n' "${bad[@]}" >&2
        die "libraries missing from the unpacked packages (above); add their Debian packages to lw_debian_python_packages in scripts/_debian_python.sh. Debian unstable's python$version packages now depend on: ${current:-?}"
    fi

    say "checking the interpreter"
    local check
    check="$(mktemp -d)"
    trap 'rm -rf "$check"' EXIT
    timeout 120 "$python" - "$dest" <<'EOF' >&2 || die "python$version from Debian unstable does not work (see above)"
import os, sys
dest = os.path.realpath(sys.argv[1])
assert os.path.realpath(sys.prefix) == os.path.join(dest, "usr"), f"sys.prefix is {sys.prefix}, not {dest}/usr"
import encodings, ssl, sqlite3, ctypes, lzma, bz2, readline, decimal, uuid, zlib, pyexpat, hashlib, venv
ssl.create_default_context()
ctypes.CDLL(None)
with open("/proc/self/maps") as maps:
    outside = {line.split()[-1] for line in maps if ".so" in line and dest not in os.path.realpath(line.split()[-1])}
assert not outside, f"libraries loaded from outside {dest}: {sorted(outside)}"
EOF
    if ! timeout 120 "$python" -m venv --without-pip "$check/venv" >&2 \
        || ! timeout 60 "$check/venv/bin/python" -c 'import sys; assert sys.prefix != sys.base_prefix'; then
        die "python$version -m venv does not work (see above)"
    fi
    rm -rf "$check"

    mv "$dest/.provisioning" "$dest/.provisioned"
    say "$("$python" -c 'import sys; print("Python", sys.version.split()[0])') ready in $dest ($(du -sh "$dest" | cut -f1), $((SECONDS - started)) s)"
    echo "$python"
)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    lw_debian_python "$@"
fi
