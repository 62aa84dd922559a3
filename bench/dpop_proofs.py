#!/usr/bin/env python3
"""DPoP proofs (RFC 9449 4.2) for bench/dpop.lua: COUNT proofs for POST URL, one per line,
each with its own jti and the current iat, all signed ES256 by one fresh P-256 key. The
server accepts a proof for about 90 s after its iat, so they are made right before the phase.

Usage: dpop_proofs.py COUNT URL > FILE   (needs the `cryptography` package)
"""
import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    count, url = int(sys.argv[1]), sys.argv[2]
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }
    header = b64(json.dumps({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk},
                            separators=(",", ":")).encode())
    iat = int(time.time())
    prefix = b64(os.urandom(9))
    out = sys.stdout
    for i in range(count):
        claims = f'{{"jti":"{prefix}-{i}","htm":"POST","htu":"{url}","iat":{iat}}}'
        signing_input = f"{header}.{b64(claims.encode())}"
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        out.write(f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}\n")


if __name__ == "__main__":
    main()
