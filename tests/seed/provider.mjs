// A real OpenID Connect provider for the tests: panva's oidc-provider (the
// certified Node.js implementation) on loopback, issuing RFC 9068 JWT access
// tokens.
//
// Environment:
//   PORT       the port to listen on (0: any free one)
//   AUDIENCE   the `aud` of the access tokens (the API's audience); `resource`:
//              the resource the client asked for (RFC 8707), and the scope
//              `mcp:tools` on top (an MCP server as the protected resource)
//   OPAQUE     `1`: opaque access tokens (checked by introspection), the
//              introspection and revocation endpoints on, and two clients for
//              resource servers: `rs-basic` (secret "secret",
//              client_secret_basic) and `rs-pkjwt` (private_key_jwt, its
//              public key the JWK in RS_JWK)
//   BACKCHANNEL_URI  when set: Back-Channel Logout on, every client
//              registered with this `backchannel_logout_uri` (logout tokens
//              carry `sub`; `sid` too with BACKCHANNEL_SID=1)
//
// Clients (secret "secret" each, client_secret_basic), one per signing
// algorithm of the access tokens: `cc-es256`, `cc-rs256`, `cc-eddsa` (client
// credentials and authorization code). Scopes: `api:read admin`. Access
// tokens also carry `email`, `roles` and `realm_access.roles` for users.
//
// Prints `listening on http://127.0.0.1:PORT` once it accepts connections.
import { createHash, generateKeyPairSync } from "node:crypto";
import http from "node:http";
import Provider from "oidc-provider";

const port = Number(process.env.PORT ?? 0);
const audience = process.env.AUDIENCE ?? "atomic-crm-api";
const backchannel = process.env.BACKCHANNEL_URI;
const forResource = audience === "resource";
const opaque = process.env.OPAQUE === "1";
const apiScopes = forResource ? "api:read admin mcp:tools" : "api:read admin";

// Fresh keys at every start: a restart is a key rotation.
function key(make) {
  const jwk = make().export({ format: "jwk" });
  const kid = createHash("sha256").update(jwk.x ?? jwk.n).digest("base64url").slice(0, 16);
  return { ...jwk, kid };
}
const es256 = key(() => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey);
const rs256 = key(() => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
const eddsa = key(() => generateKeyPairSync("ed25519").privateKey);

const algOf = { "cc-es256": "ES256", "cc-rs256": "RS256", "cc-eddsa": "EdDSA" };
const client = (client_id) => ({
  client_id,
  client_secret: "secret",
  grant_types: ["client_credentials", "authorization_code"],
  response_types: ["code"],
  redirect_uris: ["http://127.0.0.1/cb"],
  token_endpoint_auth_method: "client_secret_basic",
  scope: `openid email ${apiScopes}`,
  ...(backchannel
    ? {
        backchannel_logout_uri: backchannel,
        backchannel_logout_session_required: process.env.BACKCHANNEL_SID === "1",
      }
    : {}),
});

const server = http.createServer();
server.listen(port, "127.0.0.1", () => {
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;
  const oidc = new Provider(issuer, {
    clients: [
      ...Object.keys(algOf).map(client),
      // A public client for MCP clients (authorization code with PKCE).
      ...(forResource
        ? [{
            client_id: "mcp-client",
            token_endpoint_auth_method: "none",
            grant_types: ["authorization_code"],
            response_types: ["code"],
            redirect_uris: ["http://127.0.0.1/cb"],
            scope: `openid ${apiScopes}`,
            ...(backchannel ? { backchannel_logout_uri: backchannel } : {}),
          }]
        : []),
      // Resource servers, which introspect the opaque tokens.
      ...(opaque
        ? [
            {
              client_id: "rs-basic",
              client_secret: "secret",
              grant_types: [],
              response_types: [],
              redirect_uris: [],
              token_endpoint_auth_method: "client_secret_basic",
            },
            {
              client_id: "rs-pkjwt",
              grant_types: [],
              response_types: [],
              redirect_uris: [],
              token_endpoint_auth_method: "private_key_jwt",
              token_endpoint_auth_signing_alg: "ES256",
              jwks: { keys: process.env.RS_JWK ? [JSON.parse(process.env.RS_JWK)] : [] },
            },
          ]
        : []),
    ],
    jwks: { keys: [es256, rs256, eddsa] },
    enabledJWA: {
      idTokenSigningAlgValues: ["ES256", "RS256", "EdDSA"],
    },
    scopes: ["openid", "email", ...apiScopes.split(" ")],
    claims: { openid: ["sub"], email: ["email"] },
    pkce: { required: () => false },
    // Its outgoing requests (back-channel logout) refuse special-use
    // addresses as SSRF protection; every server of the tests is on
    // loopback, so the protecting dispatcher is left out here.
    fetch: (url, options) => {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, email: `${sub}@example.com` }),
    }),
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: Boolean(backchannel) },
      introspection: { enabled: opaque },
      revocation: { enabled: opaque },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => "urn:test:api",
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => ({
          scope: apiScopes,
          audience: forResource ? resource : audience,
          accessTokenFormat: opaque ? "opaque" : "jwt",
          accessTokenTTL: 600,
          jwt: { sign: { alg: algOf[client.clientId] ?? "ES256" } },
        }),
      },
    },
    extraTokenClaims: (_ctx, token) =>
      token.accountId
        ? {
            email: `${token.accountId}@example.com`,
            roles: ["user"],
            realm_access: { roles: ["realm-admin"] },
          }
        : undefined,
  });
  oidc.proxy = false;
  oidc.on("backchannel.error", (_ctx, err, client) =>
    console.error(`back-channel logout to ${client.clientId} failed: ${err.message}`));
  server.on("request", oidc.callback());
  console.log(`listening on ${issuer}`);
  // The tests read that one line, then close the pipe: the provider's own
  // notices (its development interactions log to console.log) go to
  // stderr from here on.
  process.stdout.on("error", () => {});
  console.log = console.info = (...args) => console.error(...args);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
