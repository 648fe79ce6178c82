/**
 * Live state shared by every page: the site, its groups and open alerts,
 * polled every two seconds, and whether the site answers. A page that shows
 * something older than a poll or two says so (the shell's banner), so the
 * console never passes stale state off as current.
 */
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import type { Alert, GroupStatus, SiteInfo } from "../api/types";
import { History } from "./history";
import type { Session } from "./session";
import { followEvents } from "./stream";

export const POLL_MS = 2000;

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
  history: History;
  connection: Connection;
  /** Bumps on every poll, so charts redraw. */
  tick: number;
  refresh(): void;
}

const LiveContext = createContext<Live | null>(null);

export function useLive(): Live {
  const live = useContext(LiveContext);
  if (!live) throw new Error("useLive outside LiveProvider");
  return live;
}

export function LiveProvider(props: { session: Session; onSignedOut(): void; children: ReactNode }) {
  const { session, onSignedOut } = props;
  const [site, setSite] = useState<SiteInfo>(session.site);
  const [groups, setGroups] = useState<GroupStatus[] | undefined>(undefined);
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [connection, setConnection] = useState<Connection>({ ok: true, lastOkAt: Date.now(), message: "" });
  const [tick, setTick] = useState(0);
  const history = useRef(new History()).current;
  const running = useRef(false);

  useEffect(
    () =>
      session.api.subscribe((e) => {
        if (e.kind === "unauthenticated") onSignedOut();
        else setConnection((c) => (e.ok ? { ok: true, lastOkAt: Date.now(), message: "" } : { ok: false, lastOkAt: c.lastOkAt, message: e.message }));
      }),
    [session, onSignedOut],
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
      history.add(Date.now(), g);
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
  }, [session, history]);

  useEffect(() => {
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    return () => clearInterval(timer);
  }, [poll]);

  // Events from the site's stream (where offered) bring the next poll forward.
  useEffect(() => {
    let soon: ReturnType<typeof setTimeout> | undefined;
    const stop = followEvents(session.token, () => {
      clearTimeout(soon);
      soon = setTimeout(() => void poll(), 100);
    });
    return () => {
      clearTimeout(soon);
      stop();
    };
  }, [session, poll]);

  const value: Live = { session, site, groups, alerts, history, connection, tick, refresh: () => void poll() };
  return <LiveContext.Provider value={value}>{props.children}</LiveContext.Provider>;
}
