import { test } from "node:test";
import assert from "node:assert/strict";
import { GatehouseClient, GatehouseError, MemoryStorage, localStorageStore } from "../dist/index.js";
import { FakeChannelHub, FakeGatehouse, FakeLocalStorage, FakeLocks, tick, until } from "./fakes.mjs";

const ann = { identifier: "ann@example.com", password: "correct horse" };

function tab(gh, extra = {}) {
  return new GatehouseClient({ url: gh.url + "/", fetch: gh.fetch, locks: null, channel: null, ...extra });
}

test("register, login, me, sessions, logout", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  const events = [];
  c.onChange((e) => events.push(e.type));
  const u = await c.register({ email: "new@example.com", password: "a long passphrase" });
  assert.equal(u.email, "new@example.com");
  assert.equal(c.user, null, "register does not sign in");
  await assert.rejects(c.register({ email: "new@example.com", password: "x" }), (e) => e instanceof GatehouseError && e.code === "already_exists" && e.status === 409);

  const res = await c.login(ann);
  assert.deepEqual(res.status, "signed_in");
  assert.equal(c.user.email, "ann@example.com");
  assert.equal((await c.me()).email, "ann@example.com");
  const sessions = await c.sessions();
  assert.equal(sessions.length, 1);
  assert.ok(sessions[0].current);
  for (const r of gh.requests) assert.equal(r.credentials, "omit", `${r.method} ${r.path} sends no cookies`);
  const meReq = gh.requests.find((r) => r.path === "/me");
  assert.match(meReq.headers.get("Authorization"), /^Bearer at-/);

  await c.logout();
  assert.equal(c.user, null);
  assert.equal(gh.liveSessions().length, 0, "the session ended at Gatehouse");
  const logoutReq = gh.requests.find((r) => r.path === "/logout");
  assert.ok(logoutReq.body.refresh_token, "logout sends the refresh token, for an expired access token");
  assert.deepEqual(events, ["signed_in", "signed_out"]);
  await assert.rejects(c.me(), (e) => e instanceof GatehouseError && e.status === 401);
});

test("a wrong password is a GatehouseError with the contract's code", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  await assert.rejects(c.login({ ...ann, password: "wrong" }), (e) => e.code === "invalid_credentials" && e.status === 401);
  assert.equal(c.user, null);
});

test("login with a second factor: mfa_required, then loginMfa", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  const res = await c.login({ identifier: "mfa@example.com", password: "correct horse" });
  assert.equal(res.status, "mfa_required");
  assert.ok(res.mfaToken.startsWith("mfa-"));
  assert.deepEqual(res.methods, ["totp", "recovery_code"]);
  assert.equal(c.user, null);
  await assert.rejects(c.loginMfa(res.mfaToken, { code: "000000" }), (e) => e.code === "invalid_code");
  const again = await c.login({ identifier: "mfa@example.com", password: "correct horse" });
  const user = await c.loginMfa(again.mfaToken, { code: "123456" });
  assert.equal(user.email, "mfa@example.com");
  assert.equal((await c.me()).email, "mfa@example.com");
});

test("fetch refreshes ahead of expiry", async () => {
  const gh = new FakeGatehouse({ expiresIn: 900 });
  let now = 1_000_000;
  const c = tab(gh, { now: () => now, refreshAhead: 60_000 });
  await c.login(ann);
  const first = c.session.accessToken;
  now += 800_000; // 100 s left: no refresh yet
  await c.me();
  assert.equal(gh.rotations, 0);
  now += 50_000; // 50 s left: inside refreshAhead
  await c.me();
  assert.equal(gh.rotations, 1);
  assert.notEqual(c.session.accessToken, first);
  assert.equal(gh.requests.at(-1).headers.get("Authorization"), "Bearer " + c.session.accessToken);
});

test("fetch refreshes on a 401 and sends the request once more", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  const events = [];
  c.onChange((e) => events.push(e.type));
  await c.login(ann);
  gh.expireAccessTokens();
  const res = await c.fetch("/me");
  assert.equal(res.status, 200);
  assert.equal(gh.rotations, 1);
  assert.deepEqual(gh.requests.map((r) => r.path), ["/login", "/me", "/token/refresh", "/me"]);
  assert.deepEqual(events, ["signed_in", "refreshed"]);
});

