import { test } from "node:test";
import assert from "node:assert/strict";
import { createElement as h } from "react";
import { renderToString } from "react-dom/server";
// By the package's own name: what an app imports, through package.json's exports.
import { GatehouseClient } from "@gatehouse/client";
import { GatehouseProvider, useGatehouse, useUser } from "@gatehouse/client/react";
import { FakeGatehouse } from "./fakes.mjs";

function Who() {
  const user = useUser();
  const client = useGatehouse();
  return h("p", null, `${user ? user.email : "signed out"} at ${client.url}`);
}

test("useUser and useGatehouse read the provider's client", async () => {
  const gh = new FakeGatehouse();
  const client = new GatehouseClient({ url: gh.url, fetch: gh.fetch, locks: null, channel: null });
  const page = () => renderToString(h(GatehouseProvider, { client }, h(Who)));
  assert.equal(page(), `<p>signed out at ${gh.url}</p>`);
  await client.login({ identifier: "ann@example.com", password: "correct horse" });
  assert.equal(page(), `<p>ann@example.com at ${gh.url}</p>`);
  await client.logout();
  assert.equal(page(), `<p>signed out at ${gh.url}</p>`);
});

test("the hooks outside a provider say what is missing", () => {
  assert.throws(() => renderToString(h(Who)), /no <GatehouseProvider client=\{\.\.\.\}> above this component/);
});
