// An MCP client of the official TypeScript SDK acting for a user: the
// authorization code flow with PKCE and resource indicators, the user's
// login and consent driven at the provider's development pages as a browser
// would, and a step-up when a tool answers 403 insufficient_scope (the SDK
// asks for the scopes the challenge names).
//
// Arguments: MCP_URL USER [ISSUER]
// With ISSUER, the user then logs out at the provider (RP-initiated logout,
// which sends the back-channel logout tokens) and the last access token is
// presented once more.
// Prints one JSON line: {tools, whoami, admin, scopes, aud, afterLogout?, requests}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const [url, user, issuer] = process.argv.slice(2);
const redirectUri = "http://127.0.0.1/cb";
const requests = [];
const jar = new Map();
async function go(target, init = {}) {
  const res = await fetch(target, {
    ...init,
    redirect: "manual",
    headers: { ...(init.headers ?? {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
  });
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
  }
  return res;
}

// The browser's part: from the authorization URL to the code.
async function logIn(authorizationUrl) {
  let res = await go(authorizationUrl);
  for (let step = 0; step < 10; step++) {
    const location = res.headers.get("location");
    if (!location) throw new Error(`no redirect at step ${step}: ${res.status} ${await res.text()}`);
    const next = new URL(location, authorizationUrl);
    if (next.origin + next.pathname === redirectUri) {
      const code = next.searchParams.get("code");
      if (!code) throw new Error(`no code: ${location}`);
      return code;
    }
    if (/^\/interaction\/[^/]+$/.test(next.pathname)) {
      const html = await (await go(next)).text();
      const prompt = html.includes('name="prompt" value="login"') ? "login" : "consent";
      const body = new URLSearchParams({ prompt });
      if (prompt === "login") {
        body.set("login", user);
        body.set("password", "any");
      }
      res = await go(next, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: body.toString(),
      });
    } else {
      res = await go(next);
    }
  }
  throw new Error("the login did not end with a code");
}

let pendingCode;
const store = {};
const authProvider = {
  get redirectUrl() { return redirectUri; },
  get clientMetadata() {
    return { client_name: "tests", redirect_uris: [redirectUri], grant_types: ["authorization_code", "refresh_token"], response_types: ["code"], token_endpoint_auth_method: "none" };
  },
  clientInformation: () => ({ client_id: "mcp-client" }),
  tokens: () => store.tokens,
  saveTokens: (t) => { store.tokens = t; },
  codeVerifier: () => store.verifier,
  saveCodeVerifier: (v) => { store.verifier = v; },
  redirectToAuthorization: async (u) => { pendingCode = await logIn(u); },
};

const countingFetch = async (input, init) => {
  const res = await fetch(input, init);
  requests.push({ method: init?.method ?? "GET", url: String(input), status: res.status, www: res.headers.get("www-authenticate") ?? undefined });
  return res;
};
const transport = () => new StreamableHTTPClientTransport(new URL(url), { authProvider, fetch: countingFetch });

const newClient = () => new Client({ name: "tower-jwt-session-tests", version: "1.0.0" });
const out = {};
let client = newClient();
try {
  let t = transport();
  try {
    await client.connect(t);
  } catch (e) {
    // The first 401: the SDK found the provider and sent the user to log in.
    if (!(e instanceof UnauthorizedError) || !pendingCode) throw e;
    await t.finishAuth(pendingCode);
    pendingCode = undefined;
    client = newClient();
    t = transport();
    await client.connect(t);
  }
  out.tools = (await client.listTools()).tools.map((x) => x.name);
  out.whoami = (await client.callTool({ name: "whoami", arguments: {} })).content[0].text;
  const echo = () => client.callTool({ name: "admin_echo", arguments: { text: "step up" } });
  let admin;
  try {
    admin = await echo();
  } catch (e) {
    // The 403 scope challenge: the SDK asked the user for the larger scope.
    if (!(e instanceof UnauthorizedError) || !pendingCode) throw e;
    await t.finishAuth(pendingCode);
    pendingCode = undefined;
    admin = await echo();
  }
  out.admin = admin.content[0].text;
  const payload = JSON.parse(Buffer.from(store.tokens.access_token.split(".")[1], "base64url"));
  out.scopes = payload.scope;
  out.aud = payload.aud;
  if (issuer) {
    const end = new URL(`${issuer}/session/end`);
    end.search = new URLSearchParams({ client_id: "mcp-client" }).toString();
    const page = await (await go(end)).text();
    const xsrf = page.match(/name="xsrf" value="([^"]+)"/)?.[1];
    if (!xsrf) throw new Error(`no logout form: ${page.slice(0, 200)}`);
    const done = await go(`${issuer}/session/end/confirm`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ xsrf, logout: "yes" }).toString(),
    });
    if (done.status >= 400) throw new Error(`logout: ${done.status}`);
    const res = await fetch(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${store.tokens.access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "tools/list" }),
    });
    out.afterLogout = { status: res.status, www: res.headers.get("www-authenticate") };
  }
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  out.requests = requests;
  await client.close().catch(() => {});
}
console.log(JSON.stringify(out));
