// How Berth's own Node-API addon (guest-agent/native/terminal.c) is compiled: for
// the host by scripts/build.mjs, for a guest of another CPU by the VM image build
// (vm/image/native-addons.ts) with Debian's cross compiler. Node-API headers come
// from node-api-headers: no Node source tree or download is needed.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

export const TERMINAL_ADDON_SOURCE = 'guest-agent/native/terminal.c';
export const TERMINAL_ADDON_OUT = 'dist/berth-terminal.node';

/** The directory holding node_api.h. */
export function nodeApiHeaders() {
  return createRequire(import.meta.url)('node-api-headers').include_dir;
}

/** A C compiler's arguments that build `source` into the addon `out`, with no build path in it. */
export function nativeAddonArgs(source, out) {
  return [
    ...['-x', 'c', '-std=gnu11', '-shared', '-fPIC', '-O2', '-D_FORTIFY_SOURCE=2'],
    '-DNODE_GYP_MODULE_NAME=berth_terminal',
    `-I${nodeApiHeaders()}`,
    source,
    '-o',
    out,
    `-ffile-prefix-map=${dirname(source)}=native`,
    '-s',
  ];
}
