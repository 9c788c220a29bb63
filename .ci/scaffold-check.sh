#!/usr/bin/env bash
# `make scaffold-check`: what CI does with the generator, on a throw-away copy of
# the workspace (so a working tree with changes of its own is left alone): one
# resource of each flavour generated, then the copy's fmt, clippy, and tests of
# what was generated and of the lists every table and route must join.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
copy="$(mktemp -d /tmp/strata-scaffold.XXXXXX)"
trap 'rm -rf "$copy"' EXIT
cd "$root"
git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$copy"
cd "$copy"
git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm copy
bash .ci/scaffold-samples.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test -p strata-domain -p strata-service -p strata-http --lib -- bookmarks labels ratings
cargo test -p strata-http --test bookmarks --test labels --test ratings --test openapi
cargo test -p strata-migration
cargo test -p strata-repository --test repository -- bookmarks labels ratings
cargo test -p strata-tests --test bookmarks --test labels --test ratings --test layers --test modules --test write_path
echo "scaffold-check: three generated resources pass their tests"
