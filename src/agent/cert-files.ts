// The files gRPC's file_watcher certificate provider reads (docs/mtls.md): written by `gitmesh
// cert issue` from the CA's keys, and by the agent from what gitmesh serves over SDS. Each file is
// replaced whole; the key goes before its chain, and gRPC's watcher keeps its old pair until the
// chain and key it reads match.
import { join } from "node:path";
import { writeFileAtomic } from "../common/files.js";
import { CERT_FILES } from "../cli/ca-usage.js";

export interface CertFiles {
  /** The workload certificate and the chain above it (not the root), with its key. */
  readonly identity?: { readonly chainPem: string; readonly keyPem: string };
  /** The trust bundle: every trusted root. */
  readonly bundlePem?: string;
}

export async function writeCertFiles(dir: string, files: CertFiles): Promise<void> {
  if (files.identity !== undefined) {
    await writeFileAtomic(join(dir, CERT_FILES.key), files.identity.keyPem, 0o600);
    await writeFileAtomic(join(dir, CERT_FILES.chain), files.identity.chainPem);
  }
  if (files.bundlePem !== undefined) await writeFileAtomic(join(dir, CERT_FILES.bundle), files.bundlePem);
}
