/**
 * The site's identity: an RSA key and a self-signed certificate. Sites trust
 * each other by pinning the SHA-256 fingerprint of this certificate at
 * pairing, not through a CA, so the certificate's names do not matter and it
 * can live for ten years.
 */
import { X509Certificate } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { generate } from "selfsigned";
import { writeFileAtomic } from "./files.js";

export interface SiteIdentity {
  keyPem: string;
  certPem: string;
  fingerprint: string;
}

export async function createIdentity(name: string, keyFile: string, certFile: string): Promise<SiteIdentity> {
  const pems = await generate([{ name: "commonName", value: name }], { keySize: 2048, algorithm: "sha256", notAfterDate: new Date(Date.now() + 3650 * 86_400_000) });
  await fs.mkdir(path.dirname(keyFile), { recursive: true, mode: 0o700 });
  await writeFileAtomic(keyFile, pems.private, 0o600);
  await writeFileAtomic(certFile, pems.cert);
  return { keyPem: pems.private, certPem: pems.cert, fingerprint: fingerprintOf(pems.cert) };
}

export async function loadIdentity(keyFile: string, certFile: string): Promise<SiteIdentity> {
  const [keyPem, certPem] = await Promise.all([fs.readFile(keyFile, "utf8"), fs.readFile(certFile, "utf8")]);
  return { keyPem, certPem, fingerprint: fingerprintOf(certPem) };
}

/** "AB:CD:…", as Node's TLS sockets report `fingerprint256`. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
