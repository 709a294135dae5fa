import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { GatehouseClient, GatehouseError } from "../dist/index.js";

/** A tab's sessionStorage. */
class FakeSessionStorage {
  values = new Map();
  getItem(k) {
    return this.values.get(k) ?? null;
  }
  setItem(k, v) {
    this.values.set(k, String(v));
  }
  removeItem(k) {
    this.values.delete(k);
  }
}

/** Gatehouse's token and userinfo endpoints for one public client. */
class FakeProvider {
  url = "https://gh.test";
  requests = [];
  codes = new Map(); // code → challenge
  refresh = new Set();
  constructor() {
    this.fetch = this.fetch.bind(this);
  }
  /** What /authorize would do: a code bound to the request's challenge. */
  authorize(authURL) {
    const q = new URL(authURL).searchParams;
    const code = "code-" + this.codes.size;
    this.codes.set(code, q.get("code_challenge"));
    return `https://app.test/cb?code=${code}&state=${q.get("state")}&iss=${encodeURIComponent(this.url)}`;
  }
  async fetch(input, init = {}) {
    const url = new URL(input);
    const body = new URLSearchParams(init.body ?? "");
    this.requests.push({ path: url.pathname, body, headers: new Headers(init.headers), credentials: init.credentials });
    const json = (status, v) => new Response(JSON.stringify(v), { status, headers: { "Content-Type": "application/json" } });
    if (url.pathname === "/oauth/token" && body.get("grant_type") === "authorization_code") {
      const challenge = this.codes.get(body.get("code"));
      this.codes.delete(body.get("code"));
      const sum = createHash("sha256").update(body.get("code_verifier") ?? "").digest("base64url");
      if (!challenge || sum !== challenge || body.get("client_id") !== "spa") return json(400, { error: "invalid_grant", error_description: "no" });
      this.refresh.add("rt-1");
      return json(200, { access_token: "at-1", token_type: "Bearer", expires_in: 900, refresh_token: "rt-1", id_token: "x.y.z" });
    }
    if (url.pathname === "/oauth/token" && body.get("grant_type") === "refresh_token") {
      if (!this.refresh.delete(body.get("refresh_token"))) return json(400, { error: "invalid_grant", error_description: "spent" });
      this.refresh.add("rt-2");
      return json(200, { access_token: "at-2", token_type: "Bearer", expires_in: 900, refresh_token: "rt-2" });
    }
    if (url.pathname === "/userinfo") {
      return json(200, { sub: "u-1", email: "ann@example.com", email_verified: true, name: "Ann", preferred_username: "ann" });
    }
    return json(404, { error: "not_found", message: "no" });
  }
}

function client(p, extra = {}) {
  const went = [];
  const c = new GatehouseClient({ url: p.url, fetch: p.fetch, locks: null, channel: null, redirectStorage: new FakeSessionStorage(),
    navigate: (u) => went.push(u), ...extra });
  return { c, went };
}

test("signInWithRedirect goes to /authorize with PKCE S256 and the provider as idp_hint", async () => {
  const p = new FakeProvider();
  const { c, went } = client(p);
  await c.signInWithRedirect({ clientId: "spa", redirectUri: "https://app.test/cb", provider: "google" });
  assert.equal(went.length, 1);
  const u = new URL(went[0]);
  assert.equal(u.origin + u.pathname, "https://gh.test/authorize");
  const q = u.searchParams;
  assert.equal(q.get("idp_hint"), "google");
  assert.equal(q.get("response_type"), "code");
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.match(q.get("code_challenge"), /^[A-Za-z0-9_-]{43}$/);
  assert.match(q.get("state"), /^[A-Za-z0-9_-]{22}$/);
  assert.equal(q.get("scope"), "openid profile email offline_access");

  const user = await c.handleRedirectCallback(p.authorize(went[0]));
  assert.equal(user.id, "u-1");
  assert.equal(user.email, "ann@example.com");
  assert.equal(c.session.clientId, "spa");
  const exchange = p.requests.find((r) => r.path === "/oauth/token");
  assert.equal(exchange.body.get("redirect_uri"), "https://app.test/cb");
  assert.equal(exchange.credentials, "omit");

  // Its refresh is the refresh_token grant of the client.
  const next = await c.refresh();
  assert.equal(next.accessToken, "at-2");
  assert.equal(p.requests.at(-1).body.get("client_id"), "spa");
  assert.equal(c.user.email, "ann@example.com");
});

test("a callback with another state, a replayed one, or another issuer signs nothing in", async () => {
  const p = new FakeProvider();
  const { c, went } = client(p);
  await c.signInWithRedirect({ clientId: "spa", redirectUri: "https://app.test/cb" });
  const back = new URL(p.authorize(went[0]));
  back.searchParams.set("state", "forged");
  await assert.rejects(c.handleRedirectCallback(back.href), (e) => e instanceof GatehouseError && e.code === "invalid_request");
  assert.equal(c.user, null);
  assert.equal(p.requests.length, 0, "no code was exchanged");
  // The sign-in under way was used up by the failure: its real answer fails too.
  await assert.rejects(c.handleRedirectCallback(p.authorize(went[0])), (e) => e.code === "invalid_request");

  await c.signInWithRedirect({ clientId: "spa", redirectUri: "https://app.test/cb" });
  const evil = new URL(p.authorize(went[1]));
  evil.searchParams.set("iss", "https://evil.test");
  await assert.rejects(c.handleRedirectCallback(evil.href), (e) => e.code === "invalid_request");

  await c.signInWithRedirect({ clientId: "spa", redirectUri: "https://app.test/cb", provider: "github" });
  const denied = new URL(went[2]).searchParams;
  await assert.rejects(
    c.handleRedirectCallback(`https://app.test/cb?error=access_denied&state=${denied.get("state")}&iss=${encodeURIComponent(p.url)}`),
    (e) => e.code === "access_denied",
  );
  assert.equal(c.user, null);
});
