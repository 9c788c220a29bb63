#!/usr/bin/env bash
# The resource generator must not rot: on a throw-away copy of the workspace,
# scaffold one resource of each flavour, then lint the copy and run its tests of
# what was generated and of the lists every table and route must join.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
copy="$(mktemp -d /tmp/strata-scaffold.XXXXXX)"
trap 'rm -rf "$copy"' EXIT
cd "$root"
git ls-files -z --cached --others --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$copy"
cd "$copy"
cargo xtask scaffold bookmarks title:string url:string starred:bool price:money? due:timestamp? ref_id:uuid? --owned
cargo xtask scaffold tags name:string note:text? weight:int? --public-read
cargo xtask scaffold ratings score:int verified:bool? rated_at:timestamp
# It refuses to overwrite, and then changes nothing.
before="$(cat crates/http/src/lib.rs)"
if cargo xtask scaffold ratings score:int 2>/dev/null; then
  echo "scaffold overwrote an existing resource" >&2
  exit 1
fi
[ "$before" = "$(cat crates/http/src/lib.rs)" ]
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test -p strata-domain -p strata-service -p strata-http --lib -- bookmarks tags ratings
cargo test -p strata-http --test bookmarks --test tags --test ratings --test openapi
cargo test -p strata-migration
cargo test -p strata-repository --test repository -- bookmarks tags ratings
cargo test -p strata-tests --test bookmarks --test tags --test ratings --test layers --test modules --test write_path
echo "scaffold-check: three generated resources pass their tests"
