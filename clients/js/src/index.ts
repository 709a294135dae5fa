// Gatehouse browser client: sign-up, login (with the MFA step), logout, the
// signed-in user and their sessions, and an authenticated fetch that
// refreshes the access token ahead of its expiry or on a 401.
//
// Refresh is coordinated across the tabs of one origin: one tab rotates the
// refresh token (under a Web Lock named per Gatehouse URL, or by a claim on
// a BroadcastChannel where Web Locks are missing) and hands the result to
// the others, so any number of tabs stays on one session and never presents
// a spent refresh token (which Gatehouse answers by ending the session).
//
// No runtime dependencies: fetch, Web Locks, BroadcastChannel and storage
// are the browser's, and each can be replaced (tests pass fakes).

/** A Gatehouse user (API.md "Users"). */
export interface User {
  id: string;
  email: string | null;
  username: string | null;
  name: string | null;
  role: "user" | "admin";
  created_at: string;
  [field: string]: unknown;
}

/** One of the user's live sessions (GET /me/sessions). */
export interface SessionInfo {
  id: string;
  created_at: string;
  last_used_at: string;
  user_agent: string;
  ip: string;
  current: boolean;
}

/** What the client holds for a signed-in user. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in ms since the epoch (client clock). */
  expiresAt: number;
  user: User;
  /**
   * Set for a session from signInWithRedirect: the OpenID Connect client
   * it belongs to. Its refresh goes to POST /oauth/token; its user holds
   * the userinfo claims (id is the subject).
   */
  clientId?: string;
}

/**
 * Where the session is kept. get/set/remove are synchronous, as
 * localStorage is. `shared` says every tab of the origin sees the same
 * values (localStorage); then a tab re-reads it under the refresh lock.
 */
export interface TokenStorage {
  get(key: string): string | null;
  set(key: string, value: string): void;
  remove(key: string): void;
  readonly shared?: boolean;
}

/**
 * The default: the session lives in this tab's memory only. Nothing
 * survives a reload; other open tabs hand a new tab their session over the
 * BroadcastChannel.
 */
export class MemoryStorage implements TokenStorage {
  private values = new Map<string, string>();
  readonly shared = false;
  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }
  set(key: string, value: string): void {
    this.values.set(key, value);
  }
  remove(key: string): void {
    this.values.delete(key);
  }
}

/** The part of the Web Storage API the client uses. */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Opt-in persistence in localStorage: the session survives reloads and
 * browser restarts. Trade-off: any script running on the origin (an XSS
 * bug, a compromised dependency) can read the refresh token and keep the
 * session alive from elsewhere until it is revoked; with memory storage it
 * can use the session only while the page is open.
 */
export function localStorageStore(store: WebStorageLike = globalThis.localStorage): TokenStorage {
  return {
    shared: true,
    get: (key) => store.getItem(key),
    set: (key, value) => store.setItem(key, value),
    remove: (key) => store.removeItem(key),
  };
}

