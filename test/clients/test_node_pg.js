// broker_seats through node-postgres (pg 8), as the app role crm_app and as
// postgres. Run by test/clients/run.sh on a fresh database (PGHOST, PGPORT,
// BROKER_SEATS_DB; `pg` from NODE_PATH); exits non-zero with a message at
// the first failed check. docs/clients.md shows this code.
'use strict';
const { Client } = require('pg');

const DB = process.env.BROKER_SEATS_DB || 'broker_seats_clients';
const ORG = 'imobiliaria-sol';

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('# ok: ' + what);
}

function connect(user) {
  return new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: DB, user });
}

// The error a query raises, or null.
async function errorOf(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return err;
  }
}

async function main() {
  const app = connect('crm_app');
  const admin = connect('postgres');
  await app.connect();
  await admin.connect();
  check(require('pg/package.json').version.startsWith('8.'), 'pg ' + require('pg/package.json').version);

  // --- fill the org to its limit (2), the third broker raises SB001 ---------
  await app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Ana', 'broker'), ($1, 'Bruno', 'broker')",
                  [ORG]);
  try {
    await app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Caio', 'broker')", [ORG]);
    check(false, 'the third broker is refused');
  } catch (err) {
    if (err.code !== 'SB001') throw err;
    const [, used, limit] = /(\d+)\/(\d+)/.exec(err.detail).map(Number);
    const { rows } = await app.query('SELECT seats_used, seat_limit FROM seats.usage WHERE org = $1', [ORG]);
    check(err.constructor.name === 'DatabaseError' && err.severity === 'ERROR', 'SB001 is a DatabaseError');
    check(err.code === 'SB001', 'err.code SB001');
    check(err.message.startsWith('Seu plano atingiu o limite de corretores ativos.'), 'err.message: ' + err.message);
    check(err.detail === 'Organização imobiliaria-sol: 2/2 assentos de corretor em uso.',
          'err.detail: ' + err.detail);
    check(used === 2 && limit === 2, `used/limit from err.detail: ${used}/${limit}`);
    check(/seats\.upgrade/.test(err.hint || ''), 'err.hint: ' + err.hint);
    check(err.schema === 'public' && err.table === 'crm_members' && err.constraint === 'broker_seat_limit',
          `err.schema, err.table, err.constraint: ${err.schema}, ${err.table}, ${err.constraint}`);
    check(rows[0].seats_used === 2 && rows[0].seat_limit === 2,
          `seats.usage: ${rows[0].seats_used}/${rows[0].seat_limit} (autocommit: nothing to roll back)`);
  }

  // --- an error aborts BEGIN .. until ROLLBACK; a SAVEPOINT lets it go on ---
  await app.query('BEGIN');
  let err = await errorOf(app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Caio', 'broker')",
                                    [ORG]));
  const aborted = await errorOf(app.query('SELECT 1'));
  await app.query('ROLLBACK');
  check(err && err.code === 'SB001' && aborted && aborted.code === '25P02',
        'inside BEGIN: SB001, then 25P02 until ROLLBACK');

  await app.query('BEGIN');
  await app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Olga', 'owner')", [ORG]);
  await app.query('SAVEPOINT new_broker');
  try {
    await app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Caio', 'broker')", [ORG]);
  } catch (e) {
    if (e.code !== 'SB001') throw e;
    await app.query('ROLLBACK TO SAVEPOINT new_broker');
  }
  await app.query("INSERT INTO crm_members (org_id, name, role) VALUES ($1, 'Marcos', 'manager')", [ORG]);
  await app.query('COMMIT');
  const names = (await app.query("SELECT string_agg(name, ',' ORDER BY id) AS names FROM crm_members WHERE org_id = $1",
                                 [ORG])).rows[0].names;
  check(names === 'Ana,Bruno,Olga,Marcos', 'SAVEPOINT / ROLLBACK TO SAVEPOINT: the transaction went on: ' + names);

  // --- quote_upgrade: numeric arrives as an exact string ------------------
  const q = (await app.query('SELECT amount, currency, units_remaining, units_in_cycle FROM seats.quote_upgrade($1, 3)',
                             [ORG])).rows[0];
  check(typeof q.amount === 'string' && /^\d+\.\d\d$/.test(q.amount),
        `quote_upgrade amount is a string: '${q.amount}'`);
  const [rem, tot] = [BigInt(q.units_remaining), BigInt(q.units_in_cycle)];
  const cents = (2n * 8990n * rem + tot) / (2n * tot);  // 89.90 x rem / tot, half up, in integer cents
  check(q.amount === `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}` && q.currency === 'BRL',
        `amount = 1 x 89.90 x ${rem}/${tot} = ${q.amount} BRL`);

  // --- customer_message: the runbook's Portuguese text ----------------------
  const text = (await app.query("SELECT seats.customer_message('limit_reached', $1) AS text", [ORG])).rows[0].text;
  check(text.startsWith('Seu plano atingiu o limite de corretores ativos.') && text.includes('pró-rata') &&
        text.endsWith('Em uso: 2 de 2 assentos de corretor.'), 'customer_message: ' + text);

  // --- downgrade: the result column instead of the NOTICE -------------------
  const notices = [];
  admin.on('notice', (msg) => notices.push(msg));
  const down = await admin.query('SELECT * FROM seats.schedule_downgrade($1, 1)', [ORG]);
  const row = down.rows[0];
  check(row.status === 'scheduled' && row.from_limit === 2 && row.to_limit === 1, 'downgrade 2 -> 1 scheduled');
  check(notices.some((n) => n.severity === 'NOTICE' && n.message.includes('more than the new limit of 1')),
        "the NOTICE reaches client.on('notice'): " + (notices.length ? notices[0].message : 'none'));
  check(row.brokers_over_new_limit === 1, 'brokers_over_new_limit = ' + row.brokers_over_new_limit);

  // --- upgrade: money inside the event's JSON is an exact decimal string ----
  const charged = (await admin.query("SELECT amount FROM seats.upgrade($1, 3, 'ticket-1')", [ORG])).rows[0].amount;
  const detail = (await admin.query(  // jsonb arrives JSON.parse'd
    "SELECT detail FROM seats.event WHERE kind = 'upgrade_applied' ORDER BY id DESC LIMIT 1")).rows[0].detail;
  check(typeof detail.amount === 'string' && typeof detail.seat_price === 'string',
        `upgrade_applied: amount '${detail.amount}' and seat_price '${detail.seat_price}' are strings`);
  check(detail.amount === charged && detail.seat_price === '89.90',
        `detail.amount === the change's amount '${charged}'`);

  // --- turnover: autocommit outside BEGIN, refused inside it --------------
  await admin.query("SELECT seats.onboard('due-org', 'imob-pro', 2, (current_date - interval '40 days')::date)");
  await admin.query('BEGIN');
  err = await errorOf(admin.query("CALL seats.close_due_cycles(now() + interval '70 days')"));
  await admin.query('ROLLBACK');
  check(err && err.code === '25001', `inside BEGIN: ${err && err.code} ${err && err.message}`);
  await admin.query("CALL seats.close_due_cycles(now() + interval '70 days')");  // no BEGIN: autocommit
  const turned = (await admin.query("SELECT count(*)::int AS n FROM seats.turnover WHERE org = 'due-org'")).rows[0].n;
  check(turned >= 1, `without BEGIN: CALL turned due-org over (${turned} seats.turnover rows)`);

  await app.end();
  await admin.end();
}

main().catch((e) => {
  console.log(e.message.startsWith('FAILED: ') ? e.message : 'FAILED: ' + (e.stack || e));
  process.exit(1);
});
