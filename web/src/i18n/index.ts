/**
 * Languages: zh-CN (first) and en, chosen from the browser and switchable; the choice is kept in
 * localStorage. i18next + react-i18next: plurals, interpolation with Intl number formatting and a
 * language detector are solved problems there, and the hook re-renders on a switch.
 */
import i18next from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next, useTranslation } from 'react-i18next';
import * as format from '../common/format.ts';
import { en } from './en.ts';
import { zhCN } from './zh-CN.ts';

export const LANGUAGES = ['zh-CN', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const LANGUAGE_NAMES: Record<Language, string> = { 'zh-CN': '中文', en: 'English' };

/** Any Chinese browser gets zh-CN; anything else not Chinese gets English. */
export function pickLanguage(detected: string | undefined): Language {
  if (!detected) return 'zh-CN';
  return detected.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export const i18n = i18next.createInstance();
void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } },
    supportedLngs: [...LANGUAGES],
    fallbackLng: 'zh-CN',
    detection: {
      order: ['localStorage', 'navigator'],
      caches: ['localStorage'],
      lookupLocalStorage: 'recovery.language',
      convertDetectedLanguage: (lng: string) => pickLanguage(lng),
    },
    interpolation: { escapeValue: false },
    returnNull: false,
  });

export function currentLanguage(): Language {
  return pickLanguage(i18n.resolvedLanguage ?? i18n.language);
}

/** Texts and formatters of the current language; components re-render on a switch. */
export function useFormat() {
  const { t, i18n: inst } = useTranslation();
  const locale = pickLanguage(inst.resolvedLanguage ?? inst.language);
  return {
    t,
    locale,
    money: (fen: number | null) => format.formatMoney(fen, locale),
    number: (n: number | null, digits = 0) => format.formatNumber(n, locale, digits),
    dateTime: (iso: string | null) => format.formatDateTime(iso, locale),
    date: (d: string | null) => format.formatDate(d, locale),
    ago: (iso: string | null) => format.formatAgo(iso, locale),
    distance: (m: number) => format.formatDistance(m, locale),
    /** The next action: the api's own sentence in English (it names dates), else by its code. */
    nextAction: (code: string, text?: string) => {
      if (locale === 'en' && text) return text;
      const key = `nextAction.${code}`;
      const translated = t(key);
      return translated === key ? (text ?? code) : translated;
    },
  };
}
export type Formatters = ReturnType<typeof useFormat>;
