/** The first candidate that is set (not undefined, not empty), with the name of the setting it came from. */
export const firstSet = (
  ...candidates: ReadonlyArray<readonly [value: string | undefined, source: string]>
): { readonly value: string; readonly source: string } | undefined => {
  for (const [value, source] of candidates) if (value !== undefined && value !== "") return { value, source }
  return undefined
}
