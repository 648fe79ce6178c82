/**
 * Recovery operations run as tasks: a list of named steps, each done in turn,
 * its state persisted before and after (STYLE 10: pure plans, effectful
 * steps). A step that fails undoes the steps done before it, in reverse, so a
 * task ends succeeded or rolled back, never half done. After a restart, a task
 * left running is rolled back the same way (each step's undo must tolerate
 * its step having been done only in part).
 */
import fs from "node:fs";

export type StepState = "pending" | "running" | "done" | "failed" | "undone";
export type TaskState = "running" | "succeeded" | "failed" | "rolled-back";

export interface StepRecord {
  name: string;
  state: StepState;
  /** 0..1 while running, when the step can tell. */
  progress: number | undefined;
  detail: string | undefined;
  error: string | undefined;
}

export interface TaskRecord {
  id: string;
  kind: string;
  group: string;
  by: string;
  state: TaskState;
  startedAtMs: number;
  endedAtMs: number | undefined;
  steps: StepRecord[];
  error: string | undefined;
}

/** Where tasks are kept (the manager's database; memory in tests). */
export interface TaskStore {
  save(task: TaskRecord): void;
}

export class MemoryTaskStore implements TaskStore {
  readonly tasks = new Map<string, TaskRecord>();
  save(task: TaskRecord): void {
    this.tasks.set(task.id, structuredClone(task));
  }
}

export interface StepContext {
  progress(fraction: number, detail?: string): void;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<string | void>;
  undo?(): Promise<void>;
}

/**
 * The operator's scripts (re-IP, DNS, notifications), told which step they
 * run around. Each resolves with what to show in the step's detail, or
 * rejects with the script's output: that fails the step.
 */
export interface StepHooks {
  before?(step: string): Promise<string>;
  after?(step: string): Promise<string>;
}

/**
 * For operations whose steps undo (test start, failover): the before script,
 * the step's work and the after script run inside each step, so a failing
 * script fails that step with its output, and the task rolls back as for any
 * failing step. A failing after script first undoes its own step, which is
 * not yet in the list of done steps that the task undoes.
 */
export function aroundEachStep(steps: Step[], hooks: StepHooks = {}): Step[] {
  const { before, after } = hooks;
  if (!before && !after) return steps;
  return steps.map((step) => ({
    name: step.name,
    run: async (ctx) => {
      const said: string[] = [];
      if (before) said.push(`before script: ${await before(step.name)}`);
      const detail = await step.run(ctx);
      if (detail) said.push(detail);
      if (after) {
        try {
          said.push(`after script: ${await after(step.name)}`);
        } catch (err) {
          await step.undo?.();
          throw err;
        }
      }
      return said.join("; ");
    },
    ...(step.undo ? { undo: step.undo } : {}),
  }));
}

/**
 * For operations that cannot be undone once begun (test stop, commit,
 * rollback): a script failing between two steps would leave them half done,
 * so only the before script runs, once, as a first step (told the step ""),
 * and its failure means nothing was done.
 */
export function beforeAllSteps(steps: Step[], hooks: StepHooks = {}): Step[] {
  const { before } = hooks;
  return before ? [{ name: "before script", run: () => before("") }, ...steps] : steps;
}

let nextId = 1;

/**
 * For crash tests only: `LIFELINE_PAUSE_AFTER_STEP=<step name>` makes every
 * step of that name stop, its work done but not yet recorded done, and wait
 * for ever (its detail says so, and the task is saved), so that a test can
 * SIGKILL the daemon at that exact point, the worst one for a restart to
 * sort out; with `LIFELINE_PAUSE_UNTIL_FILE` it goes on once that file
 * exists (a test kills the other site meanwhile). Read at each step, so a
 * test's daemon sets it in its environment.
 */
async function pauseForTest(task: TaskRecord, record: StepRecord, store: TaskStore): Promise<void> {
  const name = process.env.LIFELINE_PAUSE_AFTER_STEP;
  if (!name || !record.name.startsWith(name)) return;
  const detail = record.detail;
  record.detail = `paused after its work (LIFELINE_PAUSE_AFTER_STEP, tests only)`;
  store.save(task);
  const until = process.env.LIFELINE_PAUSE_UNTIL_FILE;
  if (!until) await new Promise<never>(() => {});
  while (!fs.existsSync(until!)) await new Promise((r) => setTimeout(r, 100));
  record.detail = detail;
}

export function newTask(kind: string, group: string, by: string, stepNames: string[]): TaskRecord {
  return {
    id: `${kind}-${Date.now().toString(36)}-${(nextId++).toString(36)}`,
    kind,
    group,
    by,
    state: "running",
    startedAtMs: Date.now(),
    endedAtMs: undefined,
    steps: stepNames.map((name) => ({ name, state: "pending", progress: undefined, detail: undefined, error: undefined })),
    error: undefined,
  };
}

/** Runs `steps` as `task`, persisting each change; resolves with the task's end state. */
export async function runTask(task: TaskRecord, steps: Step[], store: TaskStore): Promise<TaskRecord> {
  store.save(task);
  const done: Step[] = [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    const record = task.steps[i]!;
    record.state = "running";
    store.save(task);
    try {
      const detail = await step.run({
        progress: (fraction, text) => {
          record.progress = fraction;
          if (text !== undefined) record.detail = text;
          store.save(task);
        },
      });
      await pauseForTest(task, record, store);
      record.state = "done";
      record.progress = 1;
      if (detail) record.detail = detail;
      done.push(step);
      store.save(task);
    } catch (err) {
      record.state = "failed";
      record.error = describe(err);
      task.error = `${step.name}: ${record.error}`;
      store.save(task);
      await undoSteps(task, done, store);
      if (task.state === "running") task.state = "rolled-back";
      task.endedAtMs = Date.now();
      store.save(task);
      return task;
    }
  }
  task.state = "succeeded";
  task.endedAtMs = Date.now();
  store.save(task);
  return task;
}

async function undoSteps(task: TaskRecord, done: Step[], store: TaskStore): Promise<void> {
  for (const step of [...done].reverse()) {
    const record = task.steps.find((s) => s.name === step.name)!;
    try {
      await step.undo?.();
      record.state = "undone";
    } catch (err) {
      // An undo that fails leaves the task failed, loudly: an operator must look.
      record.error = `undo failed: ${describe(err)}`;
      task.state = "failed";
    }
    store.save(task);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const hint = (err as { hint?: string }).hint;
    return hint ? `${err.message} (${hint})` : err.message;
  }
  return String(err);
}
