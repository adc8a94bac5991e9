// The compose library's face, for `berth compose` and the dashboard: load a
// project, then act on it through an engine client (dockerode).
export { ComposeError } from './errors.js';
export { loadProject, type LoadOptions } from './load-project.js';
export type { Project, Service, EnvValue, EnvSource } from './model.js';
export { up, type UpOptions } from './up.js';
export { down, type DownOptions } from './down.js';
export { startServices, stopServices, restartServices, removeServiceContainers } from './lifecycle.js';
export { projectContainers, type ProjectContainer } from './project-containers.js';
export { showLogs, type LogsOptions } from './logs.js';
export { execInService, type ExecOptions } from './exec.js';
export { runOneOff, type RunOptions } from './run.js';
export { resolvedConfig, resolvedConfigYaml } from './resolved-config.js';
export { LABEL } from './labels.js';
export { buildService, ensureImages, pullServices, type BuildOptions } from './service-images.js';
export { top, type ContainerProcesses } from './top.js';
