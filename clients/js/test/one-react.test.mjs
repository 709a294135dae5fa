import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// An app that links this folder (npm install ../gatehouse/clients/js) has
// its bundler resolve dist/react.js's "react" from dist/ upwards: a React
// found there would be a second one in the app, and every hook would fail
// ("Cannot read properties of null (reading 'useContext')"). npm ci and the
// prepare build must leave none; the tests' React lives in test/react-env.
test("no React where a linking app's bundler would look for dist/react.js's imports", () => {
  let dir = fileURLToPath(new URL("../dist", import.meta.url));
  for (;;) {
    for (const pkg of ["react", "react-dom"]) {
      assert.ok(!existsSync(join(dir, "node_modules", pkg)), `${join(dir, "node_modules", pkg)} is a second React for a linking app`);
    }
    if (dirname(dir) === dir) break;
    dir = dirname(dir);
  }
});
