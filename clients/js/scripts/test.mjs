// npm test: installs React for the tests into test/react-env (never into
// this package's node_modules: see test/react-env/register.mjs), then runs
// node --test on both formats and the TypeScript check of the declarations.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readdirSync } from "node:fs";

const root = fileURLToPath(new URL("..", import.meta.url));
const env = join(root, "test", "react-env");
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
const npm = (...args) =>
  process.env.npm_execpath
    ? run(process.execPath, [process.env.npm_execpath, ...args], { cwd: env })
    : run("npm", args, { cwd: env, shell: process.platform === "win32" });

npm("ci", "--no-audit", "--no-fund");
const tests = readdirSync(join(root, "test"))
  .filter((f) => /\.test\.c?js$|\.test\.mjs$/.test(f))
  .map((f) => join("test", f));
try {
  run(process.execPath, ["--import", "./test/react-env/register.mjs", "--test", ...tests], {
    env: { ...process.env, NODE_PATH: join(env, "node_modules") },
  });
  run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "test/types"]);
} catch (err) {
  process.exit(err.status ?? 1);
}
