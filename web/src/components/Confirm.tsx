/**
 * A confirmation that says what will happen before it happens. A native
 * <dialog> opened modal: it traps focus, Escape cancels, and the safe button
 * has the focus first.
 */
import { useEffect, useRef, useState, type ReactNode } from "react";
import { describeError } from "../api/client";

export interface ConfirmSpec {
  title: string;
  /** What will happen, one effect per line. */
  effects: ReactNode[];
  confirmLabel: string;
  danger?: boolean;
  /** Extra inputs (a result and notes for a test stop). */
  body?: ReactNode;
  run(): Promise<void>;
}

export function ConfirmDialog(props: { spec: ConfirmSpec | null; onClose(): void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const { spec } = props;

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (spec && !d.open) {
      setError(null);
      d.showModal();
    } else if (!spec && d.open) d.close();
  }, [spec]);

  const confirm = async () => {
    if (!spec) return;
    setBusy(true);
    setError(null);
    try {
      await spec.run();
      props.onClose();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog ref={ref} className="confirm" onClose={props.onClose} aria-labelledby="confirm-title">
      {spec ? (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); void confirm(); }}>
          <h2 id="confirm-title">{spec.title}</h2>
          <p>This will:</p>
          <ul className="effects">
            {spec.effects.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
          {spec.body}
          {error ? <p className="form-error" role="alert">{error}</p> : null}
          <div className="dialog-buttons">
            <button type="button" autoFocus onClick={props.onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={spec.danger ? "danger" : "primary"} disabled={busy}>
              {busy ? "Working…" : spec.confirmLabel}
            </button>
          </div>
        </form>
      ) : null}
    </dialog>
  );
}
