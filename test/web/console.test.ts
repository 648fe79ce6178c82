/**
 * The web console in a real browser against two real site daemons (A
 * protecting `erp` to B): sign-in, a wrong token refused, the dashboard
 * showing the group, the group page with its timeline and actions, a failover
 * test picked on the timeline and run to its report, a viewer
 * seeing no action buttons, a revoked token sent back to sign-in, and the
 * disconnected banner when the daemon stops. Screenshots of each page go to
 * dist/test-artifacts/web (LIFELINE_ARTIFACTS to change). No timings are
 * asserted: every wait is for something to appear.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, ensureBuilt, freePort, launch, lifeline, screenshot, serveConsole, signIn, SiteDaemon, tempRoot, type ConsoleServer } from "./harness.js";

const skip = chromiumAvailable() ? false : "no chromium at /usr/bin/chromium (set CHROMIUM)";

describe("web-console", { skip }, () => {
  const root = tempRoot();
  const a = new SiteDaemon(root, "A");
  const b = new SiteDaemon(root, "B");
  let server: ConsoleServer;
  let browser: Browser;
  let viewerToken = "";
  let operatorToken = "";

  before(async () => {
    ensureBuilt();
    await Promise.all([a.init(await freePort()), b.init()]);
    await Promise.all([a.start(), b.start()]);
    const pairToken = (await lifeline(["site", "pair-token", "--dir", b.dir])).trim();
    await lifeline(["pair", "--dir", a.dir, "--peer", b.apiUrl, "--token", pairToken]);
    await lifeline(["group", "create", "erp", "--recovery-site", "B", "--rpo", "5s", "--dir", a.dir]);
    await lifeline(["vm", "add", "erp", "erp-db", "--disk", "data:8MiB", "--disk", "log:4MiB", "--dir", a.dir]);
    viewerToken = (await lifeline(["token", "create", "--role", "viewer", "--dir", a.dir])).split("\n")[0]!.trim();
    operatorToken = (await lifeline(["token", "create", "--role", "operator", "--dir", a.dir])).split("\n")[0]!.trim();
    server = await serveConsole(a);
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await Promise.all([a.stop(), b.stop()]);
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function fresh(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    return context.newPage();
  }

  it("refuses a wrong token and stays on the sign-in page", async () => {
    const page = await fresh();
    await page.goto(server.url);
    await screenshot(page, "01-sign-in");
    await signIn(page, server.url, "llt_wrong");
    await page.getByRole("alert").filter({ hasText: "unknown or revoked" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Sign in" }).count(), 1);
    await page.context().close();
  });

  it("signs in an admin; the dashboard shows erp with its state and reason", async () => {
    const page = await fresh();
    await signIn(page, server.url, a.adminToken);
    const row = page.locator('tr[data-group="erp"]');
    await row.waitFor();
    assert.equal(await page.getByTestId("role").textContent(), "admin");
    const state = await row.locator(".badge").getAttribute("data-state");
    assert.match(state ?? "", /^[a-z-]+$/);
    assert.ok(((await row.textContent()) ?? "").includes("A → B"));
    await page.getByTestId("link-B").waitFor();
    // The link shows the site pair's bandwidth limit.
    await lifeline(["peer", "update", "B", "--bandwidth", "50MiB/s", "--dir", a.dir]);
    await page.reload();
    await page.getByTestId("link-B").getByText("limit 50 MiB/s").waitFor();
    await lifeline(["peer", "update", "B", "--bandwidth", "unlimited", "--dir", a.dir]);
    // The site pushes its state: the console follows the live stream, not polls.
    await page.locator('[data-feed="stream"]').waitFor();
    await screenshot(page, "02-dashboard");
    // The token survives a reload (session storage), and client routes load directly.
    await page.goto(`${server.url}/groups/erp`);
    await page.getByTestId("timeline").waitFor();
    await page.getByText("nbd://127.0.0.1:").first().waitFor();
    await page.getByTestId("actions").getByRole("button", { name: "Test failover" }).waitFor();
    await screenshot(page, "03-group");
    await page.context().close();
  });

  it("the group page draws the site's last samples at once, and goes on with the live ones", async () => {
    // The daemons have sampled for a while by now; let them have ten seconds at least.
    const hist = async () => (await (await fetch(`${a.apiUrl}/api/v1/groups/erp/history`, { headers: { authorization: `Bearer ${a.adminToken}` } })).json()) as { t: number[] };
    while ((await hist()).t.length < 10) await new Promise((r) => setTimeout(r, 500));
    const page = await fresh();
    await signIn(page, server.url, a.adminToken);
    await page.locator('tr[data-group="erp"] .chart.spark canvas').waitFor();
    const openedAt = Date.now();
    await page.goto(`${server.url}/groups/erp`);
    const charts = page.getByTestId("charts");
    await charts.locator("canvas").first().waitFor();
    const from = Number(await charts.getAttribute("data-from"));
    const count = Number(await charts.getAttribute("data-samples"));
    assert.ok(from < openedAt - 5000, `the chart starts before the page opened (first sample ${openedAt - from} ms before)`);
    assert.ok(count >= 10, `the chart holds the site's samples (${count})`);
    assert.equal(await charts.locator("canvas").count(), 3, "RPO, throughput and queue");
    // Then one more each second from the stream.
    while (Number(await charts.getAttribute("data-samples")) <= count) await new Promise((r) => setTimeout(r, 200));
    await screenshot(page, "03b-group-charts");
    await page.context().close();
  });

  it("picks a point 10 s back, runs a failover test with its task's progress, stops it with a result, and finds its report", async () => {
    // The journal must reach 10 s back: wait for a checkpoint that old.
    for (;;) {
      const list = JSON.parse(await lifeline(["checkpoints", "erp", "--json", "--dir", a.dir])) as { time: number; consistent: boolean }[];
      if (list.some((c) => c.consistent && c.time < Date.now() - 12_000)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const page = await fresh();
    await signIn(page, server.url, operatorToken);
    await page.getByRole("link", { name: "erp" }).click();
    await page.getByTestId("point-summary").waitFor();
    await page.getByLabel("Point", { exact: true }).fill("10s ago");
    await page.getByRole("button", { name: "Go" }).click();
    await page.getByTestId("point-summary").getByText("ago").first().waitFor();
    await page.getByRole("button", { name: "Test failover" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("isolated").waitFor();
    await screenshot(page, "04-confirm");
    await dialog.getByRole("button", { name: "Start test" }).click();
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
    await page.locator("[data-task]").filter({ hasText: "test-start" }).filter({ hasText: "succeeded" }).first().waitFor();
    await screenshot(page, "05-tasks");

    // Site A shows the test that runs at B.
    await page.getByRole("link", { name: "Dashboard", exact: true }).click();
    await page.locator('tr[data-group="erp"] .badge[data-state="test-running"]').waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "erp", exact: true }).click();
    await page.getByRole("button", { name: "Stop test…" }).click();
    const stop = page.getByRole("dialog");
    await stop.getByLabel("pass").check();
    await stop.getByLabel("Notes").fill("ERP login works; ticket 815");
    await stop.getByRole("button", { name: "Stop test" }).click();
    await page.getByRole("heading", { name: "Recovery reports" }).waitFor();
    const row = page.locator("table.reports tbody tr").filter({ hasText: "ticket 815" });
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /✓ pass/);
    assert.match((await row.textContent()) ?? "", /\(seq \d+\)/, "the report names the point picked");
    await page.context().close();
  });

  it("reads on a wall screen (1080p and 1440p, dark) and works from the keyboard alone", async () => {
    for (const [w, h, scheme] of [[1920, 1080, "light"], [2560, 1440, "dark"]] as const) {
      const context = await browser.newContext({ viewport: { width: w, height: h }, colorScheme: scheme });
      const page = await context.newPage();
      await signIn(page, server.url, a.adminToken);
      await page.locator('tr[data-group="erp"] .chart.spark canvas').waitFor();
      // Nothing scrolls sideways, and the page is not a narrow column on a wide screen.
      const scrollWidth = await page.locator("html").evaluate((el: unknown) => (el as { scrollWidth: number }).scrollWidth);
      const mainWidth = (await page.locator("main").boundingBox())!.width;
      assert.ok(scrollWidth <= w, `no horizontal scroll at ${w} px (${scrollWidth})`);
      assert.ok(mainWidth >= w * 0.75, `the dashboard uses the screen at ${w} px (${mainWidth})`);
      await screenshot(page, `02b-dashboard-wall-${w}-${scheme}`);
      await context.close();
    }
    // Keyboard: the skip link first, then the navigation; Enter on a group link opens it; a dialog opened
    // from the keyboard has the safe button focused, and Escape closes it.
    const page = await fresh();
    await signIn(page, server.url, operatorToken);
    await page.locator('tr[data-group="erp"]').waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.locator(":focus").textContent(), "Skip to content");
    await page.getByRole("link", { name: "erp", exact: true }).focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("timeline").waitFor();
    await page.getByRole("button", { name: "Test failover" }).focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    assert.equal((await page.locator(":focus").textContent())?.trim(), "Cancel");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await page.context().close();
  });

  it("a viewer sees no action buttons and no admin settings", async () => {
    const page = await fresh();
    await signIn(page, server.url, viewerToken);
    await page.locator('tr[data-group="erp"]').waitFor();
    assert.equal(await page.getByTestId("role").textContent(), "viewer");
    await page.getByRole("link", { name: "erp" }).click();
    await page.getByTestId("no-actions").waitFor();
    assert.equal(await page.getByRole("button", { name: /Test failover|Failover|Move|Restore|Take checkpoint/ }).count(), 0);
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByText("settings are shown read-only").waitFor();
    assert.equal(await page.getByRole("heading", { name: "API tokens" }).count(), 0);
    await page.context().close();
  });

  it("pages for alerts, reports and settings render", async () => {
    const page = await fresh();
    await signIn(page, server.url, a.adminToken);
    await page.locator('tr[data-group="erp"]').waitFor();
    await page.getByRole("link", { name: "Alerts & events" }).click();
    await page.getByRole("heading", { name: "Event log" }).waitFor();
    await page.locator("table.events tbody tr").first().waitFor();
    await screenshot(page, "06-events");
    await page.getByRole("link", { name: "Reports" }).click();
    await page.getByRole("heading", { name: "Recovery reports" }).waitFor();
    await page.emulateMedia({ media: "print" });
    await screenshot(page, "07-reports-print");
    await page.emulateMedia({ media: "screen" });
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.getByRole("cell", { name: "B", exact: true }).waitFor();
    // The group's compute driver and scripts, saved through the API and sent to the recovery site.
    const recovery = page.getByRole("group", { name: "Recovery of group erp" });
    await recovery.getByLabel("Compute driver").selectOption("qemu");
    await recovery.getByLabel("Memory per VM (MiB)").fill("256");
    await recovery.getByLabel("Before each operation").fill("logger lifeline $LIFELINE_OPERATION");
    await recovery.getByRole("button", { name: "Save recovery settings" }).click();
    await recovery.getByText("saved: qemu driver, scripts").waitFor();
    const atB = JSON.parse(await lifeline(["status", "erp", "--json", "--dir", b.dir])) as { compute: { driver: string; memoryMiB: number; beforeScript: string } };
    assert.deepEqual(atB.compute, { driver: "qemu", memoryMiB: 256, beforeScript: "logger lifeline $LIFELINE_OPERATION" });
    await screenshot(page, "08-settings");
    await page.context().close();
  });

  it("a token revoked while signed in returns to sign-in", async () => {
    const page = await fresh();
    const made = JSON.parse(await lifeline(["token", "create", "--role", "viewer", "--json", "--dir", a.dir])) as { id: string; token: string };
    await signIn(page, server.url, made.token);
    await page.locator('tr[data-group="erp"]').waitFor();
    await lifeline(["token", "revoke", made.id, "--dir", a.dir]);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.getByText("sign in again").waitFor();
    await page.context().close();
  });

  it("shows the disconnected banner when the site stops answering, and recovers when it is back", async () => {
    const page = await fresh();
    await signIn(page, server.url, a.adminToken);
    await page.locator('tr[data-group="erp"]').waitFor();
    await a.stop();
    const banner = page.getByTestId("disconnected");
    await banner.waitFor({ timeout: 20_000 });
    assert.match((await banner.textContent()) ?? "", /Disconnected from site A, retrying/);
    await screenshot(page, "09-disconnected");
    if (!server.native) {
      // Served apart from the site (a proxy, the dev server): a reload while the site is down keeps the token and retries.
      await page.reload();
      await page.getByRole("status").filter({ hasText: "retrying" }).waitFor();
    }
    // The site back, the console is live again without a reload: the banner goes, the stream comes back.
    await a.start();
    await page.locator('tr[data-group="erp"]').waitFor();
    await page.getByTestId("disconnected").waitFor({ state: "detached", timeout: 20_000 });
    await page.locator('[data-feed="stream"]').waitFor({ timeout: 20_000 });
    await page.context().close();
  });

  it("a group in trouble stands out, in colour and in words (the recovery site stopped: link down)", async () => {
    const page = await fresh();
    await signIn(page, server.url, a.adminToken);
    await page.locator('tr[data-group="erp"]').waitFor();
    await b.stop();
    const row = page.locator('tr[data-group="erp"].trouble');
    await row.waitFor({ timeout: 60_000 });
    const badge = row.locator(".badge");
    assert.match((await badge.textContent()) ?? "", /✕|!/, "a symbol, not colour alone");
    assert.match((await row.textContent()) ?? "", /Link down|Not replicating|RPO breach/);
    await page.getByTestId("summary").filter({ hasText: "needs attention" }).waitFor();
    const background = (l: typeof row) => l.evaluate((el: unknown) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    assert.notEqual(await background(row), "rgba(0, 0, 0, 0)", "the row is tinted");
    assert.notEqual(await background(badge), await background(page.locator("main")), "the badge is filled");
    await screenshot(page, "10-trouble");
    await page.context().close();
  });
});
