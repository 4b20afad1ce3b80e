/** Who is signed in, in which role, and the way out. */
import { ROLE_LABELS } from '../../../shared/roles.ts';
import type { SessionUser } from './session.ts';
import { sessionStore } from './session.ts';

export function SessionBar({ user }: { user: SessionUser }) {
  const roles = user.roles.map((r) => ROLE_LABELS[r]).join(', ');
  return (
    <header className="session-bar" data-testid="session-bar" data-roles={user.roles.join(',')}>
      <span className="session-bar__who">
        <strong data-testid="session-user">{user.name}</strong>
        <span className="session-bar__role">{roles}</span>
      </span>
      <button type="button" data-testid="logout" onClick={() => sessionStore.signOut()}>
        Log out
      </button>
    </header>
  );
}
