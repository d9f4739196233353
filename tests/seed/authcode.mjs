// A user logging in at provider.mjs with the authorization code flow, as a
// browser would: /auth, the provider's login and consent pages (its
// development interactions: any login name is accepted), the redirect with
// the code, then the token endpoint.
//
// Reads one JSON request as the first line of stdin:
//   {"issuer", "client", "user", "scope", "logout"?}
// and writes {"access_token", "id_token"} as one line on stdout. With
// "logout": true it then waits for a second line on stdin and logs the user
// out at the provider (RP-initiated logout: the confirmation form), which
// sends the back-channel logout tokens; then writes "logged out".
import readline from "node:readline";
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const input = JSON.parse((await lines.next()).value);

const jar = new Map();
function remember(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
  }
}
const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");

async function go(url, init = {}) {
  const res = await fetch(url, {
    ...init,
    redirect: "manual",
    headers: { ...(init.headers ?? {}), cookie: cookie() },
  });
  remember(res);
  return res;
}

const redirectUri = "http://127.0.0.1/cb";
const auth = new URL(`${input.issuer}/auth`);
auth.search = new URLSearchParams({
  client_id: input.client,
  response_type: "code",
  redirect_uri: redirectUri,
  scope: input.scope,
  resource: "urn:test:api",
  nonce: "n-" + Math.random().toString(36).slice(2),
  state: "s",
}).toString();

let res = await go(auth);
let code;
for (let step = 0; step < 10 && !code; step++) {
  const location = res.headers.get("location");
  if (!location) throw new Error(`no redirect at step ${step}: ${res.status} ${await res.text()}`);
  const next = new URL(location, input.issuer);
  if (next.origin + next.pathname === redirectUri) {
    code = next.searchParams.get("code");
    if (!code) throw new Error(`no code: ${location}`);
    break;
  }
  const interaction = next.pathname.match(/^\/interaction\/([^/]+)$/);
  if (interaction) {
    const page = await go(next);
    const html = await page.text();
    const prompt = html.includes('name="prompt" value="login"') ? "login" : "consent";
    const body = new URLSearchParams({ prompt });
    if (prompt === "login") {
      body.set("login", input.user);
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
if (!code) throw new Error("the flow did not end with a code");

const token = await fetch(`${input.issuer}/token`, {
  method: "POST",
  headers: {
    "content-type": "application/x-www-form-urlencoded",
    authorization: "Basic " + Buffer.from(`${input.client}:secret`).toString("base64"),
  },
  body: new URLSearchParams({
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    resource: "urn:test:api",
  }).toString(),
});
const json = await token.json();
if (!json.access_token) throw new Error(`token endpoint: ${JSON.stringify(json)}`);
process.stdout.write(JSON.stringify({
  access_token: json.access_token,
  id_token: json.id_token,
}) + "\n");

if (input.logout) {
  await lines.next();
  const end = new URL(`${input.issuer}/session/end`);
  end.search = new URLSearchParams({ id_token_hint: json.id_token, client_id: input.client }).toString();
  const page = await (await go(end)).text();
  const xsrf = page.match(/name="xsrf" value="([^"]+)"/)?.[1];
  if (!xsrf) throw new Error(`no logout form: ${page.slice(0, 200)}`);
  const done = await go(`${input.issuer}/session/end/confirm`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ xsrf, logout: "yes" }).toString(),
  });
  if (done.status >= 400) throw new Error(`logout: ${done.status}`);
  process.stdout.write("logged out\n");
}
process.exit(0);
