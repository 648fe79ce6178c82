/**
 * Live state shared by every page: the site, its groups, open alerts,
 * tasks, and whether the site answers.
 *
 * The site pushes them on its live stream (stream.ts) as they change; while
 * the stream is up nothing is polled. When it is down (an older site, a
 * proxy that buffers, a broken connection) the console polls every two
 * seconds as before and tries the stream again. Either way a page that
 * shows something older than a few seconds says so (the shell's banner), so
 * the console never passes stale state off as current.
 *
 * Chart history: each group's last hour is loaded from the site once, then
 * the stream's one-second samples (or each poll) are appended.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import type { Alert, GroupStatus, HistoryAnswer, LiveMessage, SiteInfo, TaskRecord } from "../api/types";
import { History, samplesOf } from "./history";
import type { Session } from "./session";
import { followLive } from "./stream";

export const POLL_MS = 2000;
/** Older than this, what is on screen is called out of date. */
export const STALE_MS = 6000;

export interface Connection {
  ok: boolean;
  /** When the site last answered. */
  lastOkAt: number;
  message: string;
}

export interface Live {
  session: Session;
  site: SiteInfo;
  groups: GroupStatus[] | undefined;
  alerts: Alert[];
  /** Tasks as the stream pushes them (as `GET /tasks` answers); undefined while there is no stream: poll them. */
  tasks: TaskRecord[] | undefined;
  /** The id of the newest event the stream brought, so an event list can refresh at once. */
  lastEventId: number;
  history: History;
  connection: Connection;
  /** True while the site's live stream is up (and polling is off). */
  streaming: boolean;
  /** Bumps on every update, so charts redraw. */
  tick: number;
  refresh(): void;
}

const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside LiveProvider");
  return live;
}

/** Applies a `groups` message: the changed groups replaced, the others kept, in the site's order. */
export function mergeGroups(current: GroupStatus[] | undefined, names: string[], changed: GroupStatus[]): GroupStatus[] {
  const byName = new Map((current ?? []).map((g) => [g.name, g]));
  for (const g of changed) byName.set(g.name, g);
  return names.map((n) => byName.get(n)).filter((g): g is GroupStatus => g !== undefined);
}

export function LiveProvider(props: { session: Session; onSignedOut(): void; children: ReactNode }) {
  const { session, onSignedOut } = props;
  const [site, setSite] = useState<SiteInfo>(session.site);
  const [groups, setGroups] = useState<GroupStatus[] | undefined>(undefined);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [tasks, setTasks] = useState<TaskRecord[] | undefined>(undefined);
  const [lastEventId, setLastEventId] = useState(0);
  const [connection, setConnection] = useState<Connection>({ ok: true, lastOkAt: Date.now(), message: "" });
  const [streaming, setStreaming] = useState(false);
  const [tick, setTick] = useState(0);
  const history = useRef(new History()).current;
  /** Site clock minus this browser's, learnt from the stream, so polled samples line up with the site's. */
  const skewMs = useRef(0);
  const loaded = useRef(new Set<string>());
  const running = useRef(false);

  useEffect(
    () =>
      session.api.subscribe((e) => {
        if (e.kind === "unauthenticated") onSignedOut();
        else setConnection((c) => (e.ok ? { ok: true, lastOkAt: Date.now(), message: "" } : { ok: false, lastOkAt: c.lastOkAt, message: e.message }));
      }),
    [session, onSignedOut],
  );

  // Each group's last hour, once; the samples gathered meanwhile merge with it.
  const loadHistory = useCallback(
    (names: string[]) => {
      for (const name of names) {
        if (loaded.current.has(name)) continue;
        loaded.current.add(name);
        session.api.get<HistoryAnswer>(`/groups/${encodeURIComponent(name)}/history`).then(
          (h) => {
            history.merge(name, samplesOf(h));
            setTick((t) => t + 1);
          },
          (err: unknown) => {
            if (!(err instanceof ApiError)) throw err;
            // An older site without the route keeps what this console gathers; any other failure tries again later.
            if (err.kind !== "unavailable-route") loaded.current.delete(name);
          },
        );
      }
    },
    [session, history],
  );

  const poll = useCallback(async () => {
    if (running.current) return;
    running.current = true;
    try {
      const [s, g, a] = await Promise.all([
        session.api.get<SiteInfo>("/site"),
        session.api.get<GroupStatus[]>("/groups"),
        session.api.get<Alert[]>("/alerts"),
      ]);
      history.add(Date.now() + skewMs.current, g);
      loadHistory(g.map((x) => x.name));
      setSite(s);
      setGroups(g);
      setAlerts(a);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      // unreachable and 401 are reported through subscribe(); others show on the pages that need the data.
    } finally {
      running.current = false;
      setTick((t) => t + 1);
    }
  }, [session, history, loadHistory]);

  // Polling only while the stream is down; the first poll at once, so a page never waits for a stream that may not come.
  useEffect(() => {
    if (streaming) return;
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    return () => clearInterval(timer);
  }, [poll, streaming]);

  useEffect(() => {
    const ok = () => setConnection({ ok: true, lastOkAt: Date.now(), message: "" });
    const onMessage = (m: LiveMessage) => {
      ok();
      switch (m.event) {
        case "hello":
          skewMs.current = m.data.timeMs - Date.now();
          return;
        case "site":
          return setSite(m.data);
        case "groups":
          setGroups((cur) => mergeGroups(cur, m.data.names, m.data.changed));
          history.forget(new Set(m.data.names));
          for (const n of [...loaded.current]) if (!m.data.names.includes(n)) loaded.current.delete(n);
          return loadHistory(m.data.names);
        case "alerts":
          return setAlerts(m.data);
        case "tasks":
          return setTasks(m.data);
        case "event":
          return setLastEventId(m.data.id);
        case "tick":
          skewMs.current = m.data.timeMs - Date.now();
          for (const [g, s] of Object.entries(m.data.samples)) history.append(g, samplesOf(s));
          return setTick((t) => t + 1);
      }
    };
    return followLive(session.token, {
      onUp: () => setStreaming(true),
      onMessage,
      onDown: () => {
        // Polling takes over, and its answers (or failures) drive the banner.
        setStreaming(false);
        setTasks(undefined);
      },
      onUnauthenticated: onSignedOut,
    });
  }, [session, history, loadHistory, onSignedOut]);

  const value: Live = { session, site, groups, alerts, tasks, lastEventId, history, connection, streaming, tick, refresh: () => void poll() };
  return <LiveContext.Provider value={value}>{props.children}</LiveContext.Provider>;
}
