// crun compiles a container's seccomp profile to BPF at every start (~20 ms for
// Docker's default profile here, far more under TCG), and accepts the compiled
// filter instead through the `run.oci.seccomp_bpf_data` annotation (crun(1)). It
// leaves what it compiled in its state dir as `seccomp.bpf`; this keeps one copy
// per profile and crun build, in memory and beside the runtime's state (so an
// engine restart in the same boot keeps it).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { log } from '../util/logger.js';

export const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

/** A classic BPF instruction (struct sock_filter) is 8 bytes; the kernel takes at most 4096. */
const SOCK_FILTER_SIZE = 8;
const MAX_INSTRUCTIONS = 4096;

function plausibleFilter(bpf: Buffer): boolean {
  return (
    bpf.length > 0 && bpf.length % SOCK_FILTER_SIZE === 0 && bpf.length <= SOCK_FILTER_SIZE * MAX_INSTRUCTIONS
  );
}

export class SeccompBpfCache {
  /** key → the filter, base64 as the annotation wants it. */
  private readonly filters = new Map<string, string>();

  /**
   * @param dir where compiled filters are kept (created on first use)
   * @param runtimeIdentity names the exact runtime build: a filter compiled by one
   *   crun/libseccomp is not handed to another
   */
  constructor(
    private readonly dir: string,
    private readonly runtimeIdentity: string,
  ) {}

  /** The cache key of a profile (undefined: no profile, nothing to cache). */
  keyOf(seccomp: unknown): string | undefined {
    if (!seccomp) return undefined;
    return createHash('sha256')
      .update(this.runtimeIdentity)
      .update('\0')
      .update(JSON.stringify(seccomp))
      .digest('hex');
  }

  private file(key: string): string {
    return path.join(this.dir, `${key}.bpf`);
  }

  /** The compiled filter for `key` (base64), or undefined when not compiled yet. */
  async lookup(key: string): Promise<string | undefined> {
    const known = this.filters.get(key);
    if (known) return known;
    const bpf = await fs.readFile(this.file(key)).catch(() => undefined);
    if (!bpf || !plausibleFilter(bpf)) return undefined;
    const encoded = bpf.toString('base64');
    this.filters.set(key, encoded);
    return encoded;
  }

  /** Keeps the filter crun compiled for a running container (its state dir's seccomp.bpf). */
  async remember(key: string, compiledFile: string): Promise<void> {
    if (this.filters.has(key)) return;
    const bpf = await fs.readFile(compiledFile).catch(() => undefined);
    if (!bpf || !plausibleFilter(bpf)) return;
    this.filters.set(key, bpf.toString('base64'));
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(this.file(key), bpf, 0o600);
    } catch (err) {
      // Only the next engine start's first container pays for this.
      log.debug('cannot keep the compiled seccomp filter', { error: (err as Error).message });
    }
  }

  /** Drops a filter a start failed with, so the next start compiles afresh. */
  async forget(key: string): Promise<void> {
    this.filters.delete(key);
    await fs.rm(this.file(key), { force: true });
  }
}
