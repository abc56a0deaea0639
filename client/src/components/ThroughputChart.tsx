/** Jobs finished per minute over the last minutes: succeeded, failed and retried, as lines. */
interface Bucket {
  minute: Date;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
}

const SERIES = [
  { key: "succeeded", label: "succeeded", className: "line-succeeded" },
  { key: "failed", label: "failed", className: "line-failed" },
  { key: "retried", label: "retried", className: "line-retrying" },
] as const;

export function ThroughputChart({ buckets }: { buckets: Bucket[] }) {
  const width = 640;
  const height = 200;
  const pad = { left: 36, right: 12, top: 12, bottom: 24 };
  const max = Math.max(1, ...buckets.flatMap((b) => SERIES.map((s) => b[s.key])));
  const x = (i: number) => pad.left + (i * (width - pad.left - pad.right)) / Math.max(1, buckets.length - 1);
  const y = (v: number) => height - pad.bottom - (v * (height - pad.top - pad.bottom)) / max;
  const total = buckets.reduce((sum, b) => sum + b.succeeded + b.failed, 0);
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`Jobs per minute over the last ${buckets.length} minutes: ${total} finished`}
      >
        {[...new Set([0, Math.round(max / 2), max])].map((tick) => (
          <g key={tick}>
            <line x1={pad.left} x2={width - pad.right} y1={y(tick)} y2={y(tick)} className="grid" />
            <text x={pad.left - 6} y={y(tick) + 4} textAnchor="end" className="axis">
              {tick}
            </text>
          </g>
        ))}
        {buckets.map((b, i) =>
          i % 5 === 0 || i === buckets.length - 1 ? (
            <text
              key={b.minute.toISOString()}
              x={x(i)}
              y={height - 6}
              textAnchor={i === buckets.length - 1 ? "end" : i === 0 ? "start" : "middle"}
              className="axis"
            >
              {b.minute.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}
            </text>
          ) : null,
        )}
        {SERIES.map((s) => (
          <polyline
            key={s.key}
            className={s.className}
            fill="none"
            points={buckets.map((b, i) => `${x(i)},${y(b[s.key])}`).join(" ")}
          />
        ))}
      </svg>
      <figcaption>
        {SERIES.map((s) => (
          <span key={s.key} className={`legend ${s.className}`}>
            {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
