// The ca, token and cert commands' help and file names, apart from their handlers: main.ts and
// bootstrap.ts need them without loading node-forge.
import { DEFAULT_TRUST_DOMAIN } from "../ca/spiffe.js";

/** The file names gRPC's file_watcher certificate provider is configured with. */
export const CERT_FILES = { chain: "certificates.pem", key: "private_key.pem", bundle: "ca_certificates.pem" } as const;

const STATE_OPTIONS = `options of every subcommand:
  --state-dir DIR            where the CA lives (default .gitmesh-state)
  --trust-domain DOMAIN      SPIFFE trust domain (default ${DEFAULT_TRUST_DOMAIN}; the state
                             directory records the first one used, and refuses another)`;

export const CA_SYNOPSIS = "gitmesh ca init|show|bundle|rotate [options]";
export const CA_HELP = `usage: ${CA_SYNOPSIS}

The mesh certificate authority, kept in STATE_DIR/ca (docs/ca.md).

  gitmesh ca init [--key-type rsa|ecdsa]      a new self-signed root (10 years)
  gitmesh ca init --root-cert F --root-key F  import an organisation's root
  gitmesh ca init --intermediate-cert F --intermediate-key F --chain F
                                              import an intermediate and its chain to the root
  gitmesh ca init --force ...                 replace a damaged (or any) CA on purpose: the old
                                              state is kept in ca/replaced-TIME/, and every proxy
                                              needs the new trust bundle
  gitmesh ca show                             issuing CA, validity, fingerprints, trust bundle
  gitmesh ca bundle                           print the trust bundle (STATE_DIR/trust-bundle.pem)
  gitmesh ca rotate introduce|switch|drop|abandon [--force]
                                              one step of a root rotation; serve applies it
                                              at its next resync

${STATE_OPTIONS}`;

export const TOKEN_SYNOPSIS = "gitmesh token issue|inspect|revoke|list-revoked [options]";
export const TOKEN_HELP = `usage: ${TOKEN_SYNOPSIS}

Proxy credentials, sent as the gRPC metadata "authorization: Bearer TOKEN" (docs/ca.md, "Tokens").

  gitmesh token issue --namespace NS --service-account SA [--ttl 720h]
                      [--node-id ID | --workload-group NAME]
                                   prints a token; bind it to one node id, or to the members
                                   of a WorkloadGroup (recommended)
  gitmesh token inspect TOKEN      its id, identity, binding, expiry, revocation
  gitmesh token revoke TOKEN|ID    refuse it from now on (STATE_DIR/ca/revoked-tokens)
  gitmesh token list-revoked       the revoked tokens

${STATE_OPTIONS}`;

export const CERT_SYNOPSIS = "gitmesh cert issue --namespace NS --service-account SA --out DIR [options]";
export const CERT_HELP = `usage: ${CERT_SYNOPSIS}

Writes ${CERT_FILES.chain}, ${CERT_FILES.key} and ${CERT_FILES.bundle} for gRPC's file_watcher
certificate provider (docs/mtls.md). gitmesh agent --proxy grpc keeps such files renewed without
the CA's keys on the host.

  --key-type rsa|ecdsa       the workload key (default rsa)
  --ttl DURATION             certificate lifetime (default 24h)

${STATE_OPTIONS}`;
