#!/usr/bin/env node
import { parseArgs } from "node:util";
import { createLogger, type LogLevel } from "../log.js";
import { serve } from "./serve.js";

const USAGE = `usage: gitmesh <command> [options]

commands:
  serve     serve xDS to Envoy proxies and proxyless gRPC clients
            --xds-address HOST:PORT   where to serve xDS (default 0.0.0.0:15010)
            --log-level LEVEL         debug, info, warn or error (default info)

  gitmesh <command> --help shows this text.`;

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Exit codes: 0 done, 1 failed, 2 usage error. */
async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "serve") return usageError(`unknown command "${command}"`);

  let values;
  try {
    ({ values } = parseArgs({
      args: [...rest],
      options: {
        "xds-address": { type: "string", default: "0.0.0.0:15010" },
        "log-level": { type: "string", default: "info" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help === true) {
    console.log(USAGE);
    return 0;
  }
  const level = values["log-level"] as LogLevel;
  if (!LEVELS.includes(level)) return usageError(`--log-level must be one of ${LEVELS.join(", ")}`);
  const address = values["xds-address"];
  if (!/^.+:\d+$/.test(address)) return usageError(`--xds-address must be HOST:PORT, got "${address}"`);

  const logger = createLogger({ level });
  let serving;
  try {
    serving = await serve({ xdsAddress: address, logger });
  } catch (e) {
    logger.error("could not start", { error: (e as Error).message });
    return 1;
  }
  const running = serving;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn("second signal: exiting without waiting for streams", { signal });
        resolve(1);
        return;
      }
      stopping = true;
      logger.info("stopping", { signal });
      running.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error("shutdown failed", { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
}

function usageError(message: string): number {
  console.error(`gitmesh: ${message}\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error("gitmesh: bug:", e);
    process.exit(1);
  },
);
