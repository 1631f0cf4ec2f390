/**
 * Schema's parse errors, explained within bounds. Schema's own formatters
 * print the offending value in full (`Expected string, actual {...}`), which
 * for a peer's value means a message as large as the frame, built by a
 * recursive printer: a 10 MB message, or a stack overflow for a deep value.
 * Here every value is shown as a short preview, and at most `maxIssues`
 * issues are kept.
 */
import { Either, ParseResult, Schema } from "effect"
import type { ParseOptions } from "effect/SchemaAST"
import { printable } from "./codec.js"

/** At most this many issues are reported for one value. */
export const MAX_REPORTED_ISSUES = 8

/**
 * Above this many nodes (objects, arrays and leaves) a value is explained by
 * its first issue only: collecting every issue of a million-element array
 * would stall the event loop for seconds.
 */
export const EXPLAIN_ALL_MAX_NODES = 2_000

/** Counts the nodes of a JSON value, stopping at `max + 1`. Iterative, so depth does not matter. */
export const countNodes = (value: unknown, max: number): number => {
  let count = 0
  const stack: Array<unknown> = [value]
  while (stack.length > 0 && count <= max) {
    const v = stack.pop()
    count++
    if (typeof v !== "object" || v === null) continue
    if (Array.isArray(v)) {
      if (count + v.length > max + 1) return max + 1
      for (const x of v) stack.push(x)
    } else {
      const values = Object.values(v)
      if (count + values.length > max + 1) return max + 1
      for (const x of values) stack.push(x)
    }
  }
  return count
}

/** A stand-in for a peer's value that prints as a short description of it. */
class Preview {
  constructor(private readonly text: string) {}
  toString(): string {
    return this.text
  }
}

const preview = (v: unknown): unknown => {
  if (typeof v === "string")
    return v.length > 40 ? new Preview(`${JSON.stringify(v.slice(0, 40)).slice(0, -1)}…" (${v.length} characters)`) : v
  if (typeof v !== "object" || v === null) return v
  if (Array.isArray(v)) return new Preview(`an array of ${v.length}`)
  return new Preview("an object")
}

const cut = <A>(issues: ParseResult.SingleOrNonEmpty<A>, max: number): ParseResult.SingleOrNonEmpty<A> =>
  Array.isArray(issues) && issues.length > max ? (issues.slice(0, max) as unknown as ParseResult.SingleOrNonEmpty<A>) : issues

/** The same issue tree with every `actual` replaced by its preview and every list cut to `max`. */
const bounded = (issue: ParseResult.ParseIssue, max: number): ParseResult.ParseIssue => {
  switch (issue._tag) {
    case "Type":
      return new ParseResult.Type(issue.ast, preview(issue.actual), issue.message)
    case "Forbidden":
      return new ParseResult.Forbidden(issue.ast, preview(issue.actual), issue.message)
    case "Unexpected":
      return new ParseResult.Unexpected(preview(issue.actual), issue.message)
    case "Missing":
      return issue
    case "Pointer":
      return new ParseResult.Pointer(issue.path, undefined, bounded(issue.issue, max))
    case "Refinement":
      return new ParseResult.Refinement(issue.ast, preview(issue.actual), issue.kind, bounded(issue.issue, max))
    case "Transformation":
      return new ParseResult.Transformation(issue.ast, preview(issue.actual), issue.kind, bounded(issue.issue, max))
    case "Composite": {
      const inner = cut(issue.issues, max)
      const mapped = Array.isArray(inner) ? inner.map((i) => bounded(i, max)) : bounded(inner as ParseResult.ParseIssue, max)
      return new ParseResult.Composite(issue.ast, preview(issue.actual), mapped as ParseResult.SingleOrNonEmpty<ParseResult.ParseIssue>)
    }
  }
}

/**
 * An optional field is `X | undefined` to Schema, so a wrong value gets two
 * issues: the real one, and "Expected undefined". The second says nothing.
 */
const withoutUndefinedAlternatives = (issues: Array<ParseResult.ArrayFormatterIssue>) => {
  const useful = issues.filter((i) => !i.message.startsWith("Expected undefined, actual "))
  return useful.length > 0 ? useful : issues
}

/** Schema's ArrayFormatter issues (path and message), bounded in count and size. */
export const formatIssues = (
  error: ParseResult.ParseError,
  maxIssues: number = MAX_REPORTED_ISSUES
): ReadonlyArray<ParseResult.ArrayFormatterIssue> =>
  withoutUndefinedAlternatives(ParseResult.ArrayFormatter.formatIssueSync(bounded(error.issue, maxIssues)))
    .slice(0, maxIssues)
    // A path may hold a peer's own keys (of a record): shown bounded and escaped like any peer string.
    .map((i) => ({ ...i, path: i.path.map((p) => (typeof p === "number" ? p : printable(String(p), 60))) }))

/** One line: `path: message; path: message`. */
export const issuesText = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): string =>
  issues.map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ")

/**
 * A decoder whose failure is the bounded issues: the fast path for valid
 * values, every issue of a small value, the first issue of a large one.
 */
export const decodeExplained = <A, I>(schema: Schema.Schema<A, I>, options?: ParseOptions) => {
  const decode = Schema.decodeUnknownEither(schema, options)
  const explain = Schema.decodeUnknownEither(schema, { ...options, errors: "all" })
  return (value: unknown): Either.Either<A, ReadonlyArray<ParseResult.ArrayFormatterIssue>> => {
    const fast = decode(value)
    if (Either.isRight(fast)) return fast as Either.Either<A, never>
    const all = countNodes(value, EXPLAIN_ALL_MAX_NODES) <= EXPLAIN_ALL_MAX_NODES ? explain(value) : fast
    return Either.isRight(all) ? (all as Either.Either<A, never>) : Either.left(formatIssues(all.left))
  }
}
