// berth's output pieces on their own: Go's tabwriter alignment, the --format
// template subset, docker's port and size words, and pull/push/load progress
// (bars rewritten in place on a terminal, plain status lines elsewhere).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { alignColumns } from '../../cli/output/tabwriter.js';
import { MARSHALS_ESCAPED, parseTemplate } from '../../cli/output/template.js';
import { displayablePorts, humanSize, bytesSize, ellipsis } from '../../cli/output/human.js';
import { progressBar, showProgress } from '../../cli/output/progress.js';
import { CliError } from '../../cli/command-context.js';
import { DetachScanner, parseDetachKeys } from '../../cli/terminal-session.js';

describe('tabwriter', () => {
  it('pads each column to its widest cell plus 3, at least 10, and never pads the last', () => {
    assert.equal(
      alignColumns('A\tBB\tC\nlonger-cell-here\tx\ty'),
      `A${' '.repeat(18)}BB        C\nlonger-cell-here   x         y`,
    );
    assert.equal(alignColumns('UID\tPID\nroot\t1', 20), 'UID                 PID\nroot                1');
  });
});

describe('--format templates', () => {
  const row = { ID: 'abc', Labels: { b: '2', a: '1' }, Ports: [80, 443], State: { Running: true, Pid: 7 } };
  it("fields, json, index, join, and Go's printing of maps, lists and structs", () => {
    assert.equal(parseTemplate('{{.ID}}\\t{{.State.Running}}').execute(row), 'abc\ttrue');
    assert.equal(parseTemplate('{{json .Labels}}').execute(row), '{"b":"2","a":"1"}');
    assert.equal(
      parseTemplate('{{.Labels}} {{.Ports}} {{.State}}').execute(row),
      'map[a:1 b:2] [80 443] {true 7}',
    );
    assert.equal(
      parseTemplate('{{index .Labels "a"}} {{join .Ports ","}} {{upper .ID}}').execute(row),
      '1 80,443 ABC',
    );
    assert.equal(parseTemplate('{{.Missing}}').execute(row), '<no value>');
    // docker's own json function leaves HTML alone; its list rows marshal themselves escaped.
    assert.equal(parseTemplate('{{json .}}').execute({ s: '<&>' }), '{"s":"<&>"}');
    assert.equal(
      parseTemplate('{{json .}}').execute(Object.assign({ s: '<&>' }, { [MARSHALS_ESCAPED]: true })),
      '{"s":"\\u003c\\u0026\\u003e"}',
    );
  });
  it('range, if, with and else, as docker inspect -f users write them', () => {
    const c = { Networks: { b: { IP: '10.0.0.2' }, a: { IP: '10.0.0.1' } }, Env: ['A=1', 'B=2'], Empty: [] };
    assert.equal(parseTemplate('{{range .Networks}}{{.IP}} {{end}}').execute(c), '10.0.0.1 10.0.0.2 ');
    assert.equal(parseTemplate('{{range .Env}}[{{.}}]{{end}}').execute(c), '[A=1][B=2]');
    assert.equal(parseTemplate('{{range .Empty}}x{{else}}none{{end}}').execute(c), 'none');
    assert.equal(
      parseTemplate('{{if .Env}}yes{{else}}no{{end}} {{if .Empty}}yes{{else}}no{{end}}').execute(c),
      'yes no',
    );
    assert.equal(
      parseTemplate('{{with .Networks.a}}{{.IP}}{{end}}{{range .Env}}{{len $.Env}}{{end}}').execute(c),
      '10.0.0.122',
    );
  });
  it('says what it cannot do', () => {
    assert.throws(() => parseTemplate('{{range .Ports}}x'), /unexpected EOF/);
    assert.throws(() => parseTemplate('{{end}}'), /unexpected \{\{end\}\}/);
    assert.throws(
      () => parseTemplate('{{define "x"}}{{end}}'),
      (err: unknown) => err instanceof CliError && err.exitCode === 64,
    );
    assert.throws(() => parseTemplate('{{.ID'), /unclosed action/);
    assert.throws(() => parseTemplate('{{nosuch .ID}}'), /function "nosuch" not defined/);
    assert.throws(() => parseTemplate('{{(.ID}}'), /unclosed left paren/);
    assert.throws(() => parseTemplate('{{$x}}').execute(row), /undefined variable "\$x"/);
    assert.throws(() => parseTemplate('{{"a" | "b"}}').execute(row), /can't give argument to non-function/);
  });
  it('variables, pipes, parentheses, else-if, break and continue', () => {
    const t = (src: string, data: unknown = row) => parseTemplate(src).execute(data);
    assert.equal(t('{{$id := .ID}}{{$id | upper | printf "<%s>"}}'), '<ABC>');
    assert.equal(t('{{range $i, $p := .Ports}}{{$i}}:{{$p}} {{end}}'), '0:80 1:443 ');
    assert.equal(t('{{range $k, $v := .Labels}}{{$k}}={{$v}},{{end}}'), 'a=1,b=2,');
    assert.equal(t('{{(index .Ports 1)}} {{len (split "a,b,c" ",")}}'), '443 3');
    assert.equal(t('{{if eq .ID "x"}}x{{else if .State.Running}}run{{else}}no{{end}}'), 'run');
    assert.equal(t('{{range .Ports}}{{if eq . 443}}{{break}}{{end}}[{{.}}]{{end}}'), '[80]');
    assert.equal(t('{{range .Ports}}{{if eq . 80}}{{continue}}{{end}}[{{.}}]{{end}}'), '[443]');
    assert.equal(t('{{truncate "abcdef" 3}}|{{pad "x" 1 2}}|{{title "a big day"}}'), 'abc| x  |A Big Day');
    assert.equal(t('{{$n := 0}}{{range .Ports}}{{$n = .}}{{end}}{{$n}}'), '443');
  });
});

describe("docker's words", () => {
  it('ports grouped as docker ps shows them', () => {
    assert.equal(
      displayablePorts([
        { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { PrivatePort: 9000, Type: 'tcp' },
        { PrivatePort: 9001, Type: 'tcp' },
        { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
        { IP: '127.0.0.1', PrivatePort: 53, PublicPort: 53, Type: 'udp' },
      ]),
      '127.0.0.1:53->53/udp, 9000-9001/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp',
    );
  });
  it('sizes and ellipses', () => {
    assert.equal(humanSize(4_260_000), '4.26MB');
    assert.equal(humanSize(1_982_000, 4), '1.982MB');
    assert.equal(humanSize(0), '0B');
    assert.equal(bytesSize(64 * 1024 * 1024), '64MiB');
    assert.equal(bytesSize(1_433_600), '1.367MiB');
    assert.equal(ellipsis('sh -c "echo out; echo err"', 20), 'sh -c "echo out; ec…');
  });
});

describe('detach keys', () => {
  it('reads ctrl-p,ctrl-q and finds them across chunks, passing other input through', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
    assert.throws(() => parseDetachKeys('ctrl-'), /Invalid detach keys/);
    const s = new DetachScanner(parseDetachKeys('ctrl-p,ctrl-q'));
    assert.deepEqual(s.feed(Buffer.from('ab\x10')), { data: Buffer.from('ab'), detached: false });
    assert.deepEqual(s.feed(Buffer.from('x')), { data: Buffer.from('\x10x'), detached: false });
    assert.deepEqual(s.feed(Buffer.from('\x10\x11')), { data: Buffer.from('\x10\x11'), detached: true });
  });
});

describe('progress', () => {
  const messages = [
    { status: 'Pulling from library/busybox', id: 'latest' },
    { status: 'Pulling fs layer', id: 'aaa' },
    { status: 'Downloading', id: 'aaa', progressDetail: { current: 500_000, total: 1_000_000 } },
    { status: 'Pull complete', id: 'aaa' },
    { status: 'Digest: sha256:00' },
  ];
  const stream = (lines: object[]) =>
    Readable.from(lines.map((m) => Buffer.from(JSON.stringify(m) + '\r\n')));
  const sink = (isTTY: boolean) => {
    const out = { text: '', isTTY, columns: 200, write: (s: string) => (out.text += s) };
    return out;
  };

  it('draws a bar as docker does', () => {
    assert.equal(progressBar(500_000, 1_000_000, 200), `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`);
    assert.equal(progressBar(500_000, 1_000_000, 80), '   500kB/1MB');
    assert.equal(progressBar(0, 0, 200), '');
  });

  it('on a terminal: one line per layer, rewritten in place with its bar', async () => {
    const out = sink(true);
    await showProgress(stream(messages), out);
    assert.match(out.text, /aaa: Downloading \[=+>\s+\]\s+500kB\/1MB/);
    assert.match(out.text, /\x1b\[1A\r\x1b\[2Kaaa: Pull complete\r\x1b\[1B/);
  });

  it('elsewhere: status lines and no bars; an error message fails the command', async () => {
    const out = sink(false);
    await showProgress(stream(messages), out);
    assert.equal(
      out.text,
      'latest: Pulling from library/busybox\naaa: Pulling fs layer\naaa: Pull complete\nDigest: sha256:00\n',
    );
    await assert.rejects(
      showProgress(
        stream([{ errorDetail: { message: 'manifest unknown' }, error: 'manifest unknown' }]),
        sink(false),
      ),
      (err: unknown) => err instanceof CliError && err.message === 'manifest unknown',
    );
  });
});
