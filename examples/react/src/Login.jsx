import { useState } from "react";
import { useGatehouse } from "@gatehouse/client/react";
import { describe } from "./errors.js";

// Seed 001's login form (username, email, password, Log In), on the
// Gatehouse client instead of axios and localStorage: the client keeps the
// tokens, and signing in re-renders the app onto the protected page.
export default function Login() {
  const gatehouse = useGatehouse();
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [mfaToken, setMfaToken] = useState(null);
  const [code, setCode] = useState("");
  const [status, setStatus] = useState("");
  const [error, setError] = useState("");

  const act = async (fn) => {
    setError("");
    setStatus("");
    try {
      await fn();
    } catch (e) {
      setError(describe(e));
    }
  };

  const handleLogin = (event) => {
    event.preventDefault();
    act(async () => {
      const result = await gatehouse.login({ identifier: username, password });
      setPassword("");
      if (result.status === "mfa_required") setMfaToken(result.mfaToken);
    });
  };

  const handleRegister = () =>
    act(async () => {
      await gatehouse.register({ username: username || undefined, email: email || undefined, password });
      setStatus("Registered: now log in.");
    });

  const handleMfa = (event) => {
    event.preventDefault();
    act(async () => {
      await gatehouse.loginMfa(mfaToken, { code: code.trim() });
      setMfaToken(null);
    });
  };

  return (
    <main>
      <h1>Log in</h1>
      <p id="status">{status}</p>
      <p id="error" role="alert">
        {error}
      </p>
      {mfaToken ? (
        <form id="mfa" onSubmit={handleMfa}>
          <input id="code" inputMode="numeric" autoComplete="one-time-code" placeholder="Code from your authenticator app" required value={code} onChange={(e) => setCode(e.target.value)} />
          <button type="submit">Verify</button>
        </form>
      ) : (
        <form id="login" method="post" onSubmit={handleLogin}>
          <input type="text" id="username" name="username" placeholder="Username" required autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} />
          <input type="email" id="email" name="email" placeholder="Your email (to sign up)" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} />
          <input type="password" id="password" name="password" placeholder="Your Password" required autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
          <div className="row">
            <button type="submit" id="login-button">
              Log In
            </button>
            <button type="button" id="register-button" onClick={handleRegister}>
              Sign up
            </button>
          </div>
        </form>
      )}
    </main>
  );
}
