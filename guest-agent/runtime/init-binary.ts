// `docker run --init`: a small static init (tini, which Docker ships as
// docker-init) runs as the container's PID 1, reaps zombies and passes signals
// on. It is bind-mounted from this machine, so it must not need any library.
import { accessSync, constants, realpathSync } from 'node:fs';
import path from 'node:path';

/** Names to look for, in order: Docker's own, then Debian's tini package's static build. */
const NAMES = ['docker-init', 'tini-static'];
const EXTRA_DIRS = ['/usr/local/libexec/docker', '/usr/libexec/docker'];

let found: string | null | undefined;

/** The init binary's real path, or undefined when this machine has none. */
export function findInitBinary(): string | undefined {
  if (found === undefined) {
    found = null;
    const dirs = [...(process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':'), ...EXTRA_DIRS];
    search: for (const name of NAMES) {
      for (const dir of dirs) {
        if (!dir) continue;
        const candidate = path.join(dir, name);
        try {
          accessSync(candidate, constants.X_OK);
          found = realpathSync(candidate);
          break search;
        } catch {
          // not here
        }
      }
    }
  }
  return found ?? undefined;
}

export const NO_INIT_BINARY =
  "--init needs a static init binary (docker-init or tini-static) on the engine's machine: install Debian's tini package";
