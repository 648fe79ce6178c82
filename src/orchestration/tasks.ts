/**
 * Recovery operations run as tasks: a list of named steps, each done in turn,
 * its state persisted before and after (STYLE 10: pure plans, effectful
 * steps). A step that fails undoes the steps done before it, in reverse, so a
 * task ends succeeded or rolled back, never half done. After a restart, a task
 * left running is rolled back the same way (each step's undo must tolerate
 * its step having been done only in part).
 */
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
 * The operator's scripts around an operation (re-IP, DNS, notifications):
 * `before` steps run first (a failure means nothing was done), `after` steps
 * last (a failure undoes the operation, like any step's).
 */
export interface StepHooks {
  before?: Step[];
  after?: Step[];
}

export function withHooks(steps: Step[], hooks: StepHooks = {}): Step[] {
  return [...(hooks.before ?? []), ...steps, ...(hooks.after ?? [])];
}

let nextId = 1;

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
