// The Dockerfile parser and instruction checks: directives, continuations,
// comments, JSON forms, key=value pairs, flags, and errors with their line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile, parseWords } from '../../guest-agent/engine/build/dockerfile-parser.js';
import { parseBuild, parseInstruction } from '../../guest-agent/engine/build/instructions.js';
import { parseRunMount } from '../../guest-agent/engine/build/run-mounts.js';

const one = (text: string) => parseDockerfile(text).nodes[0]!;

test('line continuations join lines; comment and empty lines inside are dropped', () => {
  const p = parseDockerfile('FROM busybox\nRUN echo a \\\n  # inside\n\n  && echo b\nCMD x\n');
  assert.equal(p.nodes.length, 3);
  assert.equal(p.nodes[1]!.original, 'RUN echo a   && echo b');
  assert.deepEqual(p.nodes[1]!.args, ['echo a   && echo b']);
  assert.equal(p.nodes[1]!.startLine, 2);
  assert.equal(p.nodes[2]!.startLine, 6);
  assert.equal(p.warnings.length, 1, 'the empty continuation line is warned about');
});

test('the escape directive changes the escape and continuation character', () => {
  const p = parseDockerfile(
    '# escape=`\n# syntax=docker/dockerfile:1\nFROM x\nRUN dir c:\\ `\n  && echo hi\n',
  );
  assert.equal(p.escape, '`');
  assert.equal(p.syntax, 'docker/dockerfile:1');
  assert.deepEqual(p.nodes[1]!.args, ['dir c:\\   && echo hi']);
  // Directives count only at the very top.
  const late = parseDockerfile('FROM x\n# escape=`\nRUN a \\\n b\n');
  assert.equal(late.escape, '\\');
  assert.deepEqual(late.nodes[1]!.args, ['a  b']);
  assert.throws(() => parseDockerfile('# escape=x\nFROM a\n'), /line 1: invalid escape token/);
  assert.throws(
    () => parseDockerfile('# escape=`\n# escape=\\\nFROM a\n'),
    /only one escape parser directive/,
  );
});

test('JSON and shell forms', () => {
  assert.deepEqual(one('RUN ["sh", "-c", "echo  hi"]'), {
    ...one('RUN ["sh", "-c", "echo  hi"]'),
    args: ['sh', '-c', 'echo  hi'],
    json: true,
  });
  const shell = one('CMD [not json');
  assert.equal(shell.json, false);
  assert.deepEqual(shell.args, ['[not json']);
  assert.throws(() => parseDockerfile('FROM a\nCMD ["a", 1]\n'), /line 2: when using JSON array syntax/);
  assert.deepEqual(one('COPY ["a b", "/x/"]').args, ['a b', '/x/']);
  assert.deepEqual(one('COPY a  b\t/c/').args, ['a', 'b', '/c/']);
});

