// Services in the order they must start (dependencies first), and the check
// that depends_on has no cycle and names only services that exist.
import { ComposeError } from './errors.js';

export interface DependencyNode {
  name: string;
  dependsOn: Record<string, unknown>;
  file?: string;
}

export function startOrder(services: Record<string, DependencyNode>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      throw new ComposeError(`dependency cycle: ${cycle.join(' → ')}`, {
        file: services[name].file,
        key: `services.${name}.depends_on`,
      });
    }
    state.set(name, 'visiting');
    for (const dep of Object.keys(services[name].dependsOn)) {
      if (!services[dep]) {
        throw new ComposeError(`depends on undefined service "${dep}"`, {
          file: services[name].file,
          key: `services.${name}.depends_on`,
        });
      }
      visit(dep, [...trail, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(services).sort()) visit(name, []);
  return order;
}

/** The named services and (unless noDeps) everything they depend on, in start order. */
export function withDependencies(
  services: Record<string, DependencyNode>,
  names: string[],
  noDeps: boolean,
): string[] {
  const order = startOrder(services);
  if (names.length === 0) return order;
  const wanted = new Set<string>();
  const add = (n: string) => {
    if (wanted.has(n)) return;
    wanted.add(n);
    if (!noDeps) for (const d of Object.keys(services[n].dependsOn)) add(d);
  };
  for (const n of names) {
    if (!services[n]) throw new ComposeError(`no such service: ${n}`);
    add(n);
  }
  return order.filter((n) => wanted.has(n));
}
