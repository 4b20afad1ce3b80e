/**
 * The signed-in app: the navigation a role may use, the language switch, and the pages. The map
 * page stays mounted under the others (a MapLibre map is slow to create); the hash says which
 * page shows (common/route.ts), and a role's home is where an empty or foreign hash lands.
 */
import type { StyleSpecification } from 'maplibre-gl';
import { AlertsPage } from './alerts/AlertsPage.tsx';
import { AuditPage } from './audit/AuditPage.tsx';
import type { SessionUser } from './auth/session.ts';
import { abilitiesOf } from './common/abilities.ts';
import { parseRoute, type Route, routeHash, routePage, useHash } from './common/route.ts';
import { AccountsPage } from './console/AccountsPage.tsx';
import { ApprovalsPage } from './console/ApprovalsPage.tsx';
import { CaseFile } from './console/CaseFile.tsx';
import { useFormat } from './i18n/index.ts';
import { LanguageSwitch } from './i18n/LanguageSwitch.tsx';
import { MapPage } from './map/MapPage.tsx';
import { NearestPage } from './nearest/NearestPage.tsx';

export interface AppProps {
  /** The basemap, as it resolves (see map/mapStyle.ts; it does not reject). */
  mapStyle: Promise<StyleSpecification | string>;
  user: SessionUser;
}

export function App({ mapStyle, user }: AppProps) {
  const { t } = useFormat();
  const abilities = abilitiesOf(user.roles);
  const hash = useHash();
  const parsed = parseRoute(hash);
  const route: Route =
    parsed && abilities.pages.includes(routePage(parsed))
      ? parsed
      : abilities.home === 'map'
        ? { page: 'map', deviceId: null }
        : { page: abilities.home };
  const current = routePage(route);

  return (
    <main className="app" data-page={current}>
      <nav className="topbar" aria-label={t('app.title')}>
        <strong className="topbar__title">{t('app.title')}</strong>
        {abilities.pages.map((p) => (
          <a
            key={p}
            href={routeHash(p === 'map' ? { page: 'map', deviceId: null } : { page: p })}
            aria-current={p === current ? 'page' : undefined}
            data-testid={`nav-${p}`}
          >
            {t(`nav.${p}`)}
          </a>
        ))}
        <LanguageSwitch />
      </nav>
      <div className="content">
        {abilities.pages.includes('map') && (
          <MapPage
            mapStyle={mapStyle}
            selectedId={route.page === 'map' ? route.deviceId : null}
            visible={current === 'map'}
          />
        )}
        {current !== 'map' && (
          <section className="page" data-testid={`page-${current}`}>
            {route.page === 'nearest' && <NearestPage />}
            {route.page === 'accounts' && (
              <AccountsPage defaultStage={abilities.requestCommands ? 3 : null} />
            )}
            {route.page === 'contract' && (
              <CaseFile contractId={route.contractId} abilities={abilities} username={user.username} />
            )}
            {route.page === 'approvals' && <ApprovalsPage username={user.username} />}
            {route.page === 'alerts' && <AlertsPage mayAcknowledge={abilities.acknowledgeAlerts} />}
            {route.page === 'audit' && <AuditPage />}
          </section>
        )}
      </div>
    </main>
  );
}
