/**
 * What the live stream (`GET /api/v1/live`) tells each console, worked out
 * once for all of them. Every console used to poll the site, groups and
 * alerts every two seconds and its open page's tasks every second; with the
 * hub the site computes those once a second whoever watches, and sends only
 * what changed:
 *
 * - `hello` once, then the whole present: `site`, `groups` (every group),
 *   `alerts` and, once known, `tasks`;
 * - `groups` when a group's status changed (at most once a tick: a busy
 *   group's RPO moves every second, an idle one sends nothing), with the
 *   names of all groups so a deleted one goes away;
 * - `alerts` and `tasks` (as `GET /tasks` answers) when they changed;
 * - `event` at once for each new event of the event log;
 * - `tick` every second, with the samples the metrics history took since
 *   the last tick (the same ones `GET /groups/:name/history` serves, so a
 *   chart loaded from history goes on without a seam). The tick is also the
 *   heartbeat: a console that hears nothing for a few seconds knows its view
 *   is stale.
 *
 * The hub runs only while someone listens: the first subscriber starts its
 * timer, the last one stops it.
 */
import type { Alert, LifelineEvent } from "../manager/index.js";
import type { TaskRecord } from "../orchestration/index.js";
import { groupStatus, listTasks, type GroupStatusView, type MetricsSeries, type Site } from "../site/index.js";
import { siteView, type SiteView } from "./site-view.js";

export type LiveMessage =
  | { event: "hello"; data: { site: string; tickMs: number; timeMs: number } }
  | { event: "site"; data: SiteView }
  | { event: "groups"; data: { names: string[]; changed: GroupStatusView[] } }
  | { event: "alerts"; data: Alert[] }
  | { event: "tasks"; data: TaskRecord[] }
  | { event: "event"; data: LifelineEvent }
  | { event: "tick"; data: { timeMs: number; samples: Record<string, MetricsSeries> } };

export type LiveListener = (m: LiveMessage) => void;

export const LIVE_TICK_MS = 1000;

export class LiveHub {
  readonly #site: Site;
  readonly tickMs: number;
  readonly #listeners = new Set<LiveListener>();
  #timer: NodeJS.Timeout | undefined;
  /** Last sent, as JSON, to compare with the present. */
  #siteJson: string | undefined;
  readonly #groups = new Map<string, { json: string; view: GroupStatusView }>();
  #alerts: string | undefined;
  #alertList: Alert[] = [];
  #tasks: { json: string; list: TaskRecord[] } | undefined;
  #tasksBusy = false;
  /** Per group, the time of the newest sample sent. */
  readonly #sampled = new Map<string, number>();
  readonly #onEvent = (e: LifelineEvent) => {
    this.#broadcast({ event: "event", data: e });
    // An alert raised or cleared is worth saying now rather than at the next tick.
    if (e.data["alert"] !== undefined) this.#checkAlerts();
  };

  constructor(site: Site, options: { tickMs?: number } = {}) {
    this.#site = site;
    this.tickMs = options.tickMs ?? LIVE_TICK_MS;
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /** Sends `listener` the present, then every change, until the returned function is called. */
  subscribe(listener: LiveListener): () => void {
    if (this.#listeners.size === 0) this.#start();
    const now = Date.now();
    listener({ event: "hello", data: { site: this.#site.name, tickMs: this.tickMs, timeMs: now } });
    listener({ event: "site", data: siteView(this.#site.ctx) });
    listener({ event: "groups", data: { names: [...this.#groups.keys()], changed: [...this.#groups.values()].map((g) => g.view) } });
    listener({ event: "alerts", data: this.#alertList });
    if (this.#tasks) listener({ event: "tasks", data: this.#tasks.list });
    this.#listeners.add(listener);
    if (!this.#tasks) this.#checkTasks();
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop();
    };
  }

  /** Stops the hub; the listeners are dropped (their streams are ended by whoever opened them). */
  close(): void {
    this.#listeners.clear();
    this.#stop();
  }

  #start(): void {
    const ctx = this.#site.ctx;
    // The state now, so the first subscriber starts from it; later ones start from the last tick.
    this.#checkGroups();
    this.#checkAlerts();
    this.#siteJson = JSON.stringify(siteView(ctx));
    const now = Date.now();
    for (const name of this.#groups.keys()) this.#sampled.set(name, now);
    ctx.manager.events.on("event", this.#onEvent);
    this.#timer = setInterval(() => this.tick(), this.tickMs);
    this.#timer.unref();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#site.ctx.manager.events.off("event", this.#onEvent);
    this.#groups.clear();
    this.#sampled.clear();
    this.#tasks = undefined;
  }

  /** One round: what changed since the last one, and the new samples. Public for tests. */
  tick(nowMs = Date.now()): void {
    const ctx = this.#site.ctx;
    try {
      const site = JSON.stringify(siteView(ctx));
      if (site !== this.#siteJson) {
        this.#siteJson = site;
        this.#broadcast({ event: "site", data: JSON.parse(site) as SiteView });
      }
      this.#checkGroups();
      this.#checkAlerts();
      const samples: Record<string, MetricsSeries> = {};
      for (const name of this.#groups.keys()) {
        const s = this.#site.history.since(name, this.#sampled.get(name), nowMs);
        if (s.t.length === 0) continue;
        samples[name] = s;
        this.#sampled.set(name, s.t[s.t.length - 1]!);
      }
      this.#broadcast({ event: "tick", data: { timeMs: nowMs, samples } });
    } catch (err) {
      // A failed round is logged and the next one tries again; the stream itself stays up.
      ctx.log.error({ err }, "the live stream could not gather the site's state");
    }
    this.#checkTasks();
  }

  #checkGroups(): void {
    const ctx = this.#site.ctx;
    const changed: GroupStatusView[] = [];
    const names: string[] = [];
    for (const g of ctx.manager.groups.list()) {
      const view = groupStatus(ctx, g);
      const json = JSON.stringify(view);
      names.push(g.name);
      if (this.#groups.get(g.name)?.json === json) continue;
      this.#groups.set(g.name, { json, view });
      changed.push(view);
    }
    const gone = [...this.#groups.keys()].filter((n) => !names.includes(n));
    for (const n of gone) {
      this.#groups.delete(n);
      this.#sampled.delete(n);
    }
    if (changed.length || gone.length) this.#broadcast({ event: "groups", data: { names, changed } });
  }

  #checkAlerts(): void {
    const list = this.#site.ctx.manager.events.alerts();
    const json = JSON.stringify(list);
    if (json === this.#alerts) return;
    this.#alerts = json;
    this.#alertList = list;
    this.#broadcast({ event: "alerts", data: list });
  }

  /** Tasks include the peers' (a network call): one round at a time, never holding up the tick. */
  #checkTasks(): void {
    if (this.#tasksBusy || this.#listeners.size === 0) return;
    this.#tasksBusy = true;
    const ctx = this.#site.ctx;
    listTasks(ctx, {})
      .then((list) => {
        const json = JSON.stringify(list);
        if (!this.#timer || this.#tasks?.json === json) return;
        this.#tasks = { json, list };
        this.#broadcast({ event: "tasks", data: list });
      })
      .catch((err: unknown) => ctx.log.error({ err }, "the live stream could not list tasks"))
      .finally(() => (this.#tasksBusy = false));
  }

  #broadcast(m: LiveMessage): void {
    for (const l of this.#listeners) l(m);
  }
}
