/** API tokens: list, make one (its secret shown once), revoke. Admin only. */
import { useState } from "react";
import type { Role, TokenInfo } from "../../api/types";
import { ROLES } from "../../api/types";
import { dateTime } from "../../lib/format";
import { useLive } from "../../state/live";
import { usePoll } from "../../state/poll";
import { Outcome, useAction } from "./useAction";

export function Tokens() {
  const { session } = useLive();
  const tokens = usePoll(session.api, (api) => api.get<TokenInfo[]>("/tokens"), 10_000, "tokens");
  const [role, setRole] = useState<Role>("viewer");
  const [name, setName] = useState("");
  const [secret, setSecret] = useState<string | null>(null);
  const a = useAction();
  return (
    <div>
      <table className="dense">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Made</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {(tokens.data ?? []).map((t) => (
            <tr key={t.id} className={t.revokedAt ? "muted" : undefined}>
              <td>
                {t.name} <code className="small">{t.id}</code>
              </td>
              <td>{t.role}</td>
              <td className="nowrap">{dateTime(t.createdAt)}</td>
              <td className="nowrap">{dateTime(t.lastUsedAt)}</td>
              <td>{t.revokedAt ? `revoked ${dateTime(t.revokedAt)}` : "active"}</td>
              <td>
                {t.revokedAt ? null : (
                  <button
                    type="button"
                    className="link danger-text"
                    onClick={() => {
                      if (!confirm(`Revoke token "${t.name}" (${t.role})? Anything using it is refused from now on.`)) return;
                      void a.run(async () => {
                        await session.api.delete(`/tokens/${encodeURIComponent(t.id)}`);
                        tokens.refresh();
                        return `token ${t.name} revoked`;
                      });
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          void a.run(async () => {
            const r = await session.api.post<TokenInfo & { token: string }>("/tokens", { role, ...(name.trim() ? { name: name.trim() } : {}) });
            setSecret(r.token);
            tokens.refresh();
            return `token ${r.name} made`;
          });
        }}
      >
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label className="grow">
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="wall screen" />
        </label>
        <button type="submit" disabled={a.busy}>
          Make token
        </button>
      </form>
      {secret ? (
        <p className="notice tone-info" role="status">
          The new token, shown once: <code className="secret">{secret}</code>
        </p>
      ) : null}
      <Outcome error={a.error} ok={a.ok} />
    </div>
  );
}
