// Certificates for tests of TLS listeners, made with openssl in a test's own folder: a CA
// (<name>.pem, <name>-key.pem) and certificates it signs with the extensions given.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { run } from '../../guest-agent/util/subprocess.js';

export const SERVER_EXT = 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
export const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n';

export function testCerts(dir: string) {
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  return {
    /** A self-signed CA, valid for a day. */
    ca: async (name: string) => {
      await ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.pem`,
      );
    },
    /** A key and a certificate signed by the CA `by`, with the extensions `ext`. */
    signed: async (name: string, by: string, ext: string) => {
      await ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.csr`,
      );
      await fs.writeFile(path.join(dir, `${name}.ext`), ext);
      await ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${by}.pem`,
        '-CAkey',
        `${by}-key.pem`,
        '-CAcreateserial',
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      );
    },
  };
}
