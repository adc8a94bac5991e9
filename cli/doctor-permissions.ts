// `berth doctor`'s permission checks: files that hold secrets or give root
// (registry credentials, the engine socket, Berth's own dir) must not be open
// to other users.
import { statSync, readFileSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Check } from '../vm/doctor.js';

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0');

function statOrUndefined(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** Registry credentials in config.json: readable by the owner only. */
function credentialsCheck(env: NodeJS.ProcessEnv): Check | undefined {
  const file = path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
  const st = statOrUndefined(file);
  if (!st) return undefined;
  let hasAuth = false;
  try {
    const auths = (JSON.parse(readFileSync(file, 'utf8')) as { auths?: Record<string, { auth?: string }> })
      .auths;
    hasAuth = Object.values(auths ?? {}).some((a) => typeof a?.auth === 'string' && a.auth.length > 0);
  } catch {
    // An unreadable file holds nothing we can judge.
  }
  if (!hasAuth) return undefined;
  const open = (st.mode & 0o077) !== 0;
  return {
    name: 'credentials',
    ok: !open,
    detail: open
      ? `${file} holds registry passwords and is readable by others (mode ${octal(st.mode)})`
      : `${file} holds registry passwords, readable by its owner only`,
    fix: open ? `chmod 600 ${file}` : undefined,
  };
}

/**
 * The engine socket gives root to whoever can write to it: the user's own
 * socket (the VM's, forwarded) is 0600; a root engine's is 0660 with a group.
 */
function socketCheck(socket: string): Check | undefined {
  const st = statOrUndefined(socket);
  if (!st) return undefined;
  const mine = process.getuid !== undefined && st.uid === process.getuid() && st.uid !== 0;
  const tooOpen = mine ? (st.mode & 0o077) !== 0 : (st.mode & 0o007) !== 0;
  return {
    name: 'socket permissions',
    ok: !tooOpen,
    detail: tooOpen
      ? `${socket} (mode ${octal(st.mode)}) lets ${mine ? 'other users' : 'every user'} control the engine, that is, be root`
      : `${socket} is mode ${octal(st.mode)}`,
    fix: tooOpen ? `chmod ${mine ? '600' : '660'} ${socket}` : undefined,
  };
}

/** ~/.berth holds the VM's keys and disk: nobody else may write there. */
function berthDirCheck(home: string): Check | undefined {
  const dir = path.join(home, '.berth');
  const st = statOrUndefined(dir);
  if (!st) return undefined;
  const open = (st.mode & 0o022) !== 0;
  return {
    name: 'berth dir',
    ok: !open,
    detail: open
      ? `${dir} is writable by others (mode ${octal(st.mode)})`
      : `${dir} is mode ${octal(st.mode)}`,
    fix: open ? `chmod go-w ${dir}` : undefined,
  };
}

export function permissionChecks(env: NodeJS.ProcessEnv, socket: string): Check[] {
  return [credentialsCheck(env), socketCheck(socket), berthDirCheck(env.HOME || os.homedir())].filter(
    (c): c is Check => c !== undefined,
  );
}
