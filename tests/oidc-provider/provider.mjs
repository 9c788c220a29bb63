// The OpenID provider of the end-to-end tests: oauth2-mock-server 8 (a real
// HTTP server: discovery, JWKS, /authorize with PKCE and nonce, /token), on
// loopback, with hooks that let each test choose, per authorization, who
// signs in and which attack the ID token carries. The test appends these to
// the authorization URL Strata redirects to (the provider ignores unknown
// parameters; Strata never sees them):
//
//   test_sub, test_email, test_email_verified ("true"/"false"/"absent")
//   test_scenario: wrong_nonce | expired | alg_none | hs256 | wrong_audience
//                  | deny (the user declines: error=access_denied)
//
// The choice is kept per authorization code, so tests running in parallel
// do not see each other's. Usage: node provider.mjs HOST PORT; prints
// "ready ISSUER" once it listens.

import { createHmac } from "node:crypto";
import { OAuth2Server } from "oauth2-mock-server";

const [host = "127.0.0.1", port = "9400"] = process.argv.slice(2);
const byCode = new Map();

const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");

const b64url = (value) => Buffer.from(value).toString("base64url");
const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString());

server.service.on("beforeAuthorizeRedirect", (redirect, req) => {
  const q = req.query;
  const code = redirect.url.searchParams.get("code");
  if (!code) return;
  if (q.test_scenario === "deny") {
    redirect.url.searchParams.delete("code");
    redirect.url.searchParams.set("error", "access_denied");
    return;
  }
  byCode.set(code, {
    sub: q.test_sub,
    email: q.test_email,
    emailVerified: q.test_email_verified,
    scenario: q.test_scenario,
  });
});

server.service.on("beforeTokenSigning", (token, req) => {
  const chosen = byCode.get(req.body?.code);
  if (!chosen) return;
  const claims = token.payload;
  if (chosen.sub) claims.sub = chosen.sub;
  if (chosen.email) claims.email = chosen.email;
  if (chosen.emailVerified === "true") claims.email_verified = true;
  if (chosen.emailVerified === "false") claims.email_verified = false;
  const now = Math.floor(Date.now() / 1000);
  switch (chosen.scenario) {
    case "wrong_nonce":
      claims.nonce = "not-the-nonce-strata-sent";
      break;
    case "expired":
      claims.iat = now - 7200;
      claims.nbf = now - 7200;
      claims.exp = now - 3600;
      break;
    case "wrong_audience":
      claims.aud = "another-client";
      break;
  }
});

server.service.on("beforeResponse", (response, req) => {
  const code = req.body?.code;
  const chosen = byCode.get(code);
  byCode.delete(code);
  const idToken = response.body?.id_token;
  if (!chosen || !idToken) return;
  const [header, payload] = idToken.split(".");
  const claims = decode(payload);
  if (chosen.scenario === "alg_none") {
    const none = { alg: "none", typ: "JWT", kid: decode(header).kid };
    response.body.id_token = `${b64url(JSON.stringify(none))}.${b64url(JSON.stringify(claims))}.`;
  } else if (chosen.scenario === "hs256") {
    // Keyed with the client secret, which the relying party knows too.
    const hs = { alg: "HS256", typ: "JWT", kid: decode(header).kid };
    const input = `${b64url(JSON.stringify(hs))}.${b64url(JSON.stringify(claims))}`;
    const mac = createHmac("sha256", "strata-test-secret").update(input).digest("base64url");
    response.body.id_token = `${input}.${mac}`;
  }
});

// Named by the address it listens on, not "localhost" (which may resolve
// to ::1 first).
server.issuer.url = `http://${host}:${port}`;
await server.start(Number(port), host);
console.log(`ready ${server.issuer.url}`);

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
