// The ca, token and cert commands' usage and file names, apart from their handlers: main.ts and
// bootstrap.ts need them without loading node-forge.
import { DEFAULT_TRUST_DOMAIN } from "../ca/spiffe.js";

/** The file names gRPC's file_watcher certificate provider is configured with. */
export const CERT_FILES = { chain: "certificates.pem", key: "private_key.pem", bundle: "ca_certificates.pem" } as const;

export const CA_USAGE = `  ca         the mesh certificate authority (kept in STATE_DIR/ca)
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
                                                         at its next resync (see docs/ca.md)
  token      gitmesh token issue --namespace NS --service-account SA [--ttl 720h]
                                 [--node-id ID | --workload-group NAME]
             prints a proxy credential, sent as gRPC metadata "authorization: Bearer TOKEN";
             bind it to the one node id, or to the members of a WorkloadGroup (recommended)
             gitmesh token inspect TOKEN                 its id, identity, binding, expiry, revocation
             gitmesh token revoke TOKEN|ID               refuse it from now on (STATE_DIR/ca/revoked-tokens)
             gitmesh token list-revoked                  the revoked tokens
  cert       gitmesh cert issue --namespace NS --service-account SA --out DIR
                                [--key-type rsa|ecdsa] [--ttl 24h]
             writes ${CERT_FILES.chain}, ${CERT_FILES.key} and ${CERT_FILES.bundle} for gRPC's file_watcher
             ca, token and cert take --state-dir DIR (default .gitmesh-state) and
             --trust-domain DOMAIN (default ${DEFAULT_TRUST_DOMAIN})`;
