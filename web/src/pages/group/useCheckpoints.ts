/**
 * A group's checkpoints across its journal window: listed once, then only
 * the new ones on each poll (`since` the newest held), so a 4-hour window of
 * one-a-second checkpoints is fetched once, not every two seconds.
 */
import { useEffect, useRef, useState } from "react";
import { ApiError, type Api } from "../../api/client";
import type { Checkpoint } from "../../api/types";
import { POLL_MS } from "../../state/live";

export function useCheckpoints(api: Api, group: string, windowFromMs: number): { checkpoints: Checkpoint[]; error: ApiError | undefined } {
  const [checkpoints, setCheckpoints] = useState<Checkpoint[]>([]);
  const [error, setError] = useState<ApiError | undefined>(undefined);
  const held = useRef<Checkpoint[]>([]);
  const fromRef = useRef(windowFromMs);
  fromRef.current = windowFromMs;

  useEffect(() => {
    held.current = [];
    setCheckpoints([]);
    let busy = false;
    const load = async () => {
      if (busy) return;
      busy = true;
      try {
        const last = held.current[held.current.length - 1];
        const fresh = await api.get<Checkpoint[]>(`/groups/${encodeURIComponent(group)}/checkpoints`, { since: last ? last.time : undefined });
        const ids = new Set(held.current.map((c) => c.id));
        const merged = held.current.concat(fresh.filter((c) => !ids.has(c.id)));
        merged.sort((a, b) => a.time - b.time || a.seq - b.seq);
        const from = fromRef.current;
        const start = merged.findIndex((c) => c.time >= from || c.tag !== null);
        held.current = start > 0 ? merged.slice(start) : merged;
        setCheckpoints(held.current);
        setError(undefined);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        setError(err);
      } finally {
        busy = false;
      }
    };
    void load();
    const t = setInterval(() => void load(), POLL_MS);
    return () => clearInterval(t);
  }, [api, group]);

  return { checkpoints, error };
}
