// --format as Go's text/template runs it in the docker CLI: variables, pipes,
// parentheses, else-if, break, and the functions docker adds (json, split,
// join, lower, upper, title, pad, truncate) beside Go's own. Each template is
// run by the docker CLI and by berth against the same containers; the output
// must be the same.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { berth } from '../helpers/berth.js';
import { docker } from '../helpers/docker.js';
import { useEngineWithBusybox } from '../helpers/engine-with-images.js';

/** Times in ps rows ("3 seconds ago") may tick between the two runs. */
const untimed = (s: string) => s.replace(/(\d+ seconds?|Less than a second|About a minute) ago/g, 'N ago');

describe('berth --format: Go templates as the docker CLI runs them', () => {
  const engine = useEngineWithBusybox();
  let id = '';

  before(async () => {
    const r = await docker(engine(), [
      'create',
      '--name',
      'fmt-web',
      '--label',
      'a=<&>',
      '--label',
      'tier=front end',
      '-e',
      'ONE=1',
      '-e',
      'STOP=1',
      '-e',
      'AFTER=x',
      'busybox',
      'sleep',
      '30',
    ]);
    assert.equal(r.code, 0, r.stderr);
    id = r.stdout.trim();
  });
  after(async () => {
    await docker(engine(), ['rm', '-f', id]);
  });

  async function same(args: string[]): Promise<string> {
    const [d, b] = await Promise.all([docker(engine(), args), berth(engine(), args)]);
    assert.equal(d.code, 0, `docker ${args.join(' ')}: ${d.stderr}`);
    assert.equal(b.code, 0, `berth ${args.join(' ')}: ${b.stderr}`);
    assert.equal(untimed(b.stdout), untimed(d.stdout), `berth ${args.join(' ')} differs from docker's`);
    return b.stdout;
  }

  const INSPECT_TEMPLATES = [
    '{{.Config.Image}} {{.Name}} {{.State.Status}}',
    '{{json .State}}',
    '{{json .Config.Labels}} {{json .Config.Cmd}}',
    '{{$name := .Name}}{{$name | upper}} {{$name | lower | len}}',
    '{{$n := 1}}{{$n = 2}}{{$n}}',
    '{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}',
    '{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}} {{end}}',
    '{{range $v := .Config.Cmd}}[{{$v}}]{{end}}',
    '{{index .Config.Labels "tier"}} {{len .Config.Env}} {{index .Config.Cmd 1}}',
    '{{index (split .Name "-") 1}} {{(index .Config.Cmd 0) | title}}',
    '{{split (index .Config.Labels "tier") " "}} {{join (split .Name "-") "+"}}',
    '{{truncate .Config.Image 3}}|{{pad .Config.Image 2 3}}|{{pad "" 2 2}}|',
    '{{title "hello wide world"}} {{lower "ABC"}} {{upper .State.Status}}',
    '{{if eq .State.Status "running"}}up{{else if eq .State.Status "created"}}new{{else}}?{{end}}',
    '{{if and .Config.Env (not .State.Running)}}stopped with env{{end}} {{or .Config.Domainname "none"}}',
    '{{if ne .Config.Image "x"}}{{if gt (len .Config.Env) 2}}many{{end}}{{end}}',
    '{{println .Config.Image}}{{print "a" 1 2 "b"}}',
    '{{.Name | printf "%s!"}} {{printf "%-8s|%5d|%q" .Config.Image 42 .Path}}',
    '{{with $x := .Config.Labels}}{{$x.tier}}{{else}}none{{end}} {{with .Config.Domainname}}d{{else}}no domain{{end}}',
    '{{range .Config.Env}}{{if eq . "STOP=1"}}{{break}}{{end}}{{.}};{{end}}',
    '{{range .Config.Env}}{{if eq . "STOP=1"}}{{continue}}{{end}}{{.}};{{end}}',
    '{{- /* a comment */ -}} {{.Path -}}   .',
    '{{$.Config.Image}} {{range .Config.Cmd}}{{$.Path}}{{end}}',
  ];

  for (const template of INSPECT_TEMPLATES) {
    it(`inspect -f '${template}'`, async () => {
      await same(['inspect', '-f', template, id]);
    });
  }

  const PS_TEMPLATES = [
    '{{json .}}',
    '{{.Names | upper}} {{.Label "tier" | upper}} {{json .Labels}}',
    'table {{.Names | upper}}\t{{.Image | printf "<%s>"}}\t{{.Label "a"}}',
    '{{$n := .Names}}{{range split .Labels ","}}{{$n}}/{{.}} {{end}}',
  ];
  for (const template of PS_TEMPLATES) {
    it(`ps --format '${template}'`, async () => {
      await same(['ps', '-a', '--filter', `id=${id}`, '--format', template]);
    });
  }

  it('a template error is a clear message and exit status', async () => {
    for (const template of ['{{nosuch .Name}}', '{{.Name', '{{$x}}', '{{range .Config.Env}}']) {
      const [d, b] = await Promise.all([
        docker(engine(), ['inspect', '-f', template, id]),
        berth(engine(), ['inspect', '-f', template, id]),
      ]);
      assert.equal(d.code, 64, d.stderr);
      assert.equal(b.code, d.code, `${template}: ${b.stderr}`);
      assert.equal(b.stderr, d.stderr);
    }
  });
});
