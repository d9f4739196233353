// A DPoP client as an application writes it with jose: one key pair, a
// fresh proof per request. Reads a JSON array on stdin, one run per element:
//   { "alg": "ES256" | "EdDSA", "server": "http://127.0.0.1:PORT",
//     "provider": optional { "issuer": "...", "client": "cc-es256" } }
// Without `provider` the token comes from the server's own `POST /login`
// (bound by a proof); with it, from oidc-provider's token endpoint by the
// client credentials grant, bound by a proof there (its DPoP feature).
// Then: `GET /me` with a proof, the same proof again, the token as Bearer,
// a proof by another key, and (own tokens) `POST /refresh` with a proof.
// Prints a JSON array, one object per run: each step's status, the token
// types.
import { SignJWT, exportJWK, generateKeyPair, base64url, decodeJwt } from "jose";

const runs = JSON.parse(await new Promise((resolve) => {
  let s = "";
  process.stdin.on("data", (d) => (s += d));
  process.stdin.on("end", () => resolve(s));
}));
const results = [];
for (const run of runs) results.push(await client(run));
console.log(JSON.stringify(results));

async function client({ alg, server, provider }) {
  const sha256 = async (s) =>
    base64url.encode(new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))));

  async function dpopKey() {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const jwk = await exportJWK(publicKey);
    const proof = async (htm, htu, token) =>
      new SignJWT({ htm, htu, jti: crypto.randomUUID(), ...(token && { ath: await sha256(token) }) })
        .setProtectedHeader({ typ: "dpop+jwt", alg, jwk })
        .setIssuedAt()
        .sign(privateKey);
    return { jwk, proof };
  }

  const key = await dpopKey();
  const other = await dpopKey();
  const out = {};

  let token;
  if (provider) {
    const tokenUrl = `${provider.issuer}/token`;
    const r = await fetch(tokenUrl, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${provider.client}:secret`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded",
        dpop: await key.proof("POST", tokenUrl),
      },
      body: "grant_type=client_credentials&resource=urn%3Atest%3Aapi&scope=api%3Aread",
    });
    const body = await r.json();
    out.issued = r.status;
    out.tokenType = body.token_type;
    token = body.access_token;
  } else {
    const r = await fetch(`${server}/login`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        dpop: await key.proof("POST", `${server}/login`),
      },
      body: JSON.stringify({ email: "admin@example.com", password: "admin-password" }),
    });
    const body = await r.json();
    out.issued = r.status;
    out.tokenType = body.tokenType;
    token = body.token;
  }
  out.bound = Boolean(token && decodeJwt(token).cnf?.jkt);

  const me = `${server}/me`;
  const get = async (authorization, proof) =>
    (await fetch(me, { headers: { authorization, ...(proof && { dpop: proof }) } })).status;

  const proof = await key.proof("GET", me, token);
  out.me = await get(`DPoP ${token}`, proof);
  out.replayed = await get(`DPoP ${token}`, proof);
  out.asBearer = await get(`Bearer ${token}`);
  out.otherKey = await get(`DPoP ${token}`, await other.proof("GET", me, token));
  out.noAth = await get(`DPoP ${token}`, await key.proof("GET", me));
  out.again = await get(`DPoP ${token}`, await key.proof("GET", me, token));

  if (!provider) {
    const refresh = `${server}/refresh`;
    const r = await fetch(refresh, {
      method: "POST",
      headers: { authorization: `DPoP ${token}`, dpop: await key.proof("POST", refresh, token) },
    });
    const body = await r.json();
    out.refreshed = r.status;
    out.refreshedType = body.tokenType;
    out.afterRefresh = await get(`DPoP ${body.token}`, await key.proof("GET", me, body.token));
  }

  return out;
}
