import type { Logger } from "../log.js";
import { ADS_ORDER, SnapshotCache, XdsServer } from "../xds/index.js";

export interface ServeOptions {
  readonly xdsAddress: string;
  readonly logger: Logger;
}

/** A running `gitmesh serve`: stop() ends every stream cleanly and closes the server. */
export interface Serving {
  readonly xdsPort: number;
  stop(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const cache = new SnapshotCache();
  const server = new XdsServer({ source: cache, logger: options.logger });
  const port = await server.listen(options.xdsAddress);
  const host = options.xdsAddress.slice(0, options.xdsAddress.lastIndexOf(":"));
  options.logger.info("gitmesh serving xDS", {
    address: `${host}:${port}`,
    protocols: "ADS (state of the world and delta), per-type discovery services",
    types: ADS_ORDER.map((k) => k.short).join(","),
    config: "none loaded: no mesh config source yet, proxies connect and wait",
  });
  return {
    xdsPort: port,
    async stop() {
      const streams = server.streamCount;
      await server.shutdown();
      options.logger.info("gitmesh stopped", { closedStreams: streams });
    },
  };
}
