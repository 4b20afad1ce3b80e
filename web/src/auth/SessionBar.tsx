/** Who is signed in, in which role, and the way out. */
import { useFormat } from '../i18n/index.ts';
import type { SessionUser } from './session.ts';
import { currentToken, sessionStore } from './session.ts';

/** Ends the session on the server too (every token of the user), then here; offline, here at least. */
function signOut(): void {
  const token = currentToken();
  if (token) {
    void fetch('/api/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(
      () => {},
    );
  }
  sessionStore.signOut();
}

export function SessionBar({ user }: { user: SessionUser }) {
  const { t } = useFormat();
  const roles = user.roles.map((r) => t(`role.${r}`)).join(', ');
  return (
    <header className="session-bar" data-testid="session-bar" data-roles={user.roles.join(',')}>
      <span className="session-bar__who">
        <strong data-testid="session-user">{user.name}</strong>
        <span className="session-bar__role">{roles}</span>
      </span>
      <button type="button" data-testid="logout" onClick={signOut}>
        {t('login.logout')}
      </button>
    </header>
  );
}
