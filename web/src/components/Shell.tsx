/**
 * The frame around every page: the site, the navigation, who is signed in,
 * and the connection banner, which says plainly when what is on screen is
 * no longer live ("disconnected from site A, retrying").
 */
import { Link, useLocation } from "../lib/router";
import { ErrorBoundary } from "./ErrorBoundary";
import { ago } from "../lib/format";
import { useNow } from "../lib/now";
import { STALE_MS, useLive } from "../state/live";
import { Alerts } from "../pages/Alerts";
import { Dashboard } from "../pages/Dashboard";
import { GroupPage } from "../pages/GroupPage";
import { Reports } from "../pages/Reports";
import { Settings } from "../pages/Settings";
import { Tasks } from "../pages/Tasks";

const NAV: { to: string; label: string }[] = [
  { to: "/", label: "Dashboard" },
  { to: "/tasks", label: "Tasks" },
  { to: "/alerts", label: "Alerts & events" },
  { to: "/reports", label: "Reports" },
  { to: "/settings", label: "Settings" },
];

function ConnectionBanner() {
  const { site, connection } = useLive();
  const now = useNow(1000);
  const staleMs = now - connection.lastOkAt;
  if (connection.ok && staleMs < STALE_MS) return null;
  return (
    <div className="banner tone-bad" role="alert" data-testid="disconnected">
      <strong>
        <span aria-hidden="true">✕ </span>Disconnected from site {site.name}, retrying.
      </strong>{" "}
      Last update {ago(staleMs)}; what you see may be out of date.{connection.message ? ` Cause: ${connection.message}.` : ""}
    </div>
  );
}

function Page(props: { path: string }) {
  const m = /^\/groups\/([^/]+)\/?$/.exec(props.path);
  if (m) return <GroupPage name={decodeURIComponent(m[1]!)} />;
  switch (props.path) {
    case "/":
      return <Dashboard />;
    case "/tasks":
      return <Tasks />;
    case "/alerts":
    case "/events":
      return <Alerts />;
    case "/reports":
      return <Reports />;
    case "/settings":
      return <Settings />;
    default:
      return (
        <main className="page">
          <h1>Not found</h1>
          <p>
            There is no page at <code>{props.path}</code>. <Link to="/">Back to the dashboard</Link>.
          </p>
        </main>
      );
  }
}

export function Shell(props: { onSignOut(): void }) {
  const { site, session, alerts, connection, streaming } = useLive();
  const { path } = useLocation();
  const now = useNow(1000);
  const critical = alerts.filter((a) => a.severity === "critical").length;
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand" label="Lifeline dashboard">
          <span className="logo" aria-hidden="true">◉</span> Lifeline
        </Link>
        <span className="site-name" title={`certificate ${site.fingerprint}`}>
          site <strong>{site.name}</strong>
        </span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.to}>
                <Link to={n.to} current={n.to === "/" ? path === "/" : path.startsWith(n.to)}>
                  {n.label}
                  {n.to === "/alerts" && alerts.length > 0 ? (
                    <span className={`count tone-${critical ? "bad" : "warn"}`} aria-label={`${alerts.length} open alerts`}>
                      {alerts.length}
                    </span>
                  ) : null}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          <span className={`live-dot ${connection.ok ? "on" : "off"}`} aria-hidden="true" />
          <span className="muted updated" data-feed={streaming ? "stream" : "poll"} title={streaming ? "the site pushes changes as they happen" : "the site's live stream is not available: polling every 2 s"}>
            {connection.ok ? `${streaming ? "live" : "polling"} · ${ago(now - connection.lastOkAt)}` : "offline"}
          </span>
          <span className="role" data-testid="role">
            {session.role}
          </span>
          <button type="button" className="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      <ConnectionBanner />
      <div id="main">
        <ErrorBoundary resetKey={path}>
          <Page path={path} />
        </ErrorBoundary>
      </div>
    </div>
  );
}
