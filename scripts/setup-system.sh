#!/usr/bin/env bash
# Installs what the build and the fault and integration tiers need on a Debian machine, as root:
# compilers for @halfopen/sockopt's prebuilt binaries (gcc for linux-x64, musl-tools for
# linux-x64-musl, gcc-aarch64-linux-gnu with its C library headers for linux-arm64),
# iproute2 and iptables (network namespaces with kernel faults), zookeeper (a real server),
# a Java runtime when none is present, and redis-server and PostgreSQL 15 (real servers for
# @halfopen/clients' tests).
set -euo pipefail
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need+=(gcc-aarch64-linux-gnu)
[ -f /usr/aarch64-linux-gnu/include/stdio.h ] || need+=(libc6-dev-arm64-cross)
[ -x /usr/sbin/ip ] || need+=(iproute2)
[ -x /usr/sbin/iptables ] || need+=(iptables)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-system: compilers (gcc, musl-gcc, aarch64-linux-gnu-gcc), iproute2, iptables, zookeeper, java, redis-server and postgresql are present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: need root to install: ${need[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
