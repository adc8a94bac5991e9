// The agent's native addons for a guest of another architecture than the
// host's. node-pty (runc's terminals and `berth vm ssh -t`) and Berth's own
// terminal addon (crun's terminals, guest-agent/native/terminal.c) are
// Node-API addons: one build loads in any Node of that CPU, so they are
// compiled here with Debian's cross compilers (g++-aarch64-linux-gnu). node-pty
// is built against the guest Node's own headers (libnode-dev of that
// architecture) with the flags node-gyp gives its binding.gyp on Linux; its
// one source file does not need node-gyp's project machinery.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { GuestArch } from '../paths.js';
import { exec } from '../util/exec.js';
import { findOnPath } from '../qemu/binaries.js';
import { nativeAddonArgs } from '../../scripts/native-addon.mjs';

/** The GNU triple of a guest architecture (Debian's cross compilers are named by it). */
export function gnuTriple(arch: GuestArch): string {
  return `${arch}-linux-gnu`;
}

/** The cross compiler for arch and language ('g++' or 'gcc'), or a clear error that says which package has it. */
export function crossCompiler(arch: GuestArch, driver: 'g++' | 'gcc' = 'g++'): string {
  const name = `${gnuTriple(arch)}-${driver}`;
  if (!findOnPath(name))
    throw new Error(
      `${name} not found: a ${arch} guest image needs it to build its native addons; install Debian's ${driver}-${gnuTriple(arch).replace(/_/g, '-')}`,
    );
  return name;
}

/** Builds Berth's terminal addon (dist/berth-terminal.node) from `source` for the compiler's CPU into out. */
export async function buildTerminalAddon(opts: {
  compiler: string;
  source: string;
  out: string;
}): Promise<void> {
  await fs.mkdir(path.dirname(opts.out), { recursive: true });
  await exec(opts.compiler, nativeAddonArgs(opts.source, opts.out));
}

/** The compiler's version line: part of the image's inputs. */
export async function compilerVersion(compiler: string): Promise<string> {
  return (await exec(compiler, ['--version'])).stdout.split('\n')[0];
}

/**
 * Builds node-pty's pty.node for arch into out. nodeInclude: the guest Node's
 * headers (node_api.h); addonApi: node-addon-api's directory (napi.h).
 */
export async function buildNodePty(opts: {
  compiler: string;
  nodePtyDir: string;
  addonApiDir: string;
  nodeInclude: string;
  out: string;
}): Promise<void> {
  await fs.mkdir(path.dirname(opts.out), { recursive: true });
  await exec(opts.compiler, [
    '-shared',
    '-fPIC',
    '-pthread',
    '-O2',
    '-D_FORTIFY_SOURCE=2',
    '-std=gnu++17',
    '-fno-rtti',
    // binding.gyp takes node-addon-api's "except" target: C++ exceptions on.
    '-DNAPI_CPP_EXCEPTIONS',
    '-DBUILDING_NODE_EXTENSION',
    '-DNODE_GYP_MODULE_NAME=pty',
    '-D_LARGEFILE_SOURCE',
    '-D_FILE_OFFSET_BITS=64',
    `-I${opts.nodeInclude}`,
    `-I${opts.addonApiDir}`,
    path.join(opts.nodePtyDir, 'src', 'unix', 'pty.cc'),
    '-o',
    opts.out,
    '-lutil',
    // No build path or date in the output: the same sources give the same bytes.
    `-ffile-prefix-map=${opts.nodePtyDir}=node-pty`,
    '-s',
  ]);
}
