#!/usr/bin/env bash
# Regenerates src/gen from the .proto files in this folder (the generated code is committed).
# The generated code carries the four password fields as bytes: declared string (as in etcd, so the
# JSON gateway keeps them strings), they hold whatever bytes a client sent, and a string field would
# turn invalid UTF-8 into U+FFFD (two such passwords would count as the same). The wire is the same.
# User and role names stay strings that keep such bytes (raw-strings.js).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/proto"
cp -r ./* "$tmp/proto/"
ln -s "$PWD/../node_modules" "$tmp/node_modules"
edited=0
for f in "$tmp"/proto/etcdserverpb/rpc.proto "$tmp"/proto/etcdserverpb/raft_internal.proto; do
  n=$(grep -c '^  string password = 2;$' "$f")
  edited=$((edited + n))
  sed -i 's/^  string password = 2;$/  bytes password = 2;/' "$f"
done
if [ "$edited" -ne 4 ]; then
  echo "expected 4 password fields to carry as bytes, found $edited" >&2
  exit 1
fi
(cd "$tmp/proto" && ../node_modules/.bin/buf generate)
rm -rf ../src/gen
mv "$tmp/src/gen" ../src/gen
node shared-empty-bytes.js ../src/gen
node int64-as-number.js ../src/gen
node raw-strings.js ../src/gen
