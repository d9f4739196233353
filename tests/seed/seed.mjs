// The TypeScript seed's createSession and verifySession (shared/seed/session.ts),
// line for line, on jose. Reads one JSON request on stdin, writes one JSON
// answer on stdout:
//   {"op":"verify","secret","issuer","audience","token"} -> {"session": SessionData | null, "error"?: string}
//   {"op":"mint","secret","issuer","audience","algorithm","expiresIn","data"} -> {"token"}
import { SignJWT, jwtVerify } from "jose";

async function createSession(config, data) {
  const secretKey = new TextEncoder().encode(config.secret);
  const now = Math.floor(Date.now() / 1000);
  const sessionData = { ...data, createdAt: now, expiresAt: now + config.expiresIn };
  return new SignJWT({ ...sessionData })
    .setProtectedHeader({ alg: config.algorithm })
    .setIssuedAt(now)
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setExpirationTime(now + config.expiresIn)
    .setSubject(data.userId)
    .sign(secretKey);
}

async function verifySession(config, token) {
  const secretKey = new TextEncoder().encode(config.secret);
  try {
    const { payload } = await jwtVerify(token, secretKey, {
      issuer: config.issuer,
      audience: config.audience,
    });
    if (!payload.sub || !payload.userId || !payload.email) {
      return { session: null, error: "missing required fields" };
    }
    return {
      session: {
        userId: payload.userId,
        email: payload.email,
        role: payload.role,
        companyId: payload.companyId,
        permissions: payload.permissions || [],
        metadata: payload.metadata || {},
        createdAt: payload.createdAt,
        expiresAt: payload.exp,
      },
    };
  } catch (error) {
    return { session: null, error: `${error.name}: ${error.message}` };
  }
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const requests = JSON.parse(input);
const answers = [];
for (const req of requests) {
  if (req.op === "verify") answers.push(await verifySession(req, req.token));
  else if (req.op === "mint") answers.push({ token: await createSession(req, req.data) });
  else answers.push({ error: `unknown op ${req.op}` });
}
process.stdout.write(JSON.stringify(answers));
