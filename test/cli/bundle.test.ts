/**
 * What the CLI bundle keeps of Effect (scripts/effect-deep-imports.mjs): our `import { Schema } from
 * "effect"` is bundled as `import * as Schema from "effect/Schema"`, so esbuild keeps only the parts of a
 * module the code uses instead of the whole module (3 MB less heap for a running Gateway, bench (e)).
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { BIN } from "../support/cli.js"

const ROOT = path.resolve(path.dirname(BIN), "..")
const loadRewrite = Effect.promise(
  () => import(path.join(ROOT, "scripts", "effect-deep-imports.mjs")) as Promise<{ deepImports: (source: string) => string }>
)

describe("the CLI bundle", () => {
  it.effect("imports each Effect module by its own path, keeping names, aliases and type-only names", () =>
    Effect.gen(function* () {
      const { deepImports } = yield* loadRewrite
      expect(deepImports(`import { Effect, Layer as L, type Scope, identity } from "effect"\nconst x = 1\n`)).toBe(
        `import * as Effect from "effect/Effect"; import * as L from "effect/Layer"; import { type Scope, identity } from "effect"\nconst x = 1\n`
      )
      // Only types left: an `import type`, which bundles nothing.
      expect(deepImports(`import {\n  type Duration,\n  Schedule,\n} from "effect"`)).toBe(
        `import * as Schedule from "effect/Schedule"; import type { Duration } from "effect"`
      )
      expect(deepImports(`import { Command, Options } from "@effect/cli"`)).toBe(
        `import * as Command from "@effect/cli/Command"; import * as Options from "@effect/cli/Options"`
      )
      // Left alone: type-only imports, deep imports already, other packages, and text that is not an import statement.
      const untouched = [
        `import type { Scope } from "effect"`,
        `import * as Schema from "effect/Schema"`,
        `import { Effect } from "effect-extra"`,
        `// e.g. import { Effect } from "effect"`
      ].join("\n")
      expect(deepImports(untouched)).toBe(untouched)
    })
  )

  it.effect("does not carry what the code never uses of Effect's Schema module", () =>
    Effect.gen(function* () {
      // Schema declares BigDecimalFromNumber at its top level; no clawgate code uses it. Bundled through
      // effect's index, every chunk that needs Schema carried it and ran its declaration at start-up.
      const dist = path.join(ROOT, "dist")
      const chunks = (yield* Effect.promise(() => fs.readdir(dist))).filter((f) => f.endsWith(".cjs"))
      expect(chunks.length).toBeGreaterThan(10)
      const carrying: Array<string> = []
      for (const chunk of chunks) {
        const text = yield* Effect.promise(() => fs.readFile(path.join(dist, chunk), "utf8"))
        if (text.includes("BigDecimalFromNumber")) carrying.push(chunk)
      }
      expect(carrying).toEqual([])
    })
  )
})
