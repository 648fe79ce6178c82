/** A page's own polled data: fetched now and every `intervalMs` (null: once, when something else keeps it current), with its last error. */
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import type { Api } from "../api/client";

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** The site has no such route yet (404 route_not_found). */
  unavailable: boolean;
  refresh(): void;
}

export function usePoll<T>(api: Api, load: (api: Api) => Promise<T>, intervalMs: number | null, key: string): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const busy = useRef(false);

  const run = useCallback(async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      setData(await loadRef.current(api));
      setError(undefined);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      setError(err);
    } finally {
      busy.current = false;
    }
  }, [api]);

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    void run();
    if (intervalMs === null) return;
    const timer = setInterval(() => void run(), intervalMs);
    return () => clearInterval(timer);
  }, [run, intervalMs, key]);

  return { data, error, unavailable: error?.kind === "unavailable-route", refresh: () => void run() };
}
