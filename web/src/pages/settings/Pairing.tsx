/** Pairing: make a one-time token here for another site, or use another site's token to pair with it. */
import { useState } from "react";
import { dateTime } from "../../lib/format";
import { useLive } from "../../state/live";
import { Outcome, useAction } from "./useAction";

export function Pairing() {
  const { session, site, refresh } = useLive();
  const [made, setMade] = useState<{ token: string; expiresAt: number } | null>(null);
  const [token, setToken] = useState("");
  const [peerHost, setPeerHost] = useState("");
  const a = useAction();
  return (
    <div>
      <table className="dense">
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">API</th>
            <th scope="col">Replication</th>
            <th scope="col">Certificate</th>
            <th scope="col">Paired</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {site.peers.map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td>
              <td>
                <a href={p.apiUrl}>{p.apiUrl}</a>
              </td>
              <td>
                {p.replicationHost}:{p.replicationPort}
              </td>
              <td>
                <code className="small fp">{p.fingerprint}</code>
              </td>
              <td className="nowrap">{dateTime(p.pairedAt)}</td>
              <td>
                <button
                  type="button"
                  className="link danger-text"
                  onClick={() => {
                    if (!confirm(`Unpair site ${p.name}? Groups replicating to or from it stop.`)) return;
                    void a.run(async () => {
                      await session.api.delete(`/peers/${encodeURIComponent(p.name)}`);
                      refresh();
                      return `unpaired ${p.name}`;
                    });
                  }}
                >
                  Unpair
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="grid-2">
        <div>
          <h3>Let another site pair with {site.name}</h3>
          <button
            type="button"
            onClick={() =>
              void a.run(async () => {
                setMade(await session.api.post<{ token: string; expiresAt: number }>("/pairing-tokens"));
                return "pairing token made";
              })
            }
          >
            Make a pairing token
          </button>
          {made ? (
            <p className="notice tone-info">
              One-time token (until {dateTime(made.expiresAt)}): <code className="secret">{made.token}</code>
            </p>
          ) : null}
        </div>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void a.run(async () => {
              const p = await session.api.post<{ name: string }>("/peers", { token: token.trim(), ...(peerHost.trim() ? { peerHost: peerHost.trim() } : {}) });
              setToken("");
              refresh();
              return `paired with site ${p.name}`;
            });
          }}
        >
          <h3>Pair with another site</h3>
          <label className="block">
            Its pairing token
            <input value={token} onChange={(e) => setToken(e.target.value)} placeholder="llpair_…" required />
          </label>
          <label className="block">
            Its host, if not the one in the token (optional)
            <input value={peerHost} onChange={(e) => setPeerHost(e.target.value)} />
          </label>
          <button type="submit" disabled={a.busy}>
            Pair
          </button>
        </form>
      </div>
      <Outcome error={a.error} ok={a.ok} />
    </div>
  );
}
