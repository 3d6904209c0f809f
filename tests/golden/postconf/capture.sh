#!/usr/bin/env bash
# Capture the postconf golden files of cases.txt with real Postfix (run from anywhere).
# Each case runs in a fresh temporary directory as "postconf -c etc ARGS", so that the
# configuration directory Postfix prints ("config_directory = etc", "etc/main.cf") is the same
# on every machine; the e2e test runs "mailrelay -c etc postconf ARGS" the same way.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
grep -v '^#' "$here/cases.txt" | while read -r name main master args; do
  [ -n "$name" ] || continue
  dir=$(mktemp -d)
  mkdir "$dir/etc"
  cp "$here/$main" "$dir/etc/main.cf"
  if [ "$master" = - ]; then : > "$dir/etc/master.cf"; else cp "$here/$master" "$dir/etc/master.cf"; fi
  # shellcheck disable=SC2086 # the arguments are words
  (cd "$dir" && postconf -c etc $args > "$here/$name.ref" 2> "$here/$name.stderr.ref") || true
  rm -rf "$dir"
done
