#!/usr/bin/env bash
# Installs what the fault and integration tiers need on a Debian machine, as root:
# iproute2 and iptables (network namespaces with kernel faults), zookeeper (a real server),
# and a Java runtime when none is present.
set -euo pipefail
need=()
[ -x /usr/sbin/ip ] || need+=(iproute2)
[ -x /usr/sbin/iptables ] || need+=(iptables)
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
if [ ${#need[@]} -eq 0 ]; then
  echo "setup-system: iproute2, iptables, zookeeper and java are present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-system: need root to install: ${need[*]}" >&2
  exit 1
fi
echo "setup-system: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
