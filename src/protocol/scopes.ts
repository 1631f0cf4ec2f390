/**
 * The scope rule, as plain code (no Effect), shared by the Dispatcher, the
 * clients and the Control UI's browser code.
 */

/** `operator.admin` implies every scope; `operator.write` implies `operator.read`. */
export const scopeSatisfies = (granted: ReadonlyArray<string>, needed: string): boolean => {
  if (granted.includes("operator.admin")) return true
  if (granted.includes(needed)) return true
  return needed === "operator.read" && granted.includes("operator.write")
}
