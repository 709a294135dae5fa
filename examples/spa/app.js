// The page's logic: seed 001's handleLogin, on the Gatehouse client.
import { GatehouseClient, GatehouseError } from "/gatehouse/index.js";

const url = document.querySelector('meta[name="gatehouse"]').content;
// Memory storage (the default): nothing stays behind in the browser; other
// open tabs hand a new tab their session, and refreshes are coordinated.
const gatehouse = new GatehouseClient({ url });
window.gatehouse = gatehouse; // for the console: await gatehouse.me()

const $ = (id) => document.getElementById(id);
let mfaToken = null;

function show() {
  const user = gatehouse.user;
  $("login").hidden = !!user || !!mfaToken;
  $("mfa").hidden = !mfaToken;
  $("signed-in").hidden = !user;
  $("who").textContent = user ? user.email ?? user.username : "";
}

function fail(e) {
  $("error").textContent = e instanceof GatehouseError ? `${e.message} (${e.code})` : String(e);
}

async function act(fn) {
  $("error").textContent = "";
  try {
    await fn();
  } catch (e) {
    fail(e);
  }
  show();
}

gatehouse.onChange((e) => {
  $("status").textContent = `${e.type}${e.remote ? " (in another tab)" : ""}`;
  show();
});

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    const res = await gatehouse.login({ identifier: $("username").value, password: $("password").value });
    if (res.status === "mfa_required") mfaToken = res.mfaToken;
    $("password").value = "";
  });
});

$("register-button").addEventListener("click", () =>
  act(async () => {
    const email = $("email").value.trim();
    const username = $("username").value.trim();
    await gatehouse.register({ email: email || undefined, username: username || undefined, password: $("password").value });
    $("status").textContent = "registered: now log in";
  }),
);

$("mfa").addEventListener("submit", (event) => {
  event.preventDefault();
  act(async () => {
    await gatehouse.loginMfa(mfaToken, { code: $("code").value.trim() });
    mfaToken = null;
  });
});

$("me-button").addEventListener("click", () => act(async () => ($("result").textContent = JSON.stringify(await gatehouse.me(), null, 2))));
$("refresh-button").addEventListener("click", () => act(() => gatehouse.refresh()));
$("sessions-button").addEventListener("click", () =>
  act(async () => ($("result").textContent = JSON.stringify(await gatehouse.sessions(), null, 2))),
);
$("logout-button").addEventListener("click", () => act(() => gatehouse.logout()));

show();
