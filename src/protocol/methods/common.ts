/** Field schemas shared by the method declarations. Bounded: names and keys are stored, logged and echoed in errors. */
import { Schema } from "effect"

export const Int = Schema.Number.pipe(Schema.int())
export const NonEmpty = Schema.String.pipe(Schema.minLength(1))
/** Names and keys that are stored (the idempotency cache), echoed in errors or logged. */
export const MAX_NAME = 256
export const Name = NonEmpty.pipe(Schema.maxLength(MAX_NAME, { message: () => `must be at most ${MAX_NAME} characters` }))
export const Strings = Schema.Array(Schema.String)
/** An optional field as the wire has it: absent, or present (possibly `undefined` in memory). */
export const opt = <S extends Schema.Schema.Any>(s: S) => Schema.optional(s)
