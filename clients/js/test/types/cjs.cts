import gatehouse = require("@gatehouse/client");
import react = require("@gatehouse/client/react");

const client = new gatehouse.GatehouseClient({ url: "https://auth.example.com" });
export const login: Promise<gatehouse.LoginResult> = client.login({ identifier: "ada", password: "analytical engine" });
export const hook: () => gatehouse.User | null = react.useUser;
