// Logs: followed live over /ws/logs, kept in a capped buffer and drawn as a
// virtual list (only the lines on screen are in the DOM), with search and
// highlight, a timestamps toggle, stdout/stderr colours and a download.
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { LogLine, LogsMessage } from '../../../../common/desktop-api.js';
import { api, openStream } from '../../api/client.js';

/** Lines kept: past this the oldest go (memory stays flat however long one follows). */
export const MAX_LOG_LINES = 100_000;

export function LogsTab({ id }: { id: string }) {
  const lines = useRef<LogLine[]>([]);
  const [count, setCount] = useState(0);
  const [dropped, setDropped] = useState(0);
  const [follow, setFollow] = useState(true);
  const [timestamps, setTimestamps] = useState(false);
  const [search, setSearch] = useState('');
  const [hit, setHit] = useState(0);
  const [ended, setEnded] = useState(false);
  const [tail, setTail] = useState('1000');
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    lines.current = [];
    setCount(0);
    setDropped(0);
    setEnded(false);
    let pending = false;
    let live = true;
    const ws = openStream<LogsMessage>(`/ws/logs?id=${encodeURIComponent(id)}&tail=${tail}`, {
      onMessage(m) {
        if (!live) return; // a message of the stream this effect closed
        if (m.type === 'lines') {
          const buf = lines.current;
          for (const l of m.lines) buf.push(l);
          if (buf.length > MAX_LOG_LINES) {
            const extra = buf.length - MAX_LOG_LINES;
            buf.splice(0, extra);
            setDropped((d) => d + extra);
          }
          // One render per frame however fast lines come.
          if (!pending) {
            pending = true;
            requestAnimationFrame(() => {
              pending = false;
              setCount(lines.current.length);
            });
          }
        } else setEnded(true);
      },
    });
    return () => {
      live = false;
      ws.close();
    };
  }, [id, tail]);

  const virtual = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => 20,
    overscan: 20,
  });

  useEffect(() => {
    if (follow && count > 0) virtual.scrollToIndex(count - 1, { align: 'end' });
  }, [count, follow, virtual]);

  const q = search.trim().toLowerCase();
  const hits = useMemo(() => {
    if (!q) return [];
    const out: number[] = [];
    lines.current.forEach((l, i) => {
      if (l.text.toLowerCase().includes(q)) out.push(i);
    });
    return out;
  }, [q, count]);

  function jump(delta: number) {
    if (hits.length === 0) return;
    const next = (hit + delta + hits.length) % hits.length;
    setHit(next);
    setFollow(false);
    virtual.scrollToIndex(hits[next], { align: 'center' });
  }

  return (
    <div className="logs">
      <div className="toolbar">
        <input
          type="search"
          aria-label="Search the logs"
          placeholder="Search…"
          value={search}
          onChange={(e) => {
            setSearch(e.target.value);
            setHit(0);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') jump(e.shiftKey ? -1 : 1);
          }}
        />
        <span className="muted" aria-live="polite" data-testid="log-hits">
          {q
            ? `${hits.length ? hit + 1 : 0} of ${hits.length}`
            : `${count} lines${dropped ? ` (${dropped} older dropped)` : ''}`}
        </span>
        <select aria-label="Lines to show" value={tail} onChange={(e) => setTail(e.target.value)}>
          <option value="1000">last 1,000 lines</option>
          <option value="10000">last 10,000 lines</option>
          <option value="all">all lines</option>
        </select>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <label>
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} />{' '}
          Timestamps
        </label>
        <a
          className="button"
          href={api.httpUrl(
            `/api/containers/${encodeURIComponent(id)}/logs?timestamps=${timestamps ? 1 : 0}`,
          )}
          download
        >
          Download
        </a>
      </div>
      <div
        ref={scroller}
        className="log-scroll"
        role="log"
        aria-label="Container logs"
        tabIndex={0}
        onWheel={(e) => {
          if (e.deltaY < 0) setFollow(false);
        }}
      >
        <div style={{ height: virtual.getTotalSize(), position: 'relative' }}>
          {virtual.getVirtualItems().map((v) => {
            const l = lines.current[v.index];
            if (!l) return null;
            return (
              <div
                key={v.key}
                data-index={v.index}
                ref={virtual.measureElement}
                className={`log-line ${l.stream}${hits[hit] === v.index ? ' current' : ''}`}
                style={{
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  right: 0,
                  transform: `translateY(${v.start}px)`,
                }}
              >
                {timestamps && <span className="ts">{l.ts} </span>}
                <Highlight text={l.text} q={q} />
              </div>
            );
          })}
        </div>
      </div>
      {ended && <p className="muted">The log stream ended (the container stopped).</p>}
    </div>
  );
}

function Highlight({ text, q }: { text: string; q: string }) {
  if (!q) return <>{text}</>;
  const parts: ReactNode[] = [];
  const lower = text.toLowerCase();
  let at = 0;
  for (let i = lower.indexOf(q); i >= 0; i = lower.indexOf(q, at)) {
    parts.push(text.slice(at, i), <mark key={i}>{text.slice(i, i + q.length)}</mark>);
    at = i + q.length;
  }
  parts.push(text.slice(at));
  return <>{parts}</>;
}
