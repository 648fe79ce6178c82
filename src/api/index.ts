/** The HTTP face of a site: the operators' API, the site-to-site API, and the daemon that runs both. */
export { buildApp, type AppOptions } from "./app.js";
export { buildPeerApp } from "./peer-app.js";
export { startDaemon, type Daemon, type RunInfo } from "./daemon.js";
export { startDemo, type Demo, type DemoOptions, type DemoPorts } from "./demo-sites.js";
