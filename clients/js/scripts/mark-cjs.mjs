// dist/cjs/package.json makes Node (and TypeScript) read dist/cjs/*.js and
// *.d.ts as CommonJS, though the package itself is "type": "module". Written
// only when it differs, like tsc -b's outputs: a build with nothing to do
// rewrites no file that a running test may be reading.
import { readFileSync, writeFileSync } from "node:fs";

const file = new URL("../dist/cjs/package.json", import.meta.url);
const want = JSON.stringify({ type: "commonjs" }) + "\n";
let have = null;
try {
  have = readFileSync(file, "utf8");
} catch {
  // not built yet
}
if (have !== want) writeFileSync(file, want);