test("a refused refresh signs out; a failing Gatehouse does not", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  await c.login(ann);
  gh.failNext = 503;
  await assert.rejects(c.refresh(), (e) => e.status === 503);
  assert.ok(c.user, "a 503 keeps the session");
  gh.liveSessions()[0].live = false; // ended elsewhere (logout on another device, admin)
  const events = [];
  c.onChange((e) => events.push(e.type));
  assert.equal(await c.refresh(), null);
  assert.equal(c.user, null);
  assert.deepEqual(events, ["signed_out"]);
});

test("concurrent refreshes in one tab make one request", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  await c.login(ann);
  const results = await Promise.all([c.refresh(), c.refresh(), c.refresh()]);
  assert.equal(gh.rotations, 1);
  assert.ok(results.every((s) => s.refreshToken === results[0].refreshToken));
});

test("storage: memory by default, localStorage opt-in survives a new client", async () => {
  const gh = new FakeGatehouse();
  const c = tab(gh);
  await c.login(ann);
  assert.equal(tab(gh).user, null, "memory storage is per client");
  const ls = new FakeLocalStorage();
  const p = tab(gh, { storage: localStorageStore(ls) });
  await p.login(ann);
  const reloaded = tab(gh, { storage: localStorageStore(ls) });
  assert.equal(reloaded.user.email, "ann@example.com");
  assert.equal(reloaded.session.refreshToken, p.session.refreshToken);
  await reloaded.logout();
  assert.equal(tab(gh, { storage: localStorageStore(ls) }).user, null, "logout clears the stored session");
  assert.equal(new MemoryStorage().shared, false);
});

// Five tabs refreshing at the same moment, ten rounds: one rotation a round,
// no reuse, every tab on the same latest tokens. Each way of coordinating.
for (const mode of [
  "web locks + memory",
  "web locks + memory, messages slower than the lock",
  "web locks + localStorage",
  "broadcast claim + memory",
  "broadcast claim + localStorage",
]) {
  test(`five tabs refresh at once, ten rounds (${mode})`, async () => {
    const gh = new FakeGatehouse(); // no reuse grace: a stale refresh token ends the session
    const hub = new FakeChannelHub({ delay: mode.includes("slower") ? 20 : 0 });
    const locks = mode.startsWith("web locks") ? new FakeLocks() : null;
    const ls = new FakeLocalStorage();
    const make = () =>
      tab(gh, {
        locks,
        channel: hub.open,
        storage: mode.includes("localStorage") ? localStorageStore(ls) : new MemoryStorage(),
        claimWindow: 5,
      });
    const first = make();
    await first.login(ann);
    const tabs = [first, make(), make(), make(), make()];
    await until(() => tabs.every((t) => t.user !== null), 2000); // new tabs got the session (hello, or storage)
    const changes = tabs.map(() => []);
    tabs.forEach((t, i) => t.onChange((e) => changes[i].push(e)));
    for (let round = 1; round <= 10; round++) {
      const results = await Promise.all(tabs.map((t) => t.refresh()));
      await until(() => tabs.every((t) => t.session?.refreshToken === gh.liveSessions()[0]?.refresh), 2000);
      assert.equal(gh.reuse, 0, `round ${round}: reuse detected`);
      assert.equal(gh.rotations, round, `round ${round}: ${gh.rotations} rotations`);
      assert.ok(results.every((s) => s && s.refreshToken === results[0].refreshToken), `round ${round}: tabs disagree`);
    }
    assert.equal(gh.liveSessions().length, 1, "one session, one lineage");
    assert.ok(changes.every((c) => c.length >= 10 && c.every((e) => e.type === "refreshed")), "every tab heard every refresh");
    if (locks) assert.equal(locks.maxHeld, 1);
    for (const t of tabs) assert.equal((await t.me()).email, "ann@example.com");
    // Logging out in one tab signs every tab out.
    await tabs[2].logout();
    await until(() => tabs.every((t) => t.user === null), 2000);
    tabs.forEach((t) => t.close());
  });
}

test("a newer state wins over an older one arriving late", async () => {
  const gh = new FakeGatehouse();
  const hub = new FakeChannelHub();
  const a = tab(gh, { channel: hub.open });
  const b = tab(gh, { channel: hub.open });
  await a.login(ann);
  await until(() => b.user !== null);
  await a.refresh();
  const latest = a.session.refreshToken;
  await until(() => b.session.refreshToken === latest);
  // A late hello reply carrying an older generation changes nothing.
  const c = tab(gh, { channel: hub.open });
  await until(() => c.user !== null);
  await tick();
  assert.equal(c.session.refreshToken, latest);
  assert.equal(b.session.refreshToken, latest);
  [a, b, c].forEach((t) => t.close());
});