/** The part of the Web Locks API the client uses (navigator.locks). */
export interface LockManagerLike {
  request<T>(name: string, options: { mode: "exclusive" | "shared" }, callback: () => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

/** The part of BroadcastChannel the client uses. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface ClientOptions {
  /** Gatehouse's base URL (its issuer), e.g. "https://auth.example.com". */
  url: string;
  /** Default: new MemoryStorage(). */
  storage?: TokenStorage;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
  /** Default: navigator.locks when present; null: use the channel claim. */
  locks?: LockManagerLike | null;
  /** Default: (name) => new BroadcastChannel(name) when present; null: none (one tab). */
  channel?: ((name: string) => ChannelLike) | null;
  /** Refresh when the access token expires within this many ms (default 60 000). */
  refreshAhead?: number;
  /** Without Web Locks: how long a tab collects competing claims (default 50 ms). */
  claimWindow?: number;
  /** Without Web Locks: how long a tab waits for the claimant's result (default 5 000 ms). */
  claimTimeout?: number;
  /** Default: Date.now. */
  now?: () => number;
  /** Default: setTimeout-based. */
  sleep?: (ms: number) => Promise<void>;
  /** Where a redirect sign-in waits for its callback (one tab). Default: sessionStorage. */
  redirectStorage?: WebStorageLike;
  /** How signInWithRedirect leaves the page. Default: location.assign. */
  navigate?: (url: string) => void;
}

/**
 * A sign-in through Gatehouse's own authorization code flow with PKCE
 * (signInWithRedirect): for a public client registered with
 * `gatehouse client add --public --redirect-uri ...`.
 */
export interface RedirectSignIn {
  clientId: string;
  /** Where Gatehouse sends the browser back: a page that calls handleRedirectCallback. */
  redirectUri: string;
  /**
   * An upstream provider's id ("google", "github"): Gatehouse sends the
   * browser straight to it (idp_hint) and back into this sign-in.
   */
  provider?: string;
  /** Default "openid profile email offline_access" (offline_access: a refresh token). */
  scope?: string;
  loginHint?: string;
}

/** An error answer of Gatehouse, in the contract's format. */
export class GatehouseError extends Error {
  readonly status: number;
  readonly code: string;
  readonly body: Record<string, unknown>;
  constructor(status: number, code: string, message: string, body: Record<string, unknown> = {}) {
    super(message);
    this.name = "GatehouseError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export interface RegisterInput {
  email?: string;
  username?: string;
  name?: string;
  password: string;
}

export interface LoginInput {
  /** An email or a username. */
  identifier: string;
  password: string;
}

/** The second step of a login with MFA: a TOTP code or a recovery code. */
export type MfaInput = { code: string } | { recovery_code: string };

export type LoginResult =
  | { status: "signed_in"; user: User }
  /** The password was right; POST /login/mfa (loginMfa) finishes the login. */
  | { status: "mfa_required"; mfaToken: string; methods: string[] };

export type ChangeType = "signed_in" | "refreshed" | "signed_out";

export interface ChangeEvent {
  type: ChangeType;
  user: User | null;
  /** True when another tab made the change. */
  remote: boolean;
}

/** What is stored and sent between tabs: a session (or none) and its generation. */
interface State {
  gen: number;
  session: Session | null;
}

type Message =
  | { t: "hello"; from: string }
  | { t: "state"; from: string; state: State; change: ChangeType }
  | { t: "claim"; from: string; rt: string };

/** What signInWithRedirect keeps until its callback. */
interface PendingRedirect {
  state: string;
  verifier: string;
  clientId: string;
  redirectUri: string;
}

/** POST /oauth/token's answer (RFC 6749 5.1). */
interface OAuthTokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token?: string;
  id_token?: string;
}

interface TokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  user: User;
}

