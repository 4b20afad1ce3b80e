/**
 * Showing a case's personal data in full: an explicit act with a reason, written to the audit chain
 * (`personal_data.reveal`) in the same transaction as the read, so there is no full national id on
 * a screen without a row saying who asked for it, when and why.
 */
import type { Sql } from '../../db/client.ts';
import type { Revealed } from '../../shared/api/contracts.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import { contractInScope, type Viewer } from '../auth/scope.ts';

export async function revealPersonalData(
  db: Sql,
  contractId: string,
  by: { username: string; viewer: Viewer },
  reason: string,
): Promise<Revealed> {
  return inTransaction(db, async (tx) => {
    const params: unknown[] = [contractId];
    const { rows } = await tx.query<{ phone: string | null; national_id: string | null }>(
      `select cu.phone, cu.national_id from contract c join customer cu on cu.id = c.customer_id
       where c.id = $1 and ${contractInScope(by.viewer, 'c', params)}`,
      params,
    );
    const customer = rows[0];
    if (!customer) throw new NotFoundError(`contract ${contractId}`);
    const { rows: guarantors } = await tx.query<{ name: string; phone: string | null }>(
      'select name, phone from guarantor where contract_id = $1 order by id',
      [contractId],
    );
    await appendAudit(tx, {
      actor: by.username,
      action: 'personal_data.reveal',
      subject: `contract:${contractId}`,
      detail: { reason, fields: ['customer.nationalId', 'customer.phone', 'guarantors.phone'] },
    });
    return {
      contractId,
      customer: { phone: customer.phone, nationalId: customer.national_id },
      guarantors,
    };
  });
}
