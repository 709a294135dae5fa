#!/usr/bin/python3
"""An outside service client: Debian's python3-authlib asking Gatehouse for
a client_credentials token, with its secret (client_secret_basic) or with
private_key_jwt (RFC 7523, authlib's PrivateKeyJWT signing with ES256).

usage: authlib_service.py TOKEN_ENDPOINT CLIENT_ID secret SECRET RESOURCE
       authlib_service.py TOKEN_ENDPOINT CLIENT_ID key PEM_FILE RESOURCE

Prints one JSON line with the token response's fields; exits non-zero on
any failure.
"""
import json
import sys
import time

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT

endpoint, client_id, kind, credential, resource = sys.argv[1:6]
if kind == "secret":
    session = OAuth2Session(client_id, credential, scope="books:read",
                            token_endpoint_auth_method="client_secret_basic")
else:
    with open(credential) as f:
        pem = f.read()
    session = OAuth2Session(client_id, pem, scope="books:read",
                            token_endpoint_auth_method="private_key_jwt")
    # authlib's assertions live an hour by default; Gatehouse takes five
    # minutes at most, so exp is given.
    session.register_client_auth_method(
        PrivateKeyJWT(endpoint, alg="ES256", claims={"exp": int(time.time()) + 60}))
token = session.fetch_token(endpoint, grant_type="client_credentials", resource=resource)
print(json.dumps({"token_type": token["token_type"], "scope": token.get("scope"),
                  "refresh_token": token.get("refresh_token"), "access_token": token["access_token"]}))
