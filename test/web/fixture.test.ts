/**
 * The recovery flow in the console, against the fixture site (the real API
 * with moving facts, a journal window of checkpoints, and stand-ins for the
 * orchestration routes): the dashboard shows erp protected with a live RPO
 * and crm in trouble; on erp's timeline a point 10 s back is picked, a
 * failover test started, its task followed to the end, the group seen in
 * test, the test stopped with a result, and its report found. Screenshots
 * of each page go to dist/test-artifacts/web. No timings are asserted.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { openFixture, type Fixture } from "./fixture.js";
import { chromiumAvailable, ensureBuilt, launch, screenshot, signIn, tempRoot } from "./harness.js";

const skip = chromiumAvailable() ? false : "no chromium at /usr/bin/chromium (set CHROMIUM)";

describe("web-console-recovery-flow", { skip }, () => {
  const root = tempRoot();
  let fx: Fixture;
  let browser: Browser;
  let page: Page;

  before(async () => {
    ensureBuilt();
    fx = await openFixture(root);
    browser = await launch();
    page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  });
  after(async () => {
    await browser?.close();
    await fx?.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("the dashboard shows erp protected with a live RPO, and crm in trouble first", async () => {
    await signIn(page, fx.url, fx.a.admin);
    const erp = page.locator('tr[data-group="erp"]');
    await erp.locator('.badge[data-state="protected"]').waitFor();
    assert.match((await erp.locator(".rpo-now").textContent()) ?? "", /\d(\.\d)? s/);
    const first = page.locator("table.groups tbody tr").first();
    assert.equal(await first.getAttribute("data-group"), "crm");
    assert.match((await first.textContent()) ?? "", /RPO breach/);
    await page.getByTestId("summary").filter({ hasText: "1 of 3 groups needs attention" }).waitFor();
    // The fixture offers no live stream: the console asked for it, fell back to polling, and a new alert shows without a reload.
    assert.ok(fx.liveAsked() > 0, "the console asks for the live stream first");
    fx.a.site.ctx.manager.events.raise("journal-warning", "erp", "warning", "group erp: journal at 16 of 20 GiB", "erp");
    await page.locator(".alert", { hasText: "journal at 16 of 20 GiB" }).waitFor();
    // The sparklines draw the hour the site kept, at once.
    await page.waitForFunction('document.querySelectorAll(".chart.spark canvas").length === 2');
    await screenshot(page, "10-fixture-dashboard");
  });

  it("picks a point 10 s back on the timeline and starts a failover test", async () => {
    await page.getByRole("link", { name: "erp", exact: true }).click();
    const tag = page.locator(".tl-tag", { hasText: "before-ransomware" });
    await tag.waitFor();
    // A click near a tagged checkpoint picks it; the keyboard then moves the cursor off it, to a time.
    const line = (await tag.locator("line").boundingBox())!;
    await page.mouse.click(line.x + line.width / 2 + 2, line.y + line.height - 4);
    const summary = page.getByTestId("point-summary");
    await summary.getByText('checkpoint tagged "before-ransomware"').waitFor();
    assert.match((await summary.textContent()) ?? "", /tag:before-ransomware/);
    await page.getByTestId("timeline").press("ArrowLeft");
    await summary.getByText(/\d+ s ago/).first().waitFor();
    await page.getByLabel("Point", { exact: true }).fill("10s ago");
    await page.getByRole("button", { name: "Go" }).click();
    await page.getByTestId("point-summary").getByText(/\d+(\.\d)? s ago/).first().waitFor();
    await page.getByRole("button", { name: "10 s", exact: true }).click();
    await screenshot(page, "11-fixture-group-point");
    await page.getByRole("button", { name: "Test failover" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("test network", { exact: false }).waitFor();
    await dialog.getByRole("button", { name: "Start test" }).click();
    await page.getByRole("heading", { name: "Tasks" }).waitFor();
    await page.locator("[data-task] .step-running").first().waitFor();
    await screenshot(page, "12-fixture-task-running");
    await page.locator("[data-task]").filter({ hasText: "succeeded" }).first().waitFor();
  });

  it("the group shows the test running; stopping it with a result makes a report", async () => {
    await page.getByRole("link", { name: "Dashboard", exact: true }).click();
    await page.locator('tr[data-group="erp"] .badge[data-state="test-running"]').waitFor();
    await page.getByRole("link", { name: "erp", exact: true }).click();
    await page.getByRole("button", { name: "Stop test…" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("fail").check();
    await dialog.getByLabel("Notes").fill("app server did not start; ticket 4711");
    await screenshot(page, "13-fixture-stop-test");
    await dialog.getByRole("button", { name: "Stop test" }).click();
    await page.getByRole("heading", { name: "Recovery reports" }).waitFor();
    const row = page.locator("table.reports tbody tr").first();
    await row.filter({ hasText: "ticket 4711" }).waitFor();
    assert.match((await row.textContent()) ?? "", /✕ fail/);
    await page.emulateMedia({ media: "print" });
    await screenshot(page, "14-fixture-report-print");
    await page.emulateMedia({ media: "screen" });
  });

  it("alerts and events show crm's RPO breach", async () => {
    await page.getByRole("link", { name: /Alerts & events/ }).click();
    await page.locator(".alert", { hasText: "crm" }).first().waitFor();
    await page.getByLabel("Group").selectOption("erp");
    await page.locator("table.events tbody tr", { hasText: "before-upgrade" }).waitFor();
    await screenshot(page, "15-fixture-events");
  });

  it("reads on a wall screen in dark mode", async () => {
    const wall = await (await browser.newContext({ viewport: { width: 2560, height: 1440 }, colorScheme: "dark" })).newPage();
    await signIn(wall, fx.url, fx.a.admin);
    await wall.locator('tr[data-group="erp"]').waitFor();
    await screenshot(wall, "16-fixture-wall-dark");
    await wall.getByRole("link", { name: "erp", exact: true }).click();
    await wall.getByTestId("timeline").waitFor();
    await screenshot(wall, "17-fixture-group-wall-dark");
    await wall.context().close();
  });
});
