/**
 * The gate: the login screen until someone signs in, then the app for that session. The live
 * connection belongs to the session, so signing out (or a 401) closes it with the page.
 */
import { type ReactNode, useMemo, useSyncExternalStore } from 'react';
import { LoginPage } from './LoginPage.tsx';
import { SessionBar } from './SessionBar.tsx';
import { type Session, sessionStore } from './session.ts';
import './auth.css';

export function SignedIn({ children }: { children: (session: Session) => ReactNode }) {
  const { session, expired } = useSyncExternalStore(sessionStore.subscribe, sessionStore.get);
  if (!session) return <LoginPage expired={expired} />;
  return <SessionView session={session}>{children}</SessionView>;
}

function SessionView({ session, children }: { session: Session; children: (session: Session) => ReactNode }) {
  // One subtree per token: a new sign-in starts from a clean slate.
  const content = useMemo(() => children(session), [children, session]);
  return (
    <>
      {content}
      <SessionBar user={session.user} />
    </>
  );
}
