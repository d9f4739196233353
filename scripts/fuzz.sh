#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 60 s each).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Needs the nightly toolchain (cargo-fuzz builds with sanitizers) and
# cargo-fuzz (installed from crates.io if missing). Corpora are seeded with
# real tokens: valid, expired, and each forged class; libFuzzer keeps what it
# finds under fuzz/corpus/. A crash fails the script and leaves its input in
# fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(authorization_header token_text signed_claims signed_header jwk_set)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet

python3 - <<'PY'
import base64, hashlib, hmac, json, os, time
secret = b"fuzzing-secret-that-is-long-enough-for-hs256"
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def sign(header, payload, key=secret, digest=hashlib.sha256):
    h, p = b64(header), b64(payload)
    s = b64(hmac.new(key, f"{h}.{p}".encode(), digest).digest())
    return f"{h}.{p}.{s}"
now = int(time.time())
claims = {"userId": "u-1", "email": "a@example.com", "role": "admin", "companyId": "acme",
          "permissions": ["admin"], "metadata": {"name": "Ada"}, "createdAt": now,
          "expiresAt": now + 600, "iat": now, "iss": "atomic-crm", "aud": "atomic-crm-api",
          "exp": now + 600, "sub": "u-1", "jti": "abc", "iatMicros": now * 10**6}
valid = json.dumps(claims).encode()
expired = json.dumps({**claims, "exp": now - 3600}).encode()
hs = b'{"alg":"HS256","typ":"session+jwt"}'
tokens = {
    "valid": sign(hs, valid),
    "expired": sign(hs, expired),
    "alg_none": b64(b'{"alg":"none"}') + "." + b64(valid) + ".",
    "hs512": sign(b'{"alg":"HS512"}', valid, digest=hashlib.sha512),
    "rs256_header": sign(b'{"alg":"RS256"}', valid),
    "other_secret": sign(hs, valid, key=b"x" * 40),
    "crit": sign(b'{"alg":"HS256","crit":["exp"]}', valid),
    "kid": sign(b'{"alg":"HS256","kid":"unknown"}', valid),
    "exp_string": sign(hs, json.dumps({**claims, "exp": str(now + 600)}).encode()),
    "tampered": sign(hs, valid).replace(b64(valid), b64(valid.replace(b"admin", b"root!"))),
}

# Asymmetric tokens, signed by the openssl CLI with the test keys.
import subprocess
def openssl_sign(alg, key, header, payload):
    h, p = b64(header), b64(payload)
    data = f"{h}.{p}".encode()
    import tempfile
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        if alg == "EdDSA":  # one-shot signing: the message comes from a file
            args = ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", f.name]
        else:
            args = ["openssl", "dgst", "-sha256", "-sign", key, f.name]
        sig = subprocess.run(args, capture_output=True, check=True).stdout
    if alg == "ES256":  # DER SEQUENCE { r, s } to the JWS r || s form
        def integer(b, i):
            n = b[i + 1]
            return int.from_bytes(b[i + 2:i + 2 + n], "big"), i + 2 + n
        r, i = integer(sig, 2)
        s_, _ = integer(sig, i)
        sig = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
    return f"{h}.{p}.{b64(sig)}"
keys = os.path.join("..", "tests", "keys")
for alg, key in [("ES256", "p256.pem"), ("EdDSA", "ed25519.pem"), ("RS256", "rsa2048.pem")]:
    header = json.dumps({"alg": alg, "typ": "session+jwt"}).encode()
    tokens[f"{alg.lower()}_valid"] = openssl_sign(alg, os.path.join(keys, key), header, valid)
    tokens[f"{alg.lower()}_zero"] = tokens[f"{alg.lower()}_valid"].rsplit(".", 1)[0] + "." + b64(
        bytes(len(base64.urlsafe_b64decode(tokens[f"{alg.lower()}_valid"].rsplit(".", 1)[1] + "=="))))
seeds = {
    "authorization_header": {k: f"Bearer {t}".encode() for k, t in tokens.items()} | {
        "basic": b"Basic dXNlcjpwYXNz", "bearer_alone": b"Bearer", "lower": f"bearer {tokens['valid']}".encode()},
    "token_text": {k: t.encode() for k, t in tokens.items()},
    "signed_claims": {"valid": valid, "expired": expired, "array": b"[1,2]", "dup": b'{"exp":1,"exp":2}'},
    "signed_header": {"hs": hs, "none": b'{"alg":"none"}', "crit": b'{"alg":"HS256","crit":[]}',
                      "kid": b'{"alg":"HS256","kid":5}', "typ": b'{"alg":"HS256","typ":"at+jwt"}'},
}
# JWK Sets: the public test keys as JWKs (the RFC 7517 and RFC 8037
# examples), an oct key, and shapes that are not sets.
seeds["jwk_set"] = {
    "ec": json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": "1", "alg": "ES256", "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}).encode(),
    "okp": json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "e",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}).encode(),
    "rsa": json.dumps({"keys": [{"kty": "RSA", "kid": "r", "e": "AQAB", "n": b64(os.urandom(256))}]}).encode(),
    "oct": b'{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}',
    "not_a_set": b'{"keys":"x"}',
    "array": b"[]",
}
for target, files in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, f"seed-{name}"), "wb") as f:
            f.write(data)
PY

for target in "${TARGETS[@]}"; do
  echo "== $target: ${SECS}s"
  log=$(mktemp)
  status=0
  cargo +nightly fuzz run "$target" -- -max_total_time="$SECS" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb|DONE +cov|SUMMARY|panicked|ERROR" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    rm -f "$log"
    echo "fuzz target $target failed (input kept under fuzz/artifacts/$target)" >&2
    exit 1
  fi
  rm -f "$log"
  echo "corpus: $(ls "corpus/$target" | wc -l) files"
done
