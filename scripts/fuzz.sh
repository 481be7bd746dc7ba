#!/usr/bin/env bash
# Runs every native Go fuzz target in the module for a short time each
# (FUZZTIME, default 3s). `make test` runs it so every push fuzzes a little;
# for a long session: FUZZTIME=10m scripts/fuzz.sh, or one target with
#   go test -run XXX -fuzz '^FuzzDecodeCommand$' ./store/
# A crash found is written by Go under the package's testdata/fuzz/ and
# then runs as a regression case in every plain `go test`: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-3s}
failed=0
count=0
log=$(mktemp)
for pkg in $(go list ./...); do
  targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
  for t in $targets; do
    count=$((count + 1))
    echo "fuzz: $pkg $t ($fuzztime)"
    if ! go test -run XXX -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" > "$log" 2>&1; then
      cat "$log"
      failed=$((failed + 1))
    fi
  done
done
rm -f "$log"
echo "fuzz: $count targets, $failed failed"
[ "$failed" -eq 0 ]
