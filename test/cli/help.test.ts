// `gitmesh` as a user meets it: the version, each command's own help, and usage errors as one line
// saying where the help is (not the whole usage). Every command's flags keep working.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gitmesh } from "../support/gitmesh-process.js";
import { REPO_ROOT } from "../support/peers.js";

const COMMANDS = ["serve", "validate", "render", "bootstrap", "hosts", "agent", "ca", "token", "cert"];

test("gitmesh --version prints the package's version", async () => {
  const { version } = JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, "utf8")) as { version: string };
  const r = await gitmesh(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `gitmesh ${version}\n`);
});

test("gitmesh --help lists every command with one line each; gitmesh alone says the same on stderr and exits 2", async () => {
  const help = await gitmesh(["--help"]);
  assert.equal(help.code, 0);
  for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${c} +\\S.+$`, "m"), c);
  const bare = await gitmesh([]);
  assert.equal(bare.code, 2);
  assert.equal(bare.stderr.trim(), help.stdout.trim());
});

for (const command of COMMANDS) {
  test(`gitmesh ${command} --help prints that command's help, and gitmesh help ${command} the same`, async () => {
    const r = await gitmesh([command, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: gitmesh ${command} `));
    for (const other of COMMANDS.filter((c) => c !== command)) assert.doesNotMatch(r.stdout, new RegExp(`^usage: gitmesh ${other} `, "m"), `not ${other}'s help`);
    assert.equal((await gitmesh(["help", command])).stdout, r.stdout);
    assert.equal((await gitmesh([command, "-h"])).stdout, r.stdout);
  });
}

test("a usage error is one line and where the help is, exit 2", async () => {
  const table: [readonly string[], RegExp][] = [
    [["validate"], /^gitmesh: validate takes a config directory, or files$/],
    [["validate", "config-examples", "--format", "xml"], /^gitmesh: --format must be one of text, json, github$/],
    [["render", "config-examples", "--namespace", "x"], /^gitmesh: render needs --namespace and --service-account$/],
    [["render", "package.json", "--namespace", "x", "--service-account", "y"], /^gitmesh: render takes a config directory: package.json is not one$/],
    [["hosts", "package.json"], /^gitmesh: hosts takes a config directory: package.json is not one$/],
    [["hosts", "no-such-directory"], /^gitmesh: hosts takes a config directory: no-such-directory is not one$/],
    [["serve", "--bogus"], /^gitmesh: Unknown option '--bogus'/],
    [["agent", "--namespace", "a", "--service-account", "b"], /^gitmesh: agent needs --token-file and --xds-ca-file/],
    [["agent", "--namespace", "a", "--service-account", "b", "--token-file", "t", "--xds-ca-file", "c", "--proxy", "gateway", "--hosts-file", "/etc/hosts"], /^gitmesh: --hosts-file is for sidecars/],
    [["token", "issue", "--namespace", "a"], /^gitmesh: token issue needs --namespace and --service-account$/],
  ];
  for (const [args, first] of table) {
    const r = await gitmesh(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0]!, first);
    assert.match(lines[1]!, new RegExp(`^usage: gitmesh ${args[0]} .*\\(gitmesh ${args[0]} --help shows every option\\)$`));
    assert.equal(r.stdout, "");
  }
  const unknown = await gitmesh(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, 'gitmesh: unknown command "frobnicate"\nusage: gitmesh COMMAND [options] (gitmesh --help lists the commands)\n');
});

test("render renders an Envoy sidecar unless told otherwise, and says which kind it assumed", async () => {
  const args = ["render", "config-examples/bookinfo", "--namespace", "bookinfo", "--service-account", "reviews", "--labels", "app=reviews,version=v2", "--workload-name", "reviews-v2", "--format", "json"];
  const sidecar = await gitmesh(args);
  assert.equal(sidecar.code, 0, sidecar.stderr);
  assert.match(sidecar.stderr, /rendering for an Envoy sidecar \(the default\); --proxy gateway or --proxy grpc renders the other kinds/);
  const listeners = (JSON.parse(sidecar.stdout) as { listeners: { name: string }[] }).listeners.map((l) => l.name);
  assert.ok(listeners.includes("inbound|9080"), `a sidecar's inbound listener: ${listeners.join(", ")}`);
  assert.ok(listeners.some((n) => /^127\.\d+\.\d+\.\d+_9080$/.test(n)), "its outbound listeners on the services' loopback addresses");
  const grpc = await gitmesh([...args, "--proxy", "grpc"]);
  assert.equal(grpc.code, 0, grpc.stderr);
  assert.equal(grpc.stderr, "", "nothing assumed");
  assert.ok((JSON.parse(grpc.stdout) as { listeners: { name: string }[] }).listeners.some((l) => l.name === "reviews.bookinfo.svc.cluster.local:9080"));
});
