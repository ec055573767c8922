#!/usr/bin/env bash
# Installs the Debian packages a target needs when they are missing:
#   tools/system-deps.sh redis-server [prometheus ...]
# Each argument is a package; its main command is checked first.
set -euo pipefail

declare -A command_of=([redis-server]=redis-server [prometheus]=promtool [kubectl]=kubectl)
missing=()
for package in "$@"; do
  command -v "${command_of[$package]:-$package}" >/dev/null 2>&1 || missing+=("$package")
done
((${#missing[@]})) || exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]} (install them with your package manager)" >&2
  exit 1
fi
