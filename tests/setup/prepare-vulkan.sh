#!/usr/bin/env bash
# Prepares a software Vulkan driver (Mesa lavapipe) so the WebGPU engine can be tested on a machine
# without a GPU, WITHOUT changing the system's packages: the driver and the runtime libraries it
# needs are downloaded by apt (download only, nothing installed) into a private cache folder and
# unpacked there with `dpkg -x`. Debian 12's own Mesa 22 gives Dawn no adapter, so Mesa comes from
# the release's backports suite. No mirror is named here: the mirror is read from the machine's own
# apt sources, and apt runs on a private sources list and private state (lists, caches), so the
# system's apt state is untouched.
#
# Writes "$CACHE/vulkan.env" (VK_ICD_FILENAMES, LD_LIBRARY_PATH) that the tests read.
# Usage: tests/setup/prepare-vulkan.sh [--force]     (CACHE defaults to .cache/vulkan)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CACHE="${RINGTRAIN_VULKAN_CACHE:-$ROOT/.cache/vulkan}"
ENV_FILE="$CACHE/vulkan.env"
say() { echo "prepare-vulkan: $*" >&2; }

mkdir -p "$CACHE"
# Test files run in parallel and may each ask for the driver: one prepares, the others wait.
if command -v flock >/dev/null; then exec 9>"$CACHE/.lock"; flock -w 600 9; fi
if [[ "${1:-}" != "--force" && -s "$ENV_FILE" ]]; then
  say "already prepared ($ENV_FILE)"; exit 0
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || { say "needs apt-get and dpkg (a Debian-based machine)"; exit 1; }

# shellcheck disable=SC1091
CODENAME="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[[ -n "$CODENAME" ]] || { say "cannot read VERSION_CODENAME from /etc/os-release"; exit 1; }
ARCH="$(dpkg --print-architecture)"

# The first mirror that serves the release itself (not its security suite), from deb822 .sources
# files or one-line .list files.
mirror_from_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v rel="$CODENAME" '
      /^[[:space:]]*$/ { if (uri != "" && suites ~ ("(^| )" rel "( |$)") && types ~ /(^| )deb( |$)/) { print uri; exit } uri=""; suites=""; types=""; next }
      /^URIs:/ { uri=$2 } /^Suites:/ { $1=""; suites=$0 } /^Types:/ { $1=""; types=$0 }
      END { if (uri != "" && suites ~ ("(^| )" rel "( |$)") && types ~ /(^| )deb( |$)/) print uri }' "$f"
  done
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
    awk -v rel="$CODENAME" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == rel) print $i }'
}
MIRROR="$(mirror_from_sources 2>/dev/null | head -n1 || true)"
[[ -n "$MIRROR" ]] || { say "found no apt source for $CODENAME under /etc/apt to reuse"; exit 1; }
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
SIGNED=""; [[ -f "$KEYRING" ]] && SIGNED="[signed-by=$KEYRING] "

APT="$CACHE/apt"
rm -rf "$APT" "$CACHE/root" "$CACHE/debs"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$CACHE/debs/partial"
printf 'deb %s%s %s main\ndeb %s%s %s-backports main\n' "$SIGNED" "$MIRROR" "$CODENAME" "$SIGNED" "$MIRROR" "$CODENAME" >"$APT/sources.list"
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=$APT/sources.list.d"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::Cache::archives=$CACHE/debs"
  -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=1" -o "APT::Get::AllowUnauthenticated=false"
)
say "updating a private package index for $CODENAME and $CODENAME-backports"
apt-get "${APT_OPTS[@]}" -qq update >&2

# Let apt work out which packages (and versions) are missing against the system's installed set;
# --download-only fetches them into the private archive folder and installs nothing.
say "downloading mesa-vulkan-drivers from $CODENAME-backports and the libraries it needs"
apt-get "${APT_OPTS[@]}" -qq -y --download-only --no-install-recommends -t "$CODENAME-backports" \
  install "mesa-vulkan-drivers:$ARCH" "libvulkan1:$ARCH" >&2
mkdir -p "$CACHE/root"
shopt -s nullglob
debs=("$CACHE"/debs/*.deb)
(( ${#debs[@]} > 0 )) || { say "apt downloaded nothing"; exit 1; }
for deb in "${debs[@]}"; do dpkg -x "$deb" "$CACHE/root"; done

ICD="$(find "$CACHE/root" -name 'lvp_icd*.json' | head -n1)"
[[ -n "$ICD" ]] || { say "no lvp_icd json in the unpacked packages"; exit 1; }
LIBDIRS="$(find "$CACHE/root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -)"
# The ICD json names its library by an absolute system path; point it into the cache instead.
LVP="$(find "$CACHE/root" -name 'libvulkan_lvp.so' | head -n1)"
sed -i "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$LVP\"#" "$ICD"
{
  echo "VK_ICD_FILENAMES=$ICD"
  echo "LD_LIBRARY_PATH=$LIBDIRS"
} >"$ENV_FILE"
say "ready: $(sed -n 's/.*"api_version": *"\([^"]*\)".*/vulkan api \1/p' "$ICD"), env in $ENV_FILE"
