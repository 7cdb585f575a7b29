#!/usr/bin/env bash
# Copy the pinned front-end libraries from node_modules/ (installed by `npm ci`, which checks
# every package against the integrity hashes in package-lock.json) into static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf static/vendor
mkdir -p static/vendor
# Libraries are added here as pages need them (the live graph brings Cytoscape.js and uPlot).
echo "static/vendor ready"
