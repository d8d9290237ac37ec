// The systemd units in contrib/systemd: systemd-analyze verify accepts them (when this machine has
// systemd-analyze; Debian's systemd package). verify insists the ExecStart binary exists, so the
// units are checked with /usr/local/bin/gitmesh (npm's global prefix) pointed at this build.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { tempDir } from "../support/git-repo.js";
import { CLI } from "../support/gitmesh-process.js";
import { findPeer, REPO_ROOT } from "../support/peers.js";

const exec = promisify(execFile);
const UNITS = ["gitmesh.service", "gitmesh-agent.service"];

test("systemd-analyze verify accepts the units, which run gitmesh serve and gitmesh agent with a fleet's descriptor limit", async (t) => {
  const analyze = findPeer("systemd-analyze");
  if (analyze === undefined) {
    t.skip("systemd-analyze is not installed (Debian: apt-get install systemd)");
    return;
  }
  const dir = await tempDir("gmq-systemd-");
  const gitmesh = join(dir, "gitmesh");
  writeFileSync(gitmesh, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
  chmodSync(gitmesh, 0o755);
  for (const unit of UNITS) {
    const text = readFileSync(join(REPO_ROOT, "contrib/systemd", unit), "utf8");
    assert.match(text, /^ExecStart=\/usr\/local\/bin\/gitmesh (serve|agent) /m, unit);
    assert.ok(Number(/^LimitNOFILE=(\d+)$/m.exec(text)?.[1]) >= 65_536, `${unit}: LimitNOFILE sized for a fleet`);
    writeFileSync(join(dir, unit), text.replaceAll("/usr/local/bin/gitmesh", gitmesh));
  }
  const r = await exec(analyze, ["verify", ...UNITS.map((u) => join(dir, u))]).catch((e: { stderr?: string; message: string }) => assert.fail(e.stderr ?? e.message));
  assert.equal(r.stderr, "", "no warnings either");
});
