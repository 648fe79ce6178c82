/** Signed out: the sign-in form. Signed in: the shell with live state and the page for the address. */
import { useCallback, useEffect, useState } from "react";
import { ApiError, describeError } from "./api/client";
import { Shell } from "./components/Shell";
import { SignIn } from "./pages/SignIn";
import { LiveProvider } from "./state/live";
import { saveToken, savedToken, signIn, type Session } from "./state/session";

type Boot = { kind: "checking"; message: string | null } | { kind: "signed-out"; message: string | null } | { kind: "signed-in"; session: Session };

const RETRY_MS = 3000;

export function App() {
  const [boot, setBoot] = useState<Boot>(() => (savedToken() ? { kind: "checking", message: null } : { kind: "signed-out", message: null }));

  // A saved token is tried again while the site does not answer; only a refusal forgets it.
  useEffect(() => {
    const token = savedToken();
    if (!token || boot.kind !== "checking") return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let cancelled = false;
    signIn(token).then(
      (session) => {
        if (!cancelled) setBoot({ kind: "signed-in", session });
      },
      (err: unknown) => {
        if (cancelled) return;
        if (err instanceof ApiError && err.kind === "unreachable") {
          timer = setTimeout(() => setBoot({ kind: "checking", message: describeError(err) }), RETRY_MS);
          return;
        }
        saveToken(null);
        setBoot({ kind: "signed-out", message: describeError(err) });
      },
    );
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [boot]);

  const onSignedIn = useCallback((session: Session) => {
    saveToken(session.token);
    setBoot({ kind: "signed-in", session });
  }, []);

  const onSignedOut = useCallback((message: string | null = "The site no longer accepts this token; sign in again.") => {
    saveToken(null);
    setBoot({ kind: "signed-out", message });
  }, []);
  const onRefused = useCallback(() => onSignedOut(), [onSignedOut]);

  if (boot.kind === "checking") {
    return (
      <main className="signin">
        <p className="loading" role="status">
          {boot.message ? `${boot.message}; retrying…` : "Connecting to the site…"}{" "}
          <button type="button" className="link" onClick={() => onSignedOut(null)}>
            Sign in with another token
          </button>
        </p>
      </main>
    );
  }
  if (boot.kind === "signed-out") return <SignIn message={boot.message} onSignedIn={onSignedIn} />;
  return (
    <LiveProvider session={boot.session} onSignedOut={onRefused}>
      <Shell onSignOut={() => onSignedOut(null)} />
    </LiveProvider>
  );
}
