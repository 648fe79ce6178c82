/** A group's VMs and disks: add a VM with its disks, remove one. */
import { useState } from "react";
import type { GroupStatus } from "../../api/types";
import { bytes, parseBytes, parseDuration } from "../../lib/format";
import { useLive } from "../../state/live";
import { Outcome, useAction } from "./useAction";

/** "data:8GiB" or "data:8GiB:/srv/disks/data.raw", one disk a line. */
function parseDisks(text: string): { name: string; sizeBytes: number; path?: string }[] {
  return text
    .split(/\n|,/)
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name, size, ...rest] = l.split(":");
      const sizeBytes = size ? parseBytes(size) : undefined;
      if (!name || sizeBytes === undefined) throw new Error(`disk "${l}": write it as NAME:SIZE (data:8GiB) or NAME:SIZE:/absolute/path`);
      const path = rest.join(":");
      return path ? { name, sizeBytes, path } : { name, sizeBytes };
    });
}

export function VmSettings(props: { g: GroupStatus; canEdit: boolean }) {
  const { session, refresh } = useLive();
  const { g } = props;
  const [name, setName] = useState("");
  const [bootOrder, setBootOrder] = useState("0");
  const [bootDelay, setBootDelay] = useState("0s");
  const [disks, setDisks] = useState("data:1GiB");
  const a = useAction();
  const base = `/groups/${encodeURIComponent(g.name)}/vms`;
  return (
    <div>
      <table className="dense">
        <thead>
          <tr>
            <th scope="col">VM</th>
            <th scope="col">Boot order</th>
            <th scope="col">Disks</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {g.vms.map((v) => (
            <tr key={v.name}>
              <td>{v.name}</td>
              <td>{v.bootOrder}</td>
              <td>{v.disks.map((d) => `${d.name} (${bytes(d.sizeBytes)})`).join(", ")}</td>
              <td>
                {props.canEdit ? (
                  <button
                    type="button"
                    className="link danger-text"
                    onClick={() => {
                      if (!confirm(`Remove VM ${v.name} from group ${g.name}? Its disks stop being protected (their files are kept).`)) return;
                      void a.run(async () => {
                        await session.api.delete(`${base}/${encodeURIComponent(v.name)}`);
                        refresh();
                        return `VM ${v.name} removed`;
                      });
                    }}
                  >
                    Remove
                  </button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.canEdit ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void a.run(async () => {
              const delay = parseDuration(bootDelay);
              if (delay === undefined) throw new Error(`boot delay "${bootDelay}" is not a duration`);
              await session.api.post(base, { name: name.trim(), bootOrder: Number(bootOrder), bootDelayMs: delay, disks: parseDisks(disks) });
              refresh();
              setName("");
              return `VM ${name.trim()} added`;
            });
          }}
        >
          <label>
            VM name
            <input value={name} onChange={(e) => setName(e.target.value)} required placeholder="erp-db" />
          </label>
          <label>
            Boot order
            <input type="number" min={0} value={bootOrder} onChange={(e) => setBootOrder(e.target.value)} />
          </label>
          <label>
            Boot delay
            <input value={bootDelay} onChange={(e) => setBootDelay(e.target.value)} />
          </label>
          <label className="grow">
            Disks (NAME:SIZE[:PATH], comma separated)
            <input value={disks} onChange={(e) => setDisks(e.target.value)} />
          </label>
          <button type="submit" disabled={a.busy}>
            Add VM
          </button>
        </form>
      ) : null}
      <Outcome error={a.error} ok={a.ok} />
    </div>
  );
}
