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

$node->stop;
done_testing();