test('ENV and LABEL pairs, both syntaxes', () => {
  assert.deepEqual(one('ENV A="hello world" B=x\\ y C=').pairs, [
    { key: 'A', value: '"hello world"', noDelim: false },
    { key: 'B', value: 'x\\ y', noDelim: false },
    { key: 'C', value: '', noDelim: false },
  ]);
  assert.deepEqual(one('ENV PLAIN legacy  form').pairs, [
    { key: 'PLAIN', value: 'legacy  form', noDelim: true },
  ]);
  assert.throws(() => parseDockerfile('ENV ONLY\n'), /ENV must have two arguments/);
  assert.throws(() => parseDockerfile('LABEL a=b c\n'), /can't find = in "c"/);
  assert.deepEqual(parseWords(`a='x y' "p q"`, '\\'), [`a='x y'`, `"p q"`]);
});

test('builder flags come before the arguments', () => {
  const n = one('COPY --from=build --chown="1:2" src /dst');
  assert.deepEqual(n.flags, ['--from=build', '--chown=1:2']);
  assert.deepEqual(n.args, ['src', '/dst']);
  assert.throws(() => parseInstruction(one('COPY --nope=1 a b')), /unknown flag: nope/);
  assert.throws(() => parseInstruction(one('RUN --device=x y')), /--device option requires BuildKit/);
  assert.throws(() => parseInstruction(one('RUN --network=bridge x')), /unsupported network mode: bridge/);
  assert.throws(() => parseInstruction(one('RUN --security=root x')), /unsupported security mode: root/);
  assert.throws(() => parseInstruction(one('COPY --from a b')), /missing a value on flag: from/);
});

test('instructions check their arguments; errors carry the line', () => {
  assert.throws(
    () => parseBuild('FROM a\n\nFOO bar\n'),
    /dockerfile parse error on line 3: unknown instruction: FOO/,
  );
  assert.throws(() => parseBuild('FROM a\nRUNN x\n'), /unknown instruction: RUNN \(did you mean run\?\)/);
  assert.throws(() => parseBuild('FROM a\nARG =x\n'), /line 2: ARG names can not be blank/);
  assert.throws(() => parseBuild('FROM a\nCOPY onlyone\n'), /COPY requires at least two arguments/);
  assert.throws(() => parseBuild('FROM a b\n'), /FROM requires either one or three arguments/);
  assert.throws(() => parseBuild('FROM a AS 1x\n'), /invalid name for build stage/);
  assert.throws(() => parseBuild('FROM a\nSHELL sh -c\n'), /SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseBuild('FROM a\nHEALTHCHECK FOO x\n'), /Unknown type "FOO" in HEALTHCHECK/);
  assert.throws(() => parseBuild('FROM a\nONBUILD FROM b\n'), /FROM isn't allowed as an ONBUILD trigger/);
  assert.throws(() => parseBuild('RUN x\n'), /line 1: no build stage in current context/);
  assert.throws(() => parseBuild('\n# only a comment\n'), /file with no instructions/);
  assert.throws(
    () => parseBuild('FROM a\nRUN cat <<EOF\nhi\n'),
    /line 2: unterminated heredoc: no line "EOF" ends <<EOF/,
  );
});

test('stages, meta args and instruction shapes', () => {
  const b = parseBuild(
    [
      'ARG BASE=busybox',
      'FROM --platform=linux/amd64 ${BASE} AS Build',
      'ENTRYPOINT []',
      'CMD echo hi',
      'HEALTHCHECK --interval=5s --retries=3 CMD ["true"]',
      'EXPOSE 80 53/udp',
      'FROM scratch',
      'COPY --from=build /a /b',
    ].join('\n'),
  );
  assert.equal(b.metaArgs.length, 1);
  assert.equal(b.stages.length, 2);
  const [first, second] = b.stages;
  assert.equal(first!.name, 'build');
  assert.equal(first!.platform, 'linux/amd64');
  assert.equal(first!.baseName, '${BASE}');
  assert.deepEqual(
    first!.commands.map((c) => c.kind),
    ['entrypoint', 'cmd', 'healthcheck', 'expose'],
  );
  const [entrypoint, cmd, health, expose] = first!.commands;
  assert.ok(entrypoint!.kind === 'entrypoint' && entrypoint.cmdLine === null);
  assert.ok(cmd!.kind === 'cmd' && cmd.prependShell && cmd.cmdLine?.[0] === 'echo hi');
  assert.ok(health!.kind === 'healthcheck');
  assert.deepEqual(health.health, { Test: ['CMD', 'true'], Interval: 5e9, Retries: 3 });
  assert.ok(expose!.kind === 'expose' && expose.ports.join() === '53/udp,80');
  assert.ok(second!.commands[0]!.kind === 'copy' && second!.commands[0]!.from === 'build');
});

test('heredocs: bodies read raw after the instruction, <<- strips tabs, a quoted delimiter does not expand', () => {
  const b = parseBuild(
    [
      'FROM a',
      'RUN <<EOF',
      '# not a comment here',
      'echo one \\',
      'EOF',
      'RUN cat <<-"A" >/x && cat <<B >/y',
      '\tindented',
      '\tA',
      'b body',
      'B',
      'COPY <<EOF /dest',
      'data $X',
      'EOF',
      'RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none true',
      '',
    ].join('\n'),
  );
  const [run1, run2, copy, mounted] = b.stages[0]!.commands as unknown as Array<Record<string, unknown>>;
  assert.deepEqual(run1!.heredocs, [
    { name: 'EOF', data: '# not a comment here\necho one \\\n', expand: true, chomp: false },
  ]);
  assert.deepEqual(run1!.cmdLine, ['<<EOF']);
  assert.deepEqual(run2!.heredocs, [
    { name: 'A', data: 'indented\n', expand: false, chomp: true },
    { name: 'B', data: 'b body\n', expand: true, chomp: false },
  ]);
  assert.deepEqual(copy!.sources, ['<<EOF']);
  assert.deepEqual(copy!.heredocs, [{ name: 'EOF', data: 'data $X\n', expand: true, chomp: false }]);
  assert.deepEqual(mounted!.mounts, ['type=cache,target=/c', 'type=tmpfs,target=/t']);
  assert.equal(mounted!.network, 'none');
});

test('RUN --mount specs: types, defaults, targets made absolute, values expanded', () => {
  const x = (w: string) => w.replace('$ID', 'expanded');
  assert.deepEqual(
    parseRunMount('type=cache,target=.cache,id=$ID,mode=0700,uid=1,gid=2,sharing=locked', x, '/w'),
    {
      type: 'cache',
      target: '/w/.cache',
      id: 'expanded',
      readonly: false,
      mode: 0o700,
      uid: 1,
      gid: 2,
    },
  );
  assert.deepEqual(parseRunMount('target=/src', x, '/'), {
    type: 'bind',
    target: '/src',
    source: '',
    from: '',
    readwrite: false,
  });
  assert.deepEqual(parseRunMount('type=bind,from=build,src=/out,dst=/in,rw', x, '/'), {
    type: 'bind',
    target: '/in',
    source: '/out',
    from: 'build',
    readwrite: true,
  });
  assert.deepEqual(parseRunMount('type=tmpfs,target=/t,size=10m', x, '/'), {
    type: 'tmpfs',
    target: '/t',
    size: '10m',
  });
  assert.deepEqual(parseRunMount('type=secret,id=tok', x, '/'), {
    type: 'secret',
    target: '/run/secrets/tok',
    id: 'tok',
    required: false,
  });
  assert.equal(
    (parseRunMount('type=secret,id=tok,required', x, '/') as { required: boolean }).required,
    true,
  );
  assert.throws(() => parseRunMount('type=volume,target=/v', x, '/'), /unsupported mount type "volume"/);
  assert.throws(() => parseRunMount('type=cache', x, '/'), /needs a target/);
  assert.throws(() => parseRunMount('type=cache,target=/c,mode=abc', x, '/'), /invalid value for mode/);
  assert.throws(() => parseRunMount('type=cache,target=/c,bogus', x, '/'), /must be a key=value pair/);
});
