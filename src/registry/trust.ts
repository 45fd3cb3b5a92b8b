// The certificate authorities a verified HTTPS connection to a registry
// trusts: Node's bundled roots, the system's bundle (as Docker and crane use:
// SSL_CERT_FILE, else the first bundle of Go's list that exists) and the PEM
// file NODE_EXTRA_CA_CERTS names. Node itself adds NODE_EXTRA_CA_CERTS only at
// process start and never reads the system store on Node 20, so the list is
// built here from the environment the client is given.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Env } from './credentials.ts';

/** Where distributions keep their CA bundle (Go's crypto/x509 root_linux.go order). */
export const SYSTEM_CA_FILES = [
  '/etc/ssl/certs/ca-certificates.crt',                // Debian, Ubuntu, Gentoo, Arch
  '/etc/pki/tls/certs/ca-bundle.crt',                  // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem',                            // openSUSE
  '/etc/pki/tls/cacert.pem',                           // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem',                                 // Alpine
];

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readPem(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').match(PEM_CERT) ?? [];
  } catch {
    return [];
  }
}

/** Every CA certificate (PEM) to trust; `files` says which files contributed. */
export function trustedCertificates(env: Env, systemFiles: readonly string[] = SYSTEM_CA_FILES): { ca: string[]; files: string[] } {
  const files: string[] = [];
  const ca = new Set(rootCertificates);
  const system = env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : systemFiles;
  for (const f of system) {
    const certs = readPem(f);
    if (certs.length === 0) continue;
    certs.forEach((c) => ca.add(c));
    files.push(f);
    break;
  }
  if (env.NODE_EXTRA_CA_CERTS) {
    const certs = readPem(env.NODE_EXTRA_CA_CERTS);
    certs.forEach((c) => ca.add(c));
    if (certs.length > 0) files.push(env.NODE_EXTRA_CA_CERTS);
  }
  return { ca: [...ca], files };
}
