// What the image readers accept, for `--help` of every command that reads
// images (one text, so wrap, verify and unwrap say the same).
import { LAYER_FORMATS } from '../layer/compression.ts';

export const INSECURE_REGISTRY_HELP = 'registry HOST[:PORT] spoken to over HTTPS without certificate verification, or plain HTTP when it has no TLS (repeatable)';

export const FORMATS_HELP = `
Images and transports:
  NAME[:TAG|@DIGEST]   a registry (names normalised as Docker does). HTTPS, verified against Node's
                       CA roots, the system bundle (SSL_CERT_FILE or /etc/ssl/certs/...) and the PEM
                       file in NODE_EXTRA_CA_CERTS. Loopback registries (localhost, 127.0.0.0/8, ::1)
                       and --insecure-registry hosts: HTTPS first, plain HTTP when the registry has
                       no TLS; --insecure-registry also skips certificate verification.
  oci:DIR[:TAG]        an OCI image layout
  docker-archive:FILE[:REF]  a \`docker save\` tarball
Layers read: ${LAYER_FORMATS}; blob digests and diff_ids are checked.
`;
