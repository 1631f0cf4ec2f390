/**
 * The hooks every page uses: a value loaded from the Gateway (reloaded on
 * every reconnect, stale answers dropped), events while mounted, a clock that
 * ticks every second, and whether the page is visible.
 */
import { type ReadonlySignal, type Signal, useComputed, useSignal } from "@preact/signals"
import { useCallback, useEffect, useRef } from "preact/hooks"
import type { GatewayEvent, HelloOk, UiClient } from "../../client/types.js"

export interface Resource<T> {
  readonly data: Signal<T | undefined>
  readonly error: Signal<unknown>
  readonly loading: Signal<boolean>
  /** Loads again; an answer to an earlier load that arrives later is dropped. */
  readonly reload: () => Promise<void>
}

/**
 * A value from the Gateway: loaded when the page mounts (if connected) and
 * after every (re)connect. `load` may change between renders; the latest is used.
 */
export const useResource = <T>(client: UiClient, load: () => Promise<T>): Resource<T> => {
  const data = useSignal<T | undefined>(undefined)
  const error = useSignal<unknown>(undefined)
  const loading = useSignal(false)
  const loadRef = useRef(load)
  loadRef.current = load
  const seq = useRef(0)
  const reload = useCallback(async () => {
    const n = ++seq.current
    loading.value = true
    try {
      const value = await loadRef.current()
      if (n === seq.current) {
        data.value = value
        error.value = undefined
      }
    } catch (e) {
      if (n === seq.current) error.value = e
    } finally {
      if (n === seq.current) loading.value = false
    }
  }, [])
  useEffect(() => {
    if (client.state.peek()._tag === "connected") void reload()
    const off = client.onConnected(() => void reload())
    return () => {
      off()
      seq.current++ // answers that arrive after unmount are dropped
    }
  }, [client])
  return { data, error, loading, reload }
}

/** Listens to `event` while mounted. */
export const useEvent = (client: UiClient, event: string, listener: (e: GatewayEvent) => void): void => {
  const ref = useRef(listener)
  ref.current = listener
  useEffect(() => client.on(event, (e) => ref.current(e)), [client, event])
}

/** Runs `fn` at most once per `ms` (the last call of a burst runs at its end), cancelled on unmount. */
export const useThrottled = (fn: () => void, ms: number): (() => void) => {
  const ref = useRef(fn)
  ref.current = fn
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const last = useRef(0)
  useEffect(() => () => clearTimeout(timer.current), [])
  return useCallback(() => {
    if (timer.current !== undefined) return
    const wait = Math.max(0, last.current + ms - Date.now())
    timer.current = setTimeout(() => {
      timer.current = undefined
      last.current = Date.now()
      ref.current()
    }, wait)
  }, [ms])
}

/** The time now, updated every `ms` while mounted (for "5s ago" that keeps counting). */
export const useNow = (ms = 1000): ReadonlySignal<number> => {
  const now = useSignal(Date.now())
  useEffect(() => {
    const t = setInterval(() => {
      now.value = Date.now()
    }, ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}

/** Whether the document is visible (the Logs page polls only then). */
export const useVisible = (): ReadonlySignal<boolean> => {
  const visible = useSignal(typeof document === "undefined" || document.visibilityState === "visible")
  useEffect(() => {
    const on = () => {
      visible.value = document.visibilityState === "visible"
    }
    document.addEventListener("visibilitychange", on)
    return () => document.removeEventListener("visibilitychange", on)
  }, [])
  return visible
}

/** The hello-ok of the current connection, or undefined while not connected. */
export const useHello = (client: UiClient): ReadonlySignal<HelloOk | undefined> =>
  useComputed(() => {
    const s = client.state.value
    return s._tag === "connected" ? s.hello : undefined
  })

/** This browser's device id: the client's, or the pairing request's while it waits. */
export const useOwnDeviceId = (client: UiClient): string | undefined => {
  const s = client.state.value
  return client.deviceId() ?? (s._tag === "pairing" ? s.deviceId : undefined)
}
