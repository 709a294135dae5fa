#!/usr/bin/python3
"""An outside relying party: Debian's python3-authlib performing the
authorization code flow with PKCE against Gatehouse, then verifying the ID
token with the JWKS.

usage: authlib_rp.py ISSUER CLIENT_ID REDIRECT_URI IDENTIFIER PASSWORD

The OAuth parts are authlib's (authorization URL with S256, token request,
ID token validation with CodeIDToken, userinfo). The user's browser, which
no library provides, is a few lines below: it keeps Gatehouse's cookies by
hand (http.cookiejar sends no Secure cookie over plain http, which browsers
do for 127.0.0.1), fills the login form and allows on the consent page.
Prints one JSON line with the verified claims; exits non-zero on any
failure.
"""
import html
import json
import re
import secrets
import sys
from urllib.parse import urljoin, urlparse, parse_qs

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken

issuer, client_id, redirect_uri, identifier, password = sys.argv[1:6]

meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta["issuer"]
assert "S256" in meta["code_challenge_methods_supported"]

client = OAuth2Session(client_id, redirect_uri=redirect_uri, scope="openid profile email",
                       code_challenge_method="S256", token_endpoint_auth_method="none")
verifier = secrets.token_urlsafe(48)
nonce = secrets.token_urlsafe(16)
auth_url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)

# The browser.
cookies = {}
browser = requests.Session()
hidden = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def remember(resp):
    for c in resp.raw.headers.getlist("Set-Cookie"):
        name, _, rest = c.partition("=")
        value = rest.split(";", 1)[0]
        if value == "" or "Max-Age=0" in c:
            cookies.pop(name, None)
        else:
            cookies[name] = value


def send(method, url, data=None):
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    resp = browser.request(method, url, data=data, allow_redirects=False, timeout=10,
                           headers={"Cookie": header} if header else {})
    remember(resp)
    return resp


def fields(page):
    return {html.unescape(k): html.unescape(v) for k, v in hidden.findall(page)}


resp = send("GET", auth_url)
callback = None
for _ in range(10):
    if resp.status_code in (302, 303):
        location = urljoin(issuer, resp.headers["Location"])
        if location.startswith(redirect_uri):
            callback = location
            break
        resp = send("GET", location)
    elif 'action="/login"' in resp.text:
        form = fields(resp.text)
        form.update(identifier=identifier, password=password, csrf_token=cookies.get("__Host-csrf", ""))
        resp = send("POST", issuer + "/login", form)
    elif 'name="consent"' in resp.text:
        form = fields(resp.text)
        form.update(consent="allow", csrf_token=cookies["__Host-csrf"])
        resp = send("POST", issuer + "/authorize", form)
    else:
        sys.exit(f"unexpected page {resp.status_code}: {resp.text[:300]}")
if callback is None:
    sys.exit("never came back to the redirect URI")

query = parse_qs(urlparse(callback).query)
assert query["iss"] == [issuer], query.get("iss")  # RFC 9207: no mix-up
token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)

jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
jwt = JsonWebToken(meta["id_token_signing_alg_values_supported"])
claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": issuer}},
                    claims_params={"nonce": nonce, "client_id": client_id})
claims.validate()
info = client.get(meta["userinfo_endpoint"]).json()
assert info["sub"] == claims["sub"], (info, claims)
print(json.dumps({"sub": claims["sub"], "email": claims.get("email"), "aud": claims["aud"],
                  "alg": jwt.decode(token["id_token"], jwks).header["alg"], "userinfo_email": info.get("email")}))
