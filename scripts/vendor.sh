#!/usr/bin/env bash
# Copy the pinned front-end libraries from node_modules/ (installed by `npm ci`, which checks
# every package against the integrity hashes in package-lock.json) into static/vendor/.
# The pages load them from there: the browser never fetches anything from off the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf static/vendor
mkdir -p static/vendor
# The graph page (templates/topology/graph.html) and its layout worker:
# Cytoscape.js, ELK's layered layout (its API, and the layout itself as a Web Worker script),
# the dagre layered layout (dagre bundled), fCoSE with its two base libraries, uPlot.
files=(
  node_modules/cytoscape/dist/cytoscape.min.js
  node_modules/elkjs/lib/elk-api.js
  node_modules/elkjs/lib/elk-worker.min.js
  node_modules/cytoscape-dagre/dist/cytoscape-dagre.min.js
  node_modules/layout-base/layout-base.js
  node_modules/cose-base/cose-base.js
  node_modules/cytoscape-fcose/cytoscape-fcose.js
  node_modules/uplot/dist/uPlot.iife.min.js
  node_modules/uplot/dist/uPlot.min.css
)
for file in "${files[@]}"; do
  if [ ! -f "$file" ]; then
    echo "vendor.sh: $file is missing: run 'npm ci' first" >&2
    exit 1
  fi
  cp "$file" static/vendor/
done
# Their licences travel with them.
for pkg in cytoscape cytoscape-dagre layout-base cose-base cytoscape-fcose uplot; do
  cp "node_modules/$pkg/LICENSE" "static/vendor/LICENSE.$pkg"
done
cp node_modules/elkjs/LICENSE.md static/vendor/LICENSE.elkjs
echo "static/vendor ready"
