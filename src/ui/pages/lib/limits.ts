/** Bounds the pages share with the Gateway's schemas (src/protocol/methods/*.ts; held together by test/ui/pages-scopes.test.ts). */

/** node.invoke's timeoutMs bound (MAX_INVOKE_TIMEOUT_MS). */
export const MAX_INVOKE_TIMEOUT_MS_UI = 10 * 60_000
