// npm runs "prepare" after `npm ci` or `npm install` here, before `npm pack`,
// and when an app installs this folder (`npm install ./clients/js`). In that
// last case npm has not installed this package's devDependencies, so the
// build would fail on a missing tsc: install them from package-lock.json
// first, then build.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// The npm that runs this script (npm_execpath), else the one on PATH.
const npm = (...args) =>
  process.env.npm_execpath
    ? execFileSync(process.execPath, [process.env.npm_execpath, ...args], { cwd: root, stdio: "inherit" })
    : execFileSync("npm", args, { cwd: root, stdio: "inherit", shell: process.platform === "win32" });

if (!existsSync(new URL("../node_modules/typescript/package.json", import.meta.url))) {
  console.error("@gatehouse/client: installing its build tools (npm ci in %s)", root);
  npm("ci", "--ignore-scripts", "--no-audit", "--no-fund");
}
npm("run", "build");
