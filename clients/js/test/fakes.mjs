// Small fakes of what the client uses: Gatehouse itself (as fetch), Web
// Locks, BroadcastChannel and localStorage.

let counter = 0;
const token = (kind) => `${kind}-${++counter}`;

/**
 * A fake Gatehouse with the contract's refresh rotation: a spent refresh
 * token ends its session (grace: 0 by default, so any stale use shows), and
 * reuse is counted.
 */
export class FakeGatehouse {
  constructor({ url = "https://gh.test", expiresIn = 900, grace = false } = {}) {
    this.url = url;
    this.expiresIn = expiresIn;
    this.grace = grace; // true: a spent token answers its successor (Gatehouse's reuse grace)
    this.users = new Map([["ann@example.com", { password: "correct horse", mfa: false }], ["mfa@example.com", { password: "correct horse", mfa: true }]]);
    this.sessions = new Map(); // id → { live, refresh, successor: Map(spent → response), access: Set }
    this.rotations = 0;
    this.reuse = 0;
    this.requests = [];
    this.failNext = null; // a status to answer the next refresh with
    this.fetch = this.fetch.bind(this);
  }

  user(email) {
    return { id: "u-" + email, email, username: null, name: null, role: "user", created_at: "2026-01-01T00:00:00Z" };
  }

  issue(sid, email) {
    const s = this.sessions.get(sid);
    const access = token("at");
    const refresh = token("rt");
    s.access.add(access);
    s.refresh = refresh;
    return { access_token: access, token_type: "Bearer", expires_in: this.expiresIn, refresh_token: refresh, refresh_expires_in: 3600, user: this.user(email) };
  }

  liveSessions() {
    return [...this.sessions.values()].filter((s) => s.live);
  }

  async fetch(input, init = {}) {
    const url = new URL(input);
    const method = init.method ?? "GET";
    const headers = new Headers(init.headers);
    const body = init.body ? JSON.parse(init.body) : {};
    this.requests.push({ method, path: url.pathname, headers, body, credentials: init.credentials });
    const json = (status, value) => new Response(value === undefined ? null : JSON.stringify(value), { status, headers: { "Content-Type": "application/json" } });
    const error = (status, code) => json(status, { error: code, message: code });
    const bearer = () => {
      const a = (headers.get("Authorization") ?? "").replace(/^Bearer /, "");
      for (const [sid, s] of this.sessions) if (s.live && s.access.has(a)) return { sid, s };
      return null;
    };
    const route = `${method} ${url.pathname}`;
    switch (route) {
      case "POST /register":
        if (this.users.has(body.email)) return error(409, "already_exists");
        this.users.set(body.email, { password: body.password, mfa: false });
        return json(201, { user: this.user(body.email) });
      case "POST /login": {
        const u = this.users.get(body.identifier);
        if (!u || u.password !== body.password) return error(401, "invalid_credentials");
        const sid = token("sid");
        this.sessions.set(sid, { live: true, email: body.identifier, refresh: null, successor: new Map(), access: new Set() });
        if (u.mfa) {
          this.pendingMfa = { token: token("mfa"), sid };
          this.sessions.get(sid).live = false;
          return json(401, { error: "mfa_required", message: "A second factor is needed.", mfa_token: this.pendingMfa.token, methods: ["totp", "recovery_code"] });
        }
        return json(200, this.issue(sid, body.identifier));
      }
      case "POST /login/mfa": {
        if (!this.pendingMfa || body.mfa_token !== this.pendingMfa.token || body.code !== "123456") return error(400, "invalid_code");
        const s = this.sessions.get(this.pendingMfa.sid);
        s.live = true;
        this.pendingMfa = null;
        return json(200, this.issue([...this.sessions].find(([, v]) => v === s)[0], s.email));
      }
      case "POST /token/refresh": {
        if (this.failNext) {
          const status = this.failNext;
          this.failNext = null;
          return error(status, status === 429 ? "too_many_requests" : "unavailable");
        }
        for (const [sid, s] of this.sessions) {
          if (!s.live) continue;
          if (s.refresh === body.refresh_token) {
            this.rotations++;
            const answer = this.issue(sid, s.email);
            s.successor.set(body.refresh_token, answer);
            return json(200, answer);
          }
          if (s.successor.has(body.refresh_token)) {
            if (this.grace && s.successor.get(body.refresh_token).refresh_token === s.refresh) {
              return json(200, s.successor.get(body.refresh_token));
            }
            this.reuse++;
            s.live = false; // reuse detected: the whole session ends
            return error(401, "invalid_grant");
          }
        }
        return error(401, "invalid_grant");
      }
      case "POST /logout": {
        const b = bearer();
        if (b) b.s.live = false;
        return new Response(null, { status: 204 });
      }
      case "GET /me": {
        const b = bearer();
        if (!b) return error(401, "invalid_token");
        return json(200, { user: this.user(b.s.email) });
      }
      case "GET /me/sessions": {
        const b = bearer();
        if (!b) return error(401, "invalid_token");
        return json(200, { sessions: [{ id: b.sid, created_at: "", last_used_at: "", user_agent: "", ip: "", current: true }], next_cursor: null });
      }
      default:
        return error(404, "not_found");
    }
  }

