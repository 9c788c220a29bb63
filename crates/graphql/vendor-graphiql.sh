#!/usr/bin/env bash
# Refreshes crates/graphql/assets/ from the npm registry: GraphiQL's UMD build
# and the React it runs on, gzipped, so the binary serves GraphiQL without a
# CDN (docs/graphql.md). Run by hand when upgrading; the build never downloads.
# npm verifies each tarball against the registry's integrity hash.
set -euo pipefail
cd "$(dirname "$0")"
GRAPHIQL=3.8.3 # the last major with a UMD build (4 and later are ES modules only)
REACT=18.3.1   # GraphiQL 3's peer
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" >/dev/null)
for pkg in "graphiql-$GRAPHIQL" "react-$REACT" "react-dom-$REACT"; do
  mkdir -p "$work/$pkg" && tar xzf "$work/$pkg.tgz" -C "$work/$pkg"
done
gzip -9nc "$work/graphiql-$GRAPHIQL/package/graphiql.min.js" > assets/graphiql.min.js.gz
gzip -9nc "$work/graphiql-$GRAPHIQL/package/graphiql.min.css" > assets/graphiql.min.css.gz
gzip -9nc "$work/react-$REACT/package/umd/react.production.min.js" > assets/react.production.min.js.gz
gzip -9nc "$work/react-dom-$REACT/package/umd/react-dom.production.min.js" > assets/react-dom.production.min.js.gz
cp "$work/graphiql-$GRAPHIQL/package/LICENSE" assets/LICENSE-graphiql
cp "$work/react-$REACT/package/LICENSE" assets/LICENSE-react
printf 'graphiql %s\nreact %s\nreact-dom %s\n' "$GRAPHIQL" "$REACT" "$REACT" > assets/VERSIONS
