// crun says why a process cannot start in its own words; the docker CLI reads
// runc's (through dockerd) for its exit codes and hints.

/**
 * crun's words for a process that cannot start, in runc's, which dockerd passes
 * on: the docker CLI picks its exit code from them (127 for "executable file not
 * found" or "no such file or directory", 126 for "permission denied", all lower case).
 */
export function runcWording(message: string, command: string | undefined): string {
  const notFound = /executable file `([^`]*)` not found in \$PATH: No such file or directory/.exec(message);
  if (notFound) {
    const file = notFound[1];
    return file.includes('/')
      ? `exec: "${file}": stat ${file}: no such file or directory`
      : `exec: "${file}": executable file not found in $PATH`;
  }
  const denied = /^open executable: (Permission denied|Operation not permitted)$/.exec(message.trim());
  if (denied) return `exec: "${command ?? ''}": permission denied`;
  const mount = /^mount `([^`]*)` to `([^`]*)`: (.*)$/.exec(message.trim());
  if (mount) {
    const target = mount[2].startsWith('/') ? mount[2] : `/${mount[2]}`;
    return `error mounting "${mount[1]}" to rootfs at "${target}": ${mount[3].toLowerCase()}`;
  }
  const chdir = /^chdir `([^`]*)`: (.*)$/.exec(message.trim());
  if (chdir) return `chdir to cwd ("${chdir[1]}") set in config.json failed: ${chdir[2].toLowerCase()}`;
  return message.replace(
    /: (No such file or directory|Permission denied|Not a directory|Exec format error)$/,
    (m) => m.toLowerCase(),
  );
}
