/** The language switch: zh-CN / en, remembered in this browser. */
import { useTranslation } from 'react-i18next';
import { LANGUAGE_NAMES, LANGUAGES, pickLanguage } from './index.ts';

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  const current = pickLanguage(i18n.resolvedLanguage ?? i18n.language);
  return (
    <label className="language-switch">
      <span className="visually-hidden">{t('app.language')}</span>
      <select
        data-testid="language-switch"
        value={current}
        onChange={(e) => void i18n.changeLanguage(e.target.value)}
      >
        {LANGUAGES.map((l) => (
          <option key={l} value={l}>
            {LANGUAGE_NAMES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}
