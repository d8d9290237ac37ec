// The command loop of the bench's Node server processes (side-by-side-server.ts,
// sidecar-push-server.ts): the same line protocol as the go-control-plane peer (bench/peer), read
// by server-process.ts. It prints "listening PORT", then answers commands on stdin, one a line:
//   set A|B          what is served becomes A or B: "ok set MS [DETAIL]"
//   gc               full collections: "ok gc"
//   stall            the longest event-loop stall since the last set, in ms: "ok stall MS"
//   profile-start    starts V8's CPU profiler (what --cpu-prof runs): "ok profile-start"
//   profile-stop F   stops it and writes the profile to F: "ok profile-stop"
//   quit
// and whatever commands the server adds (Served.other).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

export type Label = "A" | "B";

export interface Served {
  readonly port: number;
  /** Makes `label` what is served; resolves with details to add to the answer, if any. */
  set(label: Label): void | Promise<void | string>;
  /** A command of this server's own: its answer (after "ok CMD"), or undefined if unknown. */
  other?(cmd: string, value: string | undefined): string | undefined | Promise<string | undefined>;
}

export async function answerCommands(served: Served): Promise<never> {
  const stalls = monitorEventLoopDelay({ resolution: 1 });
  stalls.enable();
  const profiler = new Session();
  const gc = (globalThis as { gc?: () => void }).gc;
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  say(`listening ${served.port}`);

  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, value] = line.trim().split(/\s+/);
    if (cmd === "set" && (value === "A" || value === "B")) {
      stalls.reset();
      const t0 = performance.now();
      const detail = await served.set(value);
      say(`ok set ${(performance.now() - t0).toFixed(1)}${detail === undefined ? "" : ` ${detail}`}`);
    } else if (cmd === "gc") {
      if (gc === undefined) throw new Error("run with node --expose-gc");
      gc();
      gc();
      say("ok gc");
    } else if (cmd === "stall") {
      say(`ok stall ${(stalls.max / 1e6).toFixed(1)}`);
    } else if (cmd === "profile-start") {
      profiler.connect();
      await profiler.post("Profiler.enable");
      await profiler.post("Profiler.start");
      say("ok profile-start");
    } else if (cmd === "profile-stop" && value !== undefined) {
      const { profile } = await profiler.post("Profiler.stop");
      writeFileSync(value, JSON.stringify(profile));
      profiler.disconnect();
      say("ok profile-stop");
    } else if (cmd === "quit") {
      process.exit(0);
    } else {
      const answer = cmd === undefined ? undefined : await served.other?.(cmd, value);
      say(answer === undefined ? `error unknown command ${JSON.stringify(line)}` : `ok ${cmd} ${answer}`);
    }
  }
  process.exit(0);
}
