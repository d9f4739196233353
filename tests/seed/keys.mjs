// Asymmetric interoperability with jose, an independent implementation.
// Reads a JSON array of requests on stdin, writes a JSON array of answers:
//   {"op":"verify","algorithm","publicKey","issuer","audience","token"} -> {"payload","header"} | {"error"}
//   {"op":"mint","algorithm","privateKey","issuer","audience","claims"} -> {"token"}
//   {"op":"thumbprint","algorithm","publicKey"} -> {"thumbprint"}
//   {"op":"verify_jwk","algorithm","jwk","issuer","audience","token"} -> like verify, with the key from a JWK
//   {"op":"verify_remote","algorithm","url","issuer","audience","token"} -> like verify, with createRemoteJWKSet(url)
import { SignJWT, calculateJwkThumbprint, createRemoteJWKSet, exportJWK, importJWK, importPKCS8, importSPKI, jwtVerify } from "jose";

async function answer(req) {
  if (req.op === "verify" || req.op === "verify_jwk" || req.op === "verify_remote") {
    const key = req.op === "verify"
      ? await importSPKI(req.publicKey, req.algorithm)
      : req.op === "verify_jwk"
        ? await importJWK(req.jwk, req.algorithm)
        : createRemoteJWKSet(new URL(req.url));
    try {
      const { payload, protectedHeader } = await jwtVerify(req.token, key, {
        algorithms: [req.algorithm],
        issuer: req.issuer,
        audience: req.audience,
      });
      return { payload, header: protectedHeader };
    } catch (error) {
      return { error: `${error.name}: ${error.message}` };
    }
  }
  if (req.op === "mint") {
    const key = await importPKCS8(req.privateKey, req.algorithm);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT(req.claims)
      .setProtectedHeader({ alg: req.algorithm })
      .setIssuedAt(now)
      .setIssuer(req.issuer)
      .setAudience(req.audience)
      .setExpirationTime(now + 600)
      .setSubject(req.claims.userId)
      .sign(key);
    return { token };
  }
  if (req.op === "thumbprint") {
    const key = await importSPKI(req.publicKey, req.algorithm, { extractable: true });
    return { thumbprint: await calculateJwkThumbprint(await exportJWK(key)) };
  }
  return { error: `unknown op ${req.op}` };
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const answers = [];
for (const req of JSON.parse(input)) answers.push(await answer(req));
process.stdout.write(JSON.stringify(answers));
