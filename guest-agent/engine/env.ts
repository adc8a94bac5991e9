// Container environment, as dockerd builds it.
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function keyOf(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/**
 * Create-time merge (dockerd's commit.go merge): the user's Env first, then
 * every image ENV whose key the user did not set.
 */
export function mergeImageEnv(userEnv: readonly string[], imageEnv: readonly string[]): string[] {
  const userKeys = new Set(userEnv.map(keyOf));
  return [...userEnv, ...imageEnv.filter((e) => !userKeys.has(keyOf(e)))];
}

/**
 * The process environment: PATH, HOSTNAME and TERM first, then Env applied in
 * order — later duplicates win and a bare `KEY` unsets.
 */
export function processEnv(env: readonly string[], hostname: string, tty: boolean): string[] {
  const values = new Map<string, string>();
  values.set('PATH', `PATH=${DEFAULT_PATH}`);
  values.set('HOSTNAME', `HOSTNAME=${hostname}`);
  if (tty) values.set('TERM', 'TERM=xterm');
  for (const entry of env) {
    const key = keyOf(entry);
    if (!entry.includes('=')) values.delete(key);
    else {
      values.delete(key); // re-insert so the order follows the last definition
      values.set(key, entry);
    }
  }
  return [...values.values()];
}
