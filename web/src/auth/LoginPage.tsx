/** The login screen: username and password; a wrong pair or an expired session says so. */
import { type FormEvent, useState } from 'react';
import { LoginError, login } from '../api.ts';
import { useFormat } from '../i18n/index.ts';
import { LanguageSwitch } from '../i18n/LanguageSwitch.tsx';
import { sessionStore } from './session.ts';

export function LoginPage({ expired }: { expired: boolean }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const { t } = useFormat();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      sessionStore.signIn(await login(username.trim(), password));
    } catch (err) {
      const e = err as Error;
      setError(
        !(e instanceof LoginError)
          ? e.message
          : e.code === 'throttled'
            ? t('login.throttled', { minutes: Math.max(1, Math.ceil((e.retryAfterS ?? 60) / 60)) })
            : e.code === 'failed'
              ? t('login.failed', { message: e.message })
              : t(`login.${e.code}`),
      );
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="login__form" data-testid="login-form" onSubmit={submit}>
        <h1>{t('app.title')}</h1>
        <LanguageSwitch />
        <p className="login__hint">{t('login.hint')}</p>
        {expired && !error && (
          <p className="login__notice" role="status">
            {t('login.expired')}
          </p>
        )}
        <label>
          {t('login.username')}
          <input
            name="username"
            autoComplete="username"
            autoCapitalize="none"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </label>
        <label>
          {t('login.password')}
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        {error && (
          <p className="login__error" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? t('login.signingIn') : t('login.signIn')}
        </button>
      </form>
    </main>
  );
}
