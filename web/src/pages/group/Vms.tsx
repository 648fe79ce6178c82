/** The group's VMs and disks: size, production store, NBD URI, sync progress. */
import type { GroupStatus } from "../../api/types";
import { ProgressBar } from "../../components/ui";
import { bytes, duration } from "../../lib/format";

export function Vms(props: { g: GroupStatus }) {
  const { g } = props;
  const syncing = g.state === "initial-sync" || g.state === "bitmap-sync";
  if (g.vms.length === 0) return <p className="muted">No VMs yet. Add one under Settings or with <code>lifeline vm add {g.name} VM --disk data:8GiB</code>.</p>;
  return (
    <div className="table-wrap">
      <table className="dense">
        <thead>
          <tr>
            <th scope="col">VM / disk</th>
            <th scope="col">Boot</th>
            <th scope="col" className="num">Size</th>
            <th scope="col">Production store</th>
            <th scope="col">NBD URI</th>
            <th scope="col">Sync</th>
          </tr>
        </thead>
        <tbody>
          {g.vms.flatMap((vm) => [
            <tr key={vm.name} className="vm-row">
              <th scope="rowgroup">{vm.name}</th>
              <td className="small nowrap" title="boot order, and the wait after this VM starts">
                #{vm.bootOrder}
                {vm.bootDelayMs ? `, then ${duration(vm.bootDelayMs)}` : ""}
              </td>
              <td colSpan={4} />
            </tr>,
            ...vm.disks.map((d) => (
              <tr key={`${vm.name}/${d.name}`}>
                <td className="indent">{d.name}</td>
                <td />
                <td className="num">{bytes(d.sizeBytes)}</td>
                <td>
                  <code className="path">{d.path}</code>
                </td>
                <td>{d.uri ? <code className="uri">{d.uri}</code> : <span className="muted small">{g.role === "recovery" ? "served at the protected site" : "not served"}</span>}</td>
                <td className="sync">
                  {syncing ? (
                    <ProgressBar fraction={g.percent === null ? null : g.percent / 100} label={`sync of ${vm.name}/${d.name}`} tone={g.state === "bitmap-sync" ? "warn" : "info"} />
                  ) : g.state === "empty" || g.state === "not-replicating" ? (
                    <span className="muted small">—</span>
                  ) : (
                    <span className="small">✓ in sync</span>
                  )}
                </td>
              </tr>
            )),
          ])}
        </tbody>
      </table>
    </div>
  );
}
