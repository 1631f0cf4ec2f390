import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { asRequestFrame, RequestFrame } from "../../src/protocol/frames.js"

describe("asRequestFrame (the hot-path check)", () => {
  it("accepts and refuses exactly what the RequestFrame schema does", () => {
    const decode = Schema.decodeUnknownEither(RequestFrame)
    const frames: Array<unknown> = [
      { type: "req", id: "1", method: "health" },
      { type: "req", id: "1", method: "health", params: { a: 1 }, extra: true },
      { type: "req", id: "1", method: "health", params: null },
      { type: "req", id: 1, method: "health" },
      { type: "req", id: "1" },
      { type: "res", id: "1", method: "health" },
      { type: "event", event: "x" },
      [],
      null,
      "req",
      42
    ]
    for (const f of frames) expect([f, asRequestFrame(f) !== undefined]).toEqual([f, Either.isRight(decode(f))])
  })
})
