/** Sign in with an API token; it is kept for this browser session only. */
import { useState, type FormEvent } from "react";
import { describeError } from "../api/client";
import { signIn, type Session } from "../state/session";

export function SignIn(props: { message: string | null; onSignedIn(s: Session): void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(props.message);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      props.onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError(describeError(err));
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="signin-title">
        <h1 id="signin-title">
          <span className="logo" aria-hidden="true">◉</span> Lifeline
        </h1>
        <p className="muted">Sign in to this site's console with an API token.</p>
        <label htmlFor="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="llt_…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
          aria-describedby="token-help"
          aria-invalid={error ? true : undefined}
        />
        <p id="token-help" className="help">
          The first admin token was printed by <code>lifeline site init</code>; make more with <code>lifeline token create --role viewer</code>.
          It is kept only until this tab closes.
        </p>
        {error ? (
          <p className="form-error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
