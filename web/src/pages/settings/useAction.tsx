/** Runs one settings change at a time, keeping its error or success message for the form to show. */
import { useState } from "react";
import { describeError } from "../../api/client";

export function useAction(): { busy: boolean; error: string | null; ok: string | null; run(f: () => Promise<string>): Promise<void> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ok, setOk] = useState<string | null>(null);
  const run = async (f: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setOk(null);
    try {
      setOk(await f());
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, ok, run };
}

export function Outcome(props: { error: string | null; ok: string | null }) {
  if (props.error) return <p className="form-error" role="alert">{props.error}</p>;
  if (props.ok) return <p className="small" role="status">✓ {props.ok}</p>;
  return null;
}
