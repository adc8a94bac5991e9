// `--security-opt seccomp=profile.json`: a profile in Docker's format (the
// docker CLI sends the file's JSON) turned into the runtime's filter the way
// dockerd does it: archMap picks this machine's architectures, and a rule's
// includes/excludes (architectures, capabilities, kernel version) decide
// whether it applies to this container.
import os from 'node:os';
import { invalid } from '../errors.js';
import type { OciSeccomp, OciSeccompArg, OciSeccompSyscall } from './oci-spec.js';

interface ProfileFilter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ProfileSyscall {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[] | null;
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }>;
  flags?: string[];
  syscalls?: ProfileSyscall[] | null;
}

/** Go's GOARCH (the profiles' "arches") for Node's process.arch. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' };
const NATIVE_ARCH: Record<string, string> = {
  amd64: 'SCMP_ARCH_X86_64',
  arm64: 'SCMP_ARCH_AARCH64',
  '386': 'SCMP_ARCH_X86',
  arm: 'SCMP_ARCH_ARM',
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Parses and checks the JSON the docker CLI sent; the message names what is wrong. */
export function parseSeccompProfile(json: string): DockerSeccompProfile {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw invalid(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const fail = (what: string) => invalid(`Decoding seccomp profile failed: ${what}`);
  if (!isObject(value)) throw fail('the profile is not a JSON object');
  if (typeof value.defaultAction !== 'string' || !value.defaultAction.startsWith('SCMP_ACT_'))
    throw fail('"defaultAction" must be an action such as SCMP_ACT_ERRNO');
  if (value.architectures !== undefined && value.architectures !== null && !isStrings(value.architectures))
    throw fail('"architectures" must be a list of strings');
  if (
    isStrings(value.architectures) &&
    value.architectures.length &&
    Array.isArray(value.archMap) &&
    value.archMap.length
  )
    throw invalid(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  if (value.syscalls !== undefined && value.syscalls !== null) {
    if (!Array.isArray(value.syscalls)) throw fail('"syscalls" must be a list');
    for (const call of value.syscalls) {
      if (!isObject(call)) throw fail('each entry of "syscalls" must be an object');
      if (typeof call.action !== 'string' || !call.action.startsWith('SCMP_ACT_'))
        throw fail(`a rule's "action" must be an action such as SCMP_ACT_ALLOW`);
      if (call.name !== undefined && call.names !== undefined) throw invalid("use either 'name' or 'names'");
      if (call.names !== undefined && call.names !== null && !isStrings(call.names))
        throw fail('"names" must be a list of strings');
    }
  }
  return value as unknown as DockerSeccompProfile;
}

function kernelAtLeast(version: string): boolean {
  const want = /^(\d+)\.(\d+)/.exec(version);
  if (!want) throw invalid(`invalid kernel version in the seccomp profile: ${version}`);
  const have = /^(\d+)\.(\d+)/.exec(os.release());
  if (!have) return true;
  const [hMaj, hMin] = [Number(have[1]), Number(have[2])];
  const [wMaj, wMin] = [Number(want[1]), Number(want[2])];
  return hMaj > wMaj || (hMaj === wMaj && hMin >= wMin);
}

function applies(call: ProfileSyscall, goArch: string, capabilities: string[]): boolean {
  const ex = call.excludes;
  if (ex) {
    if (ex.arches?.includes(goArch)) return false;
    if (ex.caps?.some((c) => capabilities.includes(c))) return false;
    if (ex.minKernel && kernelAtLeast(ex.minKernel)) return false;
  }
  const inc = call.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(goArch)) return false;
    if (inc.caps?.length && !inc.caps.every((c) => capabilities.includes(c))) return false;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) return false;
  }
  return true;
}

/** The runtime's filter for a container holding `capabilities` (its bounding set). */
export function seccompFromProfile(
  profile: DockerSeccompProfile,
  capabilities: string[],
  arch: string = process.arch,
): OciSeccomp {
  const goArch = GO_ARCH[arch] ?? arch;
  const architectures = [...(profile.architectures ?? [])];
  const native = NATIVE_ARCH[goArch];
  const entry = native ? profile.archMap?.find((a) => a.architecture === native) : undefined;
  if (entry) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
  const syscalls: OciSeccompSyscall[] = [];
  for (const call of profile.syscalls ?? []) {
    if (!applies(call, goArch, capabilities)) continue;
    const rule = {
      names: call.name ? [call.name] : [...(call.names ?? [])],
      action: call.action,
      ...(call.errnoRet !== undefined ? { errnoRet: call.errnoRet } : {}),
      ...(call.args?.length ? { args: call.args } : {}),
    } as OciSeccompSyscall;
    syscalls.push(rule);
  }
  return {
    defaultAction: profile.defaultAction as OciSeccomp['defaultAction'],
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(profile.flags?.length ? { flags: profile.flags } : {}),
    syscalls,
  };
}
