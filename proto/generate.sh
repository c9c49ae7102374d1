#!/usr/bin/env bash
# Regenerates src/gen from the .proto files in this folder (the generated code is committed).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf ../src/gen
../node_modules/.bin/buf generate
node shared-empty-bytes.js ../src/gen
