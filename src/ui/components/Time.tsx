/**
 * A timestamp (ms since the epoch) as a <time>: the clock time for today,
 * the date and time otherwise; the full date on hover.
 *
 *   <Time ms={entry.ts} />
 */

export const formatTime = (ms: number, now = Date.now()): string => {
  const d = new Date(ms)
  const sameDay = new Date(now).toDateString() === d.toDateString()
  return sameDay
    ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
}

export const Time = ({ ms }: { readonly ms: number }) =>
  Number.isFinite(ms) && ms > 0 ? (
    <time dateTime={new Date(ms).toISOString()} title={new Date(ms).toLocaleString()}>
      {formatTime(ms)}
    </time>
  ) : null
