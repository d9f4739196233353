// A JWKS server run by jose's own keys: generates one key pair per
// algorithm, serves their public JWKs (with kid, alg and use) at
// /jwks.json on 127.0.0.1 (a free port), mints one token per algorithm
// with jose, prints {"url", "tokens": {alg: token}} on one line, and serves
// until stdin closes. Argument: the JSON claims to sign (iss and aud
// included).
import { createServer } from "node:http";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

const claims = JSON.parse(process.argv[2]);
const algorithms = ["RS256", "PS256", "ES256", "ES384", "EdDSA"];
const keys = [];
const tokens = {};
for (const alg of algorithms) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `jose-${alg}`;
  keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: "sig" });
  const now = Math.floor(Date.now() / 1000);
  tokens[alg] = await new SignJWT(claims)
    .setProtectedHeader({ alg, kid, typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .setSubject(claims.userId)
    .sign(privateKey);
}
const body = JSON.stringify({ keys });
const server = createServer((req, res) => {
  if (req.url === "/jwks.json") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}/jwks.json`, tokens }) + "\n");
});
process.stdin.resume();
process.stdin.on("end", () => server.close(() => process.exit(0)));
