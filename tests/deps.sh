#!/bin/sh
# Install the Debian packages named on the command line that are not installed
# yet. Runs apt-get update only when something is missing, so a machine that
# has everything does no network I/O at all.
#
# A name may list alternatives, "a|b": satisfied when any is installed (or,
# for the kubectl test, when the command a names is on PATH); otherwise the
# first one apt knows is installed. Used for kubectl: the `kubectl` package
# from a configured Kubernetes repository, else Debian's kubernetes-client.
set -eu
missing=""
installed() {
  st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) return 0 ;; esac
  return 1
}
for p in "$@"; do
  case "$p" in
  *"|"*)
    ok=""
    for a in $(echo "$p" | tr '|' ' '); do
      if installed "$a" || command -v "$a" >/dev/null 2>&1; then ok=1; break; fi
    done
    [ -n "$ok" ] || missing="$missing $p"
    ;;
  *) installed "$p" || missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install:$missing" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
plain=""
for p in $missing; do
  case "$p" in
  *"|"*)
    # the first alternative apt has a candidate for
    pick=""
    for a in $(echo "$p" | tr '|' ' '); do
      cand=$(apt-cache policy "$a" 2>/dev/null | sed -n 's/^ *Candidate: //p')
      if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then pick=$a; break; fi
    done
    if [ -n "$pick" ]; then
      plain="$plain $pick"
    else
      # optional: the tests that need it skip and say so
      echo "deps: none of $p can be installed here; the tests that need it will be skipped" >&2
    fi
    ;;
  *) plain="$plain $p" ;;
  esac
done
if [ -n "$plain" ]; then
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $plain >/dev/null
fi
echo "deps: done"
