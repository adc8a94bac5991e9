// Folder sharing: which host folders appear in the VM, at the same absolute
// path, so `docker run -v "$PWD":/w` works unchanged. The list comes from the
// settings (the user's home by default); each folder is checked here, and the
// guest learns the mapping from the kernel command line (berth.share=…, see
// common/control.ts), where the path is hex so that any byte survives.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { SHARE_PARAM } from '../../common/control.js';

export type ShareType = 'virtiofs' | '9p';

export interface Share {
  /** The folder on the host, and its path in the guest. */
  hostPath: string;
  /** The device's mount tag (virtiofs and 9p both name a share by tag). */
  tag: string;
}

/** Where a share must not go in the guest: its own system folders and the engine's data. */
const GUEST_RESERVED = [
  '/',
  '/proc',
  '/sys',
  '/dev',
  '/run',
  '/var/lib/berth',
  '/bin',
  '/sbin',
  '/lib',
  '/usr',
  '/etc',
];

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : parent + '/');
}

/**
 * The shares for a list of host folders: each absolute, existing, a directory,
 * not a system folder of the guest; one inside another is already visible
 * through it. What is left out is said in problems.
 */
export function resolveShares(folders: string[]): { shares: Share[]; problems: string[] } {
  const problems: string[] = [];
  const ok: string[] = [];
  for (const raw of folders) {
    if (!raw) continue;
    if (!path.isAbsolute(raw)) {
      problems.push(`share ${raw}: not an absolute path`);
      continue;
    }
    const p = path.resolve(raw);
    const clash = GUEST_RESERVED.find((r) => r === p || (r !== '/' && inside(p, r)));
    if (clash) {
      problems.push(`share ${p}: ${clash} is the VM's own`);
      continue;
    }
    if (!existsSync(p)) {
      problems.push(`share ${p}: does not exist`);
      continue;
    }
    if (!statSync(p).isDirectory()) {
      problems.push(`share ${p}: not a directory`);
      continue;
    }
    if (p.includes('\n')) {
      problems.push(`share ${JSON.stringify(p)}: a newline in the path`);
      continue;
    }
    ok.push(p);
  }
  const unique = [...new Set(ok)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const p of unique) if (!kept.some((k) => inside(p, k))) kept.push(p);
  return { shares: kept.map((hostPath, i) => ({ hostPath, tag: `berth${i}` })), problems };
}

/** The folders to share: BERTH_SHARES (path-delimiter separated; "none" for none), else the user's home. */
export function sharedFolders(env: NodeJS.ProcessEnv, home: string): string[] {
  const list = env.BERTH_SHARES;
  if (list === undefined) return [home];
  if (list.trim() === 'none') return [];
  return list.split(path.delimiter).filter(Boolean);
}

/** One kernel parameter per share: berth.share=TYPE:TAG:HEXPATH, read by the guest init. */
export function shareKernelParams(shares: Share[], type: ShareType): string[] {
  return shares.map((s) => `${SHARE_PARAM}=${type}:${s.tag}:${Buffer.from(s.hostPath).toString('hex')}`);
}
