// ed25519 key pairs for the host ↔ guest control channel. ssh2's generator
// (1.17) drops a leading zero byte of the public key about once in 150 pairs,
// and the pair it writes then does not parse back ("Malformed OpenSSH public
// key"): such a pair is thrown away and another made.
import ssh2 from 'ssh2';

export interface KeyPair {
  /** OpenSSH private key (PEM). */
  private: string;
  /** "ssh-ed25519 AAAA… [comment]". */
  public: string;
}

const MAX_TRIES = 20;

/** A pair that ssh2 can read back, both halves. */
export function generateEd25519(comment?: string): KeyPair {
  for (let i = 0; i < MAX_TRIES; i++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', comment ? { comment } : {});
    if (usableKey(pair.private) && usableKey(pair.public)) return pair;
  }
  throw new Error(`no readable ed25519 key pair in ${MAX_TRIES} tries`);
}

/** ssh2 parses it (a key from an older Berth may not). */
export function usableKey(key: string): boolean {
  return !(ssh2.utils.parseKey(key) instanceof Error);
}
