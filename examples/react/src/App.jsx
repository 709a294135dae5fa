import { useCallback, useEffect, useState } from "react";
import { useUser } from "@gatehouse/client/react";
import Login from "./Login.jsx";
import Account from "./Account.jsx";

// Two pages: /login for the signed out, /account (protected) for the
// signed in. useUser re-renders on every sign-in and sign-out, in this tab
// or another, so the page always matches the session.
export default function App() {
  const user = useUser();
  const [path, go] = usePath();
  const want = user ? "/account" : "/login";
  useEffect(() => {
    if (path !== want) go(want);
  }, [path, want, go]);
  return user ? <Account /> : <Login />;
}

// The address bar as state; go replaces the entry, as a redirect does.
function usePath() {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const go = useCallback((to) => {
    window.history.replaceState(null, "", to);
    setPath(to);
  }, []);
  return [path, go];
}
