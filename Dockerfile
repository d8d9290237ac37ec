# gitmesh itself: the control plane compose.yaml runs. The image holds what the build needs
# (package files, tsconfig, the proto roots, src) and what the server reads at run time: schemas/
# (every config file is checked against them) and protos/roots.json (the Envoy protos it loads
# from the pinned @grpc/grpc-js-xds). test/fleet/images.test.ts builds this file set as this file
# says and checks that it serves and passes compose's healthcheck.
FROM node:20-slim
WORKDIR /gitmesh
COPY package.json package-lock.json tsconfig.json ./
COPY protos protos
COPY schemas schemas
COPY src src
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev
# 15010 xDS (plaintext, no secrets), 15012 xDS and SDS over TLS with tokens, 15014 admin.
EXPOSE 15010 15012 15014
ENTRYPOINT ["node", "dist/src/cli/main.js"]
