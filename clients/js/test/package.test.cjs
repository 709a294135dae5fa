// The CommonJS build, loaded as a CommonJS app loads it: require() by the
// package's name, through package.json's "require" conditions.
const { test } = require("node:test");
const assert = require("node:assert/strict");

test("require() loads the CommonJS build of the client and of its React bindings", () => {
  const gatehouse = require("@gatehouse/client");
  assert.equal(typeof gatehouse.GatehouseClient, "function");
  assert.equal(typeof gatehouse.localStorageStore, "function");
  assert.match(require.resolve("@gatehouse/client"), /dist[\\/]cjs[\\/]index\.js$/);
  const client = new gatehouse.GatehouseClient({ url: "https://gh.test/", fetch: async () => new Response(), locks: null, channel: null });
  assert.equal(client.url, "https://gh.test");
  const err = new gatehouse.GatehouseError(401, "invalid_credentials", "no");
  assert.ok(err instanceof Error);

  const react = require("@gatehouse/client/react");
  assert.deepEqual(Object.keys(react).sort(), ["GatehouseProvider", "useGatehouse", "useUser"]);
  assert.match(require.resolve("@gatehouse/client/react"), /dist[\\/]cjs[\\/]react\.js$/);
});

test("import() of the package name loads the ES module build", async () => {
  const esm = await import("@gatehouse/client");
  assert.equal(typeof esm.GatehouseClient, "function");
  assert.notEqual(esm.GatehouseClient, require("@gatehouse/client").GatehouseClient, "two builds, each loaded by its condition");
});
