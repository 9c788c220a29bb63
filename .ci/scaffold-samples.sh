#!/usr/bin/env bash
# Generates one resource of each flavour into the workspace it is run in (cargo
# xtask scaffold), covering every field type, optional fields and a resource with
# no text to search, then checks that the generator refuses to overwrite and then
# changes nothing. Used by .ci/run (in CI's fresh clone) and .ci/scaffold-check.sh
# (on a copy).
#
# `scaffold-samples.sh undo` removes exactly what it generated and reverts the
# registrations (tracked files must have had no changes of their own).
set -euo pipefail
if [ "${1:-}" = undo ]; then
  git checkout -q -- .
  for p in bookmarks labels ratings; do
    git clean -fq -- "migrations/src/m*_create_$p.rs" "crates/*/src/$p.rs" \
      "crates/repository/src/entities/$p.rs" "crates/repository/tests/repository/$p.rs" \
      "crates/http/tests/$p.rs" "tests/tests/$p.rs"
  done
  exit 0
fi
cargo xtask scaffold bookmarks title:string url:string starred:bool price:money? due:timestamp? ref_id:uuid? --owned
cargo xtask scaffold labels name:string note:text? weight:int? --public-read
cargo xtask scaffold ratings score:int verified:bool? rated_at:timestamp
before="$(git status --porcelain; cat crates/http/src/lib.rs)"
if cargo xtask scaffold ratings score:int 2>/dev/null; then
  echo "scaffold overwrote an existing resource" >&2
  exit 1
fi
[ "$before" = "$(git status --porcelain; cat crates/http/src/lib.rs)" ]
