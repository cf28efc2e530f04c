#!/usr/bin/env bash
# Regenerates the Swift client (Clients/OpplyClient) from the server's contract:
#
#   scripts/generate-client.sh [OUTPUT_DIR]   # default Clients/OpplyClient/Sources/OpplyClient/Generated
#
# Builds swift-openapi-generator at the version pinned in Clients/generator/Package.swift (its own
# .build there), then writes Types.swift and Client.swift with the settings in
# Clients/OpplyClient/openapi-generator-config.yaml. Commit what it writes; .ci/run fails when the
# committed files differ from a fresh generation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=${1:-Clients/OpplyClient/Sources/OpplyClient/Generated}
echo "==> Building swift-openapi-generator"
swift build --package-path Clients/generator --product swift-openapi-generator
generator="$(swift build --package-path Clients/generator --show-bin-path)/swift-openapi-generator"
mkdir -p "$OUT"
echo "==> Generating the client into $OUT"
"$generator" generate Sources/OpplyServer/Resources/openapi.yaml \
  --config Clients/OpplyClient/openapi-generator-config.yaml \
  --output-directory "$OUT"
