/**
 * Which of OpenClaw's methods clawgate serves, for docs/protocol.md: those it serves from its own
 * state, those it answers with an empty truth (clawgate has no such thing: no cron jobs, no
 * plugins, no talk mode), and those it does not serve (an `unknown method` answer). The section of
 * docs/protocol.md between the coverage markers is rendered from here, and a test keeps it current.
 */

/**
 * Methods answered truthfully but emptily because clawgate has no such concept, with what the
 * answer says. Every name here is in the method table.
 */
export const EMPTY_TRUTHS: Readonly<Record<string, string>> = {
  "sessions.branches.list": "`{branches: []}`: a transcript is one line, never a tree",
  "sessions.companion.state": "`{exchanges: []}`: no side companion",
  "progressCard.get": "`{card: null}`: no progress cards",
  "cron.status": "`{enabled: false, jobs: 0, …}`: no scheduler",
  "cron.list": "`{jobs: [], total: 0, hasMore: false, …}`: no scheduler",
  "tasks.list": "`{tasks: []}`: no background tasks",
  "talk.catalog": "every capability `{ready: false, providers: []}`: no voice",
  "models.authStatus": "`{providers: []}`: no auth profiles; provider keys live in the config",
  "environments.list": "`{environments: []}`: no worker environments; nodes are `node.list`'s",
  "question.list": "`{questions: []}`: the agent asks the operator nothing",
  "exec.approval.list": "`[]`: nothing waits for approval",
  "plugin.approval.list": "`[]`: no plugins",
  "openclaw.approval.list": "`[]`: nothing waits for approval",
  "exec.approvals.get": "no approvals file, everything denied: clawgate runs no command on its own host (`system.run` goes to a node)",
  "update.status": "`{sentinel: null, updateAvailable: null}`: clawgate does not update itself"
}

export interface Coverage {
  readonly served: ReadonlyArray<string>
  readonly empty: ReadonlyArray<string>
  readonly notServed: ReadonlyArray<string>
  /** clawgate's own methods that OpenClaw does not have. */
  readonly ownOnly: ReadonlyArray<string>
}

export const coverage = (openclaw: ReadonlyArray<string>, table: ReadonlyArray<string>, empty = EMPTY_TRUTHS): Coverage => {
  const ours = new Set(table)
  const theirs = new Set(openclaw)
  const sorted = (xs: Iterable<string>) => [...xs].sort()
  return {
    served: sorted(openclaw.filter((m) => ours.has(m) && !(m in empty))),
    empty: sorted(openclaw.filter((m) => ours.has(m) && m in empty)),
    notServed: sorted(openclaw.filter((m) => !ours.has(m))),
    ownOnly: sorted(table.filter((m) => !theirs.has(m)))
  }
}

const code = (xs: ReadonlyArray<string>) => (xs.length === 0 ? "none" : xs.map((m) => `\`${m}\``).join(", "))

/** The markdown between the markers. */
export const renderCoverage = (version: string, c: Coverage, empty = EMPTY_TRUTHS): string =>
  [
    `OpenClaw ${version} advertises ${c.served.length + c.empty.length + c.notServed.length} methods. clawgate serves ${c.served.length + c.empty.length} of them: ${c.served.length} from its own state and ${c.empty.length} with an empty truth; the other ${c.notServed.length} are answered \`INVALID_REQUEST "unknown method: <m>"\`, as for any name clawgate does not know.`,
    "",
    `**Served from clawgate's state (${c.served.length}):** ${code(c.served)}.`,
    "",
    `**Empty truths (${c.empty.length})**, where clawgate has no such thing and says so in the shape OpenClaw's clients read:`,
    "",
    ...(c.empty.length === 0
      ? ["none"]
      : ["| method | what clawgate answers |", "| --- | --- |", ...c.empty.map((m) => `| \`${m}\` | ${empty[m]} |`)]),
    "",
    `**clawgate's own (${c.ownOnly.length}), not OpenClaw's:** ${code(c.ownOnly)}.`,
    "",
    `**Not served (${c.notServed.length}):** ${code(c.notServed)}.`
  ].join("\n")
