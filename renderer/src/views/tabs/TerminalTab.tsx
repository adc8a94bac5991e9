// Terminal: xterm.js over an exec -it session on /ws/exec, sized to the panel
// (and resized with it), with a shell picker.
import { useEffect, useRef, useState } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { SHELLS, type ExecServerMessage } from '../../../../common/desktop-api.js';
import { openStream } from '../../api/client.js';

export function TerminalTab({ id, running }: { id: string; running: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const [shell, setShell] = useState<string>('sh');
  const [status, setStatus] = useState('connecting');
  const [session, setSession] = useState(0);

  useEffect(() => {
    if (!running || !host.current) return;
    const term = new Terminal({ cursorBlink: true, fontSize: 13, convertEol: false, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(host.current);
    fit.fit();
    const enc = new TextEncoder();
    setStatus('connecting');
    const ws = openStream<ExecServerMessage>(
      `/ws/exec?id=${encodeURIComponent(id)}&shell=${shell}&cols=${term.cols}&rows=${term.rows}`,
      {
        onOpen: () => {
          setStatus('connected');
          term.focus();
        },
        onMessage: (m) => {
          if (m.type === 'exit') setStatus(`exited (${m.code ?? '?'})`);
          else setStatus(`error: ${m.message}`);
        },
        onBinary: (d) => term.write(new Uint8Array(d)),
        onClose: () => setStatus((s) => (s === 'connected' ? 'closed' : s)),
      },
    );
    const input = term.onData((d) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(enc.encode(d));
    });
    const resized = term.onResize(({ cols, rows }) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    });
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(host.current);
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      ws.close();
      term.dispose();
    };
  }, [id, shell, running, session]);

  if (!running) return <p className="muted">Start the container to open a terminal in it.</p>;
  return (
    <div className="terminal">
      <div className="toolbar">
        <label>
          Shell{' '}
          <select aria-label="Shell" value={shell} onChange={(e) => setShell(e.target.value)}>
            {SHELLS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <span className="muted" role="status" data-testid="terminal-status">
          {status}
        </span>
        <button type="button" onClick={() => setSession((n) => n + 1)}>
          New session
        </button>
      </div>
      <div ref={host} className="xterm-host" aria-label="Terminal" />
    </div>
  );
}