  /** Makes every access token issued so far stop working (as if expired). */
  expireAccessTokens() {
    for (const s of this.sessions.values()) s.access.clear();
  }
}

/** navigator.locks: exclusive locks queue per name, shared ones are granted at once; query lists the held ones. */
export class FakeLocks {
  constructor() {
    this.tails = new Map();
    this.held = 0;
    this.maxHeld = 0;
    this.shared = new Map(); // name → count held
  }
  request(name, options, callback) {
    if (options.mode === "shared") {
      this.shared.set(name, (this.shared.get(name) ?? 0) + 1);
      return Promise.resolve()
        .then(callback)
        .finally(() => {
          const n = this.shared.get(name) - 1;
          if (n === 0) this.shared.delete(name);
          else this.shared.set(name, n);
        });
    }
    const prev = this.tails.get(name) ?? Promise.resolve();
    const run = prev.then(async () => {
      this.held++;
      this.maxHeld = Math.max(this.maxHeld, this.held);
      try {
        return await callback();
      } finally {
        this.held--;
      }
    });
    this.tails.set(name, run.catch(() => {}));
    return run;
  }
  async query() {
    return { held: [...this.shared.keys()].map((name) => ({ name, mode: "shared" })) };
  }
}

/** BroadcastChannel: messages go, asynchronously and cloned, to the other members of the same name. */
export class FakeChannelHub {
  /** delay: ms a message takes to arrive (a message slower than the lock's handover). */
  constructor({ delay = 0 } = {}) {
    this.members = new Map();
    this.delay = delay;
  }
  open = (name) => {
    const hub = this;
    const listeners = [];
    const member = {
      closed: false,
      postMessage(m) {
        const data = structuredClone(m);
        for (const other of hub.members.get(name) ?? []) {
          if (other !== member && !other.closed) setTimeout(() => other.deliver(data), hub.delay);
        }
      },
      addEventListener(_type, l) {
        listeners.push(l);
      },
      deliver(data) {
        if (!member.closed) for (const l of listeners) l({ data });
      },
      close() {
        member.closed = true;
      },
    };
    if (!this.members.has(name)) this.members.set(name, []);
    this.members.get(name).push(member);
    return member;
  };
}

/** localStorage shared by the tabs given it. */
export class FakeLocalStorage {
  constructor() {
    this.values = new Map();
  }
  getItem(k) {
    return this.values.has(k) ? this.values.get(k) : null;
  }
  setItem(k, v) {
    this.values.set(k, String(v));
  }
  removeItem(k) {
    this.values.delete(k);
  }
}

export const tick = () => new Promise((r) => setTimeout(r, 0));

/** Waits until cond() holds, a turn of the event loop at a time (at most n turns). */
export async function until(cond, n = 200) {
  for (let i = 0; i < n; i++) {
    if (cond()) return;
    await tick();
  }
  throw new Error("condition never held");
}
