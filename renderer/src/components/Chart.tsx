// A small line chart over time (SVG): one or two series, the latest value shown.
export function Chart({
  title,
  series,
  format,
  max,
}: {
  title: string;
  series: Array<{ name: string; values: number[]; className: string }>;
  format(v: number): string;
  max?: number;
}) {
  const w = 320;
  const h = 90;
  const top = Math.max(max ?? 0, ...series.flatMap((s) => s.values), 1e-9);
  const n = Math.max(2, ...series.map((s) => s.values.length));
  const points = (vals: number[]) =>
    vals.map((v, i) => `${((i + n - vals.length) / (n - 1)) * w},${h - (v / top) * (h - 4) - 2}`).join(' ');
  return (
    <figure className="chart">
      <figcaption>
        {title}:{' '}
        {series.map((s) => (
          <span key={s.name} className={s.className}>
            {s.name ? `${s.name} ` : ''}
            {s.values.length ? format(s.values[s.values.length - 1]) : '–'}{' '}
          </span>
        ))}
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${title} over the last ${n} seconds`}>
        {series.map((s) => (
          <polyline
            key={s.name}
            points={points(s.values)}
            className={s.className}
            fill="none"
            strokeWidth="1.5"
          />
        ))}
      </svg>
    </figure>
  );
}
