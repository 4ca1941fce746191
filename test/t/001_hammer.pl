# Two clients hammer one organization (limit 50) with inserts, deactivations
# and reactivations: the limit is never exceeded and the counter ends equal
# to the real count.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('hammer');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
  CREATE EXTENSION broker_seats;
  CREATE TABLE members (id bigserial PRIMARY KEY, org_id bigint NOT NULL, role text NOT NULL,
                        active boolean NOT NULL);
  SELECT seats.create_plan('hammer', 1);
  SELECT seats.onboard('1', 'hammer', 50);
  SELECT seats.attach('members');
  CREATE TABLE outcome (blocked boolean NOT NULL);
  -- One attempt: add a broker (60%), deactivate one (20%), reactivate one
  -- (20%). A refusal is recorded, not raised, so pgbench goes on.
  CREATE FUNCTION attempt(op int) RETURNS void LANGUAGE plpgsql AS $$
  BEGIN
    BEGIN
      IF op <= 6 THEN
        INSERT INTO members (org_id, role, active) VALUES (1, 'broker', true);
      ELSIF op <= 8 THEN
        UPDATE members SET active = false
         WHERE id = (SELECT id FROM members WHERE active ORDER BY random() LIMIT 1);
      ELSE
        UPDATE members SET active = true
         WHERE id = (SELECT id FROM members WHERE NOT active ORDER BY random() LIMIT 1);
      END IF;
      INSERT INTO outcome VALUES (false);
    EXCEPTION WHEN SQLSTATE 'SB001' THEN
      INSERT INTO outcome VALUES (true);
    END;
  END $$;
});

$node->pgbench(
	'--no-vacuum --client=2 --jobs=2 --transactions=400',
	0,
	[qr{processed: 800/800}],
	[qr{^$}],
	'two clients, 400 attempts each',
	{ 'hammer' => "\\set op random(1, 10)\nSELECT attempt(:op);\n" });

my $active = $node->safe_psql('postgres', q{SELECT count(*) FROM members WHERE active});
my $counter = $node->safe_psql('postgres', q{SELECT seats_used FROM seats.subscription WHERE org = '1'});
my $blocked = $node->safe_psql('postgres', q{SELECT count(*) FROM outcome WHERE blocked});
my $attempts = $node->safe_psql('postgres', q{SELECT count(*) FROM outcome});

cmp_ok($active, '<=', 50, "at most 50 active brokers ($active)");
is($counter, $active, 'counter equals the real count');
cmp_ok($blocked, '>', 0, "the limit was reached and enforced ($blocked refusals)");
is($attempts, 800, 'every attempt ran');
is($node->safe_psql('postgres', q{SELECT bool_or(fixed) FROM seats.revalidate()}), 'f',
	'revalidate finds no drift');

# The counter is updated directly in the heap. One transaction that moves
# the counters of 300 orgs 40 times leaves no version prunable, so updates
# leave their page (not heap-only) and need index entries: check them all.
$node->safe_psql('postgres', q{
  CREATE EXTENSION amcheck;
  SELECT count(seats.onboard('bulk' || g, 'hammer', 1000)) FROM generate_series(1, 300) g;
  CREATE TABLE bulk_members (org_id text, role text, active boolean);
  SELECT seats.attach('bulk_members');
});
$node->safe_psql('postgres', q{
  DO $$ BEGIN
    FOR i IN 1..40 LOOP
      INSERT INTO bulk_members SELECT 'bulk' || g, 'broker', true FROM generate_series(1, 300) g;
    END LOOP;
  END $$;
});
cmp_ok($node->poll_query_until('postgres', q{
  SELECT n_tup_upd - n_tup_hot_upd > 0 FROM pg_stat_user_tables WHERE relid = 'seats.subscription'::regclass}), '==', 1,
	'some counter updates were not heap-only');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.subscription WHERE org LIKE 'bulk%' AND seats_used = 40}),
	'300', 'every bulk org counted 40 seats');
my ($ret, $out, $err) = $node->psql('postgres', q{
  SELECT bt_index_check(c.oid, true) FROM pg_class c
   WHERE c.relname IN ('subscription_pkey', 'subscription_cycle_end')});
is($ret, 0, 'indexes of seats.subscription hold every row version (amcheck heapallindexed)');
is($err, '', 'amcheck reports nothing');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seats.subscription WHERE org LIKE 'bulk%'}),
	'300', 'index scans find every subscription');
is($node->safe_psql('postgres', q{SELECT bool_or(fixed) FROM seats.revalidate()}), 'f', 'still no drift');

$node->stop;
done_testing();
