// Where the engine keeps things: persistent state under the data root,
// runtime-only state (bundles, runtime state, netns files) under the exec root.
import path from 'node:path';

export interface EnginePaths {
  dataRoot: string;
  execRoot: string;
  containersDir: string;
  bundlesDir: string;
  runtimeRoot: string;
  netnsDir: string;
}

export function enginePaths(dataRoot: string, execRoot: string): EnginePaths {
  return {
    dataRoot,
    execRoot,
    containersDir: path.join(dataRoot, 'containers'),
    bundlesDir: path.join(execRoot, 'containers'),
    runtimeRoot: path.join(execRoot, 'runtime'),
    netnsDir: path.join(execRoot, 'netns'),
  };
}