export class GatehouseClient {
  readonly url: string;
  private readonly storage: TokenStorage;
  private readonly doFetch: typeof fetch;
  private readonly locks: LockManagerLike | null;
  private readonly channel: ChannelLike | null;
  private readonly refreshAhead: number;
  private readonly claimWindow: number;
  private readonly claimTimeout: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly redirectStorage: WebStorageLike | null;
  private readonly navigate: (url: string) => void;
  private readonly key: string;
  private readonly tab: string;
  private state: State = { gen: 0, session: null };
  private listeners = new Set<(e: ChangeEvent) => void>();
  private inflight: Promise<Session | null> | null = null;
  private claims = new Map<string, Set<string>>(); // refresh token → tabs claiming it
  private waiters = new Set<() => void>();
  private unadvertise: (() => void) | null = null;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.storage = options.storage ?? new MemoryStorage();
    const f = options.fetch ?? globalThis.fetch;
    this.doFetch = (input, init) => f(input, init); // unbound window.fetch throws
    const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
    this.locks = options.locks === undefined ? (nav?.locks ?? null) : options.locks;
    const open =
      options.channel === undefined
        ? typeof BroadcastChannel === "function"
          ? (name: string) => new BroadcastChannel(name) as unknown as ChannelLike
          : null
        : options.channel;
    this.refreshAhead = options.refreshAhead ?? 60_000;
    this.claimWindow = options.claimWindow ?? 50;
    this.claimTimeout = options.claimTimeout ?? 5_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.redirectStorage = options.redirectStorage ?? (globalThis as { sessionStorage?: WebStorageLike }).sessionStorage ?? null;
    this.navigate = options.navigate ?? ((u) => (globalThis as unknown as { location: { assign(u: string): void } }).location.assign(u));
    this.key = `gatehouse:${this.url}:session`;
    this.tab = randomId();
    this.load();
    this.channel = open ? open(`gatehouse:${this.url}`) : null;
    if (this.channel) {
      this.channel.addEventListener("message", (e) => this.receive(e.data as Message));
      this.post({ t: "hello", from: this.tab });
    }
  }

  /** The signed-in user, or null. */
  get user(): User | null {
    return this.state.session?.user ?? null;
  }

  /** The current session (tokens included), or null. */
  get session(): Session | null {
    return this.state.session;
  }

  /** Calls listener on every sign-in, refresh and sign-out, in this tab or another; returns the unsubscribe. */
  onChange(listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** POST /register: creates the account (it does not sign in). */
  async register(input: RegisterInput): Promise<User> {
    const body = await this.call<{ user: User }>("POST", "/register", input);
    return body.user;
  }

  /**
   * POST /login with a password. A user with a second factor gets
   * { status: "mfa_required", mfaToken, methods }: finish with loginMfa.
   */
  async login(input: LoginInput): Promise<LoginResult> {
    try {
      const tokens = await this.call<TokenResponse>("POST", "/login", input);
      return { status: "signed_in", user: this.signedIn(tokens) };
    } catch (e) {
      if (e instanceof GatehouseError && e.code === "mfa_required" && typeof e.body.mfa_token === "string") {
        const methods = Array.isArray(e.body.methods) ? (e.body.methods as string[]) : [];
        return { status: "mfa_required", mfaToken: e.body.mfa_token, methods };
      }
      throw e;
    }
  }

  /** POST /login/mfa: the second step of a login, with a code or a recovery code. */
  async loginMfa(mfaToken: string, input: MfaInput): Promise<User> {
    const tokens = await this.call<TokenResponse>("POST", "/login/mfa", { mfa_token: mfaToken, ...input });
    return this.signedIn(tokens);
  }

  /**
   * Signs in through Gatehouse's authorization page (code flow, PKCE S256):
   * the browser leaves for /authorize, with provider as idp_hint when set,
   * and comes back to redirectUri, whose page calls handleRedirectCallback.
   * The state and PKCE verifier wait in redirectStorage (this tab only).
   */
  async signInWithRedirect(options: RedirectSignIn): Promise<void> {
    if (!this.redirectStorage) throw new Error("signInWithRedirect needs sessionStorage (or the redirectStorage option).");
    const verifier = base64url(randomBytes(32));
    const state = base64url(randomBytes(16));
    const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
    const pending: PendingRedirect = { state, verifier, clientId: options.clientId, redirectUri: options.redirectUri };
    this.redirectStorage.setItem(this.redirectKey(), JSON.stringify(pending));
    const q = new URLSearchParams({
      response_type: "code",
      client_id: options.clientId,
      redirect_uri: options.redirectUri,
      scope: options.scope ?? "openid profile email offline_access",
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    if (options.provider) q.set("idp_hint", options.provider);
    if (options.loginHint) q.set("login_hint", options.loginHint);
    this.navigate(`${this.url}/authorize?${q}`);
  }

  /**
   * Finishes signInWithRedirect on the redirect URI's page (href: its
   * address): checks state (and iss), exchanges the code with the PKCE
   * verifier at POST /oauth/token, reads GET /userinfo, and signs in. The
   * sign-in under way is used once, whatever the outcome.
   */
  async handleRedirectCallback(href: string = (globalThis as unknown as { location: { href: string } }).location.href): Promise<User> {
    const raw = this.redirectStorage?.getItem(this.redirectKey()) ?? null;
    this.redirectStorage?.removeItem(this.redirectKey());
    const q = new URL(href).searchParams;
    let pending: PendingRedirect | null = null;
    try {
      pending = raw ? (JSON.parse(raw) as PendingRedirect) : null;
    } catch {
      pending = null;
    }
    if (!pending || !q.get("state") || q.get("state") !== pending.state) {
      throw new GatehouseError(400, "invalid_request", "This sign-in was not started in this tab, or it was used already; start again.");
    }
    const iss = q.get("iss");
    if (iss !== null && iss !== this.url) throw new GatehouseError(400, "invalid_request", "The answer came from another issuer.");
    const error = q.get("error");
    if (error) throw new GatehouseError(400, error, q.get("error_description") ?? "The sign-in was refused.");
    const res = await this.doFetch(this.url + "/oauth/token", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: q.get("code") ?? "",
        redirect_uri: pending.redirectUri,
        client_id: pending.clientId,
        code_verifier: pending.verifier,
      }).toString(),
    });
    if (!res.ok) throw await toError(res);
    const t = (await res.json()) as OAuthTokenResponse;
    const info = await this.doFetch(this.url + "/userinfo", { credentials: "omit", headers: { Authorization: `Bearer ${t.access_token}` } });
    if (!info.ok) throw await toError(info);
    const claims = (await info.json()) as Record<string, unknown>;
    const user: User = {
      ...claims,
      id: String(claims.sub),
      email: typeof claims.email === "string" ? claims.email : null,
      username: typeof claims.preferred_username === "string" ? claims.preferred_username : null,
      name: typeof claims.name === "string" ? claims.name : null,
      role: "user",
      created_at: "",
    };
    const s: Session = { accessToken: t.access_token, refreshToken: t.refresh_token ?? "", expiresAt: this.now() + t.expires_in * 1000, user, clientId: pending.clientId };
    this.apply({ gen: this.nextGen(), session: s }, "signed_in", true);
    return user;
  }

  private redirectKey(): string {
    return `gatehouse:${this.url}:redirect`;
  }

  /**
   * POST /logout: ends this session (all: every session of the user), here
   * and in every tab. The local session is dropped even when Gatehouse
   * cannot be reached.
   */
  async logout(options: { all?: boolean } = {}): Promise<void> {
    const s = this.state.session;
    this.apply({ gen: this.nextGen(), session: null }, "signed_out", true);
    if (!s) return;
    if (s.clientId) {
      // A client's session ends by revoking its refresh token (RFC 7009).
      if (!s.refreshToken) return;
      const res = await this.doFetch(this.url + "/oauth/revoke", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: s.refreshToken, client_id: s.clientId }).toString(),
      });
      if (!res.ok) throw await toError(res);
      return;
    }
    const res = await this.doFetch(this.url + "/logout", {
      method: "POST",
      credentials: "omit",
      headers: { Authorization: `Bearer ${s.accessToken}`, "Content-Type": "application/json" },
      body: JSON.stringify({ all: options.all === true, refresh_token: s.refreshToken }),
    });
    if (!res.ok && res.status !== 401) throw await toError(res);
  }

  /** GET /me: the signed-in user, fresh from Gatehouse. */
  async me(): Promise<User> {
    const res = await this.fetch("/me");
    if (!res.ok) throw await toError(res);
    return ((await res.json()) as { user: User }).user;
  }

  /** GET /me/sessions: the user's live sessions (the first page, up to limit). */
  async sessions(options: { limit?: number } = {}): Promise<SessionInfo[]> {
    const q = options.limit ? `?limit=${encodeURIComponent(String(options.limit))}` : "";
    const res = await this.fetch("/me/sessions" + q);
    if (!res.ok) throw await toError(res);
    return ((await res.json()) as { sessions: SessionInfo[] }).sessions;
  }

  /**
   * fetch with the access token in Authorization. A path ("/books")
   * is Gatehouse's; a full URL is used as it is (an API of yours that
   * trusts Gatehouse's tokens). The token is refreshed first when it
   * expires within refreshAhead, and the request is sent once more after
   * a refresh when the answer is 401. Send bodies a retry can reuse
   * (strings, not streams). Without a session: GatehouseError 401.
   */
  async fetch(input: string, init: RequestInit = {}): Promise<Response> {
    const held = this.state.session;
    if (!held) throw new GatehouseError(401, "unauthorized", "Not signed in.");
    let s: Session | null = held;
    if (held.expiresAt - this.now() <= this.refreshAhead) {
      try {
        s = await this.refreshFrom(held.refreshToken);
      } catch (e) {
        if (held.expiresAt <= this.now()) throw e; // not reachable and expired: nothing to send
      }
      if (!s) throw new GatehouseError(401, "unauthorized", "The session has ended.");
    }
    const target = input.startsWith("/") ? this.url + input : input;
    const send = (token: string) => {
      const headers = new Headers(init.headers);
      headers.set("Authorization", `Bearer ${token}`);
      return this.doFetch(target, { credentials: "omit", ...init, headers });
    };
    const res = await send(s.accessToken);
    if (res.status !== 401) return res;
    const renewed = await this.refreshFrom(s.refreshToken);
    if (!renewed || renewed.accessToken === s.accessToken) return res;
    return send(renewed.accessToken);
  }

  /**
   * Rotates the refresh token now (coordinated with the other tabs: when
   * another tab rotated it meanwhile, its result is used). Returns the new
   * session, or null when the session has ended.
   */
  async refresh(): Promise<Session | null> {
    const s = this.state.session;
    if (!s) return null;
    return this.refreshFrom(s.refreshToken);
  }

  /** Stops listening to the other tabs. */
  close(): void {
    this.channel?.close();
  }

  // --- refresh, coordinated ---

  /** Rotates stale (the refresh token the caller saw), once per tab at a time. */
  private refreshFrom(stale: string): Promise<Session | null> {
    if (!this.inflight) {
      this.inflight = this.coordinated(stale).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  private coordinated(stale: string): Promise<Session | null> {
    const critical = async () => {
      // Another tab's rotation is visible here: in shared storage at once;
      // otherwise by its message, which may still be on its way: the tab
      // that rotated holds a lock named after the new generation until a
      // newer one exists, so a newer generation than this tab's means
      // "wait for its message".
      this.load();
      if (!this.storage.shared && this.channel && this.state.session?.refreshToken === stale) {
        await this.sleep(0); // handle the messages that have arrived
        if (this.state.session?.refreshToken === stale && (await this.newerAdvertised())) {
          await Promise.race([this.changed(stale), this.sleep(this.claimTimeout)]);
        }
      }
      const s = this.state.session;
      if (!s || s.refreshToken !== stale) return s; // ended, or rotated by another tab
      return this.rotate(s);
    };
    if (this.locks) return this.locks.request(`gatehouse-refresh:${this.url}`, { mode: "exclusive" }, critical);
    return this.claimed(stale, critical);
  }

  private genLock(gen: number): string {
    return `gatehouse-gen:${this.url}:${gen}`;
  }

  /** Whether some tab advertises a generation newer than this tab's. */
  private async newerAdvertised(): Promise<boolean> {
    if (!this.locks) return false;
    const prefix = this.genLock(0).slice(0, -1);
    const { held = [] } = await this.locks.query();
    return held.some((l) => l.name?.startsWith(prefix) && Number(l.name.slice(prefix.length)) > this.state.gen);
  }

  /** Holds the lock of generation gen (shared, until a newer state arrives), once it is granted. */
  private async advertise(gen: number): Promise<void> {
    this.unadvertise?.();
    this.unadvertise = null;
    if (!this.locks || !this.channel || this.storage.shared) return;
    await new Promise<void>((granted) => {
      void this.locks!.request(this.genLock(gen), { mode: "shared" }, () => {
        granted();
        return new Promise<void>((release) => (this.unadvertise = release));
      });
    });
  }

  /**
   * Without Web Locks: the tab announces that it refreshes stale, collects
   * the claims of other tabs for claimWindow, and the lowest tab id
   * refreshes; the others wait for its result (or, after claimTimeout, go
   * ahead themselves: Gatehouse's reuse grace then answers the same token).
   */
  private async claimed(stale: string, critical: () => Promise<Session | null>): Promise<Session | null> {
    if (!this.channel) return critical();
    this.claimsOf(stale).add(this.tab);
    this.post({ t: "claim", from: this.tab, rt: stale });
    await this.sleep(this.claimWindow);
    const winner = [...this.claimsOf(stale)].sort()[0];
    this.claims.delete(stale);
    if (winner !== this.tab && this.state.session?.refreshToken === stale) {
      await Promise.race([this.changed(stale), this.sleep(this.claimTimeout)]);
    }
    return critical();
  }

  private claimsOf(rt: string): Set<string> {
    let set = this.claims.get(rt);
    if (!set) this.claims.set(rt, (set = new Set()));
    return set;
  }

  /** Resolves once the session no longer holds refresh token rt. */
  private changed(rt: string): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.state.session?.refreshToken !== rt) {
          this.waiters.delete(check);
          resolve();
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  private async rotate(s: Session): Promise<Session | null> {
    if (s.clientId) return this.rotateClient(s, s.clientId);
    const res = await this.doFetch(this.url + "/token/refresh", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: s.refreshToken }),
    });
    if (res.ok) {
      const next = this.toSession((await res.json()) as TokenResponse);
      const gen = this.nextGen();
      await this.advertise(gen); // before the refresh lock goes to the next tab
      this.apply({ gen, session: next }, "refreshed", true);
      return next;
    }
    const err = await toError(res);
    if (res.status === 401) {
      // The refresh token is spent, expired or its session ended: signed out.
      this.apply({ gen: this.nextGen(), session: null }, "signed_out", true);
      return null;
    }
    throw err; // 429, 5xx: the session stands; try again later
  }

  /** rotate for a client's session: the refresh_token grant at POST /oauth/token. */
  private async rotateClient(s: Session, clientId: string): Promise<Session | null> {
    if (!s.refreshToken) {
      this.apply({ gen: this.nextGen(), session: null }, "signed_out", true);
      return null;
    }
    const res = await this.doFetch(this.url + "/oauth/token", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: s.refreshToken, client_id: clientId }).toString(),
    });
    if (res.ok) {
      const t = (await res.json()) as OAuthTokenResponse;
      const next: Session = { accessToken: t.access_token, refreshToken: t.refresh_token ?? s.refreshToken, expiresAt: this.now() + t.expires_in * 1000, user: s.user, clientId };
      const gen = this.nextGen();
      await this.advertise(gen);
      this.apply({ gen, session: next }, "refreshed", true);
      return next;
    }
    const err = await toError(res);
    if (res.status === 400 || res.status === 401) {
      // invalid_grant: the refresh token is spent, expired, or its grant ended.
      this.apply({ gen: this.nextGen(), session: null }, "signed_out", true);
      return null;
    }
    throw err;
  }

  // --- state, storage and the other tabs ---

  private signedIn(tokens: TokenResponse): User {
    const s = this.toSession(tokens);
    this.apply({ gen: this.nextGen(), session: s }, "signed_in", true);
    return s.user;
  }

  private toSession(t: TokenResponse): Session {
    return { accessToken: t.access_token, refreshToken: t.refresh_token, expiresAt: this.now() + t.expires_in * 1000, user: t.user };
  }

  /** A generation later than any this tab knows: newer states win across tabs. */
  private nextGen(): number {
    return Math.max(this.now(), this.state.gen + 1);
  }

  /** Reads the stored state when it is newer than this tab's. */
  private load(): void {
    const raw = this.storage.get(this.key);
    if (!raw) return;
    try {
      const stored = JSON.parse(raw) as State;
      if (typeof stored.gen !== "number" || stored.gen <= this.state.gen) return;
      const change: ChangeType = !stored.session ? "signed_out" : this.state.session ? "refreshed" : "signed_in";
      this.apply(stored, change, false); // another tab's change (or the last page's), told to the listeners
    } catch {
      this.storage.remove(this.key);
    }
  }

  /** Takes state if it is newer, stores it, tells the listeners and (own changes) the other tabs. */
  private apply(state: State, change: ChangeType, own: boolean): void {
    if (state.gen <= this.state.gen) return;
    const before = this.state.session;
    this.state = state;
    if (!own) {
      this.unadvertise?.(); // another tab's state is newer than the one this tab advertised
      this.unadvertise = null;
    }
    if (own || !this.storage.shared) {
      if (state.session) this.storage.set(this.key, JSON.stringify(state));
      else this.storage.set(this.key, JSON.stringify({ gen: state.gen, session: null }));
    }
    if (own) this.post({ t: "state", from: this.tab, state, change });
    for (const w of [...this.waiters]) w();
    if (!before && !state.session) return; // signed out already
    const event: ChangeEvent = { type: change, user: state.session?.user ?? null, remote: !own };
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private receive(m: Message): void {
    if (!m || typeof m !== "object" || m.from === this.tab) return;
    switch (m.t) {
      case "hello": // a new tab: hand it what this tab holds
        if (this.state.gen > 0) {
          this.post({ t: "state", from: this.tab, state: this.state, change: this.state.session ? "signed_in" : "signed_out" });
        }
        break;
      case "state":
        this.apply(m.state, m.change, false);
        break;
      case "claim":
        this.claimsOf(m.rt).add(m.from);
        break;
    }
  }

  private post(m: Message): void {
    try {
      this.channel?.postMessage(m);
    } catch {
      // a closed channel: this tab goes on alone
    }
  }

  // --- requests ---

  private async call<T>(method: string, path: string, body: unknown): Promise<T> {
    const res = await this.doFetch(this.url + path, {
      method,
      credentials: "omit",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw await toError(res);
    return (await res.json()) as T;
  }
}

async function toError(res: Response): Promise<GatehouseError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  const code = typeof body.error === "string" ? body.error : "http_" + res.status;
  const message = typeof body.message === "string" ? body.message : `Gatehouse answered ${res.status}.`;
  return new GatehouseError(res.status, code, message, body);
}

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  crypto.getRandomValues(b);
  return b;
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}
