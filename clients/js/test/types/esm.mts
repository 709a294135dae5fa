import { GatehouseClient, GatehouseError, type LoginResult, type RedirectSignIn, type User } from "@gatehouse/client";
import { GatehouseProvider, useUser } from "@gatehouse/client/react";

const client = new GatehouseClient({ url: "https://auth.example.com" });
export const login: Promise<LoginResult> = client.login({ identifier: "ada", password: "analytical engine" });
export const error: GatehouseError = new GatehouseError(401, "invalid_credentials", "no");
export const provider: typeof GatehouseProvider = GatehouseProvider;
export const hook: () => User | null = useUser;
const redirect: RedirectSignIn = { clientId: "spa", redirectUri: "https://app.example.com/cb", provider: "google" };
export const away: Promise<void> = client.signInWithRedirect(redirect);
export const back: Promise<User> = client.handleRedirectCallback("https://app.example.com/cb?code=c&state=s");
