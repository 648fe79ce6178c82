/** Signed out: the sign-in form. Signed in: the shell with live state and the page for the address. */
import { useCallback, useEffect, useState } from "react";
import { describeError } from "./api/client";
import { Shell } from "./components/Shell";
import { SignIn } from "./pages/SignIn";
import { LiveProvider } from "./state/live";
import { saveToken, savedToken, signIn, type Session } from "./state/session";

type Boot = { kind: "checking" } | { kind: "signed-out"; message: string | null } | { kind: "signed-in"; session: Session };

export function App() {
  const [boot, setBoot] = useState<Boot>(() => (savedToken() ? { kind: "checking" } : { kind: "signed-out", message: null }));

  useEffect(() => {
    const token = savedToken();
    if (!token || boot.kind !== "checking") return;
    signIn(token).then(
      (session) => setBoot({ kind: "signed-in", session }),
      (err: unknown) => {
        saveToken(null);
        setBoot({ kind: "signed-out", message: describeError(err) });
      },
    );
  }, [boot.kind]);

  const onSignedIn = useCallback((session: Session) => {
    saveToken(session.token);
    setBoot({ kind: "signed-in", session });
  }, []);

  const onSignedOut = useCallback((message: string | null = "The site no longer accepts this token; sign in again.") => {
    saveToken(null);
    setBoot({ kind: "signed-out", message });
  }, []);
  const onRefused = useCallback(() => onSignedOut(), [onSignedOut]);

  if (boot.kind === "checking") return <p className="loading" role="status">Connecting to the site…</p>;
  if (boot.kind === "signed-out") return <SignIn message={boot.message} onSignedIn={onSignedIn} />;
  return (
    <LiveProvider session={boot.session} onSignedOut={onRefused}>
      <Shell onSignOut={() => onSignedOut(null)} />
    </LiveProvider>
  );
}
