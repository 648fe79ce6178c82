/** A group's settings (PATCH /groups/:name) and making a new group. Only changed fields are sent. */
import { useState, type FormEvent } from "react";
import type { ComputeSettings, GroupStatus } from "../../api/types";
import { bytes, duration, parseBytes, parseDuration } from "../../lib/format";
import { useLive } from "../../state/live";
import { Outcome, useAction } from "./useAction";

type Field = { key: string; label: string; kind: "duration" | "bytes" | "bytes-or-none"; current(g: GroupStatus): number | null | undefined };

const FIELDS: Field[] = [
  { key: "rpoTargetMs", label: "RPO target", kind: "duration", current: (g) => g.rpoTargetMs },
  { key: "historyMs", label: "History (journal window)", kind: "duration", current: (g) => g.historyTargetMs },
  { key: "journalLimitBytes", label: "Journal size limit", kind: "bytes", current: (g) => g.journalLimitBytes },
  { key: "checkpointIntervalMs", label: "Checkpoint interval", kind: "duration", current: (g) => g.checkpointIntervalMs },
  { key: "bandwidthBytesPerSec", label: "Bandwidth limit (per second; empty: none)", kind: "bytes-or-none", current: (g) => g.bandwidthBytesPerSec },
];

function show(f: Field, v: number | null | undefined): string {
  if (v === undefined) return "";
  if (v === null) return "";
  return f.kind === "duration" ? duration(v).replace(/ /g, "") : bytes(v).replace(/ /g, "");
}

export function GroupSettingsForm(props: { g: GroupStatus; canEdit: boolean }) {
  const { session, refresh } = useLive();
  const { g } = props;
  const [values, setValues] = useState<Record<string, string>>({});
  const [priority, setPriority] = useState<string>("");
  const [compression, setCompression] = useState<string>("");
  const a = useAction();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void a.run(async () => {
      const body: Record<string, number | string | boolean | null> = {};
      for (const f of FIELDS) {
        const text = values[f.key];
        if (text === undefined) continue;
        if (f.kind === "bytes-or-none" && text.trim() === "") {
          body[f.key] = null;
          continue;
        }
        const n = f.kind === "duration" ? parseDuration(text) : parseBytes(text);
        if (n === undefined || n <= 0) throw new Error(`${f.label}: "${text}" is not a ${f.kind === "duration" ? "duration (30s, 4h)" : "size (512MiB, 20GiB)"}`);
        body[f.key] = n;
      }
      if (priority) body.priority = priority;
      if (compression) body.compression = compression === "on";
      if (Object.keys(body).length === 0) return "nothing changed";
      await session.api.patch(`/groups/${encodeURIComponent(g.name)}`, body);
      setValues({});
      refresh();
      return `saved ${Object.keys(body).join(", ")}`;
    });
  };

  return (
    <form className="settings-form" onSubmit={submit} aria-label={`Settings of group ${g.name}`}>
      <fieldset disabled={!props.canEdit || a.busy}>
        {FIELDS.map((f) => (
          <label key={f.key}>
            {f.label}
            <input
              value={values[f.key] ?? show(f, f.current(g))}
              placeholder={f.current(g) === undefined ? "unchanged" : "none"}
              onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}
            />
          </label>
        ))}
        <label>
          Priority
          <select value={priority || g.priority || ""} onChange={(e) => setPriority(e.target.value)}>
            {g.priority ? null : <option value="">unchanged</option>}
            <option value="high">high</option>
            <option value="medium">medium</option>
            <option value="low">low</option>
          </select>
        </label>
        <label>
          Compression
          <select value={compression || (g.compression === undefined ? "" : g.compression ? "on" : "off")} onChange={(e) => setCompression(e.target.value)}>
            {g.compression === undefined ? <option value="">unchanged</option> : null}
            <option value="on">on (lz4)</option>
            <option value="off">off</option>
          </select>
        </label>
        {props.canEdit ? <button type="submit" className="primary">Save settings</button> : null}
      </fieldset>
      <Outcome error={a.error} ok={a.ok} />
      {g.compute ? <ComputeForm g={g} compute={g.compute} canEdit={props.canEdit} /> : null}
    </form>
  );
}

