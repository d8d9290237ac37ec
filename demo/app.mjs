// The demo workload compose.yaml runs beside each sidecar: an HTTP service on 127.0.0.1 (its
// sidecar owns the container's address) that says who it is and, given UPSTREAM, what the
// service it calls answered. No dependencies: node:http only.
import { createServer, request } from "node:http";
import { hostname } from "node:os";

const name = process.env.SERVICE ?? "app";
const version = process.env.VERSION ?? "v1";
const port = Number(process.env.PORT ?? 8080);
const upstream = process.env.UPSTREAM;

function call(url, headers) {
  return new Promise((resolve) => {
    const req = request(url, { headers, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body: safeJson(body) }));
    });
    req.on("error", (e) => resolve({ error: e.message }));
    req.end();
  });
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

createServer(async (req, res) => {
  const answer = { service: name, version, host: hostname(), path: req.url };
  if (upstream !== undefined) {
    const canary = req.headers["x-canary"];
    answer.upstream = await call(`${upstream}/api${req.url === "/" ? "/" : req.url}`, canary === undefined ? {} : { "x-canary": canary });
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(`${JSON.stringify(answer)}\n`);
}).listen(port, "127.0.0.1", () => console.log(`${name} ${version} on 127.0.0.1:${port}`));
