// The key pair the host authenticates to the guest with, made once per install
// (per BERTH_HOME). The public half goes to the guest on its kernel command line.
import { existsSync, promises as fs } from 'node:fs';
import ssh2 from 'ssh2';
import { writeFileAtomic } from '../common/atomic-file.js';
import { generateEd25519 } from '../common/ed25519-keys.js';

export interface HostKey {
  privateKey: string;
  /** The base64 blob of the ssh-ed25519 public key. */
  publicBlob: string;
}

export async function ensureHostKey(file: string): Promise<HostKey> {
  if (!existsSync(file)) {
    const pair = generateEd25519('berth');
    await writeFileAtomic(file + '.pub', pair.public + '\n', 0o644, { mkdir: true });
    await writeFileAtomic(file, pair.private, 0o600, { mkdir: true });
  }
  const privateKey = await fs.readFile(file, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`${file}: ${parsed.message}`);
  return { privateKey, publicBlob: parsed.getPublicSSH().toString('base64') };
}
