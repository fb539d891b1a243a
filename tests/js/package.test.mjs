// The npm package: `npm pack` of the repository root ships reznet-ws.js and its .d.ts as they are
// (no build step, no copy), installs into a fresh project, and bundles with esbuild.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLIENT = "reznet_ws/static/reznet_ws/reznet-ws.js";
const TYPES = "reznet_ws/static/reznet_ws/reznet-ws.d.ts";
// The modules the client imports, next to it: reznet-ws-*.js.
const MODULES = readdirSync(join(ROOT, "reznet_ws/static/reznet_ws"))
  .filter((name) => /^reznet-ws-.*\.js$/.test(name))
  .map((name) => `reznet_ws/static/reznet_ws/${name}`);
const ON_CI = ["1", "true", "yes"].includes((process.env.CI ?? "").toLowerCase());
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

const npm = (args, cwd) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

// esbuild is a devDependency: `npm ci` at the repository root (the nox "js" session) installs it.
function findEsbuild() {
  try {
    return createRequire(join(ROOT, "package.json")).resolve("esbuild");
  } catch {
    return null;
  }
}

let scratch;
let packed;

before(() => {
  scratch = mkdtempSync(join(tmpdir(), "reznet-ws-npm-"));
  [packed] = JSON.parse(npm(["pack", "--json", "--pack-destination", scratch], ROOT));
});

after(() => rmSync(scratch, { recursive: true, force: true }));

test("package.json points at the client module and its declarations, which exist", () => {
  assert.equal(manifest.name, "reznet-ws");
  assert.equal(manifest.type, "module");
  assert.deepEqual(manifest.exports["."], { types: `./${TYPES}`, default: `./${CLIENT}` });
  assert.equal(manifest.types, `./${TYPES}`);
  assert.deepEqual([...manifest.files].sort(), [CLIENT, ...MODULES, TYPES].sort());
  for (const file of manifest.files) assert.ok(existsSync(join(ROOT, file)), file);
});

test("package.json version equals reznet_ws.__version__", () => {
  const init = readFileSync(join(ROOT, "reznet_ws/__init__.py"), "utf8");
  assert.equal(manifest.version, /__version__ = "([^"]+)"/.exec(init)[1]);
});

test("npm pack ships the client and its declarations, nothing of the Python package", () => {
  const files = packed.files.map((file) => file.path).sort();
  assert.deepEqual(files, ["LICENSE", "README.md", "package.json", TYPES, CLIENT, ...MODULES].sort());
  assert.equal(packed.filename, `reznet-ws-${manifest.version}.tgz`);
});

test("the tarball installs into a project, imports as 'reznet-ws' and bundles with esbuild", async (t) => {
  const esbuild = findEsbuild();
  if (!esbuild) {
    if (ON_CI) assert.fail("esbuild is not installed: run `npm ci` at the repository root");
    t.skip("esbuild is not installed (npm ci at the repository root)");
    return;
  }
  const project = join(scratch, "app");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "app", private: true }));
  npm(["install", "--no-audit", "--no-fund", join(scratch, packed.filename)], project);

  const installed = join(project, "node_modules", "reznet-ws");
  assert.equal(readFileSync(join(installed, CLIENT), "utf8"), readFileSync(join(ROOT, CLIENT), "utf8"));
  assert.ok(existsSync(join(installed, TYPES)));

  writeFileSync(
    join(project, "main.js"),
    'import { ReznetSocket, PROTOCOL_VERSION } from "reznet-ws";\n' +
      "export const ok = typeof ReznetSocket === 'function' && PROTOCOL_VERSION;\n",
  );
  const { build } = await import(pathToFileURL(esbuild).href);
  const outfile = join(project, "dist", "bundle.mjs");
  const result = await build({
    absWorkingDir: project,
    entryPoints: ["main.js"],
    bundle: true,
    format: "esm",
    platform: "browser",
    outfile,
    logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
  assert.deepEqual(result.warnings, []);
  const bundle = readFileSync(outfile, "utf8");
  assert.match(bundle, /node_modules\/reznet-ws\/reznet_ws\/static\/reznet_ws\/reznet-ws\.js/);
  assert.doesNotMatch(bundle, /from\s+"reznet-ws"/); // resolved and inlined, not left external
  const { ok } = await import(pathToFileURL(outfile).href);
  assert.equal(ok, 2);
});
