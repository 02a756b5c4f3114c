#!/usr/bin/env bash
# Re-vendor the third-party browser assets served from static/vendor/.
#
# The app never needs npm at run or test time: the files this script writes
# are committed. Run it only to reproduce or update the vendored copies:
#
#     scripts/vendor-assets.sh          # from anywhere inside the repo
#
# To update a package: change its version AND its integrity below (take the
# value from `npm view <pkg>@<version> dist.integrity`), run the script,
# check `git diff --stat static/vendor`, and update docs/vendored-assets.md.
set -euo pipefail

# name|version|npm dist.integrity (checked against the downloaded tarball)
PACKAGES=(
  "swagger-ui-dist|5.35.0|sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
  "leaflet|1.9.4|sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
  "jsqr|1.4.0|sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A=="
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/static/vendor"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# fetch NAME VERSION INTEGRITY -> unpacks into $TMP/NAME/package
fetch() {
  local name="$1" version="$2" integrity="$3" tgz actual
  mkdir -p "$TMP/$name"
  tgz="$(cd "$TMP/$name" && npm pack --silent "$name@$version" | tail -n1)"
  actual="sha512-$(openssl dgst -sha512 -binary "$TMP/$name/$tgz" | base64 -w0)"
  if [[ "$actual" != "$integrity" ]]; then
    echo "integrity mismatch for $name@$version: got $actual" >&2
    exit 1
  fi
  tar -xzf "$TMP/$name/$tgz" -C "$TMP/$name"
}

# install SRC_DIR DEST_DIR FILE... : copy listed files (paths relative to SRC)
install_files() {
  local src="$1" dest="$2" f
  shift 2
  for f in "$@"; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$src/$f" "$dest/$f"
  done
}

for entry in "${PACKAGES[@]}"; do
  IFS='|' read -r name version integrity <<<"$entry"
  echo "vendoring $name@$version"
  fetch "$name" "$version" "$integrity"
  pkg="$TMP/$name/package"

  case "$name" in
    swagger-ui-dist)
      # Flat layout: flask-smorest's OPENAPI_SWAGGER_UI_URL is a base URL under
      # which it expects exactly these file names.
      dest="$VENDOR/swagger-ui"
      rm -rf "$dest"
      install_files "$pkg" "$dest" \
        swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
        swagger-ui-standalone-preset.js swagger-ui-standalone-preset.js.LICENSE.txt \
        swagger-ui.css favicon-16x16.png favicon-32x32.png \
        LICENSE NOTICE
      ;;
    leaflet)
      dest="$VENDOR/leaflet"
      rm -rf "$dest"
      install_files "$pkg/dist" "$dest" leaflet.js leaflet.css
      mkdir -p "$dest/images"
      cp "$pkg/dist/images/"*.png "$dest/images/"
      install_files "$pkg" "$dest" LICENSE
      ;;
    jsqr)
      dest="$VENDOR/jsqr"
      rm -rf "$dest"
      # dist/jsQR.js is the UMD browser build (defines window.jsQR).
      install_files "$pkg/dist" "$dest" jsQR.js
      install_files "$pkg" "$dest" LICENSE
      ;;
    *)
      echo "no install rule for $name" >&2
      exit 1
      ;;
  esac

  license="$(node -p "require('$pkg/package.json').license")"
  echo "$name@$version ($license) from the npm registry" >"$dest/VERSION"
done

echo "done; static/vendor is now $(du -sh "$VENDOR" | cut -f1)"
