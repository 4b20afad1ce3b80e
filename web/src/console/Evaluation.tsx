/** The policy's evaluation in plain words: the decision, what is satisfied and what is missing. */
import type { Evaluation as EvaluationView } from '../../../shared/api/commands.ts';
import { useFormat } from '../i18n/index.ts';

export function Evaluation({ evaluation: e }: { evaluation: EvaluationView }) {
  const { t } = useFormat();
  return (
    <section
      className={`evaluation evaluation--${e.decision}`}
      data-testid="evaluation"
      data-decision={e.decision}
    >
      <h4>
        {t('gpsStop.evaluation')}: {t(`gpsStop.decision_${e.decision}`)}
      </h4>
      {e.reasons.length > 0 && (
        <>
          <h5>{t('gpsStop.satisfied')}</h5>
          <ul data-testid="evaluation-reasons">
            {e.reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </>
      )}
      {e.missing.length > 0 && (
        <>
          <h5>{t('gpsStop.missing')}</h5>
          <ul data-testid="evaluation-missing">
            {e.missing.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
