#!/bin/sh
# Re-create static/vendor/ from the npm registry, at the exact versions pinned in package.json
# (package-lock.json pins the whole tree). The copied files are committed, so the site never
# fetches anything at run time and needs no node at all; run this only to upgrade a library.
#
#   sh scripts/vendor.sh            # npm ci, copy, print the versions and sizes
#
# Files are copied byte for byte; the source maps that the minified Bootstrap files name are
# copied too, because collectstatic's manifest storage rewrites (and so requires) every
# sourceMappingURL it finds.
set -eu
cd "$(dirname "$0")/.."

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --ignore-scripts; else npm install --no-audit --no-fund --ignore-scripts; fi

NM=node_modules
OUT=static/vendor
rm -rf "$OUT"
mkdir -p "$OUT/bootstrap" "$OUT/lightweight-charts" "$OUT/echarts"

for f in bootstrap.min.css bootstrap.min.css.map; do cp "$NM/bootstrap/dist/css/$f" "$OUT/bootstrap/$f"; done
for f in bootstrap.bundle.min.js bootstrap.bundle.min.js.map; do cp "$NM/bootstrap/dist/js/$f" "$OUT/bootstrap/$f"; done
cp "$NM/bootstrap/LICENSE" "$OUT/bootstrap/LICENSE"

# The standalone ES module bundles its one dependency (fancy-canvas): imported by static/app/charts.js.
cp "$NM/lightweight-charts/dist/lightweight-charts.standalone.production.mjs" "$OUT/lightweight-charts/"
cp "$NM/lightweight-charts/LICENSE" "$OUT/lightweight-charts/LICENSE"

# The minified ES module of the full build (zrender included, no source map named): imported by static/app/sweep*.js.
cp "$NM/echarts/dist/echarts.esm.min.mjs" "$OUT/echarts/"
cp "$NM/echarts/LICENSE" "$NM/echarts/NOTICE" "$OUT/echarts/"

bs=$(node -p "require('./$NM/bootstrap/package.json').version")
lw=$(node -p "require('./$NM/lightweight-charts/package.json').version")
ec=$(node -p "require('./$NM/echarts/package.json').version")
# axe-core is for the browser tests only (the accessibility check of every page): it goes beside
# them, not into static/, so the site never serves it.
mkdir -p tests/browser/vendor
cp "$NM/axe-core/axe.min.js" tests/browser/vendor/axe.min.js
cp "$NM/axe-core/LICENSE" tests/browser/vendor/axe-core-LICENSE

bs=$(node -p "require('./$NM/bootstrap/package.json').version")
lw=$(node -p "require('./$NM/lightweight-charts/package.json').version")
axe=$(node -p "require('./$NM/axe-core/package.json').version")
cat > "$OUT/VERSIONS.txt" <<TXT
Vendored by scripts/vendor.sh from the npm registry; do not edit these files by hand.
bootstrap $bs (MIT): dist/css/bootstrap.min.css, dist/js/bootstrap.bundle.min.js (Popper included), their source maps
lightweight-charts $lw (Apache-2.0, TradingView): dist/lightweight-charts.standalone.production.mjs (fancy-canvas included)
echarts $ec (Apache-2.0, Apache ECharts): dist/echarts.esm.min.mjs (zrender included)
axe-core $axe (MPL-2.0, Deque): axe.min.js, copied to tests/browser/vendor/ for the browser tests only
TXT
cat "$OUT/VERSIONS.txt"
ls -l "$OUT"/*/
