import { useCallback, useEffect, useState } from "react";
import { useGatehouse, useUser } from "@gatehouse/client/react";
import { describe } from "./errors.js";

// The protected page: rendered only for a signed-in user. Its calls go
// through gatehouse.fetch (me and sessions use it), which renews the access
// token silently, ahead of its expiry or after a 401, coordinated with the
// app's other tabs; the user never sees the refresh.
export default function Account() {
  const gatehouse = useGatehouse();
  const user = useUser();
  const [me, setMe] = useState(null);
  const [sessions, setSessions] = useState([]);
  const [error, setError] = useState("");

  const load = useCallback(async () => {
    setError("");
    try {
      const [profile, list] = await Promise.all([gatehouse.me(), gatehouse.sessions()]);
      setMe(profile);
      setSessions(list);
    } catch (e) {
      setError(describe(e));
    }
  }, [gatehouse]);

  useEffect(() => {
    load();
  }, [load]);

  const logout = (all) => gatehouse.logout({ all }).catch((e) => setError(describe(e)));
  const expires = gatehouse.session ? new Date(gatehouse.session.expiresAt).toLocaleTimeString() : "";

  return (
    <main id="account">
      <h1>Your account</h1>
      <p>
        Signed in as <strong id="who">{user.username ?? user.email}</strong>. Access token valid until <span id="expires">{expires}</span>.
      </p>
      <p id="error" role="alert">
        {error}
      </p>
      {me && (
        <dl>
          <dt>Email (GET /me)</dt>
          <dd id="me-email">{me.email ?? "none"}</dd>
          <dt>Role</dt>
          <dd>{me.role}</dd>
          <dt>Live sessions (GET /me/sessions)</dt>
          <dd id="sessions-count">{sessions.length}</dd>
        </dl>
      )}
      <div className="row">
        <button type="button" id="reload-button" onClick={load}>
          Reload
        </button>
        <button type="button" id="logout-button" onClick={() => logout(false)}>
          Log out
        </button>
        <button type="button" id="logout-all-button" onClick={() => logout(true)}>
          Log out everywhere
        </button>
      </div>
    </main>
  );
}
