/**
 * A site's identity on the replication link: its private key and self-signed
 * certificate (files in the site directory), and the peers' certificate
 * fingerprints pinned at pairing. There is no CA: trust is exactly the set of
 * pinned SHA-256 fingerprints, checked by us after the TLS 1.3 handshake and
 * before a byte of replication data is read or written.
 */
import { X509Certificate, createHash } from "node:crypto";
import fs from "node:fs/promises";
import type tls from "node:tls";
import selfsigned from "selfsigned";
import { PeerUnauthenticatedError } from "./errors.js";

export interface SiteIdentity {
  site: string;
  keyPem: string;
  certPem: string;
  /** SHA-256 of the certificate (DER), lowercase hex: what a peer pins. */
  fingerprint: string;
}

/** Makes a new key and a 10-year self-signed certificate for `site`. */
export async function generateIdentity(site: string): Promise<SiteIdentity> {
  const now = new Date();
  const pems = await selfsigned.generate([{ name: "commonName", value: site }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 3650 * 86_400_000),
  });
  return { site, keyPem: pems.private, certPem: pems.cert, fingerprint: fingerprintOf(pems.cert) };
}

export async function loadIdentity(site: string, files: { keyFile: string; certFile: string }): Promise<SiteIdentity> {
  const [keyPem, certPem] = await Promise.all([fs.readFile(files.keyFile, "utf8"), fs.readFile(files.certFile, "utf8")]);
  return { site, keyPem, certPem, fingerprint: fingerprintOf(certPem) };
}

export function fingerprintOf(certPem: string): string {
  return normalizeFingerprint(new X509Certificate(certPem).fingerprint256);
}

/** Accepts "AB:CD:…" or "abcd…"; returns lowercase hex without separators. */
export function normalizeFingerprint(f: string): string {
  return f.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
}

/** Checks the peer of a finished handshake against the pinned fingerprints; returns its fingerprint. */
export function checkPeer(socket: tls.TLSSocket, pinned: readonly string[], what: string): string {
  if (socket.getProtocol() !== "TLSv1.3") throw new PeerUnauthenticatedError(`${what} speaks ${String(socket.getProtocol())}, not TLS 1.3`);
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) throw new PeerUnauthenticatedError(`${what} presented no certificate`);
  const fp = createHash("sha256").update(cert.raw).digest("hex");
  if (!pinned.map(normalizeFingerprint).includes(fp)) {
    throw new PeerUnauthenticatedError(`${what} presented certificate ${fp.slice(0, 16)}…, which is not pinned`);
  }
  return fp;
}

/** TLS options both ends share: TLS 1.3 only, our certificate, and no CA check (pins do that). */
export function tlsOptions(id: SiteIdentity): tls.SecureContextOptions & { minVersion: "TLSv1.3"; rejectUnauthorized: false } {
  return { key: id.keyPem, cert: id.certPem, minVersion: "TLSv1.3", maxVersion: "TLSv1.3", rejectUnauthorized: false };
}
