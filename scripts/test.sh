#!/usr/bin/env bash
# Runs every test: installs what the tests need when run as root on Debian
# (fuse3, python3-pandas, vim, nano, tmux, rsync, gio, LibreOffice Calc with
# Python UNO, the DuckDB node client), then `go test -race ./...`.
# Fuzz targets run their seed corpora as ordinary tests.
# BCFS_REQUIRE_FUSE=1 makes FUSE and client tests fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v fusermount3 >/dev/null || need+=(fuse3)
  /usr/bin/python3 -c 'import pandas' 2>/dev/null || need+=(python3-pandas)
  command -v /usr/bin/time >/dev/null || need+=(time)
  command -v vim >/dev/null || need+=(vim)
  command -v systemd-analyze >/dev/null || need+=(systemd)
  command -v smbd >/dev/null || need+=(samba)
  command -v smbclient >/dev/null || need+=(smbclient)
  /usr/bin/python3 -c "import samba.samba3.libsmb_samba_internal" 2>/dev/null || need+=(python3-samba)
  command -v ip >/dev/null || need+=(iproute2)
  # Real clients driven on a mount by the fusefs tests.
  command -v rsync >/dev/null || need+=(rsync)
  command -v nano >/dev/null || need+=(nano)
  command -v tmux >/dev/null || need+=(tmux)
  command -v gio >/dev/null || need+=(libglib2.0-bin)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  # LibreOffice Calc without its GUI and Python UNO, for the spreadsheet
  # tests; without recommends (fonts, Java) to keep the install short.
  if ! command -v soffice >/dev/null || ! /usr/bin/python3 -c 'import uno' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libreoffice-calc-nogui python3-uno >/dev/null
  fi
fi
if [ -f scripts/clients/package.json ] && [ ! -d scripts/clients/node_modules/@duckdb ]; then
  npm ci --prefix scripts/clients --no-audit --no-fund >/dev/null
fi

# The S3 tests run against a real S3-compatible server, Versity's gateway,
# built once into a cache outside the clone (about a minute).
gwbin=/var/cache/bcfs-ci/bin
[ "$(id -u)" = 0 ] || gwbin="$HOME/.cache/bcfs-ci/bin"
if [ ! -x "$gwbin/versitygw" ]; then
  mkdir -p "$gwbin"
  GOBIN="$gwbin" GOFLAGS=-mod=mod go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
export BCFS_VERSITYGW="$gwbin/versitygw"

go vet ./...
go test -race -timeout 40m "$@" ./...