/** The compute driver, its VM settings, and the scripts around recovery operations: sent whole, as one setting. */
function ComputeForm(props: { g: GroupStatus; compute: ComputeSettings; canEdit: boolean }) {
  const { session, refresh } = useLive();
  const [c, setC] = useState<ComputeSettings>(props.compute);
  const a = useAction();
  const text = (key: "start" | "stop" | "beforeScript" | "afterScript" | "liveBridge", label: string, hint: string) => (
    <label>
      {label}
      <input value={c[key] ?? ""} placeholder={hint} onChange={(e) => setC({ ...c, [key]: e.target.value || undefined })} />
    </label>
  );
  const whole = (key: "memoryMiB" | "cpus", label: string) => (
    <label>
      {label}
      <input type="number" min={1} value={c[key] ?? ""} onChange={(e) => setC({ ...c, [key]: e.target.value ? Number(e.target.value) : undefined })} />
    </label>
  );
  return (
    <fieldset className="settings-form compute" disabled={!props.canEdit || a.busy} aria-label={`Recovery of group ${props.g.name}`}>
      <legend>Recovery: compute driver and scripts</legend>
      <label>
        Compute driver
        <select value={c.driver} onChange={(e) => setC({ ...c, driver: e.target.value as ComputeSettings["driver"] })}>
          <option value="none">none (serve the disks)</option>
          <option value="qemu">qemu</option>
          <option value="script">script (libvirt, Proxmox, …)</option>
        </select>
      </label>
      {c.driver === "qemu" ? (
        <>
          {whole("memoryMiB", "Memory per VM (MiB)")}
          {whole("cpus", "CPUs per VM")}
          <label>
            Test network
            <select value={c.testNetwork ?? "none"} onChange={(e) => setC({ ...c, testNetwork: e.target.value as "none" | "isolated" })}>
              <option value="none">none (no NIC)</option>
              <option value="isolated">isolated (user-mode, reaches nothing)</option>
            </select>
          </label>
          {text("liveBridge", "Live network bridge", "e.g. br0 (empty: user-mode)")}
        </>
      ) : null}
      {c.driver === "script" ? (
        <>
          {text("start", "Start command", "virsh start $LIFELINE_VM")}
          {text("stop", "Stop command", "virsh destroy $LIFELINE_VM")}
        </>
      ) : null}
      {text("beforeScript", "Before each operation", "a command; a failure stops the operation")}
      {text("afterScript", "After a test or failover starts", "re-IP, DNS; a failure undoes it")}
      {props.canEdit ? (
        <button
          type="button"
          onClick={() =>
            void a.run(async () => {
              const body = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined && v !== ""));
              await session.api.patch(`/groups/${encodeURIComponent(props.g.name)}`, { compute: body });
              refresh();
              return `saved: ${c.driver} driver${c.beforeScript || c.afterScript ? ", scripts" : ""}`;
            })
          }
        >
          Save recovery settings
        </button>
      ) : null}
      <Outcome error={a.error} ok={a.ok} />
    </fieldset>
  );
}

export function CreateGroupForm() {
  const { session, site, refresh } = useLive();
  const [name, setName] = useState("");
  const [recoverySite, setRecoverySite] = useState(site.peers[0]?.name ?? "");
  const a = useAction();
  return (
    <form
      className="inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        void a.run(async () => {
          await session.api.post("/groups", { name: name.trim(), recoverySite });
          refresh();
          setName("");
          return `group ${name.trim()} created`;
        });
      }}
    >
      <label>
        New group
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="erp" required pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,62}" />
      </label>
      <label>
        Recovery site
        <select value={recoverySite} onChange={(e) => setRecoverySite(e.target.value)} required>
          {site.peers.length === 0 ? <option value="">pair a site first</option> : null}
          {site.peers.map((p) => (
            <option key={p.name}>{p.name}</option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={a.busy || !recoverySite}>
        Create group
      </button>
      <Outcome error={a.error} ok={a.ok} />
    </form>
  );
}
