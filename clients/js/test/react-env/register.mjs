// Lets the tests, and the built React bindings they load, import React from
// test/react-env/node_modules. React is deliberately not in clients/js's own
// node_modules: an app that links this folder resolves the bindings' "react"
// from their real path, and a copy there would be a second React in the app
// (hooks fail: "Cannot read properties of null (reading 'useContext')").
// ES modules: a resolve hook. CommonJS (require in dist/cjs): NODE_PATH, set
// by scripts/test.mjs for every test process.
import { register } from "node:module";

register("./hooks.mjs", import.meta.url);
