/** Who is signed in, in which role, and the way out. */
import { useFormat } from '../i18n/index.ts';
import type { SessionUser } from './session.ts';
import { sessionStore } from './session.ts';

export function SessionBar({ user }: { user: SessionUser }) {
  const { t } = useFormat();
  const roles = user.roles.map((r) => t(`role.${r}`)).join(', ');
  return (
    <header className="session-bar" data-testid="session-bar" data-roles={user.roles.join(',')}>
      <span className="session-bar__who">
        <strong data-testid="session-user">{user.name}</strong>
        <span className="session-bar__role">{roles}</span>
      </span>
      <button type="button" data-testid="logout" onClick={() => sessionStore.signOut()}>
        {t('login.logout')}
      </button>
    </header>
  );
}
