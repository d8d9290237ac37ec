import { generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

/** Workload and CA key algorithms: RSA 2048 (the default) or ECDSA on P-256. */
export type KeyType = "rsa" | "ecdsa";
export const KEY_TYPES: readonly KeyType[] = ["rsa", "ecdsa"];

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const generate = promisify(generateKeyPair);

/** A fresh key from Node's native crypto, generated off the event loop (libuv's thread pool). */
export function generateKey(type: KeyType): Promise<KeyPair> {
  return type === "rsa" ? generate("rsa", { modulusLength: 2048 }) : generate("ec", { namedCurve: "P-256" });
}

/** PKCS#8 PEM: what Envoy, gRPC and OpenSSL all read. */
export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}
